/*
 * ls_coord_list.c - the coordinator's view of what exists: connections
 * (static list or GET /unified/connection), integration profiles and the
 * course lists of fanned-out connections.
 *
 * Every request goes through one curl multi handle and never blocks the
 * loop: a listing pass keeps coordinator.discovery_concurrency pages in
 * flight (offsets 0, 100, 200, ...) until a short page marks the end; course
 * lists are fetched for at most as many connections at once. A connection
 * is forgotten only after a pass in which every page answered: on a partial
 * failure the known set is kept (new connections of the pages that did
 * answer are added) and the pass is retried 10 s later.
 */
#include "ls_coord_int.h"
#include "ls_coord_metrics.h"
#include "ls_err.h"
#include "ls_log.h"
#include "ls_time.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 100
#define DISCOVERY_RETRY_MS 10000

typedef enum { REQ_CONNS, REQ_PROFILES, REQ_COURSES, REQ_WEBHOOK } req_kind_t;

/* What a transfer was for (its ud); conn copied, so a dropped connection is never touched. */
typedef struct req {
    req_kind_t kind;
    int ws;                     /* index in cfg->workspaces */
    int op;                     /* REQ_WEBHOOK: the reconciler's operation */
    long offset;                /* REQ_WEBHOOK: the reconciler's argument */
    char conn[];
} req_t;

/* ---- parsing ---- */

static int copy_field(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        return LS_EINVAL;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return LS_OK;
}

/* One "id[:integration[:xref]]" entry of len bytes into *c. */
static int parse_static_entry(const char *p, size_t len, ls_coord_conn_t *c)
{
    const char *c1 = memchr(p, ':', len);
    const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - p)) : NULL;
    memset(c, 0, sizeof(*c));
    int rc = copy_field(c->id, sizeof(c->id), p, c1 ? (size_t)(c1 - p) : len);
    if (c1 && rc == LS_OK)
        rc = copy_field(c->integration_type, sizeof(c->integration_type), c1 + 1,
                        (size_t)((c2 ? c2 : p + len) - (c1 + 1)));
    if (c2 && rc == LS_OK)
        rc = copy_field(c->external_xref, sizeof(c->external_xref), c2 + 1, (size_t)(p + len - (c2 + 1)));
    return rc;
}

int ls_coord_parse_static(const char *spec, ls_coord_conn_t **out, char *err, size_t errsz)
{
    size_t cap = 1, n = 0;
    for (const char *p = spec; *p; p++)
        cap += *p == ',';
    *out = calloc(cap, sizeof(**out));
    if (!*out)
        return LS_ENOMEM;
    for (const char *p = spec; *p;) {
        size_t len = strcspn(p, ",");
        const char *c1 = memchr(p, ':', len);
        char why[64] = "";
        if ((c1 ? (size_t)(c1 - p) : len) == 0 || parse_static_entry(p, len, &(*out)[n]) != LS_OK ||
            ls_key_part_check((*out)[n].id, why, sizeof(why)) != LS_OK) {
            if (why[0])
                snprintf(err, errsz, "setting 'coordinator.connections': entry %zu: the connection id cannot be a key "
                         "part: %s", n + 1, why);
            else
                snprintf(err, errsz, "setting 'coordinator.connections': entry %zu %s", n + 1,
                         (c1 ? c1 == p : len == 0) ? "has an empty connection id" : "is too long");
            free(*out);
            *out = NULL;
            return LS_EINVAL;
        }
        n++;
        p += len;
        if (*p == ',')
            p++;
    }
    return (int)n;
}

static int has_lms(json_t *cats)
{
    size_t i;
    json_t *v;
    if (!json_is_array(cats))
        return 0;
    json_array_foreach(cats, i, v) if (json_is_string(v) && strcmp(json_string_value(v), "lms") == 0) return 1;
    return 0;
}

static void str_member(json_t *o, const char *key, char *dst, size_t cap)
{
    json_t *v = json_object_get(o, key);
    dst[0] = '\0';
    if (json_is_string(v) && json_string_length(v) < cap)
        memcpy(dst, json_string_value(v), json_string_length(v) + 1);
}

