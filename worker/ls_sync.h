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
#include "ls_store.h"

typedef struct ls_sync_ctx {
    const ls_config_t *cfg;        /* borrowed */
    ls_http_t *http;               /* borrowed */
    ls_store_t *store;             /* borrowed */
    ls_producer_t *producer;       /* borrowed */
    char topic_changes[128];
    char topic_state[128];
    volatile sig_atomic_t *stop;   /* set by the signal handler */
} ls_sync_ctx_t;

/**
 * Run job, whose message came from jobs partition `partition`. Fills *st.
 * A full job whose pages all succeeded then runs the removal pass (st->removed,
 * st->pending_removals, st->removals_skipped).
 * @return 0 when every page was fetched, delivered and stored (st->ok = 1);
 *   LS_EPERM / LS_ENOTFOUND / LS_EINVAL / LS_ETRANSIENT for an upstream
 *     failure (st->error says why; pages before the failure are stored);
 *   LS_ESTOP when shutdown interrupted it;
 *   LS_EIO when Kafka delivery or LMDB failed: nothing of the failing page
 *     was stored and the job must run again.
 */
int ls_sync_run(ls_sync_ctx_t *ctx, const ls_job_t *job, int partition, ls_status_t *st);

#endif
