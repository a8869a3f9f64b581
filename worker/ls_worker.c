/*
 * ls_worker.c - the worker process loop.
 *
 * Order per job (design-brief section 3): run the job (pages delivered and
 * stored one by one), produce its status record and wait for delivery, then
 * commit the job's offset. A job that failed on the upstream is reported
 * and committed (the coordinator schedules the next attempt); a job that
 * failed on Kafka or LMDB is re-run in place after a pause, so its offset
 * is never committed past unfinished work. A job message that does not
 * decode goes to the dead-letter topic with its reason and is committed.
 *
 * Partitions: the group's rebalance callback (ls_kafka, eager protocol)
 * pauses every partition it assigns; the loop below restores each one from
 * the changelog (ls_restore) and only then resumes it. Callbacks fire only
 * inside ls_consumer_poll(), i.e. between jobs, so no job of a revoked
 * partition is ever in flight when it is revoked. A commit that fails
 * because the group moved on (rebalance in progress, member dropped) only
 * means the job is consumed again: at least once, with the same event ids.
 */
#include "ls_worker.h"
#include "ls_err.h"
#include "ls_http.h"
#include "ls_job.h"
#include "ls_kafka.h"
#include "ls_log.h"
#include "ls_restore.h"
#include "ls_store.h"
#include "ls_sync.h"
#include "ls_time.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RERUN_PAUSE_MS 2000
#define RESTORE_RETRY_MS 5000

typedef struct worker {
    const ls_config_t *cfg;
    ls_consumer_t *consumer;
    ls_sync_ctx_t sync;
    char topic_jobs[128], topic_status[128], topic_dlq[128];
    uint64_t jobs_ok, jobs_failed, jobs_dead;
    ls_restore_ctx_t restore;
    int *todo;                  /* assigned partitions still paused, waiting for their restore */
    size_t n_todo, cap_todo;
    int64_t restore_retry_at;   /* monotonic ms */
} worker_t;

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
    w->n_todo = 0;
    if (what == LS_REBALANCE_REVOKE) {
        ls_info("partitions [%s] revoked%s", list,
                lost ? " (lost: this member was dropped; uncommitted jobs will be consumed again)" : "");
        return;
    }
    if (n > w->cap_todo) {
        int *t = realloc(w->todo, n * sizeof(*t));
        if (!t) {
            ls_error("out of memory for %zu assigned partitions: they stay paused", n);
            return;
        }
        w->todo = t;
        w->cap_todo = n;
    }
    memcpy(w->todo, parts, n * sizeof(*parts));
    w->n_todo = n;
    w->restore_retry_at = 0;
    ls_info("partitions [%s] assigned: paused until restored from the changelog", list);
}

/* Restore every paused partition; resume those that succeeded. */
static void restore_pending(worker_t *w)
{
    size_t keep = 0;
    for (size_t i = 0; i < w->n_todo; i++) {
        int p = w->todo[i];
        ls_restore_stats_t st;
        int rc = *w->sync.stop ? LS_ESTOP : ls_restore_partition(&w->restore, p, &st);
        if (rc == LS_OK && ls_consumer_resume(w->consumer, p) == LS_OK)
            continue;
        if (rc != LS_ESTOP && rc != LS_OK)
            ls_warn("partition %d stays paused: restore failed (%s); next attempt in %d s", p, ls_strerror(rc),
                    RESTORE_RETRY_MS / 1000);
        w->todo[keep++] = p;
    }
    w->n_todo = keep;
    if (keep)
        w->restore_retry_at = ls_time_mono_ms() + RESTORE_RETRY_MS;
}

static int open_clients(worker_t *w, volatile sig_atomic_t *stop)
{
    char err[512];
    const ls_config_t *cfg = w->cfg;
    ls_config_topic(cfg, "poll.jobs", w->topic_jobs, sizeof(w->topic_jobs));
    ls_config_topic(cfg, "sync.status", w->topic_status, sizeof(w->topic_status));
    ls_config_topic(cfg, "poll.dlq", w->topic_dlq, sizeof(w->topic_dlq));
    ls_config_topic(cfg, "activity.changes", w->sync.topic_changes, sizeof(w->sync.topic_changes));
    ls_config_topic(cfg, "activity.state", w->sync.topic_state, sizeof(w->sync.topic_state));
    w->sync.cfg = cfg;
    w->sync.stop = stop;
    w->restore.cfg = cfg;
    w->restore.stop = stop;
    snprintf(w->restore.topic_state, sizeof(w->restore.topic_state), "%s", w->sync.topic_state);
    snprintf(w->restore.topic_dlq, sizeof(w->restore.topic_dlq), "%s", w->topic_dlq);
    if (!(w->sync.store = ls_store_new(cfg->lmdb_path, (size_t)cfg->lmdb_map_mb, err, sizeof(err))) ||
        !(w->sync.producer = ls_producer_new(cfg, 10000, err, sizeof(err))) ||
        !(w->sync.http = ls_http_new(cfg->unified_token, cfg->http_timeout_s, err, sizeof(err))) ||
        !(w->consumer = ls_consumer_new_rebalance(cfg, cfg->group_id, w->topic_jobs, on_rebalance, w, err,
                                                  sizeof(err)))) {
        ls_error("worker cannot start: %s", err);
        return LS_EINVAL;
    }
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
    ls_consumer_destroy(w->consumer);
    ls_restore_release(&w->restore);
    free(w->todo);
    ls_http_destroy(w->sync.http);
    ls_producer_destroy(w->sync.producer);
    ls_store_destroy(w->sync.store);
}

