/*
 * ls_sync.h - run one poll job: page through the scope, normalize, diff
 * against LMDB, produce events and changelog records, wait for delivery,
 * then store state; after a complete full scan, count misses and emit
 * `removed`. A job is a state machine (ls_sync_fsm.h) that the worker's
 * loop drives without ever blocking; many jobs run at once over one curl
 * multi handle. docs/architecture.md, "A job (worker)", has the rules.
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
#include "ls_sync_fsm.h"

typedef struct ls_sync_ctx {
    const ls_config_t *cfg;        /* borrowed */
    ls_http_multi_t *multi;        /* borrowed: every request of every job (pages, re-checks), concurrently */
    ls_store_t *store;             /* borrowed */
    ls_producer_t *producer;       /* borrowed */
    ls_limiter_t *limiter;         /* borrowed; NULL = no rate limits: every request asks it first */
    ls_http_cred_t *creds[LS_MAX_WORKSPACES]; /* owned (ls_sync_ctx_open_creds): cfg->workspaces' base URL and token */
    char topic_changes[128];
    char topic_state[128];
    char topic_enrollments[128];   /* progress rollups (ls_sync_rollup.h) */
    char topic_courses[128];
    char topic_current[128];       /* {prefix}.activity.current */
    volatile sig_atomic_t *stop;   /* set by the signal handler */
    /* scratch shared by the jobs (a page is parsed and normalized in one call): */
    ls_page_t parsed;              /* ls_page_init() before the first job */
} ls_sync_ctx_t;

/**
 * Create ctx->creds from ctx->cfg->workspaces (a config that was not loaded
 * gets one default workspace from unified.base_url and its token).
 * ls_sync_ctx_release() destroys them. @return 0 or LS_ENOMEM.
 */
int ls_sync_ctx_open_creds(ls_sync_ctx_t *ctx);

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
 * A transfer of this job (its ud) completed: record the answer and give
 * back its rate-limit grant. Nothing else happens until ls_sync_job_step().
 */
void ls_sync_job_on_xfer(ls_sync_job_t *j, ls_http_xfer_t *x);

/**
 * Drive the job (call after ls_producer_poll and after handing over the
 * completed transfers): act on its state, again while the state changes -
 * parse and produce an arrived page, commit a page or the removal pass
 * whose batch was acknowledged, start a retry or re-check whose timer came.
 * Never waits.
 */
void ls_sync_job_step(ls_sync_job_t *j, int64_t now_mono_ms);

/** Monotonic ms at which the job wants to be stepped without any other event (a backoff); 0 = none. */
int64_t ls_sync_job_timer(const ls_sync_job_t *j);

/** The job's state (ls_sync_fsm.h). */
ls_sync_state_t ls_sync_job_state(const ls_sync_job_t *j);

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

/**
 * Cancel its requests and free it (an unfinished job is abandoned: nothing
 * more is stored). A batch still in flight is awaited first, up to 10 s
 * (its delivery reports point at it): the only wait left in a job, and only
 * on abandon (revoke, shutdown). NULL accepted.
 */
void ls_sync_job_destroy(ls_sync_job_t *j);

/** Free the ctx's shared scratch. */
void ls_sync_ctx_release(ls_sync_ctx_t *ctx);

#endif
