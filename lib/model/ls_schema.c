/*
 * ls_schema.c - the activity field table and what is derived from it.
 *
 * Adding a tracked field: one row of LS_ACTIVITY_FIELDS (ls_activity.h);
 * docs/architecture.md, "Adding a field". The sort
 * order of the JSON keys is computed here from the names rather than kept
 * by hand, so a new row lands in the right place of every written object.
 */
#include "ls_schema.h"

#include <pthread.h>
#include <string.h>

#define NAME(s) (s), (uint8_t)(sizeof(s) - 1)
#define AT(member) (uint16_t)offsetof(ls_activity_t, member)

/* A row by kind (the kind names of LS_ACTIVITY_FIELDS): name, member, flags bit, diffed, changed, doc. */
#define STR(n, m, flag, d, c, doc) {NAME(n), LS_KIND_STR, AT(m), LS_STR_MAX, LS_PACK_STR8, 0, d, c, doc}
#define BOOL(n, m, flag, d, c, doc) {NAME(n), LS_KIND_BOOL, AT(m), 0, LS_PACK_FLAG, flag, d, c, doc}
#define NUM(n, m, flag, d, c, doc) {NAME(n), LS_KIND_NUM, AT(m), 0, LS_PACK_F64LE, 0, d, c, doc}
#define TIME(n, m, flag, d, c, doc) {NAME(n), LS_KIND_TIME, AT(m), 0, LS_PACK_ZIGZAG, 0, d, c, doc}
#define ROW(e, m, kind, flag, d, c, doc) [e] = kind(#m, m, flag, d, c, doc),

/* One row per entry of LS_ACTIVITY_FIELDS (ls_activity.h). */
const ls_field_desc_t ls_schema_fields[LS_F__COUNT] = {LS_ACTIVITY_FIELDS(ROW)};

const ls_field_desc_t ls_schema_id = STR("id", id, 0, false, false, "activity id: required, the key");

static ls_schema_index_t g_index;
static pthread_once_t g_index_once = PTHREAD_ONCE_INIT;

static const char *key_name(unsigned k)
{
    return k == LS_SCHEMA_KEY_ID ? ls_schema_id.name : ls_schema_fields[k].name;
}

/* Insertion sort of the key positions by name: a dozen entries, once. */
static void sort_keys(uint8_t *keys, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        keys[i] = (uint8_t)(i < LS_F__COUNT ? i : LS_SCHEMA_KEY_ID);
    for (unsigned i = 1; i < n; i++) {
        uint8_t k = keys[i];
        unsigned j = i;
        for (; j > 0 && strcmp(key_name(keys[j - 1]), key_name(k)) > 0; j--)
            keys[j] = keys[j - 1];
        keys[j] = k;
    }
}

static void build_index(void)
{
    ls_schema_index_t *ix = &g_index;
    sort_keys(ix->sorted, LS_F__COUNT + 1);
    for (unsigned f = 0; f < LS_F__COUNT; f++) {
        const ls_field_desc_t *d = &ls_schema_fields[f];
        ix->all_mask |= 1u << f;
        if (d->diffed)
            ix->diffed_mask |= 1u << f;
        if (d->changed)
            ix->changed_mask |= 1u << f;
        if (d->pack == LS_PACK_FLAG)
            ix->flags_mask |= d->flag;
    }
}

const ls_schema_index_t *ls_schema_index(void)
{
    pthread_once(&g_index_once, build_index);
    return &g_index;
}
