/*
 * ls_coord.c - schedule and enqueue poll jobs.
 *
 * Connections come from the config (static list) or from Unified's
 * GET /unified/connection?categories=lms, refreshed every
 * discovery_interval (ls_coord_list.c). With every discovery the
 * coordinator also reads GET /unified/integration?categories=lms and
 * chooses each connection's strategy from its capability profile
 * (ls_profile.h; shipped table and config overrides as fallbacks). A scope -
 * a whole connection, or one course of a connection that is fanned out - is
 * due at its own deterministic slot of the interval (hash of "conn" or
 * "conn/course"). A job is never enqueued for a scope whose previous job has
 * not reported on lmsync.sync.status (skip overlap), unless that job is
 * older than job_timeout (lost with a dead worker). A scope whose jobs fail
 * is backed off exponentially (interval x 2^failures, at most one hour).
 * Incremental scopes get a full reconciliation scan every full_every jobs
 * and at least every full_max_age_s; a scope's first job is full. The
 * schedule is persisted on <prefix>.coordinator.schedule and read back at
 * start (ls_coord_persist.c), so a restart keeps every scope's state.
 *
 * Cost: scopes sit in a min-heap by due time and in a hash map by key, so a
 * loop turn touches only the scopes that are due, and a status record finds
 * its scope in O(1). Jobs are produced asynchronously: the loop never waits
 * for a delivery report (a scope is "sending" until its report is handled
 * here; a failed delivery is retried at the next turn), so a slow or absent
 * broker delays jobs but never the loop, and SIGTERM is honoured at once.
 */
#include "ls_coord_int.h"
#include "ls_coord_metrics.h"
#include "ls_daemon.h"
#include "ls_err.h"
#include "ls_hash.h"
#include "ls_job.h"
#include "ls_log.h"
#include "ls_time.h"

#include <curl/curl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BACKOFF_MS (3600 * 1000LL)
#define MAX_SENDS 20000          /* jobs produced and not yet reported by librdkafka */
#define RETRY_MS 1000            /* a job that could not be produced is tried again after this */
#define STATUS_DRAIN 2000        /* status records handled per loop turn at most */
#define CLOSE_FLUSH_MS 500
#define TURN_MIN_MS 50           /* shortest wait of a loop turn (bounds lateness from batching to 50 ms) */       /* how long a stopping coordinator waits for unsent jobs */

/* A job produced and not yet reported by librdkafka (its own batch: one delivery report). */
struct coord_send {
    ls_batch_t b;
    coord_scope_t *sc;  /* the scope that waits for it; NULL once the scope was dropped (no lookup per report) */
    int64_t due_ms;
    ls_mode_t mode;
    char key[];
};

int64_t ls_coord_first_due(const char *id, int64_t interval_ms, int64_t now_ms)
{
    int64_t off = (int64_t)(ls_hash64(id, strlen(id), LS_HASH_SEED) % (uint64_t)interval_ms);
    int64_t t = now_ms - (now_ms % interval_ms) + off;
    return t < now_ms ? t + interval_ms : t;
}

static int64_t interval_ms(const coord_t *c)
{
    return (int64_t)c->cfg->poll_interval_s * 1000;
}

void coord_scope_attach(coord_t *c, coord_scope_t *s, coord_conn_t *conn, const char *key, int64_t now)
{
    if (!s->conn && s->t.due_ms) { /* restored from the schedule topic */
        s->conn = conn;
        s->sending = 0;
        if (ls_coord_heap_set(&c->heap, &s->t, s->t.due_ms) != LS_OK)
            ls_error("scope \"%s\" not scheduled: out of memory", key);
        return;
    }
    memset(s, 0, sizeof(*s));
    s->conn = conn;
    s->records = -1;
    s->last_ok_ms = now;
    if (ls_coord_heap_set(&c->heap, &s->t, ls_coord_first_due(key, interval_ms(c), now)) != LS_OK)
        ls_error("scope \"%s\" not scheduled: out of memory", key);
}

/* Forget s in the sends still waiting for a delivery report (a dropped scope's entry is freed). */
static void sends_forget(coord_t *c, const coord_scope_t *s)
{
    for (size_t i = 0; i < c->n_sends; i++)
        if (c->sends[i]->sc == s)
            c->sends[i]->sc = NULL;
}

void coord_scope_drop(coord_t *c, coord_scope_t *s)
{
    if (s->reports)
        sends_forget(c, s);
    coord_schedule_tombstone(c, coord_scope_key(c, s));
    coord_ready_unlink(s);
    ls_coord_heap_remove(&c->heap, &s->t);
    ls_strmap_del(c->scopes, coord_scope_key(c, s));
}

static int is_course(const coord_scope_t *s)
{
    return s != s->conn->scope;
}

/* ---- profiles and strategies ---- */

