/*
 * export_run.c - lmsync-export's two-pass snapshot read (export_run.h).
 */
#include "export_run.h"
#include "ls_err.h"
#include "ls_hash.h"
#include "ls_kafka.h"
#include "ls_log.h"
#include "ls_time.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Key hash -> offset of the key's last record: open addressing, hash 0 = empty slot. */
typedef struct last_table {
    uint64_t *hash;
    int64_t *offset;
    size_t n, cap;
} last_table_t;

static uint64_t key_hash(const char *key, size_t len)
{
    uint64_t h = ls_hash64(key ? key : "", key ? len : 0, LS_HASH_SEED);
    return h ? h : 1;
}

static size_t slot_of(const last_table_t *t, uint64_t h)
{
    size_t i = h & (t->cap - 1);
    while (t->hash[i] && t->hash[i] != h)
        i = (i + 1) & (t->cap - 1);
    return i;
}

static int table_put(last_table_t *t, uint64_t h, int64_t offset)
{
    if ((t->n + 1) * 2 > t->cap) {
        last_table_t g = {calloc(t->cap ? t->cap * 2 : 4096, sizeof(uint64_t)),
                          calloc(t->cap ? t->cap * 2 : 4096, sizeof(int64_t)), t->n, t->cap ? t->cap * 2 : 4096};
        if (!g.hash || !g.offset) {
            free(g.hash);
            free(g.offset);
            return LS_ENOMEM;
        }
        for (size_t i = 0; i < t->cap; i++)
            if (t->hash[i]) {
                size_t j = slot_of(&g, t->hash[i]);
                g.hash[j] = t->hash[i];
                g.offset[j] = t->offset[i];
            }
        free(t->hash);
        free(t->offset);
        *t = g;
    }
    size_t i = slot_of(t, h);
    t->n += t->hash[i] == 0;
    t->hash[i] = h;
    t->offset[i] = offset;
    return LS_OK;
}

static int64_t table_get(const last_table_t *t, uint64_t h)
{
    if (!t->cap)
        return -1;
    size_t i = slot_of(t, h);
    return t->hash[i] ? t->offset[i] : -1;
}

/* What one run has done so far. */
typedef struct export_state {
    const export_opts_t *o;
    FILE *out;
    last_table_t last;
    long records, rows, unreadable;
    int write_failed;
} export_state_t;

typedef int (*record_fn)(export_state_t *s, const ls_kmsg_t *m);

/* Pass 1: remember the offset of each matching key's last record. */
static int note_last(export_state_t *s, const ls_kmsg_t *m)
{
    if (!export_key_matches(&s->o->filter, m->key, m->key_len))
        return LS_OK;
    s->records++;
    return table_put(&s->last, key_hash(m->key, m->key_len), m->offset);
}

/* Pass 2: write the records that are their key's last and not a tombstone. */
static int write_last(export_state_t *s, const ls_kmsg_t *m)
{
    if (!m->value || !export_key_matches(&s->o->filter, m->key, m->key_len) ||
        table_get(&s->last, key_hash(m->key, m->key_len)) != m->offset)
        return LS_OK;
    json_error_t je;
    json_t *v = json_loadb(m->value, m->len, 0, &je);
    if (!json_is_object(v)) {
        if (s->unreadable++ < 5)
            ls_warn("%s [%d] offset %lld: not a JSON object (%s); skipped", m->topic, m->partition,
                    (long long)m->offset, v ? "another JSON type" : je.text);
        json_decref(v);
        return LS_OK;
    }
    if (export_value_matches(&s->o->filter, v)) {
        if (export_row(s->out, s->o->kind, s->o->format, v)) {
            json_decref(v);
            s->write_failed = 1;
            return LS_EIO;
        }
        s->rows++;
    }
    json_decref(v);
    return LS_OK;
}

