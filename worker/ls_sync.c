/*
 * ls_sync.c - the driver of one sync job: its state machine.
 *
 * A job is one value of ls_sync_state_t (ls_sync_fsm.h has the states and
 * the table of legal moves) and it moves only through set_state(), which
 * checks the move against the table (an illegal move is a programming
 * error: logged and aborted) and logs it at debug level. The worker's loop
 * drives every job the same way: transfers that completed are handed to
 * their job (ls_sync_job_on_xfer only records the answer), then
 * ls_sync_job_step() looks at the job's state and acts, again while the
 * state changes. No callback calls back into the driver, and nothing here
 * waits: requests, deliveries and timers are states.
 *
 * Per page (docs/design.md, Ordering): fetch (FETCHING, BACKOFF), then
 * normalize, diff, produce (ls_sync_page.c) and wait for every ack
 * (DELIVERING), and only then commit the page to LMDB; the next page was
 * requested as soon as this one was parsed (one page of prefetch). After the
 * last page of a complete full scan, the removal pass (ls_sync_removal.c:
 * RECHECKING, REMOVING); for a resync job every current record of the scope
 * again (ls_sync_republish.c: REPUBLISHING); at the end the scope's sync
 * record with the next watermark (ls_sync_watermark.c). A webhook job has its
 * one page inline (ls_sync_webhook.c): START -> DELIVERING, then the end, with
 * neither a removal pass nor a sync record.
 */
#include "ls_sync_job.h"
#include "ls_err.h"
#include "ls_log.h"
#include "ls_time.h"
#include "ls_worker_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void produce_removals(ls_sync_job_t *j);

/* The one transition function. */
static void set_state(ls_sync_job_t *j, ls_sync_state_t to)
{
    if (!ls_sync_fsm_legal(j->state, to)) {
        ls_error("job \"%s\": illegal state change %s -> %s", j->run.job_id, ls_sync_state_name(j->state),
                 ls_sync_state_name(to));
        abort();
    }
    if (j->state != to)
        ls_debug("job \"%s\": %s -> %s (offset %ld)", j->run.job_id, ls_sync_state_name(j->state),
                 ls_sync_state_name(to), j->offset);
    j->state = to;
}

static void cancel_requests(ls_sync_job_t *j)
{
    ls_sync_req_drop(j, &j->cur);
    ls_sync_req_drop(j, &j->next);
    ls_sync_removal_release(j);
}

/* The outcome is known: cancel what is in flight (a batch in flight is awaited by destroy). */
static void finish(ls_sync_job_t *j, int rc)
{
    cancel_requests(j);
    j->retry_at = 0;
    j->rc = rc;
    j->st.finished_at = ls_time_now_ms();
    j->st.ok = rc == LS_OK;
    if (j->st.ok)
        j->st.error[0] = '\0';
    set_state(j, LS_SJ_DONE);
}

/* Request the page at j->offset as cur: FETCHING, or BACKOFF when the limiter says later. */
static void request_cur(ls_sync_job_t *j)
{
    char url[8192];
    int64_t later = 0;
    int rc = ls_sync_page_url(j, j->offset, url, sizeof(url)) == LS_OK ? ls_sync_req_start(j, &j->cur, url, &later)
                                                                       : LS_EINVAL;
    if (rc == LS_OK) {
        set_state(j, LS_SJ_FETCHING);
    } else if (rc == LS_SYNC_LATER) {
        j->retry_at = later;
        set_state(j, LS_SJ_BACKOFF);
    } else {
        snprintf(j->st.error, sizeof(j->st.error), "cannot start a request for \"%.200s\"%s", j->conn,
                 rc == LS_EINVAL ? " (url too long?)" : "");
        finish(j, rc == LS_EINVAL ? LS_EINVAL : LS_EIO);
    }
}

/*
 * Prefetch the page after this one, unless the connection recovers from a
 * 429 or the limiter says wait: then it is requested after this page.
 * LS_OK or LS_EIO.
 */
