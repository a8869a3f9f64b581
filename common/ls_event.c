/*
 * ls_event.c - build CloudEvents change events from a diff.
 *
 * The id hashes only what identifies the transition (connection, activity,
 * packed before, packed after), never the observation time or job, so a
 * crashed job that is re-run emits the same ids and consumers can dedupe.
 * The hashed input is a length-prefixed concatenation (u32 little-endian
 * length + bytes per part, 0xFFFFFFFF for a missing state), so no two
 * different inputs share a byte stream. It is fed to two FNV streams with
 * different seeds, which equals two ls_hash64() runs over the concatenation.
 * The JSON value is dumped with sorted keys so equal events are equal bytes.
 */
#include "ls_event.h"
#include "ls_err.h"
#include "ls_hash.h"
#include "ls_state.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED_HI LS_HASH_SEED
#define SEED_LO (LS_HASH_SEED ^ UINT64_C(0x9e3779b97f4a7c15))
#define NO_STATE UINT32_C(0xFFFFFFFF)

typedef struct {
    uint64_t hi, lo;
} dual_hash_t;

static void feed(dual_hash_t *h, const void *data, size_t len, uint32_t prefix)
{
    uint8_t p[4] = {(uint8_t)prefix, (uint8_t)(prefix >> 8),
                    (uint8_t)(prefix >> 16), (uint8_t)(prefix >> 24)};
    h->hi = ls_hash64_update(h->hi, p, 4);
    h->lo = ls_hash64_update(h->lo, p, 4);
    if (len > 0) {
        h->hi = ls_hash64_update(h->hi, data, len);
        h->lo = ls_hash64_update(h->lo, data, len);
    }
}

static void feed_part(dual_hash_t *h, const void *data, size_t len)
{
    if (data == NULL || len == 0)
        feed(h, NULL, 0, NO_STATE);
    else
        feed(h, data, len, (uint32_t)len);
}

void ls_event_id(const char *connection_id, const char *activity_id,
                 const uint8_t *before, size_t before_len,
                 const uint8_t *after, size_t after_len, char *out)
{
    dual_hash_t h = {SEED_HI, SEED_LO};
    size_t cl = strlen(connection_id), al = strlen(activity_id);
    feed(&h, connection_id, cl, (uint32_t)cl);
    feed(&h, activity_id, al, (uint32_t)al);
    feed_part(&h, before, before_len);
    feed_part(&h, after, after_len);
    snprintf(out, LS_EVENT_ID_LEN + 1, "%016" PRIx64 "%016" PRIx64,
             ls_hash64_final(h.hi), ls_hash64_final(h.lo));
}

