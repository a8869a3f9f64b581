/*
 * ls_restore.c - replay one changelog partition into LMDB.
 *
 * Why it is safe to apply every record up to the end, including records of
 * a job that crashed before it committed its page: ls_kafka produces a
 * batch's changelog records only after all of the batch's change events were
 * acknowledged, so a record on the changelog always means its event reached
 * Kafka. Applying it can hide no undelivered change.
 *
 * Why "no checkpoint" wipes: LMDB keys of a partition exist only together
 * with its checkpoint (pages commit both in one transaction), except after a
 * crash in the middle of a wipe, which deletes the checkpoint first. Wiping
 * again before a restore from the beginning makes both cases equal.
 *
 * A separate non-group reader (ls_reader) reads the partition: the group
 * consumer keeps the jobs partition paused meanwhile, and the group never
 * sees the changelog.
 *
 * Incremental: ls_restore_step() replays one bounded slice (at most
 * BATCH_MAX records, about SLICE_MS) per call, so the worker's loop goes on
 * running the other partitions' jobs between slices. The reader holds one
 * partition at a time: the restore in progress (ctx->run) continues until
 * its partition is restored, fails, or is aborted (rebalance). Dead-letter
 * copies are awaited a slice at a time: a full batch is written only once
 * they are acknowledged (or after DLQ_TIMEOUT_MS). Only the start of a
 * restore waits on the broker: the watermark query and, when the
 * checkpoint is below the log start, the read that confirms it (each at
 * most WATERMARK_TIMEOUT_MS).
 */
#include "ls_restore.h"
#include "ls_err.h"
#include "ls_log.h"
#include "ls_state.h"
#include "ls_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_MAX 500            /* records per LMDB write, and at most per slice */
#define SLICE_MS 20              /* a slice reads for at most this long */
#define PROGRESS_EVERY 10000     /* a progress line every N records */
#define IDLE_TIMEOUT_MS 30000    /* no record and no end for this long: fail, retry later */
#define WATERMARK_TIMEOUT_MS 10000
#define DLQ_TIMEOUT_MS 30000

typedef struct rbatch {
    ls_kmsg_t msgs[BATCH_MAX];          /* kept until the write: states point into them */
    ls_store_rec_t recs[BATCH_MAX];
    char conn[BATCH_MAX][LS_STR_MAX + 1];
    char act[BATCH_MAX][LS_STR_MAX + 1];
    size_t n;
    ls_batch_t dlq;                     /* dead-letter copies, awaited before the write */
    int64_t dlq_deadline;               /* monotonic ms: write without them after this (0 = not waiting) */
} rbatch_t;

/* The restore in progress (one partition at a time: the reader holds one assignment). */
struct ls_restore_run {
    int active, partition;
    int64_t next, hi;                   /* the next offset to read; the end taken at the start */
    int64_t t0, idle_from;              /* monotonic ms */
    uint64_t seen;
    ls_restore_stats_t st;
    rbatch_t b;                         /* kept with the ctx: librdkafka may point at b.dlq */
};

int ls_restore_parse_key(const char *key, size_t len, char *conn, char *act, char *why, size_t whysz)
{
    const char *slash = key ? memchr(key, '/', len) : NULL;
    if (!key || len == 0) {
        snprintf(why, whysz, "record has no key");
        return LS_EINVAL;
    }
    if (!slash || slash == key || (size_t)(slash - key) == len - 1) {
        snprintf(why, whysz, "key is not \"<connection_id>/<activity_id>\"");
        return LS_EINVAL;
    }
    size_t cl = (size_t)(slash - key), al = len - cl - 1;
    if (memchr(key, '\0', len)) {
        snprintf(why, whysz, "key contains a NUL byte");
        return LS_EINVAL;
    }
    if (cl > LS_STR_MAX || al > LS_STR_MAX || cl + al + 3 > 511) {
        snprintf(why, whysz, "key too long (%zu bytes)", len);
        return LS_EINVAL;
    }
    memcpy(conn, key, cl);
    conn[cl] = '\0';
    memcpy(act, slash + 1, al);
    act[al] = '\0';
    return LS_OK;
}