static int prefetch(ls_sync_job_t *j)
{
    ls_sync_ctx_t *ctx = j->ctx;
    char url[8192];
    int64_t later;
    if (j->page_last || j->next.x || (ctx->limiter && !ls_limiter_may_prefetch(ctx->limiter, j->conn)))
        return LS_OK;
    int rc = ls_sync_page_url(j, j->offset + ctx->cfg->page_limit, url, sizeof(url)) == LS_OK
                 ? ls_sync_req_start(j, &j->next, url, &later)
                 : LS_EINVAL;
    if (rc == LS_OK)
        ls_http_multi_kick(ctx->multi); /* on the wire while this page is processed */
    else if (rc != LS_SYNC_LATER)
        return LS_EIO;
    return LS_OK;
}

/* A batch was produced into j->batch: wait for its acks. */
static void await_acks(ls_sync_job_t *j, ls_sync_state_t to)
{
    j->ack_deadline = ls_time_mono_ms() + LS_SYNC_DELIVERY_TIMEOUT_MS;
    set_state(j, to);
}

/* The answer of cur: counted (status, requests, bytes); LS_OK for a 2xx, else the failure (st.error set). */
static int page_answer(ls_sync_job_t *j, ls_http_resp_t *resp, int64_t *retry_after)
{
    ls_status_t *st = &j->st;
    int rc = ls_http_xfer_result(j->cur.x, resp, st->error, sizeof(st->error));
    ls_worker_metrics_request(j->run.integration_type, resp);
    if (j->run.kind == LS_JOB_CATALOG)
        ls_worker_metrics_enrichment_request((int)j->cat_kind);
    *retry_after = resp->retry_after_ms;
    st->requests++;
    st->bytes += resp->len;
    return rc;
}

/* Parse the page's answer: LS_OK, or the failure (st.error set; LS_ETRANSIENT may be retried). */
static int parse_page(ls_sync_job_t *j, int64_t *retry_after)
{
    ls_status_t *st = &j->st;
    ls_http_resp_t resp;
    char why[256];
    int rc = page_answer(j, &resp, retry_after);
    if (rc != LS_OK)
        return rc;
    rc = ls_page_parse(&j->ctx->parsed, resp.body, resp.len, why, sizeof(why));
    if (rc == LS_ENOMEM) {
        snprintf(st->error, sizeof(st->error), "out of memory parsing a page of \"%.300s\"", j->conn);
        return LS_EIO;
    }
    if (rc != LS_OK) {
        snprintf(st->error, sizeof(st->error), "page at offset %ld of \"%.200s\" does not parse: %.200s", j->offset,
                 j->conn, why);
        return LS_ETRANSIENT;
    }
    return LS_OK;
}

/* The page at offset failed with rc: BACKOFF for another attempt when it may be retried, else the job's end. */
static void page_failed(ls_sync_job_t *j, int rc, int64_t retry_after)
{
    if (rc == LS_ETRANSIENT && j->attempt < j->ctx->cfg->http_max_retries) {
        int64_t wait = ls_sync_backoff_ms(j, j->attempt, retry_after);
        j->st.retries++;
        ls_warn("retrying \"%s\" in %lld ms (attempt %d): %s", j->scope, (long long)wait, j->attempt + 1,
                j->st.error);
        j->attempt++;
        j->retry_at = ls_time_mono_ms() + wait;
        set_state(j, LS_SJ_BACKOFF);
        return;
    }
    finish(j, rc);
}

/*
 * FETCHING, a catalog page arrived: store its names, then the next page, the
 * content list after the course list, or the end. Nothing is produced on
 * Kafka: a catalog job only fills the LMDB cache.
 */
static void on_catalog_page(ls_sync_job_t *j)
{
    ls_http_resp_t resp;
    int64_t retry_after;
    int last = 0, rc = page_answer(j, &resp, &retry_after);
    if (rc == LS_OK)
        rc = ls_sync_catalog_page(j, &resp, &last);
    ls_sync_req_drop(j, &j->cur);
    if (rc != LS_OK) {
        page_failed(j, rc, retry_after);
        return;
    }
    j->attempt = 0;
    if (!last) {
        j->offset += j->ctx->cfg->page_limit;
    } else if (j->cat_kind == LS_CATALOG_COURSE) {
        j->cat_kind = LS_CATALOG_CONTENT;
        j->offset = 0;
        j->page_hash = 0;
    } else {
        finish(j, LS_OK);
        return;
    }
    request_cur(j);
}

