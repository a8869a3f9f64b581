/*
 * ls_kafka.c - librdkafka wrappers.
 *
 * Delivery reports carry the ls_batch_t pointer as msg_opaque; they are
 * served from ls_producer_wait / ls_producer_send on the caller's thread
 * (rd_kafka_poll), so batches need no locking.
 */
#include "ls_kafka.h"
#include "ls_grow.h"
#include "ls_err.h"
#include "ls_log.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "ls_time.h"

struct ls_producer {
    rd_kafka_t *rk;
    int event_fd[2];   /* pipe: librdkafka writes to [1] when its main queue gets events; -1 = none */
};

struct ls_consumer {
    rd_kafka_t *rk;
    int brokers_up;              /* brokers in state UP at the last statistics (5 s), -1 before any */
    char *topic;                 /* the subscribed topic */
    ls_rebalance_cb_t cb;        /* NULL: librdkafka's default handling */
    void *ud;
};

struct ls_reader {
    rd_kafka_t *rk;
};

/* Message opaque: the batch pointer with the low bit set for an LS_SEND_AFTER_ACKS message (its
 * offset feeds after_acks_next_offset; a batch is at least pointer-aligned, so the bit is free):
 * no allocation per message. */
_Static_assert(LS_OFFSET_BEGINNING == RD_KAFKA_OFFSET_BEGINNING, "LS_OFFSET_BEGINNING is librdkafka's value");

static void *msg_tag(ls_batch_t *b, ls_send_t when)
{
    return b ? (void *)((uintptr_t)b | (when == LS_SEND_AFTER_ACKS ? 1u : 0u)) : NULL;
}

void ls_batch_init(ls_batch_t *b)
{
    memset(b, 0, sizeof(*b));
    b->after_acks_next_offset = -1;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    ls_log_level_t l = level <= 3 ? LS_LOG_ERROR : level == 4 ? LS_LOG_WARN : level <= 6 ? LS_LOG_INFO : LS_LOG_DEBUG;
    ls_log(l, "rdkafka %s: %s", fac, buf);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    uintptr_t tag = (uintptr_t)m->_private;
    if (!tag)
        return;
    ls_batch_t *b = (ls_batch_t *)(tag & ~(uintptr_t)1);
    int after_acks = (int)(tag & 1u);
    b->pending--;
    if (m->err) {
        if (b->failed++ == 0)
            snprintf(b->err, sizeof(b->err), "delivery to %s [%d] failed: %s",
                     rd_kafka_topic_name(m->rkt), m->partition, rd_kafka_err2str(m->err));
    } else {
        b->delivered++;
        if (after_acks && m->offset + 1 > b->after_acks_next_offset)
            b->after_acks_next_offset = m->offset + 1;
    }
}

static rd_kafka_conf_t *base_conf(const ls_kafka_conf_t *kc, char *errstr, size_t errsz)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", kc->brokers, errstr, errsz) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "client.id", "lmsync", errstr, errsz) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

static int conf_set_all(rd_kafka_conf_t *conf, const char *const *kv, char *errstr, size_t errsz)
{
    for (; kv[0]; kv += 2)
        if (rd_kafka_conf_set(conf, kv[0], kv[1], errstr, errsz) != RD_KAFKA_CONF_OK)
            return LS_EINVAL;
    return LS_OK;
}

