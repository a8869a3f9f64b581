/*
 * ls_sync_fetch.c - the requests of a sync job: page and per-record urls,
 * rate-limit grants and the backoff of retries.
 *
 * Every request of a job (page, prefetch, removal re-check) goes through
 * ls_sync_req_start(): it asks the process's rate limiter first
 * (lib/policy/ls_ratelimit.h) and then starts a transfer on the shared curl
 * multi handle, with the job as the transfer's ud. A granted request gives
 * its grant back exactly once: with the answer's outcome when it completes
 * (ls_sync_req_completed), as cancelled when it is dropped. Nothing here
 * waits; the state machine (ls_sync.c) decides when to ask.
 *
 * Requests carry only what the job's strategy (ls_profile.h, chosen by the
 * coordinator) says the provider supports: fields, sort, limit/offset,
 * course_id, updated_gte.
 */
#include "ls_sync_job.h"
#include "ls_err.h"
#include "ls_hash.h"
#include "ls_time.h"
#include "ls_worker_metrics.h"

#include <stdio.h>
#include <string.h>

static const char *const fetch_fields[] = {
    "id", "course_id", "student_id", "content_id", "is_completed", "progress_percentage",
    "duration_minutes", "assigned_grade", "started_at", "completed_at", "created_at", "updated_at"};

/* "&fields=a&fields=b..." (repeated keys, the form Unified's SDK sends) from the job or the default list. */
static size_t append_fields(const ls_job_t *job, char *url, size_t n, size_t sz)
{
    if (!job->fields[0]) {
        for (size_t i = 0; i < sizeof(fetch_fields) / sizeof(fetch_fields[0]); i++)
            n += (size_t)snprintf(url + n, n < sz ? sz - n : 0, "&fields=%s", fetch_fields[i]);
        return n;
    }
    for (const char *p = job->fields; *p;) {
        int len = (int)strcspn(p, ",");
        n += (size_t)snprintf(url + n, n < sz ? sz - n : 0, "&fields=%.*s", len, p);
        p += len + (p[len] == ',');
    }
    return n;
}

/*
 * GET .../activity with limit/offset when the provider pages, course_id for
 * a course scope, updated_gte (the watermark; the epoch on a full scan where
 * it is required), sort/order, and the readable fields.
 */
int ls_sync_page_url(const ls_sync_job_t *j, long offset, char *url, size_t sz)
{
    const ls_job_t *job = &j->run;
    char conn[3 * LS_STR_MAX + 1], course[3 * LS_STR_MAX + 1], wm[3 * 40];
    if (job->kind == LS_JOB_CATALOG)
        return ls_sync_catalog_url(j, offset, url, sz);
    if (ls_http_escape(job->connection_id, conn, sizeof(conn)) || ls_http_escape(job->course_id, course, sizeof(course)) ||
        ls_http_escape(j->gte, wm, sizeof(wm)))
        return LS_EFULL;
    size_t n = (size_t)snprintf(url, sz, "%s/lms/%s/activity?", j->base_url, conn);
    if (!job->unpaged)
        n += (size_t)snprintf(url + n, n < sz ? sz - n : 0, "limit=%d&offset=%ld", j->ctx->cfg->page_limit, offset);
    if (job->course_id[0])
        n += (size_t)snprintf(url + n, n < sz ? sz - n : 0, "&course_id=%s", course);
    if (j->gte[0])
        n += (size_t)snprintf(url + n, n < sz ? sz - n : 0, "&updated_gte=%s", wm);
    if (job->sort[0])
        n += (size_t)snprintf(url + n, n < sz ? sz - n : 0, "&sort=%s%s", job->sort, job->order_asc ? "&order=asc" : "");
    n = append_fields(job, url, n, sz);
    return n < sz ? LS_OK : LS_EFULL;
}

int ls_sync_get_url(const ls_sync_job_t *j, const char *id, char *url, size_t sz)
{
    char conn[3 * LS_STR_MAX + 1], eid[3 * LS_STR_MAX + 1];
    if (ls_http_escape(j->run.connection_id, conn, sizeof(conn)) || ls_http_escape(id, eid, sizeof(eid)))
        return LS_EFULL;
    size_t n = (size_t)snprintf(url, sz, "%s/lms/%s/activity/%s?", j->base_url, conn, eid);
    n = append_fields(&j->run, url, n, sz);
    return n < sz ? LS_OK : LS_EFULL;
}

int ls_sync_req_start(ls_sync_job_t *j, ls_sync_req_t *r, const char *url, int64_t *later)
{
    ls_sync_ctx_t *ctx = j->ctx;
    *r = (ls_sync_req_t){NULL, 0, 0};
    if (ctx->limiter) {
        int64_t t = ls_limiter_acquire(ctx->limiter, j->conn, j->run.integration_type,
                                       ls_time_mono_ms());
        if (t > 0) {
            *later = t;
            j->st.rate_waits++;
            return LS_SYNC_LATER;
        }
    }
    if (!(r->x = ls_http_multi_start_cred(ctx->multi, url, j->cred, j))) {
        if (ctx->limiter)
            ls_limiter_release(ctx->limiter, j->conn, LS_RL_CANCELLED, -1, ls_time_mono_ms());
        return LS_ENOMEM;
    }
    r->held = ctx->limiter != NULL;
    return LS_OK;
}

