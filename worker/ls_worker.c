/*
 * ls_worker.c - the worker process loop: many jobs at once over one curl
 * multi handle.
 *
 * Every consumed job message becomes a slot, kept in consumption order. Up
 * to worker.max_in_flight slots run at once (ls_sync_job_t); a slot whose
 * connection already has a running job waits, so two jobs of one
 * connection never run at once, and a poll job whose tenant runs its share
 * of the slots while another tenant's job is ready waits too (deferred,
 * ls_share.h: worker.tenant_max_share). One loop waits on the curl sockets, the
 * producer's event fd and the earliest timer, hands completed transfers to
 * their jobs, steps every running job's state machine (ls_sync.h: a page
 * is parsed, diffed and produced, its acks awaited, then committed; retries
 * and removal re-checks wait on timers), steps a partition restore by one
 * slice, and polls the consumer while there is room for more slots.
 * Nothing in the loop waits for one job: every wait is a state.
 *
 * Order per job (docs/design.md, Ordering): the job's pages are delivered and
 * stored one by one, then its status record is produced (the slot is
 * REPORTING, the loop goes on), and once it is acknowledged the slot is
 * done. Offsets are committed per partition only up to the
 * first slot of that partition that is not done, so a commit never passes
 * unfinished work. A job that failed upstream is reported and done (the
 * coordinator schedules the next attempt); a job that failed on Kafka or
 * LMDB runs again after a pause; a job message that does not decode goes
 * to the dead-letter topic and its slot is done.
 *
 * Partitions: the group's rebalance callback (ls_kafka, eager protocol)
 * fires inside ls_consumer_poll(), i.e. between pages. A revoke abandons
 * every slot of the revoked partitions (no status, no commit, no further
 * LMDB write: the new owner consumes those jobs again, with the same event
 * ids). An assignment pauses the partitions; the loop restores each one
 * from the changelog (ls_restore, one bounded slice per loop turn, so the
 * jobs of partitions already restored go on meanwhile) and only then
 * resumes it.
 */
#include "ls_worker.h"
#include "ls_err.h"
#include "ls_http.h"
#include "ls_job.h"
#include "ls_kafka.h"
#include "ls_log.h"
#include "ls_ratelimit.h"
#include "ls_restore.h"
#include "ls_share.h"
#include "ls_store.h"
#include "ls_strmap.h"
#include "ls_sync.h"
#include "ls_time.h"
#include "ls_worker_metrics.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RERUN_PAUSE_MS 2000
#define RESTORE_RETRY_MS 5000
#define STORE_SYNC_MS 1000
#define REPORT_TIMEOUT_MS 30000

/* One consumed job message. */
typedef enum { SLOT_WAITING, SLOT_RUNNING, SLOT_REPORTING, SLOT_DONE } slot_state_t;

typedef struct slot {
    ls_job_t job;
    char scope[LS_KEY_MAX]; /* ls_job_scope(&job) */
    int partition;
    int64_t offset;
    slot_state_t state;
    int64_t not_before;         /* monotonic ms: a re-run waits until then */
    ls_sync_job_t *sj;          /* SLOT_RUNNING */
    ls_status_t *st;            /* SLOT_REPORTING: the outcome whose status record is in flight */
    ls_batch_t *rb;             /* ... and its delivery (heap: librdkafka points at it) */
    int64_t report_deadline;    /* monotonic ms */
    uint8_t deferred;           /* SLOT_WAITING: held back by its tenant's share in the latest start pass */
    uint8_t was_deferred;       /* counted in jobs_deferred once */
    struct slot *next;
} slot_t;

/* An assigned partition, paused until its restore completes. */
typedef struct unrestored {
    int partition;
    int64_t retry_at;           /* monotonic ms: after a failed restore, the next attempt */
} unrestored_t;

typedef struct worker {
    const ls_config_t *cfg;
    ls_consumer_t *consumer;
    ls_sync_ctx_t sync;
    char topic_jobs[128], topic_status[128], topic_dlq[128];
    uint64_t jobs_ok, jobs_failed, jobs_dead, jobs_abandoned, jobs_skipped, map_trims;
    ls_strmap_t *ran;                 /* scope -> ran_t: when its last successful jobs started */
    ls_restore_ctx_t restore;
    unrestored_t *unrestored;         /* assigned partitions still paused, waiting for their restore */
    size_t n_unrestored, cap_unrestored;
    int64_t restore_retry_at;   /* monotonic ms: the earliest retry of an unrestored partition */
    int64_t next_sync_at;       /* monotonic ms: flush the LMDB commits since the last flush (worker.lmdb_sync) */
    slot_t *head, *tail;        /* every held job message, in consumption order */
    size_t n_slots, n_running, n_done; /* held, running, done (kept only until the offset commit passes them) */
    size_t n_catalog;           /* running catalog jobs (also in n_running) */
    int dirty;                  /* a slot changed: look for jobs to start and offsets to commit */
    int joined;                 /* the group assigned this process its partitions (possibly none) once */
    int *assigned;              /* partitions of the jobs topic assigned to this process */
    size_t n_assigned;
    int64_t next_metrics_at;    /* monotonic ms: refresh the gauges (ls_worker_metrics.h) */
    ls_limiter_stats_t limiter_seen;
    uint64_t restore_records_seen, restore_wipes_seen, dead_seen;
    ls_share_t share;           /* worker.tenant_max_share: per-tenant counts of the latest start pass */
    size_t n_deferred;          /* waiting slots the share held back in the latest start pass */
    uint64_t jobs_deferred, deferred_seen; /* jobs deferred at least once; counted into the metric so far */
} worker_t;