/* Read topic/partition from its start up to (not including) offset end, calling fn for each record. */
static int read_range(ls_reader_t *r, const char *topic, int partition, int64_t end, int timeout_ms,
                      export_state_t *s, record_fn fn)
{
    char err[512];
    if (ls_reader_start(r, topic, partition, LS_OFFSET_BEGINNING) != LS_OK)
        return LS_ETRANSIENT;
    int64_t deadline = ls_time_mono_ms() + timeout_ms, next = 0;
    int rc = LS_OK;
    while (rc == LS_OK && next < end) {
        if (ls_time_mono_ms() > deadline) {
            ls_error("%s [%d]: read up to offset %lld of %lld within %d ms; giving up", topic, partition,
                     (long long)next, (long long)end, timeout_ms);
            rc = LS_ETRANSIENT;
            break;
        }
        ls_kmsg_t m;
        int64_t eof;
        int p = ls_reader_poll(r, 200, &m, &eof, err, sizeof(err));
        if (p == LS_OK) {
            next = m.offset + 1;
            if (m.offset < end)
                rc = fn(s, &m);
            ls_kmsg_release(&m);
        } else if (p == LS_ENOTFOUND && eof >= 0) {
            next = eof > next ? eof : next; /* compaction can leave the last offsets empty */
        } else if (p == LS_ETRANSIENT) {
            ls_warn("%s [%d]: %s (retrying)", topic, partition, err);
        }
    }
    ls_reader_stop(r);
    return rc;
}

static int export_partition(ls_reader_t *r, const char *topic, int partition, export_state_t *s)
{
    char err[512];
    int64_t low, high;
    if (ls_reader_watermarks(r, topic, partition, &low, &high, s->o->timeout_ms, err, sizeof(err)) != LS_OK) {
        ls_error("%s", err);
        return LS_ETRANSIENT;
    }
    s->last.n = 0; /* a new partition: forget the last one's keys */
    if (s->last.cap)
        memset(s->last.hash, 0, s->last.cap * sizeof(*s->last.hash));
    if (high <= low)
        return LS_OK;
    int rc = read_range(r, topic, partition, high, s->o->timeout_ms, s, note_last);
    return rc == LS_OK ? read_range(r, topic, partition, high, s->o->timeout_ms, s, write_last) : rc;
}

/* The line that says why nothing was exported. */
static void say_empty(const export_opts_t *o, const char *topic)
{
    const export_filter_t *f = &o->filter;
    if (f->connection || f->tenant || f->course)
        ls_error("no %s record in %s for%s%s%s%s%s%s (unknown, or nothing tracked yet)",
                 o->kind == EXPORT_ACTIVITY ? "activity" : "enrollment", topic,
                 f->connection ? " connection " : "", f->connection ? f->connection : "",
                 f->tenant ? " tenant " : "", f->tenant ? f->tenant : "", f->course ? " course " : "",
                 f->course ? f->course : "");
    else
        ls_error("%s holds no record", topic);
}

int export_run(const ls_config_t *cfg, const export_opts_t *o, FILE *out)
{
    char topic[256], err[512];
    ls_config_topic(cfg, export_topic_suffix(o->kind), topic, sizeof(topic));
    ls_kafka_conf_t kc = ls_config_kafka(cfg);
    ls_reader_t *r = ls_reader_new(&kc, err, sizeof(err));
    if (!r) {
        ls_error("kafka: %s", err);
        return EXPORT_EXIT_FAIL;
    }
    int parts = ls_reader_partition_count(r, topic, o->timeout_ms);
    if (parts <= 0) {
        ls_error("topic %s: %s", topic, parts == LS_ENOTFOUND ? "does not exist" : "metadata request failed");
        ls_reader_destroy(r);
        return EXPORT_EXIT_FAIL;
    }
    export_state_t s = {.o = o, .out = out};
    int rc = export_header(out, o->kind, o->format) ? LS_EIO : LS_OK;
    for (int p = 0; p < parts && rc == LS_OK; p++)
        rc = export_partition(r, topic, p, &s);
    free(s.last.hash);
    free(s.last.offset);
    ls_reader_destroy(r);
    if (rc == LS_OK && fflush(out))
        rc = LS_EIO;
    if (rc != LS_OK) {
        ls_error("export of %s failed%s", topic, rc == LS_EIO ? ": cannot write the output" : "");
        return EXPORT_EXIT_FAIL;
    }
    ls_info("%ld rows from %s (%d partitions, %ld records of the selected keys, %ld unreadable)", s.rows, topic, parts,
            s.records, s.unreadable);
    if (s.rows == 0) {
        say_empty(o, topic);
        return EXPORT_EXIT_EMPTY;
    }
    return EXPORT_EXIT_OK;
}