/* Produce the status record and wait for it. */
static int report(worker_t *w, const ls_job_t *job, const ls_status_t *st)
{
    char scope[2 * LS_STR_MAX + 2], err[256];
    char *v = ls_status_encode(job, st);
    if (!v)
        return LS_ENOMEM;
    ls_job_scope(job, scope, sizeof(scope));
    ls_batch_t b;
    ls_batch_init(&b);
    int rc = ls_producer_send(w->sync.producer, w->topic_status, -1, scope, strlen(scope), v,
                              strlen(v), NULL, 0, &b, 0);
    free(v);
    if (rc == LS_OK)
        rc = ls_producer_wait(w->sync.producer, &b, 30000, err, sizeof(err));
    if (rc != LS_OK)
        ls_error("status of job \"%s\" not delivered: %s", job->job_id, err);
    return rc;
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

/* Run a job until it reaches an outcome worth committing; LS_ESTOP on shutdown. */
static int run_job(worker_t *w, const ls_job_t *job, int partition)
{
    for (;;) {
        ls_status_t st;
        int rc = ls_sync_run(&w->sync, job, partition, &st);
        if (rc == LS_ESTOP)
            return rc;
        if (rc != LS_EIO) {
            if (st.ok)
                w->jobs_ok++;
            else
                w->jobs_failed++;
            ls_log(st.ok ? LS_LOG_INFO : LS_LOG_WARN,
                   "job \"%s\" %s: pages=%llu records=%llu rejected=%llu events=%llu requests=%llu%s%s",
                   job->job_id, st.ok ? "done" : "failed", (unsigned long long)st.pages,
                   (unsigned long long)st.records, (unsigned long long)st.rejected,
                   (unsigned long long)st.events, (unsigned long long)st.requests,
                   st.ok ? "" : ": ", st.error);
            if (report(w, job, &st) == LS_OK)
                return LS_OK;
        } else {
            ls_error("job \"%s\" will run again: %s", job->job_id, st.error);
        }
        for (int i = 0; i < RERUN_PAUSE_MS / 100 && !*w->sync.stop; i++) {
            struct timespec ts = {0, 100000000L};
            nanosleep(&ts, NULL);
        }
        if (*w->sync.stop)
            return LS_ESTOP;
    }
}

static void handle_message(worker_t *w, ls_kmsg_t *m)
{
    ls_job_t job;
    char why[256], err[256];
    if (ls_job_decode(m->value, m->len, &job, why, sizeof(why)) != LS_OK) {
        dead_letter(w, m, why);
    } else if (run_job(w, &job, m->partition) == LS_ESTOP) {
        ls_info("job \"%s\" abandoned at shutdown; it will be consumed again", job.job_id);
        return;
    }
    if (ls_consumer_commit(w->consumer, m->topic, m->partition, m->offset + 1, err, sizeof(err)) != LS_OK)
        ls_warn("%s; the job will be consumed again (same event ids)", err);
}

int ls_worker_run(const ls_config_t *cfg, volatile sig_atomic_t *stop)
{
    worker_t w;
    memset(&w, 0, sizeof(w));
    w.cfg = cfg;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = open_clients(&w, stop);
    if (rc == LS_OK)
        ls_info("worker ready: consuming \"%s\" as group \"%s\", state in \"%s\"", w.topic_jobs,
                cfg->group_id, cfg->lmdb_path);
    while (rc == LS_OK && !*stop) {
        ls_kmsg_t m;
        if (w.n_todo && ls_time_mono_ms() >= w.restore_retry_at)
            restore_pending(&w);
        if (ls_consumer_poll(w.consumer, w.n_todo ? 100 : 500, &m) != LS_OK)
            continue;
        handle_message(&w, &m);
        ls_kmsg_release(&m);
    }
    if (rc == LS_OK)
        ls_info("worker stopping: jobs ok=%llu failed=%llu dead-lettered=%llu; restored partitions=%llu "
                "records=%llu wipes=%llu changelog records skipped=%llu",
                (unsigned long long)w.jobs_ok, (unsigned long long)w.jobs_failed,
                (unsigned long long)w.jobs_dead, (unsigned long long)w.restore.partitions,
                (unsigned long long)w.restore.records, (unsigned long long)w.restore.wipes,
                (unsigned long long)w.restore.skipped);
    close_clients(&w);
    curl_global_cleanup();
    return rc;
}