/* Skip a record: log it with its coordinates, count it, copy it to the DLQ. */
static void skip_record(ls_restore_ctx_t *ctx, rbatch_t *b, const ls_kmsg_t *m, const char *why,
                        ls_restore_stats_t *st)
{
    char part[16], off[24];
    snprintf(part, sizeof(part), "%d", m->partition);
    snprintf(off, sizeof(off), "%lld", (long long)m->offset);
    ls_kafka_header_t h[] = {{"lmsync_error", why}, {"lmsync_topic", m->topic},
                             {"lmsync_partition", part}, {"lmsync_offset", off}};
    st->skipped++;
    ctx->skipped++;
    ls_error("changelog record %s [%d] at offset %lld skipped: %s (skipped so far by this process: %llu)",
             m->topic, m->partition, (long long)m->offset, why, (unsigned long long)ctx->skipped);
    if (ls_producer_send(ctx->producer, ctx->topic_dlq, -1, m->key, m->key_len, m->value, m->len, h, 4,
                         &b->dlq, 0) != LS_OK)
        ls_error("dead-letter copy of %s [%d] at %lld not produced", m->topic, m->partition, (long long)m->offset);
}

/* Take one record into the batch (or skip it). m is kept by the batch or released. */
static void take(ls_restore_ctx_t *ctx, rbatch_t *b, ls_kmsg_t *m, ls_restore_stats_t *st)
{
    char why[256];
    size_t i = b->n;
    if (ls_restore_parse_key(m->key, m->key_len, b->conn[i], b->act[i], why, sizeof(why)) != LS_OK) {
        skip_record(ctx, b, m, why, st);
        ls_kmsg_release(m);
        return;
    }
    if (m->value) {
        ls_activity_t a;
        if (ls_state_unpack((const uint8_t *)m->value, m->len, &a) != LS_OK) {
            skip_record(ctx, b, m, "packed state does not decode", st);
            ls_kmsg_release(m);
            return;
        }
        st->puts++;
    } else {
        st->deletes++;
    }
    b->recs[i] = (ls_store_rec_t){b->conn[i], b->act[i], (const uint8_t *)m->value, m->value ? m->len : 0};
    b->msgs[i] = *m;
    b->n++;
}

/*
 * Write the batch with checkpoint next once its dead-letter copies are
 * acknowledged: LS_OK written, 1 while they are awaited (call again; each
 * call waits for them only briefly: SLICE_MS, one delivery poll), or the
 * LMDB failure (logged).
 */
static int flush(ls_restore_ctx_t *ctx, int partition, rbatch_t *b, int64_t next)
{
    char err[512];
    if (b->dlq.pending || b->dlq.n_held) {
        if (!b->dlq_deadline)
            b->dlq_deadline = ls_time_mono_ms() + DLQ_TIMEOUT_MS;
        int dr = ls_producer_wait(ctx->producer, &b->dlq, SLICE_MS, err, sizeof(err));
        if (b->dlq.pending > 0 && ls_time_mono_ms() < b->dlq_deadline)
            return 1;
        if (dr != LS_OK)
            ls_error("dead-letter copies of changelog records not delivered: %s",
                     b->dlq.pending > 0 ? "not acknowledged in time" : err);
        if (b->dlq.pending == 0) /* settled (a batch still pending stays: its delivery reports point at it) */
            ls_batch_init(&b->dlq);
    }
    b->dlq_deadline = 0;
    int rc = ls_store_apply_changelog(ctx->store, partition, b->recs, b->n, next, err, sizeof(err));
    if (rc != LS_OK)
        ls_error("restore of partition %d: %s", partition, err);
    for (size_t i = 0; i < b->n; i++)
        ls_kmsg_release(&b->msgs[i]);
    b->n = 0;
    return rc;
}

/*
 * One slice of [next, hi): 1 when more remains, 0 when the end was reached,
 * or a failure (LS_ESTOP, LS_ETRANSIENT: nothing read for IDLE_TIMEOUT_MS,
 * or a failed write). Full batches are written as they fill.
 */