/* Per scope: start times (ms since epoch) of its latest successful job, and of its latest successful full scan. */
typedef struct ran {
    int64_t ok_started_ms, full_started_ms;
} ran_t;

/* Release a slot's status delivery (waiting for its delivery report if one is still due). */
static void drop_report(worker_t *w, slot_t *s)
{
    if (s->rb && s->rb->pending > 0) {
        char err[256];
        ls_producer_wait(w->sync.producer, s->rb, 10000, err, sizeof(err));
    }
    if (s->rb && s->rb->pending > 0)
        ls_warn("status of job \"%s\" still unacknowledged; its batch is leaked", s->job.job_id);
    else
        free(s->rb);
    free(s->st);
    s->rb = NULL;
    s->st = NULL;
}

/* A slot starts (d = +1) or stops (d = -1) running. */
static void running_delta(worker_t *w, const slot_t *s, int d)
{
    size_t *n[] = {&w->n_running, s->job.kind == LS_JOB_CATALOG ? &w->n_catalog : NULL};
    for (size_t i = 0; i < 2; i++)
        if (n[i])
            *n[i] = d > 0 ? *n[i] + 1 : *n[i] - 1;
}

/*
 * Room for s to start: poll jobs have worker.max_in_flight slots to
 * themselves; catalog jobs run beside them, at most a quarter of that (at
 * least one), so they never take a poll job's slot.
 */
static int has_room(const worker_t *w, const slot_t *s)
{
    size_t cap = (size_t)w->cfg->max_in_flight;
    if (s->job.kind == LS_JOB_CATALOG)
        return w->n_catalog < (cap / 4 ? cap / 4 : 1);
    return w->n_running - w->n_catalog < cap;
}

static void slot_free(worker_t *w, slot_t *s)
{
    if (s->state == SLOT_RUNNING)
        running_delta(w, s, -1);
    if (s->state == SLOT_DONE)
        w->n_done--;
    ls_sync_job_destroy(s->sj);
    drop_report(w, s);
    ls_job_release(&s->job);
    free(s);
    w->n_slots--;
}

/* Drop every slot of the given partitions (all when parts is NULL) without status or commit. */
static void abandon_slots(worker_t *w, const int *parts, size_t n, const char *why)
{
    slot_t **pp = &w->head, *prev = NULL;
    while (*pp) {
        slot_t *s = *pp;
        int hit = !parts;
        for (size_t i = 0; i < n && !hit; i++)
            hit = parts[i] == s->partition;
        if (!hit) {
            prev = s;
            pp = &s->next;
            continue;
        }
        if (s->state != SLOT_DONE) {
            w->jobs_abandoned++;
            ls_info("job \"%s\" abandoned (%s); it will be consumed again", s->job.job_id, why);
        }
        *pp = s->next;
        if (w->tail == s)
            w->tail = prev;
        slot_free(w, s);
    }
    w->dirty = 1;
}

static void fmt_parts(const int *parts, size_t n, char *buf, size_t sz)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && o + 16 < sz; i++)
        o += (size_t)snprintf(buf + o, sz - o, "%s%d", i ? "," : "", parts[i]);
}

/* Eager rebalances: an assignment replaces the whole set, a revoke empties it. */
static void on_rebalance(ls_rebalance_t what, const int *parts, size_t n, int lost, void *ud)
{
    worker_t *w = ud;
    char list[512];
    fmt_parts(parts, n, list, sizeof(list));
    w->n_unrestored = 0;
    for (size_t i = 0; i < w->n_assigned; i++)
        ls_metric_unset(WM_CONSUMER_LAG, w->assigned[i], 0);
    w->n_assigned = 0;
    ls_restore_abort(&w->restore); /* eager: a partition being restored is given up with the others */
    if (what == LS_REBALANCE_REVOKE) {
        ls_info("partitions [%s] revoked%s", list,
                lost ? " (lost: this member was dropped; uncommitted jobs will be consumed again)" : "");
        abandon_slots(w, parts, n, "partition revoked");
        return;
    }
    if (n > w->cap_unrestored) {
        unrestored_t *t = realloc(w->unrestored, n * sizeof(*t));
        if (!t) {
            ls_error("out of memory for %zu assigned partitions: they stay paused", n);
            return;
        }
        w->unrestored = t;
        w->cap_unrestored = n;
    }
    for (size_t i = 0; i < n; i++)
        w->unrestored[i] = (unrestored_t){parts[i], 0};
    w->n_unrestored = n;
    w->joined = 1;
    int *a = n ? realloc(w->assigned, n * sizeof(*a)) : NULL;
    if (a) {
        memcpy(a, parts, n * sizeof(*parts));
        w->assigned = a;
        w->n_assigned = n;
    }
    w->restore_retry_at = 0;
    ls_info("partitions [%s] assigned: paused until restored from the changelog", list);
}