/* The common settings plus kv (NULL-terminated name/value pairs); NULL with errstr on a bad value. */
static rd_kafka_conf_t *client_conf(const ls_kafka_conf_t *kc, const char *const *kv, char *errstr, size_t errsz)
{
    rd_kafka_conf_t *conf = base_conf(kc, errstr, errsz);
    if (conf && conf_set_all(conf, kv, errstr, errsz) != LS_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

/* Fails fast with a clear message when no broker answers. */
static int check_reachable(rd_kafka_t *rk, const ls_kafka_conf_t *kc, int timeout_ms, char *errstr, size_t errsz)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
    if (err) {
        snprintf(errstr, errsz, "setting 'kafka.brokers' (\"%s\"): no broker answered within %d ms: %s",
                 kc->brokers, timeout_ms, rd_kafka_err2str(err));
        return LS_ETRANSIENT;
    }
    rd_kafka_metadata_destroy(md);
    return LS_OK;
}

ls_producer_t *ls_producer_new(const ls_kafka_conf_t *kc, int timeout_ms, char *errstr, size_t errsz)
{
    const char *codec = kc->compression && kc->compression[0] ? kc->compression : "gzip";
    /* gzip at level 1: ~0.8 us per event and most of the size gain of level 6, which costs ~6 us */
    const char *const kv[] = {
        "enable.idempotence", "true", "acks", "all", "linger.ms", "5", "message.timeout.ms", "30000",
        "compression.type", codec, "compression.level", strcmp(codec, "gzip") == 0 ? "1" : "-1", NULL};
    rd_kafka_conf_t *conf = client_conf(kc, kv, errstr, errsz);
    if (!conf)
        return NULL;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    ls_producer_t *p = calloc(1, sizeof(*p));
    if (!p || !(p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errsz))) {
        if (p)
            free(p);
        else
            rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (check_reachable(p->rk, kc, timeout_ms, errstr, errsz) != LS_OK) {
        rd_kafka_destroy(p->rk);
        free(p);
        return NULL;
    }
    p->event_fd[0] = p->event_fd[1] = -1;
    return p;
}

void ls_producer_destroy(ls_producer_t *p)
{
    ls_producer_close(p, 10000);
}

void ls_producer_close(ls_producer_t *p, int flush_ms)
{
    if (!p)
        return;
    if (rd_kafka_flush(p->rk, flush_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ls_warn("producer closed with %d messages undelivered", rd_kafka_outq_len(p->rk));
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(p->rk, 0); /* serve the purged messages' delivery reports while their batches exist */
    }
    if (p->event_fd[0] >= 0) {
        rd_kafka_queue_t *q = rd_kafka_queue_get_main(p->rk);
        rd_kafka_queue_io_event_enable(q, -1, NULL, 0);
        rd_kafka_queue_destroy(q);
    }
    rd_kafka_destroy(p->rk);
    if (p->event_fd[0] >= 0) {
        close(p->event_fd[0]);
        close(p->event_fd[1]);
    }
    free(p);
}

static rd_kafka_headers_t *make_headers(const ls_kafka_header_t *h, size_t n)
{
    if (n == 0)
        return NULL;
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_header_add(hdrs, h[i].name, -1, h[i].value, -1);
    return hdrs;
}

/* A held-back message: produced once the batch's messages of earlier stages are delivered. */
typedef struct held_msg {
    ls_send_t stage;
    char *topic;
    int partition;
    void *key, *value;          /* value NULL = tombstone */
    size_t key_len, len;
    rd_kafka_headers_t *hdrs;
} held_msg_t;

/* Produce (the key is copied; the value is copied with RD_KAFKA_MSG_F_COPY, or taken over with
 * RD_KAFKA_MSG_F_FREE), waiting while the local queue is full. hdrs (and an F_FREE value) are
 * owned by librdkafka on success, by the caller on failure. */
static rd_kafka_resp_err_t produce_raw(ls_producer_t *p, const char *topic, int partition,
                                       const void *key, size_t key_len, const void *value, size_t len,
                                       rd_kafka_headers_t *hdrs, void *opaque, int value_flag)
{
    rd_kafka_resp_err_t err;
    for (;;) {
        err = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
                                RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
                                RD_KAFKA_V_MSGFLAGS(value_flag),
                                RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, len),
                                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return err;
        rd_kafka_poll(p->rk, 100);
    }
}

static void *dup_bytes(const void *b, size_t n)
{
    void *d = malloc(n ? n : 1);
    if (d && n)
        memcpy(d, b, n);
    return d;
}

static void held_free(held_msg_t *h)
{
    free(h->topic);
    free(h->key);
    free(h->value);
    if (h->hdrs)
        rd_kafka_headers_destroy(h->hdrs);
}

/* Keep a held-back message in the batch (copies everything). */
static int hold(ls_batch_t *b, ls_send_t stage, const char *topic, int partition, const void *key, size_t key_len,
                const void *value, size_t len, rd_kafka_headers_t *hdrs)
{
    void *grown = ls_grow(b->held, &b->cap_held, b->n_held, sizeof(held_msg_t), 16);
    if (!grown)
        return LS_ENOMEM;
    b->held = grown;
    held_msg_t *h = &((held_msg_t *)b->held)[b->n_held];
    *h = (held_msg_t){stage, strdup(topic), partition, dup_bytes(key, key_len), value ? dup_bytes(value, len) : NULL,
                      key_len, value ? len : 0, hdrs};
    if (!h->topic || !h->key || (value && !h->value)) {
        h->hdrs = NULL;
        held_free(h);
        return LS_ENOMEM;
    }
    b->n_held++;
    b->pending++;
    return LS_OK;
}

int ls_producer_send(ls_producer_t *p, const char *topic, int partition,
                     const void *key, size_t key_len, const void *value, size_t len,
                     const ls_kafka_header_t *headers, size_t n_headers,
                     ls_batch_t *batch, ls_send_t when)
{
    if (when != LS_SEND_NOW && !batch)
        return LS_EINVAL;
    rd_kafka_headers_t *hdrs = make_headers(headers, n_headers);
    if (when != LS_SEND_NOW) {
        int rc = hold(batch, when, topic, partition, key, key_len, value, len, hdrs);
        if (rc != LS_OK && hdrs)
            rd_kafka_headers_destroy(hdrs);
        return rc;
    }
    rd_kafka_resp_err_t err = produce_raw(p, topic, partition, key, key_len, value, len, hdrs,
                                          msg_tag(batch, LS_SEND_NOW), RD_KAFKA_MSG_F_COPY);
    if (err) {
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        ls_error("produce to \"%s\" failed: %s", topic, rd_kafka_err2str(err));
        return err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                       err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE
                   ? LS_EINVAL : LS_ETRANSIENT;
    }
    if (batch)
        batch->pending++;
    return LS_OK;
}

static void batch_fail(ls_batch_t *b, const char *why)
{
    if (b->failed++ == 0)
        snprintf(b->err, sizeof(b->err), "%s", why);
}

/* Produce the held-back messages of the earliest stage still held (keeping the later ones, in
 * order), or drop every held message when an earlier one was not delivered. */
static void release_stage(ls_producer_t *p, ls_batch_t *b)
{
    held_msg_t *held = b->held;
    int earlier_ok = b->failed == 0 && b->pending == (int)b->n_held;
    ls_send_t stage = LS_SEND_AFTER_ACKS;
    for (size_t i = 0; i < b->n_held; i++)
        if (held[i].stage < stage)
            stage = held[i].stage;
    size_t kept = 0;
    for (size_t i = 0; i < b->n_held; i++) {
        held_msg_t *h = &held[i];
        if (earlier_ok && h->stage != stage) {
            held[kept++] = *h;
            continue;
        }
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__STATE;
        if (earlier_ok) {
            err = produce_raw(p, h->topic, h->partition, h->key, h->key_len, h->value, h->len, h->hdrs,
                              msg_tag(b, h->stage), h->len ? RD_KAFKA_MSG_F_FREE : RD_KAFKA_MSG_F_COPY);
            if (!err) {
                h->hdrs = NULL; /* owned by librdkafka now, and so is a non-empty value */
                if (h->len)
                    h->value = NULL;
            }
        }
        if (err) {
            char why[256];
            b->pending--;
            snprintf(why, sizeof(why), earlier_ok ? "produce to %s [%d] failed: %s"
                                                  : "held record for %s [%d] not produced: %s",
                     h->topic, h->partition,
                     earlier_ok ? rd_kafka_err2str(err) : "earlier messages of the batch not delivered");
            batch_fail(b, why);
        }
        held_free(h);
    }
    b->n_held = kept;
    if (!kept) {
        free(b->held);
        b->held = NULL;
        b->cap_held = 0;
    }
}

int ls_producer_wait(ls_producer_t *p, ls_batch_t *batch, int timeout_ms, char *err, size_t errsz)
{
    int64_t deadline = ls_time_mono_ms() + timeout_ms;
    for (;;) {
        while (batch->pending > (int)batch->n_held && ls_time_mono_ms() < deadline)
            rd_kafka_poll(p->rk, 50);
        if (!batch->n_held || batch->pending > (int)batch->n_held)
            break;
        release_stage(p, batch);
    }
    if (batch->n_held) /* timed out with messages still held: dropped, counted as failed */
        release_stage(p, batch);
    if (batch->pending > 0) {
        snprintf(err, errsz, "%d messages not acknowledged within %d ms", batch->pending, timeout_ms);
        return LS_ETRANSIENT;
    }
    if (batch->failed) {
        snprintf(err, errsz, "%s", batch->err);
        return LS_ETRANSIENT;
    }
    return LS_OK;
}

int ls_producer_poll_batch(ls_producer_t *p, ls_batch_t *batch, char *err, size_t errsz)
{
    rd_kafka_poll(p->rk, 0);
    while (batch->n_held && batch->pending == (int)batch->n_held)
        release_stage(p, batch);
    if (batch->pending > 0)
        return 1;
    if (batch->failed) {
        snprintf(err, errsz, "%s", batch->err);
        return LS_ETRANSIENT;
    }
    return LS_OK;
}

void ls_producer_poll(ls_producer_t *p)
{
    char buf[256];
    if (p->event_fd[0] >= 0)
        while (read(p->event_fd[0], buf, sizeof(buf)) > 0)
            ;
    rd_kafka_poll(p->rk, 0);
}

int ls_producer_event_fd(ls_producer_t *p)
{
    if (p->event_fd[0] >= 0)
        return p->event_fd[0];
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    for (int i = 0; i < 2; i++)
        fcntl(fd[i], F_SETFL, fcntl(fd[i], F_GETFL) | O_NONBLOCK);
    rd_kafka_queue_t *q = rd_kafka_queue_get_main(p->rk);
    rd_kafka_queue_io_event_enable(q, fd[1], "1", 1);
    rd_kafka_queue_destroy(q);
    p->event_fd[0] = fd[0];
    p->event_fd[1] = fd[1];
    return fd[0];
}

/* Partition count of topic from a metadata request of client rk. */
static int partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (err)
        return LS_ETRANSIENT;
    int n = (md->topic_cnt == 1 && !md->topics[0].err) ? md->topics[0].partition_cnt : LS_ENOTFOUND;
    rd_kafka_metadata_destroy(md);
    return n;
}

