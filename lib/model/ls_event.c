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
 *
 * The JSON value is written straight into a buffer rather than built as a
 * jansson tree and dumped: that tree (a malloc per node, printf per number,
 * a key sort per object) was most of a worker's CPU on an initial sync. The
 * bytes stay exactly those of json_dumps(tree, JSON_SORT_KEYS | JSON_COMPACT)
 * with jansson 2.14, which consumers and deterministic tests rely on; the
 * payload's keys are written in sorted order by hand (a record's keys in the
 * order ls_schema computes from its table) and tests/unit/test_event.c keeps
 * the jansson builder as a reference and compares both on random events.
 */
#include "ls_event.h"
#include "ls_err.h"
#include "ls_hash.h"
#include "ls_schema.h"
#include "ls_state.h"

#include <stdarg.h>
#include <stdbool.h>
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

/* 16 lower-case hex digits, as "%016" PRIx64 (no snprintf per event). */
static void put_hex64(char *out, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int k = 15; k >= 0; k--) {
        out[k] = hex[v & 0xF];
        v >>= 4;
    }
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
    put_hex64(out, ls_hash64_final(h.hi));
    put_hex64(out + 16, ls_hash64_final(h.lo));
    out[LS_EVENT_ID_LEN] = '\0';
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

/* Concatenate a, b and c into a fixed field (no snprintf: this runs for
 * every event); LS_EINVAL naming the field when it does not fit. */
static int join_field(char *dst, size_t cap, const char *what, char *err, size_t errsz,
                      const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    if (la >= cap || lb >= cap - la || lc >= cap - la - lb)
        return fail(err, errsz, LS_EINVAL, "event %s longer than %zu bytes", what, cap - 1);
    memcpy(dst, a, la);
    memcpy(dst + la, b, lb);
    memcpy(dst + la + lb, c, lc);
    dst[la + lb + lc] = '\0';
    return LS_OK;
}

