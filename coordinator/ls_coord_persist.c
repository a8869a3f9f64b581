/*
 * ls_coord_persist.c - the schedule on <prefix>.coordinator.schedule.
 *
 * Every change of a scope's schedule that matters after a restart (a job
 * produced, a delivery failed, a status record handled) is produced as that
 * scope's record (ls_coord_store.h), keyed by scope key, without waiting:
 * librdkafka batches them (linger.ms). A scope that disappears gets a
 * tombstone. The topic is meant to be compacted (cleanup.policy=compact),
 * so it holds one record per scope.
 *
 * At start, before the first job, the whole topic is read: each record
 * becomes a scope entry that no connection owns yet (conn NULL, not in the
 * heap). When discovery or a course list names the scope, it is attached
 * with its restored schedule (coord_scope_attach); entries of connections
 * that a complete listing pass did not name are tombstoned. A record that
 * cannot be decoded is skipped (one line, a counter) and that scope starts
 * fresh.
 *
 * With leader election every record carries its writer's leader epoch. A
 * record of an older epoch than one already read for its scope was written
 * by a deposed leader after its successor: it is ignored. A record of a
 * newer epoch than this replica's own term means another replica began
 * leading after this one and writes the schedule: split brain, handled as
 * a job of a newer term is (coord_term_seen: logged once, counted, this
 * replica steps down).
 */
#include "ls_coord_int.h"
#include "ls_coord_metrics.h"
#include "ls_coord_store.h"
#include "ls_err.h"
#include "ls_log.h"
#include "ls_time.h"

#include <stdio.h>
#include <string.h>

#define RESTORE_TIMEOUT_MS 5000

static void to_rec(const coord_scope_t *s, ls_coord_sched_rec_t *r)
{
    r->next_due_ms = s->t.due_ms;
    r->last_full_ms = s->last_full_ms;
    r->since_full = s->since_full;
    r->records = s->records;
    r->failures = s->failures;
    r->job_due_ms = s->job_due_ms;
    r->job_since_ms = s->job_since_ms;
    r->last_ok_ms = s->last_ok_ms;
    r->ival_ms = s->ival_ms;
    r->requests = s->requests;
}

/* What a restore read. */
typedef struct tally {
    size_t read, skipped, ignored, ahead;
    int64_t newest;             /* the newest leader epoch of any record */
    char newest_key[LS_KEY_MAX];/* ... and the scope of one record of it */
} tally_t;

static void from_rec(const ls_coord_sched_rec_t *r, coord_scope_t *s)
{
    memset(s, 0, sizeof(*s));
    s->t.due_ms = r->next_due_ms;
    s->last_full_ms = r->last_full_ms;
    s->since_full = (int32_t)(r->since_full > INT32_MAX ? INT32_MAX : r->since_full);
    s->records = r->records;
    s->failures = (int32_t)(r->failures > 30 ? 30 : r->failures);
    s->job_due_ms = r->job_due_ms;
    s->job_since_ms = r->job_since_ms;
    s->last_ok_ms = r->last_ok_ms;
    s->epoch = r->epoch;
    s->ival_ms = (uint32_t)(r->ival_ms > UINT32_MAX ? UINT32_MAX : r->ival_ms);
    s->requests = (uint32_t)(r->requests > UINT32_MAX ? UINT32_MAX : r->requests);
}

void coord_schedule_write(coord_t *c, const coord_scope_t *s)
{
    char buf[448];
    ls_coord_sched_rec_t r;
    const char *key = coord_scope_key(c, s);
    to_rec(s, &r);
    r.epoch = c->cfg->leader_election ? c->epoch : 0;
    int n = ls_coord_sched_encode(&r, buf, sizeof(buf));
    if (n > 0 && ls_producer_send(c->producer, c->topic_schedule, -1, key, strlen(key), buf, (size_t)n, NULL, 0,
                                  NULL, LS_SEND_NOW) != LS_OK)
        ls_metric_add(CM_SCHEDULE_WRITE_ERRORS, 0, 0, 1);
}

void coord_schedule_tombstone(coord_t *c, const char *key)
{
    if (c->producer &&
        ls_producer_send(c->producer, c->topic_schedule, -1, key, strlen(key), NULL, 0, NULL, 0, NULL, LS_SEND_NOW) != LS_OK)
        ls_metric_add(CM_SCHEDULE_WRITE_ERRORS, 0, 0, 1);
}

/* A decoded record of scope key: restore it unless a newer term's record of the scope was read already. */
static void restore_rec(coord_t *c, const char *key, const ls_coord_sched_rec_t *r, tally_t *t)
{
    coord_scope_t *s = ls_strmap_get(c->scopes, key);
    ls_coord_sched_rec_t rec = *r;
    if (rec.epoch > ls_time_now_ms() + COORD_SKEW_MS) {
        /* No term of this replica's clock can be that late: a clock ahead, not a newer term. Ordering by such an
         * epoch would hide every later record of the scope, and stepping down for it would repeat every term. */
        if (t->ahead++ == 0)
            ls_warn("schedule record of \"%s\" has leader epoch %lld, more than %d ms ahead of this replica's clock: "
                    "replica clocks differ; such epochs are not compared", key, (long long)rec.epoch, COORD_SKEW_MS);
        rec.epoch = 0;
    }
    if (s && rec.epoch && s->epoch > rec.epoch) {
        ls_debug("schedule record of \"%s\" of leader epoch %lld ignored: one of epoch %lld was read before", key,
                 (long long)rec.epoch, (long long)s->epoch);
        t->ignored++;
        return;
    }
    if (rec.epoch > t->newest) {
        t->newest = rec.epoch;
        snprintf(t->newest_key, sizeof(t->newest_key), "%s", key);
    }
    if (s || (s = ls_strmap_put(c->scopes, key, NULL)))
        from_rec(&rec, s);
}

