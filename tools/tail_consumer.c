/*
 * tail_consumer.c - librdkafka consumer for lmsync-tail.
 *
 * End-of-topic is tracked per partition from RD_KAFKA_RESP_ERR__PARTITION_EOF
 * events (enable.partition.eof=true), which librdkafka emits also for empty
 * partitions, so --exit-at-end works on an empty topic. A message on a
 * partition clears its EOF mark.
 */
#include "tail_consumer.h"
#include "ls_err.h"
#include "ls_log.h"
#include "ls_time.h"

#include <librdkafka/rdkafka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct tail_consumer {
    rd_kafka_t *rk;
    char *topic;
    int part_cnt;
    unsigned char *eof;       /* per partition: 1 = at end */
    int eof_cnt;
    rd_kafka_message_t *cur;  /* message handed out by the last poll */
    tail_header_t *hdrs;
    size_t hdr_cap;
};

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    ls_log_level_t l = level <= 3 ? LS_LOG_ERROR : level == 4 ? LS_LOG_WARN
                     : level <= 6 ? LS_LOG_INFO : LS_LOG_DEBUG;
    ls_log(l, "rdkafka %s: %s", fac, buf);
}

static int conf_set_all(rd_kafka_conf_t *conf, const char *brokers, char *errstr, size_t errsz)
{
    char group[64];
    snprintf(group, sizeof(group), "lmsync-tail-%ld-%ld", (long)getpid(), (long)time(NULL));
    const char *kv[][2] = {
        {"bootstrap.servers", brokers},
        {"client.id", "lmsync-tail"},
        {"group.id", group},               /* required by assign(); never joined */
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "true"},
        {"auto.offset.reset", "earliest"}, /* if an assigned offset is out of range */
    };
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], errstr, errsz) != RD_KAFKA_CONF_OK)
            return LS_EINVAL;
    return LS_OK;
}

tail_consumer_t *tail_consumer_new(const char *brokers, const char *topic,
                                   char *errstr, size_t errsz)
{
    tail_consumer_t *c = calloc(1, sizeof(*c));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!c || !(c->topic = strdup(topic))) {
        snprintf(errstr, errsz, "out of memory");
        goto fail;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    if (conf_set_all(conf, brokers, errstr, errsz) != LS_OK)
        goto fail;
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errsz);
    if (!c->rk)
        goto fail;
    conf = NULL; /* owned by rk now */
    rd_kafka_poll_set_consumer(c->rk);
    return c;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (c)
        free(c->topic);
    free(c);
    return NULL;
}

/* Partition count of the topic: >0, 0 if it does not exist, <0 on failure. */
static int partition_count(tail_consumer_t *c)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->rk, c->topic, NULL);
    if (!rkt)
        return -1;
    rd_kafka_resp_err_t err = rd_kafka_metadata(c->rk, 0, rkt, &md, 5000);
    rd_kafka_topic_destroy(rkt);
    if (err) {
        ls_warn("metadata for topic '%s': %s", c->topic, rd_kafka_err2str(err));
        return -1;
    }
    int n = 0;
    if (md->topic_cnt == 1 && !md->topics[0].err)
        n = md->topics[0].partition_cnt;
    else if (md->topic_cnt == 1 &&
             md->topics[0].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        ls_warn("metadata for topic '%s': %s", c->topic, rd_kafka_err2str(md->topics[0].err));
    rd_kafka_metadata_destroy(md);
    return n;
}

static int assign_all(tail_consumer_t *c, int from_end)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(c->part_cnt);
    for (int p = 0; p < c->part_cnt; p++)
        rd_kafka_topic_partition_list_add(parts, c->topic, p)->offset =
            from_end ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(c->rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (err) {
        ls_error("assign topic '%s': %s", c->topic, rd_kafka_err2str(err));
        return LS_EIO;
    }
    ls_info("topic '%s': reading %d partition(s) from the %s", c->topic, c->part_cnt,
            from_end ? "end" : "beginning");
    return LS_OK;
}