/* Drop entry i of the paused partitions, keeping their order. */
static void unrestored_remove(worker_t *w, size_t i)
{
    memmove(&w->unrestored[i], &w->unrestored[i + 1], (w->n_unrestored - i - 1) * sizeof(*w->unrestored));
    w->n_unrestored--;
}

/* The earliest retry of a paused partition (0: one is due now). */
static void restore_schedule(worker_t *w)
{
    for (size_t i = 0; i < w->n_unrestored; i++)
        if (i == 0 || w->unrestored[i].retry_at < w->restore_retry_at)
            w->restore_retry_at = w->unrestored[i].retry_at;
}

/*
 * One step of the restore of the first paused partition that is due: a
 * bounded slice (ls_restore_step), so the jobs of the other partitions go
 * on between steps. A restored partition is resumed; a failed one stays
 * paused and is tried again after RESTORE_RETRY_MS.
 */
static void restore_pending(worker_t *w)
{
    int64_t now = ls_time_mono_ms();
    size_t i = 0;
    while (i < w->n_unrestored && w->unrestored[i].retry_at > now)
        i++;
    if (i == w->n_unrestored)
        return;
    int p = w->unrestored[i].partition;
    ls_restore_stats_t st;
    int rc = *w->sync.stop ? LS_ESTOP : ls_restore_step(&w->restore, p, &st);
    if (rc == 1)
        return;
    if (rc == LS_OK && ls_consumer_resume(w->consumer, p) == LS_OK) {
        unrestored_remove(w, i);
    } else {
        if (rc != LS_ESTOP && rc != LS_OK)
            ls_warn("partition %d stays paused: restore failed (%s); next attempt in %d s", p, ls_strerror(rc),
                    RESTORE_RETRY_MS / 1000);
        w->unrestored[i].retry_at = now + RESTORE_RETRY_MS;
    }
    restore_schedule(w);
}

/* A restore step is due now (the loop must not sleep on its other waits). */
static int restore_due(const worker_t *w)
{
    return w->n_unrestored && ls_time_mono_ms() >= w->restore_retry_at;
}

static int open_clients(worker_t *w, volatile sig_atomic_t *stop)
{
    char err[512];
    const ls_config_t *cfg = w->cfg;
    ls_kafka_conf_t kc = ls_config_kafka(cfg);
    ls_config_topic(cfg, "poll.jobs", w->topic_jobs, sizeof(w->topic_jobs));
    ls_config_topic(cfg, "sync.status", w->topic_status, sizeof(w->topic_status));
    ls_config_topic(cfg, "poll.dlq", w->topic_dlq, sizeof(w->topic_dlq));
    ls_config_topic(cfg, "activity.changes", w->sync.topic_changes, sizeof(w->sync.topic_changes));
    ls_config_topic(cfg, "activity.state", w->sync.topic_state, sizeof(w->sync.topic_state));
    ls_config_topic(cfg, "progress.enrollments", w->sync.topic_enrollments, sizeof(w->sync.topic_enrollments));
    ls_config_topic(cfg, "progress.courses", w->sync.topic_courses, sizeof(w->sync.topic_courses));
    ls_config_topic(cfg, "activity.current", w->sync.topic_current, sizeof(w->sync.topic_current));
    w->sync.cfg = cfg;
    w->sync.stop = stop;
    ls_page_init(&w->sync.parsed);
    w->restore.cfg = cfg;
    w->restore.stop = stop;
    snprintf(w->restore.topic_state, sizeof(w->restore.topic_state), "%s", w->sync.topic_state);
    snprintf(w->restore.topic_dlq, sizeof(w->restore.topic_dlq), "%s", w->topic_dlq);
    if (!(w->sync.store = ls_store_open(cfg->lmdb_path, (size_t)cfg->lmdb_map_mb,
                                       strcmp(cfg->lmdb_sync, "deferred") == 0, err, sizeof(err))) ||
        !(w->sync.producer = ls_producer_new(&kc, 10000, err, sizeof(err))) ||
        !(w->sync.multi = ls_http_multi_new(cfg->unified_token, cfg->http_timeout_s, cfg->max_in_flight, err,
                                            sizeof(err))) ||
        (ls_sync_ctx_open_creds(&w->sync) != LS_OK && snprintf(err, sizeof(err), "out of memory") > 0) ||
        !(w->consumer = ls_consumer_new_rebalance(&kc, cfg->group_id, w->topic_jobs, on_rebalance, w, err,
                                                  sizeof(err)))) {
        ls_error("worker cannot start: %s", err);
        return LS_EINVAL;
    }
    double rate = 0;
    ls_rate_parse(cfg->connection_rate, &rate, err, sizeof(err)); /* validated by ls_config_load */
    ls_limiter_cfg_t lc = {rate, cfg->connection_burst, cfg->integration_rates, 2 * cfg->max_in_flight};
    double share = 1;
    ls_share_parse(cfg->tenant_max_share, &share, err, sizeof(err)); /* validated by ls_config_load */
    if (!(w->sync.limiter = ls_limiter_new(&lc, err, sizeof(err))) || !(w->ran = ls_strmap_new(sizeof(ran_t))) ||
        ls_share_init(&w->share, cfg->max_in_flight, share) != LS_OK) {
        ls_error("worker cannot start: %s", w->sync.limiter ? "out of memory" : err);
        return LS_EINVAL;
    }
    ls_store_set_resident_max(w->sync.store, (size_t)cfg->lmdb_resident_mb << 20);
    ls_store_set_write_timing(w->sync.store, ls_worker_metrics_lmdb_write, NULL);
    w->restore.store = w->sync.store;
    w->restore.producer = w->sync.producer;
    int pj = ls_producer_partition_count(w->sync.producer, w->topic_jobs, 10000);
    int ps = ls_producer_partition_count(w->sync.producer, w->sync.topic_state, 10000);
    if (pj > 0 && ps > 0 && pj != ps) {
        ls_error("topic \"%s\" has %d partitions but \"%s\" has %d: they must be equal",
                 w->topic_jobs, pj, w->sync.topic_state, ps);
        return LS_EINVAL;
    }
    return LS_OK;
}

