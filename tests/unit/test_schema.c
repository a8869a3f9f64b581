/* test_schema.c - the activity field table: every row well formed, the
 * derived index (key order, masks) right, and the buffer bounds other
 * modules size statically (LS_ACTIVITY_JSON_MAX, LS_STATE_MAX) large enough
 * for the table as it is. A new row that breaks an invariant fails here. */
#include "ls_activity.h"
#include "ls_schema.h"
#include "ls_state.h"
#include "ls_test.h"
#include "ls_time.h"

#include <stdlib.h>
#include <string.h>

#define BIT(f) (1u << (f))

static const ls_field_desc_t *key_desc(unsigned k)
{
    return k == LS_SCHEMA_KEY_ID ? &ls_schema_id : &ls_schema_fields[k];
}

static bool plain_name(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static size_t value_size(const ls_field_desc_t *d)
{
    switch (d->kind) {
    case LS_KIND_STR: return (size_t)d->max_len + 1;
    case LS_KIND_BOOL: return sizeof(bool);
    case LS_KIND_NUM: return sizeof(double);
    case LS_KIND_TIME: return sizeof(int64_t);
    }
    return 0;
}

static void check_row(const ls_field_desc_t *d)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(d->name);
    CU_ASSERT_EQUAL(strlen(d->name), d->name_len);
    CU_ASSERT(d->name_len > 0 && d->name_len <= LS_FIELD_NAME_MAX);
    CU_ASSERT(plain_name(d->name)); /* written without escaping */
    CU_ASSERT(d->doc != NULL && d->doc[0] != '\0');
    CU_ASSERT(d->off + value_size(d) <= sizeof(ls_activity_t));
    switch (d->kind) {
    case LS_KIND_STR:
        CU_ASSERT_EQUAL(d->pack, LS_PACK_STR8);
        CU_ASSERT(d->max_len >= 1 && d->max_len <= 255); /* u8 length in the packed state */
        break;
    case LS_KIND_BOOL:
        CU_ASSERT_EQUAL(d->pack, LS_PACK_FLAG);
        CU_ASSERT(d->flag != 0 && (d->flag & (d->flag - 1)) == 0); /* one bit */
        break;
    case LS_KIND_NUM: CU_ASSERT_EQUAL(d->pack, LS_PACK_F64LE); break;
    case LS_KIND_TIME: CU_ASSERT_EQUAL(d->pack, LS_PACK_ZIGZAG); break;
    }
    if (d->kind != LS_KIND_STR)
        CU_ASSERT_EQUAL(d->max_len, 0);
    if (d->pack != LS_PACK_FLAG)
        CU_ASSERT_EQUAL(d->flag, 0);
    CU_ASSERT(!d->changed || d->diffed); /* an event needs a stored difference */
}

static void test_rows(void)
{
    for (unsigned k = 0; k <= LS_SCHEMA_KEY_ID; k++)
        check_row(key_desc(k));
    CU_ASSERT_STRING_EQUAL(ls_schema_id.name, "id");
    CU_ASSERT_EQUAL(ls_schema_id.off, offsetof(ls_activity_t, id));
    CU_ASSERT_EQUAL(ls_schema_id.max_len, LS_STR_MAX);
    for (unsigned f = 0; f < LS_F__COUNT; f++)
        CU_ASSERT_PTR_EQUAL(ls_field_name((ls_field_t)f), ls_schema_fields[f].name);
}

/* No two values share a byte of ls_activity_t, and none covers pres[]. */
static void test_no_overlap(void)
{
    size_t pres_lo = offsetof(ls_activity_t, pres), pres_hi = pres_lo + LS_F__COUNT;
    for (unsigned i = 0; i <= LS_SCHEMA_KEY_ID; i++) {
        const ls_field_desc_t *a = key_desc(i);
        size_t alo = a->off, ahi = a->off + value_size(a);
        CU_ASSERT(ahi <= pres_lo || alo >= pres_hi);
        for (unsigned j = i + 1; j <= LS_SCHEMA_KEY_ID; j++) {
            const ls_field_desc_t *b = key_desc(j);
            CU_ASSERT(ahi <= b->off || b->off + value_size(b) <= alo);
            CU_ASSERT(strcmp(a->name, b->name) != 0);
            if (a->pack == LS_PACK_FLAG && b->pack == LS_PACK_FLAG)
                CU_ASSERT((a->flag & b->flag) == 0);
        }
    }
}

