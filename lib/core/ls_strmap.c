/*
 * ls_strmap.c - chained hash map, power-of-two buckets, load factor <= 3/4.
 */
#include "ls_strmap.h"
#include "ls_hash.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One allocation per entry: the header, the value (aligned) and then the
 * name, so the name of a value is found from the value's address alone. */
typedef struct ent {
    struct ent *next;
    uint64_t h;
} ent_t;

struct ls_strmap {
    ent_t **slots;
    size_t cap, n, value_size;
};

#define ALIGN_UP(x) (((x) + 15u) & ~(size_t)15u)
#define VALUE_OFF ALIGN_UP(sizeof(ent_t))

static void *ent_value(const ent_t *e)
{
    return (char *)e + VALUE_OFF;
}

static const char *ent_name(const ls_strmap_t *m, const ent_t *e)
{
    return (const char *)e + VALUE_OFF + m->value_size;
}

ls_strmap_t *ls_strmap_new(size_t value_size)
{
    ls_strmap_t *m = calloc(1, sizeof(*m));
    if (m)
        m->value_size = value_size;
    return m;
}

void ls_strmap_destroy(ls_strmap_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        for (ent_t *e = m->slots[i], *nx; e; e = nx) {
            nx = e->next;
            free(e);
        }
    free(m->slots);
    free(m);
}

static uint64_t name_hash(const char *s)
{
    return ls_hash64(s, strlen(s), 0);
}

static ent_t *find(const ls_strmap_t *m, const char *name, uint64_t h)
{
    if (!m->cap)
        return NULL;
    for (ent_t *e = m->slots[h & (m->cap - 1)]; e; e = e->next)
        if (e->h == h && strcmp(ent_name(m, e), name) == 0)
            return e;
    return NULL;
}

void *ls_strmap_get(const ls_strmap_t *m, const char *name)
{
    ent_t *e = find(m, name, name_hash(name));
    return e ? ent_value(e) : NULL;
}

const char *ls_strmap_name(const ls_strmap_t *m, const void *value)
{
    return (const char *)value + m->value_size;
}

static int grow(ls_strmap_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    ent_t **s = calloc(cap, sizeof(*s));
    if (!s)
        return -1;
    for (size_t i = 0; i < m->cap; i++)
        for (ent_t *e = m->slots[i], *nx; e; e = nx) {
            nx = e->next;
            e->next = s[e->h & (cap - 1)];
            s[e->h & (cap - 1)] = e;
        }
    free(m->slots);
    m->slots = s;
    m->cap = cap;
    return 0;
}

void *ls_strmap_put(ls_strmap_t *m, const char *name, int *added)
{
    uint64_t h = name_hash(name);
    ent_t *e = find(m, name, h);
    if (added)
        *added = !e;
    if (e)
        return ent_value(e);
    if ((!m->cap || (m->n + 1) * 4 > m->cap * 3) && grow(m) != 0)
        return NULL;
    size_t len = strlen(name);
    if (!(e = calloc(1, VALUE_OFF + m->value_size + len + 1)))
        return NULL;
    memcpy((char *)ent_value(e) + m->value_size, name, len + 1);
    e->h = h;
    e->next = m->slots[h & (m->cap - 1)];
    m->slots[h & (m->cap - 1)] = e;
    m->n++;
    return ent_value(e);
}

int ls_strmap_del(ls_strmap_t *m, const char *name)
{
    uint64_t h = name_hash(name);
    if (!m->cap)
        return 0;
    for (ent_t **pp = &m->slots[h & (m->cap - 1)]; *pp; pp = &(*pp)->next) {
        ent_t *e = *pp;
        if (e->h == h && strcmp(ent_name(m, e), name) == 0) {
            *pp = e->next;
            free(e);
            m->n--;
            return 1;
        }
    }
    return 0;
}

void ls_strmap_sweep(ls_strmap_t *m, int (*drop)(const char *name, void *value, void *ud), void *ud)
{
    for (size_t i = 0; i < m->cap; i++)
        for (ent_t **pp = &m->slots[i]; *pp;) {
            ent_t *e = *pp;
            if (drop(ent_name(m, e), ent_value(e), ud)) {
                *pp = e->next;
                free(e);
                m->n--;
            } else {
                pp = &e->next;
            }
        }
}

size_t ls_strmap_count(const ls_strmap_t *m)
{
    return m->n;
}