static void close_clients(worker_t *w)
{
    abandon_slots(w, NULL, 0, "shutdown");
    ls_consumer_destroy(w->consumer);
    ls_restore_release(&w->restore);
    free(w->unrestored);
    free(w->assigned);
    ls_sync_ctx_release(&w->sync);
    ls_http_multi_destroy(w->sync.multi);
    ls_producer_destroy(w->sync.producer);
    ls_store_destroy(w->sync.store);
    ls_limiter_destroy(w->sync.limiter);
    ls_strmap_destroy(w->ran);
    ls_share_release(&w->share);
}

/*
 * Produce the status record of slot s (outcome st): the slot is REPORTING
 * until it is acknowledged (poll_report). Offsets never pass a slot that is
 * not done, so a status lost with the process is reported by the re-run.
 */
static int report(worker_t *w, slot_t *s, const ls_status_t *st)
{
    char *v = ls_status_encode(&s->job, st);
    if (!v || (!s->st && !(s->st = malloc(sizeof(*s->st)))) || (!s->rb && !(s->rb = malloc(sizeof(*s->rb))))) {
        free(v);
        ls_error("out of memory reporting job \"%s\"", s->job.job_id);
        return LS_ENOMEM;
    }
    *s->st = *st;
    ls_batch_init(s->rb);
    int rc = ls_producer_send(w->sync.producer, w->topic_status, -1, s->scope, strlen(s->scope), v, strlen(v),
                              NULL, 0, s->rb, 0);
    free(v);
    if (rc != LS_OK) {
        ls_error("status of job \"%s\" not produced: %s", s->job.job_id, ls_strerror(rc));
        return rc;
    }
    s->state = SLOT_REPORTING;
    s->report_deadline = ls_time_mono_ms() + REPORT_TIMEOUT_MS;
    return LS_OK;
}

static void note_ran(worker_t *w, const slot_t *s, const ls_status_t *st);

/* A REPORTING slot: done once its status is acknowledged; a failed delivery runs the job again. */
static void poll_report(worker_t *w, slot_t *s)
{
    char err[256];
    int rc = ls_producer_poll_batch(w->sync.producer, s->rb, err, sizeof(err));
    if (rc == 1 && ls_time_mono_ms() < s->report_deadline)
        return;
    w->dirty = 1;
    if (rc == 0) {
        if (s->st->skipped)
            w->jobs_skipped++;
        else if (s->st->ok)
            w->jobs_ok++;
        else
            w->jobs_failed++;
        if (s->st->ok && !s->st->skipped)
            note_ran(w, s, s->st);
        ls_worker_metrics_job(&s->job, s->st);
        s->state = SLOT_DONE;
        w->n_done++;
        return;
    }
    if (rc == 1)
        snprintf(err, sizeof(err), "not acknowledged within %d ms", REPORT_TIMEOUT_MS);
    ls_error("status of job \"%s\" not delivered: %s; the job will run again", s->job.job_id, err);
    drop_report(w, s);
    s->state = SLOT_WAITING;
    s->not_before = ls_time_mono_ms() + RERUN_PAUSE_MS;
}

static void dead_letter(worker_t *w, const ls_kmsg_t *m, const char *why)
{
    char part[16], off[24], err[256];
    snprintf(part, sizeof(part), "%d", m->partition);
    snprintf(off, sizeof(off), "%lld", (long long)m->offset);
    ls_kafka_header_t h[] = {{"lmsync_error", why}, {"lmsync_topic", m->topic},
                             {"lmsync_partition", part}, {"lmsync_offset", off}};
    ls_batch_t b;
    ls_batch_init(&b);
    w->jobs_dead++;
    ls_error("job message %s [%d] at offset %lld skipped: %s", m->topic, m->partition,
             (long long)m->offset, why);
    if (ls_producer_send(w->sync.producer, w->topic_dlq, -1, m->key, m->key_len, m->value, m->len,
                         h, 4, &b, 0) != LS_OK ||
        ls_producer_wait(w->sync.producer, &b, 30000, err, sizeof(err)) != LS_OK)
        ls_error("dead-letter copy of %s [%d] at %lld not delivered", m->topic, m->partition,
                 (long long)m->offset);
}

/* Jobs that must not run at once: same connection and same kind (a catalog job never holds up a poll job). */
static int same_connection(const slot_t *a, const slot_t *b)
{
    return a->job.kind == b->job.kind && strcmp(a->job.connection_id, b->job.connection_id) == 0 &&
           strcmp(a->job.workspace, b->job.workspace) == 0;
}

