/*
 * admin_status.c - aggregation of status records per scope (admin_status.h).
 */
#include "admin_status.h"
#include "ls_grow.h"
#include "ls_err.h"
#include "ls_job.h"
#include "ls_strmap.h"
#include "ls_time.h"

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

static void copy(char *dst, size_t dstsz, const char *src)
{
    snprintf(dst, dstsz, "%s", src);
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
    admin_scope_t *grown = ls_grow(s->scopes, &s->cap, s->n, sizeof(*s->scopes), 64);
    if (!grown)
        return NULL;
    s->scopes = grown;
    *pos = s->n;
    admin_scope_t *sc = &s->scopes[s->n++];
    memset(sc, 0, sizeof(*sc));
    snprintf(sc->scope, sizeof(sc->scope), "%s", scope);
    return sc;
}

static void account(admin_scope_t *sc, const ls_job_t *job, const ls_status_t *st)
{
    char at[LS_TIME_BUFSZ] = "";
    if (st->finished_at)
        ls_time_format(st->finished_at, at);
    const char *outcome = st->skipped ? "skipped" : st->ok ? "ok" : "failed";
    sc->reports++;
    copy(sc->connection_id, sizeof(sc->connection_id), job->connection_id);
    copy(sc->integration_type, sizeof(sc->integration_type), job->integration_type);
    copy(sc->last_outcome, sizeof(sc->last_outcome), outcome);
    copy(sc->last_finished_at, sizeof(sc->last_finished_at), at);
    if (st->skipped)
        return;
    if (st->ok) {
        copy(sc->last_ok_at, sizeof(sc->last_ok_at), at);
        copy(sc->last_ok_mode, sizeof(sc->last_ok_mode), ls_mode_name(job->mode));
        sc->last_ok_records = (long long)st->records;
        sc->pending_removals = (long long)st->pending_removals;
        sc->consecutive_failures = 0;
    } else {
        copy(sc->last_failure_at, sizeof(sc->last_failure_at), at);
        copy(sc->last_error, sizeof(sc->last_error), st->error);
        sc->consecutive_failures++;
    }
}

int admin_status_add(admin_status_t *s, const char *value, size_t len, char *err, size_t errsz)
{
    if (!value)
        return LS_OK;
    ls_job_t job;
    ls_status_t st;
    char scope[sizeof(((admin_scope_t *)0)->scope)];
    if (ls_status_decode(value, len, &job, &st, err, errsz) != LS_OK) {
        s->bad++;
        return LS_EINVAL;
    }
    ls_job_scope(&job, scope, sizeof(scope));
    admin_scope_t *sc = scope_of(s, scope);
    if (!sc) {
        snprintf(err, errsz, "out of memory");
        return LS_ENOMEM;
    }
    account(sc, &job, &st);
    s->sorted = 0;
    return LS_OK;
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
