/*
 * ls_sync_page.c - the page pipeline of a sync job:
 * normalize -> diff -> produce -> (delivery, awaited by the state machine) -> store.
 *
 * Normalize: every record of the parsed page (a bad record is skipped and
 * counted; its id still counts as seen for removals). Diff: against LMDB in
 * one short read transaction. Produce: change events at once, the current
 * record of every activity whose stored state changes once the events are
 * acknowledged (LS_SEND_AFTER_EVENTS), and changelog records after both
 * (LS_SEND_AFTER_ACKS: a changelog record on Kafka always means its events
 * and current records were delivered, which is what makes replaying the
 * changelog safe). Store: only after the whole
 * batch is acknowledged, the page's states, cleared markers and the
 * changelog checkpoint in one LMDB write transaction. No LMDB transaction is
 * open during an HTTP request or a Kafka wait. A crash at any point re-runs
 * the job against the state of the last committed page, which reproduces
 * the same events with the same ids (or none).
 *
 * Also owns the set of ids seen by the scan (read by the removal pass).
 */
#include "ls_sync_job.h"
#include "ls_current.h"
#include "ls_err.h"
#include "ls_event.h"
#include "ls_hash.h"
#include "ls_log.h"
#include "ls_time.h"
#include "ls_worker_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REJECT_LOGS 5    /* per job: the rest are only counted */

/* ---- ids seen by the scan: open addressing over 64-bit hashes (0 = empty slot) ---- */

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

int ls_sync_seen_add(ls_sync_seen_t *s, const char *id, int *added)
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
    int fresh = seen_insert(s->slots, s->cap, id_hash(id));
    s->n += (size_t)fresh;
    if (added)
        *added = fresh;
    return LS_OK;
}

int ls_sync_seen_has(const ls_sync_seen_t *s, const char *id)
{
    if (!s->cap)
        return 0;
    uint64_t h = id_hash(id);
    for (size_t i = h & (s->cap - 1); s->slots[i]; i = (i + 1) & (s->cap - 1))
        if (s->slots[i] == h)
            return 1;
    return 0;
}

/* ---- normalize ---- */

static int page_reserve(ls_sync_page_t *pg, size_t n)
{
    if (n <= pg->cap)
        return LS_OK;
    ls_sync_item_t *ni = realloc(pg->items, n * sizeof(*ni));
    if (!ni)
        return LS_ENOMEM;
    pg->items = ni;
    pg->cap = n;
    return LS_OK;
}

/*
 * A record whose id an earlier record of this scan had (same page or an
 * earlier one): the first occurrence wins, this one is counted and ignored,
 * so an upstream that lists one id twice with different contents is decided
 * the same way on every poll (docs/events.md, section 5.2).
 */
static void duplicate(ls_sync_job_t *j, const char *id)
{
    if (j->st.duplicates++ < MAX_REJECT_LOGS)
        ls_warn("record \"%s\" of \"%s\" ignored: its id was already listed by this scan (the first one counts)", id,
                j->conn);
    ls_metric_add(WM_HOSTILE, WM_HOSTILE_DUPLICATE_ID, 0, 1);
}

/*
 * A rejected record still exists upstream: its id (when usable, raw_id) is
 * remembered as seen so that it is never taken for removed; a rejected
 * record without a usable id is counted (it blocks removals of the scan).
 */
static int normalize_page(ls_sync_job_t *j)
{
    const ls_page_t *parsed = &j->ctx->parsed;
    ls_sync_page_t *pg = &j->pg;
    if (page_reserve(pg, parsed->n) != LS_OK)
        return LS_ENOMEM;
    pg->n = 0;
    for (size_t i = 0; i < parsed->n; i++) {
        const ls_page_rec_t *r = &parsed->recs[i];
        j->st.records++;
        if (r->rc != LS_OK) {
            if (j->st.rejected++ < MAX_REJECT_LOGS)
                ls_warn("record skipped in \"%s\": %s", j->conn, r->why);
            if (r->raw_id[0]) {
                if (ls_sync_seen_add(&j->seen, r->raw_id, NULL) != LS_OK)
                    return LS_ENOMEM;
            } else {
                j->seen.unidentified++;
            }
            continue;
        }
        int added;
        if (ls_sync_seen_add(&j->seen, r->act.id, &added) != LS_OK)
            return LS_ENOMEM;
        if (added)
            pg->items[pg->n++].act = r->act;
        else
            duplicate(j, r->act.id);
    }
    return LS_OK;
}