static int replay_slice(ls_restore_ctx_t *ctx, struct ls_restore_run *r)
{
    char err[512];
    int64_t end = ls_time_mono_ms() + SLICE_MS;
    if (r->b.n == BATCH_MAX) { /* full: waiting for its dead-letter copies */
        int fr = flush(ctx, r->partition, &r->b, r->next);
        if (fr != LS_OK)
            return fr;
    }
    for (int taken = 0; r->next < r->hi; ) {
        int64_t now = ls_time_mono_ms();
        if (*ctx->stop)
            return LS_ESTOP;
        if (now >= end || taken == BATCH_MAX)
            return 1;
        ls_kmsg_t m;
        int64_t eof;
        int pr = ls_reader_poll(ctx->reader, (int)(end - now), &m, &eof, err, sizeof(err));
        if (pr == LS_OK) {
            r->idle_from = ls_time_mono_ms();
            if (m.partition != r->partition || m.offset < r->next) { /* stale: cannot happen with one assignment */
                ls_kmsg_release(&m);
                continue;
            }
            r->next = m.offset + 1;
            take(ctx, &r->b, &m, &r->st);
            taken++;
            if (++r->seen % PROGRESS_EVERY == 0)
                ls_info("restore of partition %d: %llu records, offset %lld of %lld", r->partition,
                        (unsigned long long)r->seen, (long long)r->next, (long long)r->hi);
            int fr = r->b.n == BATCH_MAX ? flush(ctx, r->partition, &r->b, r->next) : LS_OK;
            if (fr != LS_OK)
                return fr; /* 1: the batch waits for its dead-letter copies */
            continue;
        }
        if (eof >= r->hi) { /* end reached (a compacted log may end with a gap) */
            r->next = eof;
            return 0;
        }
        if (pr == LS_ETRANSIENT)
            ls_warn("restore of partition %d: %s", r->partition, err);
        if (ls_time_mono_ms() - r->idle_from > IDLE_TIMEOUT_MS) {
            ls_warn("restore of partition %d: nothing read for %d s at offset %lld of %lld", r->partition,
                    IDLE_TIMEOUT_MS / 1000, (long long)r->next, (long long)r->hi);
            return LS_ETRANSIENT;
        }
    }
    return 0;
}

/* Why the partition must be wiped and restored from the start, or NULL. */
static const char *wipe_reason(ls_restore_ctx_t *ctx, int partition, int64_t cp, int64_t lo, int64_t hi,
                               char *buf, size_t bufsz)
{
    int64_t t;
    if (cp < 0)
        return "no checkpoint";
    if (cp < lo) {
        snprintf(buf, bufsz, "checkpoint %lld is below the changelog's first offset %lld (records deleted)",
                 (long long)cp, (long long)lo);
        return buf;
    }
    if (cp > hi) {
        snprintf(buf, bufsz, "checkpoint %lld is beyond the changelog's end %lld (topic recreated?)",
                 (long long)cp, (long long)hi);
        return buf;
    }
    if (cp == hi)
        return NULL; /* nothing written since: nothing can have been compacted away */
    int rc = ls_store_get_checkpoint_time(ctx->store, partition, &t);
    int64_t age_s = rc == LS_OK ? (ls_time_now_ms() - t) / 1000 : -1;
    if (rc != LS_OK) {
        snprintf(buf, bufsz, "checkpoint of unknown age");
        return buf;
    }
    if (age_s > ctx->cfg->state_retention_s) {
        snprintf(buf, bufsz, "checkpoint written %lld s ago, older than worker.state_tombstone_retention_s "
                 "(%d s): tombstones after it may have been compacted away",
                 (long long)age_s, ctx->cfg->state_retention_s);
        return buf;
    }
    return NULL;
}

/*
 * The first offset that can really be read: the offset of the first record
 * from the log's start, or the end offset when the log is empty; -1 when
 * that could not be found out. A watermark query during broker errors has
 * answered low == high for a log that still held its records (librdkafka
 * #4233), which read as "checkpoint below the first offset" would wipe the
 * partition and replay nothing: every activity of it would then come again
 * as created. A wipe for deleted records is therefore confirmed by reading.
 */
static int64_t first_readable(ls_restore_ctx_t *ctx, int partition, int64_t hi)
{
    char err[256];
    int64_t found = -1, deadline = ls_time_mono_ms() + WATERMARK_TIMEOUT_MS;
    if (ls_reader_start(ctx->reader, ctx->topic_state, partition, LS_OFFSET_BEGINNING) != LS_OK)
        return -1;
    while (found < 0 && ls_time_mono_ms() < deadline && !*ctx->stop) {
        ls_kmsg_t m;
        int64_t eof = -1;
        int pr = ls_reader_poll(ctx->reader, 500, &m, &eof, err, sizeof(err));
        if (pr == LS_OK) {
            found = m.offset;
            ls_kmsg_release(&m);
        } else if (eof >= hi) {
            found = eof;
        }
    }
    ls_reader_stop(ctx->reader);
    return found;
}

