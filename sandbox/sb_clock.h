/*
 * sb_clock.h - the mutation clock: a thread that applies mutations_per_tick
 * random mutations to the world every tick_ms (0 = paused). Reconfigurable
 * at run time from the control API.
 */
#ifndef SB_CLOCK_H
#define SB_CLOCK_H

#include "sb_data.h"

typedef struct sb_clock sb_clock_t;

/** Start the thread. The world is borrowed and must outlive the clock. NULL on failure. */
sb_clock_t *sb_clock_new(sb_world_t *w, long tick_ms, unsigned mutations_per_tick);

/** Change the period (0 pauses) and/or the batch size; negative values keep the current one. */
void sb_clock_set(sb_clock_t *c, long tick_ms, long mutations_per_tick);

/** Current settings. */
void sb_clock_get(sb_clock_t *c, long *tick_ms, unsigned *mutations_per_tick);

/** Stop and join the thread, then free. */
void sb_clock_destroy(sb_clock_t *c);

#endif