/* The index's key order is byte-wise ascending, each key once, and equal to
 * the order jansson's JSON_SORT_KEYS dump gives. */
static void test_sorted_keys(void)
{
    const ls_schema_index_t *ix = ls_schema_index();
    unsigned seen = 0;
    for (unsigned k = 0; k <= LS_F__COUNT; k++) {
        CU_ASSERT_FATAL(ix->sorted[k] <= LS_SCHEMA_KEY_ID);
        seen |= BIT(ix->sorted[k]);
        if (k > 0)
            CU_ASSERT(strcmp(key_desc(ix->sorted[k - 1])->name, key_desc(ix->sorted[k])->name) < 0);
    }
    CU_ASSERT_EQUAL(seen, BIT(LS_F__COUNT + 1) - 1);

    json_t *o = json_object();
    for (unsigned k = 0; k <= LS_SCHEMA_KEY_ID; k++)
        json_object_set_new(o, key_desc(k)->name, json_null());
    char *dump = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT), want[1024], *p = want;
    *p++ = '{';
    for (unsigned k = 0; k <= LS_F__COUNT; k++)
        p += sprintf(p, "%s\"%s\":null", k ? "," : "", key_desc(ix->sorted[k])->name);
    strcpy(p, "}");
    CU_ASSERT_STRING_EQUAL(dump, want);
    free(dump);
    json_decref(o);
}

static void test_masks(void)
{
    const ls_schema_index_t *ix = ls_schema_index();
    CU_ASSERT_EQUAL(ix->all_mask, BIT(LS_F__COUNT) - 1);
    CU_ASSERT_EQUAL(ix->diffed_mask, ix->all_mask);
    /* updated_at is stored when it changes but is never an event by itself */
    CU_ASSERT_EQUAL(ix->changed_mask, ix->all_mask & ~BIT(LS_F_UPDATED_AT));
    CU_ASSERT_EQUAL(ix->flags_mask, ls_schema_fields[LS_F_IS_COMPLETED].flag);
    CU_ASSERT_PTR_EQUAL(ls_schema_index(), ix); /* built once */
}

/* Longest JSON value of a present field as ls_activity_write_json writes it. */
static size_t json_value_max(const ls_field_desc_t *d)
{
    switch (d->kind) {
    case LS_KIND_STR: return 6 * (size_t)d->max_len + 2; /* every byte as \u00XX */
    case LS_KIND_BOOL: return 5;                          /* false */
    case LS_KIND_NUM: return 32;                          /* "%.17g" and ".0" */
    case LS_KIND_TIME: return LS_TIME_BUFSZ + 1;          /* quotes around ls_time_format */
    }
    return 0;
}

static void test_json_bound(void)
{
    size_t n = 2; /* braces */
    for (unsigned k = 0; k <= LS_SCHEMA_KEY_ID; k++)
        n += key_desc(k)->name_len + 4 + json_value_max(key_desc(k)); /* ,"name": */
    CU_ASSERT(n <= LS_ACTIVITY_JSON_MAX);
}

static void test_state_bound(void)
{
    size_t n = 5; /* version, presence[3], flags */
    for (unsigned f = 0; f < LS_F__COUNT; f++) {
        const ls_field_desc_t *d = &ls_schema_fields[f];
        n += d->pack == LS_PACK_STR8 ? 1 + (size_t)d->max_len
             : d->pack == LS_PACK_F64LE ? 8 : d->pack == LS_PACK_ZIGZAG ? 10 : 0;
    }
    CU_ASSERT(n <= LS_STATE_MAX);
}

static CU_TestInfo schema_tests[] = {
    {"rows well formed", test_rows},
    {"values do not overlap", test_no_overlap},
    {"sorted keys = JSON_SORT_KEYS", test_sorted_keys},
    {"derived masks", test_masks},
    {"LS_ACTIVITY_JSON_MAX covers the table", test_json_bound},
    {"LS_STATE_MAX covers the table", test_state_bound},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_schema", NULL, NULL, NULL, NULL, schema_tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
