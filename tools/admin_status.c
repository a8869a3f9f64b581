/*
 * admin_status.c - aggregation of status records per scope (admin_status.h).
 */
#include "admin_status.h"
#include "ls_err.h"
#include "ls_strmap.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct admin_status {
    ls_strmap_t *index;  /* scope -> size_t position in scopes */
    admin_scope_t *scopes;
    size_t n, cap;
    long long bad;
    int sorted;
};

admin_status_t *admin_status_new(void)
{
    admin_status_t *s = calloc(1, sizeof(*s));
    if (s && !(s->index = ls_strmap_new(sizeof(size_t)))) {
        free(s);
        return NULL;
    }
    return s;
}

void admin_status_destroy(admin_status_t *s)
{
    if (!s)
        return;
    ls_strmap_destroy(s->index);
    free(s->scopes);
    free(s);
}

size_t admin_status_count(const admin_status_t *s)
{
    return s->n;
}

long long admin_status_bad(const admin_status_t *s)
{
    return s->bad;
}

/* Copy a string field, cut at a UTF-8 character boundary when it is too long. */
static void copy_str(char *dst, size_t dstsz, json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    size_t n = v ? strlen(v) : 0;
    if (n >= dstsz) {
        n = dstsz - 1;
        while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, v ? v : "", n);
    dst[n] = '\0';
}

static long long get_int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

/* The scope's entry, appended when new (s->scopes may move: the index holds positions). */
static admin_scope_t *scope_of(admin_status_t *s, const char *scope)
{
    int added = 0;
    size_t *pos = ls_strmap_put(s->index, scope, &added);
    if (!pos)
        return NULL;
    if (!added)
        return &s->scopes[*pos];
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        admin_scope_t *n = realloc(s->scopes, cap * sizeof(*n));
        if (!n)
            return NULL;
        s->scopes = n;
        s->cap = cap;
    }
    *pos = s->n;
    admin_scope_t *sc = &s->scopes[s->n++];
    memset(sc, 0, sizeof(*sc));
    snprintf(sc->scope, sizeof(sc->scope), "%s", scope);
    return sc;
}

static void account(admin_scope_t *sc, json_t *rec, const char *outcome)
{
    sc->reports++;
    copy_str(sc->connection_id, sizeof(sc->connection_id), rec, "connection_id");
    copy_str(sc->integration_type, sizeof(sc->integration_type), rec, "integration_type");
    snprintf(sc->last_outcome, sizeof(sc->last_outcome), "%s", outcome);
    copy_str(sc->last_finished_at, sizeof(sc->last_finished_at), rec, "finished_at");
    if (strcmp(outcome, "ok") == 0) {
        copy_str(sc->last_ok_at, sizeof(sc->last_ok_at), rec, "finished_at");
        copy_str(sc->last_ok_mode, sizeof(sc->last_ok_mode), rec, "mode");
        sc->last_ok_records = get_int(rec, "records");
        sc->pending_removals = get_int(rec, "pending_removals");
        sc->consecutive_failures = 0;
    } else if (strcmp(outcome, "failed") == 0) {
        copy_str(sc->last_failure_at, sizeof(sc->last_failure_at), rec, "finished_at");
        copy_str(sc->last_error, sizeof(sc->last_error), rec, "error");
        sc->consecutive_failures++;
    }
}

int admin_status_add(admin_status_t *s, const char *value, size_t len, char *err, size_t errsz)
{
    if (!value)
        return LS_OK;
    json_error_t je;
    json_t *rec = json_loadb(value, len, JSON_REJECT_DUPLICATES, &je);
    const char *scope = rec ? json_string_value(json_object_get(rec, "scope")) : NULL;
    const char *outcome = rec ? json_string_value(json_object_get(rec, "outcome")) : NULL;
    int rc = LS_OK;
    if (!rec) {
        snprintf(err, errsz, "not JSON: %s (offset %d)", je.text, je.position);
        rc = LS_EINVAL;
    } else if (!scope || !*scope || !outcome) {
        snprintf(err, errsz, "not a status record: string fields \"scope\" and \"outcome\" required");
        rc = LS_EINVAL;
    } else {
        admin_scope_t *sc = scope_of(s, scope);
        if (sc) {
            account(sc, rec, outcome);
            s->sorted = 0;
        } else {
            snprintf(err, errsz, "out of memory");
            rc = LS_ENOMEM;
        }
    }
    if (rc == LS_EINVAL)
        s->bad++;
    json_decref(rec);
    return rc;
}

static int by_scope(const void *a, const void *b)
{
    return strcmp(((const admin_scope_t *)a)->scope, ((const admin_scope_t *)b)->scope);
}

/* Sorting moves entries: rebuild the positions in the index. */
const admin_scope_t *admin_status_sorted(admin_status_t *s)
{
    if (s->sorted || s->n == 0)
        return s->scopes;
    qsort(s->scopes, s->n, sizeof(*s->scopes), by_scope);
    for (size_t i = 0; i < s->n; i++) {
        size_t *pos = ls_strmap_get(s->index, s->scopes[i].scope);
        if (pos)
            *pos = i;
    }
    s->sorted = 1;
    return s->scopes;
}

static json_t *str_or_null(const char *v)
{
    return *v ? json_string(v) : json_null();
}

static json_t *scope_json(const admin_scope_t *sc)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:I, s:o, s:o, s:i, s:I, s:s, s:I}",
                     "scope", sc->scope, "connection_id", sc->connection_id,
                     "integration_type", sc->integration_type,
                     "last_ok_at", str_or_null(sc->last_ok_at), "mode", str_or_null(sc->last_ok_mode),
                     "last_finished_at", str_or_null(sc->last_finished_at),
                     "records", (json_int_t)sc->last_ok_records,
                     "last_failure_at", str_or_null(sc->last_failure_at),
                     "last_error", str_or_null(sc->last_error),
                     "consecutive_failures", sc->consecutive_failures,
                     "pending_removals", (json_int_t)sc->pending_removals,
                     "last_outcome", sc->last_outcome, "reports", (json_int_t)sc->reports);
}

int admin_status_print_json(admin_status_t *s, FILE *out)
{
    const admin_scope_t *sc = admin_status_sorted(s);
    for (size_t i = 0; i < s->n; i++) {
        json_t *o = scope_json(&sc[i]);
        if (!o)
            return LS_ENOMEM;
        int rc = json_dumpf(o, out, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(o);
        if (rc != 0 || fputc('\n', out) == EOF)
            return LS_EIO;
    }
    return LS_OK;
}

static const char *dash(const char *v)
{
    return *v ? v : "-";
}

void admin_status_print_table(admin_status_t *s, FILE *out)
{
    const admin_scope_t *sc = admin_status_sorted(s);
    fprintf(out, "%-24s %-24s %-11s %9s %-24s %5s %7s  %s\n", "SCOPE", "LAST_OK", "MODE", "RECORDS",
            "LAST_FAILURE", "FAILS", "PENDING", "REASON");
    for (size_t i = 0; i < s->n; i++) {
        const admin_scope_t *c = &sc[i];
        fprintf(out, "%-24s %-24s %-11s %9lld %-24s %5d %7lld  %s\n", c->scope, dash(c->last_ok_at),
                dash(c->last_ok_mode), c->last_ok_records, dash(c->last_failure_at),
                c->consecutive_failures, c->pending_removals, dash(c->last_error));
    }
}
