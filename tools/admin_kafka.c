/*
 * admin_kafka.c - librdkafka admin calls of lmsync-admin (admin_kafka.h).
 *
 * Every admin request runs on a temporary queue and is waited for here
 * (the tool does one thing at a time). Errors are mapped once, in map_err.
 */
#include "admin_kafka.h"
#include "ls_err.h"
#include "ls_log.h"

#include <librdkafka/rdkafka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct admin_kafka {
    rd_kafka_t *rk;
    int timeout_ms;
    admin_kv_t *configs;  /* last DescribeConfigs answer */
    size_t n_configs;
    char no_describe[384]; /* why DescribeConfigs cannot be answered: asked once, not per topic */
};

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    ls_log_level_t l = level <= 3 ? LS_LOG_ERROR : level == 4 ? LS_LOG_WARN : level <= 6 ? LS_LOG_INFO : LS_LOG_DEBUG;
    ls_log(l, "rdkafka %s: %s", fac, buf);
}

static int map_err(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return LS_OK;
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
        return ADMIN_EUNSUPPORTED;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
        return ADMIN_EEXISTS;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NOT_CONTROLLER:
        return LS_ETRANSIENT;
    default:
        return LS_EINVAL;
    }
}

admin_kafka_t *admin_kafka_new(const char *brokers, int timeout_ms, char *errstr, size_t errsz)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, errsz) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "client.id", "lmsync-admin", errstr, errsz) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    admin_kafka_t *k = calloc(1, sizeof(*k));
    if (!k) {
        snprintf(errstr, errsz, "out of memory");
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    k->timeout_ms = timeout_ms;
    if (!(k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errsz))) {
        rd_kafka_conf_destroy(conf);
        free(k);
        return NULL;
    }
    return k;
}

void admin_kafka_destroy(admin_kafka_t *k)
{
    if (!k)
        return;
    rd_kafka_destroy(k->rk);
    free(k->configs);
    free(k);
}

/* The topic in an all-topics metadata answer, or NULL. */
static const struct rd_kafka_metadata_topic *find_topic(const struct rd_kafka_metadata *md, const char *topic)
{
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0)
            return &md->topics[i];
    return NULL;
}

/* All topics, not the one topic: a metadata request naming a missing topic
 * makes brokers with auto.create.topics.enable (and the mock) create it. */
int admin_kafka_metadata(admin_kafka_t *k, const char *topic, admin_observed_t *got, char *err, size_t errsz)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 1, NULL, &md, k->timeout_ms);
    if (e) {
        snprintf(err, errsz, "metadata of topic '%s': %s (kafka.brokers)", topic, rd_kafka_err2str(e));
        return LS_ETRANSIENT;
    }
    const struct rd_kafka_metadata_topic *t = find_topic(md, topic);
    int rc = LS_OK;
    got->exists = t && !t->err && t->partition_cnt > 0;
    got->partitions = got->exists ? t->partition_cnt : 0;
    got->replication = got->exists ? t->partitions[0].replica_cnt : 0;
    if (t && t->err && t->err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        snprintf(err, errsz, "metadata of topic '%s': %s", topic, rd_kafka_err2str(t->err));
        rc = map_err(t->err) == LS_ETRANSIENT ? LS_ETRANSIENT : LS_EINVAL;
    }
    rd_kafka_metadata_destroy(md);
    return rc;
}

/* One admin request on a private queue (the tool does one thing at a time). */
typedef struct request {
    rd_kafka_queue_t *q;
    rd_kafka_AdminOptions_t *o;
} request_t;

static request_t request_begin(admin_kafka_t *k, rd_kafka_admin_op_t op)
{
    char e[128];
    request_t r = {rd_kafka_queue_new(k->rk), rd_kafka_AdminOptions_new(k->rk, op)};
    rd_kafka_AdminOptions_set_request_timeout(r.o, k->timeout_ms, e, sizeof(e));
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS)
        rd_kafka_AdminOptions_set_operation_timeout(r.o, k->timeout_ms, e, sizeof(e));
    return r;
}

/* Wait for the request's result event (*ev, destroy it; NULL on timeout) and map its request-level error. */
static int request_end(admin_kafka_t *k, request_t *r, const char *what, const char *topic,
                       rd_kafka_event_t **ev, char *err, size_t errsz)
{
    rd_kafka_AdminOptions_destroy(r->o);
    *ev = rd_kafka_queue_poll(r->q, k->timeout_ms + 1000);
    rd_kafka_queue_destroy(r->q);
    if (!*ev) {
        snprintf(err, errsz, "%s of topic '%s': no answer in time (kafka.brokers)", what, topic);
        return LS_ETRANSIENT;
    }
    rd_kafka_resp_err_t e = rd_kafka_event_error(*ev);
    if (!e)
        return LS_OK;
    snprintf(err, errsz, "%s of topic '%s': %s", what, topic, rd_kafka_event_error_string(*ev));
    return map_err(e);
}

