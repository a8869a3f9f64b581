/*
 * ls_strmap.h - a small hash map from NUL-terminated names to fixed-size
 * values, for per-connection and per-scope bookkeeping in one process.
 *
 * Values are zeroed on insert and stay at one address until removed, so a
 * caller may keep a pointer across lookups (not across ls_strmap_sweep).
 * Not thread-safe: each worker process is single-threaded.
 */
#ifndef LS_STRMAP_H
#define LS_STRMAP_H

#include <stddef.h>

typedef struct ls_strmap ls_strmap_t;

/** A map whose values are value_size bytes; NULL when out of memory. */
ls_strmap_t *ls_strmap_new(size_t value_size);
void ls_strmap_destroy(ls_strmap_t *m);

/** The value of name, or NULL. */
void *ls_strmap_get(const ls_strmap_t *m, const char *name);

/** The value of name, inserted zeroed when absent (*added = 1); NULL when out of memory. */
void *ls_strmap_put(ls_strmap_t *m, const char *name, int *added);

/** The name of an entry, from its value's address (borrowed: lives as long as the entry). */
const char *ls_strmap_name(const ls_strmap_t *m, const void *value);

/** Remove name's entry (its value's address becomes invalid). @return 1 if it was there, else 0. */
int ls_strmap_del(ls_strmap_t *m, const char *name);

/** Remove every entry for which drop(name, value, ud) returns non-zero. */
void ls_strmap_sweep(ls_strmap_t *m, int (*drop)(const char *name, void *value, void *ud), void *ud);

size_t ls_strmap_count(const ls_strmap_t *m);

#endif