int ls_producer_partition_count(ls_producer_t *p, const char *topic, int timeout_ms)
{
    return partition_count(p->rk, topic, timeout_ms);
}

/* Plain partition numbers of list (only the subscribed topic) into a new array. */
static int *partitions_of(const ls_consumer_t *c, const rd_kafka_topic_partition_list_t *l, size_t *n)
{
    int *v = malloc(((size_t)l->cnt + 1) * sizeof(*v));
    *n = 0;
    for (int i = 0; v && i < l->cnt; i++)
        if (strcmp(l->elems[i].topic, c->topic) == 0)
            v[(*n)++] = (int)l->elems[i].partition;
    return v;
}

/*
 * Eager protocol: ASSIGN gives the whole new assignment, REVOKE takes all.
 * Assigned partitions are paused before this returns, so nothing of them is
 * fetched for the application until the worker restored their state and
 * called ls_consumer_resume().
 */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    ls_consumer_t *c = opaque;
    size_t n = 0;
    int *v = partitions_of(c, parts, &n);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_resp_err_t e = rd_kafka_assign(rk, parts);
        if (!e)
            e = rd_kafka_pause_partitions(rk, parts);
        if (e)
            ls_error("cannot assign and pause %d partitions: %s", parts->cnt, rd_kafka_err2str(e));
        if (v && c->cb)
            c->cb(LS_REBALANCE_ASSIGN, v, n, 0, c->ud);
    } else {
        if (v && c->cb)
            c->cb(LS_REBALANCE_REVOKE, v, n, rd_kafka_assignment_lost(rk), c->ud);
        rd_kafka_assign(rk, NULL);
    }
    if (!v)
        ls_error("out of memory in a rebalance of %d partitions", parts->cnt);
    free(v);
}

