/*
 * ls_job.c - JSON encoding of jobs and status records (jansson).
 *
 * Decoding is strict about types and lengths because a job topic is input
 * from the network: a malformed message is rejected with a reason, never
 * half-used.
 */
#include "ls_job.h"
#include "ls_err.h"
#include "ls_time.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int get_str(json_t *o, const char *key, int required, char *buf, size_t bufsz,
                   char *err, size_t errsz);

static int known_field(const char *name, size_t len)
{
    if (len == 2 && strncmp(name, "id", 2) == 0)
        return 1;
    for (int f = 0; f < LS_F__COUNT; f++)
        if (strlen(ls_field_name((ls_field_t)f)) == len && strncmp(ls_field_name((ls_field_t)f), name, len) == 0)
            return 1;
    return 0;
}

/* The optional strategy members (see ls_job.h); only non-defaults are written. */
static int encode_strategy(json_t *o, const ls_job_t *job)
{
    if (job->fields[0]) {
        json_t *arr = json_array();
        for (const char *p = job->fields; arr && *p;) {
            size_t len = strcspn(p, ",");
            json_array_append_new(arr, json_stringn(p, len));
            p += len + (p[len] == ',');
        }
        if (!arr || json_object_set_new(o, "fields", arr))
            return LS_ENOMEM;
    }
    if (job->sort[0])
        json_object_set_new(o, "sort", json_string(job->sort));
    if (job->sort[0] && job->order_asc)
        json_object_set_new(o, "order", json_string("asc"));
    if (job->unpaged)
        json_object_set_new(o, "paged", json_false());
    if (job->get)
        json_object_set_new(o, "get", json_true());
    if (job->gte)
        json_object_set_new(o, "updated_gte", json_string(job->gte == LS_GTE_REQUIRED ? "required" : "supported"));
    return LS_OK;
}

static int decode_fields(json_t *v, ls_job_t *job, char *err, size_t errsz)
{
    size_t i, n = 0;
    json_t *e;
    if (!v)
        return LS_OK;
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > LS_F__COUNT + 1) {
        snprintf(err, errsz, "job: field 'fields' must be an array of 1..%d field names", LS_F__COUNT + 1);
        return LS_EINVAL;
    }
    json_array_foreach(v, i, e) {
        const char *s = json_string_value(e);
        if (!s || !known_field(s, strlen(s))) {
            snprintf(err, errsz, "job: field 'fields' element %zu is not a tracked field name", i);
            return LS_EINVAL;
        }
        n += (size_t)snprintf(job->fields + n, sizeof(job->fields) - n, "%s%s", n ? "," : "", s);
    }
    return LS_OK;
}

static int decode_bool(json_t *o, const char *key, int dflt, int *out, char *err, size_t errsz)
{
    json_t *v = json_object_get(o, key);
    *out = dflt;
    if (!v)
        return LS_OK;
    if (!json_is_boolean(v)) {
        snprintf(err, errsz, "job: field '%s' must be a boolean", key);
        return LS_EINVAL;
    }
    *out = json_is_true(v);
    return LS_OK;
}

static int decode_strategy(json_t *o, ls_job_t *job, char *err, size_t errsz)
{
    char order[8], gte[16];
    int paged;
    int rc = decode_fields(json_object_get(o, "fields"), job, err, errsz);
    if (!rc) rc = get_str(o, "sort", 0, job->sort, sizeof(job->sort), err, errsz);
    if (!rc) rc = get_str(o, "order", 0, order, sizeof(order), err, errsz);
    if (!rc) rc = get_str(o, "updated_gte", 0, gte, sizeof(gte), err, errsz);
    if (!rc) rc = decode_bool(o, "paged", 1, &paged, err, errsz);
    if (!rc) rc = decode_bool(o, "get", 0, &job->get, err, errsz);
    if (rc)
        return rc;
    job->unpaged = !paged;
    if (job->sort[0] && strcmp(job->sort, "created_at") && strcmp(job->sort, "updated_at")) {
        snprintf(err, errsz, "job: field 'sort' must be created_at or updated_at");
        return LS_EINVAL;
    }
    if (order[0] && (strcmp(order, "asc") || !job->sort[0])) {
        snprintf(err, errsz, "job: field 'order' must be asc, and only with 'sort'");
        return LS_EINVAL;
    }
    job->order_asc = order[0] != '\0';
    if (gte[0] && strcmp(gte, "supported") && strcmp(gte, "required")) {
        snprintf(err, errsz, "job: field 'updated_gte' must be supported or required");
        return LS_EINVAL;
    }
    job->gte = !gte[0] ? LS_GTE_NONE : gte[0] == 'r' ? LS_GTE_REQUIRED : LS_GTE_SUPPORTED;
    if (job->mode == LS_MODE_INCREMENTAL && job->gte == LS_GTE_NONE) {
        snprintf(err, errsz, "job: an incremental job needs 'updated_gte'");
        return LS_EINVAL;
    }
    return LS_OK;
}