/* ---- diff ---- */

/* One item against its stored state and marker (inside the page's read txn). */
static int diff_item(ls_sync_job_t *j, ls_store_reader_t *r, ls_sync_item_t *it)
{
    const char *conn = j->conn;
    const uint8_t *prev;
    size_t prev_len;
    int rc = LS_OK, misses;
    int g = ls_store_reader_get(r, j->partition, conn, it->act.id, &prev, &prev_len);
    it->has_before = 0;
    if (g == LS_OK && ls_state_unpack(prev, prev_len, &it->before) == LS_OK) {
        it->has_before = 1;
        snprintf(it->before.id, sizeof(it->before.id), "%s", it->act.id);
    } else if (g == LS_OK) {
        ls_warn("stored state of \"%s\" in \"%s\" does not decode; treating as first seen", it->act.id, conn);
    } else if (g != LS_ENOTFOUND) {
        rc = LS_EIO;
    }
    int m = ls_store_reader_get_pending(r, j->partition, conn, it->act.id, &misses);
    it->had_mark = m == LS_OK;
    if (m != LS_OK && m != LS_ENOTFOUND)
        rc = LS_EIO;
    ls_diff_compute(it->has_before ? &it->before : NULL, &it->act, &it->diff);
    if (rc == LS_OK && it->diff.stored_mask)
        rc = ls_state_pack(&it->act, it->packed, sizeof(it->packed), &it->packed_len) ? LS_EIO : LS_OK;
    return rc;
}

static int diff_page(ls_sync_job_t *j)
{
    char err[256];
    ls_store_reader_t *r = ls_store_reader_new(j->ctx->store, err, sizeof(err));
    if (!r) {
        ls_error("%s", err);
        return LS_EIO;
    }
    int rc = LS_OK;
    for (size_t i = 0; i < j->pg.n && rc == LS_OK; i++)
        rc = diff_item(j, r, &j->pg.items[i]);
    ls_store_reader_destroy(r);
    return rc;
}

int ls_sync_page_prepare(ls_sync_job_t *j)
{
    if (normalize_page(j) != LS_OK || diff_page(j) != LS_OK) {
        snprintf(j->st.error, sizeof(j->st.error), "local failure while diffing \"%.300s\"", j->conn);
        return LS_EIO;
    }
    return LS_OK;
}

/* ---- produce ---- */

void ls_sync_event_ctx(const ls_sync_job_t *j, ls_event_ctx_t *ec)
{
    const ls_job_t *job = &j->run;
    *ec = (ls_event_ctx_t){job->connection_id, job->integration_type[0] ? job->integration_type : NULL,
                           job->external_xref[0] ? job->external_xref : NULL, ls_mode_name(job->mode), job->job_id,
                           ls_time_now_ms(), job->workspace};
}

void ls_sync_ru_env(const ls_sync_job_t *j, ls_store_reader_t *r, const ls_event_ctx_t *ec, ls_batch_t *b,
                    ls_ru_env_t *env)
{
    *env = (ls_ru_env_t){r, j->partition, ec, j->ctx->producer, j->ctx->topic_enrollments, j->ctx->topic_courses,
                         b, j->ctx->cfg->rollup_idle_days, ec->observed_at_ms};
}

int ls_sync_rollups(ls_sync_job_t *j, const ls_ru_change_t *ch, size_t n, int reevaluate)
{
    char err[256];
    ls_ru_rows_reset(&j->ru);
    if ((n == 0 && !reevaluate) || !j->ctx->cfg->rollups_enabled)
        return LS_OK; /* rollups.enabled = 0: no rows, no records (the restore marks the rows stale) */
    ls_store_reader_t *r = ls_store_reader_new(j->ctx->store, err, sizeof(err));
    if (!r) {
        snprintf(j->st.error, sizeof(j->st.error), "%s", err);
        return LS_EIO;
    }
    ls_event_ctx_t ec;
    ls_sync_event_ctx(j, &ec);
    ls_ru_env_t env;
    ls_sync_ru_env(j, r, &ec, j->batch, &env);
    int rc = ls_ru_produce(&env, ch, n, reevaluate, j->run.course_id, &j->ru, err, sizeof(err));
    ls_store_reader_destroy(r);
    if (rc != LS_OK) {
        ls_error("%s", err);
        snprintf(j->st.error, sizeof(j->st.error), "%s", err);
        return LS_EIO;
    }
    return LS_OK;
}

