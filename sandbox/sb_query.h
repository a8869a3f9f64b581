/*
 * sb_query.h - query-string parsing for the activity list endpoint.
 *
 * The HTTP layer hands over every key/value pair in order (repeated keys
 * included); parsing is pure so unit tests check it without a server.
 * Whether a parsed option is honoured depends on the provider profile and
 * is decided later, in sb_data.c.
 */
#ifndef SB_QUERY_H
#define SB_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SB_QUERY_DEFAULT_LIMIT 100
#define SB_QUERY_MAX_LIMIT 1000
#define SB_QUERY_VAL_MAX 128

typedef struct sb_kv {
    const char *key;
    const char *value;   /* may be NULL ("?flag" without '=') */
} sb_kv_t;

typedef enum sb_sort {
    SB_SORT_NONE = 0,
    SB_SORT_UPDATED_AT,
    SB_SORT_CREATED_AT
} sb_sort_t;

typedef struct sb_query {
    long limit;                         /* 1..SB_QUERY_MAX_LIMIT */
    long offset;                        /* >= 0 */
    sb_sort_t sort;
    bool desc;
    bool has_course_id, has_student_id, has_content_id;
    char course_id[SB_QUERY_VAL_MAX];
    char student_id[SB_QUERY_VAL_MAX];
    char content_id[SB_QUERY_VAL_MAX];
    bool has_updated_gte;
    int64_t updated_gte;                /* ms since the epoch */
    bool has_fields;                    /* fields= given: project */
    unsigned fields;                    /* SB_FBIT() set, when has_fields */
    bool want_raw;                      /* include "raw" in records */
} sb_query_t;

/** Defaults: limit 100, offset 0, no filters, all fields plus raw. */
void sb_query_init(sb_query_t *q);

/**
 * Parse list parameters. limit: integer, negative or non-numeric is an error,
 * 0 means the default, above 1000 is capped. offset: non-negative integer.
 * sort: updated_at|created_at (others ignored), order: asc|desc (others: asc).
 * fields: repeated keys and/or comma-joined; unknown names ignored.
 * updated_gte: RFC 3339 instant, malformed is an error.
 * @return 0, or LS_EINVAL with a message for the client in err.
 */
int sb_query_parse(const sb_kv_t *kv, size_t n, sb_query_t *q, char *err, size_t err_size);

/** Parse a non-negative decimal integer (whole string). Returns 0 or LS_EINVAL. */
int sb_parse_nonneg(const char *s, long *out);

#endif
