/*
 * export_row.h - the rows of lmsync-export: which fields of a `current` or
 * enrollment record become which column, CSV (RFC 4180) and JSON-lines
 * renderings, and the tenant/course filters. Pure: no Kafka, no I/O but the
 * FILE* it writes to.
 */
#ifndef EXPORT_ROW_H
#define EXPORT_ROW_H

#include <jansson.h>
#include <stdio.h>

typedef enum export_kind {
    EXPORT_ENROLLMENT = 0, /* one row per learner x course: lmsync.progress.enrollments */
    EXPORT_ACTIVITY        /* one row per activity: lmsync.activity.current */
} export_kind_t;

typedef enum export_format { EXPORT_CSV = 0, EXPORT_JSONL } export_format_t;

typedef struct export_filter {
    const char *connection; /* NULL = any; matched on the record key's first part */
    const char *tenant;     /* NULL = any; the value's `tenant` */
    const char *course;     /* NULL = any; the value's `course_id` */
} export_filter_t;

/** Topic suffix (after the prefix) a kind is read from. */
const char *export_topic_suffix(export_kind_t kind);

/** 1 when a record key belongs to f->connection (or no connection filter). */
int export_key_matches(const export_filter_t *f, const char *key, size_t key_len);

/** 1 when a record value passes the tenant and course filters. */
int export_value_matches(const export_filter_t *f, const json_t *value);

/** The CSV header row (JSON lines have none: nothing is written). */
int export_header(FILE *out, export_kind_t kind, export_format_t fmt);

/**
 * One row from a record value (a JSON object). A field the record does not
 * carry is an empty CSV cell and a missing key in JSON lines; a JSON null is
 * an empty CSV cell and null in JSON lines.
 * @return 0, or -1 on a write error.
 */
int export_row(FILE *out, export_kind_t kind, export_format_t fmt, const json_t *value);

/** One CSV field, quoted when it holds a comma, a double quote, CR or LF (RFC 4180). */
int export_csv_field(FILE *out, const char *s, size_t len);

#endif