/* The rollups of the page's stored changes. */
static int page_rollups(ls_sync_job_t *j)
{
    ls_ru_change_t *ch = malloc((j->pg.n ? j->pg.n : 1) * sizeof(*ch));
    if (!ch) {
        snprintf(j->st.error, sizeof(j->st.error), "out of memory");
        return LS_EIO;
    }
    size_t n = 0;
    for (size_t i = 0; i < j->pg.n; i++) {
        const ls_sync_item_t *it = &j->pg.items[i];
        if (it->diff.stored_mask)
            ch[n++] = (ls_ru_change_t){it->has_before ? &it->before : NULL, &it->act};
    }
    int rc = ls_sync_rollups(j, ch, n, 0);
    free(ch);
    return rc;
}

/* CloudEvents binary-mode headers (docs/events.md, section 3); h must hold LS_CE_HEADERS. */
#define LS_CE_HEADERS 7
static void ce_headers(ls_kafka_header_t *h, const char *id, const char *source, const char *type, const char *time,
                       const char *subject)
{
    const ls_kafka_header_t all[LS_CE_HEADERS] = {
        {"ce_specversion", "1.0"}, {"ce_id", id},           {"ce_source", source},
        {"ce_type", type},         {"ce_time", time},       {"ce_subject", subject},
        {"content-type", "application/json"}};
    memcpy(h, all, sizeof(all));
}

int ls_sync_produce_event(ls_sync_job_t *j, const ls_activity_t *before, const ls_activity_t *after,
                          const ls_diff_t *d, ls_batch_t *b)
{
    ls_event_ctx_t ec;
    ls_sync_event_ctx(j, &ec);
    ls_event_t ev;
    char err[256];
    if (ls_event_build(&ec, before, after, d, &ev, err, sizeof(err))) {
        ls_error("cannot build event for \"%s\": %s", after ? after->id : before->id, err);
        return LS_EIO;
    }
    ls_kafka_header_t h[LS_CE_HEADERS];
    ce_headers(h, ev.id, ev.source, ev.type, ev.time, ev.subject);
    int rc = ls_producer_send(j->ctx->producer, j->ctx->topic_changes, -1, ev.key, strlen(ev.key), ev.value,
                              ev.value_len, h, LS_CE_HEADERS, b, LS_SEND_NOW);
    ls_event_release(&ev);
    if (rc == LS_OK) { /* counted when produced: a delivery that fails fails the job */
        ls_metric_add(WM_EVENTS, (int)d->type - 1, 0, 1);
        if (after)
            ls_worker_metrics_freshness(after, j->run.mode, ec.observed_at_ms);
    }
    return rc;
}

/* The catalog entry of id in the cache, or NULL (unknown, never fetched, or a failed read: the
 * name stays absent, the record is produced without it). */
static const ls_catalog_entry_t *cached_name(ls_sync_job_t *j, ls_store_reader_t *r, ls_catalog_kind_t kind,
                                             ls_presence_t pres, const char *id, ls_catalog_entry_t *e)
{
    if (pres != LS_PRESENT || !id[0])
        return NULL;
    return ls_store_catalog_get(r, j->partition, j->conn, kind, id, e) == LS_OK ? e : NULL;
}

int ls_sync_produce_current(ls_sync_job_t *j, const char *id, const ls_activity_t *a, int republished,
                            ls_store_reader_t *names, ls_batch_t *b)
{
    if (!j->ctx->cfg->current_enabled)
        return LS_OK;
    ls_event_ctx_t ec;
    ls_sync_event_ctx(j, &ec);
    ls_current_t cur;
    ls_catalog_entry_t course, content;
    ls_current_names_t nm = {NULL, NULL};
    char err[256];
    ls_store_reader_t *own = a && !names ? ls_store_reader_new(j->ctx->store, err, sizeof(err)) : NULL;
    ls_store_reader_t *r = names ? names : own;
    if (a && r) {
        nm.course = cached_name(j, r, LS_CATALOG_COURSE, a->pres[LS_F_COURSE_ID], a->course_id, &course);
        nm.content = cached_name(j, r, LS_CATALOG_CONTENT, a->pres[LS_F_CONTENT_ID], a->content_id, &content);
    }
    ls_store_reader_destroy(own);
    if (ls_current_build(&ec, id, a, &nm, &cur, err, sizeof(err))) {
        ls_error("cannot build the current record of \"%s\": %s", id, err);
        return LS_EIO;
    }
    ls_kafka_header_t h[LS_CE_HEADERS];
    ce_headers(h, cur.id, cur.source, LS_CURRENT_TYPE, cur.time, cur.subject);
    int rc = ls_producer_send(j->ctx->producer, j->ctx->topic_current, -1, cur.key, strlen(cur.key), cur.value,
                              cur.value_len, h, LS_CE_HEADERS, b, LS_SEND_AFTER_EVENTS);
    ls_current_release(&cur);
    if (rc == LS_OK)
        ls_metric_add(WM_CURRENT, republished ? WM_CURRENT_REPUBLISHED : a ? WM_CURRENT_RECORD : WM_CURRENT_TOMBSTONE, 0,
                      1);
    return rc;
}