/* Parse a list answer that must be a JSON array (new reference), or NULL with err set. */
static json_t *load_list(const char *body, size_t len, const char *what, char *err, size_t errsz)
{
    json_error_t je;
    json_t *arr = json_loadb(body, len, 0, &je);
    if (json_is_array(arr))
        return arr;
    snprintf(err, errsz, "%s list is not a JSON array%s%s", what, arr ? "" : ": ", arr ? "" : je.text);
    ls_err_printable(err);
    json_decref(arr);
    return NULL;
}

/*
 * The element's "id" when it is a usable id: a non-empty string of at most
 * LS_STR_MAX bytes without NUL that can be a key part (ls_key_part_check:
 * no '/', no control character). Else NULL, logged as entry i of a what
 * list and counted when it is a string that cannot be a key part.
 */
static json_t *usable_id(json_t *o, const char *what, size_t i)
{
    char why[64];
    json_t *id = json_object_get(o, "id");
    if (!json_is_string(id) || json_string_length(id) == 0 || json_string_length(id) > LS_STR_MAX ||
        strlen(json_string_value(id)) != json_string_length(id)) {
        ls_warn("%s list entry %zu skipped: no usable 'id'", what, i);
        return NULL;
    }
    if (ls_key_part_check(json_string_value(id), why, sizeof(why)) != LS_OK) {
        ls_warn("%s list entry %zu skipped: its id cannot be a key part: %s", what, i, why);
        ls_metric_add(CM_IDS_REJECTED, 0, 0, 1);
        return NULL;
    }
    return id;
}

int ls_coord_parse_connections(const char *body, size_t len, ls_coord_conn_t *out, size_t cap,
                               size_t *n_seen, char *err, size_t errsz)
{
    json_t *arr = load_list(body, len, "connection", err, errsz);
    if (!arr)
        return LS_EINVAL;
    size_t i, n = 0;
    json_t *o;
    *n_seen = json_array_size(arr);
    json_array_foreach(arr, i, o) {
        if (!usable_id(o, "connection", i))
            continue;
        if (!has_lms(json_object_get(o, "categories")) || json_is_true(json_object_get(o, "is_paused")) || n >= cap)
            continue;
        memset(&out[n], 0, sizeof(out[n]));
        str_member(o, "id", out[n].id, sizeof(out[n].id));
        str_member(o, "integration_type", out[n].integration_type, sizeof(out[n].integration_type));
        str_member(o, "external_xref", out[n].external_xref, sizeof(out[n].external_xref));
        n++;
    }
    json_decref(arr);
    return (int)n;
}

/* Call fn(ud, id) for every usable course id of a course list page. @return the page's element count, or LS_EINVAL. */
static long each_course(const char *body, size_t len, void (*fn)(void *ud, const char *id), void *ud,
                        char *err, size_t errsz)
{
    json_t *arr = load_list(body, len, "course", err, errsz);
    if (!arr)
        return LS_EINVAL;
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        json_t *id = usable_id(o, "course", i);
        if (id)
            fn(ud, json_string_value(id));
    }
    long n = (long)json_array_size(arr);
    json_decref(arr);
    return n;
}

typedef struct ids_sink {
    char (*ids)[LS_STR_MAX + 1];
    size_t n, cap;
} ids_sink_t;

static void collect_id(void *ud, const char *id)
{
    ids_sink_t *s = ud;
    if (s->n < s->cap)
        snprintf(s->ids[s->n++], LS_STR_MAX + 1, "%s", id);
}

int ls_coord_parse_courses(const char *body, size_t len, char (*ids)[LS_STR_MAX + 1], size_t cap,
                           size_t *n_seen, char *err, size_t errsz)
{
    ids_sink_t s = {ids, 0, cap};
    long seen = each_course(body, len, collect_id, &s, err, errsz);
    if (seen < 0)
        return LS_EINVAL;
    *n_seen = (size_t)seen;
    return (int)s.n;
}

/* ---- connections and scopes ---- */

