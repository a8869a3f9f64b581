/*
 * sb_fault.c - fault table (see sb_fault.h).
 */
#include "sb_fault.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_err.h"

#define SB_FAULT_MAX 1024

typedef enum sb_scope {
    SB_SCOPE_ANY = 0, SB_SCOPE_ACTIVITY, SB_SCOPE_COURSE, SB_SCOPE_LMS, SB_SCOPE_UNIFIED, SB_SCOPE_CONTENT, SB_SCOPE_WEBHOOK
} sb_scope_t;

typedef struct sb_fault {
    unsigned id;
    char conn[64];
    sb_fault_kind_t kind;
    sb_scope_t scope;
    int status;
    int retry_after;
    long count;                     /* remaining; -1 forever */
    long latency_ms;
    long stall_ms;
    sb_shift_dir_t dir;             /* SB_FAULT_SHIFT only */
} sb_fault_t;

struct sb_faults {
    pthread_mutex_t mu;
    sb_fault_t v[SB_FAULT_MAX];
    size_t n;
    unsigned next_id;
};

static const char *const sb_kind_names[] = {
    [SB_FAULT_NONE] = "none", [SB_FAULT_STATUS] = "status", [SB_FAULT_TRUNCATE] = "truncate",
    [SB_FAULT_NOT_ARRAY] = "not_array", [SB_FAULT_LATENCY] = "latency",
    [SB_FAULT_STALL] = "stall", [SB_FAULT_BAD_RECORD] = "bad_record", [SB_FAULT_SHIFT] = "shift",
    [SB_FAULT_IGNORE_OFFSET] = "ignore_offset", [SB_FAULT_IGNORE_LIMIT] = "ignore_limit",
    [SB_FAULT_DUPLICATE_IDS] = "duplicate_ids",
};
static const char *const sb_dir_names[] = { "none", "insert", "delete" };
static const char *const sb_scope_names[] = { "any", "activity", "course", "lms", "unified", "content", "webhook" };

sb_faults_t *sb_faults_new(void)
{
    sb_faults_t *f = calloc(1, sizeof(*f));
    if (f) {
        pthread_mutex_init(&f->mu, NULL);
        f->next_id = 1;
    }
    return f;
}

void sb_faults_destroy(sb_faults_t *f)
{
    if (!f)
        return;
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static long sb_json_long(const json_t *o, const char *k, long dflt)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (long)json_integer_value(v) : dflt;
}