/* FETCHING, the page's answer arrived: retry later (BACKOFF), or prefetch and produce it (DELIVERING). */
static void on_page(ls_sync_job_t *j)
{
    int64_t retry_after;
    int rc = parse_page(j, &retry_after);
    ls_sync_req_drop(j, &j->cur);
    if (rc != LS_OK) {
        page_failed(j, rc, retry_after);
        return;
    }
    j->st.pages++;
    if (ls_sync_paging_check(j) != LS_OK) {
        ls_warn("%s", j->st.error);
        finish(j, LS_EINVAL);
        return;
    }
    j->page_last = j->run.unpaged || j->ctx->parsed.n < (size_t)j->ctx->cfg->page_limit;
    if (prefetch(j) != LS_OK) {
        snprintf(j->st.error, sizeof(j->st.error), "cannot start a request for \"%.300s\"", j->conn);
        finish(j, LS_EIO);
        return;
    }
    if (ls_sync_page_prepare(j) != LS_OK) {
        finish(j, LS_EIO);
        return;
    }
    ls_batch_init(j->batch);
    j->produce_failed = ls_sync_page_produce(j) != LS_OK;
    await_acks(j, LS_SJ_DELIVERING);
}

/* The removal pass's events and changelog records go out; REMOVING waits for their acks. */
static void produce_removals(ls_sync_job_t *j)
{
    ls_batch_init(j->batch);
    j->produce_failed = ls_sync_removal_produce(j) != LS_OK;
    await_acks(j, LS_SJ_REMOVING);
}

/* A resync job after its complete scan: every current record of the scope again; REPUBLISHING waits for the acks. */
static void republish(ls_sync_job_t *j)
{
    ls_batch_init(j->batch);
    j->st.republished = j->st.rollups_republished = 0;
    j->produce_failed = ls_sync_republish(j, j->batch, &j->st.republished) != LS_OK;
    await_acks(j, LS_SJ_REPUBLISHING);
}

/* End of the job (a resync job republishes first): the sync record with the next watermark, after
 * everything else was committed. */
static void complete(ls_sync_job_t *j)
{
    if (j->run.resync && j->state != LS_SJ_REPUBLISHING) {
        republish(j);
        return;
    }
    finish(j, ls_sync_record_store(j));
}

/* After the last page: the removal pass (complete full scans only), else the end. */
static void scan_complete(ls_sync_job_t *j)
{
    ls_rm_next_t next;
    if (j->st.mode == LS_MODE_WEBHOOK) { /* no removals, no watermark: the scope was not listed */
        finish(j, LS_OK);
        return;
    }
    if (j->st.mode != LS_MODE_FULL) {
        complete(j);
        return;
    }
    if (ls_sync_removal_begin(j, &next) != LS_OK) {
        finish(j, LS_EIO);
        return;
    }
    if (next == LS_RM_SKIPPED)
        complete(j);
    else if (next == LS_RM_RECHECK)
        set_state(j, LS_SJ_RECHECKING);
    else
        produce_removals(j);
}

/*
 * The batch in flight (DELIVERING, REMOVING): 0 while acks are due (and the
 * deadline has not passed); else 1 with *rc = LS_OK when every message was
 * delivered, LS_EIO (st.error set) when one failed or was not produced.
 */
static int acks_settled(ls_sync_job_t *j, const char *produce_what, int *rc)
{
    char err[256];
    int brc = ls_producer_poll_batch(j->ctx->producer, j->batch, err, sizeof(err));
    if (brc == 1 && ls_time_mono_ms() < j->ack_deadline)
        return 0;
    *rc = LS_OK;
    if (brc == 1)
        snprintf(err, sizeof(err), "%d messages not acknowledged within %d ms", j->batch->pending,
                 LS_SYNC_DELIVERY_TIMEOUT_MS);
    if (j->produce_failed)
        snprintf(j->st.error, sizeof(j->st.error), "%s for \"%.300s\"", produce_what, j->conn);
    else if (brc != LS_OK)
        snprintf(j->st.error, sizeof(j->st.error), "kafka delivery failed: %s", err);
    if (j->produce_failed || brc != LS_OK)
        *rc = LS_EIO;
    return 1;
}

