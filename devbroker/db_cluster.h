/*
 * db_cluster.h - the mock Kafka cluster behind lmsync-devbroker.
 *
 * Owns one rd_kafka_t (a producer that is never used to produce; it only hosts
 * librdkafka's mock cluster threads) and the rd_kafka_mock_cluster_t on it.
 * librdkafka types and error codes stay inside db_cluster.c: callers see
 * LS_E* values and plain integers.
 *
 * Thread safety: every function but db_cluster_new/_destroy may be called
 * from any thread (the control API calls them from libmicrohttpd's thread);
 * librdkafka's mock API serialises them onto the mock cluster's own thread.
 */
#ifndef DB_CLUSTER_H
#define DB_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

typedef struct db_cluster db_cluster_t;

/**
 * Start a mock cluster with brokers 1..broker_cnt listening on 127.0.0.1
 * ephemeral ports (librdkafka 2.0.2 offers no way to choose them).
 * librdkafka's own log lines go to ls_log.
 * @return a new cluster (free with db_cluster_destroy), or NULL with a
 *         reason in errstr.
 */
db_cluster_t *db_cluster_new(int broker_cnt, char *errstr, size_t errsz);

/** Stop the brokers, drop all data, free everything. NULL is a no-op. */
void db_cluster_destroy(db_cluster_t *c);

/** "127.0.0.1:p1,127.0.0.1:p2,..."; borrowed, valid until db_cluster_destroy. */
const char *db_cluster_bootstraps(const db_cluster_t *c);

/** Number of brokers (ids are 1..count). */
int db_cluster_broker_count(const db_cluster_t *c);

/**
 * Create topic with partitions partitions and the given replication factor.
 * @return 0, LS_EINVAL (bad arguments or topic exists), or LS_EIO.
 */
int db_cluster_topic_create(db_cluster_t *c, const char *topic, int partitions,
                            int replication_factor);

/** Broker id -1 means every broker. @return 0, LS_ENOTFOUND (no such broker), LS_EIO. */
int db_cluster_broker_down(db_cluster_t *c, int32_t broker_id);
int db_cluster_broker_up(db_cluster_t *c, int32_t broker_id);
int db_cluster_broker_rtt(db_cluster_t *c, int32_t broker_id, int rtt_ms);

/**
 * Make the next cnt requests of type api_key fail with codes[0], codes[1], ...
 * broker_id < 0: cluster-wide stack, rtt_ms ignored;
 * broker_id >= 1: that broker's stack, each response delayed by rtt_ms.
 * Codes are Kafka protocol error codes or librdkafka internal ones
 * (e.g. -195 _TRANSPORT makes the broker drop the connection).
 * @return 0, LS_ENOTFOUND (no such broker), LS_EINVAL.
 */
int db_cluster_push_errors(db_cluster_t *c, int32_t broker_id, int api_key,
                           size_t cnt, const int *codes, int rtt_ms);

/** Forget the cluster-wide pending errors for api_key. */
void db_cluster_clear_errors(db_cluster_t *c, int api_key);

/**
 * Translate an error name ("NOT_LEADER_FOR_PARTITION", optionally prefixed
 * "RD_KAFKA_RESP_ERR_"; internal ones start with '_') into its code.
 * @return 0 and *code, or LS_ENOTFOUND.
 */
int db_cluster_error_code(const char *name, int *code);

/** True when code is a known Kafka or librdkafka error code. */
int db_cluster_error_known(int code);

/** Serve librdkafka callbacks for up to timeout_ms. */
void db_cluster_poll(db_cluster_t *c, int timeout_ms);

#endif
