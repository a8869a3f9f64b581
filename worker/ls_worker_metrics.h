/*
 * ls_worker_metrics.h - the worker's metric catalog (ls_metrics.h rows;
 * docs/operations.md lists them) and the helpers that fill it. Slot 0 is
 * the prefork master, slot i + 1 its worker process i.
 */
#ifndef LS_WORKER_METRICS_H
#define LS_WORKER_METRICS_H

#include "ls_http.h"
#include "ls_job.h"
#include "ls_metrics.h"
#include "ls_ratelimit.h"

typedef enum {
    WM_PROCESSES,        /* gauge (master): worker processes running */
    WM_RESTARTS,         /* counter (master): worker processes restarted after dying */
    WM_JOBS,             /* counter {outcome}{mode} */
    WM_PAGES,            /* counter */
    WM_ACTIVITIES,       /* counter {result} */
    WM_EVENTS,           /* counter {type} */
    WM_REQUESTS,         /* counter {integration}{status_class} */
    WM_REQUEST_SECONDS,  /* histogram {integration} */
    WM_RATE_WAITS,       /* counter: requests the rate limiter held back */
    WM_RATE_429,         /* counter {source}: 429 answers seen by the limiter */
    WM_INFLIGHT_LIMIT,   /* gauge: the adaptive in-flight request limit (summed over processes) */
    WM_JOBS_RUNNING,     /* gauge */
    WM_RESTORE_PENDING,  /* gauge: assigned partitions paused until their restore completes */
    WM_RESTORE_RECORDS,  /* counter: changelog records replayed */
    WM_RESTORE_WIPES,    /* counter: partitions wiped and fully restored */
    WM_DEAD_LETTERS,     /* counter: messages copied to the dead-letter topic */
    WM_CONSUMER_LAG,     /* gauge {partition}: jobs waiting in an assigned partition */
    WM_LMDB_USED,        /* gauge: bytes of the LMDB map in use */
    WM_LMDB_SIZE,        /* gauge: bytes of the LMDB map */
    WM_HOSTILE,          /* counter {kind}: upstream answers that break the API's contract (WM_HOSTILE_*) */
    WM_FRESHNESS,        /* histogram {mode}: record's upstream instant -> its event's production */
    WM_ENRICH_REQUESTS,  /* counter {list}: requests of catalog jobs (course, content lists) */
    WM_ENRICH_JOBS,      /* counter {outcome}: catalog jobs reported */
    WM_CURRENT,          /* counter {kind}: current records produced (WM_CURRENT_*) */
    WM_ROLLUPS,          /* counter {topic}{kind}: rollup records produced (WM_ROLLUP_*, WM_CURRENT_* kinds) */
    WM_JOBS_DEFERRED,    /* counter: jobs held back by their tenant's share of the slots (once per job) */
    WM_JOBS_DEFERRED_NOW,/* gauge: jobs held back by their tenant's share now */
    WM_LMDB_WRITE_WAIT,  /* histogram: seconds a write transaction waited for LMDB's writer lock */
    WM_LMDB_COMMIT,      /* histogram: seconds of a write transaction's commit */
    WM_LMDB_HELD,        /* histogram: seconds a write transaction held LMDB's writer lock */
    WM__COUNT
} ls_worker_metric_t;

enum { WM_RESULT_CHANGED, WM_RESULT_UNCHANGED, WM_RESULT_REJECTED };
enum { WM_429_VENDOR, WM_429_UNIFIED };
enum { WM_CURRENT_RECORD, WM_CURRENT_TOMBSTONE, WM_CURRENT_REPUBLISHED }; /* also the kinds of WM_ROLLUPS */
enum { WM_ROLLUP_ENROLLMENTS, WM_ROLLUP_COURSES };
enum { WM_HOSTILE_OVER_LIMIT, WM_HOSTILE_REPEATED_PAGE, WM_HOSTILE_PAGE_CAP, WM_HOSTILE_DUPLICATE_ID };

extern const ls_metric_def_t ls_worker_metrics[WM__COUNT];

/** Count one reported job: outcome and mode, pages, activities, rate waits (a catalog job: its outcome only). */
void ls_worker_metrics_job(const ls_job_t *job, const ls_status_t *st);

/** Count one upstream request of an integration type: status class and duration. */
void ls_worker_metrics_request(const char *integration, const ls_http_resp_t *resp);

/** Count one request of a catalog job for list kind (ls_catalog_kind_t). */
void ls_worker_metrics_enrichment_request(int kind);

/** Add the limiter's counters since the last call (prev holds the last values) and set its gauges. */
void ls_worker_metrics_limiter(const ls_limiter_t *l, ls_limiter_stats_t *prev);

/**
 * Observe an event's freshness: from the record's own upstream instant (the
 * latest of updated_at, completed_at, started_at, created_at it reports) to
 * produced_ms (ms since epoch). Nothing when the record reports none.
 */
void ls_worker_metrics_freshness(const ls_activity_t *rec, ls_mode_t mode, int64_t produced_ms);

/** ls_store_timing_cb_t of the worker's store: observes the LMDB write-lock wait and commit time. */
void ls_worker_metrics_lmdb_write(double wait_s, double held_s, double commit_s, void *ud);

#endif
