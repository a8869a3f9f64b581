/*
 * ls_coord_heap.c - 4-ary min-heap of timers with back-pointers (ls_coord_heap.h).
 * Four children of 16-byte slots fill one cache line, and the tree is half
 * as deep as a binary one: at a million timers a sift touches 10 levels.
 */
#include "ls_coord_heap.h"
#include "ls_err.h"

#include <stdlib.h>

#define ARITY 4
#define PARENT(i) (((i) - 1) / ARITY)

static void place(ls_coord_heap_t *h, size_t i, ls_coord_slot_t s)
{
    h->a[i] = s;
    s.t->pos = (uint32_t)(i + 1);
}

static void sift_up(ls_coord_heap_t *h, size_t i)
{
    ls_coord_slot_t s = h->a[i];
    while (i > 0 && h->a[PARENT(i)].due_ms > s.due_ms) {
        place(h, i, h->a[PARENT(i)]);
        i = PARENT(i);
    }
    place(h, i, s);
}

static void sift_down(ls_coord_heap_t *h, size_t i)
{
    ls_coord_slot_t s = h->a[i];
    for (;;) {
        size_t first = ARITY * i + 1, k = first;
        if (first >= h->n)
            break;
        for (size_t j = first + 1; j < first + ARITY && j < h->n; j++)
            if (h->a[j].due_ms < h->a[k].due_ms)
                k = j;
        if (h->a[k].due_ms >= s.due_ms)
            break;
        place(h, i, h->a[k]);
        i = k;
    }
    place(h, i, s);
}

void ls_coord_heap_release(ls_coord_heap_t *h)
{
    for (size_t i = 0; i < h->n; i++)
        h->a[i].t->pos = 0;
    free(h->a);
    h->a = NULL;
    h->n = h->cap = 0;
}

int ls_coord_heap_set(ls_coord_heap_t *h, ls_coord_timer_t *t, int64_t due_ms)
{
    if (t->pos) {
        size_t i = t->pos - 1;
        int64_t was = h->a[i].due_ms;
        t->due_ms = h->a[i].due_ms = due_ms;
        if (due_ms < was)
            sift_up(h, i);
        else
            sift_down(h, i);
        return LS_OK;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        ls_coord_slot_t *a = cap <= UINT32_MAX ? realloc(h->a, cap * sizeof(*a)) : NULL;
        if (!a)
            return LS_ENOMEM;
        h->a = a;
        h->cap = cap;
    }
    t->due_ms = due_ms;
    h->a[h->n] = (ls_coord_slot_t){due_ms, t};
    sift_up(h, h->n++);
    return LS_OK;
}

void ls_coord_heap_remove(ls_coord_heap_t *h, ls_coord_timer_t *t)
{
    if (!t->pos)
        return;
    size_t i = t->pos - 1;
    t->pos = 0;
    ls_coord_slot_t last = h->a[--h->n];
    if (i == h->n)
        return;
    place(h, i, last);
    if (i > 0 && h->a[PARENT(i)].due_ms > last.due_ms)
        sift_up(h, i);
    else
        sift_down(h, i);
}
