/*
 * admin_kafka.h - the cluster calls of lmsync-admin, over librdkafka's admin
 * API: topic metadata, DescribeConfigs, CreateTopics.
 *
 * rd_kafka_resp_err_t never leaves this module. A broker that does not
 * implement an admin call (librdkafka's mock cluster, the devbroker, lacks
 * CreateTopics and DescribeConfigs) is reported as ADMIN_EUNSUPPORTED, so the
 * caller can say "not verifiable" instead of passing silently.
 */
#ifndef ADMIN_KAFKA_H
#define ADMIN_KAFKA_H

#include <stddef.h>

#include "admin_topics.h"

/* The broker does not implement the admin call (beside the LS_E* values). */
#define ADMIN_EUNSUPPORTED (-100)
/* The topic exists already (CreateTopics). */
#define ADMIN_EEXISTS (-101)

typedef struct admin_kafka admin_kafka_t;

/** Client for brokers (copied); NULL with errstr on failure. No network I/O yet. */
admin_kafka_t *admin_kafka_new(const char *brokers, int timeout_ms, char *errstr, size_t errsz);
void admin_kafka_destroy(admin_kafka_t *k);

/**
 * Fill exists, partitions and replication of *got from the topic's metadata
 * (configs untouched). @return 0 (also for a missing topic: exists = 0);
 * LS_ETRANSIENT with err when the cluster did not answer.
 */
int admin_kafka_metadata(admin_kafka_t *k, const char *topic, admin_observed_t *got, char *err, size_t errsz);

/**
 * DescribeConfigs of the topic into got->configs (owned by k, valid until the
 * next call or destroy), configs_known = 1. @return 0; ADMIN_EUNSUPPORTED
 * with the reason in err (configs_known stays 0) when the broker lacks the
 * call or no broker answered it in time (then later calls return the same
 * at once); LS_EINVAL with err when the broker refused it for this topic.
 */
int admin_kafka_configs(admin_kafka_t *k, const char *topic, admin_observed_t *got, char *err, size_t errsz);

/**
 * CreateTopics for t (partitions 0 = ADMIN_DEFAULT_PARTITIONS, replication
 * 0 = the broker's default) with t's configs. @return 0 when created;
 * ADMIN_EEXISTS when the topic exists already; ADMIN_EUNSUPPORTED;
 * LS_EINVAL (refused: bad config, too many replicas) / LS_ETRANSIENT with err.
 */
int admin_kafka_create(admin_kafka_t *k, const admin_topic_t *t, char *err, size_t errsz);

#endif
