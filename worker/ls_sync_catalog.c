/*
 * ls_sync_catalog.c - the pages of a catalog job: GET /lms/{conn}/course,
 * then GET /lms/{conn}/content, paged with limit/offset, each page's names
 * stored in the LMDB catalog db (ls_store_catalog_commit) as it arrives.
 *
 * The requests go through the job machinery of ls_sync.c and
 * ls_sync_fetch.c - the same rate-limit grants, backoff and retries as a
 * poll job's pages - but a catalog job is its own job: the worker runs it
 * next to the connection's poll job (never before or instead of one), and
 * it produces nothing on Kafka. A page that fails leaves every stored name
 * as it was; the pages before it were stored.
 */
#include "ls_sync_job.h"
#include "ls_err.h"
#include "ls_hash.h"
#include "ls_time.h"
#include "ls_worker_metrics.h"

#include <stdio.h>
#include <string.h>

/* Only what a name needs: LmsCourse lists "id" and "name" as fields; LmsContent's "type" is not a listed
 * field, so the content list is asked for whole records (a provider that reports a type keeps it). */
int ls_sync_catalog_url(const ls_sync_job_t *j, long offset, char *url, size_t sz)
{
    char conn[3 * LS_STR_MAX + 1];
    if (ls_http_escape(j->run.connection_id, conn, sizeof(conn)))
        return LS_EFULL;
    int n = snprintf(url, sz, "%s/lms/%s/%s?limit=%d&offset=%ld%s", j->base_url, conn,
                     ls_catalog_kind_name(j->cat_kind), j->ctx->cfg->page_limit, offset,
                     j->cat_kind == LS_CATALOG_COURSE ? "&fields=id&fields=name" : "");
    return n >= 0 && (size_t)n < sz ? LS_OK : LS_EFULL;
}

/* Hash of the page's ids in order (never 0): the same page twice means the upstream ignores offset. */
static uint64_t ids_hash(const ls_catalog_page_t *p)
{
    uint64_t h = ls_hash64(&p->n, sizeof(p->n), LS_HASH_SEED);
    for (size_t i = 0; i < p->n; i++)
        h = ls_hash64(p->items[i].id, strlen(p->items[i].id) + 1, h);
    return h ? h : 1;
}

/* The paging contract (as for activity pages): not over the limit, not the previous page again, not endless. */
static int paging_check(ls_sync_job_t *j, size_t got)
{
    const char *list = ls_catalog_kind_name(j->cat_kind);
    int limit = j->ctx->cfg->page_limit, kind = -1;
    uint64_t h = ids_hash(&j->cat_page), prev = j->page_hash;
    j->page_hash = h;
    if (got > (size_t)limit) {
        kind = WM_HOSTILE_OVER_LIMIT;
        snprintf(j->st.error, sizeof(j->st.error), "paging: %s list page at offset %ld of \"%.200s\" has %zu "
                 "records, more than the limit %d sent (the upstream ignores limit)", list, j->offset,
                 j->conn, got, limit);
    } else if (j->cat_page.n > 0 && h == prev) {
        kind = WM_HOSTILE_REPEATED_PAGE;
        snprintf(j->st.error, sizeof(j->st.error), "paging: %s list page at offset %ld of \"%.200s\" repeats the "
                 "previous page (the upstream ignores offset)", list, j->offset, j->conn);
    } else if (j->offset / limit >= LS_SYNC_PAGE_CAP_FLOOR) {
        kind = WM_HOSTILE_PAGE_CAP;
        snprintf(j->st.error, sizeof(j->st.error), "paging: %s list of \"%.200s\" is past the cap of %d pages "
                 "(the upstream never ends the list)", list, j->conn, LS_SYNC_PAGE_CAP_FLOOR);
    }
    if (kind < 0)
        return LS_OK;
    ls_metric_add(WM_HOSTILE, kind, 0, 1);
    return LS_EINVAL;
}

int ls_sync_catalog_page(ls_sync_job_t *j, const ls_http_resp_t *resp, int *last)
{
    char why[256], err[512];
    ls_catalog_page_t *p = &j->cat_page;
    int rc = ls_catalog_page_parse(p, j->cat_kind, resp->body, resp->len, ls_time_now_ms(), why, sizeof(why));
    if (rc == LS_ENOMEM) {
        snprintf(j->st.error, sizeof(j->st.error), "out of memory parsing a page of \"%.200s\"", j->scope);
        return LS_EIO;
    }
    if (rc != LS_OK) {
        snprintf(j->st.error, sizeof(j->st.error), "%s list page at offset %ld of \"%.200s\" does not parse: %.200s",
                 ls_catalog_kind_name(j->cat_kind), j->offset, j->conn, why);
        return LS_ETRANSIENT;
    }
    size_t got = p->n + p->rejected;
    j->st.pages++;
    if (paging_check(j, got) != LS_OK)
        return LS_EINVAL;
    j->st.records += got;
    j->st.rejected += p->rejected;
    if (p->n && ls_store_catalog_commit(j->ctx->store, j->partition, j->conn, j->cat_kind, p->items,
                                        p->n, err, sizeof(err)) != LS_OK) {
        snprintf(j->st.error, sizeof(j->st.error), "%s", err);
        return LS_EIO;
    }
    j->st.state_writes += p->n;
    *last = got < (size_t)j->ctx->cfg->page_limit;
    return LS_OK;
}
