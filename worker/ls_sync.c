/*
 * ls_sync.c - the poll of one scope, page by page.
 *
 * Per page: fetch (with retries and backoff), parse, normalize every record
 * (a bad record is skipped and counted), diff against LMDB in a short read
 * transaction, produce change events and changelog records, wait for all
 * their delivery reports, and only then commit the page's state and the
 * changelog checkpoint in one LMDB write transaction. No LMDB transaction
 * is open during an HTTP request or a Kafka wait. A crash at any point
 * re-runs the job against the state of the last committed page, which
 * reproduces the same events with the same ids (or none).
 *
 * Removal (design-brief section 4): every id of the scan goes into a set.
 * After a complete full scan (every page ok), each stored activity of the
 * scope that the scan did not see gets a pending-removal marker (miss 1);
 * one that already had a marker is announced as `removed`, its changelog
 * tombstone produced and delivered, and only then its state and marker are
 * deleted in one LMDB write. A seen activity loses its marker in the commit
 * of its page, in any scan. A scan that saw fewer than
 * worker.removal_min_ratio_pct % of the last complete scan's count removes
 * nothing, moves no marker and keeps the old count (reported in the status
 * record as "removals_skipped"); after worker.shrink_accept_scans
 * consecutive guarded scans that agree within worker.shrink_tolerance_pct,
 * the smaller count becomes the baseline and the two-scan rule resumes.
 * Where the job says the provider has a per-record get, a second miss is
 * confirmed with GET /lms/{conn}/activity/{id} (404 removes, 200 updates
 * the state instead); a course-scoped job without a get never removes
 * (the record may have moved to another course): it is held and counted.
 *
 * Requests carry only what the job's strategy (ls_profile.h, chosen by the
 * coordinator) says the provider supports: fields, sort, limit/offset,
 * course_id, updated_gte. Incremental jobs send the scope's stored
 * watermark as updated_gte and never count misses; an incremental job
 * without a stored watermark runs as a full scan (the status says so). The
 * next watermark (job start minus worker.watermark_overlap_s) is stored in
 * the scope's sync record only after every page and the removal pass were
 * delivered and committed.
 */
#include "ls_sync.h"
#include "ls_diff.h"
#include "ls_err.h"
#include "ls_event.h"
#include "ls_hash.h"
#include "ls_log.h"
#include "ls_page.h"
#include "ls_state.h"
#include "ls_time.h"
#include "ls_worker_metrics.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_REJECT_LOGS 5    /* per job: the rest are only counted */
#define DELIVERY_TIMEOUT_MS 60000

/* One normalized record of a page and what the diff made of it. */
typedef struct page_item {
    ls_activity_t act;
    ls_diff_t diff;
    uint8_t packed[LS_STATE_MAX];
    size_t packed_len;
    int has_before;
    int had_mark;        /* a pending-removal marker exists: clear it with the page */
    ls_activity_t before;
} page_item_t;

typedef struct page {
    page_item_t *items;
    size_t n, cap;
} page_t;

/*
 * Ids seen by this scan: open addressing over 64-bit hashes of the ids
 * (0 = empty slot). A collision makes an unseen id look seen, which only
 * delays its removal to a later scan; it can never invent a removal.
 */
typedef struct seen_set {
    uint64_t *slots;
    size_t cap, n;
    size_t unidentified; /* rejected records without a usable id */
} seen_set_t;

static uint64_t id_hash(const char *id)
{
    uint64_t h = ls_hash64(id, strlen(id), LS_HASH_SEED);
    return h ? h : 1;
}

static int seen_insert(uint64_t *slots, size_t cap, uint64_t h)
{
    for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
        if (slots[i] == h)
            return 0;
        if (slots[i] == 0) {
            slots[i] = h;
            return 1;
        }
    }
}

static int seen_add(seen_set_t *s, const char *id)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        uint64_t *ns = calloc(cap, sizeof(*ns));
        if (!ns)
            return LS_ENOMEM;
        for (size_t i = 0; i < s->cap; i++)
            if (s->slots[i])
                seen_insert(ns, cap, s->slots[i]);
        free(s->slots);
        s->slots = ns;
        s->cap = cap;
    }
    s->n += (size_t)seen_insert(s->slots, s->cap, id_hash(id));
    return LS_OK;
}

static int seen_has(const seen_set_t *s, const char *id)
{
    if (!s->cap)
        return 0;
    uint64_t h = id_hash(id);
    for (size_t i = h & (s->cap - 1); s->slots[i]; i = (i + 1) & (s->cap - 1))
        if (s->slots[i] == h)
            return 1;
    return 0;
}

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
 * GET .../activity with only what the job's strategy says the provider
 * supports: limit/offset when it pages, course_id for a course scope,
 * updated_gte (the watermark; the epoch on a full scan where it is
 * required), sort/order, and the readable fields.
 */
static int build_url(const ls_sync_ctx_t *ctx, const ls_job_t *job, const char *gte, long offset,
                     char *url, size_t sz)
{
    char conn[3 * LS_STR_MAX + 1], course[3 * LS_STR_MAX + 1], wm[3 * 40];
    if (ls_http_escape(job->connection_id, conn, sizeof(conn)) || ls_http_escape(job->course_id, course, sizeof(course)) ||
        ls_http_escape(gte ? gte : "", wm, sizeof(wm)))
        return LS_EFULL;
    size_t n = (size_t)snprintf(url, sz, "%s/lms/%s/activity?", ctx->cfg->unified_base_url, conn);
    if (!job->unpaged)
        n += (size_t)snprintf(url + n, n < sz ? sz - n : 0, "limit=%d&offset=%ld", ctx->cfg->page_limit, offset);
    if (job->course_id[0])
        n += (size_t)snprintf(url + n, n < sz ? sz - n : 0, "&course_id=%s", course);
    if (gte && gte[0])
        n += (size_t)snprintf(url + n, n < sz ? sz - n : 0, "&updated_gte=%s", wm);
    if (job->sort[0])
        n += (size_t)snprintf(url + n, n < sz ? sz - n : 0, "&sort=%s%s", job->sort, job->order_asc ? "&order=asc" : "");
    n = append_fields(job, url, n, sz);
    return n < sz ? LS_OK : LS_EFULL;
}