const char *coord_conn_id(const coord_t *c, const coord_conn_t *conn)
{
    return ls_strmap_name(c->conns, conn);
}

const char *coord_conn_raw_id(const coord_t *c, const coord_conn_t *conn)
{
    const char *ws = c->cfg->workspaces[conn->ws].name;
    return coord_conn_id(c, conn) + (ws[0] ? strlen(ws) + 1 : 0);
}

int coord_creds_open(coord_t *c)
{
    for (int i = 0; i < c->cfg->n_workspaces; i++)
        if (!c->creds[i] && !(c->creds[i] = ls_http_cred_new(c->cfg->workspaces[i].base_url,
                                                              c->cfg->workspaces[i].token)))
            return LS_ENOMEM;
    return LS_OK;
}

void coord_creds_close(coord_t *c)
{
    for (int i = 0; i < LS_MAX_WORKSPACES; i++) {
        ls_http_cred_destroy(c->creds[i]);
        c->creds[i] = NULL;
    }
}

const char *coord_scope_key(const coord_t *c, const coord_scope_t *s)
{
    return ls_strmap_name(c->scopes, s);
}

static const char *intern(coord_t *c, const char *s)
{
    void *v = ls_strmap_put(c->strings, s, NULL);
    return v ? ls_strmap_name(c->strings, v) : NULL;
}

coord_conn_t *coord_conn_upsert(coord_t *c, const ls_coord_conn_t *l, uint32_t gen, int64_t now)
{
    int added;
    char qid[LS_KEY_MAX];
    if (ls_conn_qualify(c->cfg->workspaces[l->ws].name, l->id, qid, sizeof(qid)) < 0)
        return NULL;
    coord_conn_t *conn = ls_strmap_put(c->conns, qid, &added);
    const char *type = intern(c, l->integration_type), *xref = intern(c, l->external_xref);
    if (!conn || !type || !xref)
        return NULL;
    if (added) {
        coord_scope_t *s = ls_strmap_put(c->scopes, qid, NULL);
        if (!s) {
            ls_strmap_del(c->conns, qid);
            return NULL;
        }
        conn->scope = s;
        conn->strategy = -1;
        conn->ws = (uint8_t)l->ws;
        coord_scope_attach(c, s, conn, qid, now);
    }
    int retenant = !conn->tenant || conn->external_xref != xref || conn->integration_type != type;
    if (conn->integration_type != type)
        conn->strategy = -1;
    conn->integration_type = type;
    if (retenant) {
        char name[LS_STR_MAX + 1];
        coord_tenant_t *t = coord_tenant_get(c, coord_tenant_name(c->cfg->tenant_map, qid, l->id, type, xref, name,
                                                                  sizeof(name)));
        if (!t)
            return NULL;
        if (t != conn->tenant)
            coord_conn_set_tenant(c, conn, t);
        conn->external_xref = xref;
    }
    conn->seen_gen = gen;
    return conn;
}

/* Drop every scope of conn (the connection entry itself stays). */
static void conn_drop_scopes(coord_t *c, coord_conn_t *conn)
{
    for (uint32_t k = 0; k < conn->n_courses; k++)
        coord_scope_drop(c, conn->courses[k]);
    free(conn->courses);
    conn->courses = NULL;
    conn->n_courses = 0;
    coord_scope_drop(c, conn->scope);
}

/* ---- requests ---- */

