/* ls_worker_metrics.c - the worker's metric catalog and the helpers that fill it. */
#include "ls_worker_metrics.h"

#include <stdint.h>

/* Index = ls_change_t - 1 (LS_CHANGE_NONE is not an event). */
static const char *const event_types[] = {"created", "completed", "reopened", "progressed",
                                          "regressed", "updated", "removed", NULL};
static const char *const outcomes[] = {"ok", "failed", "skipped", NULL};
static const char *const modes[] = {"full", "incremental", "webhook", NULL}; /* ls_mode_t - 1 */
static const char *const results[] = {"changed", "unchanged", "rejected", NULL};
static const char *const classes[] = {"2xx", "3xx", "4xx", "429", "5xx", "error", NULL};
static const char *const sources[] = {"vendor", "unified", NULL};
static const char *const lists[] = {"course", "content", NULL}; /* ls_catalog_kind_t */
static const char *const current_kinds[] = {"record", "tombstone", "republished", NULL};
static const char *const rollup_topics[] = {"enrollments", "courses", NULL};
static const char *const hostile_kinds[] = {"page_over_limit", "page_repeated", "page_cap", "duplicate_id", NULL};

/* LMDB write-lock waits and commits: from an uncontended lock (microseconds) to an fsync'd commit. */
static const double lmdb_bounds[LS_METRICS_BUCKETS - 1] = {1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3,
                                                            0.01, 0.03, 0.1, 0.3, 1};

/* Freshness spans a webhook's seconds and a polling interval's hours. */
static const double freshness_bounds[LS_METRICS_BUCKETS - 1] = {0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600};

#define G(n, h) {n, h, LS_MT_GAUGE, LS_AGG_SUM, {{0}}}
#define C(n, h) {n, h, LS_MT_COUNTER, LS_AGG_SUM, {{0}}}
#define LIST(label, v) {LS_DIM_LIST, label, v}
#define INTEGRATION {LS_DIM_KEY, "integration", NULL}

