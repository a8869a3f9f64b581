/*
 * ls_sync_removal.c - the removal pass after a complete full scan.
 *
 * Every id of the scan is in j->seen. After the last page of a complete full
 * scan (every page ok) the pass walks the scope's stored activities (for a
 * course job, those whose stored course_id is the job's course) in one read
 * transaction and asks lib/policy/ls_removal what to do with each one the
 * scan did not see: the shrink guard first (ls_shrink_guard: too small a
 * scan removes nothing and moves no marker), then per activity
 * (ls_gone_decide): first miss -> marker; second miss -> removed, or first a
 * per-record GET where the provider has one (ls_recheck_decide: 404
 * removes, 200 updates, a transient failure is retried with backoff, any
 * other answer keeps the marker), or held for a course scope without a get.
 * A seen activity loses its marker in the commit of its page, in any scan.
 *
 * Nothing here blocks: the re-check GETs are requests of the job on the
 * shared curl multi handle, granted by the same rate limiter as pages
 * (ls_sync_fetch.c), at most LS_SYNC_RECHECK_WINDOW at a time; the removed
 * and updated events and their changelog records go into the job's batch,
 * whose acknowledgement the state machine awaits (REMOVING) before
 * ls_sync_removal_store() applies everything, moves the markers and stores
 * the sync record in one LMDB write.
 */
#include "ls_sync_job.h"
#include "ls_grow.h"
#include "ls_err.h"
#include "ls_log.h"
#include "ls_time.h"
#include "ls_worker_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the walk: stored activities of the scope the scan did not see ---- */

typedef struct walk {
    ls_sync_job_t *j;
    ls_store_reader_t *r;
    int rc;
} walk_t;

static ls_sync_gone_t *gone_push(ls_sync_removal_t *rm)
{
    ls_sync_gone_t *grown = ls_grow(rm->items, &rm->cap, rm->n, sizeof(*rm->items), 16);
    if (!grown)
        return NULL;
    rm->items = grown;
    ls_sync_gone_t *g = &rm->items[rm->n];
    memset(g, 0, sizeof(*g));
    return g;
}

static int walk_cb(const char *id, const uint8_t *state, size_t len, void *ud)
{
    walk_t *w = ud;
    ls_sync_job_t *j = w->j;
    ls_activity_t a;
    if (ls_state_unpack(state, len, &a) != LS_OK) {
        ls_warn("stored state of \"%s\" in \"%s\" does not decode; never removed", id, j->conn);
        return 0;
    }
    if (j->run.course_id[0] &&
        (a.pres[LS_F_COURSE_ID] != LS_PRESENT || strcmp(a.course_id, j->run.course_id) != 0))
        return 0;
    j->rm.in_scope++;
    if (ls_sync_seen_has(&j->seen, id))
        return 0;
    ls_sync_gone_t *g = gone_push(&j->rm);
    if (!g)
        return (w->rc = LS_ENOMEM);
    g->before = a;
    snprintf(g->before.id, sizeof(g->before.id), "%s", id);
    int m = ls_store_reader_get_pending(w->r, j->partition, j->conn, id, &g->misses);
    if (m != LS_OK && m != LS_ENOTFOUND)
        return (w->rc = LS_EIO);
    j->rm.n++;
    return 0;
}

static int collect_unseen(ls_sync_job_t *j)
{
    char err[256];
    walk_t w = {j, ls_store_reader_new(j->ctx->store, err, sizeof(err)), LS_OK};
    if (!w.r) {
        ls_error("%s", err);
        return LS_EIO;
    }
    int rc = ls_store_reader_foreach(w.r, j->partition, j->conn, walk_cb, &w);
    ls_store_reader_destroy(w.r);
    return rc == LS_OK && w.rc == LS_OK ? LS_OK : LS_EIO;
}

/* ---- the shrink guard, applied to the sync record ---- */

/* 1 when the scan may count misses; else st->removals_skipped says why (the sync record keeps the candidate). */
static int guard(ls_sync_job_t *j)
{
    const ls_config_t *cfg = j->ctx->cfg;
    ls_shrink_cfg_t sc = {cfg->removal_min_ratio_pct, cfg->shrink_tolerance_pct, cfg->shrink_accept_scans};
    ls_shrink_in_t in = {ls_sync_record_int(j, "last_full_count", -1), (long long)j->rm.in_scope,
                         (long long)j->seen.n, j->seen.unidentified, ls_sync_record_int(j, "shrink_count", -1),
                         ls_sync_record_int(j, "shrink_scans", 0)};
    ls_shrink_out_t out;
    ls_shrink_guard(&sc, &in, &out, j->st.removals_skipped, sizeof(j->st.removals_skipped));
    if (out.verdict == LS_SHRINK_ACCEPTED) /* the candidate is settled: it becomes the baseline */
        json_object_set_new(j->sync, "last_full_count", json_integer((json_int_t)out.last_full_count));
    if (out.verdict == LS_SHRINK_ACCEPTED || out.verdict == LS_SHRINK_PASS) {
        json_object_del(j->sync, "shrink_count");
        json_object_del(j->sync, "shrink_scans");
    } else if (out.verdict == LS_SHRINK_GUARDED) {
        json_object_set_new(j->sync, "shrink_count", json_integer((json_int_t)out.shrink_count));
        json_object_set_new(j->sync, "shrink_scans", json_integer((json_int_t)out.shrink_scans));
    }
    if (out.verdict == LS_SHRINK_PASS)
        return 1;
    ls_warn("removal detection skipped for \"%s\": %s", j->scope, j->st.removals_skipped);
    return 0;
}