static int prepare(ls_restore_ctx_t *ctx, int partition, int64_t *start, int64_t *hi, ls_restore_stats_t *st)
{
    char err[512], why[256];
    int64_t lo, cp = -1;
    ls_kafka_conf_t kc = ls_config_kafka(ctx->cfg);
    if (!ctx->reader && !(ctx->reader = ls_reader_new(&kc, err, sizeof(err)))) {
        ls_error("restore of partition %d: cannot create the changelog reader: %s", partition, err);
        return LS_ETRANSIENT;
    }
    if (ls_reader_watermarks(ctx->reader, ctx->topic_state, partition, &lo, hi, WATERMARK_TIMEOUT_MS, err,
                             sizeof(err)) != LS_OK) {
        ls_warn("restore of partition %d: %s", partition, err);
        return LS_ETRANSIENT;
    }
    int rc = ls_store_get_checkpoint(ctx->store, partition, &cp);
    if (rc != LS_OK && rc != LS_ENOTFOUND) {
        ls_error("restore of partition %d: cannot read its checkpoint (%s)", partition, ls_strerror(rc));
        return LS_EIO;
    }
    if (rc == LS_OK && cp < lo) {
        int64_t first = first_readable(ctx, partition, *hi);
        if (first < 0) {
            ls_warn("restore of partition %d: the changelog starts at %lld after checkpoint %lld, and its first "
                    "record could not be read to confirm it; next attempt later", partition, (long long)lo,
                    (long long)cp);
            return LS_ETRANSIENT;
        }
        if (first != lo)
            ls_warn("restore of partition %d: the watermark query said the changelog starts at %lld, reading "
                    "it starts at %lld", partition, (long long)lo, (long long)first);
        lo = first;
    }
    const char *reason = wipe_reason(ctx, partition, rc == LS_OK ? cp : -1, lo, *hi, why, sizeof(why));
    *start = cp;
    if (reason) {
        long before = ls_store_count(ctx->store, partition);
        ls_info("restore of partition %d: wiping its %ld local activities and restoring from offset %lld: %s",
                partition, before, (long long)lo, reason);
        if (ls_store_wipe_partition(ctx->store, partition, err, sizeof(err)) != LS_OK) {
            ls_error("restore of partition %d: %s", partition, err);
            return LS_EIO;
        }
        st->wiped = 1;
        ctx->wipes++;
        *start = lo;
    }
    return LS_OK;
}

static void log_restored(ls_restore_ctx_t *ctx, int partition, const ls_restore_stats_t *st)
{
    ctx->partitions++;
    ctx->records += st->puts + st->deletes;
    ls_info("partition %d restored in %lld ms: offsets %lld..%lld, %llu states, %llu tombstones, "
            "%llu skipped%s, %ld activities stored", partition, (long long)st->ms, (long long)st->from,
            (long long)st->to, (unsigned long long)st->puts, (unsigned long long)st->deletes,
            (unsigned long long)st->skipped, st->wiped ? ", wiped first" : "", ls_store_count(ctx->store, partition));
}

/*
 * Start the restore of partition: 1 with ctx->run active (replay to do),
 * 0 when it was already up to date (*st filled), or a failure.
 */
static int begin(ls_restore_ctx_t *ctx, int partition, ls_restore_stats_t *st)
{
    int64_t t0 = ls_time_mono_ms(), start, hi;
    memset(st, 0, sizeof(*st));
    int rc = prepare(ctx, partition, &start, &hi, st);
    if (rc != LS_OK)
        return rc;
    st->from = st->to = start;
    if (start >= hi) { /* up to date: only record that we caught up (and when) */
        char err[512];
        rc = ls_store_apply_changelog(ctx->store, partition, NULL, 0, hi, err, sizeof(err));
        if (rc != LS_OK)
            ls_error("restore of partition %d: %s", partition, err);
        st->ms = ls_time_mono_ms() - t0;
        return rc;
    }
    if (!ctx->run && !(ctx->run = calloc(1, sizeof(*ctx->run))))
        return LS_ENOMEM;
    struct ls_restore_run *r = ctx->run;
    if (r->b.dlq.pending == 0)
        ls_batch_init(&r->b.dlq);
    r->b.n = 0;
    r->b.dlq_deadline = 0;
    r->active = 1;
    r->partition = partition;
    r->next = start;
    r->hi = hi;
    r->t0 = t0;
    r->idle_from = ls_time_mono_ms();
    r->seen = 0;
    r->st = *st;
    if (ls_reader_start(ctx->reader, ctx->topic_state, partition, start) != LS_OK) {
        r->active = 0;
        return LS_ETRANSIENT;
    }
    ls_info("restore of partition %d: replaying %s [%d] offsets %lld..%lld", partition, ctx->topic_state,
            partition, (long long)start, (long long)hi - 1);
    return 1;
}