/* The next page: the prefetch becomes cur (FETCHING), or it is requested now. */
static void next_page(ls_sync_job_t *j)
{
    j->offset += j->ctx->cfg->page_limit;
    j->attempt = 0;
    j->cur = j->next;
    j->next = (ls_sync_req_t){NULL, 0, 0};
    if (j->cur.x)
        set_state(j, LS_SJ_FETCHING);
    else /* the prefetch had to wait for the limiter */
        request_cur(j);
}

/* DELIVERING: once the page's batch is acknowledged, commit the page and go on. */
static void on_delivering(ls_sync_job_t *j)
{
    int rc;
    if (!acks_settled(j, "kafka produce failed", &rc))
        return;
    if (rc != LS_OK || ls_sync_page_store(j) != LS_OK)
        finish(j, LS_EIO);
    else if (j->page_last)
        scan_complete(j);
    else
        next_page(j);
}

/* REMOVING: once the removal batch is acknowledged, apply it in one LMDB write; then the end. */
static void on_removing(ls_sync_job_t *j)
{
    int rc;
    if (!acks_settled(j, "removal pass failed", &rc))
        return;
    if (rc != LS_OK || ls_sync_removal_store(j) != LS_OK)
        finish(j, LS_EIO);
    else
        complete(j);
}

/* REPUBLISHING: once the republished records are acknowledged, the end. */
static void on_republishing(ls_sync_job_t *j)
{
    int rc;
    if (!acks_settled(j, "republishing the current records and rollups failed", &rc))
        return;
    if (rc != LS_OK || ls_sync_republish_store(j) != LS_OK)
        finish(j, LS_EIO);
    else
        complete(j);
}

/* Act on the job's state once. */
static void act(ls_sync_job_t *j, int64_t now)
{
    switch (j->state) {
    case LS_SJ_FETCHING:
        if (j->cur.ready && j->run.kind == LS_JOB_CATALOG)
            on_catalog_page(j);
        else if (j->cur.ready)
            on_page(j);
        break;
    case LS_SJ_BACKOFF:
        if (now >= j->retry_at) {
            j->retry_at = 0;
            request_cur(j);
        }
        break;
    case LS_SJ_DELIVERING:
        on_delivering(j);
        break;
    case LS_SJ_RECHECKING:
        if (ls_sync_removal_recheck(j, now))
            produce_removals(j);
        break;
    case LS_SJ_REMOVING:
        on_removing(j);
        break;
    case LS_SJ_REPUBLISHING:
        on_republishing(j);
        break;
    case LS_SJ_START:
    case LS_SJ_DONE:
    case LS_SJ_N_STATES:
        break;
    }
}

int ls_sync_ctx_open_creds(ls_sync_ctx_t *ctx)
{
    const ls_config_t *cfg = ctx->cfg;
    if (cfg->n_workspaces == 0)
        return (ctx->creds[0] = ls_http_cred_new(cfg->unified_base_url, cfg->unified_token)) ? LS_OK : LS_ENOMEM;
    for (int i = 0; i < cfg->n_workspaces; i++)
        if (!(ctx->creds[i] = ls_http_cred_new(cfg->workspaces[i].base_url, cfg->workspaces[i].token)))
            return LS_ENOMEM;
    return LS_OK;
}

/* The base URL and credential of j's workspace; LS_ENOTFOUND when this worker has no such workspace. */
static int resolve_workspace(ls_sync_job_t *j)
{
    const ls_config_t *cfg = j->ctx->cfg;
    if (cfg->n_workspaces == 0 && !j->run.workspace[0]) {
        j->base_url = cfg->unified_base_url;
        j->cred = j->ctx->creds[0];
        return j->cred ? LS_OK : LS_ENOTFOUND;
    }
    const ls_workspace_t *w = ls_config_workspace(cfg, j->run.workspace);
    if (!w)
        return LS_ENOTFOUND;
    j->base_url = w->base_url;
    j->cred = j->ctx->creds[w - cfg->workspaces];
    return j->cred ? LS_OK : LS_ENOTFOUND;
}

/* A webhook job: its records are the page; produce them at once (DELIVERING). */
static void start_webhook(ls_sync_job_t *j)
{
    int rc = ls_sync_webhook_prepare(j);
    if (rc != LS_OK) {
        finish(j, rc);
        return;
    }
    ls_batch_init(j->batch);
    j->produce_failed = ls_sync_page_produce(j) != LS_OK;
    await_acks(j, LS_SJ_DELIVERING);
}

