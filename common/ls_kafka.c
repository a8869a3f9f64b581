/*
 * ls_kafka.c - librdkafka wrappers.
 *
 * Delivery reports carry the ls_batch_t pointer as msg_opaque; they are
 * served from ls_producer_wait / ls_producer_send on the caller's thread
 * (rd_kafka_poll), so batches need no locking.
 */
#include "ls_kafka.h"
#include "ls_err.h"
#include "ls_log.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_time.h"

struct ls_producer {
    rd_kafka_t *rk;
};

struct ls_consumer {
    rd_kafka_t *rk;
};

/* Message opaque: batch plus whether to track the offset (low bit). */
typedef struct msg_ctx {
    ls_batch_t *batch;
    int track;
} msg_ctx_t;

void ls_batch_init(ls_batch_t *b)
{
    memset(b, 0, sizeof(*b));
    b->tracked_next_offset = -1;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    ls_log_level_t l = level <= 3 ? LS_LOG_ERROR : level == 4 ? LS_LOG_WARN : level <= 6 ? LS_LOG_INFO : LS_LOG_DEBUG;
    ls_log(l, "rdkafka %s: %s", fac, buf);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    msg_ctx_t *ctx = m->_private;
    if (!ctx)
        return;
    ls_batch_t *b = ctx->batch;
    b->pending--;
    if (m->err) {
        if (b->failed++ == 0)
            snprintf(b->err, sizeof(b->err), "delivery to %s [%d] failed: %s",
                     rd_kafka_topic_name(m->rkt), m->partition, rd_kafka_err2str(m->err));
    } else {
        b->delivered++;
        if (ctx->track && m->offset + 1 > b->tracked_next_offset)
            b->tracked_next_offset = m->offset + 1;
    }
    free(ctx);
}

static rd_kafka_conf_t *base_conf(const ls_config_t *cfg, char *errstr, size_t errsz)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_brokers, errstr, errsz) != RD_KAFKA_CONF_OK ||
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

/* Fails fast with a clear message when no broker answers. */
static int check_reachable(rd_kafka_t *rk, const ls_config_t *cfg, int timeout_ms, char *errstr, size_t errsz)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
    if (err) {
        snprintf(errstr, errsz, "setting 'kafka.brokers' (\"%s\"): no broker answered within %d ms: %s",
                 cfg->kafka_brokers, timeout_ms, rd_kafka_err2str(err));
        return LS_ETRANSIENT;
    }
    rd_kafka_metadata_destroy(md);
    return LS_OK;
}

ls_producer_t *ls_producer_new(const ls_config_t *cfg, int timeout_ms, char *errstr, size_t errsz)
{
    static const char *const kv[] = {
        "enable.idempotence", "true", "acks", "all", "linger.ms", "5",
        "compression.type", "lz4", "message.timeout.ms", "30000", NULL};
    rd_kafka_conf_t *conf = base_conf(cfg, errstr, errsz);
    if (!conf)
        return NULL;
    if (conf_set_all(conf, kv, errstr, errsz) != LS_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    ls_producer_t *p = calloc(1, sizeof(*p));
    if (!p || !(p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errsz))) {
        if (p)
            free(p);
        else
            rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (check_reachable(p->rk, cfg, timeout_ms, errstr, errsz) != LS_OK) {
        rd_kafka_destroy(p->rk);
        free(p);
        return NULL;
    }
    return p;
}

void ls_producer_destroy(ls_producer_t *p)
{
    if (!p)
        return;
    if (rd_kafka_flush(p->rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        ls_warn("producer closed with %d messages undelivered", rd_kafka_outq_len(p->rk));
    rd_kafka_destroy(p->rk);
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

int ls_producer_send(ls_producer_t *p, const char *topic, int partition,
                     const void *key, size_t key_len, const void *value, size_t len,
                     const ls_kafka_header_t *headers, size_t n_headers,
                     ls_batch_t *batch, int track)
{
    msg_ctx_t *ctx = NULL;
    if (batch) {
        if (!(ctx = malloc(sizeof(*ctx))))
            return LS_ENOMEM;
        ctx->batch = batch;
        ctx->track = track;
    }
    rd_kafka_headers_t *hdrs = make_headers(headers, n_headers);
    rd_kafka_resp_err_t err;
    for (;;) {
        err = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
                                RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, len),
                                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(ctx), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(p->rk, 100);
    }
    if (err) {
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        free(ctx);
        ls_error("produce to \"%s\" failed: %s", topic, rd_kafka_err2str(err));
        return err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                       err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE
                   ? LS_EINVAL : LS_ETRANSIENT;
    }
    if (batch)
        batch->pending++;
    return LS_OK;
}

int ls_producer_wait(ls_producer_t *p, ls_batch_t *batch, int timeout_ms, char *err, size_t errsz)
{
    int64_t deadline = ls_time_mono_ms() + timeout_ms;
    while (batch->pending > 0 && ls_time_mono_ms() < deadline)
        rd_kafka_poll(p->rk, 50);
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

int ls_producer_partition_count(ls_producer_t *p, const char *topic, int timeout_ms)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, topic, NULL);
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t err = rd_kafka_metadata(p->rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (err)
        return LS_ETRANSIENT;
    int n = (md->topic_cnt == 1 && !md->topics[0].err) ? md->topics[0].partition_cnt : LS_ENOTFOUND;
    rd_kafka_metadata_destroy(md);
    return n;
}

ls_consumer_t *ls_consumer_new(const ls_config_t *cfg, const char *group_id, const char *topic,
                               char *errstr, size_t errsz)
{
    const char *const kv[] = {
        "group.id", group_id, "enable.auto.commit", "false", "auto.offset.reset", "earliest",
        "enable.partition.eof", "false", "session.timeout.ms", "10000",
        "max.poll.interval.ms", "600000", NULL};
    rd_kafka_conf_t *conf = base_conf(cfg, errstr, errsz);
    if (!conf)
        return NULL;
    if (conf_set_all(conf, kv, errstr, errsz) != LS_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    ls_consumer_t *c = calloc(1, sizeof(*c));
    if (!c || !(c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errsz))) {
        if (c)
            free(c);
        else
            rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(c->rk);
    if (check_reachable(c->rk, cfg, 10000, errstr, errsz) != LS_OK) {
        rd_kafka_destroy(c->rk);
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
        free(c);
        return NULL;
    }
    return c;
}

void ls_consumer_destroy(ls_consumer_t *c)
{
    if (!c)
        return;
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    free(c);
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