/* librdkafka's statistics, every 5 s from the consumer's poll: count the brokers that are UP. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    ls_consumer_t *c = opaque;
    json_t *o = json_loadb(json, len, 0, NULL), *b;
    const char *name;
    int up = 0;
    json_object_foreach(json_object_get(o, "brokers"), name, b) {
        const char *state = json_string_value(json_object_get(b, "state"));
        up += state && strcmp(state, "UP") == 0;
    }
    if (o)
        c->brokers_up = up;
    json_decref(o);
    return 0;
}

int ls_consumer_reachable(const ls_consumer_t *c)
{
    return c->brokers_up != 0;
}

static ls_consumer_t *consumer_new(const ls_kafka_conf_t *kc, const char *group_id, const char *topic,
                                   ls_rebalance_cb_t cb, void *ud, char *errstr, size_t errsz)
{
    char session[16], heartbeat[16];
    snprintf(session, sizeof(session), "%d", kc->session_timeout_ms > 0 ? kc->session_timeout_ms : 10000);
    snprintf(heartbeat, sizeof(heartbeat), "%d", kc->session_timeout_ms > 0 ? kc->session_timeout_ms / 3 : 3000);
    const char *const kv[] = {
        "group.id", group_id, "enable.auto.commit", "false", "auto.offset.reset", "earliest",
        "enable.partition.eof", "false", "session.timeout.ms", session, "heartbeat.interval.ms", heartbeat,
        "max.poll.interval.ms", "600000",
        /* eager on purpose: librdkafka 2.0.x cooperative-sticky bugs, see architecture.md */
        "partition.assignment.strategy", "range,roundrobin", "statistics.interval.ms", "5000", NULL};
    rd_kafka_conf_t *conf = client_conf(kc, kv, errstr, errsz);
    if (!conf)
        return NULL;
    ls_consumer_t *c = calloc(1, sizeof(*c));
    if (c && !(c->topic = strdup(topic))) {
        free(c);
        c = NULL;
    }
    if (c) {
        c->brokers_up = -1;
        rd_kafka_conf_set_opaque(conf, c);
        rd_kafka_conf_set_stats_cb(conf, stats_cb);
    }
    if (c && cb) {
        c->cb = cb;
        c->ud = ud;
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    }
    if (!c || !(c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errsz))) {
        if (c) {
            free(c->topic);
            free(c);
        } else {
            rd_kafka_conf_destroy(conf);
        }
        return NULL;
    }
    rd_kafka_poll_set_consumer(c->rk);
    if (check_reachable(c->rk, kc, 10000, errstr, errsz) != LS_OK) {
        rd_kafka_destroy(c->rk);
        free(c->topic);
        free(c);
        return NULL;
    }
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(c->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err) {
        snprintf(errstr, errsz, "cannot subscribe to \"%s\": %s", topic, rd_kafka_err2str(err));
        rd_kafka_destroy(c->rk);
        free(c->topic);
        free(c);
        return NULL;
    }
    return c;
}