/* conn: the qualified id of a course list's connection, else NULL; ws: the workspace asked. */
static int req_start(coord_t *c, req_kind_t kind, int ws, const char *conn, long offset, int paged)
{
    char url[2048], esc[3 * LS_STR_MAX + 1];
    const ls_workspace_t *w = &c->cfg->workspaces[ws];
    const char *base = w->base_url, *raw = conn ? conn + (w->name[0] ? strlen(w->name) + 1 : 0) : NULL;
    if (kind == REQ_PROFILES)
        snprintf(url, sizeof(url), "%s/unified/integration?categories=lms", base);
    else if (kind == REQ_CONNS)
        snprintf(url, sizeof(url), "%s/unified/connection?categories=lms&limit=%d&offset=%ld", base, PAGE, offset);
    else if (ls_http_escape(raw, esc, sizeof(esc)) != LS_OK)
        return LS_EINVAL;
    else if (paged)
        snprintf(url, sizeof(url), "%s/lms/%s/course?limit=%d&offset=%ld&fields=id", base, esc, PAGE, offset);
    else
        snprintf(url, sizeof(url), "%s/lms/%s/course?fields=id", base, esc);
    size_t len = conn ? strlen(conn) : 0;
    req_t *r = malloc(sizeof(*r) + len + 1);
    if (!r)
        return LS_ENOMEM;
    r->kind = kind;
    r->ws = ws;
    r->offset = offset;
    memcpy(r->conn, conn ? conn : "", len + 1);
    if (!ls_http_multi_start_cred(c->http, url, c->creds[ws], r)) {
        free(r);
        return LS_ENOMEM;
    }
    return LS_OK;
}

int coord_webhook_request(coord_t *c, int ws, const char *method, const char *url, const char *body, int op, long arg)
{
    req_t *r = calloc(1, sizeof(*r) + 1);
    if (!r)
        return LS_ENOMEM;
    r->kind = REQ_WEBHOOK;
    r->ws = ws;
    r->op = op;
    r->offset = arg;
    if (!ls_http_multi_send_cred(c->http, method, url, body, c->creds[ws], r)) {
        free(r);
        return LS_ENOMEM;
    }
    ls_http_multi_kick(c->http);
    return LS_OK;
}

/* ---- discovery ---- */

static void disco_fill(coord_t *c)
{
    coord_disco_t *d = &c->disco;
    if (d->end_seen && !d->failed && d->in_flight == 0 && d->ws + 1 < c->cfg->n_workspaces &&
        !c->cfg->connections[0]) {
        d->ws++; /* the next workspace's list */
        d->end_seen = 0;
        d->next_offset = 0;
    }
    while (!d->end_seen && !d->failed && d->in_flight < (size_t)c->cfg->discovery_concurrency) {
        if (req_start(c, REQ_CONNS, d->ws, NULL, d->next_offset, 1) != LS_OK) {
            d->failed = 1;
            break;
        }
        d->next_offset += PAGE;
        d->in_flight++;
    }
    ls_http_multi_kick(c->http);
}

void coord_disco_begin(coord_t *c, int64_t now)
{
    coord_disco_t *d = &c->disco;
    uint32_t gen = d->gen + 1;
    memset(d, 0, sizeof(*d));
    d->gen = gen;
    d->active = 1;
    d->started_ms = now;
    d->end_seen = c->cfg->connections[0] != '\0'; /* static list: profiles only */
    d->profiles_pending = req_start(c, REQ_PROFILES, 0, NULL, 0, 0) == LS_OK;
    disco_fill(c);
}

static int drop_unseen(const char *name, void *value, void *ud)
{
    coord_t *c = ud;
    coord_conn_t *conn = value;
    (void)name;
    if (conn->seen_gen == c->disco.gen)
        return 0;
    conn_drop_scopes(c, conn);
    return 1;
}

static void disco_finish(coord_t *c, int64_t now)
{
    coord_disco_t *d = &c->disco;
    size_t was = ls_strmap_count(c->conns);
    d->active = 0;
    coord_rechoose(c);
    coord_fanout_kick(c);
    if (d->failed) {
        c->next_discovery_ms = now + DISCOVERY_RETRY_MS; /* retry soon; keep the known set */
        ls_metric_add(CM_DISCOVERY_ERRORS, 0, 0, 1);
        return;
    }
    if (!c->cfg->connections[0])
        ls_strmap_sweep(c->conns, drop_unseen, c);
    coord_schedule_drop_orphans(c);
    c->next_discovery_ms = now + (int64_t)c->cfg->discovery_interval_s * 1000;
    if (!c->cfg->connections[0])
        ls_info("discovery: %zu connections listed in %zu pages in %lld ms; tracking %zu (was %zu)", d->listed,
                d->pages, (long long)(now - d->started_ms), ls_strmap_count(c->conns), was);
}