static int is_full(ls_mode_t mode)
{
    return mode == LS_MODE_FULL;
}

/* A webhook job lists nothing: it covers no other job (its own records are covered by any later poll). */
static int is_webhook(ls_mode_t mode)
{
    return mode == LS_MODE_WEBHOOK;
}

/*
 * Is the job of waiting slot s stale? Yes when a successful job of the same
 * scope that covers it (a full scan covers any job, an incremental one only
 * incremental jobs) started after s was scheduled - everything s would
 * look at was looked at later - or when a later job message of the scope
 * that covers it waits behind s. why says which. A resync job is never
 * stale (a later full job does not republish); a job waiting before a
 * resync job of its scope is covered by it like by any later full job.
 */
static int stale(const worker_t *w, const slot_t *s, char *why, size_t whysz)
{
    char t1[LS_TIME_BUFSZ], t2[LS_TIME_BUFSZ];
    if (s->job.resync) /* an operator asked for this scan and the republication after it: no other job covers it */
        return 0;
    const char *scope = s->scope;
    const ran_t *r = ls_strmap_get(w->ran, scope);
    int64_t covered = !r ? 0 : is_full(s->job.mode) ? r->full_started_ms : r->ok_started_ms;
    if (covered > s->job.scheduled_at) {
        snprintf(why, whysz, "stale: a %sjob of \"%.200s\" that started at %s, after this one was scheduled (%s), "
                 "completed", is_full(s->job.mode) ? "full " : "", scope, ls_time_format(covered, t1),
                 ls_time_format(s->job.scheduled_at, t2));
        return 1;
    }
    for (const slot_t *o = s->next; o; o = o->next) {
        if (o->state != SLOT_WAITING || o->job.scheduled_at < s->job.scheduled_at || is_webhook(o->job.mode) ||
            (is_full(s->job.mode) && !is_full(o->job.mode)))
            continue;
        if (strcmp(o->scope, scope) == 0) {
            snprintf(why, whysz, "duplicate: job \"%.200s\" of the same scope, scheduled at %s, waits behind it",
                     o->job.job_id, ls_time_format(o->job.scheduled_at, t1));
            return 1;
        }
    }
    return 0;
}

/* Remember when a successful job of the scope started (what stale() compares with). */
static void note_ran(worker_t *w, const slot_t *s, const ls_status_t *st)
{
    if (is_webhook(s->job.mode))
        return; /* it covers no other job */
    ran_t *r = ls_strmap_put(w->ran, s->scope, NULL);
    if (!r)
        return; /* out of memory: jobs are only never dropped for this scope */
    if (st->started_at > r->ok_started_ms)
        r->ok_started_ms = st->started_at;
    if (is_full(st->mode != LS_MODE_NONE ? st->mode : s->job.mode) && st->started_at > r->full_started_ms)
        r->full_started_ms = st->started_at;
}

/* Report a stale or duplicate job as skipped without running it; the slot is done once that is delivered. */
static void skip_job(worker_t *w, slot_t *s, const char *why)
{
    ls_status_t st;
    memset(&st, 0, sizeof(st));
    st.ok = st.skipped = 1;
    st.started_at = st.finished_at = ls_time_now_ms();
    snprintf(st.skip_reason, sizeof(st.skip_reason), "%s", why);
    ls_info("job \"%s\" skipped: %s", s->job.job_id, why);
    if (report(w, s, &st) != LS_OK)
        s->not_before = ls_time_mono_ms() + RERUN_PAUSE_MS;
}

/* Another job of s's connection runs (of the same kind), or an earlier one waits: s waits. */
static int connection_busy(const worker_t *w, const slot_t *s)
{
    int busy = 0;
    for (const slot_t *o = w->head; o && !busy; o = o->next)
        busy = o != s && o->state == SLOT_RUNNING && same_connection(o, s);
    /* an earlier waiting job of the connection goes first */
    for (const slot_t *o = w->head; o && o != s && !busy; o = o->next)
        busy = o->state == SLOT_WAITING && same_connection(o, s);
    return busy;
}

/* Poll jobs share the in-flight slots by tenant; catalog jobs have their own room (has_room). */
static int shares_slots(const slot_t *s)
{
    return s->job.kind != LS_JOB_CATALOG;
}

/* The tenant share's counts for one pass: running poll jobs, and waiting ones that could start now. */
static void share_count(worker_t *w, int64_t now)
{
    ls_share_reset(&w->share);
    for (slot_t *s = w->head; s; s = s->next) {
        s->deferred = 0;
        if (!shares_slots(s))
            continue;
        if (s->state == SLOT_RUNNING)
            ls_share_count(&w->share, s->job.tenant, LS_SHARE_RUNNING);
        else if (s->state == SLOT_WAITING && now >= s->not_before && !connection_busy(w, s))
            ls_share_count(&w->share, s->job.tenant, LS_SHARE_READY);
    }
}

/* s's tenant holds its share while another tenant has a job ready: s keeps its place and waits. */
static void defer_job(worker_t *w, slot_t *s)
{
    s->deferred = 1;
    if (s->was_deferred)
        return;
    s->was_deferred = 1;
    w->jobs_deferred++;
    ls_debug("job \"%s\" deferred: tenant \"%s\" runs %zu jobs, its share while other tenants wait "
             "(worker.tenant_max_share)", s->job.job_id, s->job.tenant, ls_share_running(&w->share, s->job.tenant));
}