ls_consumer_t *ls_consumer_new(const ls_kafka_conf_t *kc, const char *group_id, const char *topic,
                               char *errstr, size_t errsz)
{
    return consumer_new(kc, group_id, topic, NULL, NULL, errstr, errsz);
}

ls_consumer_t *ls_consumer_new_rebalance(const ls_kafka_conf_t *kc, const char *group_id, const char *topic,
                                         ls_rebalance_cb_t cb, void *ud, char *errstr, size_t errsz)
{
    return consumer_new(kc, group_id, topic, cb, ud, errstr, errsz);
}

int ls_consumer_assignment_lost(ls_consumer_t *c)
{
    return rd_kafka_assignment_lost(c->rk) ? 1 : 0;
}

void ls_consumer_destroy(ls_consumer_t *c)
{
    if (!c)
        return;
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    free(c->topic);
    free(c);
}

int ls_consumer_resume(ls_consumer_t *c, int partition)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, c->topic, partition);
    rd_kafka_resp_err_t e = rd_kafka_resume_partitions(c->rk, l);
    if (!e && l->elems[0].err)
        e = l->elems[0].err;
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        ls_warn("cannot resume %s [%d]: %s", c->topic, partition, rd_kafka_err2str(e));
        return LS_ETRANSIENT;
    }
    return LS_OK;
}

ls_reader_t *ls_reader_new(const ls_kafka_conf_t *kc, char *errstr, size_t errsz)
{
    char group[96];
    snprintf(group, sizeof(group), "lmsync-restore-%ld-%lld", (long)getpid(), (long long)ls_time_now_ms());
    const char *const kv[] = {
        "group.id", group, /* required by assign(); never joined, never committed */
        "enable.auto.commit", "false", "enable.auto.offset.store", "false",
        "enable.partition.eof", "true", "auto.offset.reset", "earliest", NULL};
    rd_kafka_conf_t *conf = client_conf(kc, kv, errstr, errsz);
    if (!conf)
        return NULL;
    ls_reader_t *r = calloc(1, sizeof(*r));
    if (!r || !(r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errsz))) {
        if (r)
            free(r);
        else
            rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(r->rk);
    return r;
}

void ls_reader_destroy(ls_reader_t *r)
{
    if (!r)
        return;
    rd_kafka_assign(r->rk, NULL);
    rd_kafka_destroy(r->rk);
    free(r);
}