static int fail(char *err, size_t errsz, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errsz, int rc, const char *fmt, ...)
{
    if (err != NULL && errsz > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* snprintf into a fixed field; LS_EINVAL naming the field when it does not fit. */
static int fmt_field(char *dst, size_t cap, const char *what, char *err, size_t errsz,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int fmt_field(char *dst, size_t cap, const char *what, char *err, size_t errsz,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap)
        return fail(err, errsz, LS_EINVAL, "event %s longer than %zu bytes", what, cap - 1);
    return LS_OK;
}

static int check_args(const ls_event_ctx_t *ctx, const ls_activity_t *before,
                      const ls_activity_t *after, const ls_diff_t *d,
                      char *err, size_t errsz)
{
    if (ctx == NULL || ctx->connection_id == NULL || ctx->connection_id[0] == '\0')
        return fail(err, errsz, LS_EINVAL, "event: missing connection id");
    if (ctx->mode == NULL || (strcmp(ctx->mode, "full") != 0 &&
                              strcmp(ctx->mode, "incremental") != 0 &&
                              strcmp(ctx->mode, "webhook") != 0))
        return fail(err, errsz, LS_EINVAL, "event: invalid observation mode");
    if (d == NULL || d->type == LS_CHANGE_NONE || d->type > LS_CHANGE_REMOVED)
        return fail(err, errsz, LS_EINVAL, "event: no change to report");
    if (after == NULL && (d->type != LS_CHANGE_REMOVED || before == NULL))
        return fail(err, errsz, LS_EINVAL, "event: missing after state for '%s'",
                    ls_change_type_name(d->type));
    if (before != NULL && after != NULL && strcmp(before->id, after->id) != 0)
        return fail(err, errsz, LS_EINVAL, "event: before and after ids differ");
    return LS_OK;
}

/* Packed state for the id; *len = 0 for "none". */
static int pack_or_none(const ls_activity_t *a, uint8_t *buf, size_t *len,
                        const char *which, char *err, size_t errsz)
{
    *len = 0;
    if (a == NULL)
        return LS_OK;
    if (ls_state_pack(a, buf, LS_STATE_MAX, len) != LS_OK)
        return fail(err, errsz, LS_EINVAL, "event: cannot pack %s state of \"%s\"", which, a->id);
    return LS_OK;
}

/* Kafka key: per-learner ordering when the student is known (from after,
 * else from before, so a record that loses its student keeps its key). */
static int build_key(const ls_event_ctx_t *ctx, const ls_activity_t *before,
                     const ls_activity_t *after, ls_event_t *ev, char *err, size_t errsz)
{
    const ls_activity_t *cands[2] = {after, before};
    for (int i = 0; i < 2; i++) {
        const ls_activity_t *c = cands[i];
        if (c != NULL && c->pres[LS_F_STUDENT_ID] == LS_PRESENT && c->student_id[0] != '\0')
            return fmt_field(ev->key, sizeof(ev->key), "key", err, errsz, "%s/%s",
                             ctx->connection_id, c->student_id);
    }
    const ls_activity_t *cur = after != NULL ? after : before;
    return fmt_field(ev->key, sizeof(ev->key), "key", err, errsz, "%s/activity/%s",
                     ctx->connection_id, cur->id);
}

static int build_attrs(const ls_event_ctx_t *ctx, const ls_activity_t *before,
                       const ls_activity_t *after, const ls_diff_t *d,
                       ls_event_t *ev, char *err, size_t errsz)
{
    const ls_activity_t *cur = after != NULL ? after : before;
    int rc = fmt_field(ev->type, sizeof(ev->type), "type", err, errsz, "lms.activity.%s",
                       ls_change_type_name(d->type));
    if (rc == LS_OK)
        rc = fmt_field(ev->source, sizeof(ev->source), "source", err, errsz,
                       "/connections/%s", ctx->connection_id);
    if (rc == LS_OK)
        rc = fmt_field(ev->subject, sizeof(ev->subject), "subject", err, errsz,
                       "activities/%s", cur->id);
    if (rc == LS_OK)
        rc = build_key(ctx, before, after, ev, err, errsz);
    ls_time_format(ctx->observed_at_ms, ev->time);
    return rc;
}

static json_t *string_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static json_t *activity_or_null(const ls_activity_t *a)
{
    return a != NULL ? ls_activity_to_json(a) : json_null();
}

static json_t *changed_json(uint32_t mask)
{
    json_t *arr = json_array();
    for (int f = 0; arr != NULL && f < LS_F__COUNT; f++) {
        if (!(mask & (1u << f)))
            continue;
        if (json_array_append_new(arr, json_string(ls_field_name((ls_field_t)f))) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

static json_t *observed_json(const ls_event_ctx_t *ctx, const char *at)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = json_object_set_new(o, "mode", json_string(ctx->mode));
    bad |= json_object_set_new(o, "at", json_string(at));
    bad |= json_object_set_new(o, "job_id", string_or_null(ctx->job_id));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The payload object (new reference), or NULL on allocation failure or a
 * string jansson refuses (invalid UTF-8 in a context string). */
static json_t *payload_json(const ls_event_ctx_t *ctx, const ls_activity_t *before,
                            const ls_activity_t *after, const ls_diff_t *d,
                            const ls_event_t *ev)
{
    const ls_activity_t *cur = after != NULL ? after : before;
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = json_object_set_new(o, "connection_id", json_string(ctx->connection_id));
    bad |= json_object_set_new(o, "integration_type", string_or_null(ctx->integration_type));
    bad |= json_object_set_new(o, "tenant", string_or_null(ctx->external_xref));
    bad |= json_object_set_new(o, "activity_id", json_string(cur->id));
    bad |= json_object_set_new(o, "type", json_string(ls_change_type_name(d->type)));
    bad |= json_object_set_new(o, "before", activity_or_null(before));
    bad |= json_object_set_new(o, "after", activity_or_null(after));
    bad |= json_object_set_new(o, "changed", changed_json(d->changed_mask));
    bad |= json_object_set_new(o, "observed", observed_json(ctx, ev->time));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int ls_event_build(const ls_event_ctx_t *ctx, const ls_activity_t *before,
                   const ls_activity_t *after, const ls_diff_t *d,
                   ls_event_t *ev, char *err, size_t errsz)
{
    uint8_t pb[LS_STATE_MAX], pa[LS_STATE_MAX];
    size_t lb, la;
    memset(ev, 0, sizeof(*ev));
    int rc = check_args(ctx, before, after, d, err, errsz);
    if (rc == LS_OK)
        rc = pack_or_none(before, pb, &lb, "before", err, errsz);
    if (rc == LS_OK)
        rc = pack_or_none(after, pa, &la, "after", err, errsz);
    if (rc == LS_OK)
        rc = build_attrs(ctx, before, after, d, ev, err, errsz);
    if (rc != LS_OK)
        return rc;
    const ls_activity_t *cur = after != NULL ? after : before;
    ls_event_id(ctx->connection_id, cur->id, pb, lb, pa, la, ev->id);
    json_t *v = payload_json(ctx, before, after, d, ev);
    if (v == NULL)
        return fail(err, errsz, LS_EINVAL,
                    "event: cannot encode payload of activity \"%s\" (invalid UTF-8?)", cur->id);
    ev->value = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(v);
    if (ev->value == NULL)
        return fail(err, errsz, LS_ENOMEM, "event: out of memory encoding activity \"%s\"", cur->id);
    ev->value_len = strlen(ev->value);
    return LS_OK;
}

void ls_event_release(ls_event_t *ev)
{
    if (ev == NULL)
        return;
    free(ev->value);
    ev->value = NULL;
    ev->value_len = 0;
}