static int check_args(const ls_event_ctx_t *ctx, const ls_activity_t *before,
                      const ls_activity_t *after, const ls_diff_t *d,
                      char *err, size_t errsz)
{
    if (ctx == NULL || ctx->connection_id == NULL || ctx->connection_id[0] == '\0')
        return fail(err, errsz, LS_EINVAL, "event: missing connection id");
    if (ls_mode_parse(ctx->mode) == LS_MODE_NONE)
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
static int build_key(const char *conn, const ls_activity_t *before,
                     const ls_activity_t *after, ls_event_t *ev, char *err, size_t errsz)
{
    const ls_activity_t *cands[2] = {after, before};
    for (int i = 0; i < 2; i++) {
        const ls_activity_t *c = cands[i];
        if (c != NULL && c->pres[LS_F_STUDENT_ID] == LS_PRESENT && c->student_id[0] != '\0')
            return join_field(ev->key, sizeof(ev->key), "key", err, errsz,
                              conn, "/", c->student_id);
    }
    const ls_activity_t *cur = after != NULL ? after : before;
    return join_field(ev->key, sizeof(ev->key), "key", err, errsz,
                      conn, "/activity/", cur->id);
}

/* "/connections/{id}", or "/workspaces/{ws}/connections/{id}" in a named workspace. */
static int build_source(const ls_event_ctx_t *ctx, char *source, char *err, size_t errsz)
{
    int n = ctx->workspace && ctx->workspace[0]
                ? snprintf(source, LS_EVENT_SOURCE_MAX, "/workspaces/%s/connections/%s", ctx->workspace,
                           ctx->connection_id)
                : snprintf(source, LS_EVENT_SOURCE_MAX, "/connections/%s", ctx->connection_id);
    if (n < 0 || n >= LS_EVENT_SOURCE_MAX) {
        source[0] = '\0';
        return fail(err, errsz, LS_EINVAL, "event: source longer than %d bytes: connection id too long", LS_EVENT_SOURCE_MAX - 1);
    }
    return LS_OK;
}

int ls_event_attrs(const ls_event_ctx_t *ctx, const char *activity_id, char *source, char *subject,
                   char *time, char *err, size_t errsz)
{
    int rc = build_source(ctx, source, err, errsz);
    if (rc == LS_OK)
        rc = join_field(subject, 16 + LS_STR_MAX, "subject", err, errsz, "activities/", activity_id, "");
    ls_time_format(ctx->observed_at_ms, time);
    return rc;
}

int ls_event_envelope_set(json_t *obj, const ls_event_ctx_t *ctx)
{
    const char *vals[4] = {ctx->connection_id, ctx->integration_type, ctx->external_xref, ctx->workspace};
    static const char *const keys[4] = {"connection_id", "integration_type", "tenant", "workspace"};
    for (int i = 0; i < 4; i++) {
        if (i == 3 && (!vals[i] || !vals[i][0])) /* "workspace": named workspaces only, as in the change events */
            break;
        json_t *v = vals[i] != NULL ? json_string(vals[i]) : json_null();
        if (v == NULL)
            return LS_EINVAL;
        if (json_object_set_new(obj, keys[i], v) != 0)
            return LS_ENOMEM;
    }
    return LS_OK;
}

static int build_attrs(const ls_event_ctx_t *ctx, const char *conn, const ls_activity_t *before,
                       const ls_activity_t *after, const ls_diff_t *d,
                       ls_event_t *ev, char *err, size_t errsz)
{
    _Static_assert(sizeof(ev->source) == LS_EVENT_SOURCE_MAX && sizeof(ev->subject) == 16 + LS_STR_MAX,
                   "ls_event_attrs writes 16 + LS_STR_MAX bytes at most");
    const ls_activity_t *cur = after != NULL ? after : before;
    int rc = join_field(ev->type, sizeof(ev->type), "type", err, errsz, "lms.activity.",
                        ls_change_type_name(d->type), "");
    if (rc == LS_OK)
        rc = ls_event_attrs(ctx, cur->id, ev->source, ev->subject, ev->time, err, errsz);
    if (rc == LS_OK)
        rc = build_key(conn, before, after, ev, err, errsz);
    return rc;
}

/*
 * Payload writer. Output starts in a stack array big enough for two
 * worst-case records and moves to the heap only for outsized context
 * strings; errors are sticky so the writer reads as a straight sequence.
 */
#define PAYLOAD_STACK (2 * LS_ACTIVITY_JSON_MAX + 2048)

typedef struct {
    char *p;    /* the stack array or heap */
    char *heap; /* NULL while p is the stack array */
    size_t len, cap;
    int rc;     /* first error: LS_EINVAL (bad UTF-8) or LS_ENOMEM */
} obuf_t;

/* Room for n more bytes; false (rc set) when it cannot be had. */
static bool ob_reserve(obuf_t *b, size_t n)
{
    if (b->rc != LS_OK)
        return false;
    if (n <= b->cap - b->len)
        return true;
    size_t cap = b->cap;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->rc = LS_ENOMEM;
            return false;
        }
        cap *= 2;
    }
    char *np = realloc(b->heap, cap);
    if (np == NULL) {
        b->rc = LS_ENOMEM;
        return false;
    }
    if (b->heap == NULL)
        memcpy(np, b->p, b->len);
    b->p = b->heap = np;
    b->cap = cap;
    return true;
}