const ls_metric_def_t ls_worker_metrics[WM__COUNT] = {
    [WM_PROCESSES] = G("lmsync_worker_processes", "Worker processes running under this pod's master."),
    [WM_RESTARTS] = C("lmsync_worker_process_restarts_total", "Worker processes restarted after they died."),
    [WM_JOBS] = {"lmsync_worker_jobs_total", "Poll jobs reported, by outcome and by the mode actually run.",
                 LS_MT_COUNTER, LS_AGG_SUM, {LIST("outcome", outcomes), LIST("mode", modes)}},
    [WM_PAGES] = C("lmsync_worker_pages_total", "Upstream pages of activities processed."),
    [WM_ACTIVITIES] = {"lmsync_worker_activities_total",
                       "Activity records read: changed (stored state changed), unchanged, rejected (failed validation).",
                       LS_MT_COUNTER, LS_AGG_SUM, {LIST("result", results)}},
    [WM_EVENTS] = {"lmsync_worker_events_total", "Change events produced, by type (a delivery that fails fails its job).", LS_MT_COUNTER,
                   LS_AGG_SUM, {LIST("type", event_types)}},
    [WM_REQUESTS] = {"lmsync_upstream_requests_total", "Upstream HTTP requests, by integration type and status class.",
                     LS_MT_COUNTER, LS_AGG_SUM, {INTEGRATION, LIST("status_class", classes)}},
    [WM_REQUEST_SECONDS] = {"lmsync_upstream_request_duration_seconds",
                            "Upstream HTTP request duration, by integration type.", LS_MT_HISTOGRAM, LS_AGG_SUM,
                            {INTEGRATION}},
    [WM_RATE_WAITS] = C("lmsync_ratelimit_waits_total", "Requests the rate limiter held back for later."),
    [WM_RATE_429] = {"lmsync_ratelimit_429_total", "429 answers: from the vendor (per connection) or from Unified itself.",
                     LS_MT_COUNTER, LS_AGG_SUM, {LIST("source", sources)}},
    [WM_INFLIGHT_LIMIT] = G("lmsync_ratelimit_inflight_limit",
                            "The adaptive limit of upstream requests in flight, summed over worker processes."),
    [WM_JOBS_RUNNING] = G("lmsync_worker_jobs_running", "Jobs taken from the jobs topic and not reported yet."),
    [WM_RESTORE_PENDING] = G("lmsync_restore_partitions_pending",
                             "Assigned partitions paused until their state is restored from the changelog."),
    [WM_RESTORE_RECORDS] = C("lmsync_restore_records_total", "Changelog records replayed into LMDB."),
    [WM_RESTORE_WIPES] = C("lmsync_restore_wipes_total", "Partitions whose LMDB state was wiped and fully restored."),
    [WM_DEAD_LETTERS] = C("lmsync_worker_dead_letters_total", "Undecodable messages copied to the dead-letter topic."),
    [WM_CONSUMER_LAG] = {"lmsync_consumer_lag", "Jobs waiting in an assigned partition of the jobs topic.",
                         LS_MT_GAUGE, LS_AGG_SUM, {{LS_DIM_PARTITION, "partition", NULL}}},
    [WM_LMDB_USED] = {"lmsync_lmdb_map_used_bytes", "Bytes of the LMDB map in use.", LS_MT_GAUGE, LS_AGG_MAX, {{0}}},
    [WM_LMDB_SIZE] = {"lmsync_lmdb_map_size_bytes", "Bytes of the LMDB map (worker.lmdb_map_mb).", LS_MT_GAUGE,
                      LS_AGG_MAX, {{0}}},
    [WM_HOSTILE] = {"lmsync_worker_hostile_input_total",
                    "Upstream answers that break the API's contract: a page over the limit sent, a page repeating the "
                    "previous one, a scan past its page cap (each fails its job), a duplicated id (ignored).",
                    LS_MT_COUNTER, LS_AGG_SUM, {LIST("kind", hostile_kinds)}},
    [WM_FRESHNESS] = {"lmsync_event_freshness_seconds",
                      "Seconds from a record's own upstream instant (latest of updated_at, completed_at, started_at, "
                      "created_at) to the production of its change event, by the mode of the job.",
                      LS_MT_HISTOGRAM, LS_AGG_SUM, {LIST("mode", modes)}, freshness_bounds},
    [WM_ENRICH_REQUESTS] = {"lmsync_enrichment_requests_total",
                            "Upstream requests of catalog jobs (course and content names), by list; they share the "
                            "connection's rate budget with the poll jobs.", LS_MT_COUNTER, LS_AGG_SUM, {LIST("list", lists)}},
    [WM_ENRICH_JOBS] = {"lmsync_enrichment_jobs_total", "Catalog jobs reported, by outcome.", LS_MT_COUNTER, LS_AGG_SUM,
                        {LIST("outcome", outcomes)}},
    [WM_CURRENT] = {"lmsync_worker_current_records_total",
                    "Records produced on the current topic: record (a changed state), tombstone (removed), "
                    "republished (a resync job).",
                    LS_MT_COUNTER, LS_AGG_SUM, {LIST("kind", current_kinds)}},
    [WM_ROLLUPS] = {"lmsync_worker_rollup_records_total",
                    "Records produced on the rollup topics, by topic (enrollments, courses) and kind: record (a "
                    "changed rollup), tombstone (no activity or learner left), republished (a resync job).",
                    LS_MT_COUNTER, LS_AGG_SUM, {LIST("topic", rollup_topics), LIST("kind", current_kinds)}},
    [WM_JOBS_DEFERRED] = C("lmsync_worker_jobs_deferred_total",
                           "Poll jobs held back (once each) because their tenant ran its share of the in-flight "
                           "slots (worker.tenant_max_share) while another tenant's job was ready."),
    [WM_JOBS_DEFERRED_NOW] = G("lmsync_worker_jobs_deferred",
                               "Poll jobs held back now by their tenant's share of the in-flight slots."),
    [WM_LMDB_WRITE_WAIT] = {"lmsync_worker_lmdb_write_wait_seconds",
                            "Seconds each LMDB write transaction waited to begin: for the environment's writer lock, "
                            "held by another process's write or a sync.", LS_MT_HISTOGRAM, LS_AGG_SUM, {{0}}, lmdb_bounds},
    [WM_LMDB_COMMIT] = {"lmsync_worker_lmdb_commit_seconds",
                        "Seconds each LMDB write transaction took to commit (the writer lock is held throughout).",
                        LS_MT_HISTOGRAM, LS_AGG_SUM, {{0}}, lmdb_bounds},
    [WM_LMDB_HELD] = {"lmsync_worker_lmdb_write_held_seconds",
                      "Seconds each LMDB write transaction held the environment's writer lock: its writes and its "
                      "commit.", LS_MT_HISTOGRAM, LS_AGG_SUM, {{0}}, lmdb_bounds},
};