static void on_conns_page(coord_t *c, int rc, const ls_http_resp_t *resp, const char *err, int64_t now)
{
    coord_disco_t *d = &c->disco;
    char perr[512];
    size_t seen = 0;
    ls_coord_conn_t *list = rc == LS_OK ? malloc(PAGE * sizeof(*list)) : NULL;
    int got = !list ? (rc == LS_OK ? LS_ENOMEM : rc)
                    : ls_coord_parse_connections(resp->body, resp->len, list, PAGE, &seen, perr, sizeof(perr));
    d->in_flight--;
    if (got < 0) {
        if (!d->failed)
            ls_error("connection discovery failed (workspace \"%s\"): %s", ls_workspace_label(c->cfg->workspaces[d->ws].name),
                     rc != LS_OK ? err : got == LS_ENOMEM ? "out of memory" : perr);
        d->failed = 1;
    }
    for (int i = 0; i < got; i++) {
        list[i].ws = d->ws;
        if (!coord_conn_upsert(c, &list[i], d->gen, now))
            d->failed = 1;
    }
    free(list);
    if (got >= 0) {
        d->pages++;
        d->listed += (size_t)got;
        d->end_seen |= seen < PAGE;
    }
    disco_fill(c);
}

static void maybe_disco_done(coord_t *c, int64_t now)
{
    if (c->disco.active && c->disco.in_flight == 0 && !c->disco.profiles_pending &&
        (c->disco.end_seen || c->disco.failed))
        disco_finish(c, now);
}

/* ---- course lists ---- */

void coord_courses_request(coord_t *c, coord_conn_t *conn)
{
    if (conn->courses_busy)
        return;
    if (c->cq_n == c->cq_cap) {
        size_t cap = c->cq_cap ? c->cq_cap * 2 : 64;
        char **q = malloc(cap * sizeof(*q));
        if (!q)
            return;
        for (size_t i = 0; i < c->cq_n; i++)
            q[i] = c->course_queue[(c->cq_head + i) % c->cq_cap];
        free(c->course_queue);
        c->course_queue = q;
        c->cq_cap = cap;
        c->cq_head = 0;
    }
    char *id = strdup(coord_conn_id(c, conn));
    if (!id)
        return;
    c->course_queue[(c->cq_head + c->cq_n++) % c->cq_cap] = id;
    conn->courses_busy = 1;
}

static const ls_strategy_t *strat_of(const coord_t *c, const coord_conn_t *conn)
{
    return conn->strategy >= 0 && (size_t)conn->strategy < c->n_strats ? &c->strats[conn->strategy].strategy : NULL;
}

static void courses_fill(coord_t *c)
{
    while (c->cq_n && c->course_fetches < (size_t)c->cfg->discovery_concurrency) {
        char *id = c->course_queue[c->cq_head];
        c->cq_head = (c->cq_head + 1) % c->cq_cap;
        c->cq_n--;
        coord_conn_t *conn = ls_strmap_get(c->conns, id);
        const ls_strategy_t *s = conn ? strat_of(c, conn) : NULL;
        if (conn && req_start(c, REQ_COURSES, conn->ws, id, 0, s ? s->course_paged : 1) == LS_OK) {
            conn->course_mark ^= 1;
            c->course_fetches++;
        } else if (conn) {
            conn->courses_busy = 0;
        }
        free(id);
    }
    ls_http_multi_kick(c->http);
}

typedef struct course_sink {
    coord_t *c;
    coord_conn_t *conn;
    int64_t now;
    int oom;
} course_sink_t;