int ls_sync_removal_begin(ls_sync_job_t *j, ls_rm_next_t *next)
{
    if (collect_unseen(j) != LS_OK) {
        snprintf(j->st.error, sizeof(j->st.error), "local failure while looking for removals in \"%.300s\"",
                 j->conn);
        return LS_EIO;
    }
    *next = LS_RM_SKIPPED;
    if (!guard(j))
        return LS_OK;
    *next = LS_RM_PRODUCE;
    ls_gone_in_t in = {0, j->run.get, j->run.course_id[0] != '\0'};
    for (size_t i = 0; i < j->rm.n; i++) {
        const char *why;
        in.misses = j->rm.items[i].misses;
        j->rm.items[i].action = ls_gone_decide(&in, &why);
        if (j->rm.items[i].action == LS_GONE_RECHECK)
            *next = LS_RM_RECHECK;
    }
    return LS_OK;
}

/* ---- re-checks: GET /lms/{conn}/activity/{id} ---- */

/* What the answer of g's GET says; g->now, g->diff, g->packed filled for FOUND. */
static ls_recheck_answer_t read_answer(ls_sync_job_t *j, ls_sync_gone_t *g, ls_http_xfer_t *x, int64_t *retry_after,
                                       char *err, size_t errsz)
{
    ls_http_resp_t resp;
    int rc = ls_http_xfer_result(x, &resp, err, errsz);
    ls_worker_metrics_request(j->run.integration_type, &resp);
    *retry_after = resp.retry_after_ms;
    j->st.requests++;
    j->st.rechecked++;
    j->st.bytes += resp.len;
    if (rc == LS_ENOTFOUND)
        return LS_RECHECK_NOT_FOUND;
    if (rc != LS_OK)
        return rc == LS_ETRANSIENT ? LS_RECHECK_TRANSIENT : LS_RECHECK_FAILED;
    json_t *o = json_loadb(resp.body, resp.len, 0, NULL);
    int ok = o && ls_activity_from_json(o, &g->now, err, errsz) == LS_OK && strcmp(g->now.id, g->before.id) == 0;
    json_decref(o);
    snprintf(err, errsz, "answer is not an activity");
    if (!ok)
        return LS_RECHECK_INVALID;
    ls_diff_compute(&g->before, &g->now, &g->diff);
    if (g->diff.stored_mask && ls_state_pack(&g->now, g->packed, sizeof(g->packed), &g->packed_len))
        return LS_RECHECK_INVALID;
    return LS_RECHECK_FOUND;
}

/* A re-check's answer arrived: decide (or back off for another try). */
static void take_answer(ls_sync_job_t *j, ls_sync_gone_t *g, ls_http_xfer_t *x, int64_t now)
{
    char err[256] = "";
    int64_t retry_after;
    const char *why;
    ls_recheck_answer_t a = read_answer(j, g, x, &retry_after, err, sizeof(err));
    g->action = ls_recheck_decide(a, g->attempt, j->ctx->cfg->http_max_retries, &why);
    g->in_flight = 0;
    const char *conn = j->conn;
    if (g->action == LS_GONE_RECHECK) {
        int64_t wait = ls_sync_backoff_ms(j, g->attempt, retry_after);
        ls_warn("re-check of \"%s\" in \"%s\" again in %lld ms (attempt %d): %s", g->before.id, conn,
                (long long)wait, g->attempt + 1, err);
        g->attempt++;
        g->not_before = now + wait;
    } else if (g->action == LS_GONE_UPDATE) {
        ls_info("\"%s\" in \"%s\" missed by two scans of its scope but still exists upstream; not removed",
                g->before.id, conn);
    } else if (g->action == LS_GONE_HOLD) {
        ls_warn("removal of \"%s\" in \"%s\" deferred: per-record get failed: %s", g->before.id, conn, err);
    }
}