int ls_sync_produce_changelog(ls_sync_job_t *j, const char *id, const uint8_t *value, size_t len,
                              ls_batch_t *b)
{
    char key[LS_KEY_MAX];
    int kl = ls_activity_key(j->conn, id, key, sizeof(key));
    return ls_producer_send(j->ctx->producer, j->ctx->topic_state, j->partition, key, (size_t)kl, value, len,
                            NULL, 0, b, LS_SEND_AFTER_ACKS);
}

int ls_sync_page_produce(ls_sync_job_t *j)
{
    char err[256];
    ls_store_reader_t *names = NULL; /* one read transaction for the page's catalog lookups, opened at need */
    int rc = LS_OK;
    for (size_t i = 0; i < j->pg.n && rc == LS_OK; i++) {
        ls_sync_item_t *it = &j->pg.items[i];
        if (it->diff.type != LS_CHANGE_NONE) {
            if (ls_sync_produce_event(j, it->has_before ? &it->before : NULL, &it->act, &it->diff, j->batch) !=
                LS_OK)
                rc = LS_EIO;
            j->st.events += rc == LS_OK;
        }
        if (rc == LS_OK && it->diff.stored_mask) { /* also without an event (updated_at only): current = the stored state */
            if (!names && !(names = ls_store_reader_new(j->ctx->store, err, sizeof(err))))
                ls_warn("catalog names not joined: %s", err);
            if (ls_sync_produce_current(j, it->act.id, &it->act, 0, names, j->batch) != LS_OK ||
                ls_sync_produce_changelog(j, it->act.id, it->packed, it->packed_len, j->batch) != LS_OK)
                rc = LS_EIO;
            j->st.state_writes += rc == LS_OK;
        }
    }
    ls_store_reader_destroy(names);
    return rc == LS_OK ? page_rollups(j) : rc;
}

/* ---- store ---- */

int ls_sync_page_store(ls_sync_job_t *j)
{
    char err[256];
    const ls_sync_page_t *pg = &j->pg;
    ls_store_put_t *puts = malloc((pg->n ? pg->n : 1) * sizeof(*puts));
    ls_store_mark_t *marks = malloc((pg->n ? pg->n : 1) * sizeof(*marks));
    if (!puts || !marks) {
        free(puts);
        free(marks);
        snprintf(j->st.error, sizeof(j->st.error), "out of memory storing a page of \"%.300s\"", j->conn);
        return LS_EIO;
    }
    size_t n = 0, nm = 0;
    for (size_t i = 0; i < pg->n; i++) {
        if (pg->items[i].diff.stored_mask)
            puts[n++] = (ls_store_put_t){pg->items[i].act.id, pg->items[i].packed, pg->items[i].packed_len};
        if (pg->items[i].had_mark) /* seen again: it is not going away */
            marks[nm++] = (ls_store_mark_t){pg->items[i].act.id, 0};
    }
    const ls_store_row_t *rows = ls_ru_rows_view(&j->ru);
    int rc = !rows ? LS_ENOMEM
             : n || nm || j->ru.n
                 ? ls_store_commit_rows(j->ctx->store, j->partition, j->conn, puts, n, marks, nm, rows,
                                        j->ru.n, n ? j->batch->after_acks_next_offset : -1, NULL, NULL, err,
                                        sizeof(err))
                 : LS_OK;
    if (rc == LS_ENOMEM)
        snprintf(err, sizeof(err), "out of memory");
    free(puts);
    free(marks);
    if (rc != LS_OK) {
        snprintf(j->st.error, sizeof(j->st.error), "%s", err);
        return LS_EIO;
    }
    return LS_OK;
}
