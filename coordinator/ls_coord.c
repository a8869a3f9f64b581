/*
 * ls_coord.c - schedule and enqueue poll jobs.
 *
 * Connections come from the config (static list) or from Unified's
 * GET /unified/connection?categories=lms, refreshed every
 * discovery_interval. With every discovery the coordinator also reads
 * GET /unified/integration?categories=lms and chooses each connection's
 * strategy from its capability profile (ls_profile.h; shipped table and
 * config overrides as fallbacks). A scope - a whole connection, or one
 * course of a connection that is fanned out - is due at its own
 * deterministic slot of the interval (hash of "conn" or "conn/course"). A
 * job is never enqueued for a scope whose previous job has not reported on
 * lmsync.sync.status (skip overlap), unless that job is older than
 * job_timeout (lost with a dead worker). A scope whose jobs fail is backed
 * off exponentially (interval x 2^failures, at most one hour). Incremental
 * scopes get a full reconciliation scan every full_every jobs and at least
 * every full_max_age_s; the first job after a coordinator start is full.
 */
#include "ls_coord.h"
#include "ls_coord_metrics.h"
#include "ls_daemon.h"
#include "ls_err.h"
#include "ls_hash.h"
#include "ls_http.h"
#include "ls_job.h"
#include "ls_kafka.h"
#include "ls_log.h"
#include "ls_profile.h"
#include "ls_time.h"

#include <curl/curl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONNS 100000
#define MAX_BACKOFF_MS (3600 * 1000LL)

/* A strategy shared by connections of one type (or one connection, with its own overrides). */
typedef struct strat_entry {
    char key[LS_STR_MAX + 2];    /* integration type, or "#" + connection id */
    ls_profile_t profile;
    ls_strategy_t strategy;
} strat_entry_t;

typedef struct coord {
    const ls_config_t *cfg;
    ls_producer_t *producer;
    ls_consumer_t *status;
    ls_http_t *http;
    ls_coord_conn_t *conns;
    size_t n;
    char topic_jobs[128], topic_status[128];
    int64_t next_discovery_ms;
    uint64_t enqueued, skipped;
    ls_profile_t *runtime;       /* GET /unified/integration, n_runtime entries */
    size_t n_runtime;
    char runtime_why[256];       /* why there is no usable runtime answer ("" = there is) */
    strat_entry_t *strats;
    size_t n_strats;
} coord_t;

int64_t ls_coord_first_due(const char *id, int64_t interval_ms, int64_t now_ms)
{
    int64_t off = (int64_t)(ls_hash64(id, strlen(id), LS_HASH_SEED) % (uint64_t)interval_ms);
    int64_t t = now_ms - (now_ms % interval_ms) + off;
    return t < now_ms ? t + interval_ms : t;
}

static int copy_field(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        return LS_EINVAL;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return LS_OK;
}