/* Start g's GET when the limiter allows: 1 started, 0 later (g->not_before set), <0 failed. */
static int start_recheck(ls_sync_job_t *j, size_t slot, size_t item)
{
    char url[8192];
    ls_sync_gone_t *g = &j->rm.items[item];
    int64_t later = 0;
    if (ls_sync_get_url(j, g->before.id, url, sizeof(url)) != LS_OK) {
        g->action = LS_GONE_HOLD;
        ls_warn("removal of \"%s\" in \"%s\" deferred: per-record get failed: url too long", g->before.id,
                j->conn);
        return 0;
    }
    int rc = ls_sync_req_start(j, &j->rm.rx[slot].req, url, &later);
    if (rc == LS_SYNC_LATER) {
        g->not_before = later;
        return 0;
    }
    if (rc != LS_OK)
        return rc;
    g->in_flight = 1;
    j->rm.rx[slot].item = item;
    return 1;
}

int ls_sync_removal_on_xfer(ls_sync_job_t *j, ls_http_xfer_t *x)
{
    for (size_t s = 0; s < LS_SYNC_RECHECK_WINDOW; s++)
        if (j->rm.rx[s].req.x == x) {
            ls_sync_req_completed(j, &j->rm.rx[s].req);
            return 1;
        }
    return 0;
}

/* Answers that arrived: decide them and free their slots. */
static void take_answers(ls_sync_job_t *j, int64_t now)
{
    for (size_t s = 0; s < LS_SYNC_RECHECK_WINDOW; s++) {
        ls_sync_req_t *r = &j->rm.rx[s].req;
        if (!r->x || !r->ready)
            continue;
        take_answer(j, &j->rm.items[j->rm.rx[s].item], r->x, now);
        ls_sync_req_drop(j, r);
    }
}

/* A free slot, or -1. */
static int free_slot(const ls_sync_job_t *j)
{
    for (int s = 0; s < LS_SYNC_RECHECK_WINDOW; s++)
        if (!j->rm.rx[s].req.x)
            return s;
    return -1;
}

static void wake_at(ls_sync_removal_t *rm, int64_t t)
{
    if (t > 0 && (!rm->wake_at || t < rm->wake_at))
        rm->wake_at = t;
}

/*
 * Start the GETs that are due while a slot is free and the limiter grants;
 * after a "later" of the limiter nothing more starts this turn. A backed-off
 * re-check sets the job's timer (rm->wake_at); a busy window needs none: an
 * answer frees a slot.
 */
int ls_sync_removal_recheck(ls_sync_job_t *j, int64_t now)
{
    ls_sync_removal_t *rm = &j->rm;
    take_answers(j, now);
    while (rm->first_open < rm->n && rm->items[rm->first_open].action != LS_GONE_RECHECK)
        rm->first_open++;
    rm->wake_at = 0;
    int open = 0, may_start = 1, started = 0;
    for (size_t i = rm->first_open; i < rm->n; i++) {
        ls_sync_gone_t *g = &rm->items[i];
        if (g->action != LS_GONE_RECHECK)
            continue;
        if (g->in_flight || g->not_before > now || !may_start) {
            wake_at(rm, !g->in_flight && g->not_before > now ? g->not_before : 0);
            open = 1;
            continue;
        }
        int slot = free_slot(j);
        int rc = slot >= 0 ? start_recheck(j, (size_t)slot, i) : 0;
        if (rc < 0)
            g->action = LS_GONE_HOLD; /* out of memory: asked again by the next complete scan */
        started += rc > 0;
        if (slot < 0 || (rc == 0 && g->action == LS_GONE_RECHECK)) {
            may_start = 0;
            wake_at(rm, g->not_before > now ? g->not_before : 0);
        }
        open = open || g->action == LS_GONE_RECHECK;
    }
    if (started)
        ls_http_multi_kick(j->ctx->multi);
    return !open;
}

/* ---- produce and store ---- */

static int produce_one(ls_sync_job_t *j, ls_sync_gone_t *g)
{
    ls_status_t *st = &j->st;
    if (g->action == LS_GONE_UPDATE) {
        if (g->diff.type != LS_CHANGE_NONE) {
            if (ls_sync_produce_event(j, &g->before, &g->now, &g->diff, j->batch) != LS_OK)
                return LS_EIO;
            st->events++;
        }
        if (g->diff.stored_mask) {
            if (ls_sync_produce_current(j, g->before.id, &g->now, 0, NULL, j->batch) != LS_OK ||
                ls_sync_produce_changelog(j, g->before.id, g->packed, g->packed_len, j->batch) != LS_OK)
                return LS_EIO;
            st->state_writes++;
        }
        return LS_OK;
    }
    ls_diff_t d;
    ls_diff_compute(&g->before, NULL, &d);
    if (ls_sync_produce_event(j, &g->before, NULL, &d, j->batch) != LS_OK ||
        ls_sync_produce_current(j, g->before.id, NULL, 0, NULL, j->batch) != LS_OK ||
        ls_sync_produce_changelog(j, g->before.id, NULL, 0, j->batch) != LS_OK)
        return LS_EIO;
    st->removed++;
    st->events++;
    st->state_writes++;
    return LS_OK;
}