ls_sync_job_t *ls_sync_job_start(ls_sync_ctx_t *ctx, const ls_job_t *job, int partition)
{
    ls_sync_job_t *j = calloc(1, sizeof(*j));
    if (!j || !(j->batch = malloc(sizeof(*j->batch)))) {
        free(j);
        return NULL;
    }
    ls_batch_init(j->batch);
    j->ctx = ctx;
    j->partition = partition;
    j->state = LS_SJ_START;
    j->st.started_at = ls_time_now_ms();
    j->run = *job;
    ls_job_scope(job, j->scope, sizeof(j->scope));
    ls_conn_qualify(job->workspace, job->connection_id, j->conn, sizeof(j->conn));
    if (resolve_workspace(j) != LS_OK) {
        snprintf(j->st.error, sizeof(j->st.error), "workspace \"%s\" is not configured on this worker "
                 "(unified.workspaces)", job->workspace);
        j->st.mode = job->mode;
        finish(j, LS_EINVAL);
        return j;
    }
    if (job->mode == LS_MODE_WEBHOOK) {
        start_webhook(j);
        return j;
    }
    if (job->kind == LS_JOB_CATALOG) { /* no sync record, no mode to choose: the course list, then the content list */
        j->st.mode = LS_MODE_FULL;
        j->cat_kind = LS_CATALOG_COURSE;
        request_cur(j);
        return j;
    }
    if (ls_sync_record_load(j) != LS_OK) {
        snprintf(j->st.error, sizeof(j->st.error), "cannot read the sync record of \"%.200s\"", j->scope);
        j->st.mode = job->mode;
        finish(j, LS_EIO);
        return j;
    }
    ls_sync_choose_mode(j);
    j->run.mode = j->st.mode; /* events say the mode actually run */
    request_cur(j);
    return j;
}

void ls_sync_job_on_xfer(ls_sync_job_t *j, ls_http_xfer_t *x)
{
    if (x == j->cur.x)
        ls_sync_req_completed(j, &j->cur);
    else if (x == j->next.x)
        ls_sync_req_completed(j, &j->next);
    else
        ls_sync_removal_on_xfer(j, x);
}

void ls_sync_job_step(ls_sync_job_t *j, int64_t now_mono_ms)
{
    for (;;) {
        ls_sync_state_t was = j->state;
        act(j, now_mono_ms);
        if (j->state == was || j->state == LS_SJ_DONE)
            return;
    }
}

int64_t ls_sync_job_timer(const ls_sync_job_t *j)
{
    return j->state == LS_SJ_BACKOFF ? j->retry_at : j->state == LS_SJ_RECHECKING ? j->rm.wake_at : 0;
}

ls_sync_state_t ls_sync_job_state(const ls_sync_job_t *j)
{
    return j->state;
}

int ls_sync_job_done(const ls_sync_job_t *j)
{
    return j->state == LS_SJ_DONE;
}

int ls_sync_job_result(const ls_sync_job_t *j, ls_status_t *st)
{
    *st = j->st;
    return j->rc;
}

void ls_sync_job_destroy(ls_sync_job_t *j)
{
    if (!j)
        return;
    cancel_requests(j);
    if (j->batch->pending > 0) {
        /* delivery reports point at the batch: let them arrive before freeing it. Nothing is
         * stored in LMDB for this page; the job runs again and reproduces the same ids. */
        char err[256];
        ls_producer_wait(j->ctx->producer, j->batch, 10000, err, sizeof(err));
    }
    if (j->batch->pending > 0)
        ls_warn("job \"%s\": %d messages still unacknowledged; their batch is leaked", j->run.job_id,
                j->batch->pending);
    else
        free(j->batch);
    json_decref(j->sync);
    free(j->stored);
    free(j->seen.slots);
    free(j->pg.items);
    ls_ru_rows_release(&j->ru);
    ls_catalog_page_release(&j->cat_page);
    free(j);
}

void ls_sync_ctx_release(ls_sync_ctx_t *ctx)
{
    ls_page_release(&ctx->parsed);
    for (int i = 0; i < LS_MAX_WORKSPACES; i++) {
        ls_http_cred_destroy(ctx->creds[i]);
        ctx->creds[i] = NULL;
    }
}
