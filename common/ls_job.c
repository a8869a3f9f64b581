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

char *ls_job_encode(const ls_job_t *job)
{
    char ts[LS_TIME_BUFSZ];
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s}", "v", LS_JOB_VERSION,
                          "job_id", job->job_id, "connection_id", job->connection_id,
                          "integration_type", job->integration_type, "mode", job->mode,
                          "scheduled_at", ls_time_format(job->scheduled_at, ts));
    if (!o)
        return NULL;
    if (job->external_xref[0])
        json_object_set_new(o, "external_xref", json_string(job->external_xref));
    if (job->course_id[0])
        json_object_set_new(o, "course_id", json_string(job->course_id));
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
    char ts[64];
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
    if (!rc) rc = get_str(o, "mode", 1, job->mode, sizeof(job->mode), err, errsz);
    if (!rc) rc = get_str(o, "scheduled_at", 1, ts, sizeof(ts), err, errsz);
    if (rc)
        return rc;
    if (strcmp(job->mode, "full") != 0 && strcmp(job->mode, "incremental") != 0) {
        snprintf(err, errsz, "job: field 'mode' must be full or incremental, got \"%.20s\"", job->mode);
        return LS_EINVAL;
    }
    if (ls_time_parse(ts, &job->scheduled_at) != LS_OK) {
        snprintf(err, errsz, "job: field 'scheduled_at' is not a timestamp");
        return LS_EINVAL;
    }
    return LS_OK;
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
    if (job->course_id[0])
        snprintf(buf, bufsz, "%s/%s", job->connection_id, job->course_id);
    else
        snprintf(buf, bufsz, "%s", job->connection_id);
}

char *ls_status_encode(const ls_job_t *job, const ls_status_t *st)
{
    char s1[LS_TIME_BUFSZ], s2[LS_TIME_BUFSZ], scope[2 * LS_STR_MAX + 2];
    ls_job_scope(job, scope, sizeof(scope));
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                          "job_id", job->job_id, "connection_id", job->connection_id,
                          "scope", scope, "integration_type", job->integration_type,
                          "mode", job->mode, "outcome", st->ok ? "ok" : "failed",
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
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}