/* Exponential backoff with jitter, or the server's Retry-After (capped at 60 s). */
static int64_t backoff_ms(int attempt, int64_t retry_after_ms, uint64_t seed)
{
    if (retry_after_ms >= 0)
        return retry_after_ms > 60000 ? 60000 : retry_after_ms;
    int64_t base = 500;
    for (int i = 0; i < attempt && base < 30000; i++)
        base = base * 3 / 2;
    return base + (int64_t)(ls_hash64(&seed, sizeof(seed), (uint64_t)attempt) % 250);
}

static int page_reserve(page_t *pg, size_t n)
{
    if (n <= pg->cap)
        return LS_OK;
    page_item_t *ni = realloc(pg->items, n * sizeof(*ni));
    if (!ni)
        return LS_ENOMEM;
    pg->items = ni;
    pg->cap = n;
    return LS_OK;
}

/* True when id already occurs among the first n items (a list that moved under us). */
static int seen_in_page(const page_t *pg, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(pg->items[i].act.id, id) == 0)
            return 1;
    return 0;
}

/*
 * Normalized records of a parsed page; bad records are counted and skipped.
 * A rejected record still exists upstream: its id (when usable, raw_id) is
 * remembered as seen so that it is never taken for removed; a rejected
 * record without a usable id is counted (it blocks removals of the scan).
 */
static int normalize_page(const ls_page_t *parsed, const ls_job_t *job, page_t *pg, seen_set_t *seen,
                          ls_status_t *st)
{
    if (page_reserve(pg, parsed->n) != LS_OK)
        return LS_ENOMEM;
    pg->n = 0;
    for (size_t i = 0; i < parsed->n; i++) {
        const ls_page_rec_t *r = &parsed->recs[i];
        st->records++;
        if (r->rc != LS_OK) {
            if (st->rejected++ < MAX_REJECT_LOGS)
                ls_warn("record skipped in \"%s\": %s", job->connection_id, r->why);
            if (r->raw_id[0]) {
                if (seen_add(seen, r->raw_id) != LS_OK)
                    return LS_ENOMEM;
            } else {
                seen->unidentified++;
            }
            continue;
        }
        if (seen_add(seen, r->act.id) != LS_OK)
            return LS_ENOMEM;
        if (!seen_in_page(pg, pg->n, r->act.id))
            pg->items[pg->n++].act = r->act;
    }
    return LS_OK;
}

/* Diff every item against LMDB inside one short read transaction. */
static int diff_page(ls_sync_ctx_t *ctx, const ls_job_t *job, int partition, page_t *pg)
{
    char err[256];
    ls_store_reader_t *r = ls_store_reader_new(ctx->store, err, sizeof(err));
    if (!r) {
        ls_error("%s", err);
        return LS_EIO;
    }
    int rc = LS_OK;
    for (size_t i = 0; i < pg->n && rc == LS_OK; i++) {
        page_item_t *it = &pg->items[i];
        const uint8_t *prev;
        size_t prev_len;
        int g = ls_store_reader_get(r, partition, job->connection_id, it->act.id, &prev, &prev_len);
        it->has_before = 0;
        if (g == LS_OK && ls_state_unpack(prev, prev_len, &it->before) == LS_OK) {
            it->has_before = 1;
            snprintf(it->before.id, sizeof(it->before.id), "%s", it->act.id);
        } else if (g == LS_OK) {
            ls_warn("stored state of \"%s\" in \"%s\" does not decode; treating as first seen",
                    it->act.id, job->connection_id);
        } else if (g != LS_ENOTFOUND) {
            rc = LS_EIO;
        }
        int misses, m = ls_store_reader_get_pending(r, partition, job->connection_id, it->act.id, &misses);
        it->had_mark = m == LS_OK;
        if (m != LS_OK && m != LS_ENOTFOUND)
            rc = LS_EIO;
        ls_diff_compute(it->has_before ? &it->before : NULL, &it->act, &it->diff);
        if (rc == LS_OK && it->diff.stored_mask)
            rc = ls_state_pack(&it->act, it->packed, sizeof(it->packed), &it->packed_len) ? LS_EIO : LS_OK;
    }
    ls_store_reader_destroy(r);
    return rc;
}

/* One change event; before or after may be NULL (created / removed). */
static int produce_event(ls_sync_ctx_t *ctx, const ls_job_t *job, const ls_activity_t *before,
                         const ls_activity_t *after, const ls_diff_t *d, ls_batch_t *b)
{
    ls_event_ctx_t ec = {job->connection_id, job->integration_type[0] ? job->integration_type : NULL,
                         job->external_xref[0] ? job->external_xref : NULL, ls_mode_name(job->mode), job->job_id,
                         ls_time_now_ms()};
    ls_event_t ev;
    char err[256];
    if (ls_event_build(&ec, before, after, d, &ev, err, sizeof(err))) {
        ls_error("cannot build event for \"%s\": %s", after ? after->id : before->id, err);
        return LS_EIO;
    }
    ls_kafka_header_t h[] = {{"ce_specversion", "1.0"}, {"ce_id", ev.id}, {"ce_source", ev.source},
                             {"ce_type", ev.type}, {"ce_time", ev.time}, {"ce_subject", ev.subject},
                             {"content-type", "application/json"}};
    int rc = ls_producer_send(ctx->producer, ctx->topic_changes, -1, ev.key, strlen(ev.key), ev.value,
                              ev.value_len, h, sizeof(h) / sizeof(h[0]), b, 0);
    ls_event_release(&ev);
    if (rc == LS_OK) /* counted when produced: a delivery that fails fails the job */
        ls_metric_add(WM_EVENTS, (int)d->type - 1, 0, 1);
    return rc;
}