static void ob_raw(obuf_t *b, const char *s, size_t n)
{
    if (!ob_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

#define OB_LIT(b, lit) ob_raw((b), (lit), sizeof(lit) - 1)

/* A JSON string, or null for NULL; invalid UTF-8 sets LS_EINVAL. */
static void ob_string(obuf_t *b, const char *s)
{
    if (s == NULL) {
        OB_LIT(b, "null");
        return;
    }
    size_t len = strlen(s);
    if (len > (SIZE_MAX - 2) / 6) {
        if (b->rc == LS_OK)
            b->rc = LS_ENOMEM;
        return;
    }
    if (!ob_reserve(b, 6 * len + 2))
        return;
    size_t n = ls_activity_write_jstring(s, len, b->p + b->len);
    if (n == 0)
        b->rc = LS_EINVAL;
    b->len += n;
}

static void ob_activity(obuf_t *b, const ls_activity_t *a)
{
    if (a == NULL) {
        OB_LIT(b, "null");
        return;
    }
    if (!ob_reserve(b, LS_ACTIVITY_JSON_MAX))
        return;
    size_t n = ls_activity_write_json(a, b->p + b->len);
    if (n == 0)
        b->rc = LS_EINVAL;
    b->len += n;
}

/* Field names of the mask in ls_field_t order (plain ASCII, no escaping). */
static void ob_changed(obuf_t *b, uint32_t mask)
{
    OB_LIT(b, "[");
    bool first = true;
    for (int f = 0; f < LS_F__COUNT; f++) {
        if (!(mask & (1u << f)))
            continue;
        const ls_field_desc_t *d = &ls_schema_fields[f];
        if (!first)
            OB_LIT(b, ",");
        OB_LIT(b, "\"");
        ob_raw(b, d->name, d->name_len);
        OB_LIT(b, "\"");
        first = false;
    }
    OB_LIT(b, "]");
}

/* The payload, keys in jansson's JSON_SORT_KEYS order at every level. */
static void write_payload(obuf_t *b, const ls_event_ctx_t *ctx, const ls_activity_t *before,
                          const ls_activity_t *after, const ls_diff_t *d,
                          const ls_event_t *ev)
{
    const ls_activity_t *cur = after != NULL ? after : before;
    OB_LIT(b, "{\"activity_id\":");
    ob_string(b, cur->id);
    OB_LIT(b, ",\"after\":");
    ob_activity(b, after);
    OB_LIT(b, ",\"before\":");
    ob_activity(b, before);
    OB_LIT(b, ",\"changed\":");
    ob_changed(b, d->changed_mask);
    OB_LIT(b, ",\"connection_id\":");
    ob_string(b, ctx->connection_id);
    OB_LIT(b, ",\"integration_type\":");
    ob_string(b, ctx->integration_type);
    OB_LIT(b, ",\"observed\":{\"at\":");
    ob_string(b, ev->time);
    OB_LIT(b, ",\"job_id\":");
    ob_string(b, ctx->job_id);
    OB_LIT(b, ",\"mode\":");
    ob_string(b, ctx->mode);
    OB_LIT(b, "},\"tenant\":");
    ob_string(b, ctx->external_xref);
    OB_LIT(b, ",\"type\":");
    ob_string(b, ls_change_type_name(d->type));
    if (ctx->workspace && ctx->workspace[0]) {
        OB_LIT(b, ",\"workspace\":");
        ob_string(b, ctx->workspace);
    }
    OB_LIT(b, "}");
}

/* Hand the written bytes to ev as one exact-size, NUL-terminated malloc
 * block (from the stack array) or the heap buffer itself. */
static int ob_finish(obuf_t *b, ls_event_t *ev)
{
    if (b->rc != LS_OK) {
        free(b->heap);
        return b->rc;
    }
    char *v = b->heap;
    if (v == NULL) {
        v = malloc(b->len + 1);
        if (v == NULL)
            return LS_ENOMEM;
        memcpy(v, b->p, b->len);
    } else if (!ob_reserve(b, 1)) {
        free(b->heap);
        return LS_ENOMEM;
    } else {
        v = b->p;
    }
    v[b->len] = '\0';
    ev->value = v;
    ev->value_len = b->len;
    return LS_OK;
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
    char conn[LS_KEY_MAX];
    if (rc == LS_OK && ls_conn_qualify(ctx->workspace, ctx->connection_id, conn, sizeof(conn)) < 0)
        rc = fail(err, errsz, LS_EINVAL, "event: workspace-qualified connection id too long");
    if (rc == LS_OK)
        rc = build_attrs(ctx, conn, before, after, d, ev, err, errsz);
    if (rc != LS_OK)
        return rc;
    const ls_activity_t *cur = after != NULL ? after : before;
    ls_event_id(conn, cur->id, pb, lb, pa, la, ev->id);
    char stack[PAYLOAD_STACK];
    obuf_t b = {stack, NULL, 0, sizeof(stack), LS_OK};
    write_payload(&b, ctx, before, after, d, ev);
    rc = ob_finish(&b, ev);
    if (rc == LS_EINVAL)
        return fail(err, errsz, LS_EINVAL,
                    "event: cannot encode payload of activity \"%s\" (invalid UTF-8?)", cur->id);
    if (rc != LS_OK)
        return fail(err, errsz, LS_ENOMEM, "event: out of memory encoding activity \"%s\"", cur->id);
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

void ls_event_source_of(const ls_event_ctx_t *ctx, char *buf)
{
    char err[8];
    build_source(ctx, buf, err, sizeof(err)); /* cannot fail: LS_EVENT_SOURCE_MAX holds the longest */
}
