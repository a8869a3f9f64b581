/*
 * ls_job.c - JSON encoding and decoding of jobs and status records (jansson).
 *
 * Decoding is strict about types and lengths because both topics are input
 * from the network: a malformed message is rejected with a reason, never
 * half-used. A status record's members other than its identity and outcome
 * are optional on decode (absent = 0 / none), so records that a compacted
 * status topic still holds from an older worker keep decoding.
 */
#include "ls_job.h"
#include "ls_err.h"
#include "ls_time.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int get_str(json_t *o, const char *what, const char *key, int required, char *buf,
                   size_t bufsz, char *err, size_t errsz);

static int known_field(const char *name, size_t len)
{
    if (len == 2 && strncmp(name, "id", 2) == 0)
        return 1;
    for (int f = 0; f < LS_F__COUNT; f++)
        if (strlen(ls_field_name((ls_field_t)f)) == len && strncmp(ls_field_name((ls_field_t)f), name, len) == 0)
            return 1;
    return 0;
}

const char *ls_job_kind_name(ls_job_kind_t k)
{
    return k == LS_JOB_CATALOG ? "catalog" : "activity";
}

/* "kind" (optional; absent = activity) of a job or status record what. */
static int decode_kind(json_t *o, const char *what, ls_job_kind_t *kind, char *err, size_t errsz)
{
    char name[16];
    int rc = get_str(o, what, "kind", 0, name, sizeof(name), err, errsz);
    *kind = LS_JOB_ACTIVITY;
    if (rc || !name[0] || strcmp(name, "activity") == 0)
        return rc;
    if (strcmp(name, "catalog") != 0) {
        snprintf(err, errsz, "%s: field 'kind' must be activity or catalog, got \"%.20s\"", what, name);
        return LS_EINVAL;
    }
    *kind = LS_JOB_CATALOG;
    return LS_OK;
}