static void add_course(void *ud, const char *id)
{
    course_sink_t *k = ud;
    coord_t *c = k->c;
    coord_conn_t *conn = k->conn;
    char key[LS_KEY_MAX];
    int added;
    ls_scope_key(coord_conn_id(c, conn), id, key, sizeof(key));
    coord_scope_t *s = ls_strmap_put(c->scopes, key, &added);
    added |= s && !s->conn; /* new, or restored and not owned yet */
    if (s && added && conn->n_courses == conn->cap_courses) {
        uint32_t cap = conn->cap_courses ? conn->cap_courses * 2 : 8;
        coord_scope_t **a = realloc(conn->courses, cap * sizeof(*a));
        if (!a) {
            ls_strmap_del(c->scopes, key);
            s = NULL;
        } else {
            conn->courses = a;
            conn->cap_courses = cap;
        }
    }
    if (!s) {
        k->oom = 1;
        return;
    }
    if (added) {
        coord_scope_attach(c, s, conn, key, k->now);
        conn->courses[conn->n_courses++] = s;
    }
    s->mark = conn->course_mark;
}

/* A complete list: drop the course scopes it did not name. */
static void courses_done(coord_t *c, coord_conn_t *conn, int64_t now)
{
    uint32_t was = conn->n_courses, n = 0;
    for (uint32_t k = 0; k < conn->n_courses; k++) {
        if (conn->courses[k]->mark == conn->course_mark)
            conn->courses[n++] = conn->courses[k];
        else
            coord_scope_drop(c, conn->courses[k]);
    }
    conn->n_courses = n;
    conn->courses_busy = 0;
    conn->courses_failed = 0;
    conn->next_courses_ms = now + (int64_t)c->cfg->discovery_interval_s * 1000;
    if (n != was)
        ls_info("connection \"%s\": %u course scopes (was %u)", coord_conn_id(c, conn), n, was);
}

static void on_courses_page(coord_t *c, const req_t *r, int rc, const ls_http_resp_t *resp, const char *err,
                            int64_t now)
{
    char perr[512];
    coord_conn_t *conn = ls_strmap_get(c->conns, r->conn);
    const ls_strategy_t *s = conn ? strat_of(c, conn) : NULL;
    int paged = s ? s->course_paged : 1;
    c->course_fetches--;
    if (!conn)
        return;
    course_sink_t k = {c, conn, now, 0};
    long seen = rc == LS_OK ? each_course(resp->body, resp->len, add_course, &k, perr, sizeof(perr)) : rc;
    if (seen < 0 || k.oom) {
        ls_warn("course list of \"%s\" not refreshed: %s", r->conn,
                rc != LS_OK ? err : k.oom ? "out of memory" : perr);
        conn->courses_busy = 0;
        conn->courses_failed = 1;
        conn->next_courses_ms = now + DISCOVERY_RETRY_MS;
        return;
    }
    if (paged && seen >= PAGE && r->offset < 10000000 && req_start(c, REQ_COURSES, r->ws, r->conn, r->offset + PAGE, 1) == LS_OK)
        c->course_fetches++;
    else
        courses_done(c, conn, now);
}

/* ---- the transfers ---- */

static void on_done(coord_t *c, const req_t *r, int rc, const ls_http_resp_t *resp, const char *err, int64_t now)
{
    switch (r->kind) {
    case REQ_PROFILES:
        c->disco.profiles_pending = 0;
        coord_set_profiles(c, rc, resp, err);
        break;
    case REQ_CONNS:
        on_conns_page(c, rc, resp, err, now);
        break;
    case REQ_COURSES:
        on_courses_page(c, r, rc, resp, err, now);
        break;
    case REQ_WEBHOOK:
        coord_subscribe_done(c, r->ws, r->op, r->offset, rc, resp, err, now);
        break;
    }
}

void coord_http_turn(coord_t *c, int wait_ms)
{
    void *ud;
    ls_http_xfer_t *x;
    courses_fill(c);
    if (ls_http_multi_running(c->http))
        ls_http_multi_run(c->http, wait_ms, -1);
    while ((x = ls_http_multi_next_done(c->http, &ud))) {
        char err[512] = "";
        ls_http_resp_t resp;
        int rc = ls_http_xfer_result(x, &resp, err, sizeof(err));
        on_done(c, ud, rc, &resp, err, ls_time_now_ms());
        ls_http_xfer_release(c->http, x);
        free(ud);
    }
    maybe_disco_done(c, ls_time_now_ms());
    courses_fill(c);
}