int ls_reader_watermarks(ls_reader_t *r, const char *topic, int partition, int64_t *low, int64_t *high,
                         int timeout_ms, char *err, size_t errsz)
{
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(r->rk, topic, partition, low, high, timeout_ms);
    if (e) {
        snprintf(err, errsz, "watermarks of %s [%d]: %s", topic, partition, rd_kafka_err2str(e));
        return LS_ETRANSIENT;
    }
    return LS_OK;
}

int ls_reader_partition_count(ls_reader_t *r, const char *topic, int timeout_ms)
{
    return partition_count(r->rk, topic, timeout_ms);
}

int ls_reader_start(ls_reader_t *r, const char *topic, int partition, int64_t offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
    rd_kafka_resp_err_t e = rd_kafka_assign(r->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        ls_warn("cannot read %s [%d] from %lld: %s", topic, partition, (long long)offset, rd_kafka_err2str(e));
        return LS_ETRANSIENT;
    }
    return LS_OK;
}

int ls_reader_poll(ls_reader_t *r, int timeout_ms, ls_kmsg_t *m, int64_t *eof_offset, char *err, size_t errsz)
{
    *eof_offset = -1;
    rd_kafka_message_t *rm = rd_kafka_consumer_poll(r->rk, timeout_ms);
    if (!rm)
        return LS_ENOTFOUND;
    if (rm->err) {
        int rc = LS_ENOTFOUND;
        if (rm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            *eof_offset = rm->offset;
        } else {
            snprintf(err, errsz, "%s", rd_kafka_message_errstr(rm));
            rc = LS_ETRANSIENT;
        }
        rd_kafka_message_destroy(rm);
        return rc;
    }
    m->topic = rd_kafka_topic_name(rm->rkt);
    m->partition = rm->partition;
    m->offset = rm->offset;
    m->key = rm->key;
    m->key_len = rm->key_len;
    m->value = rm->payload;
    m->len = rm->len;
    m->impl = rm;
    return LS_OK;
}

void ls_reader_stop(ls_reader_t *r)
{
    rd_kafka_assign(r->rk, NULL);
}

int ls_consumer_poll(ls_consumer_t *c, int timeout_ms, ls_kmsg_t *m)
{
    rd_kafka_message_t *rm = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (!rm)
        return LS_ENOTFOUND;
    if (rm->err) {
        int eof = rm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
        if (!eof)
            ls_warn("consumer error: %s", rd_kafka_message_errstr(rm));
        rd_kafka_message_destroy(rm);
        return eof ? LS_ENOTFOUND : LS_ETRANSIENT;
    }
    m->topic = rd_kafka_topic_name(rm->rkt);
    m->partition = rm->partition;
    m->offset = rm->offset;
    m->key = rm->key;
    m->key_len = rm->key_len;
    m->value = rm->payload;
    m->len = rm->len;
    m->impl = rm;
    return LS_OK;
}

const char *ls_kmsg_header(const ls_kmsg_t *m, const char *name, size_t *len)
{
    rd_kafka_headers_t *hdrs;
    const void *v;
    if (rd_kafka_message_headers(m->impl, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    if (rd_kafka_header_get_last(hdrs, name, &v, len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    return v;
}

void ls_kmsg_release(ls_kmsg_t *m)
{
    if (m->impl)
        rd_kafka_message_destroy(m->impl);
    memset(m, 0, sizeof(*m));
}

int ls_consumer_commit(ls_consumer_t *c, const char *topic, int partition, int64_t next_offset,
                       char *err, size_t errsz)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = next_offset;
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, l, 0);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        snprintf(err, errsz, "commit of %s [%d] at %lld failed: %s", topic, partition,
                 (long long)next_offset, rd_kafka_err2str(e));
        return LS_ETRANSIENT;
    }
    return LS_OK;
}

int ls_consumer_lag(ls_consumer_t *c, int partition, int64_t *lag)
{
    int64_t lo = -1, hi = -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    if (!l)
        return LS_ENOMEM;
    rd_kafka_topic_partition_list_add(l, c->topic, partition);
    rd_kafka_resp_err_t err = rd_kafka_position(c->rk, l);
    int64_t pos = err ? RD_KAFKA_OFFSET_INVALID : l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    if (pos < 0 || rd_kafka_get_watermark_offsets(c->rk, c->topic, partition, &lo, &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        hi < 0)
        return LS_ENOTFOUND;
    *lag = hi > pos ? hi - pos : 0;
    return LS_OK;
}
