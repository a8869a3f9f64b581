/*
 * ls_grow.h - room for one more element in a doubling array.
 *
 *   void *p = ls_grow(v->items, &v->cap, v->n, sizeof(*v->items), 16);
 *   if (!p)
 *       return LS_ENOMEM;   (v->items and v->cap unchanged)
 *   v->items = p;
 */
#ifndef LS_GROW_H
#define LS_GROW_H

#include <stdint.h>
#include <stdlib.h>

/**
 * items holds *cap elements of elem bytes, n of them used. While n < *cap,
 * items itself; otherwise the array reallocated to twice the capacity
 * (first when it had none), *cap updated. NULL when out of memory or the
 * size would overflow; then *cap and the old array are unchanged.
 */
static inline void *ls_grow(void *items, size_t *cap, size_t n, size_t elem, size_t first)
{
    if (n < *cap)
        return items;
    size_t c = *cap ? *cap * 2 : first;
    if (c < *cap || c > SIZE_MAX / elem)
        return NULL;
    void *p = realloc(items, c * elem);
    if (p)
        *cap = c;
    return p;
}

#endif