int ls_coord_parse_static(const char *spec, ls_coord_conn_t *out, size_t cap, char *err, size_t errsz)
{
    size_t n = 0;
    for (const char *p = spec; *p;) {
        size_t len = strcspn(p, ",");
        const char *c1 = memchr(p, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - p)) : NULL;
        size_t idl = c1 ? (size_t)(c1 - p) : len;
        if (n >= cap || idl == 0) {
            snprintf(err, errsz, "setting 'coordinator.connections': %s", n >= cap ? "too many connections" : "empty connection id");
            return LS_EINVAL;
        }
        ls_coord_conn_t *c = &out[n];
        memset(c, 0, sizeof(*c));
        int rc = copy_field(c->id, sizeof(c->id), p, idl);
        if (c1 && rc == LS_OK)
            rc = copy_field(c->integration_type, sizeof(c->integration_type), c1 + 1,
                            (size_t)((c2 ? c2 : p + len) - (c1 + 1)));
        if (c2 && rc == LS_OK)
            rc = copy_field(c->external_xref, sizeof(c->external_xref), c2 + 1, (size_t)(p + len - (c2 + 1)));
        if (rc != LS_OK) {
            snprintf(err, errsz, "setting 'coordinator.connections': entry %zu is too long", n + 1);
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
    json_decref(arr);
    return NULL;
}

/* The element's "id" when it is a usable id (non-empty string of at most LS_STR_MAX bytes, no NUL). */
static json_t *usable_id(json_t *o)
{
    json_t *id = json_object_get(o, "id");
    if (!json_is_string(id) || json_string_length(id) == 0 || json_string_length(id) > LS_STR_MAX ||
        strlen(json_string_value(id)) != json_string_length(id))
        return NULL;
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
        if (!usable_id(o)) {
            ls_warn("connection list entry %zu skipped: no usable 'id'", i);
            continue;
        }
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

/* Fetch every page of the connection list into a fresh array. */
static int discover(coord_t *c, ls_coord_conn_t **found, size_t *n_found)
{
    char url[1024], err[512];
    size_t cap = 256, n = 0, seen = 0;
    ls_coord_conn_t *list = malloc(cap * sizeof(*list));
    for (long offset = 0; list; offset += 100) {
        ls_http_resp_t resp;
        snprintf(url, sizeof(url), "%s/unified/connection?categories=lms&limit=100&offset=%ld",
                 c->cfg->unified_base_url, offset);
        if (ls_http_get(c->http, url, &resp, err, sizeof(err)) != LS_OK) {
            ls_error("connection discovery failed: %s", err);
            break;
        }
        if (n + 100 > cap) {
            ls_coord_conn_t *nl = realloc(list, (cap *= 2) * sizeof(*list));
            if (!nl)
                break;
            list = nl;
        }
        int got = ls_coord_parse_connections(resp.body, resp.len, list + n, cap - n, &seen, err, sizeof(err));
        if (got < 0) {
            ls_error("connection discovery failed: %s", err);
            break;
        }
        n += (size_t)got;
        if (seen < 100) {
            *found = list;
            *n_found = n;
            return LS_OK;
        }
    }
    free(list);
    return LS_ETRANSIENT;
}

static ls_coord_conn_t *find_conn(coord_t *c, const char *id)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->conns[i].id, id) == 0)
            return &c->conns[i];
    return NULL;
}

static void sched_init(ls_coord_sched_t *s, const char *key, int64_t ival, int64_t now)
{
    memset(s, 0, sizeof(*s));
    s->records = -1;
    s->last_ok_ms = now;
    s->next_due_ms = ls_coord_first_due(key, ival, now);
}

static void conn_release(ls_coord_conn_t *conn)
{
    free(conn->courses);
    conn->courses = NULL;
    conn->n_courses = 0;
}

/* ---- profiles and strategies ---- */

/* GET /unified/integration?categories=lms; on failure keep the last good answer. */
static void fetch_profiles(coord_t *c)
{
    char url[1024], err[512];
    ls_http_resp_t resp;
    ls_profile_t *list;
    size_t n;
    snprintf(url, sizeof(url), "%s/unified/integration?categories=lms", c->cfg->unified_base_url);
    if (ls_http_get(c->http, url, &resp, err, sizeof(err)) != LS_OK ||
        ls_profile_parse_integrations(resp.body, resp.len, &list, &n, err, sizeof(err)) != LS_OK) {
        if (!c->runtime)
            snprintf(c->runtime_why, sizeof(c->runtime_why), "GET /unified/integration failed: %.200s", err);
        ls_warn("integration profiles not refreshed: %s", err);
        return;
    }
    free(c->runtime);
    c->runtime = list;
    c->n_runtime = n;
    c->runtime_why[0] = '\0';
    ls_info("integration profiles: %zu from GET /unified/integration", n);
}