/* One pass of start_jobs. @return jobs started; *deferred: jobs the tenant share held back. */
static size_t start_pass(worker_t *w, int64_t now, size_t *deferred)
{
    size_t started = 0;
    *deferred = 0;
    share_count(w, now);
    for (slot_t *s = w->head; s; s = s->next) {
        if (s->state != SLOT_WAITING || now < s->not_before)
            continue;
        /* held back by the share whether or not a slot is free now: when one frees, it is not this job's */
        if (shares_slots(s) && !ls_share_admit(&w->share, s->job.tenant) && !connection_busy(w, s)) {
            defer_job(w, s);
            (*deferred)++;
            continue;
        }
        if (!has_room(w, s))
            continue;
        char why[512];
        if (stale(w, s, why, sizeof(why))) {
            skip_job(w, s, why);
            continue;
        }
        if (ls_limiter_saturated(w->sync.limiter))
            break; /* no job may start until a request of the process ends */
        if (connection_busy(w, s))
            continue;
        if (!(s->sj = ls_sync_job_start(&w->sync, &s->job, s->partition))) {
            s->not_before = now + RERUN_PAUSE_MS;
            continue;
        }
        s->state = SLOT_RUNNING;
        running_delta(w, s, +1);
        if (shares_slots(s))
            ls_share_started(&w->share, s->job.tenant);
        started++;
    }
    return started;
}

/*
 * Start waiting slots, in consumption order, while there is room and their
 * connection is free; while the process is at its adaptive in-flight limit
 * (Unified's 429) no job starts. Stale and duplicate jobs are reported as
 * skipped instead. A poll job whose tenant runs its share of the slots
 * while another tenant has a job ready is deferred (ls_share.h); when a
 * pass both started and deferred jobs, the deferred ones may now be alone
 * with free slots, so the pass runs again.
 */
static void start_jobs(worker_t *w, int64_t now)
{
    size_t deferred;
    while (start_pass(w, now, &deferred) > 0 && deferred > 0)
        ;
    w->n_deferred = deferred;
}

/* A running job reached its outcome: report it (done once delivered) or schedule a re-run. */
static void finish_job(worker_t *w, slot_t *s)
{
    ls_status_t st;
    int rc = ls_sync_job_result(s->sj, &st);
    ls_sync_job_destroy(s->sj);
    s->sj = NULL;
    running_delta(w, s, -1);
    w->dirty = 1;
    if (rc != LS_EIO) {
        ls_log(st.ok ? LS_LOG_INFO : LS_LOG_WARN,
               "job \"%s\" %s: pages=%llu records=%llu rejected=%llu events=%llu requests=%llu%s%s",
               s->job.job_id, st.ok ? "done" : "failed", (unsigned long long)st.pages,
               (unsigned long long)st.records, (unsigned long long)st.rejected,
               (unsigned long long)st.events, (unsigned long long)st.requests,
               st.ok ? "" : ": ", st.error);
        if (report(w, s, &st) == LS_OK)
            return;
    } else {
        ls_error("job \"%s\" will run again: %s", s->job.job_id, st.error);
    }
    s->state = SLOT_WAITING;
    s->not_before = ls_time_mono_ms() + RERUN_PAUSE_MS;
}

/* Per partition: drop the leading done slots and commit past the last of them. */
static void commit_done(worker_t *w)
{
    for (;;) {
        int part = -1;
        int64_t next = -1;
        slot_t **pp = &w->head, *prev = NULL;
        /* the first done slot that leads its partition */
        for (slot_t *s = w->head; s && part < 0; s = s->next) {
            if (s->state != SLOT_DONE)
                continue;
            int leads = 1;
            for (slot_t *o = w->head; o != s && leads; o = o->next)
                leads = o->partition != s->partition;
            if (leads)
                part = s->partition;
        }
        if (part < 0)
            return;
        /* remove the leading done slots of that partition */
        while (*pp) {
            slot_t *s = *pp;
            if (s->partition != part) {
                prev = s;
                pp = &s->next;
                continue;
            }
            if (s->state != SLOT_DONE)
                break;
            next = s->offset + 1;
            *pp = s->next;
            if (w->tail == s)
                w->tail = prev;
            slot_free(w, s);
        }
        char err[256];
        if (ls_consumer_commit(w->consumer, w->topic_jobs, part, next, err, sizeof(err)) != LS_OK)
            ls_warn("%s; the job will be consumed again (same event ids)", err);
    }
}

/* A consumed message becomes a slot (a dead-lettered one is done at once). */
static void take_message(worker_t *w, ls_kmsg_t *m)
{
    char why[256];
    slot_t *s = calloc(1, sizeof(*s));
    if (!s) {
        ls_error("out of memory for job message %s [%d] at %lld; it will be consumed again", m->topic,
                 m->partition, (long long)m->offset);
        return;
    }
    s->partition = m->partition;
    s->offset = m->offset;
    if (ls_job_decode(m->value, m->len, &s->job, why, sizeof(why)) != LS_OK) {
        dead_letter(w, m, why);
        s->state = SLOT_DONE;
        w->n_done++;
    } else {
        ls_job_scope(&s->job, s->scope, sizeof(s->scope));
    }
    if (w->tail)
        w->tail->next = s;
    else
        w->head = s;
    w->tail = s;
    w->n_slots++;
    w->dirty = 1;
}