static int sb_lookup(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (names[i] && strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

static json_t *sb_fault_json(const sb_fault_t *x)
{
    json_t *j = json_pack("{s:I,s:s,s:s,s:s,s:i,s:i,s:I,s:I,s:I}", "id", (json_int_t)x->id,
                     "connection_id", x->conn, "kind", sb_kind_names[x->kind],
                     "path", sb_scope_names[x->scope], "status", x->status,
                     "retry_after", x->retry_after, "count", (json_int_t)x->count,
                     "latency_ms", (json_int_t)x->latency_ms, "stall_ms", (json_int_t)x->stall_ms);
    if (j && x->kind == SB_FAULT_SHIFT)
        json_object_set_new(j, "direction", json_string(sb_dir_names[x->dir]));
    return j;
}

static int sb_fault_parse(const json_t *body, sb_fault_t *x, char *err, size_t err_size)
{
    memset(x, 0, sizeof(*x));
    const char *conn = json_string_value(json_object_get(body, "connection_id"));
    int kind = sb_lookup(sb_kind_names, sizeof(sb_kind_names) / sizeof(sb_kind_names[0]),
                         json_string_value(json_object_get(body, "kind")));
    const json_t *path = json_object_get(body, "path");
    int scope = path ? sb_lookup(sb_scope_names, 7, json_string_value(path)) : SB_SCOPE_ANY;
    if (kind <= SB_FAULT_NONE || scope < 0) {
        snprintf(err, err_size, "fault needs a valid kind and path");
        return LS_EINVAL;
    }
    snprintf(x->conn, sizeof(x->conn), "%s", conn ? conn : "*");
    x->kind = (sb_fault_kind_t)kind;
    x->scope = (sb_scope_t)scope;
    x->status = (int)sb_json_long(body, "status", 503);
    x->retry_after = (int)sb_json_long(body, "retry_after", x->status == 429 ? 1 : 0);
    x->count = sb_json_long(body, "count", -1);
    x->latency_ms = sb_json_long(body, "latency_ms", 100);
    x->stall_ms = sb_json_long(body, "stall_ms", 30000);
    if (x->kind == SB_FAULT_SHIFT) {
        const json_t *d = json_object_get(body, "direction");
        int dir = d ? sb_lookup(sb_dir_names, 3, json_string_value(d)) : SB_SHIFT_INSERT;
        if (dir <= SB_SHIFT_NONE) {
            snprintf(err, err_size, "shift fault needs direction \"insert\" or \"delete\"");
            return LS_EINVAL;
        }
        x->dir = (sb_shift_dir_t)dir;
    }
    if (x->status < 100 || x->status > 599 || x->count == 0 || x->count < -1 ||
        x->latency_ms < 0 || x->stall_ms < 0 || x->retry_after < 0) {
        snprintf(err, err_size, "fault has an out-of-range status, count or delay");
        return LS_EINVAL;
    }
    return LS_OK;
}

int sb_faults_add(sb_faults_t *f, const json_t *body, json_t **echo, char *err, size_t err_size)
{
    sb_fault_t x;
    if (!json_is_object(body) || sb_fault_parse(body, &x, err, err_size) != LS_OK) {
        if (!json_is_object(body))
            snprintf(err, err_size, "body must be a JSON object");
        return LS_EINVAL;
    }
    pthread_mutex_lock(&f->mu);
    int rc = LS_EFULL;
    if (f->n < SB_FAULT_MAX) {
        x.id = f->next_id++;
        f->v[f->n++] = x;
        *echo = sb_fault_json(&x);
        rc = LS_OK;
    } else {
        snprintf(err, err_size, "too many faults");
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

void sb_faults_clear(sb_faults_t *f)
{
    pthread_mutex_lock(&f->mu);
    f->n = 0;
    pthread_mutex_unlock(&f->mu);
}

json_t *sb_faults_list(sb_faults_t *f)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->n; i++)
        json_array_append_new(arr, sb_fault_json(&f->v[i]));
    pthread_mutex_unlock(&f->mu);
    return arr;
}

static bool sb_fault_applies(const sb_fault_t *x, const char *conn_id, sb_req_kind_t kind)
{
    bool any_conn = strcmp(x->conn, "*") == 0;
    if (!any_conn && (!conn_id || strcmp(x->conn, conn_id) != 0))
        return false;
    if (kind == SB_REQ_WEBHOOK) /* the webhook API only by name: "any" faults predate it */
        return x->scope == SB_SCOPE_WEBHOOK;
    switch (x->scope) {
    case SB_SCOPE_ACTIVITY: return kind == SB_REQ_ACTIVITY;
    case SB_SCOPE_COURSE: return kind == SB_REQ_COURSE;
    case SB_SCOPE_CONTENT: return kind == SB_REQ_CONTENT;
    case SB_SCOPE_LMS: return kind != SB_REQ_UNIFIED;
    case SB_SCOPE_UNIFIED: return kind == SB_REQ_UNIFIED;
    case SB_SCOPE_WEBHOOK: return false;
    default: return true;
    }
}

void sb_faults_match(sb_faults_t *f, const char *conn_id, sb_req_kind_t kind, sb_fault_hit_t *hit)
{
    memset(hit, 0, sizeof(*hit));
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->n; i++) {
        sb_fault_t *x = &f->v[i];
        bool sleeper = x->kind == SB_FAULT_LATENCY || x->kind == SB_FAULT_STALL;
        if (x->kind == SB_FAULT_SHIFT)
            continue;
        if (!sb_fault_applies(x, conn_id, kind) || (!sleeper && hit->action != SB_FAULT_NONE))
            continue;
        if (x->kind == SB_FAULT_LATENCY)
            hit->sleep_ms += x->latency_ms;
        else if (x->kind == SB_FAULT_STALL)
            hit->sleep_ms += x->stall_ms;
        else {
            hit->action = x->kind;
            hit->status = x->status;
            hit->retry_after = x->retry_after;
        }
        if (x->count > 0 && --x->count == 0) {
            memmove(x, x + 1, (f->n - i - 1) * sizeof(*x));
            f->n--;
            i--;
        }
    }
    pthread_mutex_unlock(&f->mu);
}

sb_shift_dir_t sb_faults_take_shift(sb_faults_t *f, const char *conn_id)
{
    sb_shift_dir_t dir = SB_SHIFT_NONE;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->n; i++) {
        sb_fault_t *x = &f->v[i];
        if (x->kind != SB_FAULT_SHIFT || !sb_fault_applies(x, conn_id, SB_REQ_ACTIVITY))
            continue;
        dir = x->dir;
        if (x->count > 0 && --x->count == 0) {
            memmove(x, x + 1, (f->n - i - 1) * sizeof(*x));
            f->n--;
        }
        break;
    }
    pthread_mutex_unlock(&f->mu);
    return dir;
}
