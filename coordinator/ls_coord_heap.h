/*
 * ls_coord_heap.h - the coordinator's timer queue: a 4-ary min-heap of
 * timers ordered by due time. Each timer knows its own position, so moving
 * or removing one is O(log n) and finding the next due one is O(1): the
 * cost of a loop turn follows the number of due scopes, never the number of
 * scopes.
 */
#ifndef LS_COORD_HEAP_H
#define LS_COORD_HEAP_H

#include <stddef.h>
#include <stdint.h>

/* Embed in the scheduled object; zero-initialized = not queued. */
typedef struct ls_coord_timer {
    int64_t due_ms;
    uint32_t pos; /* 1 + index in the heap; 0 = not queued */
} ls_coord_timer_t;

/* A slot: the due time is copied next to the pointer, so sifting compares
 * within the array and touches a timer only to update its position. */
typedef struct ls_coord_slot {
    int64_t due_ms;
    ls_coord_timer_t *t;
} ls_coord_slot_t;

typedef struct ls_coord_heap {
    ls_coord_slot_t *a; /* owned array of borrowed timers */
    size_t n, cap;
} ls_coord_heap_t;

/** Free the array (the timers belong to their owners). */
void ls_coord_heap_release(ls_coord_heap_t *h);

/** Queue t at due_ms, or move it there when already queued. @return 0, or LS_ENOMEM. */
int ls_coord_heap_set(ls_coord_heap_t *h, ls_coord_timer_t *t, int64_t due_ms);

/** Take t out of the queue (no-op when not queued). */
void ls_coord_heap_remove(ls_coord_heap_t *h, ls_coord_timer_t *t);

/** The timer due first (stays queued), or NULL when empty. */
static inline ls_coord_timer_t *ls_coord_heap_top(const ls_coord_heap_t *h)
{
    return h->n ? h->a[0].t : NULL;
}

#endif