void coord_set_profiles(coord_t *c, int rc, const ls_http_resp_t *resp, const char *err)
{
    char perr[512];
    ls_profile_t *list;
    size_t n;
    if (rc == LS_OK && ls_profile_parse_integrations(resp->body, resp->len, &list, &n, perr, sizeof(perr)) != LS_OK)
        rc = LS_EINVAL;
    else if (rc == LS_OK)
        perr[0] = '\0';
    else
        snprintf(perr, sizeof(perr), "%s", err);
    if (rc != LS_OK) {
        if (!c->runtime)
            snprintf(c->runtime_why, sizeof(c->runtime_why), "GET /unified/integration failed: %.200s", perr);
        ls_warn("integration profiles not refreshed: %s", perr);
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
static void resolve(const ls_config_t *cfg, const ls_profile_t *rt, size_t nrt, const char *why, const char *id,
                    const char *type, long records, strat_entry_t *e)
{
    char err[256];
    ls_strategy_cfg_t sc = ls_config_strategy(cfg);
    ls_profile_resolve(type, rt, nrt, why, &e->profile);
    if (ls_profile_apply_overrides(&e->profile, id, cfg->profile_overrides, err, sizeof(err)) != LS_OK)
        ls_warn("%s", err); /* validated at start; not reached */
    ls_profile_strategy(&e->profile, &sc, records, &e->strategy);
}

/* The strategy cache index for conn (entries are shared per type unless the connection has its own overrides). */
static int strategy_for(coord_t *c, const coord_conn_t *conn)
{
    char key[LS_STR_MAX + 2];
    const char *id = coord_conn_raw_id(c, conn);
    if (has_conn_override(c->cfg->profile_overrides, id))
        snprintf(key, sizeof(key), "#%s", id);
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
    resolve(c->cfg, c->runtime, c->n_runtime, c->runtime_why, id, conn->integration_type, -1, e);
    const ls_strategy_t *s = &e->strategy;
    ls_info("strategy for \"%s\" (profile: %s%s%s): %s, %s, %s", key[0] ? key : "(no type)",
            ls_profile_source_name(e->profile.source), e->profile.overrides[0] ? ", overrides " : "",
            e->profile.overrides, !s->poll ? "not polled" : s->incremental ? "incremental" : "full scans",
            s->fanout ? "per course" : "whole connection", s->get ? "removals confirmed by get" : "two-scan removals");
    return (int)c->n_strats++;
}

static int forget_strategy(const char *name, void *value, void *ud)
{
    (void)name;
    (void)ud;
    ((coord_conn_t *)value)->strategy = -1;
    return 0;
}

void coord_rechoose(coord_t *c)
{
    free(c->strats);
    c->strats = NULL;
    c->n_strats = 0;
    ls_strmap_sweep(c->conns, forget_strategy, NULL);
}

static const ls_strategy_t *conn_strategy(coord_t *c, coord_conn_t *conn)
{
    if (conn->strategy < 0)
        conn->strategy = strategy_for(c, conn);
    return conn->strategy >= 0 ? &c->strats[conn->strategy].strategy : NULL;
}

const ls_profile_t *coord_conn_profile(coord_t *c, coord_conn_t *conn)
{
    return conn_strategy(c, conn) ? &c->strats[conn->strategy].profile : NULL;
}

/* Per course: where the strategy says so, or where the last full scan was larger than fanout_records. */
static int wants_fanout(const coord_t *c, const coord_conn_t *conn, const ls_strategy_t *s)
{
    const ls_obj_profile_t *a = &c->strats[conn->strategy].profile.obj[LS_OBJ_ACTIVITY];
    return s->fanout || (c->cfg->fanout_records > 0 && conn->scope->records > c->cfg->fanout_records &&
                         (a->opt[LS_OPT_COURSE_ID] == LS_CAP_YES || a->opt[LS_OPT_COURSE_ID] == LS_CAP_REQUIRED));
}

/* ---- jobs ---- */

/* The job's mode: full unless the scope is incremental and a full scan is not due. */
static ls_mode_t job_mode(const coord_t *c, const ls_strategy_t *s, const coord_scope_t *sc, int64_t now)
{
    if (!s->incremental || sc->last_full_ms == 0 || sc->since_full + 1 >= c->cfg->full_every ||
        now - sc->last_full_ms >= (int64_t)c->cfg->full_max_age_s * 1000)
        return LS_MODE_FULL;
    return LS_MODE_INCREMENTAL;
}

static void job_fill(const coord_t *c, const coord_scope_t *sc, const ls_strategy_t *s, int64_t now, ls_job_t *job)
{
    const coord_conn_t *conn = sc->conn;
    const char *key = coord_scope_key(c, sc), *qid = coord_conn_id(c, conn);
    memset(job, 0, sizeof(*job));
    snprintf(job->job_id, sizeof(job->job_id), "%s@%lld", key, (long long)sc->t.due_ms);
    snprintf(job->connection_id, sizeof(job->connection_id), "%s", coord_conn_raw_id(c, conn));
    snprintf(job->workspace, sizeof(job->workspace), "%s", c->cfg->workspaces[conn->ws].name);
    snprintf(job->integration_type, sizeof(job->integration_type), "%s", conn->integration_type);
    snprintf(job->external_xref, sizeof(job->external_xref), "%s", conn->external_xref);
    snprintf(job->tenant, sizeof(job->tenant), "%s", coord_tenant_of(c, conn));
    if (is_course(sc))
        snprintf(job->course_id, sizeof(job->course_id), "%s", key + strlen(qid) + 1);
    job->mode = job_mode(c, s, sc, now);
    job->scheduled_at = sc->t.due_ms;
    snprintf(job->fields, sizeof(job->fields), "%s", s->fields);
    snprintf(job->sort, sizeof(job->sort), "%s", s->sort);
    job->order_asc = s->order_asc;
    job->unpaged = !s->paged;
    job->get = s->get;
    job->gte = s->gte;
    job->leader_epoch = c->cfg->leader_election ? c->epoch : 0;
}

/* Produce sc's job without waiting for its delivery report (handled by sends_turn). */
static int enqueue(coord_t *c, coord_scope_t *sc, const ls_strategy_t *s, int64_t now)
{
    ls_job_t job;
    const char *key = coord_scope_key(c, sc), *id = coord_conn_id(c, sc->conn);
    size_t klen = strlen(key);
    job_fill(c, sc, s, now, &job);
    char *v = ls_job_encode(&job);
    coord_send_t *snd = v ? malloc(sizeof(*snd) + klen + 1) : NULL;
    if (!snd) {
        free(v);
        return LS_ENOMEM;
    }
    ls_batch_init(&snd->b);
    snd->due_ms = sc->t.due_ms;
    snd->mode = job.mode;
    memcpy(snd->key, key, klen + 1);
    /* key = the (qualified) connection id for every scope: one partition holds the connection's state */
    int rc = ls_producer_send(c->producer, c->topic_jobs, -1, id, strlen(id), v, strlen(v), NULL, 0, &snd->b, LS_SEND_NOW);
    free(v);
    if (rc != LS_OK) {
        ls_metric_add(CM_ENQUEUE_ERRORS, 0, 0, 1);
        free(snd);
        return rc;
    }
    c->sends[c->n_sends++] = snd;
    snd->sc = sc;
    sc->reports++;
    sc->job_due_ms = sc->t.due_ms;
    sc->job_since_ms = now;
    sc->sending = 1;
    ls_metric_observe(CM_LATENESS, 0, 0, (double)(now - sc->t.due_ms) / 1000.0);
    ls_debug("enqueued job \"%s\" (%s)", job.job_id, ls_mode_name(job.mode));
    return LS_OK;
}

/* A delivery report: the job is outstanding now, or (failed) its scope is due again at once. */
static void send_done(coord_t *c, coord_send_t *snd, int64_t now)
{
    coord_scope_t *sc = snd->sc; /* NULL: dropped, or a send of an earlier term */
    if (sc)
        sc->reports--;
    int ok = snd->b.failed == 0;
    if (ok) {
        c->enqueued++;
        ls_metric_add(CM_JOBS_ENQUEUED, (int)snd->mode - 1, 0, 1);
    } else {
        ls_metric_add(CM_ENQUEUE_ERRORS, 0, 0, 1);
        if (c->undelivered++ % 1000 == 0)
            ls_warn("job for \"%s\" not enqueued, will retry (%llu so far): %s", snd->key,
                    (unsigned long long)c->undelivered, snd->b.err);
    }
    if (!sc || !sc->conn || sc->job_due_ms != snd->due_ms || !sc->sending)
        return; /* scope gone (or not ours any more), or its status already arrived */
    sc->sending = 0;
    if (!ok) {
        sc->job_due_ms = 0;
        ls_coord_heap_set(&c->heap, &sc->t, now);
    }
    coord_schedule_write(c, sc); /* only acknowledged jobs are outstanding after a restart */
}

/* Handle the delivery reports librdkafka has ready. */
static void sends_turn(coord_t *c, int64_t now)
{
    size_t n = 0;
    if (!c->n_sends)
        return;
    ls_producer_poll(c->producer);
    for (size_t i = 0; i < c->n_sends; i++) {
        coord_send_t *snd = c->sends[i];
        if (snd->b.pending > 0) {
            c->sends[n++] = snd;
            continue;
        }
        send_done(c, snd, now);
        free(snd);
    }
    c->n_sends = n;
}

int64_t coord_scope_interval(const coord_t *c, const coord_scope_t *sc)
{
    if (!sc->conn || sc->conn->wh_healthy < COORD_SUB_EVENTS)
        return interval_ms(c);
    int r = c->cfg->webhook_reconcile_interval_s; /* a subscription delivers changes: polling only reconciles */
    return r > 0 ? (int64_t)r * 1000 : 4 * interval_ms(c);
}

/* A scope in the heap whose slot lies beyond its normal one moves to the normal one. */
static void scope_pull_in(coord_t *c, coord_scope_t *sc, int64_t now)
{
    int64_t due = ls_coord_first_due(coord_scope_key(c, sc), interval_ms(c), now);
    if (sc->t.pos && !sc->failures && sc->t.due_ms > due)
        ls_coord_heap_set(&c->heap, &sc->t, due);
}

void coord_conn_uncovered(coord_t *c, coord_conn_t *conn, int64_t now)
{
    scope_pull_in(c, conn->scope, now);
    for (uint32_t k = 0; k < conn->n_courses; k++)
        scope_pull_in(c, conn->courses[k], now);
}

/*
 * Next slot after a job: the normal one, or a backed-off one after failures.
 * A fixed interval (and a covered connection's reconcile interval) keeps the
 * scope's hash slot; an adaptive one counts from now.
 */
static int64_t next_slot(coord_t *c, const char *key, coord_scope_t *sc, int64_t now)
{
    int64_t ival = coord_interval_ms(c, sc);
    int64_t delay = ival;
    for (int i = 0; i < sc->failures && delay < MAX_BACKOFF_MS; i++)
        delay *= 2;
    if (delay > MAX_BACKOFF_MS)
        delay = MAX_BACKOFF_MS;
    if (c->cfg->polling_adaptive && sc->why != LS_IVAL_WEBHOOK)
        return now + delay;
    return ls_coord_first_due(key, ival, now + delay - ival + 1);
}

static void reschedule(coord_t *c, coord_scope_t *sc, int64_t now)
{
    ls_coord_heap_set(&c->heap, &sc->t, next_slot(c, coord_scope_key(c, sc), sc, now));
}

/* A whole-connection scope came due: enqueue, or (fanned out) only refresh the course list when due. @return 1 to enqueue. */
static int conn_due(coord_t *c, coord_conn_t *conn, const ls_strategy_t *s, int64_t now)
{
    int fan = wants_fanout(c, conn, s);
    if (fan && !conn->fanout)
        ls_info("connection \"%s\" is polled per course from now on: %s", coord_conn_id(c, conn),
                s->fanout ? s->why[LS_WHY_FANOUT] : "its last full scan exceeded coordinator.fanout_records");
    conn->fanout = (uint8_t)fan;
    if (fan && now >= conn->next_courses_ms)
        coord_courses_request(c, conn);
    return !fan;
}

/* One due scope. @return 0, or LS_ETRANSIENT when its job could not be produced (tried again soon). */
static int scope_due(coord_t *c, coord_scope_t *sc, int64_t now)
{
    coord_conn_t *conn = sc->conn;
    const ls_strategy_t *s = conn_strategy(c, conn);
    int64_t timeout = (int64_t)c->cfg->job_timeout_s * 1000;
    int want = s && s->poll && (is_course(sc) ? conn->fanout : conn_due(c, conn, s, now));
    if (want && sc->job_due_ms && (sc->sending || now - sc->job_since_ms < timeout)) {
        c->skipped++;
        ls_debug("skipping \"%s\": job of %lld still running", coord_scope_key(c, sc), (long long)sc->job_due_ms);
    } else if (want && enqueue(c, sc, s, now) != LS_OK) {
        ls_coord_heap_set(&c->heap, &sc->t, now + RETRY_MS);
        return LS_ETRANSIENT;
    }
    reschedule(c, sc, now);
    return LS_OK;
}

/* Refill the enqueue token bucket (coordinator.max_enqueue_per_s, burst of one second). */
static void refill_tokens(coord_t *c, int64_t now)
{
    double rate = c->cfg->max_enqueue_per_s;
    if (c->tokens_ms)
        c->enqueue_tokens += rate * (double)(now - c->tokens_ms) / 1000.0;
    if (c->enqueue_tokens > rate)
        c->enqueue_tokens = rate;
    c->tokens_ms = now;
}

/*
 * Serve the tenants' queues of due scopes by deficit round robin, as far as
 * the token bucket and the cap on unreported jobs allow: each visit adds a
 * tenant's weight to its deficit and lets it produce that many jobs, so when
 * more jobs are due than coordinator.max_enqueue_per_s lets out, every
 * tenant gets its weighted share and a tenant with a big backlog takes what
 * the others leave. A tenant with a request budget (coordinator.tenant_budget) releases a
 * job only when its bucket holds the job's estimated cost (the scope's last
 * request count, 1 when unknown); otherwise its queue waits and the others
 * are served.
 */
static void serve_tenants(coord_t *c, int64_t now)
{
    size_t held = 0; /* tenants in a row whose request budget held their next job back */
    while (c->n_active && held < c->n_active && c->enqueue_tokens >= 1.0 && c->n_sends < MAX_SENDS) {
        size_t i = c->rr % c->n_active;
        coord_tenant_t *t = c->active[i];
        int refused = 0;
        if (t->head && t->deficit < 1.0)
            t->deficit += t->weight;
        while (t->head && t->deficit >= 1.0 && c->enqueue_tokens >= 1.0 && c->n_sends < MAX_SENDS &&
               !(refused = !coord_budget_admit(c, t->head, now))) {
            coord_scope_t *sc = t->head;
            size_t before = c->n_sends;
            coord_ready_unlink(sc);
            if (scope_due(c, sc, now) != LS_OK)
                return;
            t->deficit -= (double)(c->n_sends - before);
            c->enqueue_tokens -= (double)(c->n_sends - before);
        }
        held = refused ? held + 1 : 0;
        if (!t->head) {
            coord_tenant_deactivate(c, i); /* the last tenant moves into i: it comes at the end of this round */
            c->rr = i < c->n_active ? i + 1 : 0;
        } else {
            c->rr = i + 1;
        }
        if (c->n_active) /* kept within the ring: tenants activated later are appended after it */
            c->rr %= c->n_active;
    }
}

/* Due scopes leave the heap for their tenants' queues; then the queues are served. */
static void schedule_due(coord_t *c, int64_t now)
{
    ls_coord_timer_t *t;
    refill_tokens(c, now);
    while ((t = ls_coord_heap_top(&c->heap)) && t->due_ms <= now) {
        coord_scope_t *sc = (coord_scope_t *)t;
        ls_coord_heap_remove(&c->heap, t);
        if (coord_ready_push(c, sc) != LS_OK) {
            ls_coord_heap_set(&c->heap, t, now + RETRY_MS);
            break;
        }
    }
    serve_tenants(c, now);
}

/* ---- status records ---- */

/* The scope a status record reports on, when it is the job that scope waits for. */
static coord_scope_t *status_scope(coord_t *c, const ls_job_t *job)
{
    char key[LS_KEY_MAX], id[LS_KEY_MAX + 40];
    ls_job_scope(job, key, sizeof(key));
    coord_scope_t *sc = ls_strmap_get(c->scopes, key);
    if (!sc || !sc->conn || !sc->job_due_ms)
        return NULL; /* unknown, restored but not listed yet, or nothing outstanding */
    snprintf(id, sizeof(id), "%s@%lld", key, (long long)sc->job_due_ms);
    return strcmp(id, job->job_id) == 0 ? sc : NULL;
}

static void status_apply(coord_t *c, coord_scope_t *sc, const ls_job_t *job, const ls_status_t *st, int64_t now);

static void on_status(coord_t *c, const ls_kmsg_t *m, int64_t now)
{
    ls_job_t job;
    ls_status_t st;
    char err[256];
    if (ls_status_decode(m->value, m->len, &job, &st, err, sizeof(err)) != LS_OK) {
        ls_warn("status record at %s [%d] offset %lld not understood: %s", m->topic, m->partition,
                (long long)m->offset, err);
        return;
    }
    if (coord_term_check(c, &job))
        return;
    coord_scope_t *sc = status_scope(c, &job);
    if (!sc)
        return;
    status_apply(c, sc, &job, &st, now);
    coord_schedule_write(c, sc);
}

/* A status record of the job sc waits for: the schedule's counters, and a backoff after a failure. */
static void status_apply(coord_t *c, coord_scope_t *sc, const ls_job_t *job, const ls_status_t *st, int64_t now)
{
    sc->job_due_ms = 0;
    sc->sending = 0;
    if (st->skipped) { /* a later run already covered it (stale or duplicate) */
        ls_metric_add(CM_JOBS_REPORTED, CM_OUTCOME_SKIPPED, 0, 1);
        return;
    }
    sc->failures = st->ok ? 0 : sc->failures + 1;
    sc->requests = st->requests > UINT32_MAX ? UINT32_MAX : (uint32_t)st->requests;
    ls_metric_add(CM_JOBS_REPORTED, st->ok ? CM_OUTCOME_OK : CM_OUTCOME_FAILED, 0, 1);
    if (st->ok)
        sc->last_ok_ms = sc->polled_ok_ms = now;
    if (st->ok)
        coord_adapt_report(c, sc, sc->job_since_ms, st->events, now);
    if (st->ok && st->mode == LS_MODE_FULL) {
        sc->last_full_ms = now;
        sc->since_full = 0;
        sc->records = st->records > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)st->records;
    } else if (st->ok) {
        sc->since_full++;
    } else {
        reschedule(c, sc, now);
        ls_warn("job \"%s\" failed (%d in a row); next attempt in %lld s", job->job_id, sc->failures,
                (long long)((sc->t.due_ms - now) / 1000));
    }
}

/* Wait up to wait_ms for status records, then handle what is ready (bounded per turn). */
static void status_turn(coord_t *c, int wait_ms)
{
    ls_kmsg_t m;
    for (int i = 0; i < STATUS_DRAIN && ls_consumer_poll(c->status, i ? 0 : wait_ms, &m) == LS_OK; i++) {
        on_status(c, &m, ls_time_now_ms());
        ls_kmsg_release(&m);
    }
}

/* ---- start, stop ---- */

static int coord_maps(coord_t *c)
{
    c->conns = ls_strmap_new(sizeof(coord_conn_t));
    c->scopes = ls_strmap_new(sizeof(coord_scope_t));
    c->strings = ls_strmap_new(1);
    c->tenants = ls_strmap_new(sizeof(coord_tenant_t));
    return c->conns && c->scopes && c->strings && c->tenants ? LS_OK : LS_ENOMEM;
}

static int load_static(coord_t *c, int64_t now)
{
    char err[512];
    ls_coord_conn_t *list;
    int n = ls_coord_parse_static(c->cfg->connections, &list, err, sizeof(err));
    if (n < 0) {
        ls_error("%s", n == LS_ENOMEM ? "out of memory" : err);
        return LS_EINVAL;
    }
    for (int i = 0; i < n; i++)
        if (!coord_conn_upsert(c, &list[i], 0, now)) {
            free(list);
            return LS_ENOMEM;
        }
    free(list);
    ls_info("tracking %d connections (coordinator.connections)", n);
    return LS_OK;
}

/* What every replica holds: the producer and its place in the leader election. */
static int coord_open(coord_t *c)
{
    char err[512];
    ls_kafka_conf_t kc = ls_config_kafka(c->cfg);
    kc.compression = c->cfg->coord_compression; /* small batches: gzip's per-batch setup would dominate */
    ls_config_topic(c->cfg, "poll.jobs", c->topic_jobs, sizeof(c->topic_jobs));
    ls_config_topic(c->cfg, "sync.status", c->topic_status, sizeof(c->topic_status));
    ls_config_topic(c->cfg, "coordinator.schedule", c->topic_schedule, sizeof(c->topic_schedule));
    if (!c->cfg->connections[0] && (c->cfg->n_workspaces == 0 || !c->cfg->workspaces[0].token[0])) {
        ls_error("coordinator cannot start: setting 'coordinator.connections' is empty, and discovery "
                 "needs an API token: set UNIFIED_API_TOKEN or 'unified.token_file'");
        return LS_EINVAL;
    }
    if (coord_tenant_weights_check(c->cfg->tenant_weights, err, sizeof(err)) != LS_OK ||
        coord_tenant_budget_check(c->cfg->tenant_budget, err, sizeof(err)) != LS_OK ||
        coord_tenant_map_check(c->cfg->tenant_map, err, sizeof(err)) != LS_OK ||
        coord_budgets_open(c, err, sizeof(err)) != LS_OK) {
        ls_error("coordinator cannot start: %s", err);
        return LS_EINVAL;
    }
    if (!(c->sends = malloc(MAX_SENDS * sizeof(*c->sends))) ||
        !(c->producer = ls_producer_new(&kc, 10000, err, sizeof(err)))) {
        ls_error("coordinator cannot start: %s", c->sends ? err : "out of memory");
        return LS_EINVAL;
    }
    ls_metric_set(CM_LEADER, 0, 0, 0);
    return coord_election_open(c) == LS_OK ? LS_OK : LS_EINVAL;
}

/* A leadership term begins: read the schedule back, open the status consumer, list the connections. */
static int lead_start(coord_t *c)
{
    char err[512], group[160];
    ls_kafka_conf_t kc = ls_config_kafka(c->cfg);
    snprintf(group, sizeof(group), "%s-coordinator", c->cfg->topic_prefix);
    c->epoch = ls_time_now_ms();
    if (coord_maps(c) != LS_OK || coord_creds_open(c) != LS_OK ||
        !(c->http = ls_http_multi_new(c->cfg->unified_token, c->cfg->http_timeout_s, c->cfg->discovery_concurrency,
                                      err, sizeof(err))) ||
        !(c->status = ls_consumer_new(&kc, group, c->topic_status, err, sizeof(err)))) {
        ls_error("coordinator cannot lead: %s", c->conns ? err : "out of memory");
        return LS_EINVAL;
    }
    coord_schedule_restore(c);
    coord_control_open(c);
    c->next_discovery_ms = 0;
    if (c->cfg->connections[0] && load_static(c, ls_time_now_ms()) != LS_OK)
        return LS_EINVAL;
    c->leading = 1;
    ls_metric_set(CM_LEADER, 0, 0, 1);
    if (c->cfg->leader_election)
        ls_info("leading (epoch %lld): schedule restored, enqueuing", (long long)c->epoch);
    return LS_OK;
}

static void coord_free(coord_t *c);

/* A leadership term ends: no job is produced from now on; the in-memory schedule is dropped (the topic has it). */
static void lead_stop(coord_t *c)
{
    c->leading = 0;
    ls_metric_set(CM_LEADER, 0, 0, 0);
    /* logged before the consumers close: a close may wait on a slow group coordinator, nothing is enqueued meanwhile */
    ls_warn("not leading any more (epoch %lld): stopped enqueuing", (long long)c->epoch);
    ls_consumer_destroy(c->status);
    c->status = NULL;
    coord_control_close(c);
    coord_free(c);
}

static int free_courses(const char *name, void *value, void *ud)
{
    (void)name;
    (void)ud;
    free(((coord_conn_t *)value)->courses);
    return 0;
}

/* Free what the coordinator holds in memory (not its Kafka clients). */
static void coord_free(coord_t *c)
{
    ls_http_multi_destroy(c->http);
    coord_subscribe_release(c);
    coord_creds_close(c);
    for (size_t i = 0; i < c->n_sends; i++)
        c->sends[i]->sc = NULL; /* the scopes go below */
    for (size_t i = 0; i < c->cq_n; i++)
        free(c->course_queue[(c->cq_head + i) % c->cq_cap]);
    free(c->course_queue);
    ls_coord_heap_release(&c->heap); /* it points into the scopes the maps below own */
    if (c->conns)
        ls_strmap_sweep(c->conns, free_courses, NULL);
    ls_strmap_destroy(c->conns);
    ls_strmap_destroy(c->scopes);
    ls_strmap_destroy(c->strings);
    coord_budgets_forget_tenants(c);
    ls_strmap_destroy(c->tenants);
    free(c->active);
    free(c->runtime);
    free(c->strats);
    c->http = NULL;
    c->conns = c->scopes = c->strings = c->tenants = NULL;
    c->active = NULL;
    c->n_active = c->cap_active = c->rr = 0;
    c->course_queue = NULL;
    c->cq_n = c->cq_cap = c->cq_head = c->course_fetches = 0;
    c->runtime = NULL;
    c->strats = NULL;
    c->n_runtime = c->n_strats = 0;
    memset(&c->disco, 0, sizeof(c->disco));
}

static void coord_close(coord_t *c)
{
    coord_election_close(c);
    coord_control_close(c);
    ls_consumer_destroy(c->status);
    ls_producer_close(c->producer, CLOSE_FLUSH_MS); /* jobs still unsent are lost: enqueued again after a restart */
    for (size_t i = 0; i < c->n_sends; i++)
        free(c->sends[i]);
    free(c->sends);
    c->sends = NULL;
    c->n_sends = 0;
    coord_catalog_release(c);
    coord_free(c);
    coord_budgets_close(c);
}

/* After a listing pass: connections that are polled per course get their course list at once, not at their first slot. */
static int kick_fanout(const char *name, void *value, void *ud)
{
    coord_t *c = ud;
    coord_conn_t *conn = value;
    const ls_strategy_t *s = conn_strategy(c, conn);
    (void)name;
    if (s && s->poll && !conn->n_courses && !conn->courses_busy && conn->next_courses_ms == 0 &&
        wants_fanout(c, conn, s)) {
        conn->fanout = 1;
        coord_courses_request(c, conn);
    }
    return 0;
}

void coord_fanout_kick(coord_t *c)
{
    ls_strmap_sweep(c->conns, kick_fanout, c);
}

static void maybe_discover(coord_t *c, int64_t now)
{
    if (now >= c->next_discovery_ms && !c->disco.active)
        coord_disco_begin(c, now);
}

/* One scope's share of the schedule gauges (and of the budgets' loads). */
static void gauge_scope(coord_t *c, const coord_scope_t *sc, int64_t now, int64_t ival, int64_t g[6])
{
    if (is_course(sc) ? !sc->conn->fanout : sc->conn->fanout)
        return; /* not polled this way now */
    coord_budget_walk_scope(c, sc);
    g[0]++;
    g[1] += now >= sc->t.due_ms && !sc->job_due_ms;
    g[2] += now - sc->t.due_ms > ival;
    g[3] += sc->failures > 0;
    if (now - sc->last_ok_ms > g[4])
        g[4] = now - sc->last_ok_ms;
    if (sc->polled_ok_ms && now - sc->polled_ok_ms > g[5])
        g[5] = now - sc->polled_ok_ms;
}

/* The schedule gauges: a walk over every scope (the heap's array, then the tenants' queues of due ones). */
static void update_gauges(coord_t *c, int64_t now)
{
    int64_t g[6] = {0};
    for (size_t i = 0; i < c->heap.n; i++)
        gauge_scope(c, (const coord_scope_t *)c->heap.a[i].t, now, interval_ms(c), g);
    for (size_t i = 0; i < c->n_active; i++)
        for (const coord_scope_t *s = c->active[i]->head; s; s = s->rq_next)
            gauge_scope(c, s, now, interval_ms(c), g);
    ls_metric_set(CM_CONNECTIONS, 0, 0, (int64_t)ls_strmap_count(c->conns));
    ls_metric_set(CM_SCOPES, 0, 0, g[0]);
    ls_metric_set(CM_SCOPES_DUE, 0, 0, g[1]);
    ls_metric_set(CM_SCOPES_OVERDUE, 0, 0, g[2]);
    ls_metric_set(CM_SCOPES_FAILING, 0, 0, g[3]);
    ls_metric_set(CM_OLDEST_UNSYNCED, 0, 0, g[4] / 1000);
    ls_metric_set(CM_OLDEST_POLL_AGE, 0, 0, g[5] / 1000);
    coord_budget_walk_end(c, now);
}

/*
 * How long the loop may wait for status records: until the next due scope,
 * but at least TURN_MIN_MS (jobs due within one turn go out together, so
 * librdkafka sends them in one request and the loop does not wake per job)
 * and at most 100 ms.
 */
static int turn_wait_ms(const coord_t *c, int64_t now)
{
    const ls_coord_timer_t *t = ls_coord_heap_top(&c->heap);
    int64_t w = 100;
    if (t && t->due_ms - now < w)
        w = t->due_ms - now > TURN_MIN_MS ? t->due_ms - now : TURN_MIN_MS;
    return (int)w;
}

static void coord_turn(coord_t *c, int64_t *next_gauges)
{
    int64_t now = ls_time_now_ms();
    ls_metrics_heartbeat(ls_time_mono_ms(), ls_consumer_reachable(c->status) ? LS_PROC_READY : LS_PROC_NO_KAFKA);
    if (now >= *next_gauges) { /* a walk over every scope: once a second, or about once a minute at a million scopes */
        update_gauges(c, now);
        *next_gauges = now + 1000 + (int64_t)(c->heap.n / 20);
    }
    maybe_discover(c, now);
    coord_http_turn(c, 0);
    sends_turn(c, now);
    if (!coord_may_lead(c, 0))
        return; /* checked right before producing: a deposed leader enqueues nothing more */
    schedule_due(c, now);
    coord_catalog_turn(c, now);
    coord_subscribe_turn(c, now);
    coord_control_turn(c, now);
    int wait = turn_wait_ms(c, ls_time_now_ms());
    if (ls_http_multi_running(c->http)) { /* wait on the sockets: a transfer completes without waiting for a turn */
        coord_http_turn(c, wait);
        status_turn(c, 0);
    } else {
        status_turn(c, wait);
    }
}

/* A standby: delivery reports of a past term are still served; the readiness probe sees a live loop. */
static void standby_turn(coord_t *c)
{
    ls_metrics_heartbeat(ls_time_mono_ms(), LS_PROC_READY);
    sends_turn(c, ls_time_now_ms());
}

int ls_coord_run(const ls_config_t *cfg, volatile sig_atomic_t *stop)
{
    coord_t c;
    ls_ops_t *ops = NULL;
    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    int started = ls_daemon_single_start(cfg, "coordinator", ls_coord_metrics, CM__COUNT, &ops);
    if (started != 0)
        return started;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = coord_open(&c);
    if (rc == LS_OK)
        ls_info("coordinator ready: interval %d s, jobs to \"%s\"", cfg->poll_interval_s, c.topic_jobs);
    int64_t next_gauges = 0;
    while (rc == LS_OK && !*stop) {
        int may = coord_may_lead(&c, c.leading ? 0 : 100);
        if (may && !c.leading)
            rc = lead_start(&c);
        else if (!may && c.leading)
            lead_stop(&c);
        if (c.leading)
            coord_turn(&c, &next_gauges);
        else
            standby_turn(&c);
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

int coord_job_for(coord_t *c, coord_scope_t *sc, int64_t now, ls_job_t *job)
{
    const ls_strategy_t *s = conn_strategy(c, sc->conn);
    if (!s)
        return LS_ENOMEM;
    if (!s->poll)
        return LS_EINVAL;
    job_fill(c, sc, s, now, job);
    return LS_OK;
}

/* ---- --explain ---- */

/* The connection's integration type and xref: the static list, or GET /unified/connection/{id}. */
static int explain_conn(const ls_config_t *cfg, ls_http_t *http, const char *id, ls_coord_conn_t *out)
{
    char err[512], url[2048], esc[3 * LS_STR_MAX + 1];
    size_t seen;
    memset(out, 0, sizeof(*out));
    if (cfg->connections[0]) {
        ls_coord_conn_t *list;
        int n = ls_coord_parse_static(cfg->connections, &list, err, sizeof(err));
        for (int i = 0; i < n; i++)
            if (strcmp(list[i].id, id) == 0)
                *out = list[i];
        if (n >= 0)
            free(list);
        if (!out->id[0])
            fprintf(stderr, "connection \"%s\" is not in 'coordinator.connections'\n", id);
        return out->id[0] ? LS_OK : LS_ENOTFOUND;
    }
    ls_http_resp_t resp;
    if (ls_http_escape(id, esc, sizeof(esc)) != LS_OK)
        return LS_EINVAL;
    snprintf(url, sizeof(url), "%s/unified/connection/%s", cfg->unified_base_url, esc);
    int rc = ls_http_get(http, url, &resp, err, sizeof(err));
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

/* The number of course scopes conn would get (the coordinator's own course list fetch, run to completion). */
static int explain_courses(coord_t *c, const ls_coord_conn_t *l, size_t *n)
{
    char err[512];
    if (coord_maps(c) != LS_OK || coord_creds_open(c) != LS_OK ||
        !(c->http = ls_http_multi_new(c->cfg->unified_token, c->cfg->http_timeout_s, 1, err, sizeof(err))))
        return LS_ENOMEM;
    coord_conn_t *conn = coord_conn_upsert(c, l, 0, ls_time_now_ms());
    if (!conn)
        return LS_ENOMEM;
    conn_strategy(c, conn);
    conn->next_courses_ms = 0;
    coord_courses_request(c, conn);
    while (conn->courses_busy)
        coord_http_turn(c, 100);
    *n = conn->n_courses;
    return conn->courses_failed ? LS_ETRANSIENT : LS_OK;
}

int ls_coord_explain(const ls_config_t *cfg, const char *connection_id, FILE *out)
{
    coord_t c;
    char err[512];
    ls_coord_conn_t conn;
    strat_entry_t e;
    ls_http_t *http;
    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = (http = ls_http_new(cfg->unified_token, cfg->http_timeout_s, err, sizeof(err))) ? LS_OK : LS_EINVAL;
    if (rc == LS_OK)
        rc = explain_conn(cfg, http, connection_id, &conn);
    if (rc == LS_OK) {
        ls_http_resp_t resp;
        char url[1024];
        snprintf(url, sizeof(url), "%s/unified/integration?categories=lms", cfg->unified_base_url);
        int grc = ls_http_get(http, url, &resp, err, sizeof(err));
        coord_set_profiles(&c, grc, &resp, err);
        resolve(cfg, c.runtime, c.n_runtime, c.runtime_why, conn.id, conn.integration_type, -1, &e);
        ls_profile_explain(out, connection_id, &e.profile, &e.strategy);
        fprintf(out, "  %-10s first job is full; then %s\n", "schedule",
                e.strategy.incremental ? "incremental, with a full scan every coordinator.full_every jobs" : "full every interval");
        char tbuf[LS_STR_MAX + 1];
        coord_adapt_explain(cfg, conn.integration_type,
                            coord_tenant_name(cfg->tenant_map, conn.id, conn.id, conn.integration_type,
                                              conn.external_xref, tbuf, sizeof(tbuf)),
                            out);
        size_t n;
        if (e.strategy.poll && e.strategy.fanout && explain_courses(&c, &conn, &n) == LS_OK)
            fprintf(out, "  %-10s %zu course jobs, spread over the interval by hash(connection/course)\n", "courses", n);
        coord_subscribe_explain(cfg, http, connection_id, &e.profile, out);
    }
    ls_http_destroy(http);
    coord_free(&c);
    curl_global_cleanup();
    return rc;
}