int tail_consumer_assign(tail_consumer_t *c, int from_end, long wait_ms,
                         volatile sig_atomic_t *stop)
{
    int64_t deadline = ls_time_mono_ms() + wait_ms;
    int warned = 0, n;
    while ((n = partition_count(c)) <= 0) {
        if (*stop)
            return LS_ESTOP;
        if (wait_ms >= 0 && ls_time_mono_ms() >= deadline)
            return n == 0 ? LS_ENOTFOUND : LS_ETRANSIENT;
        if (n == 0 && !warned++)
            ls_warn("topic '%s' does not exist yet; waiting", c->topic);
        struct timespec ts = {0, 500 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    c->part_cnt = n;
    c->eof = calloc((size_t)n, 1);
    if (!c->eof)
        return LS_ENOMEM;
    return assign_all(c, from_end);
}

static void mark(tail_consumer_t *c, int32_t part, unsigned char at_end)
{
    if (part < 0 || part >= c->part_cnt || c->eof[part] == at_end)
        return;
    c->eof[part] = at_end;
    c->eof_cnt += at_end ? 1 : -1;
}

/* Point msg->headers at the current message's headers. */
static int fill_headers(tail_consumer_t *c, tail_msg_t *msg)
{
    rd_kafka_headers_t *hdrs = NULL;
    size_t n = 0;
    if (rd_kafka_message_headers(c->cur, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
        n = rd_kafka_header_cnt(hdrs);
    if (n > c->hdr_cap) {
        tail_header_t *nh = realloc(c->hdrs, n * sizeof(*nh));
        if (!nh)
            return LS_ENOMEM;
        c->hdrs = nh;
        c->hdr_cap = n;
    }
    for (size_t i = 0; i < n; i++)
        rd_kafka_header_get_all(hdrs, i, &c->hdrs[i].name, &c->hdrs[i].value, &c->hdrs[i].len);
    msg->headers = c->hdrs;
    msg->header_cnt = n;
    return LS_OK;
}

static void fill_msg(tail_consumer_t *c, tail_msg_t *msg)
{
    const rd_kafka_message_t *m = c->cur;
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);
    msg->topic = rd_kafka_topic_name(m->rkt);
    msg->partition = m->partition;
    msg->offset = m->offset;
    msg->timestamp_ms = tstype == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts;
    msg->key = m->key;
    msg->key_len = m->key_len;
    msg->value = m->payload;
    msg->value_len = m->len;
}

int tail_consumer_poll(tail_consumer_t *c, int timeout_ms, tail_msg_t *msg)
{
    if (c->cur) {
        rd_kafka_message_destroy(c->cur);
        c->cur = NULL;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (!m)
        return 0;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        mark(c, m->partition, 1);
        rd_kafka_message_destroy(m);
        return 0;
    }
    if (m->err) {
        char fatal[256];
        int is_fatal = rd_kafka_fatal_error(c->rk, fatal, sizeof(fatal)) != 0;
        ls_log(is_fatal ? LS_LOG_ERROR : LS_LOG_WARN, "consumer: %s",
               is_fatal ? fatal : rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return is_fatal ? LS_EIO : 0;
    }
    c->cur = m;
    mark(c, m->partition, 0);
    fill_msg(c, msg);
    if (fill_headers(c, msg) != LS_OK)
        return LS_EIO;
    return 1;
}

int tail_consumer_at_end(const tail_consumer_t *c)
{
    return c->part_cnt > 0 && c->eof_cnt == c->part_cnt;
}

void tail_consumer_destroy(tail_consumer_t *c)
{
    if (!c)
        return;
    if (c->cur)
        rd_kafka_message_destroy(c->cur);
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    free(c->eof);
    free(c->hdrs);
    free(c->topic);
    free(c);
}
