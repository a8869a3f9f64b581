/*
 * ls_kafka.h - the Kafka clients lmsync needs, over librdkafka.
 *
 * A producer that is idempotent (enable.idempotence, acks=all) and tracks
 * delivery per batch, so a caller can "produce these events, then wait until
 * every one of them is acknowledged" before it writes local state
 * (docs/design.md, Ordering); and a group consumer with manual offset
 * commits. Both are created after fork, never before. librdkafka's own log
 * lines are routed to ls_log; rd_kafka_resp_err_t never leaves this module.
 */
#ifndef LS_KAFKA_H
#define LS_KAFKA_H

#include <stddef.h>
#include <stdint.h>

/* What this adapter needs of the configuration; ls_config_kafka() fills it. */
typedef struct ls_kafka_conf {
    const char *brokers;     /* kafka.brokers: bootstrap.servers */
    const char *compression; /* kafka.compression: none, gzip (default when NULL/""), snappy, lz4, zstd */
    int session_timeout_ms;  /* group consumers' session.timeout.ms (0 = 10000) */
} ls_kafka_conf_t;

typedef struct ls_producer ls_producer_t;
typedef struct ls_consumer ls_consumer_t;

typedef struct ls_kafka_header {
    const char *name;
    const char *value;   /* NUL-terminated */
} ls_kafka_header_t;

/*
 * When a message given to ls_producer_send() is produced.
 *
 * LS_SEND_NOW: at once (change events, status records, dead-letter copies).
 * LS_SEND_AFTER_EVENTS: held back in its batch and produced only after every
 *   LS_SEND_NOW message of the same batch was acknowledged. The worker sends
 *   what is derived from the events this way (the `current` records and the
 *   progress rollups): a consumer never sees a state whose change event could
 *   still be lost.
 * LS_SEND_AFTER_ACKS: held back and produced only after every LS_SEND_NOW and
 *   LS_SEND_AFTER_EVENTS message of the batch was acknowledged. The worker
 *   sends its changelog records this way, so a changelog record on Kafka
 *   always means the change events and the derived records of its batch were
 *   delivered: restoring LMDB from the changelog can never hide a change whose
 *   event, current record or rollup was lost in a crash (docs/design.md,
 *   Ordering). Their offsets feed batch->after_acks_next_offset (the LMDB
 *   checkpoint).
 * Held messages need a batch. If a message of an earlier stage failed, the
 * held ones are dropped and counted as failed.
 */
typedef enum ls_send {
    LS_SEND_NOW = 0,
    LS_SEND_AFTER_EVENTS = 1,
    LS_SEND_AFTER_ACKS = 2
} ls_send_t;

/* Delivery tracking for a group of produced messages (embed; ls_batch_init). */
typedef struct ls_batch {
    int pending;          /* produced (or held back), delivery report not yet seen */
    int delivered;
    int failed;
    int64_t after_acks_next_offset; /* 1 + highest offset of LS_SEND_AFTER_ACKS messages delivered, or -1 */
    char err[256];        /* first delivery failure */
    void *held;           /* held-back messages not produced yet, in send order (internal) */
    size_t n_held, cap_held;
} ls_batch_t;

void ls_batch_init(ls_batch_t *b);

/**
 * Create the producer and check that a broker answers within timeout_ms.
 * @return NULL with a precise message naming 'kafka.brokers' on failure.
 */
ls_producer_t *ls_producer_new(const ls_kafka_conf_t *kc, int timeout_ms, char *errstr, size_t errstr_size);

/** Flush (up to 10 s) and destroy. NULL accepted. */
void ls_producer_destroy(ls_producer_t *p);

/** Flush for at most flush_ms (messages still queued then are dropped, with a warning) and destroy. NULL accepted. */
void ls_producer_close(ls_producer_t *p, int flush_ms);

/**
 * Produce one message (payload, key and headers are copied). partition -1
 * lets the key choose. value NULL = tombstone. batch (may be NULL for
 * LS_SEND_NOW) counts the delivery; `when` says whether it is produced now
 * or held until the batch's earlier stages are acknowledged (see ls_send_t). Waits (serving delivery reports) while the local queue is full.
 * @return 0, or LS_EINVAL (unknown topic/partition, too large, AFTER_ACKS
 *         held without a batch) / LS_ETRANSIENT; LS_ENOMEM holding a message.
 */
int ls_producer_send(ls_producer_t *p, const char *topic, int partition,
                     const void *key, size_t key_len, const void *value, size_t len,
                     const ls_kafka_header_t *headers, size_t n_headers,
                     ls_batch_t *batch, ls_send_t when);

/**
 * Serve delivery reports until batch has none pending or timeout_ms passes:
 * stage by stage: the LS_SEND_NOW messages, then (only if all of them were
 * delivered) the LS_SEND_AFTER_EVENTS ones, then the LS_SEND_AFTER_ACKS ones.
 * Blocks: the worker's event loop uses ls_producer_poll_batch instead.
 * Always call it for a batch that was given to ls_producer_send().
 * @return 0 when every message was delivered; LS_ETRANSIENT with err set
 *         when one failed or the wait timed out.
 */
int ls_producer_wait(ls_producer_t *p, ls_batch_t *batch, int timeout_ms, char *err, size_t errsz);

/**
 * ls_producer_wait() without waiting: serve delivery reports that are ready,
 * produce the batch's held-back messages once the others were delivered.
 * @return 1 while messages of the batch are pending; 0 when every message
 *         was delivered; LS_ETRANSIENT with err set when one failed. The
 *         batch must stay alive (same address) while it returns 1.
 */
int ls_producer_poll_batch(ls_producer_t *p, ls_batch_t *batch, char *err, size_t errsz);