/* Events and changelog records for every changed item of the page. */
static int produce_page(ls_sync_ctx_t *ctx, const ls_job_t *job, int partition, page_t *pg,
                        ls_batch_t *b, ls_status_t *st)
{
    char key[2 * LS_STR_MAX + 2];
    for (size_t i = 0; i < pg->n; i++) {
        page_item_t *it = &pg->items[i];
        if (it->diff.type != LS_CHANGE_NONE) {
            if (produce_event(ctx, job, it->has_before ? &it->before : NULL, &it->act, &it->diff, b) != LS_OK)
                return LS_EIO;
            st->events++;
        }
        if (it->diff.stored_mask) {
            int kl = ls_activity_key(job->connection_id, it->act.id, key, sizeof(key));
            if (ls_producer_send(ctx->producer, ctx->topic_state, partition, key, (size_t)kl,
                                 it->packed, it->packed_len, NULL, 0, b, 1) != LS_OK)
                return LS_EIO;
            st->state_writes++;
        }
    }
    return LS_OK;
}

/* After delivery: store the page's new state with its changelog checkpoint (nothing when nothing changed). */
static int store_page(ls_sync_ctx_t *ctx, const ls_job_t *job, int partition, page_t *pg,
                      const ls_batch_t *b, ls_status_t *st)
{
    char err[256];
    ls_store_put_t *puts = malloc((pg->n ? pg->n : 1) * sizeof(*puts));
    ls_store_mark_t *marks = malloc((pg->n ? pg->n : 1) * sizeof(*marks));
    if (!puts || !marks) {
        free(puts);
        free(marks);
        snprintf(st->error, sizeof(st->error), "out of memory storing a page of \"%s\"", job->connection_id);
        return LS_EIO;
    }
    size_t n = 0, nm = 0;
    for (size_t i = 0; i < pg->n; i++) {
        if (pg->items[i].diff.stored_mask)
            puts[n++] = (ls_store_put_t){pg->items[i].act.id, pg->items[i].packed, pg->items[i].packed_len};
        if (pg->items[i].had_mark) /* seen again: it is not going away */
            marks[nm++] = (ls_store_mark_t){pg->items[i].act.id, 0};
    }
    int rc = n || nm ? ls_store_commit(ctx->store, partition, job->connection_id, puts, n, marks, nm,
                                       n ? b->tracked_next_offset : -1, NULL, NULL, err, sizeof(err))
                     : LS_OK;
    free(puts);
    free(marks);
    if (rc != LS_OK) {
        snprintf(st->error, sizeof(st->error), "%s", err);
        return LS_EIO;
    }
    return LS_OK;
}

/* What the removal pass does with one unseen stored activity. */
typedef enum gone_action { GONE_MARK, GONE_REMOVE, GONE_UPDATE, GONE_HOLD } gone_action_t;

/* A stored activity of the scope that the scan did not see (copied out of the read txn). */
typedef struct gone {
    int misses;
    ls_activity_t before;
    gone_action_t action;
    ls_activity_t now;             /* GONE_UPDATE: the record a per-record GET returned */
    ls_diff_t diff;
    uint8_t packed[LS_STATE_MAX];
    size_t packed_len;
} gone_t;

typedef struct walk {
    ls_store_reader_t *r;
    const ls_job_t *job;
    int partition;
    const seen_set_t *seen;
    gone_t *items;
    size_t n, cap;
    size_t in_scope;     /* stored activities of the scope */
    int rc;
} walk_t;

static int walk_cb(const char *id, const uint8_t *state, size_t len, void *ud)
{
    walk_t *w = ud;
    ls_activity_t a;
    if (ls_state_unpack(state, len, &a) != LS_OK) {
        ls_warn("stored state of \"%s\" in \"%s\" does not decode; never removed", id, w->job->connection_id);
        return 0;
    }
    if (w->job->course_id[0] &&
        (a.pres[LS_F_COURSE_ID] != LS_PRESENT || strcmp(a.course_id, w->job->course_id) != 0))
        return 0;
    w->in_scope++;
    if (seen_has(w->seen, id))
        return 0;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        gone_t *ni = realloc(w->items, cap * sizeof(*ni));
        if (!ni)
            return (w->rc = LS_ENOMEM);
        w->items = ni;
        w->cap = cap;
    }
    gone_t *g = &w->items[w->n];
    g->before = a;
    g->action = GONE_MARK;
    snprintf(g->before.id, sizeof(g->before.id), "%s", id);
    int m = ls_store_reader_get_pending(w->r, w->partition, w->job->connection_id, id, &g->misses);
    if (m != LS_OK && m != LS_ENOTFOUND)
        return (w->rc = LS_EIO);
    w->n++;
    return 0;
}

/* One read txn: the unseen stored activities of the scope. */
static int collect_unseen(ls_sync_ctx_t *ctx, const ls_job_t *job, int partition, const seen_set_t *seen, walk_t *w)
{
    char err[256];
    ls_store_reader_t *r = ls_store_reader_new(ctx->store, err, sizeof(err));
    if (!r) {
        ls_error("%s", err);
        return LS_EIO;
    }
    *w = (walk_t){r, job, partition, seen, NULL, 0, 0, 0, LS_OK};
    int rc = ls_store_reader_foreach(r, partition, job->connection_id, walk_cb, w) != LS_OK ? LS_EIO : LS_OK;
    ls_store_reader_destroy(r);
    return rc;
}

