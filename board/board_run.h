/*
 * board_run.h - lmsync-board's loop: read the courses topic from the
 * beginning and the change events from the end (tools/tail_consumer.h, no
 * consumer group, nothing committed), apply each record to the table and
 * push it to the page's streams, until SIGTERM/SIGINT.
 */
#ifndef BOARD_RUN_H
#define BOARD_RUN_H

#include "ls_config.h"

/* Feed items kept for the page. */
#define BOARD_CHANGES 50

/** @return the process exit code: 0 after a signal, 1 on a start-up or consumer failure. */
int board_run(const ls_config_t *cfg);

#endif