/* A catalog job is one request stream per connection: no course scope, no activity strategy. */
static int check_catalog(json_t *o, const ls_job_t *job, char *err, size_t errsz)
{
    static const char *const activity_only[] = {"fields", "sort", "order", "paged", "get", "updated_gte"};
    if (job->kind != LS_JOB_CATALOG)
        return LS_OK;
    if (job->course_id[0] || job->mode != LS_MODE_FULL) {
        snprintf(err, errsz, "job: a catalog job has no 'course_id' and mode full");
        return LS_EINVAL;
    }
    for (size_t i = 0; i < sizeof(activity_only) / sizeof(activity_only[0]); i++) {
        if (json_object_get(o, activity_only[i])) {
            snprintf(err, errsz, "job: field '%s' is not allowed in a catalog job", activity_only[i]);
            return LS_EINVAL;
        }
    }
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
    if (!rc) rc = get_str(o, "job", "sort", 0, job->sort, sizeof(job->sort), err, errsz);
    if (!rc) rc = get_str(o, "job", "order", 0, order, sizeof(order), err, errsz);
    if (!rc) rc = get_str(o, "job", "updated_gte", 0, gte, sizeof(gte), err, errsz);
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

/*
 * The job as compact JSON with sorted keys, written directly: byte for byte
 * what json_dumps(JSON_COMPACT | JSON_SORT_KEYS) of the equivalent jansson
 * object gives (tests/unit/test_job.c compares them on random jobs), at a
 * fraction of the cost: the coordinator encodes one job per scope and slot.
 */
typedef struct jw {
    char *buf;
    size_t n, cap;
    int bad;      /* a string is not valid UTF-8 (jansson refuses it), or out of memory */
} jw_t;

static void jw_raw(jw_t *w, const char *s, size_t len)
{
    if (w->bad)
        return;
    if (w->n + len + 1 > w->cap) {
        size_t cap = (w->n + len + 1) * 2;
        char *b = realloc(w->buf, cap);
        if (!b) {
            w->bad = 1;
            return;
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->n, s, len);
    w->n += len;
}

/* ,"key": (the first member without the comma) */
static void jw_key(jw_t *w, const char *key)
{
    if (w->n > 1)
        jw_raw(w, ",", 1);
    jw_raw(w, "\"", 1);
    jw_raw(w, key, strlen(key));
    jw_raw(w, "\":", 2);
}

static void jw_strn(jw_t *w, const char *s, size_t len)
{
    char tmp[6 * 1024 + 2];
    size_t n = len <= (sizeof(tmp) - 2) / 6 ? ls_activity_write_jstring(s, len, tmp) : 0;
    if (n == 0)
        w->bad = 1;
    jw_raw(w, tmp, n);
}

static void jw_member(jw_t *w, const char *key, const char *value)
{
    jw_key(w, key);
    jw_strn(w, value, strlen(value));
}

static void jw_fields(jw_t *w, const char *fields)
{
    jw_key(w, "fields");
    jw_raw(w, "[", 1);
    for (const char *p = fields; *p;) {
        size_t len = strcspn(p, ",");
        if (p != fields)
            jw_raw(w, ",", 1);
        jw_strn(w, p, len);
        p += len + (p[len] == ',');
    }
    jw_raw(w, "]", 1);
}

/* A webhook job's records: parsed back from their text (they were checked on decode / set) and written as
 * jansson dumps them, so the writer stays byte-equal to the jansson encoding. */
static void jw_records(jw_t *w, const ls_job_t *job)
{
    json_t *arr = json_loadb(job->records, job->records_len, 0, NULL);
    char *text = json_is_array(arr) ? json_dumps(arr, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(arr);
    if (!text) {
        w->bad = 1;
        return;
    }
    jw_key(w, "records");
    jw_raw(w, text, strlen(text));
    free(text);
}

int ls_job_set_records(ls_job_t *job, const json_t *arr, char *err, size_t errsz)
{
    size_t i, n = json_array_size(arr);
    json_t *e;
    if (!json_is_array(arr) || n == 0 || n > LS_JOB_RECORDS_MAX_N) {
        snprintf(err, errsz, "job: field 'records' must be an array of 1..%d records", LS_JOB_RECORDS_MAX_N);
        return LS_EINVAL;
    }
    json_array_foreach(arr, i, e) {
        if (!json_is_object(e)) {
            snprintf(err, errsz, "job: field 'records' element %zu is not an object", i);
            return LS_EINVAL;
        }
    }
    char *text = json_dumps(arr, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return LS_ENOMEM;
    size_t len = strlen(text);
    if (len > LS_JOB_RECORDS_MAX) {
        snprintf(err, errsz, "job: field 'records' is %zu bytes, more than %d", len, LS_JOB_RECORDS_MAX);
        free(text);
        return LS_EINVAL;
    }
    free(job->records);
    job->records = text;
    job->records_len = len;
    return LS_OK;
}

void ls_job_release(ls_job_t *job)
{
    if (!job)
        return;
    free(job->records);
    job->records = NULL;
    job->records_len = 0;
}

/* "records": required for a webhook job (connection scope only), absent otherwise. */
static int decode_records(json_t *o, ls_job_t *job, char *err, size_t errsz)
{
    json_t *arr = json_object_get(o, "records");
    if (job->mode != LS_MODE_WEBHOOK) {
        if (arr)
            snprintf(err, errsz, "job: field 'records' belongs only to a webhook job");
        return arr ? LS_EINVAL : LS_OK;
    }
    if (job->course_id[0]) {
        snprintf(err, errsz, "job: a webhook job has no 'course_id'");
        return LS_EINVAL;
    }
    if (!arr) {
        snprintf(err, errsz, "job: a webhook job needs 'records'");
        return LS_EINVAL;
    }
    return ls_job_set_records(job, arr, err, errsz);
}

char *ls_job_encode(const ls_job_t *job)
{
    char ts[LS_TIME_BUFSZ], num[24];
    jw_t w = {NULL, 0, 0, 0};
    jw_raw(&w, "{", 1);
    jw_member(&w, "connection_id", job->connection_id);
    if (job->course_id[0])
        jw_member(&w, "course_id", job->course_id);
    if (job->external_xref[0])
        jw_member(&w, "external_xref", job->external_xref);
    int strategy = job->kind != LS_JOB_CATALOG; /* a catalog job has no strategy members */
    if (strategy && job->fields[0])
        jw_fields(&w, job->fields);
    if (strategy && job->get) {
        jw_key(&w, "get");
        jw_raw(&w, "true", 4);
    }
    jw_member(&w, "integration_type", job->integration_type);
    jw_member(&w, "job_id", job->job_id);
    if (job->kind == LS_JOB_CATALOG)
        jw_member(&w, "kind", "catalog");
    if (job->leader_epoch > 0) {
        jw_key(&w, "leader_epoch");
        jw_raw(&w, num, (size_t)snprintf(num, sizeof(num), "%lld", (long long)job->leader_epoch));
    }
    jw_member(&w, "mode", ls_mode_name(job->mode));
    if (strategy && job->sort[0] && job->order_asc)
        jw_member(&w, "order", "asc");
    if (strategy && job->unpaged) {
        jw_key(&w, "paged");
        jw_raw(&w, "false", 5);
    }
    if (job->records)
        jw_records(&w, job);
    if (job->resync) {
        jw_key(&w, "resync");
        jw_raw(&w, "true", 4);
    }
    jw_member(&w, "scheduled_at", ls_time_format(job->scheduled_at, ts));
    if (strategy && job->sort[0])
        jw_member(&w, "sort", job->sort);
    if (job->tenant[0])
        jw_member(&w, "tenant", job->tenant);
    if (strategy && job->gte)
        jw_member(&w, "updated_gte", job->gte == LS_GTE_REQUIRED ? "required" : "supported");
    jw_key(&w, "v");
    jw_raw(&w, num, (size_t)snprintf(num, sizeof(num), "%d", LS_JOB_VERSION));
    if (job->workspace[0])
        jw_member(&w, "workspace", job->workspace);
    jw_raw(&w, "}", 2); /* with the NUL */
    if (w.bad) {
        free(w.buf);
        return NULL;
    }
    return w.buf;
}

/* Copy string member key of record what ("job", "status") into buf;
 * required members must be non-empty. */
static int get_str(json_t *o, const char *what, const char *key, int required, char *buf,
                   size_t bufsz, char *err, size_t errsz)
{
    json_t *v = json_object_get(o, key);
    buf[0] = '\0';
    if (!v || json_is_null(v)) {
        if (!required)
            return LS_OK;
        snprintf(err, errsz, "%s: missing field '%s'", what, key);
        return LS_EINVAL;
    }
    if (!json_is_string(v)) {
        snprintf(err, errsz, "%s: field '%s' must be a string", what, key);
        return LS_EINVAL;
    }
    size_t n = json_string_length(v);
    if (n >= bufsz || (required && n == 0)) {
        snprintf(err, errsz, "%s: field '%s' is %s", what, key, n ? "too long" : "empty");
        return LS_EINVAL;
    }
    memcpy(buf, json_string_value(v), n + 1);
    return LS_OK;
}

/* connection_id and course_id become key parts (ls_key_part_check): what names the record. */
static int check_key_parts(const ls_job_t *job, const char *what, char *err, size_t errsz)
{
    char why[64];
    const char *field = "connection_id", *v = job->connection_id;
    int rc = ls_key_part_check(v, why, sizeof(why));
    if (rc == LS_OK && (rc = ls_key_part_check(job->course_id, why, sizeof(why))) != LS_OK) {
        field = "course_id";
        v = job->course_id;
    }
    if (rc != LS_OK) {
        size_t ok = 0; /* quote the id only up to the offending byte: the reason stays one printable line */
        while (v[ok] && v[ok] != '/' && (unsigned char)v[ok] >= 0x20 && v[ok] != 0x7f)
            ok++;
        snprintf(err, errsz, "%s: field '%s' cannot be a key part: %s (\"%.*s...\")", what, field, why,
                 (int)(ok < 60 ? ok : 60), v);
    }
    return rc;
}

/* Optional member "workspace" of record what: a valid workspace name. */
static int get_workspace(json_t *o, const char *what, ls_job_t *job, char *err, size_t errsz)
{
    char why[96];
    int rc = get_str(o, what, "workspace", 0, job->workspace, sizeof(job->workspace), err, errsz);
    if (rc == LS_OK && json_object_get(o, "workspace") && !json_is_null(json_object_get(o, "workspace")) &&
        ls_workspace_check(job->workspace, why, sizeof(why)) != LS_OK) {
        snprintf(err, errsz, "%s: field 'workspace' %s", what, why);
        rc = LS_EINVAL;
    }
    return rc;
}

/* Optional member "leader_epoch" of record what: a positive integer (0 when absent). */
static int get_epoch(json_t *o, const char *what, ls_job_t *job, char *err, size_t errsz)
{
    json_t *epoch = json_object_get(o, "leader_epoch");
    if (epoch && (!json_is_integer(epoch) || json_integer_value(epoch) <= 0)) {
        snprintf(err, errsz, "%s: field 'leader_epoch' must be a positive integer", what);
        return LS_EINVAL;
    }
    job->leader_epoch = epoch ? json_integer_value(epoch) : 0;
    return LS_OK;
}

/* Optional member "tenant" of a job; absent or "" (a job of an older coordinator, or of lmsync-webhook): the
 * connection's external_xref, the tenant the coordinator names when no tenant_map entry applies. */
static int get_tenant(json_t *o, ls_job_t *job, char *err, size_t errsz)
{
    int rc = get_str(o, "job", "tenant", 0, job->tenant, sizeof(job->tenant), err, errsz);
    if (rc == LS_OK && !job->tenant[0])
        memcpy(job->tenant, job->external_xref, sizeof(job->tenant));
    return rc;
}

static int decode_obj(json_t *o, ls_job_t *job, char *err, size_t errsz)
{
    char ts[64], mode[16];
    json_t *v = json_object_get(o, "v");
    if (!json_is_integer(v) || json_integer_value(v) != LS_JOB_VERSION) {
        snprintf(err, errsz, "job: field 'v' must be %d", LS_JOB_VERSION);
        return LS_EINVAL;
    }
    int rc = get_str(o, "job", "job_id", 1, job->job_id, sizeof(job->job_id), err, errsz);
    if (!rc) rc = get_str(o, "job", "connection_id", 1, job->connection_id, sizeof(job->connection_id), err, errsz);
    if (!rc) rc = get_str(o, "job", "integration_type", 0, job->integration_type, sizeof(job->integration_type), err, errsz);
    if (!rc) rc = get_str(o, "job", "external_xref", 0, job->external_xref, sizeof(job->external_xref), err, errsz);
    if (!rc) rc = get_str(o, "job", "course_id", 0, job->course_id, sizeof(job->course_id), err, errsz);
    if (!rc) rc = get_tenant(o, job, err, errsz);
    if (!rc) rc = get_str(o, "job", "mode", 1, mode, sizeof(mode), err, errsz);
    if (!rc) rc = get_str(o, "job", "scheduled_at", 1, ts, sizeof(ts), err, errsz);
    if (!rc) rc = get_workspace(o, "job", job, err, errsz);
    if (!rc) rc = check_key_parts(job, "job", err, errsz);
    if (!rc) rc = decode_kind(o, "job", &job->kind, err, errsz);
    if (rc)
        return rc;
    if ((rc = get_epoch(o, "job", job, err, errsz)) != LS_OK)
        return rc;
    job->mode = ls_mode_parse(mode);
    if (job->mode == LS_MODE_NONE) {
        snprintf(err, errsz, "job: field 'mode' must be full, incremental or webhook, got \"%.20s\"", mode);
        return LS_EINVAL;
    }
    if (decode_bool(o, "resync", 0, &job->resync, err, errsz) != LS_OK)
        return LS_EINVAL;
    if (job->resync && (job->mode != LS_MODE_FULL || job->kind == LS_JOB_CATALOG)) {
        snprintf(err, errsz, "job: a resync job must be a full activity job");
        return LS_EINVAL;
    }
    if (ls_time_parse(ts, &job->scheduled_at) != LS_OK) {
        snprintf(err, errsz, "job: field 'scheduled_at' is not a timestamp");
        return LS_EINVAL;
    }
    rc = job->kind == LS_JOB_CATALOG ? check_catalog(o, job, err, errsz) : decode_strategy(o, job, err, errsz);
    return rc ? rc : decode_records(o, job, err, errsz);
}

/* Parse value as one JSON object (new reference), or NULL with the reason
 * in err; what names the record ("job", "status") in the message. */
static json_t *load_object(const char *value, size_t len, const char *what, char *err, size_t errsz)
{
    if (!value || len == 0) {
        snprintf(err, errsz, "%s: empty message", what);
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb(value, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        snprintf(err, errsz, "%s: invalid JSON at byte %d: %s", what, je.position, je.text);
        ls_err_printable(err); /* jansson quotes the offending text, raw */
        return NULL;
    }
    if (!json_is_object(o)) {
        snprintf(err, errsz, "%s: not a JSON object", what);
        json_decref(o);
        return NULL;
    }
    return o;
}

int ls_job_decode(const char *value, size_t len, ls_job_t *job, char *err, size_t errsz)
{
    memset(job, 0, sizeof(*job));
    json_t *o = load_object(value, len, "job", err, errsz);
    if (!o)
        return LS_EINVAL;
    int rc = decode_obj(o, job, err, errsz);
    json_decref(o);
    if (rc) {
        ls_job_release(job);
        ls_err_printable(err); /* reasons quote the offending value */
    }
    return rc;
}

void ls_job_scope(const ls_job_t *job, char *buf, size_t bufsz)
{
    char conn[LS_KEY_MAX];
    if (ls_conn_qualify(job->workspace, job->connection_id, conn, sizeof(conn)) < 0) {
        if (bufsz)
            buf[0] = '\0';
        return;
    }
    if (job->kind == LS_JOB_CATALOG) {
        int n = snprintf(buf, bufsz, "%s//catalog", conn);
        if (n < 0 || (size_t)n >= bufsz)
            buf[0] = '\0';
        return;
    }
    ls_scope_key(conn, job->course_id, buf, bufsz);
}

/* ---- status records ----
 * One row per member, walked by the encoder and the decoder alike. */

static const struct {
    const char *name;
    size_t off;                /* uint64_t member of ls_status_t */
} status_counts[] = {
    {"pages", offsetof(ls_status_t, pages)},
    {"records", offsetof(ls_status_t, records)},
    {"rejected", offsetof(ls_status_t, rejected)},
    {"events", offsetof(ls_status_t, events)},
    {"state_writes", offsetof(ls_status_t, state_writes)},
    {"requests", offsetof(ls_status_t, requests)},
    {"bytes", offsetof(ls_status_t, bytes)},
    {"retries", offsetof(ls_status_t, retries)},
    {"removed", offsetof(ls_status_t, removed)},
    {"pending_removals", offsetof(ls_status_t, pending_removals)},
    {"removals_held", offsetof(ls_status_t, removals_held)},
    {"rechecked", offsetof(ls_status_t, rechecked)},
    {"rate_waits", offsetof(ls_status_t, rate_waits)},
    {"duplicates", offsetof(ls_status_t, duplicates)},
    {"stale_records", offsetof(ls_status_t, stale_records)},
    {"republished", offsetof(ls_status_t, republished)},
    {"rollups_republished", offsetof(ls_status_t, rollups_republished)},
};
#define N_STATUS_COUNTS (sizeof(status_counts) / sizeof(status_counts[0]))

/* String members written as null when "" (error and skip_reason depend on
 * the outcome and are handled apart). */
static const struct {
    const char *name;
    size_t off, size;          /* char[size] member of ls_status_t */
} status_texts[] = {
    {"removals_skipped", offsetof(ls_status_t, removals_skipped), sizeof(((ls_status_t *)0)->removals_skipped)},
    {"watermark", offsetof(ls_status_t, watermark), sizeof(((ls_status_t *)0)->watermark)},
    {"next_watermark", offsetof(ls_status_t, next_watermark), sizeof(((ls_status_t *)0)->next_watermark)},
};
#define N_STATUS_TEXTS (sizeof(status_texts) / sizeof(status_texts[0]))

static const char *outcome_name(const ls_status_t *st)
{
    return st->skipped ? "skipped" : st->ok ? "ok" : "failed";
}

static json_t *text_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

static int encode_status_members(json_t *o, const ls_status_t *st)
{
    int rc = 0;
    for (size_t i = 0; i < N_STATUS_COUNTS; i++) {
        uint64_t v = *(const uint64_t *)(const void *)((const char *)st + status_counts[i].off);
        rc |= json_object_set_new(o, status_counts[i].name, json_integer((json_int_t)v));
    }
    for (size_t i = 0; i < N_STATUS_TEXTS; i++)
        rc |= json_object_set_new(o, status_texts[i].name, text_or_null((const char *)st + status_texts[i].off));
    rc |= json_object_set_new(o, "error", st->ok ? json_null() : json_string(st->error));
    rc |= json_object_set_new(o, "skip_reason", st->skipped ? json_string(st->skip_reason) : json_null());
    return rc ? LS_ENOMEM : LS_OK;
}

char *ls_status_encode(const ls_job_t *job, const ls_status_t *st)
{
    char s1[LS_TIME_BUFSZ], s2[LS_TIME_BUFSZ], scope[LS_KEY_MAX];
    ls_job_scope(job, scope, sizeof(scope));
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                          "job_id", job->job_id, "connection_id", job->connection_id,
                          "scope", scope, "integration_type", job->integration_type,
                          "mode", ls_mode_name(st->mode != LS_MODE_NONE ? st->mode : job->mode),
                          "outcome", outcome_name(st),
                          "started_at", ls_time_format(st->started_at, s1),
                          "finished_at", ls_time_format(st->finished_at, s2));
    if (!o)
        return NULL;
    int rc = encode_status_members(o, st);
    if (!rc && job->course_id[0])
        rc = json_object_set_new(o, "course_id", json_string(job->course_id)) ? LS_ENOMEM : LS_OK;
    if (!rc && job->workspace[0])
        rc = json_object_set_new(o, "workspace", json_string(job->workspace)) ? LS_ENOMEM : LS_OK;
    if (!rc && job->leader_epoch > 0)
        rc = json_object_set_new(o, "leader_epoch", json_integer(job->leader_epoch)) ? LS_ENOMEM : LS_OK;
    if (!rc && job->kind == LS_JOB_CATALOG)
        rc = json_object_set_new(o, "kind", json_string("catalog")) ? LS_ENOMEM : LS_OK;
    char *s = rc ? NULL : json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

/* Optional non-negative integer member (absent or null = 0). */
static int get_count(json_t *o, const char *key, uint64_t *out, char *err, size_t errsz)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v || json_is_null(v))
        return LS_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        snprintf(err, errsz, "status: field '%s' must be a non-negative integer", key);
        return LS_EINVAL;
    }
    *out = (uint64_t)json_integer_value(v);
    return LS_OK;
}

/* Optional timestamp member (absent or null = 0). */
static int get_instant(json_t *o, const char *key, int64_t *out, char *err, size_t errsz)
{
    char ts[64];
    int rc = get_str(o, "status", key, 0, ts, sizeof(ts), err, errsz);
    *out = 0;
    if (rc || !ts[0])
        return rc;
    if (ls_time_parse(ts, out) != LS_OK) {
        snprintf(err, errsz, "status: field '%s' is not a timestamp", key);
        return LS_EINVAL;
    }
    return LS_OK;
}

static int decode_status_members(json_t *o, ls_status_t *st, char *err, size_t errsz)
{
    int rc = LS_OK;
    for (size_t i = 0; !rc && i < N_STATUS_COUNTS; i++)
        rc = get_count(o, status_counts[i].name, (uint64_t *)(void *)((char *)st + status_counts[i].off), err, errsz);
    for (size_t i = 0; !rc && i < N_STATUS_TEXTS; i++)
        rc = get_str(o, "status", status_texts[i].name, 0, (char *)st + status_texts[i].off,
                     status_texts[i].size, err, errsz);
    if (!rc) rc = get_instant(o, "started_at", &st->started_at, err, errsz);
    if (!rc) rc = get_instant(o, "finished_at", &st->finished_at, err, errsz);
    if (!rc) rc = get_str(o, "status", "error", 0, st->error, sizeof(st->error), err, errsz);
    if (!rc) rc = get_str(o, "status", "skip_reason", 0, st->skip_reason, sizeof(st->skip_reason), err, errsz);
    return rc;
}

/* outcome -> ok/skipped; mode (optional, a known name) -> st and job. */
static int decode_outcome_mode(json_t *o, ls_job_t *job, ls_status_t *st, char *err, size_t errsz)
{
    char outcome[16], mode[16];
    int rc = get_str(o, "status", "outcome", 1, outcome, sizeof(outcome), err, errsz);
    if (!rc) rc = get_str(o, "status", "mode", 0, mode, sizeof(mode), err, errsz);
    if (rc)
        return rc;
    st->skipped = strcmp(outcome, "skipped") == 0;
    st->ok = st->skipped || strcmp(outcome, "ok") == 0;
    if (!st->ok && strcmp(outcome, "failed") != 0) {
        snprintf(err, errsz, "status: field 'outcome' must be ok, failed or skipped, got \"%.20s\"", outcome);
        return LS_EINVAL;
    }
    st->mode = job->mode = ls_mode_parse(mode);
    if (mode[0] && st->mode == LS_MODE_NONE) {
        snprintf(err, errsz, "status: field 'mode' must be full, incremental or webhook, got \"%.20s\"", mode);
        return LS_EINVAL;
    }
    return LS_OK;
}

/* The identity members, and 'scope' (when present) must be their key. */
static int decode_status_identity(json_t *o, ls_job_t *job, char *err, size_t errsz)
{
    char scope[LS_KEY_MAX], built[LS_KEY_MAX];
    int rc = get_str(o, "status", "job_id", 1, job->job_id, sizeof(job->job_id), err, errsz);
    if (!rc) rc = get_str(o, "status", "connection_id", 1, job->connection_id, sizeof(job->connection_id), err, errsz);
    if (!rc) rc = get_str(o, "status", "integration_type", 0, job->integration_type, sizeof(job->integration_type), err, errsz);
    if (!rc) rc = get_str(o, "status", "course_id", 0, job->course_id, sizeof(job->course_id), err, errsz);
    if (!rc) rc = get_str(o, "status", "scope", 0, scope, sizeof(scope), err, errsz);
    if (!rc) rc = get_workspace(o, "status", job, err, errsz);
    if (!rc) rc = get_epoch(o, "status", job, err, errsz);
    if (!rc) rc = check_key_parts(job, "status", err, errsz);
    if (!rc) rc = decode_kind(o, "status", &job->kind, err, errsz);
    if (rc)
        return rc;
    ls_job_scope(job, built, sizeof(built));
    if (scope[0] && strcmp(scope, built) != 0) {
        snprintf(err, errsz, "status: field 'scope' is not [workspace:]connection_id[/course_id]");
        return LS_EINVAL;
    }
    return LS_OK;
}

int ls_status_decode(const char *value, size_t len, ls_job_t *job, ls_status_t *st,
                     char *err, size_t errsz)
{
    memset(job, 0, sizeof(*job));
    memset(st, 0, sizeof(*st));
    json_t *o = load_object(value, len, "status", err, errsz);
    if (!o)
        return LS_EINVAL;
    int rc = decode_status_identity(o, job, err, errsz);
    if (!rc) rc = decode_outcome_mode(o, job, st, err, errsz);
    if (!rc) rc = decode_status_members(o, st, err, errsz);
    json_decref(o);
    if (rc) {
        memset(job, 0, sizeof(*job));
        memset(st, 0, sizeof(*st));
        ls_err_printable(err); /* reasons quote the offending value */
    }
    return rc;
}
