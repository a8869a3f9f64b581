/*
 * db_cluster.c - librdkafka mock cluster wrapper.
 *
 * The mock cluster needs a host rd_kafka_t for bookkeeping; a producer with
 * no bootstrap servers is the cheapest. The brokers run on librdkafka's mock
 * thread and serve any Kafka client on loopback; nothing is persisted.
 */
#include "db_cluster.h"
#include "ls_err.h"
#include "ls_log.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct db_cluster {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mock;
    int broker_cnt;
};

/* syslog levels 0-7 -> ls_log levels. The host rk has no bootstrap.servers
 * by design, so librdkafka's warning about that is only debug noise here. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    ls_log_level_t l = level <= 3 ? LS_LOG_ERROR : level == 4 ? LS_LOG_WARN
                     : level <= 6 ? LS_LOG_INFO : LS_LOG_DEBUG;
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "bootstrap.servers"))
        l = LS_LOG_DEBUG;
    ls_log(l, "rdkafka %s: %s", fac, buf);
}

db_cluster_t *db_cluster_new(int broker_cnt, char *errstr, size_t errsz)
{
    db_cluster_t *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(errstr, errsz, "out of memory");
        return NULL;
    }
    c->broker_cnt = broker_cnt;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    if (rd_kafka_conf_set(conf, "client.id", "lmsync-devbroker", errstr, errsz) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        free(c);
        return NULL;
    }
    c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errsz); /* steals conf on success */
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        free(c);
        return NULL;
    }
    c->mock = rd_kafka_mock_cluster_new(c->rk, broker_cnt);
    if (!c->mock) {
        snprintf(errstr, errsz, "cannot create a mock cluster of %d brokers", broker_cnt);
        rd_kafka_destroy(c->rk);
        free(c);
        return NULL;
    }
    return c;
}

void db_cluster_destroy(db_cluster_t *c)
{
    if (!c)
        return;
    rd_kafka_mock_cluster_destroy(c->mock);
    rd_kafka_destroy(c->rk);
    free(c);
}

const char *db_cluster_bootstraps(const db_cluster_t *c)
{
    return rd_kafka_mock_cluster_bootstraps(c->mock);
}

int db_cluster_broker_count(const db_cluster_t *c)
{
    return c->broker_cnt;
}

static int xlate(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return LS_OK;
    case RD_KAFKA_RESP_ERR__UNKNOWN_BROKER:
        return LS_ENOTFOUND;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
        return LS_EINVAL;
    default:
        ls_warn("mock cluster: %s", rd_kafka_err2str(err));
        return LS_EIO;
    }
}

/* The mock accepts unknown broker ids silently for some calls; check here. */
static int broker_ok(const db_cluster_t *c, int32_t id)
{
    return id == -1 || (id >= 1 && id <= c->broker_cnt);
}

int db_cluster_topic_create(db_cluster_t *c, const char *topic, int partitions,
                            int replication_factor)
{
    return xlate(rd_kafka_mock_topic_create(c->mock, topic, partitions, replication_factor));
}

int db_cluster_broker_down(db_cluster_t *c, int32_t broker_id)
{
    if (!broker_ok(c, broker_id))
        return LS_ENOTFOUND;
    return xlate(rd_kafka_mock_broker_set_down(c->mock, broker_id));
}

int db_cluster_broker_up(db_cluster_t *c, int32_t broker_id)
{
    if (!broker_ok(c, broker_id))
        return LS_ENOTFOUND;
    return xlate(rd_kafka_mock_broker_set_up(c->mock, broker_id));
}

int db_cluster_broker_rtt(db_cluster_t *c, int32_t broker_id, int rtt_ms)
{
    if (!broker_ok(c, broker_id))
        return LS_ENOTFOUND;
    if (rtt_ms < 0)
        return LS_EINVAL;
    return xlate(rd_kafka_mock_broker_set_rtt(c->mock, broker_id, rtt_ms));
}

int db_cluster_push_errors(db_cluster_t *c, int32_t broker_id, int api_key,
                           size_t cnt, const int *codes, int rtt_ms)
{
    if (api_key < 0 || api_key > INT16_MAX || rtt_ms < 0)
        return LS_EINVAL;
    if (broker_id < 0) {
        rd_kafka_resp_err_t *errs = calloc(cnt ? cnt : 1, sizeof(*errs));
        if (!errs)
            return LS_ENOMEM;
        for (size_t i = 0; i < cnt; i++)
            errs[i] = (rd_kafka_resp_err_t)codes[i];
        rd_kafka_mock_push_request_errors_array(c->mock, (int16_t)api_key, cnt, errs);
        free(errs);
        return LS_OK;
    }
    if (broker_id < 1 || broker_id > c->broker_cnt)
        return LS_ENOTFOUND;
    /* The per-broker call is variadic (err, rtt) tuples: push one at a time;
     * the stack is FIFO, so order is kept. */
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_broker_push_request_error_rtts(
            c->mock, broker_id, (int16_t)api_key, 1, (rd_kafka_resp_err_t)codes[i], rtt_ms);
        if (err)
            return xlate(err);
    }
    return LS_OK;
}

void db_cluster_clear_errors(db_cluster_t *c, int api_key)
{
    if (api_key >= 0 && api_key <= INT16_MAX)
        rd_kafka_mock_clear_request_errors(c->mock, (int16_t)api_key);
}

int db_cluster_error_code(const char *name, int *code)
{
    const struct rd_kafka_err_desc *descs;
    size_t n;
    if (strncmp(name, "RD_KAFKA_RESP_ERR_", 18) == 0)
        name += 18;
    rd_kafka_get_err_descs(&descs, &n);
    for (size_t i = 0; i < n; i++) {
        if (descs[i].name && strcmp(descs[i].name, name) == 0) {
            *code = descs[i].code;
            return LS_OK;
        }
    }
    return LS_ENOTFOUND;
}

int db_cluster_error_known(int code)
{
    const struct rd_kafka_err_desc *descs;
    size_t n;
    rd_kafka_get_err_descs(&descs, &n);
    for (size_t i = 0; i < n; i++)
        if (descs[i].name && descs[i].code == code)
            return 1;
    return 0;
}

void db_cluster_poll(db_cluster_t *c, int timeout_ms)
{
    rd_kafka_poll(c->rk, timeout_ms);
}
