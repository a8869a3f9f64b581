/*
 * export_row.c - columns and renderings of lmsync-export (export_row.h).
 */
#include "export_row.h"

#include <stdlib.h>
#include <string.h>

/* A column: its header and the record field it shows. */
typedef struct column {
    const char *header;
    const char *field;
} column_t;

static const column_t enrollment_columns[] = {
    {"connection_id", "connection_id"},
    {"tenant", "tenant"},
    {"integration_type", "integration_type"},
    {"student_id", "student_id"},
    {"course_id", "course_id"},
    {"course_name", "course_name"},
    {"activities", "activities"},
    {"activities_completed", "completed"},
    {"completion_share", "completion_share"},
    {"completed_at", "all_completed_at"},
    {"progress_mean", "progress_mean"},
    {"progress_min", "progress_min"},
    {"duration_minutes", "duration_minutes"},
    {"first_started_at", "first_started_at"},
    {"last_activity_at", "last_activity_at"},
    {NULL, NULL},
};

static const column_t activity_columns[] = {
    {"connection_id", "connection_id"},
    {"tenant", "tenant"},
    {"integration_type", "integration_type"},
    {"activity_id", "id"},
    {"student_id", "student_id"},
    {"course_id", "course_id"},
    {"course_name", "course_name"},
    {"content_id", "content_id"},
    {"content_name", "content_name"},
    {"is_completed", "is_completed"},
    {"completed_at", "completed_at"},
    {"progress_percentage", "progress_percentage"},
    {"duration_minutes", "duration_minutes"},
    {"assigned_grade", "assigned_grade"},
    {"started_at", "started_at"},
    {"updated_at", "updated_at"},
    {NULL, NULL},
};

static const column_t *columns_of(export_kind_t kind)
{
    return kind == EXPORT_ACTIVITY ? activity_columns : enrollment_columns;
}

const char *export_topic_suffix(export_kind_t kind)
{
    return kind == EXPORT_ACTIVITY ? "activity.current" : "progress.enrollments";
}

int export_key_matches(const export_filter_t *f, const char *key, size_t key_len)
{
    if (!f->connection)
        return 1;
    size_t n = strlen(f->connection);
    return key && key_len > n && memcmp(key, f->connection, n) == 0 && key[n] == '/';
}

static int string_is(const json_t *v, const char *field, const char *want)
{
    const char *s = json_string_value(json_object_get(v, field));
    return s && strcmp(s, want) == 0;
}

int export_value_matches(const export_filter_t *f, const json_t *value)
{
    return (!f->tenant || string_is(value, "tenant", f->tenant)) &&
           (!f->course || string_is(value, "course_id", f->course));
}

int export_csv_field(FILE *out, const char *s, size_t len)
{
    if (!memchr(s, ',', len) && !memchr(s, '"', len) && !memchr(s, '\r', len) && !memchr(s, '\n', len))
        return fwrite(s, 1, len, out) == len ? 0 : -1;
    if (fputc('"', out) == EOF)
        return -1;
    for (size_t i = 0; i < len; i++)
        if ((s[i] == '"' && fputc('"', out) == EOF) || fputc(s[i], out) == EOF)
            return -1;
    return fputc('"', out) == EOF ? -1 : 0;
}

int export_header(FILE *out, export_kind_t kind, export_format_t fmt)
{
    if (fmt != EXPORT_CSV)
        return 0;
    const column_t *c = columns_of(kind);
    for (size_t i = 0; c[i].header; i++)
        if ((i && fputc(',', out) == EOF) || fputs(c[i].header, out) == EOF)
            return -1;
    return fputs("\r\n", out) == EOF ? -1 : 0;
}

/* One CSV cell: strings as they are, numbers and booleans as JSON writes them, null/absent empty. */
static int csv_cell(FILE *out, const json_t *v)
{
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return export_csv_field(out, json_string_value(v), json_string_length(v));
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    int rc = s ? export_csv_field(out, s, strlen(s)) : -1;
    free(s);
    return rc;
}

int export_row(FILE *out, export_kind_t kind, export_format_t fmt, const json_t *value)
{
    const column_t *c = columns_of(kind);
    if (fmt == EXPORT_CSV) {
        for (size_t i = 0; c[i].header; i++)
            if ((i && fputc(',', out) == EOF) || csv_cell(out, json_object_get(value, c[i].field)))
                return -1;
        return fputs("\r\n", out) == EOF ? -1 : 0;
    }
    json_t *row = json_object();
    for (size_t i = 0; row && c[i].header; i++) {
        json_t *v = json_object_get(value, c[i].field);
        if (v && json_object_set(row, c[i].header, v))
            break;
    }
    char *s = row ? json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(row);
    int rc = s && fputs(s, out) != EOF && fputc('\n', out) != EOF ? 0 : -1;
    free(s);
    return rc;
}