/** Serve ready delivery reports of every batch without waiting (and drain the event fd). */
void ls_producer_poll(ls_producer_t *p);

/**
 * A file descriptor that becomes readable when delivery reports are ready
 * (an event loop waits on it next to its sockets, then calls
 * ls_producer_poll). Owned by the producer; -1 on failure.
 */
int ls_producer_event_fd(ls_producer_t *p);

/** Number of partitions of topic (metadata), or a negative LS_E*. */
int ls_producer_partition_count(ls_producer_t *p, const char *topic, int timeout_ms);

/* A consumed message: every pointer is borrowed until ls_kmsg_release. */
typedef struct ls_kmsg {
    const char *topic;
    int partition;
    int64_t offset;
    const char *key;
    size_t key_len;
    const char *value;
    size_t len;
    void *impl;
} ls_kmsg_t;

/**
 * Group consumer on topic with manual commits and auto.offset.reset=earliest.
 * @return NULL with a precise message on failure.
 */
ls_consumer_t *ls_consumer_new(const ls_kafka_conf_t *kc, const char *group_id, const char *topic,
                               char *errstr, size_t errstr_size);

/** Leave the group and destroy. NULL accepted. */
void ls_consumer_destroy(ls_consumer_t *c);

/**
 * Wait up to timeout_ms for a message.
 * @return 0 with *m filled, LS_ENOTFOUND when none arrived (timeout, EOF,
 *         rebalance), LS_ETRANSIENT on a consumer error (logged).
 */
int ls_consumer_poll(ls_consumer_t *c, int timeout_ms, ls_kmsg_t *m);

/** Value of header name on m, or NULL (borrowed like m). */
const char *ls_kmsg_header(const ls_kmsg_t *m, const char *name, size_t *len);

void ls_kmsg_release(ls_kmsg_t *m);

/** Synchronously commit next_offset for topic/partition. */
int ls_consumer_commit(ls_consumer_t *c, const char *topic, int partition, int64_t next_offset,
                       char *err, size_t errsz);

/* ---- group rebalances (worker) ---- */

typedef enum { LS_REBALANCE_ASSIGN = 1, LS_REBALANCE_REVOKE = 2 } ls_rebalance_t;

/**
 * Called from inside ls_consumer_poll() when the group assigns or revokes
 * partitions of the subscribed topic (plain partition numbers; the array is
 * borrowed for the call). lost = 1 when a revoke is involuntary (the member
 * was dropped from the group: its commits will fail). On ASSIGN the
 * partitions are already assigned *and paused*: nothing of them is
 * delivered until ls_consumer_resume().
 */
typedef void (*ls_rebalance_cb_t)(ls_rebalance_t what, const int *partitions, size_t n, int lost, void *ud);

/**
 * ls_consumer_new() plus a rebalance callback. The group uses the eager
 * protocol (partition.assignment.strategy=range,roundrobin): see
 * docs/architecture.md for why not cooperative-sticky on librdkafka 2.0.x.
 */
ls_consumer_t *ls_consumer_new_rebalance(const ls_kafka_conf_t *kc, const char *group_id, const char *topic,
                                         ls_rebalance_cb_t cb, void *ud, char *errstr, size_t errstr_size);

/**
 * Messages not yet consumed in one assigned partition: the high watermark
 * last seen in a fetch minus the consumer's position. Never a network call.
 * @return 0, or LS_ENOTFOUND before the first fetch of that partition.
 */
int ls_consumer_lag(ls_consumer_t *c, int partition, int64_t *lag);

/** 0 when the last statistics (every 5 s) saw no broker UP; 1 otherwise (also before the first). */
int ls_consumer_reachable(const ls_consumer_t *c);

/** 1 when the group took this member's assignment away (session expired) and no new one came yet. */
int ls_consumer_assignment_lost(ls_consumer_t *c);

/** Resume delivery of one paused partition of the subscribed topic. */
int ls_consumer_resume(ls_consumer_t *c, int partition);

/* ---- plain partition reader (no group: restore of the changelog) ---- */

typedef struct ls_reader ls_reader_t;

/** A reader that assigns partitions itself and never joins a group or commits. */
ls_reader_t *ls_reader_new(const ls_kafka_conf_t *kc, char *errstr, size_t errstr_size);
void ls_reader_destroy(ls_reader_t *r);

/** Low and high watermark (next offset) of topic/partition from its leader. */
int ls_reader_watermarks(ls_reader_t *r, const char *topic, int partition, int64_t *low, int64_t *high,
                         int timeout_ms, char *err, size_t errsz);

/** Number of partitions of topic (metadata), or a negative LS_E* (LS_ENOTFOUND: no such topic). */
int ls_reader_partition_count(ls_reader_t *r, const char *topic, int timeout_ms);

#define LS_OFFSET_BEGINNING (-2) /* for ls_reader_start: the first offset still in the log (librdkafka's value) */

/** Read topic/partition from offset (replaces any previous assignment). */
int ls_reader_start(ls_reader_t *r, const char *topic, int partition, int64_t offset);

/**
 * Wait up to timeout_ms for the next record (m as for ls_consumer_poll; a
 * tombstone has value NULL). @return 0 with *m; LS_ENOTFOUND when none came,
 * with *eof_offset = the partition's end offset if the end was reached
 * (else -1); LS_ETRANSIENT on a consumer error (logged, err set).
 */
int ls_reader_poll(ls_reader_t *r, int timeout_ms, ls_kmsg_t *m, int64_t *eof_offset, char *err, size_t errsz);

/** Stop reading (unassign). */
void ls_reader_stop(ls_reader_t *r);

#endif