/* Has the override spec an entry for this connection id (not only for its type)? */
static int has_conn_override(const char *spec, const char *conn)
{
    size_t n = strlen(conn);
    for (const char *p = spec; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len > n && strncmp(p, conn, n) == 0 && p[n] == '.')
            return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

/* Resolve profile + overrides + strategy for one connection (into *e). */
static void resolve(const ls_config_t *cfg, const ls_profile_t *rt, size_t nrt, const char *why,
                    const ls_coord_conn_t *conn, long records, strat_entry_t *e)
{
    char err[256];
    ls_strategy_cfg_t sc = ls_config_strategy(cfg);
    ls_profile_resolve(conn->integration_type, rt, nrt, why, &e->profile);
    if (ls_profile_apply_overrides(&e->profile, conn->id, cfg->profile_overrides, err, sizeof(err)) != LS_OK)
        ls_warn("%s", err); /* validated at start; not reached */
    ls_profile_strategy(&e->profile, &sc, records, &e->strategy);
}

/* The strategy cache index for conn (entries are shared per type unless the connection has its own overrides). */
static int strategy_for(coord_t *c, const ls_coord_conn_t *conn)
{
    char key[LS_STR_MAX + 2];
    if (has_conn_override(c->cfg->profile_overrides, conn->id))
        snprintf(key, sizeof(key), "#%s", conn->id);
    else
        snprintf(key, sizeof(key), "%s", conn->integration_type);
    for (size_t i = 0; i < c->n_strats; i++)
        if (strcmp(c->strats[i].key, key) == 0)
            return (int)i;
    strat_entry_t *ns = realloc(c->strats, (c->n_strats + 1) * sizeof(*ns));
    if (!ns)
        return -1;
    c->strats = ns;
    strat_entry_t *e = &c->strats[c->n_strats];
    memset(e, 0, sizeof(*e));
    snprintf(e->key, sizeof(e->key), "%s", key);
    resolve(c->cfg, c->runtime, c->n_runtime, c->runtime_why, conn, -1, e);
    const ls_strategy_t *s = &e->strategy;
    ls_info("strategy for \"%s\" (profile: %s%s%s): %s, %s, %s", key[0] ? key : "(no type)",
            ls_profile_source_name(e->profile.source), e->profile.overrides[0] ? ", overrides " : "",
            e->profile.overrides, !s->poll ? "not polled" : s->incremental ? "incremental" : "full scans",
            s->fanout ? "per course" : "whole connection", s->get ? "removals confirmed by get" : "two-scan removals");
    return (int)c->n_strats++;
}

/* Drop the cache (new profiles) and choose every connection's strategy again. */
static void rechoose(coord_t *c)
{
    free(c->strats);
    c->strats = NULL;
    c->n_strats = 0;
    for (size_t i = 0; i < c->n; i++)
        c->conns[i].strategy = strategy_for(c, &c->conns[i]);
}

static const ls_strategy_t *conn_strategy(const coord_t *c, const ls_coord_conn_t *conn)
{
    return conn->strategy >= 0 && (size_t)conn->strategy < c->n_strats ? &c->strats[conn->strategy].strategy : NULL;
}

/* Per course: where the strategy says so, or where the last full scan was larger than fanout_records. */
static int wants_fanout(const coord_t *c, const ls_coord_conn_t *conn, const ls_strategy_t *s)
{
    const ls_obj_profile_t *a = &c->strats[conn->strategy].profile.obj[LS_OBJ_ACTIVITY];
    return s->fanout || (c->cfg->fanout_records > 0 && conn->s.records > c->cfg->fanout_records &&
                         (a->opt[LS_OPT_COURSE_ID] == LS_CAP_YES || a->opt[LS_OPT_COURSE_ID] == LS_CAP_REQUIRED));
}

/* ---- courses (fan-out) ---- */

int ls_coord_parse_courses(const char *body, size_t len, char (*ids)[LS_STR_MAX + 1], size_t cap,
                           size_t *n_seen, char *err, size_t errsz)
{
    json_t *arr = load_list(body, len, "course", err, errsz);
    if (!arr)
        return LS_EINVAL;
    size_t i, n = 0;
    json_t *o;
    *n_seen = json_array_size(arr);
    json_array_foreach(arr, i, o) {
        json_t *id = usable_id(o);
        if (!id) {
            ls_warn("course list entry %zu skipped: no usable 'id'", i);
            continue;
        }
        if (n < cap)
            memcpy(ids[n++], json_string_value(id), json_string_length(id) + 1);
    }
    json_decref(arr);
    return (int)n;
}

/* Every course id of conn (paged where the course list pages). malloc'd into *ids. */
static int fetch_courses(coord_t *c, const ls_coord_conn_t *conn, int paged, char (**ids)[LS_STR_MAX + 1], size_t *n)
{
    char url[2048], esc[3 * LS_STR_MAX + 1], err[512];
    size_t cap = 128, seen;
    *n = 0;
    *ids = malloc(cap * sizeof(**ids));
    if (!*ids || ls_http_escape(conn->id, esc, sizeof(esc)) != LS_OK)
        return LS_ENOMEM;
    for (long offset = 0;; offset += 100) {
        ls_http_resp_t resp;
        if (paged)
            snprintf(url, sizeof(url), "%s/lms/%s/course?limit=100&offset=%ld&fields=id", c->cfg->unified_base_url, esc, offset);
        else
            snprintf(url, sizeof(url), "%s/lms/%s/course?fields=id", c->cfg->unified_base_url, esc);
        if (*n + 100 > cap) {
            void *nl = realloc(*ids, (cap *= 2) * sizeof(**ids));
            if (!nl)
                break;
            *ids = nl;
        }
        int got = ls_http_get(c->http, url, &resp, err, sizeof(err)) == LS_OK
                      ? ls_coord_parse_courses(resp.body, resp.len, *ids + *n, cap - *n, &seen, err, sizeof(err))
                      : LS_ETRANSIENT;
        if (got < 0) {
            ls_warn("course list of \"%s\" not refreshed: %s", conn->id, err);
            break;
        }
        *n += (size_t)got;
        if (!paged || seen < 100 || offset > 10000000)
            return LS_OK;
    }
    free(*ids);
    *ids = NULL;
    return LS_ETRANSIENT;
}

/* Replace conn's course scopes, keeping the schedule of courses that stay. */
static void refresh_courses(coord_t *c, ls_coord_conn_t *conn, const ls_strategy_t *s, int64_t now)
{
    char (*ids)[LS_STR_MAX + 1];
    char key[2 * LS_STR_MAX + 4];
    size_t n;
    int64_t ival = (int64_t)c->cfg->poll_interval_s * 1000;
    conn->next_courses_ms = now + (int64_t)c->cfg->discovery_interval_s * 1000;
    if (fetch_courses(c, conn, s->course_paged, &ids, &n) != LS_OK) {
        conn->next_courses_ms = now + 10000;
        return;
    }
    ls_coord_course_t *fresh = calloc(n ? n : 1, sizeof(*fresh));
    if (!fresh) {
        free(ids);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        ls_coord_course_t *old = NULL;
        for (size_t k = 0; k < conn->n_courses && !old; k++)
            if (strcmp(conn->courses[k].id, ids[i]) == 0)
                old = &conn->courses[k];
        memcpy(fresh[i].id, ids[i], sizeof(fresh[i].id));
        if (old) {
            fresh[i].s = old->s;
        } else {
            ls_scope_key(conn->id, ids[i], key, sizeof(key));
            sched_init(&fresh[i].s, key, ival, now);
        }
    }
    if (n != conn->n_courses)
        ls_info("connection \"%s\": %zu course scopes (was %zu)", conn->id, n, conn->n_courses);
    free(ids);
    free(conn->courses);
    conn->courses = fresh;
    conn->n_courses = n;
}

/* Replace the connection set, keeping the schedule of connections that stay. */
static void merge_connections(coord_t *c, ls_coord_conn_t *fresh, size_t n, int64_t now)
{
    int64_t ival = (int64_t)c->cfg->poll_interval_s * 1000;
    for (size_t i = 0; i < n; i++) {
        ls_coord_conn_t *old = find_conn(c, fresh[i].id);
        fresh[i].strategy = -1;
        if (old) {
            fresh[i].s = old->s;
            fresh[i].courses = old->courses; /* moved */
            fresh[i].n_courses = old->n_courses;
            fresh[i].next_courses_ms = old->next_courses_ms;
            old->courses = NULL;
            old->n_courses = 0;
        } else {
            sched_init(&fresh[i].s, fresh[i].id, ival, now);
        }
    }
    if (n != c->n)
        ls_info("tracking %zu connections (was %zu)", n, c->n);
    for (size_t i = 0; i < c->n; i++)
        conn_release(&c->conns[i]);
    free(c->conns);
    c->conns = fresh;
    c->n = n;
    rechoose(c);
}

/* ---- jobs ---- */

/* The job's mode: full unless the scope is incremental and a full scan is not due. */
static ls_mode_t job_mode(const coord_t *c, const ls_strategy_t *s, const ls_coord_sched_t *sc, int64_t now)
{
    if (!s->incremental || sc->last_full_ms == 0 || sc->since_full + 1 >= c->cfg->full_every ||
        now - sc->last_full_ms >= (int64_t)c->cfg->full_max_age_s * 1000)
        return LS_MODE_FULL;
    return LS_MODE_INCREMENTAL;
}

static int enqueue(coord_t *c, ls_coord_conn_t *conn, ls_coord_course_t *course, const ls_strategy_t *s, int64_t now)
{
    ls_job_t job;
    char err[256], scope[2 * LS_STR_MAX + 2];
    ls_coord_sched_t *sc = course ? &course->s : &conn->s;
    memset(&job, 0, sizeof(job));
    ls_scope_key(conn->id, course ? course->id : NULL, scope, sizeof(scope));
    snprintf(job.job_id, sizeof(job.job_id), "%s@%lld", scope, (long long)sc->next_due_ms);
    memcpy(job.connection_id, conn->id, sizeof(job.connection_id));
    snprintf(job.integration_type, sizeof(job.integration_type), "%s", conn->integration_type);
    memcpy(job.external_xref, conn->external_xref, sizeof(job.external_xref));
    if (course)
        memcpy(job.course_id, course->id, sizeof(job.course_id));
    job.mode = job_mode(c, s, sc, now);
    job.scheduled_at = sc->next_due_ms;
    snprintf(job.fields, sizeof(job.fields), "%s", s->fields);
    snprintf(job.sort, sizeof(job.sort), "%s", s->sort);
    job.order_asc = s->order_asc;
    job.unpaged = !s->paged;
    job.get = s->get;
    job.gte = s->gte;
    char *v = ls_job_encode(&job);
    if (!v)
        return LS_ENOMEM;
    ls_batch_t b;
    ls_batch_init(&b);
    /* key = connection id for every scope: one partition holds the connection's state */
    int rc = ls_producer_send(c->producer, c->topic_jobs, -1, conn->id, strlen(conn->id), v, strlen(v), NULL, 0, &b, 0);
    free(v);
    if (rc == LS_OK)
        rc = ls_producer_wait(c->producer, &b, 10000, err, sizeof(err));
    if (rc != LS_OK) {
        ls_warn("job for \"%s\" not enqueued, will retry: %s", conn->id, rc == LS_OK ? "" : err);
        ls_metric_add(CM_ENQUEUE_ERRORS, 0, 0, 1);
        return rc;
    }
    ls_metric_add(CM_JOBS_ENQUEUED, (int)job.mode - 1, 0, 1);
    memcpy(sc->outstanding, job.job_id, sizeof(sc->outstanding));
    sc->outstanding_since_ms = now;
    c->enqueued++;
    ls_debug("enqueued job \"%s\" (%s)", job.job_id, ls_mode_name(job.mode));
    return LS_OK;
}

/* Next slot after a job: the normal one, or a backed-off one after failures. */
static int64_t next_slot(const coord_t *c, const char *key, const ls_coord_sched_t *sc, int64_t now)
{
    int64_t ival = (int64_t)c->cfg->poll_interval_s * 1000;
    int64_t delay = ival;
    for (int i = 0; i < sc->failures && delay < MAX_BACKOFF_MS; i++)
        delay *= 2;
    if (delay > MAX_BACKOFF_MS)
        delay = MAX_BACKOFF_MS;
    return ls_coord_first_due(key, ival, now + delay - ival + 1);
}

static void schedule_scope(coord_t *c, ls_coord_conn_t *conn, ls_coord_course_t *course, const ls_strategy_t *s,
                           int64_t now)
{
    char key[2 * LS_STR_MAX + 4];
    int64_t timeout = (int64_t)c->cfg->job_timeout_s * 1000;
    ls_coord_sched_t *sc = course ? &course->s : &conn->s;
    if (now < sc->next_due_ms)
        return;
    ls_scope_key(conn->id, course ? course->id : NULL, key, sizeof(key));
    if (sc->outstanding[0] && now - sc->outstanding_since_ms < timeout) {
        c->skipped++;
        ls_debug("skipping \"%s\": job \"%s\" still running", key, sc->outstanding);
    } else if (enqueue(c, conn, course, s, now) != LS_OK) {
        return; /* retried on the next pass */
    }
    sc->next_due_ms = next_slot(c, key, sc, now);
}

static void schedule_due(coord_t *c, int64_t now)
{
    for (size_t i = 0; i < c->n; i++) {
        ls_coord_conn_t *conn = &c->conns[i];
        const ls_strategy_t *s = conn_strategy(c, conn);
        if (!s || !s->poll)
            continue;
        int fan = wants_fanout(c, conn, s);
        if (fan && !conn->fanout)
            ls_info("connection \"%s\" is polled per course from now on: %s", conn->id,
                    s->fanout ? s->why[LS_WHY_FANOUT] : "its last full scan exceeded coordinator.fanout_records");
        conn->fanout = fan;
        if (!fan) {
            schedule_scope(c, conn, NULL, s, now);
            continue;
        }
        if (now >= conn->next_courses_ms)
            refresh_courses(c, conn, s, now);
        for (size_t k = 0; k < conn->n_courses; k++)
            schedule_scope(c, conn, &conn->courses[k], s, now);
    }
}

/* The schedule entry a status record's scope names; NULL when the
 * connection or course is not (or no longer) known. */
static ls_coord_sched_t *status_sched(coord_t *c, const ls_job_t *job)
{
    ls_coord_conn_t *conn = find_conn(c, job->connection_id);
    if (!conn || !job->course_id[0])
        return conn ? &conn->s : NULL;
    for (size_t k = 0; k < conn->n_courses; k++)
        if (strcmp(conn->courses[k].id, job->course_id) == 0)
            return &conn->courses[k].s;
    return NULL;
}

static void on_status(coord_t *c, const ls_kmsg_t *m, int64_t now)
{
    ls_job_t job;
    ls_status_t st;
    char err[256], key[2 * LS_STR_MAX + 2];
    if (ls_status_decode(m->value, m->len, &job, &st, err, sizeof(err)) != LS_OK) {
        ls_warn("status record at %s [%d] offset %lld not understood: %s", m->topic, m->partition,
                (long long)m->offset, err);
        return;
    }
    ls_coord_sched_t *sc = status_sched(c, &job);
    if (!sc || strcmp(sc->outstanding, job.job_id) != 0)
        return;
    sc->outstanding[0] = '\0';
    if (st.skipped) { /* a later run already covered it (stale or duplicate) */
        ls_metric_add(CM_JOBS_REPORTED, CM_OUTCOME_SKIPPED, 0, 1);
        return;
    }
    sc->failures = st.ok ? 0 : sc->failures + 1;
    ls_metric_add(CM_JOBS_REPORTED, st.ok ? CM_OUTCOME_OK : CM_OUTCOME_FAILED, 0, 1);
    if (st.ok)
        sc->last_ok_ms = now;
    if (st.ok && st.mode == LS_MODE_FULL) {
        sc->last_full_ms = now;
        sc->since_full = 0;
        sc->records = st.records > (uint64_t)LONG_MAX ? LONG_MAX : (long)st.records;
    } else if (st.ok) {
        sc->since_full++;
    } else {
        ls_job_scope(&job, key, sizeof(key));
        sc->next_due_ms = next_slot(c, key, sc, now);
        ls_warn("job \"%s\" failed (%d in a row); next attempt in %lld s", job.job_id, sc->failures,
                (long long)((sc->next_due_ms - now) / 1000));
    }
}

static int coord_open(coord_t *c)
{
    char err[512], group[160];
    ls_kafka_conf_t kc = ls_config_kafka(c->cfg);
    ls_config_topic(c->cfg, "poll.jobs", c->topic_jobs, sizeof(c->topic_jobs));
    ls_config_topic(c->cfg, "sync.status", c->topic_status, sizeof(c->topic_status));
    snprintf(group, sizeof(group), "%s-coordinator", c->cfg->topic_prefix);
    if (!(c->producer = ls_producer_new(&kc, 10000, err, sizeof(err))) ||
        !(c->http = ls_http_new(c->cfg->unified_token, c->cfg->http_timeout_s, err, sizeof(err))) ||
        !(c->status = ls_consumer_new(&kc, group, c->topic_status, err, sizeof(err)))) {
        ls_error("coordinator cannot start: %s", err);
        return LS_EINVAL;
    }
    if (!c->cfg->connections[0] && !c->cfg->unified_token[0]) {
        ls_error("coordinator cannot start: setting 'coordinator.connections' is empty, and discovery "
                 "needs an API token: set UNIFIED_API_TOKEN or 'unified.token_file'");
        return LS_EINVAL;
    }
    if (c->cfg->connections[0]) {
        ls_coord_conn_t *list = calloc(1024, sizeof(*list));
        int n = list ? ls_coord_parse_static(c->cfg->connections, list, 1024, err, sizeof(err)) : LS_ENOMEM;
        if (n < 0) {
            ls_error("%s", err);
            free(list);
            return LS_EINVAL;
        }
        fetch_profiles(c);
        c->next_discovery_ms = ls_time_now_ms() + (int64_t)c->cfg->discovery_interval_s * 1000;
        merge_connections(c, list, (size_t)n, ls_time_now_ms());
    }
    return LS_OK;
}

static void maybe_discover(coord_t *c, int64_t now)
{
    if (now < c->next_discovery_ms)
        return;
    if (c->cfg->connections[0]) { /* static list: only the profiles are refreshed */
        fetch_profiles(c);
        rechoose(c);
        c->next_discovery_ms = now + (int64_t)c->cfg->discovery_interval_s * 1000;
        return;
    }
    ls_coord_conn_t *fresh;
    size_t n;
    if (discover(c, &fresh, &n) == LS_OK) {
        fetch_profiles(c);
        merge_connections(c, fresh, n, now);
        c->next_discovery_ms = now + (int64_t)c->cfg->discovery_interval_s * 1000;
    } else {
        c->next_discovery_ms = now + 10000; /* retry soon; keep the known set */
        ls_metric_add(CM_DISCOVERY_ERRORS, 0, 0, 1);
    }
}

static void coord_close(coord_t *c)
{
    ls_consumer_destroy(c->status);
    ls_http_destroy(c->http);
    ls_producer_destroy(c->producer);
    for (size_t i = 0; i < c->n; i++)
        conn_release(&c->conns[i]);
    free(c->conns);
    free(c->runtime);
    free(c->strats);
}

/* One scope's share of the schedule gauges. */
static void gauge_scope(const ls_coord_sched_t *sc, int64_t now, int64_t ival, int64_t g[5])
{
    g[0]++;
    g[1] += now >= sc->next_due_ms && !sc->outstanding[0];
    g[2] += now - sc->next_due_ms > ival;
    g[3] += sc->failures > 0;
    if (now - sc->last_ok_ms > g[4])
        g[4] = now - sc->last_ok_ms;
}

/* The schedule gauges, once a second: a walk over every scope. */
static void update_gauges(coord_t *c, int64_t now)
{
    int64_t g[5] = {0}, ival = (int64_t)c->cfg->poll_interval_s * 1000;
    for (size_t i = 0; i < c->n; i++) {
        const ls_coord_conn_t *conn = &c->conns[i];
        if (!conn->fanout)
            gauge_scope(&conn->s, now, ival, g);
        for (size_t k = 0; conn->fanout && k < conn->n_courses; k++)
            gauge_scope(&conn->courses[k].s, now, ival, g);
    }
    ls_metric_set(CM_CONNECTIONS, 0, 0, (int64_t)c->n);
    ls_metric_set(CM_SCOPES, 0, 0, g[0]);
    ls_metric_set(CM_SCOPES_DUE, 0, 0, g[1]);
    ls_metric_set(CM_SCOPES_OVERDUE, 0, 0, g[2]);
    ls_metric_set(CM_SCOPES_FAILING, 0, 0, g[3]);
    ls_metric_set(CM_OLDEST_UNSYNCED, 0, 0, g[4] / 1000);
}

int ls_coord_run(const ls_config_t *cfg, volatile sig_atomic_t *stop)
{
    coord_t c;
    ls_ops_t *ops = NULL;
    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    if (ls_metrics_init(ls_coord_metrics, CM__COUNT, 1) != 0) {
        ls_error("coordinator cannot start: cannot map the metric region");
        return LS_ENOMEM;
    }
    if (ls_daemon_ops_start(cfg, 0, 1, &ops) != 0) {
        ls_metrics_free();
        return LS_EINVAL;
    }
    ls_metrics_heartbeat(ls_time_mono_ms(), LS_PROC_STARTING);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = coord_open(&c);
    if (rc == LS_OK)
        ls_info("coordinator ready: interval %d s, jobs to \"%s\"", cfg->poll_interval_s, c.topic_jobs);
    int64_t next_gauges = 0;
    while (rc == LS_OK && !*stop) {
        int64_t now = ls_time_now_ms();
        ls_metrics_heartbeat(ls_time_mono_ms(), ls_consumer_reachable(c.status) ? LS_PROC_READY : LS_PROC_NO_KAFKA);
        if (now >= next_gauges) {
            update_gauges(&c, now);
            next_gauges = now + 1000;
        }
        maybe_discover(&c, now);
        schedule_due(&c, now);
        ls_kmsg_t m;
        if (ls_consumer_poll(c.status, 200, &m) == LS_OK) {
            on_status(&c, &m, ls_time_now_ms());
            ls_kmsg_release(&m);
        }
    }
    if (rc == LS_OK)
        ls_info("coordinator stopping: enqueued=%llu skipped=%llu", (unsigned long long)c.enqueued,
                (unsigned long long)c.skipped);
    ls_metrics_heartbeat(ls_time_mono_ms(), LS_PROC_DRAINING);
    coord_close(&c);
    curl_global_cleanup();
    ls_ops_stop(ops);
    ls_metrics_free();
    return rc;
}

/* ---- --explain ---- */

/* The connection's integration type and xref: the static list, or GET /unified/connection/{id}. */
static int explain_conn(coord_t *c, const char *id, ls_coord_conn_t *out)
{
    char err[512], url[2048], esc[3 * LS_STR_MAX + 1];
    size_t seen;
    memset(out, 0, sizeof(*out));
    if (c->cfg->connections[0]) {
        ls_coord_conn_t *list = calloc(1024, sizeof(*list));
        int n = list ? ls_coord_parse_static(c->cfg->connections, list, 1024, err, sizeof(err)) : LS_ENOMEM;
        for (int i = 0; i < n; i++)
            if (strcmp(list[i].id, id) == 0)
                *out = list[i];
        free(list);
        if (!out->id[0])
            fprintf(stderr, "connection \"%s\" is not in 'coordinator.connections'\n", id);
        return out->id[0] ? LS_OK : LS_ENOTFOUND;
    }
    ls_http_resp_t resp;
    if (ls_http_escape(id, esc, sizeof(esc)) != LS_OK)
        return LS_EINVAL;
    snprintf(url, sizeof(url), "%s/unified/connection/%s", c->cfg->unified_base_url, esc);
    int rc = ls_http_get(c->http, url, &resp, err, sizeof(err));
    if (rc != LS_OK) {
        fprintf(stderr, "cannot look up connection \"%s\": %s\n", id, err);
        return rc;
    }
    /* one object: parse it as a one-element list */
    char *wrapped = malloc(resp.len + 3);
    if (!wrapped)
        return LS_ENOMEM;
    wrapped[0] = '[';
    memcpy(wrapped + 1, resp.body, resp.len);
    wrapped[resp.len + 1] = ']';
    int n = ls_coord_parse_connections(wrapped, resp.len + 2, out, 1, &seen, err, sizeof(err));
    free(wrapped);
    if (n != 1) {
        fprintf(stderr, "connection \"%s\": %s\n", id, n < 0 ? err : "not an active LMS connection");
        return LS_EINVAL;
    }
    return LS_OK;
}

int ls_coord_explain(const ls_config_t *cfg, const char *connection_id, FILE *out)
{
    coord_t c;
    char err[512];
    ls_coord_conn_t conn;
    strat_entry_t e;
    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = (c.http = ls_http_new(cfg->unified_token, cfg->http_timeout_s, err, sizeof(err))) ? LS_OK : LS_EINVAL;
    if (rc == LS_OK)
        rc = explain_conn(&c, connection_id, &conn);
    if (rc == LS_OK) {
        fetch_profiles(&c);
        resolve(cfg, c.runtime, c.n_runtime, c.runtime_why, &conn, -1, &e);
        ls_profile_explain(out, connection_id, &e.profile, &e.strategy);
        fprintf(out, "  %-10s first job is full; then %s\n", "schedule",
                e.strategy.incremental ? "incremental, with a full scan every coordinator.full_every jobs" : "full every interval");
        if (e.strategy.poll && e.strategy.fanout) {
            char (*ids)[LS_STR_MAX + 1];
            size_t n;
            if (fetch_courses(&c, &conn, e.strategy.course_paged, &ids, &n) == LS_OK) {
                fprintf(out, "  %-10s %zu course jobs, spread over the interval by hash(connection/course)\n", "courses", n);
                free(ids);
            }
        }
    }
    ls_http_destroy(c.http);
    free(c.runtime);
    curl_global_cleanup();
    return rc;
}