/* Hand completed transfers to their jobs; start due retries; finish done jobs. */
static void step_jobs(worker_t *w)
{
    void *ud;
    ls_http_xfer_t *x;
    ls_producer_poll(w->sync.producer);
    while ((x = ls_http_multi_next_done(w->sync.multi, &ud)))
        ls_sync_job_on_xfer(ud, x);
    int64_t now = ls_time_mono_ms();
    for (slot_t *s = w->head; s; s = s->next) {
        if (s->state == SLOT_REPORTING)
            poll_report(w, s);
        if (s->state != SLOT_RUNNING)
            continue;
        ls_sync_job_step(s->sj, now);
        if (ls_sync_job_done(s->sj))
            finish_job(w, s);
    }
}

/* How long the loop may wait: until the next retry or re-run is due (at most max_ms). */
static int wait_budget(const worker_t *w, int max_ms)
{
    int64_t now = ls_time_mono_ms(), due = now + max_ms;
    for (const slot_t *s = w->head; s; s = s->next) {
        int64_t t = s->state == SLOT_RUNNING     ? ls_sync_job_timer(s->sj)
                    : s->state == SLOT_WAITING   ? s->not_before
                    : s->state == SLOT_REPORTING ? s->report_deadline
                                                 : 0;
        if (t && t < due)
            due = t;
    }
    return due <= now ? 0 : (int)(due - now);
}

/* Whether partition p has a job running or reporting in this process, or waits for its restore. */
static int partition_busy(const worker_t *w, int p)
{
    for (const slot_t *s = w->head; s; s = s->next)
        if (s->partition == p && (s->state == SLOT_RUNNING || s->state == SLOT_REPORTING))
            return 1;
    for (size_t i = 0; i < w->n_unrestored; i++)
        if (w->unrestored[i].partition == p)
            return 1;
    return 0;
}

#define COMPACT_MIN_BYTES (16u << 20) /* smaller environments are not worth a copy */

/* At most one partition a call: an assigned, idle one whose LMDB environment grew sparse (ls_store_compact_if_sparse). */
static void compact_sparse(worker_t *w)
{
    for (size_t i = 0; i < w->n_assigned; i++) {
        int p = w->assigned[i];
        uint64_t before, after;
        char err[512];
        if (partition_busy(w, p))
            continue;
        int rc = ls_store_compact_if_sparse(w->sync.store, p, COMPACT_MIN_BYTES, &before, &after, err, sizeof(err));
        if (rc == LS_OK)
            ls_info("partition %d: lmdb compacted, %llu -> %llu bytes", p, (unsigned long long)before,
                    (unsigned long long)after);
        else if (rc != LS_ENOTFOUND)
            ls_warn("partition %d: %s; the store stays as it was", p, err);
        if (rc != LS_ENOTFOUND)
            return;
    }
}

/* Once a second from the loop: flush deferred LMDB commits (a no-op when nothing is unsynced),
 * keep the map's resident pages under worker.lmdb_resident_mb, and compact a sparse idle partition. */
static void sync_store(worker_t *w)
{
    char err[256];
    w->next_sync_at = ls_time_mono_ms() + STORE_SYNC_MS;
    if (ls_store_sync(w->sync.store, err, sizeof(err)) != LS_OK)
        ls_warn("%s; the local store stays marked unsynced (after a reboot it is restored from the changelog)", err);
    if (ls_store_trim_map(w->sync.store))
        w->map_trims++;
    compact_sparse(w);
}

/*
 * One wait point: the curl sockets, the producer's event fd (delivery
 * reports) and the earliest timer; the consumer is polled without waiting
 * unless the process holds no job at all.
 */
/* Heartbeat every turn of the loop; gauges and counters kept elsewhere once a second. */
static void metrics_tick(worker_t *w, volatile sig_atomic_t *stop)
{
    int64_t now = ls_time_mono_ms();
    ls_metrics_heartbeat(now, *stop                               ? LS_PROC_DRAINING
                              : !ls_consumer_reachable(w->consumer) ? LS_PROC_NO_KAFKA
                              : !w->joined                          ? LS_PROC_STARTING
                              : w->n_unrestored                     ? LS_PROC_RESTORING
                                                                    : LS_PROC_READY);
    if (now < w->next_metrics_at)
        return;
    w->next_metrics_at = now + 1000;
    ls_worker_metrics_limiter(w->sync.limiter, &w->limiter_seen);
    ls_metric_set(WM_JOBS_RUNNING, 0, 0, (int64_t)(w->n_slots - w->n_done));
    ls_metric_set(WM_RESTORE_PENDING, 0, 0, (int64_t)w->n_unrestored);
    ls_metric_add(WM_RESTORE_RECORDS, 0, 0, w->restore.records - w->restore_records_seen);
    ls_metric_add(WM_RESTORE_WIPES, 0, 0, w->restore.wipes - w->restore_wipes_seen);
    ls_metric_add(WM_DEAD_LETTERS, 0, 0, w->jobs_dead - w->dead_seen);
    ls_metric_add(WM_JOBS_DEFERRED, 0, 0, w->jobs_deferred - w->deferred_seen);
    ls_metric_set(WM_JOBS_DEFERRED_NOW, 0, 0, (int64_t)w->n_deferred);
    w->deferred_seen = w->jobs_deferred;
    w->restore_records_seen = w->restore.records;
    w->restore_wipes_seen = w->restore.wipes;
    w->dead_seen = w->jobs_dead;
    for (size_t i = 0; i < w->n_assigned; i++) {
        int64_t lag;
        if (ls_consumer_lag(w->consumer, w->assigned[i], &lag) == LS_OK)
            ls_metric_set(WM_CONSUMER_LAG, w->assigned[i], 0, lag);
    }
    uint64_t used, size;
    if (ls_store_usage(w->sync.store, &used, &size) == LS_OK) {
        ls_metric_set(WM_LMDB_USED, 0, 0, (int64_t)used);
        ls_metric_set(WM_LMDB_SIZE, 0, 0, (int64_t)size);
    }
}

