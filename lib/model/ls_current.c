/*
 * ls_current.c - build the current record of an activity (ls_current.h).
 *
 * ls_current_value_set is the definition of the value (a jansson object:
 * the record from ls_activity_to_json plus the envelope from
 * ls_event_envelope_set, the same code the change events' fields come
 * from). The worker does not build that tree for every record: a tree and
 * a sorted dump cost about three times a whole change event. Instead the
 * record is written by ls_activity_write_json (the change events' writer)
 * and the envelope members are merged into it in sorted key order, which
 * gives exactly json_dumps(value_set, JSON_SORT_KEYS | JSON_COMPACT);
 * tests/unit/test_current.c compares both on random records, so a member
 * added to ls_current_value_set without the writer fails there.
 */
#include "ls_current.h"
#include "ls_err.h"
#include "ls_state.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t CURRENT_MARKER[] = {'c', 'u', 'r', 'r', 'e', 'n', 't'};

static int fail(char *err, size_t errsz, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

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

int ls_current_value_set(json_t *obj, const ls_event_ctx_t *ctx, const ls_activity_t *a,
                         const ls_current_names_t *names)
{
    json_t *rec = ls_activity_to_json(a);
    if (rec == NULL)
        return LS_EINVAL;
    int rc = json_object_update(obj, rec) == 0 ? LS_OK : LS_ENOMEM;
    json_decref(rec);
    if (rc == LS_OK)
        rc = ls_event_envelope_set(obj, ctx);
    if (rc == LS_OK)
        rc = ls_catalog_add_names(obj, names ? names->course : NULL, names ? names->content : NULL);
    return rc;
}

void ls_current_id(const char *connection_id, const char *activity_id, const uint8_t *packed, size_t len,
                   char *out)
{
    ls_event_id(connection_id, activity_id, CURRENT_MARKER, sizeof(CURRENT_MARKER), packed, len, out);
}

/* One "key":value member of a flat JSON object. */
typedef struct {
    const char *key, *text; /* key: NUL-terminated name; text: the whole member */
    size_t len;
} member_t;

/* The end of the value starting at p in ls_activity_write_json's output (flat: strings, numbers,
 * booleans, null; a '"' inside a string is always escaped). */
static const char *value_end(const char *p, const char *end)
{
    if (*p != '"') {
        while (p < end && *p != ',' && *p != '}')
            p++;
        return p;
    }
    for (p++; p < end && *p != '"'; p++)
        if (*p == '\\')
            p++;
    return p + 1;
}

/* Split the record's JSON ({"k":v,...}) into members; keys are copied to names (field names are
 * short ASCII). @return the number of members. */
static size_t split_members(const char *json, size_t len, member_t *m, char (*names)[32], size_t max)
{
    const char *p = json + 1, *end = json + len - 1;
    size_t n = 0;
    while (p < end && n < max) {
        const char *k = p + 1, *ke = memchr(k, '"', (size_t)(end - k));
        size_t kl = ke ? (size_t)(ke - k) : 0;
        if (!ke || kl >= sizeof(names[0]))
            break;
        memcpy(names[n], k, kl);
        names[n][kl] = '\0';
        const char *ve = value_end(ke + 2, end);
        m[n] = (member_t){names[n], p, (size_t)(ve - p)};
        n++;
        p = ve + 1;
    }
    return n;
}

/* "key":"string" or "key":null into out; 0 when s is not valid UTF-8. */
static size_t write_member(char *out, const char *key, const char *s)
{
    size_t kl = strlen(key), n = 0;
    out[n++] = '"';
    memcpy(out + n, key, kl);
    n += kl;
    memcpy(out + n, "\":", 2);
    n += 2;
    if (s == NULL) {
        memcpy(out + n, "null", 4);
        return n + 4;
    }
    size_t w = ls_activity_write_jstring(s, strlen(s), out + n);
    return w ? n + w : 0;
}

static int by_key(const void *x, const void *y)
{
    return strcmp(((const member_t *)x)->key, ((const member_t *)y)->key);
}

/* The members added to the record: the envelope (string or null) and the names (absent when unknown). */
typedef struct extra_members {
    member_t m[7];
    char buf[4][6 * LS_STR_MAX + 64], names[3][6 * LS_CATALOG_NAME_MAX + 64];
    size_t n;
} extra_members_t;

static int add_extra(extra_members_t *x, const char *key, const char *val, char *buf, size_t cap)
{
    if (val != NULL && strlen(val) * 6 + 64 > cap)
        return LS_EINVAL;
    size_t w = write_member(buf, key, val);
    if (w == 0)
        return LS_EINVAL;
    x->m[x->n++] = (member_t){key, buf, w};
    return LS_OK;
}

static int extra_members(const ls_event_ctx_t *ctx, const ls_current_names_t *names, extra_members_t *x)
{
    static const char *const env_keys[4] = {"connection_id", "integration_type", "tenant", "workspace"};
    const char *env_vals[4] = {ctx->connection_id, ctx->integration_type, ctx->external_xref, ctx->workspace};
    const ls_catalog_entry_t *course = names ? names->course : NULL, *content = names ? names->content : NULL;
    int n_env = ctx->workspace && ctx->workspace[0] ? 4 : 3; /* "workspace": named workspaces only */
    x->n = 0;
    for (int i = 0; i < n_env; i++) {
        if (env_vals[i] != NULL && strlen(env_vals[i]) > LS_STR_MAX)
            return LS_EINVAL;
        if (add_extra(x, env_keys[i], env_vals[i], x->buf[i], sizeof(x->buf[i])) != LS_OK)
            return LS_EINVAL;
    }
    if (course && course->has_name && add_extra(x, "course_name", course->name, x->names[0], sizeof(x->names[0])))
        return LS_EINVAL;
    if (content && content->has_name &&
        add_extra(x, "content_name", content->name, x->names[1], sizeof(x->names[1])))
        return LS_EINVAL;
    if (content && content->has_type &&
        add_extra(x, "content_type", content->type, x->names[2], sizeof(x->names[2])))
        return LS_EINVAL;
    return LS_OK;
}

/* The value as compact JSON with sorted keys into cur (malloc), without a tree (see the top). */
static int build_value(const ls_event_ctx_t *ctx, const ls_activity_t *a, const ls_current_names_t *names,
                       ls_current_t *cur)
{
    char rec[LS_ACTIVITY_JSON_MAX], keys[LS_F__COUNT + 1][32];
    member_t m[LS_F__COUNT + 8];
    size_t rl = ls_activity_write_json(a, rec);
    if (rl < 2)
        return LS_EINVAL;
    extra_members_t x; /* about 24 KB: on the stack, not a malloc per record */
    if (extra_members(ctx, names, &x) != LS_OK)
        return LS_EINVAL;
    size_t n = split_members(rec, rl, m, keys, LS_F__COUNT + 1), total = 2;
    for (size_t i = 0; i < x.n; i++)
        m[n++] = x.m[i];
    qsort(m, n, sizeof(m[0]), by_key);
    for (size_t i = 0; i < n; i++)
        total += m[i].len + 1; /* and its comma */
    char *v = malloc(total + 1), *p = v;
    if (v == NULL)
        return LS_ENOMEM;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        memcpy(p, m[i].text, m[i].len);
        p += m[i].len;
    }
    *p++ = '}';
    *p = '\0';
    cur->value = v;
    cur->value_len = (size_t)(p - v);
    return LS_OK;
}