/* Give back r's grant: outcome from its answer when it completed, else cancelled. */
static void unhold(ls_sync_job_t *j, ls_sync_req_t *r, int completed)
{
    if (!r->held)
        return;
    r->held = 0;
    ls_rl_outcome_t o = LS_RL_CANCELLED;
    int64_t retry_after = -1;
    if (completed) {
        ls_http_resp_t resp;
        char err[8];
        ls_http_xfer_result(r->x, &resp, err, sizeof(err));
        o = ls_rl_classify(resp.status, resp.body, resp.len);
        retry_after = resp.retry_after_ms;
    }
    ls_limiter_release(j->ctx->limiter, j->conn, o, retry_after, ls_time_mono_ms());
}

void ls_sync_req_completed(ls_sync_job_t *j, ls_sync_req_t *r)
{
    r->ready = 1;
    unhold(j, r, 1);
}

void ls_sync_req_drop(ls_sync_job_t *j, ls_sync_req_t *r)
{
    unhold(j, r, 0);
    ls_http_xfer_release(j->ctx->multi, r->x);
    *r = (ls_sync_req_t){NULL, 0, 0};
}

int64_t ls_sync_backoff_ms(const ls_sync_job_t *j, int attempt, int64_t retry_after_ms)
{
    if (retry_after_ms >= 0)
        return retry_after_ms > 60000 ? 60000 : retry_after_ms;
    uint64_t seed = ls_hash64(j->run.job_id, strlen(j->run.job_id), 0);
    int64_t base = 500;
    for (int i = 0; i < attempt && base < 30000; i++)
        base = base * 3 / 2;
    return base + (int64_t)(ls_hash64(&seed, sizeof(seed), (uint64_t)attempt) % 250);
}

/* ---- the paging contract: an upstream that ignores limit or offset fails the job, never loops ---- */

long long ls_sync_page_cap(long long last_full_count, int limit)
{
    long long rel = last_full_count > 0 && limit > 0 ? 2 * last_full_count / limit + 10 : 0;
    return rel > LS_SYNC_PAGE_CAP_FLOOR ? rel : LS_SYNC_PAGE_CAP_FLOOR;
}

/* The ids of the parsed page, in order (a rejected record by its raw id), hashed; never 0. */
static uint64_t page_ids_hash(const ls_page_t *p)
{
    uint64_t h = ls_hash64(&p->n, sizeof(p->n), LS_HASH_SEED);
    for (size_t i = 0; i < p->n; i++) {
        const char *id = p->recs[i].rc == LS_OK ? p->recs[i].act.id : p->recs[i].raw_id;
        h = ls_hash64(id, strlen(id) + 1, h);
    }
    return h ? h : 1;
}

static int paging_failed(ls_sync_job_t *j, int kind)
{
    ls_metric_add(WM_HOSTILE, kind, 0, 1);
    return LS_EINVAL;
}

int ls_sync_paging_check(ls_sync_job_t *j)
{
    const ls_page_t *p = &j->ctx->parsed;
    int limit = j->ctx->cfg->page_limit;
    unsigned long long page = (unsigned long long)j->st.pages;
    const char *conn = j->scope; /* "conn" or "conn/course" */
    if (j->run.unpaged)
        return LS_OK;
    if (p->n > (size_t)limit) {
        snprintf(j->st.error, sizeof(j->st.error),
                 "paging: page %llu of \"%.200s\" has %zu records, more than the limit %d sent (the upstream ignores limit)",
                 page, conn, p->n, limit);
        return paging_failed(j, WM_HOSTILE_OVER_LIMIT);
    }
    uint64_t h = page_ids_hash(p), prev = j->page_hash;
    j->page_hash = h;
    if (p->n > 0 && h == prev) {
        snprintf(j->st.error, sizeof(j->st.error),
                 "paging: page %llu of \"%.200s\" repeats page %llu (the upstream ignores offset)", page, conn,
                 page - 1);
        return paging_failed(j, WM_HOSTILE_REPEATED_PAGE);
    }
    long long last = ls_sync_record_int(j, "last_full_count", -1), cap = ls_sync_page_cap(last, limit);
    if ((long long)page > cap) {
        snprintf(j->st.error, sizeof(j->st.error),
                 "paging: page %llu of \"%.200s\" is past the cap of %lld pages (last complete scan: %lld records; "
                 "the upstream never ends the list)", page, conn, cap, last);
        return paging_failed(j, WM_HOSTILE_PAGE_CAP);
    }
    return LS_OK;
}