/*
 * The rollups of the removed and updated activities, and every course of
 * the scope evaluated again: the end of a complete full scan is when
 * learners_idle, which moves with time alone, is brought up to date.
 */
static int removal_rollups(ls_sync_job_t *j)
{
    ls_ru_change_t *ch = malloc((j->rm.n ? j->rm.n : 1) * sizeof(*ch));
    if (!ch) {
        snprintf(j->st.error, sizeof(j->st.error), "out of memory");
        return LS_EIO;
    }
    size_t n = 0;
    for (size_t i = 0; i < j->rm.n; i++) {
        const ls_sync_gone_t *g = &j->rm.items[i];
        if (g->action == LS_GONE_REMOVE)
            ch[n++] = (ls_ru_change_t){&g->before, NULL};
        else if (g->action == LS_GONE_UPDATE && g->diff.stored_mask)
            ch[n++] = (ls_ru_change_t){&g->before, &g->now};
    }
    int rc = ls_sync_rollups(j, ch, n, 1);
    free(ch);
    return rc;
}

int ls_sync_removal_produce(ls_sync_job_t *j)
{
    for (size_t i = 0; i < j->rm.n; i++) {
        ls_sync_gone_t *g = &j->rm.items[i];
        if (g->action == LS_GONE_MARK)
            j->st.pending_removals++;
        else if (g->action == LS_GONE_HOLD)
            j->st.removals_held++;
        else if (produce_one(j, g) != LS_OK)
            return LS_EIO;
    }
    return removal_rollups(j);
}

/* The LMDB write of the pass: puts (states and deletions) and the new markers. */
static void fill_writes(const ls_sync_removal_t *rm, ls_store_put_t *puts, size_t *n, ls_store_mark_t *marks)
{
    *n = 0;
    for (size_t i = 0; i < rm->n; i++) {
        const ls_sync_gone_t *g = &rm->items[i];
        int mark = g->action == LS_GONE_MARK   ? 1
                   : g->action == LS_GONE_HOLD ? (g->misses < 255 ? g->misses + 1 : 255)
                                               : 0;
        marks[i] = (ls_store_mark_t){g->before.id, mark};
        if (g->action == LS_GONE_UPDATE && g->diff.stored_mask)
            puts[(*n)++] = (ls_store_put_t){g->before.id, g->packed, g->packed_len};
        else if (g->action == LS_GONE_REMOVE)
            puts[(*n)++] = (ls_store_put_t){g->before.id, NULL, 0};
    }
}

int ls_sync_removal_store(ls_sync_job_t *j)
{
    char err[256];
    ls_sync_removal_t *rm = &j->rm;
    json_object_set_new(j->sync, "last_full_count", json_integer((json_int_t)j->seen.n));
    if (!rm->n && !j->ru.n) /* nothing to apply: the sync record is left to ls_sync_record_store */
        return LS_OK;
    ls_store_put_t *puts = malloc((rm->n ? rm->n : 1) * sizeof(*puts));
    ls_store_mark_t *marks = malloc((rm->n ? rm->n : 1) * sizeof(*marks));
    const ls_store_row_t *rows = ls_ru_rows_view(&j->ru);
    char *js = puts && marks && rows ? ls_sync_record_dump(j) : NULL;
    size_t n = 0;
    int rc = LS_ENOMEM;
    if (js) {
        fill_writes(rm, puts, &n, marks);
        rc = ls_store_commit_rows(j->ctx->store, j->partition, j->conn, puts, n, marks, rm->n, rows,
                                  j->ru.n, n ? j->batch->after_acks_next_offset : -1, j->scope, js, err,
                                  sizeof(err));
    }
    free(puts);
    free(marks);
    if (rc != LS_OK) {
        free(js);
        snprintf(j->st.error, sizeof(j->st.error), "%s", rc == LS_ENOMEM ? "out of memory" : err);
        return LS_EIO;
    }
    free(j->stored);
    j->stored = js;
    return LS_OK;
}

void ls_sync_removal_release(ls_sync_job_t *j)
{
    for (size_t s = 0; s < LS_SYNC_RECHECK_WINDOW; s++)
        ls_sync_req_drop(j, &j->rm.rx[s].req);
    free(j->rm.items);
    j->rm.items = NULL;
    j->rm.n = j->rm.cap = 0;
}