/* The replay ended (rc: 0 at the end, or a failure): write what was read, stop reading. */
static int end_run(ls_restore_ctx_t *ctx, int rc, ls_restore_stats_t *st)
{
    struct ls_restore_run *r = ctx->run;
    int fr = flush(ctx, r->partition, &r->b, r->next); /* keep the progress, also on failure */
    if (fr == 1 && rc == LS_OK)
        return 1; /* the last batch waits for its dead-letter copies */
    if (fr == 1) { /* failing anyway: do not wait for them */
        for (size_t i = 0; i < r->b.n; i++)
            ls_kmsg_release(&r->b.msgs[i]);
        r->b.n = 0;
    }
    ls_reader_stop(ctx->reader);
    r->active = 0;
    r->st.to = r->next;
    r->st.ms = ls_time_mono_ms() - r->t0;
    *st = r->st;
    return rc != LS_OK ? rc : fr;
}

/*
 * After the replay: when it changed states (now or in an earlier, failed
 * restore), rebuild the partition's rollup rows from them. A failure fails
 * the restore: no job of the partition runs (so nothing is published from
 * rows that do not match the states) until a later restore rebuilds them.
 */
static int rebuild_rollups(ls_restore_ctx_t *ctx, int partition)
{
    char err[512];
    int64_t t0 = ls_time_mono_ms(), enrollments = 0;
    if (!ctx->cfg->rollups_enabled) { /* states will change without rows: rebuilt once rollups are on again */
        if (ls_store_mark_rollups_stale(ctx->store, partition, err, sizeof(err)) == LS_OK)
            return LS_OK;
        ls_error("restore of partition %d failed: %s", partition, err);
        return LS_EIO;
    }
    int stale = ls_store_rollups_stale(ctx->store, partition);
    if (stale == 0)
        return LS_OK;
    int rc = stale < 0 ? stale : ls_store_rebuild_rollups(ctx->store, partition, &enrollments, err, sizeof(err));
    if (rc != LS_OK) {
        ls_error("restore of partition %d failed: its progress rollups cannot be rebuilt: %s", partition,
                 stale < 0 ? "cannot read the store" : err);
        return rc;
    }
    ls_info("partition %d: progress rollups rebuilt in %lld ms, %lld enrollments", partition,
            (long long)(ls_time_mono_ms() - t0), (long long)enrollments);
    return LS_OK;
}

int ls_restore_step(ls_restore_ctx_t *ctx, int partition, ls_restore_stats_t *st)
{
    if (ctx->run && ctx->run->active && ctx->run->partition != partition)
        ls_restore_abort(ctx);
    int rc;
    if (!ctx->run || !ctx->run->active) {
        rc = begin(ctx, partition, st);
        if (rc == LS_OK)
            rc = rebuild_rollups(ctx, partition);
        if (rc == LS_OK)
            log_restored(ctx, partition, st);
        if (rc != 1)
            return rc;
    }
    rc = replay_slice(ctx, ctx->run);
    if (rc == 1)
        return 1;
    rc = end_run(ctx, rc, st);
    if (rc == LS_OK)
        rc = rebuild_rollups(ctx, partition);
    if (rc == LS_OK)
        log_restored(ctx, partition, st);
    return rc;
}

void ls_restore_abort(ls_restore_ctx_t *ctx)
{
    struct ls_restore_run *r = ctx->run;
    if (!r || !r->active)
        return;
    ls_info("restore of partition %d abandoned at offset %lld of %lld; what was written is kept", r->partition,
            (long long)r->next, (long long)r->hi);
    for (size_t i = 0; i < r->b.n; i++)
        ls_kmsg_release(&r->b.msgs[i]);
    r->b.n = 0;
    ls_reader_stop(ctx->reader);
    r->active = 0;
}

void ls_restore_release(ls_restore_ctx_t *ctx)
{
    char err[256];
    ls_restore_abort(ctx);
    if (ctx->run && ctx->run->b.dlq.pending > 0 &&
        ls_producer_wait(ctx->producer, &ctx->run->b.dlq, DLQ_TIMEOUT_MS, err, sizeof(err)) != LS_OK)
        ls_error("dead-letter copies of changelog records not delivered: %s", err);
    if (ctx->run && ctx->run->b.dlq.pending > 0)
        ls_warn("restore: %d dead-letter copies still unacknowledged; their batch is leaked", ctx->run->b.dlq.pending);
    else
        free(ctx->run);
    ctx->run = NULL;
    ls_reader_destroy(ctx->reader);
    ctx->reader = NULL;
}