void ls_worker_metrics_job(const ls_job_t *job, const ls_status_t *st)
{
    int outcome = st->skipped ? 2 : st->ok ? 0 : 1;
    if (job->kind == LS_JOB_CATALOG) {
        ls_metric_add(WM_ENRICH_JOBS, outcome, 0, 1);
        return;
    }
    ls_mode_t mode = st->mode != LS_MODE_NONE ? st->mode : job->mode;
    ls_metric_add(WM_JOBS, outcome, mode > LS_MODE_NONE ? (int)mode - 1 : 0, 1);
    if (st->skipped)
        return;
    uint64_t changed = st->state_writes < st->records ? st->state_writes : st->records;
    uint64_t rest = st->records - changed;
    uint64_t rejected = st->rejected < rest ? st->rejected : rest;
    ls_metric_add(WM_PAGES, 0, 0, st->pages);
    ls_metric_add(WM_ACTIVITIES, WM_RESULT_CHANGED, 0, changed);
    ls_metric_add(WM_ACTIVITIES, WM_RESULT_REJECTED, 0, rejected);
    ls_metric_add(WM_ACTIVITIES, WM_RESULT_UNCHANGED, 0, rest - rejected);
}

static int status_class(long status)
{
    if (status == 429)
        return 3;
    if (status >= 200 && status < 300)
        return 0;
    if (status >= 300 && status < 400)
        return 1;
    if (status >= 400 && status < 500)
        return 2;
    if (status >= 500 && status < 600)
        return 4;
    return 5;
}

void ls_worker_metrics_limiter(const ls_limiter_t *l, ls_limiter_stats_t *prev)
{
    ls_limiter_stats_t now;
    ls_limiter_get_stats(l, &now);
    ls_metric_add(WM_RATE_WAITS, 0, 0, now.delayed - prev->delayed);
    ls_metric_add(WM_RATE_429, WM_429_VENDOR, 0, now.vendor_429 - prev->vendor_429);
    ls_metric_add(WM_RATE_429, WM_429_UNIFIED, 0, now.unified_429 - prev->unified_429);
    ls_metric_set(WM_INFLIGHT_LIMIT, 0, 0, (int64_t)ls_limiter_inflight_limit(l));
    *prev = now;
}

void ls_worker_metrics_enrichment_request(int kind)
{
    ls_metric_add(WM_ENRICH_REQUESTS, kind, 0, 1);
}

void ls_worker_metrics_request(const char *integration, const ls_http_resp_t *resp)
{
    int k = ls_metrics_key(integration);
    ls_metric_add(WM_REQUESTS, k, status_class(resp->status), 1);
    if (resp->status)
        ls_metric_observe(WM_REQUEST_SECONDS, k, 0, resp->seconds);
}

void ls_worker_metrics_freshness(const ls_activity_t *rec, ls_mode_t mode, int64_t produced_ms)
{
    const ls_field_t instants[] = {LS_F_UPDATED_AT, LS_F_COMPLETED_AT, LS_F_STARTED_AT, LS_F_CREATED_AT};
    const int64_t at[] = {rec->updated_at, rec->completed_at, rec->started_at, rec->created_at};
    int64_t latest = INT64_MIN;
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
        if (rec->pres[instants[i]] == LS_PRESENT && at[i] > latest)
            latest = at[i];
    if (latest != INT64_MIN && mode > LS_MODE_NONE)
        ls_metric_observe(WM_FRESHNESS, (int)mode - 1, 0, (double)(produced_ms - latest) / 1000.0);
}

void ls_worker_metrics_lmdb_write(double wait_s, double held_s, double commit_s, void *ud)
{
    (void)ud;
    ls_metric_observe(WM_LMDB_WRITE_WAIT, 0, 0, wait_s);
    ls_metric_observe(WM_LMDB_HELD, 0, 0, held_s);
    ls_metric_observe(WM_LMDB_COMMIT, 0, 0, commit_s);
}