char *ls_job_encode(const ls_job_t *job)
{
    char ts[LS_TIME_BUFSZ];
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s}", "v", LS_JOB_VERSION,
                          "job_id", job->job_id, "connection_id", job->connection_id,
                          "integration_type", job->integration_type, "mode", ls_mode_name(job->mode),
                          "scheduled_at", ls_time_format(job->scheduled_at, ts));
    if (!o)
        return NULL;
    if (job->external_xref[0])
        json_object_set_new(o, "external_xref", json_string(job->external_xref));
    if (job->course_id[0])
        json_object_set_new(o, "course_id", json_string(job->course_id));
    if (encode_strategy(o, job) != LS_OK) {
        json_decref(o);
        return NULL;
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

/* Copy string member key into buf; required members must be non-empty. */
static int get_str(json_t *o, const char *key, int required, char *buf, size_t bufsz,
                   char *err, size_t errsz)
{
    json_t *v = json_object_get(o, key);
    buf[0] = '\0';
    if (!v || json_is_null(v)) {
        if (!required)
            return LS_OK;
        snprintf(err, errsz, "job: missing field '%s'", key);
        return LS_EINVAL;
    }
    if (!json_is_string(v)) {
        snprintf(err, errsz, "job: field '%s' must be a string", key);
        return LS_EINVAL;
    }
    size_t n = json_string_length(v);
    if (n >= bufsz || (required && n == 0)) {
        snprintf(err, errsz, "job: field '%s' is %s", key, n ? "too long" : "empty");
        return LS_EINVAL;
    }
    memcpy(buf, json_string_value(v), n + 1);
    return LS_OK;
}

static int decode_obj(json_t *o, ls_job_t *job, char *err, size_t errsz)
{
    char ts[64], mode[16];
    json_t *v = json_object_get(o, "v");
    if (!json_is_integer(v) || json_integer_value(v) != LS_JOB_VERSION) {
        snprintf(err, errsz, "job: field 'v' must be %d", LS_JOB_VERSION);
        return LS_EINVAL;
    }
    int rc = get_str(o, "job_id", 1, job->job_id, sizeof(job->job_id), err, errsz);
    if (!rc) rc = get_str(o, "connection_id", 1, job->connection_id, sizeof(job->connection_id), err, errsz);
    if (!rc) rc = get_str(o, "integration_type", 0, job->integration_type, sizeof(job->integration_type), err, errsz);
    if (!rc) rc = get_str(o, "external_xref", 0, job->external_xref, sizeof(job->external_xref), err, errsz);
    if (!rc) rc = get_str(o, "course_id", 0, job->course_id, sizeof(job->course_id), err, errsz);
    if (!rc) rc = get_str(o, "mode", 1, mode, sizeof(mode), err, errsz);
    if (!rc) rc = get_str(o, "scheduled_at", 1, ts, sizeof(ts), err, errsz);
    if (rc)
        return rc;
    job->mode = ls_mode_parse(mode);
    if (job->mode != LS_MODE_FULL && job->mode != LS_MODE_INCREMENTAL) {
        snprintf(err, errsz, "job: field 'mode' must be full or incremental, got \"%.20s\"", mode);
        return LS_EINVAL;
    }
    if (ls_time_parse(ts, &job->scheduled_at) != LS_OK) {
        snprintf(err, errsz, "job: field 'scheduled_at' is not a timestamp");
        return LS_EINVAL;
    }
    return decode_strategy(o, job, err, errsz);
}

int ls_job_decode(const char *value, size_t len, ls_job_t *job, char *err, size_t errsz)
{
    memset(job, 0, sizeof(*job));
    if (!value || len == 0) {
        snprintf(err, errsz, "job: empty message");
        return LS_EINVAL;
    }
    json_error_t je;
    json_t *o = json_loadb(value, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        snprintf(err, errsz, "job: invalid JSON at byte %d: %s", je.position, je.text);
        return LS_EINVAL;
    }
    int rc = LS_EINVAL;
    if (!json_is_object(o))
        snprintf(err, errsz, "job: not a JSON object");
    else
        rc = decode_obj(o, job, err, errsz);
    json_decref(o);
    return rc;
}

void ls_job_scope(const ls_job_t *job, char *buf, size_t bufsz)
{
    ls_scope_key(job->connection_id, job->course_id, buf, bufsz);
}

char *ls_status_encode(const ls_job_t *job, const ls_status_t *st)
{
    char s1[LS_TIME_BUFSZ], s2[LS_TIME_BUFSZ], scope[2 * LS_STR_MAX + 2];
    ls_job_scope(job, scope, sizeof(scope));
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                          "job_id", job->job_id, "connection_id", job->connection_id,
                          "scope", scope, "integration_type", job->integration_type,
                          "mode", ls_mode_name(st->mode != LS_MODE_NONE ? st->mode : job->mode), "outcome", st->skipped ? "skipped" : st->ok ? "ok" : "failed",
                          "started_at", ls_time_format(st->started_at, s1),
                          "finished_at", ls_time_format(st->finished_at, s2),
                          "pages", (json_int_t)st->pages, "records", (json_int_t)st->records,
                          "rejected", (json_int_t)st->rejected, "events", (json_int_t)st->events,
                          "state_writes", (json_int_t)st->state_writes,
                          "requests", (json_int_t)st->requests, "bytes", (json_int_t)st->bytes,
                          "retries", (json_int_t)st->retries);
    if (!o)
        return NULL;
    json_object_set_new(o, "error", st->ok ? json_null() : json_string(st->error));
    json_object_set_new(o, "removed", json_integer((json_int_t)st->removed));
    json_object_set_new(o, "pending_removals", json_integer((json_int_t)st->pending_removals));
    json_object_set_new(o, "removals_skipped",
                        st->removals_skipped[0] ? json_string(st->removals_skipped) : json_null());
    if (job->course_id[0])
        json_object_set_new(o, "course_id", json_string(job->course_id));
    json_object_set_new(o, "watermark", st->watermark[0] ? json_string(st->watermark) : json_null());
    json_object_set_new(o, "next_watermark", st->next_watermark[0] ? json_string(st->next_watermark) : json_null());
    json_object_set_new(o, "removals_held", json_integer((json_int_t)st->removals_held));
    json_object_set_new(o, "rechecked", json_integer((json_int_t)st->rechecked));
    json_object_set_new(o, "rate_waits", json_integer((json_int_t)st->rate_waits));
    json_object_set_new(o, "skip_reason", st->skipped ? json_string(st->skip_reason) : json_null());
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}