static void run_loop(worker_t *w, volatile sig_atomic_t *stop)
{
    /* Consume while fewer than 2 x max_in_flight jobs are not done. Done slots are held only
     * until the partition's offset commit passes them; a long job (a stalled upstream) at the
     * head of its partition keeps the done ones behind it, so they are bounded apart. */
    size_t max_active = (size_t)w->cfg->max_in_flight * 2, max_held = (size_t)w->cfg->max_in_flight * 64;
    int kfd = ls_producer_event_fd(w->sync.producer);
    while (!*stop) {
        metrics_tick(w, stop);
        if (restore_due(w))
            restore_pending(w);
        /* while a restore is due, its step's read is the loop's only wait */
        int restoring = restore_due(w);
        for (int i = 0; w->n_slots - w->n_done < max_active && w->n_slots < max_held && i < 64 && !*stop; i++) {
            ls_kmsg_t m;
            int budget = i || w->n_slots || restoring ? 0 : wait_budget(w, w->n_unrestored ? 100 : 500);
            if (ls_consumer_poll(w->consumer, budget, &m) != LS_OK)
                break;
            take_message(w, &m);
            ls_kmsg_release(&m);
        }
        if (w->dirty) {
            w->dirty = 0;
            start_jobs(w, ls_time_mono_ms());
        }
        if (w->n_slots)
            ls_http_multi_run(w->sync.multi, restoring ? 0 : kfd >= 0 ? wait_budget(w, 50) : 1, kfd);
        step_jobs(w);
        if (w->dirty) {
            commit_done(w);
            start_jobs(w, ls_time_mono_ms());
        }
        if (ls_time_mono_ms() >= w->next_sync_at)
            sync_store(w);
        /* waiting slots whose re-run time came */
        for (slot_t *s = w->head; s && !w->dirty; s = s->next)
            if (s->state == SLOT_WAITING && s->not_before && ls_time_mono_ms() >= s->not_before) {
                s->not_before = 0;
                w->dirty = 1;
            }
    }
}

static void log_limiter(const worker_t *w)
{
    ls_limiter_stats_t ls;
    ls_limiter_get_stats(w->sync.limiter, &ls);
    ls_info("rate limiter: granted=%llu delayed=%llu vendor_429=%llu unified_429=%llu connection_cuts=%llu "
            "unified_cuts=%llu connections=%zu",
            (unsigned long long)ls.granted, (unsigned long long)ls.delayed, (unsigned long long)ls.vendor_429,
            (unsigned long long)ls.unified_429, (unsigned long long)ls.connection_cuts,
            (unsigned long long)ls.unified_cuts, ls.connections);
}

int ls_worker_run(const ls_config_t *cfg, volatile sig_atomic_t *stop)
{
    worker_t w;
    memset(&w, 0, sizeof(w));
    w.cfg = cfg;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = open_clients(&w, stop);
    if (rc == LS_OK) {
        ls_info("worker ready: consuming \"%s\" as group \"%s\", state in \"%s\", up to %d jobs in flight, "
                "worker.tenant_max_share %s (%zu jobs of one tenant while another tenant's job waits)",
                w.topic_jobs, cfg->group_id, cfg->lmdb_path, cfg->max_in_flight, cfg->tenant_max_share, w.share.cap);
        run_loop(&w, stop);
    }
    if (rc == LS_OK)
        log_limiter(&w);
    if (rc == LS_OK)
        ls_info("worker stopping: jobs ok=%llu failed=%llu skipped=%llu dead-lettered=%llu abandoned=%llu deferred=%llu; "
                "lmdb map trims=%llu; restored partitions=%llu records=%llu wipes=%llu changelog records skipped=%llu",
                (unsigned long long)w.jobs_ok, (unsigned long long)w.jobs_failed, (unsigned long long)w.jobs_skipped,
                (unsigned long long)w.jobs_dead, (unsigned long long)w.jobs_abandoned,
                (unsigned long long)w.jobs_deferred, (unsigned long long)w.map_trims,
                (unsigned long long)w.restore.partitions, (unsigned long long)w.restore.records,
                (unsigned long long)w.restore.wipes, (unsigned long long)w.restore.skipped);
    close_clients(&w);
    curl_global_cleanup();
    return rc;
}