static int check_args(const ls_event_ctx_t *ctx, const char *activity_id, const ls_activity_t *a,
                      char *err, size_t errsz)
{
    if (ctx == NULL || ctx->connection_id == NULL || ctx->connection_id[0] == '\0')
        return fail(err, errsz, LS_EINVAL, "current record: missing connection id");
    if (activity_id == NULL || activity_id[0] == '\0')
        return fail(err, errsz, LS_EINVAL, "current record: missing activity id");
    if (a != NULL && strcmp(a->id, activity_id) != 0)
        return fail(err, errsz, LS_EINVAL, "current record: record id differs from \"%s\"", activity_id);
    return LS_OK;
}

int ls_current_build(const ls_event_ctx_t *ctx, const char *activity_id, const ls_activity_t *a,
                     const ls_current_names_t *names, ls_current_t *cur, char *err, size_t errsz)
{
    uint8_t packed[LS_STATE_MAX];
    size_t len = 0;
    memset(cur, 0, sizeof(*cur));
    int rc = check_args(ctx, activity_id, a, err, errsz);
    if (rc != LS_OK)
        return rc;
    char conn[LS_KEY_MAX]; /* keys and ids use the workspace-qualified connection, as the change events */
    if (ls_conn_qualify(ctx->workspace, ctx->connection_id, conn, sizeof(conn)) < 0 ||
        ls_activity_key(conn, activity_id, cur->key, sizeof(cur->key)) < 0)
        return fail(err, errsz, LS_EINVAL, "current record: key of \"%s\" too long", activity_id);
    rc = ls_event_attrs(ctx, activity_id, cur->source, cur->subject, cur->time, err, errsz);
    if (rc != LS_OK)
        return rc;
    if (a != NULL && ls_state_pack(a, packed, sizeof(packed), &len) != LS_OK)
        return fail(err, errsz, LS_EINVAL, "current record: cannot pack the state of \"%s\"", activity_id);
    ls_current_id(conn, activity_id, a != NULL ? packed : NULL, len, cur->id);
    rc = a != NULL ? build_value(ctx, a, names, cur) : LS_OK;
    if (rc == LS_EINVAL)
        return fail(err, errsz, rc, "current record: cannot encode activity \"%s\" (invalid UTF-8?)", activity_id);
    if (rc != LS_OK)
        return fail(err, errsz, rc, "current record: out of memory encoding activity \"%s\"", activity_id);
    return LS_OK;
}

void ls_current_release(ls_current_t *cur)
{
    if (cur == NULL)
        return;
    free(cur->value);
    cur->value = NULL;
    cur->value_len = 0;
}