/* The error of the single item a result holds (n results; why may be NULL). */
static int item_error(size_t n, rd_kafka_resp_err_t e, const char *why, const char *what, const char *topic,
                      char *err, size_t errsz)
{
    if (n != 1) {
        snprintf(err, errsz, "%s of topic '%s': %zu results for one request", what, topic, n);
        return LS_EINVAL;
    }
    if (!e)
        return LS_OK;
    snprintf(err, errsz, "%s of topic '%s': %s", what, topic, why ? why : rd_kafka_err2str(e));
    return map_err(e);
}

static int keep_configs(admin_kafka_t *k, const rd_kafka_ConfigResource_t *res, admin_observed_t *got)
{
    size_t n = 0;
    const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(res, &n);
    admin_kv_t *kv = n ? calloc(n, sizeof(*kv)) : NULL;
    if (n && !kv)
        return LS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *v = rd_kafka_ConfigEntry_value(entries[i]);
        snprintf(kv[i].name, sizeof(kv[i].name), "%s", rd_kafka_ConfigEntry_name(entries[i]));
        snprintf(kv[i].value, sizeof(kv[i].value), "%s", v ? v : "");
    }
    free(k->configs);
    k->configs = kv;
    k->n_configs = n;
    got->configs = kv;
    got->n_configs = n;
    got->configs_known = 1;
    return LS_OK;
}

/*
 * A request-level timeout of DescribeConfigs is "not verifiable", not a
 * difference: librdkafka 2.0 sends it to the controller, and a cluster that
 * names none (the mock cluster) leaves it waiting until the timeout.
 */
static int remember_unanswered(admin_kafka_t *k, int rc, const char *err)
{
    if (rc != ADMIN_EUNSUPPORTED && rc != LS_ETRANSIENT)
        return rc;
    const char *why = strstr(err, "': ");
    snprintf(k->no_describe, sizeof(k->no_describe), "the cluster did not answer DescribeConfigs: %s",
             why ? why + 3 : err);
    return ADMIN_EUNSUPPORTED;
}

int admin_kafka_configs(admin_kafka_t *k, const char *topic, admin_observed_t *got, char *err, size_t errsz)
{
    if (k->no_describe[0]) {
        snprintf(err, errsz, "%s", k->no_describe);
        return ADMIN_EUNSUPPORTED;
    }
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    request_t r = request_begin(k, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_DescribeConfigs(k->rk, &res, 1, r.o, r.q);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_event_t *ev = NULL;
    int rc = request_end(k, &r, "DescribeConfigs", topic, &ev, err, errsz);
    if (rc != LS_OK && (rc = remember_unanswered(k, rc, err)) == ADMIN_EUNSUPPORTED)
        snprintf(err, errsz, "%s", k->no_describe);
    if (rc == LS_OK) {
        size_t n = 0;
        const rd_kafka_ConfigResource_t **rs =
            rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
        rc = item_error(n, n == 1 ? rd_kafka_ConfigResource_error(rs[0]) : 0,
                        n == 1 ? rd_kafka_ConfigResource_error_string(rs[0]) : NULL, "DescribeConfigs", topic, err, errsz);
        if (rc == LS_OK)
            rc = keep_configs(k, rs[0], got);
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    return rc;
}

static rd_kafka_NewTopic_t *new_topic(const admin_topic_t *t, char *err, size_t errsz)
{
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(t->name, t->partitions > 0 ? t->partitions : ADMIN_DEFAULT_PARTITIONS,
                                                    t->replication > 0 ? t->replication : -1, err, errsz);
    for (size_t i = 0; nt && i < t->n_configs; i++)
        if (rd_kafka_NewTopic_set_config(nt, t->configs[i].name, t->configs[i].value)) {
            snprintf(err, errsz, "topic '%s': config %s=%s refused by the client", t->name,
                     t->configs[i].name, t->configs[i].value);
            rd_kafka_NewTopic_destroy(nt);
            return NULL;
        }
    return nt;
}

int admin_kafka_create(admin_kafka_t *k, const admin_topic_t *t, char *err, size_t errsz)
{
    rd_kafka_NewTopic_t *nt = new_topic(t, err, errsz);
    if (!nt)
        return LS_EINVAL;
    request_t r = request_begin(k, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_CreateTopics(k->rk, &nt, 1, r.o, r.q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_event_t *ev = NULL;
    int rc = request_end(k, &r, "CreateTopics", t->name, &ev, err, errsz);
    if (rc == LS_OK) {
        size_t n = 0;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rc = item_error(n, n == 1 ? rd_kafka_topic_result_error(tr[0]) : 0,
                        n == 1 ? rd_kafka_topic_result_error_string(tr[0]) : NULL, "CreateTopics", t->name, err, errsz);
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    return rc;
}
