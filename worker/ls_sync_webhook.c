/*
 * ls_sync_webhook.c - a webhook job: the records a webhook delivered
 * (inline in the job, ls_job.h) run through the page pipeline as one page.
 *
 * A delivery is a partial view pushed at an arbitrary moment, possibly late,
 * twice, or after a newer one: so a webhook job never removes anything (no
 * removal pass: it does not list the scope), never moves the incremental
 * watermark (it did not read the scope up to any instant), and does not
 * apply a record that is older than the stored state (its updated_at earlier
 * than the stored updated_at): counted as stale_records, no event, no state.
 * A repeated delivery diffs equal to the stored state and produces nothing,
 * like a poll that saw no change. docs/webhooks.md has the whole path.
 */
#include "ls_sync_job.h"
#include "ls_err.h"
#include "ls_log.h"
#include "ls_worker_metrics.h"

#include <stdio.h>

#define MAX_STALE_LOGS 5 /* per job: the rest are only counted */

/* The delivered record is older than what lmsync stored for it. */
static int older_than_stored(const ls_sync_item_t *it)
{
    return it->has_before && it->before.pres[LS_F_UPDATED_AT] == LS_PRESENT &&
           it->act.pres[LS_F_UPDATED_AT] == LS_PRESENT && it->act.updated_at < it->before.updated_at;
}

/* Drop the stale items' diffs: no event, no state write (a pending-removal marker is still cleared: it exists). */
static void skip_stale(ls_sync_job_t *j)
{
    for (size_t i = 0; i < j->pg.n; i++) {
        ls_sync_item_t *it = &j->pg.items[i];
        if (!older_than_stored(it))
            continue;
        if (j->st.stale_records++ < MAX_STALE_LOGS)
            ls_info("webhook record \"%s\" of \"%s\" is older than the stored state; not applied", it->act.id,
                    j->conn);
        it->diff.type = LS_CHANGE_NONE;
        it->diff.changed_mask = 0;
        it->diff.stored_mask = 0;
    }
}

int ls_sync_webhook_prepare(ls_sync_job_t *j)
{
    char why[256];
    j->st.mode = LS_MODE_WEBHOOK;
    j->page_last = 1;
    int rc = ls_page_parse(&j->ctx->parsed, j->run.records ? j->run.records : "", j->run.records_len, why,
                           sizeof(why));
    if (rc == LS_ENOMEM) {
        snprintf(j->st.error, sizeof(j->st.error), "out of memory parsing the webhook records of \"%.300s\"",
                 j->conn);
        return LS_EIO;
    }
    if (rc != LS_OK) {
        snprintf(j->st.error, sizeof(j->st.error), "webhook records of \"%.200s\" do not parse: %.200s",
                 j->conn, why);
        return LS_EINVAL;
    }
    j->st.pages = 1;
    if (ls_sync_page_prepare(j) != LS_OK)
        return LS_EIO;
    skip_stale(j);
    return LS_OK;
}