/* One record of the topic: a restored scope entry, or (tombstone, bad record) none. */
static void restore_one(coord_t *c, const ls_kmsg_t *m, tally_t *t)
{
    char key[LS_KEY_MAX], err[256];
    ls_coord_sched_rec_t r;
    if (!m->key || m->key_len == 0 || m->key_len >= sizeof(key)) {
        ls_warn("schedule record at %s [%d] offset %lld skipped: no usable key", m->topic, m->partition,
                (long long)m->offset);
        t->skipped++;
        return;
    }
    memcpy(key, m->key, m->key_len);
    key[m->key_len] = '\0';
    if (!m->value) {
        ls_strmap_del(c->scopes, key);
        return;
    }
    if (ls_coord_sched_decode(m->value, m->len, &r, err, sizeof(err)) != LS_OK) {
        ls_warn("schedule record of \"%s\" at %s [%d] offset %lld skipped, the scope starts fresh: %s", key, m->topic,
                m->partition, (long long)m->offset, err);
        ls_strmap_del(c->scopes, key);
        t->skipped++;
        return;
    }
    restore_rec(c, key, &r, t);
}

/* Read one partition from its start to the high watermark seen now. */
static int restore_partition(coord_t *c, ls_reader_t *rd, int p, tally_t *t)
{
    char err[256];
    int64_t lo, hi, next = 0, deadline = ls_time_mono_ms() + 60000;
    if (ls_reader_watermarks(rd, c->topic_schedule, p, &lo, &hi, RESTORE_TIMEOUT_MS, err, sizeof(err)) != LS_OK) {
        ls_warn("schedule partition %d not restored: %s", p, err);
        return LS_ETRANSIENT;
    }
    if (hi <= lo || ls_reader_start(rd, c->topic_schedule, p, LS_OFFSET_BEGINNING) != LS_OK)
        return hi <= lo ? LS_OK : LS_ETRANSIENT;
    while (next < hi && ls_time_mono_ms() < deadline) {
        ls_kmsg_t m;
        int64_t eof = -1;
        int rc = ls_reader_poll(rd, 500, &m, &eof, err, sizeof(err));
        if (rc == LS_OK) {
            next = m.offset + 1;
            restore_one(c, &m, t);
            t->read++;
            ls_kmsg_release(&m);
        } else if (eof >= 0) {
            next = eof;
        }
    }
    ls_reader_stop(rd);
    return next >= hi ? LS_OK : LS_ETRANSIENT;
}

int coord_schedule_restore(coord_t *c)
{
    char err[256];
    tally_t t = {0};
    int64_t t0 = ls_time_mono_ms();
    ls_kafka_conf_t kc = ls_config_kafka(c->cfg);
    int np = ls_producer_partition_count(c->producer, c->topic_schedule, RESTORE_TIMEOUT_MS);
    if (np <= 0) {
        ls_warn("schedule topic \"%s\" has no partitions: every scope starts fresh", c->topic_schedule);
        return LS_OK;
    }
    ls_reader_t *rd = ls_reader_new(&kc, err, sizeof(err));
    if (!rd) {
        ls_warn("schedule not restored, every scope starts fresh: %s", err);
        return LS_OK;
    }
    int partial = 0;
    for (int p = 0; p < np; p++)
        partial |= restore_partition(c, rd, p, &t) != LS_OK;
    ls_reader_destroy(rd);
    ls_metric_add(CM_SCHEDULE_RESTORED, 0, 0, ls_strmap_count(c->scopes));
    ls_metric_add(CM_SCHEDULE_SKIPPED, 0, 0, t.skipped);
    ls_info("schedule restored from \"%s\": %zu scopes from %zu records in %lld ms (%zu skipped, %zu of an older "
            "leader epoch ignored%s)", c->topic_schedule, ls_strmap_count(c->scopes), t.read,
            (long long)(ls_time_mono_ms() - t0), t.skipped, t.ignored, partial ? "; some partitions incomplete" : "");
    coord_term_seen(c, t.newest, 0, "schedule record of", t.newest_key, "written");
    return LS_OK;
}

/* A restored entry whose connection a complete listing did not name: tombstone it. */
static int drop_orphan(const char *key, void *value, void *ud)
{
    coord_t *c = ud;
    char id[LS_STR_MAX + 1];
    if (((coord_scope_t *)value)->conn)
        return 0;
    size_t n = strcspn(key, "/");
    snprintf(id, sizeof(id), "%.*s", (int)(n < sizeof(id) ? n : sizeof(id) - 1), key);
    if (ls_strmap_get(c->conns, id))
        return 0; /* its course list may not have arrived yet */
    coord_schedule_tombstone(c, key);
    return 1;
}

void coord_schedule_drop_orphans(coord_t *c)
{
    ls_strmap_sweep(c->scopes, drop_orphan, c);
}
