/*
 * ls_schema.h - the activity schema: one row per tracked field.
 *
 * Like librdkafka's rd_kafka_properties[], one table (ls_schema.c) holds
 * everything a reader of a field needs: its wire name, JSON kind, place in
 * ls_activity_t, longest value, how the packed state encodes it, and what
 * the diff and the change event do with it. The normalizer (both the
 * jansson path and ls_page's direct path), the packed-state codec, the diff,
 * the event writer and the JSON writer walk this table; none of them lists
 * fields or kinds of its own. A row's index is its ls_field_t value, which
 * is also its presence slot (ls_activity_t.pres[f], and the 2-bit presence
 * slot f of the packed state), so rows are only ever appended.
 *
 * "id" is not a tracked field (it is required, never absent, and is the
 * key rather than part of the packed state); ls_schema_id describes it for
 * the readers that treat it like one (normalizer, page parser, JSON writer).
 */
#ifndef LS_SCHEMA_H
#define LS_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ls_activity.h"

/* JSON kind of a present value; anything else rejects the record. */
typedef enum ls_kind {
    LS_KIND_STR = 0,   /* JSON string -> char[max_len + 1], NUL-free */
    LS_KIND_BOOL,      /* JSON true/false -> bool */
    LS_KIND_NUM,       /* JSON integer or real -> finite double, -0 as +0 */
    LS_KIND_TIME       /* RFC 3339 JSON string -> int64_t ms since epoch, UTC */
} ls_kind_t;

/* How ls_state encodes a PRESENT value (part of the packed format). */
typedef enum ls_pack {
    LS_PACK_STR8 = 0,  /* u8 length + bytes */
    LS_PACK_FLAG,      /* nothing in the body: the value is bit `flag` of the flags byte */
    LS_PACK_F64LE,     /* 8-byte IEEE-754 double, little endian */
    LS_PACK_ZIGZAG     /* zig-zag LEB128 varint, shortest form */
} ls_pack_t;

typedef struct ls_field_desc {
    const char *name;      /* wire name, plain ASCII (written without escaping) */
    uint8_t name_len;      /* strlen(name) */
    ls_kind_t kind;
    uint16_t off;          /* offsetof(ls_activity_t, member) */
    uint16_t max_len;      /* LS_KIND_STR: longest value in bytes; else 0 */
    ls_pack_t pack;
    uint8_t flag;          /* LS_PACK_FLAG: its bit in the flags byte; else 0 */
    bool diffed;           /* compared by ls_diff: a difference is stored */
    bool changed;          /* a difference is event-worthy and named in `changed` */
    const char *doc;
} ls_field_desc_t;

/* The rows, indexed by ls_field_t. Read-only. */
extern const ls_field_desc_t ls_schema_fields[LS_F__COUNT];

/* The activity id, described like a string field (not in ls_schema_fields). */
extern const ls_field_desc_t ls_schema_id;

/* Longest wire name of a row or of "id" (checked by tests/unit/test_schema.c):
 * ls_page uses it to bound the keys worth decoding. */
#define LS_FIELD_NAME_MAX 24

/* The packed state's presence bytes hold 2 bits per field. */
#define LS_SCHEMA_PRES_SLOTS 12
_Static_assert(LS_F__COUNT <= LS_SCHEMA_PRES_SLOTS, "packed presence bytes too small");

/* In ls_schema_index_t.sorted: the position of "id". */
#define LS_SCHEMA_KEY_ID LS_F__COUNT

/* What is derived from the rows, computed once. */
typedef struct ls_schema_index {
    /* "id" and every field in jansson's JSON_SORT_KEYS order (byte-wise
     * strcmp of the names); LS_SCHEMA_KEY_ID stands for "id". */
    uint8_t sorted[LS_F__COUNT + 1];
    uint32_t all_mask;      /* bit (1u << f) of every field */
    uint32_t diffed_mask;   /* fields with diffed set */
    uint32_t changed_mask;  /* fields with changed set */
    uint8_t flags_mask;     /* every LS_PACK_FLAG bit */
} ls_schema_index_t;

/** The derived index, built on first use (thread-safe); static storage. */
const ls_schema_index_t *ls_schema_index(void);

/** Address of field f's value inside a (type given by the row's kind). */
static inline void *ls_schema_ptr(ls_activity_t *a, ls_field_t f)
{
    return (char *)a + ls_schema_fields[f].off;
}

static inline const void *ls_schema_cptr(const ls_activity_t *a, ls_field_t f)
{
    return (const char *)a + ls_schema_fields[f].off;
}

/* Field f's value in a, as the C type its kind stores (char, bool, double, int64_t). */
#define LS_FIELD_PTR(a, f, type) ((type *)ls_schema_ptr((a), (f)))
#define LS_FIELD_CPTR(a, f, type) ((const type *)ls_schema_cptr((a), (f)))

#endif
