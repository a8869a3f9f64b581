/*
 * ls_sync.h - run one poll job: page through the scope, normalize, diff
 * against LMDB, produce events and changelog records, wait for delivery,
 * then store state (design-brief section 3, steps 1-4); after a complete
 * full scan, count misses and emit `removed` (design-brief section 4).
 */
#ifndef LS_SYNC_H
#define LS_SYNC_H

#include <signal.h>
#include "ls_config.h"
#include "ls_http.h"
#include "ls_job.h"
#include "ls_kafka.h"
#include "ls_page.h"
#include "ls_ratelimit.h"
#include "ls_store.h"

typedef struct ls_sync_ctx {
    const ls_config_t *cfg;        /* borrowed */
    ls_http_t *http;               /* borrowed: blocking GETs (removal re-checks) */
    ls_http_multi_t *multi;        /* borrowed: page requests of every job, concurrently */
    ls_store_t *store;             /* borrowed */
    ls_producer_t *producer;       /* borrowed */
    ls_limiter_t *limiter;         /* borrowed; NULL = no rate limits: every page request asks it first */
    char topic_changes[128];
    char topic_state[128];
    volatile sig_atomic_t *stop;   /* set by the signal handler */
    /* scratch shared by the jobs (a page is parsed and normalized in one call): */
    ls_page_t parsed;              /* ls_page_init() before the first job */
} ls_sync_ctx_t;

/** One running job (opaque). */
typedef struct ls_sync_job ls_sync_job_t;

/**
 * Start job, whose message came from jobs partition `partition`: read the
 * scope's sync record, choose the mode and request the first page on
 * ctx->multi (transfers carry the job as their ud).
 * @return the job (ls_sync_job_destroy), already done when it failed at
 *         once; NULL when out of memory.
 */
ls_sync_job_t *ls_sync_job_start(ls_sync_ctx_t *ctx, const ls_job_t *job, int partition);

/**
 * A transfer of this job (ud) completed. When it is the awaited page (and
 * the previous page is committed): retry it later (backoff timer: see
 * ls_sync_job_timer) or parse it, request the next page (prefetch), diff it
 * against committed LMDB state and produce its events and changelog records
 * (design-brief section 3, steps 1-3); ls_sync_job_poll() commits it once
 * delivered (step 4). After the last page of a full scan, the removal pass
 * (blocking: rare re-check GETs and one delivery wait); then the sync record.
 */
void ls_sync_job_on_xfer(ls_sync_job_t *j, ls_http_xfer_t *x);

/**
 * Look at the delivery of the page in flight (non-blocking; call after
 * ls_producer_poll): once acknowledged, commit it to LMDB and go on with the
 * next page (already requested); on a failure the job is done (LS_EIO).
 */
void ls_sync_job_poll(ls_sync_job_t *j);

/** Start the retry of a backed-off page when its time (monotonic ms) has come. */
void ls_sync_job_tick(ls_sync_job_t *j, int64_t now_mono_ms);

/** Monotonic ms of the job's pending retry, 0 when none. */
int64_t ls_sync_job_timer(const ls_sync_job_t *j);

/** 1 when the job reached its outcome. */
int ls_sync_job_done(const ls_sync_job_t *j);

/**
 * The outcome of a done job, *st filled (st->ok; a full job whose pages all
 * succeeded ran the removal pass: st->removed, st->pending_removals,
 * st->removals_skipped).
 * @return 0 when every page was fetched, delivered and stored;
 *   LS_EPERM / LS_ENOTFOUND / LS_EINVAL / LS_ETRANSIENT for an upstream
 *     failure (st->error says why; pages before the failure are stored);
 *   LS_EIO when Kafka delivery or LMDB failed: nothing of the failing page
 *     was stored and the job must run again.
 */
int ls_sync_job_result(const ls_sync_job_t *j, ls_status_t *st);

/** Cancel its transfers and free it (an unfinished job is abandoned: nothing more is stored). NULL accepted. */
void ls_sync_job_destroy(ls_sync_job_t *j);

/** Free the ctx's shared scratch. */
void ls_sync_ctx_release(ls_sync_ctx_t *ctx);

#endif