/* The scope's sync record (a new JSON object when there is none or it does not decode). */
static json_t *load_sync(ls_sync_ctx_t *ctx, int partition, const char *scope, char **stored, int *rc)
{
    char err[256], buf[4096];
    ls_store_reader_t *r = ls_store_reader_new(ctx->store, err, sizeof(err));
    *rc = LS_OK;
    if (!r) {
        ls_error("%s", err);
        *rc = LS_EIO;
        return NULL;
    }
    int g = ls_store_reader_get_sync(r, partition, scope, buf, sizeof(buf));
    ls_store_reader_destroy(r);
    json_t *o = g == LS_OK ? json_loads(buf, 0, NULL) : NULL;
    if (g != LS_OK && g != LS_ENOTFOUND)
        *rc = LS_EIO;
    if (g == LS_OK && !json_is_object(o))
        ls_warn("sync record of \"%s\" does not decode; starting it afresh", scope);
    if (!json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    if (!o)
        *rc = LS_ENOMEM;
    /* the stored record as store_sync would write it (NULL: none, or it did not decode) */
    *stored = g == LS_OK && json_object_size(o) ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    return o;
}

static long long sync_int(json_t *sync, const char *key, long long dflt)
{
    json_t *v = json_object_get(sync, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

/*
 * The shrink guard: "" in why when the scan may count misses, else the reason.
 * Recovery: a guarded scan's count becomes a candidate baseline; when
 * worker.shrink_accept_scans consecutive complete guarded scans agree on it
 * within worker.shrink_tolerance_pct, it becomes last_full_count. That scan
 * still removes nothing; from the next scan on, the normal two-scan rule
 * applies against the new baseline. Updates sync in memory.
 */
static void shrink_guard(const ls_sync_ctx_t *ctx, const seen_set_t *seen, const walk_t *w, json_t *sync,
                         char *why, size_t whysz)
{
    /* no baseline yet (first complete scan): what is stored for the scope */
    long long base = sync_int(sync, "last_full_count", (long long)w->in_scope);
    long long n = (long long)seen->n;
    why[0] = '\0';
    if (seen->unidentified) {
        snprintf(why, whysz, "%zu rejected records without a usable id", seen->unidentified);
        return;
    }
    if (!(base > 0 && n * 100 < base * ctx->cfg->removal_min_ratio_pct)) {
        json_object_del(sync, "shrink_count");
        json_object_del(sync, "shrink_scans");
        return;
    }
    long long cand = sync_int(sync, "shrink_count", -1), streak = sync_int(sync, "shrink_scans", 0);
    long long diff = cand > n ? cand - n : n - cand, big = cand > n ? cand : n;
    streak = cand >= 0 && diff * 100 <= big * ctx->cfg->shrink_tolerance_pct ? streak + 1 : 1;
    int accept = ctx->cfg->shrink_accept_scans > 0 && streak >= ctx->cfg->shrink_accept_scans;
    int k = snprintf(why, whysz, "scan saw %lld records, below %d%% of the last complete scan's %lld "
                     "(worker.removal_min_ratio_pct)", n, ctx->cfg->removal_min_ratio_pct, base);
    if (accept) {
        snprintf(why + k, whysz - (size_t)k, "; %lld consecutive complete scans agreed, so %lld is the new "
                 "baseline (worker.shrink_accept_scans)", streak, n);
        json_object_set_new(sync, "last_full_count", json_integer((json_int_t)n));
        json_object_del(sync, "shrink_count");
        json_object_del(sync, "shrink_scans");
    } else {
        snprintf(why + k, whysz - (size_t)k, "; agreeing complete scans %lld of %d", streak,
                 ctx->cfg->shrink_accept_scans);
        json_object_set_new(sync, "shrink_count", json_integer((json_int_t)n));
        json_object_set_new(sync, "shrink_scans", json_integer((json_int_t)streak));
    }
}

/*
 * Re-check a removal candidate with GET /lms/{conn}/activity/{id}: 404 ->
 * removed; 200 -> it exists (moved to another course, or skipped by the
 * list): its state is updated instead; anything else -> it stays a
 * candidate (marker kept) and the next complete scan asks again.
 */
static int recheck(ls_sync_ctx_t *ctx, const ls_job_t *job, gone_t *g, ls_status_t *st)
{
    char url[4096], conn[3 * LS_STR_MAX + 1], id[3 * LS_STR_MAX + 1], err[256];
    if (ls_http_escape(job->connection_id, conn, sizeof(conn)) || ls_http_escape(g->before.id, id, sizeof(id)))
        return GONE_HOLD;
    size_t n = (size_t)snprintf(url, sizeof(url), "%s/lms/%s/activity/%s?", ctx->cfg->unified_base_url, conn, id);
    n = append_fields(job, url, n, sizeof(url));
    if (n >= sizeof(url))
        return GONE_HOLD;
    ls_http_resp_t resp;
    int rc = ls_http_get(ctx->http, url, &resp, err, sizeof(err));
    ls_worker_metrics_request(job->integration_type, &resp);
    st->requests++;
    st->rechecked++;
    st->bytes += resp.len;
    if (rc == LS_ENOTFOUND)
        return GONE_REMOVE;
    json_t *o = rc == LS_OK ? json_loadb(resp.body, resp.len, 0, NULL) : NULL;
    if (o && ls_activity_from_json(o, &g->now, err, sizeof(err)) == LS_OK && strcmp(g->now.id, g->before.id) == 0) {
        json_decref(o);
        ls_diff_compute(&g->before, &g->now, &g->diff);
        if (g->diff.stored_mask && ls_state_pack(&g->now, g->packed, sizeof(g->packed), &g->packed_len))
            return GONE_HOLD;
        ls_info("\"%s\" in \"%s\" missed by two scans of its scope but still exists upstream; not removed",
                g->before.id, job->connection_id);
        return GONE_UPDATE;
    }
    json_decref(o);
    ls_warn("removal of \"%s\" in \"%s\" deferred: per-record get failed: %s", g->before.id, job->connection_id,
            rc == LS_OK ? "answer is not an activity" : err);
    return GONE_HOLD;
}

/* Decide each unseen activity's fate (HTTP re-checks happen here, outside any txn). */
static void decide(ls_sync_ctx_t *ctx, const ls_job_t *job, walk_t *w, ls_status_t *st)
{
    for (size_t i = 0; i < w->n; i++) {
        gone_t *g = &w->items[i];
        if (!g->misses)
            g->action = GONE_MARK;
        else if (job->get)
            g->action = (gone_action_t)recheck(ctx, job, g, st);
        else if (job->course_id[0])
            g->action = GONE_HOLD; /* could have moved to another course: see removal_pass */
        else
            g->action = GONE_REMOVE;
    }
}

/* Produce removed events, update events and changelog records; fill puts/marks. */
static int produce_removals(ls_sync_ctx_t *ctx, const ls_job_t *job, int partition, walk_t *w,
                            ls_store_put_t *puts, size_t *n, ls_store_mark_t *marks, ls_batch_t *b,
                            ls_status_t *st)
{
    char key[2 * LS_STR_MAX + 2];
    *n = 0;
    for (size_t i = 0; i < w->n; i++) {
        gone_t *g = &w->items[i];
        int kl = ls_activity_key(job->connection_id, g->before.id, key, sizeof(key));
        if (g->action == GONE_MARK) {
            marks[i] = (ls_store_mark_t){g->before.id, 1};
            st->pending_removals++;
        } else if (g->action == GONE_HOLD) {
            marks[i] = (ls_store_mark_t){g->before.id, g->misses < 255 ? g->misses + 1 : 255};
            st->removals_held++;
        } else if (g->action == GONE_UPDATE) {
            marks[i] = (ls_store_mark_t){g->before.id, 0};
            if (g->diff.type != LS_CHANGE_NONE) {
                if (produce_event(ctx, job, &g->before, &g->now, &g->diff, b) != LS_OK)
                    return LS_EIO;
                st->events++;
            }
            if (g->diff.stored_mask) {
                if (ls_producer_send(ctx->producer, ctx->topic_state, partition, key, (size_t)kl, g->packed,
                                     g->packed_len, NULL, 0, b, 1) != LS_OK)
                    return LS_EIO;
                puts[(*n)++] = (ls_store_put_t){g->before.id, g->packed, g->packed_len};
                st->state_writes++;
            }
        } else {
            marks[i] = (ls_store_mark_t){g->before.id, 0};
            ls_diff_t d;
            ls_diff_compute(&g->before, NULL, &d);
            if (produce_event(ctx, job, &g->before, NULL, &d, b) != LS_OK)
                return LS_EIO;
            if (ls_producer_send(ctx->producer, ctx->topic_state, partition, key, (size_t)kl, NULL, 0, NULL, 0,
                                 b, 1) != LS_OK)
                return LS_EIO;
            puts[(*n)++] = (ls_store_put_t){g->before.id, NULL, 0};
            st->removed++;
            st->events++;
            st->state_writes++;
        }
    }
    return LS_OK;
}

/* Deliver, then apply removals/updates, move markers and store the sync record in one write. */
static int commit_removals(ls_sync_ctx_t *ctx, const ls_job_t *job, int partition, const char *scope,
                           walk_t *w, const seen_set_t *seen, json_t *sync, char **stored, ls_status_t *st)
{
    char err[256];
    ls_batch_t b;
    ls_batch_init(&b);
    ls_store_put_t *puts = malloc((w->n ? w->n : 1) * sizeof(*puts));
    ls_store_mark_t *marks = malloc((w->n ? w->n : 1) * sizeof(*marks));
    size_t n = 0;
    int rc = puts && marks ? produce_removals(ctx, job, partition, w, puts, &n, marks, &b, st) : LS_ENOMEM;
    if (ls_producer_wait(ctx->producer, &b, DELIVERY_TIMEOUT_MS, err, sizeof(err)) != LS_OK && rc == LS_OK) {
        snprintf(st->error, sizeof(st->error), "kafka delivery failed: %s", err);
        rc = LS_EIO;
    } else if (rc != LS_OK) {
        snprintf(st->error, sizeof(st->error), "removal pass of \"%s\" failed", job->connection_id);
        rc = LS_EIO;
    }
    char *js = NULL;
    if (rc == LS_OK) {
        json_object_set_new(sync, "last_full_count", json_integer((json_int_t)seen->n));
        /* nothing to apply: the sync record is left to store_sync (written only if it changed) */
        if (n || w->n) {
            js = json_dumps(sync, JSON_COMPACT | JSON_SORT_KEYS);
            rc = js ? ls_store_commit(ctx->store, partition, job->connection_id, puts, n, marks, w->n,
                                      n ? b.tracked_next_offset : -1, scope, js, err, sizeof(err))
                    : LS_ENOMEM;
            if (rc != LS_OK) {
                snprintf(st->error, sizeof(st->error), "%s", js ? err : "out of memory");
                rc = LS_EIO;
            } else {
                free(*stored);
                *stored = js;
                js = NULL;
            }
        }
    }
    free(js);
    free(puts);
    free(marks);
    return rc;
}

/*
 * After a complete full scan: count misses, remove what was missed twice
 * (see top). Course scopes (fan-out): a record missing from its course may
 * have moved to another course, so the second miss is confirmed with a
 * per-record GET where the provider has one (404 removes, 200 updates);
 * without a get it is held (marker kept, counted in removals_held), never
 * removed by a course scan.
 */
static int removal_pass(ls_sync_ctx_t *ctx, const ls_job_t *job, int partition, const char *scope,
                        const seen_set_t *seen, json_t *sync, char **stored, ls_status_t *st)
{
    walk_t w;
    int rc = collect_unseen(ctx, job, partition, seen, &w);
    if (rc == LS_OK && w.rc != LS_OK)
        rc = LS_EIO;
    if (rc != LS_OK) {
        snprintf(st->error, sizeof(st->error), "local failure while looking for removals in \"%s\"", job->connection_id);
    } else {
        shrink_guard(ctx, seen, &w, sync, st->removals_skipped, sizeof(st->removals_skipped));
        if (st->removals_skipped[0]) {
            ls_warn("removal detection skipped for \"%s\": %s", scope, st->removals_skipped);
        } else {
            decide(ctx, job, &w, st);
            rc = commit_removals(ctx, job, partition, scope, &w, seen, sync, stored, st);
        }
    }
    free(w.items);
    return rc;
}

/*
 * At job end, after every delivery and commit: the scope's sync record with
 * the new watermark. The watermark is kept only where the provider supports
 * updated_gte (only there can an incremental job use it). The record is
 * written only when its text differs from what is stored (*stored, the
 * compact sorted JSON last read or written), so a poll that changed nothing
 * on a full-scan scope writes nothing to LMDB (issue 5, target e).
 */
static int store_sync(ls_sync_ctx_t *ctx, const ls_job_t *job, int partition, const char *scope,
                      json_t *sync, char **stored, ls_status_t *st)
{
    char err[256], ts[LS_TIME_BUFSZ];
    if (job->gte != LS_GTE_NONE) {
        int64_t wm = st->started_at - (int64_t)ctx->cfg->watermark_overlap_s * 1000;
        snprintf(st->next_watermark, sizeof(st->next_watermark), "%s", ls_time_format(wm - wm % 1000, ts));
        json_object_set_new(sync, "watermark", json_string(st->next_watermark));
    } else {
        json_object_del(sync, "watermark");
    }
    json_object_set_new(sync, "last_mode", json_string(ls_mode_name(st->mode)));
    json_object_del(sync, "last_full_at"); /* informational, changed every job: no longer kept */
    char *js = json_dumps(sync, JSON_COMPACT | JSON_SORT_KEYS);
    if (js && *stored && strcmp(js, *stored) == 0) {
        free(js);
        return LS_OK;
    }
    int rc = js ? ls_store_commit(ctx->store, partition, job->connection_id, NULL, 0, NULL, 0, -1, scope, js, err,
                                  sizeof(err))
                : LS_ENOMEM;
    if (rc != LS_OK) {
        free(js);
        snprintf(st->error, sizeof(st->error), "cannot store the sync record of \"%.200s\": %.200s", scope,
                 rc == LS_ENOMEM ? "out of memory" : err);
        return LS_EIO;
    }
    free(*stored);
    *stored = js;
    return LS_OK;
}

/*
 * The mode to run: an incremental job needs the scope's stored watermark;
 * without one (first job, wiped partition) it runs as a full scan. gte gets
 * the updated_gte value to send ("" = none).
 */
static void choose_mode(const ls_job_t *job, json_t *sync, ls_status_t *st, char *gte, size_t gtesz)
{
    const char *wm = json_string_value(json_object_get(sync, "watermark"));
    int64_t t;
    gte[0] = '\0';
    if (job->mode == LS_MODE_INCREMENTAL && wm && ls_time_parse(wm, &t) == LS_OK) {
        st->mode = LS_MODE_INCREMENTAL;
        snprintf(gte, gtesz, "%s", wm);
        snprintf(st->watermark, sizeof(st->watermark), "%s", wm);
        return;
    }
    if (job->mode == LS_MODE_INCREMENTAL)
        ls_info("job \"%s\": no stored watermark for its scope; running a full scan", job->job_id);
    st->mode = LS_MODE_FULL;
    if (job->gte == LS_GTE_REQUIRED) /* updated_gte is required on every request: the epoch lists everything */
        snprintf(gte, gtesz, "1970-01-01T00:00:00Z");
}

/* ---- one job as a state machine over the shared curl multi handle ---- */

struct ls_sync_job {
    ls_sync_ctx_t *ctx;
    ls_job_t run;              /* the job, mode = the mode actually run */
    int partition;
    ls_status_t st;
    char scope[2 * LS_STR_MAX + 2], gte[40];
    json_t *sync;
    char *stored;              /* the sync record as stored (compact, sorted), or NULL */
    seen_set_t seen;
    long offset;               /* offset of the page requested by cur */
    ls_http_xfer_t *cur;       /* request of the page at offset (NULL while backing off) */
    ls_http_xfer_t *next;      /* prefetch of the page at offset + page_limit, or NULL */
    int cur_ready, next_ready; /* their responses arrived */
    int cur_held, next_held;   /* they hold a limiter grant (released when they complete or are dropped) */
    int attempt;               /* retries of the page at offset */
    int64_t retry_at;          /* monotonic ms at which cur is requested (again) (0 = none): backoff or rate limit */
    page_t pg;                 /* the page being delivered (kept until its commit) */
    ls_batch_t *batch;         /* its events and changelog records (heap: librdkafka points at it) */
    int acking;                /* the batch is in flight */
    int produce_failed, page_last;
    int64_t ack_deadline;      /* monotonic ms */
    int finished, rc;
};

/*
 * Start the request of the page at offset if the rate limiter lets it go
 * now: 0 and *x set; LATER and *later (monotonic ms) when the limiter says
 * wait; LS_EINVAL (url too long) or LS_ENOMEM.
 */
#define LATER 1
static int request_page(ls_sync_job_t *j, long offset, ls_http_xfer_t **x, int64_t *later)
{
    char url[8192];
    *x = NULL;
    if (build_url(j->ctx, &j->run, j->gte, offset, url, sizeof(url)) != LS_OK)
        return LS_EINVAL;
    if (j->ctx->limiter) {
        int64_t t = ls_limiter_acquire(j->ctx->limiter, j->run.connection_id, j->run.integration_type,
                                       ls_time_mono_ms());
        if (t > 0) {
            *later = t;
            j->st.rate_waits++;
            return LATER;
        }
    }
    if (!(*x = ls_http_multi_start(j->ctx->multi, url, j))) {
        if (j->ctx->limiter)
            ls_limiter_release(j->ctx->limiter, j->run.connection_id, LS_RL_CANCELLED, -1,
                               ls_time_mono_ms());
        return LS_ENOMEM;
    }
    return LS_OK;
}

/* Give back the limiter grant of a transfer that ends (outcome from its answer, or cancelled). */
static void unhold(ls_sync_job_t *j, ls_http_xfer_t *x, int *held, int completed)
{
    if (!*held)
        return;
    *held = 0;
    if (!j->ctx->limiter)
        return;
    ls_rl_outcome_t o = LS_RL_CANCELLED;
    int64_t retry_after = -1;
    if (completed) {
        ls_http_resp_t resp;
        char err[8];
        ls_http_xfer_result(x, &resp, err, sizeof(err));
        o = ls_rl_classify(resp.status, resp.body, resp.len);
        retry_after = resp.retry_after_ms;
    }
    ls_limiter_release(j->ctx->limiter, j->run.connection_id, o, retry_after,
                       ls_time_mono_ms());
}

static void job_finish(ls_sync_job_t *j, int rc);

/* Request the page at j->offset as cur, now or when the limiter allows (j->retry_at). */
static void request_cur(ls_sync_job_t *j)
{
    int64_t later = 0;
    int rc = request_page(j, j->offset, &j->cur, &later);
    if (rc == LS_OK) {
        j->cur_held = 1;
        return;
    }
    if (rc == LATER) {
        j->retry_at = later;
        return;
    }
    snprintf(j->st.error, sizeof(j->st.error), "cannot start a request for \"%.200s\"%s", j->run.connection_id,
             rc == LS_EINVAL ? " (url too long?)" : "");
    job_finish(j, rc == LS_EINVAL ? LS_EINVAL : LS_EIO);
}

static void job_finish(ls_sync_job_t *j, int rc)
{
    unhold(j, j->cur, &j->cur_held, 0);
    unhold(j, j->next, &j->next_held, 0);
    ls_http_xfer_release(j->ctx->multi, j->cur);
    ls_http_xfer_release(j->ctx->multi, j->next);
    j->cur = j->next = NULL;
    j->cur_ready = j->next_ready = 0;
    j->retry_at = 0;
    j->finished = 1;
    j->rc = rc;
    j->st.finished_at = ls_time_now_ms();
    j->st.ok = rc == LS_OK;
    if (j->st.ok)
        j->st.error[0] = '\0';
}

/* After the last page: removal pass (full scans) and the sync record. */
static void job_complete_scan(ls_sync_job_t *j)
{
    int rc = LS_OK;
    /* only a complete full scan may count misses (design-brief section 4) */
    if (j->st.mode == LS_MODE_FULL)
        rc = removal_pass(j->ctx, &j->run, j->partition, j->scope, &j->seen, j->sync, &j->stored, &j->st);
    /* the watermark moves only after everything of the job is delivered and stored */
    if (rc == LS_OK)
        rc = store_sync(j->ctx, &j->run, j->partition, j->scope, j->sync, &j->stored, &j->st);
    job_finish(j, rc);
}

static void page_send(ls_sync_job_t *j);

/*
 * The response of the page at j->offset arrived. Retry with backoff (a
 * timer, nothing blocks), or parse it, request the next page at once
 * (prefetch), and process this one: diff, produce, wait for delivery,
 * commit - before the next page is looked at.
 */
static void job_on_page(ls_sync_job_t *j)
{
    ls_sync_ctx_t *ctx = j->ctx;
    ls_status_t *st = &j->st;
    ls_http_resp_t resp;
    int rc = ls_http_xfer_result(j->cur, &resp, st->error, sizeof(st->error));
    ls_worker_metrics_request(j->run.integration_type, &resp);
    st->requests++;
    st->bytes += resp.len;
    if (rc == LS_OK) {
        char why[256];
        int prc = ls_page_parse(&ctx->parsed, resp.body, resp.len, why, sizeof(why));
        if (prc == LS_ENOMEM) {
            snprintf(st->error, sizeof(st->error), "out of memory parsing a page of \"%s\"", j->run.connection_id);
            job_finish(j, LS_EIO);
            return;
        }
        if (prc != LS_OK) {
            snprintf(st->error, sizeof(st->error), "page at offset %ld of \"%.200s\" does not parse: %.200s",
                     j->offset, j->run.connection_id, why);
            rc = LS_ETRANSIENT;
        }
    }
    ls_http_xfer_release(ctx->multi, j->cur);
    j->cur = NULL;
    j->cur_ready = 0;
    if (rc != LS_OK) {
        if (rc != LS_ETRANSIENT || j->attempt >= ctx->cfg->http_max_retries) {
            job_finish(j, rc);
            return;
        }
        st->retries++;
        int64_t wait = backoff_ms(j->attempt, resp.retry_after_ms,
                                  ls_hash64(j->run.job_id, strlen(j->run.job_id), 0));
        ls_warn("retrying \"%s\" in %lld ms (attempt %d): %s", j->run.connection_id, (long long)wait,
                j->attempt + 1, st->error);
        j->attempt++;
        j->retry_at = ls_time_mono_ms() + wait;
        return;
    }
    st->pages++;
    size_t got = ctx->parsed.n;
    int last = j->run.unpaged || got < (size_t)ctx->cfg->page_limit;
    /* prefetch, unless the connection recovers from a 429 or the limiter says wait: then the
     * next page is requested after this one */
    if (!last && !j->next &&
        (!ctx->limiter || ls_limiter_may_prefetch(ctx->limiter, j->run.connection_id))) {
        int64_t later;
        int prc = request_page(j, j->offset + ctx->cfg->page_limit, &j->next, &later);
        if (prc == LS_OK) {
            j->next_held = 1;
            ls_http_multi_kick(ctx->multi); /* on the wire while this page is processed */
        } else if (prc != LATER) {
            snprintf(st->error, sizeof(st->error), "cannot start a request for \"%s\"", j->run.connection_id);
            job_finish(j, LS_EIO);
            return;
        }
    }
    j->page_last = last;
    page_send(j);
}

/* The page's batch was acknowledged (or failed): commit it, then go on with the next page. */
static void page_acked(ls_sync_job_t *j, int brc, const char *err)
{
    ls_sync_ctx_t *ctx = j->ctx;
    ls_status_t *st = &j->st;
    j->acking = 0;
    if (j->produce_failed || brc != LS_OK) {
        if (j->produce_failed)
            snprintf(st->error, sizeof(st->error), "kafka produce failed for \"%s\"", j->run.connection_id);
        else
            snprintf(st->error, sizeof(st->error), "kafka delivery failed: %s", err);
        job_finish(j, LS_EIO);
        return;
    }
    if (store_page(ctx, &j->run, j->partition, &j->pg, j->batch, st) != LS_OK) {
        job_finish(j, LS_EIO);
        return;
    }
    if (j->page_last) {
        job_complete_scan(j);
        return;
    }
    j->offset += ctx->cfg->page_limit;
    j->attempt = 0;
    j->cur = j->next;
    j->cur_ready = j->next_ready;
    j->cur_held = j->next_held;
    j->next = NULL;
    j->next_ready = j->next_held = 0;
    if (!j->cur) /* the prefetch had to wait for the limiter */
        request_cur(j);
}

/* Normalize, diff against committed LMDB state, produce: the batch is in flight afterwards. */
static void page_send(ls_sync_job_t *j)
{
    ls_sync_ctx_t *ctx = j->ctx;
    if (normalize_page(&ctx->parsed, &j->run, &j->pg, &j->seen, &j->st) != LS_OK ||
        diff_page(ctx, &j->run, j->partition, &j->pg) != LS_OK) {
        snprintf(j->st.error, sizeof(j->st.error), "local failure while diffing \"%s\"", j->run.connection_id);
        job_finish(j, LS_EIO);
        return;
    }
    ls_batch_init(j->batch);
    j->produce_failed = produce_page(ctx, &j->run, j->partition, &j->pg, j->batch, &j->st) != LS_OK;
    j->acking = 1;
    j->ack_deadline = ls_time_mono_ms() + DELIVERY_TIMEOUT_MS;
    ls_sync_job_poll(j);
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
    j->st.started_at = ls_time_now_ms();
    ls_job_scope(job, j->scope, sizeof(j->scope));
    int rc = LS_OK;
    j->sync = load_sync(ctx, partition, j->scope, &j->stored, &rc);
    j->run = *job;
    if (rc != LS_OK) {
        snprintf(j->st.error, sizeof(j->st.error), "cannot read the sync record of \"%.200s\"", j->scope);
        j->st.mode = job->mode;
        job_finish(j, LS_EIO);
        return j;
    }
    choose_mode(job, j->sync, &j->st, j->gte, sizeof(j->gte));
    j->run.mode = j->st.mode; /* events say the mode actually run */
    request_cur(j);
    return j;
}

void ls_sync_job_on_xfer(ls_sync_job_t *j, ls_http_xfer_t *x)
{
    if (j->finished)
        return;
    if (x == j->next) {
        j->next_ready = 1;
        unhold(j, x, &j->next_held, 1);
        return;
    }
    if (x != j->cur)
        return;
    j->cur_ready = 1;
    unhold(j, x, &j->cur_held, 1);
    if (!j->acking)
        job_on_page(j);
}

void ls_sync_job_poll(ls_sync_job_t *j)
{
    char err[256];
    while (!j->finished && j->acking) {
        int brc = ls_producer_poll_batch(j->ctx->producer, j->batch, err, sizeof(err));
        if (brc == 1 && ls_time_mono_ms() < j->ack_deadline)
            return;
        if (brc == 1)
            snprintf(err, sizeof(err), "%d messages not acknowledged within %d ms", j->batch->pending,
                     DELIVERY_TIMEOUT_MS);
        page_acked(j, brc == 1 ? LS_ETRANSIENT : brc, err);
        /* a prefetched page that already arrived is processed at once */
        if (!j->finished && !j->acking && j->cur && j->cur_ready)
            job_on_page(j);
    }
}

void ls_sync_job_tick(ls_sync_job_t *j, int64_t now_mono_ms)
{
    if (j->finished || j->cur || !j->retry_at || now_mono_ms < j->retry_at)
        return;
    j->retry_at = 0;
    request_cur(j);
}

int64_t ls_sync_job_timer(const ls_sync_job_t *j)
{
    return j->finished ? 0 : j->retry_at;
}

int ls_sync_job_done(const ls_sync_job_t *j)
{
    return j->finished;
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
    unhold(j, j->cur, &j->cur_held, 0);
    unhold(j, j->next, &j->next_held, 0);
    ls_http_xfer_release(j->ctx->multi, j->cur);
    ls_http_xfer_release(j->ctx->multi, j->next);
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
    free(j);
}

void ls_sync_ctx_release(ls_sync_ctx_t *ctx)
{
    ls_page_release(&ctx->parsed);
}
