/*
 * tail_consumer.h - a group-less reader of every partition of one topic.
 *
 * Wraps librdkafka so the rest of lmsync-tail sees tail_msg_t and LS_E*
 * values only. Partitions are assigned directly (no subscribe, no rebalance,
 * no commits); librdkafka still needs a group.id for assign(), so a unique,
 * never-joined one is used.
 */
#ifndef TAIL_CONSUMER_H
#define TAIL_CONSUMER_H

#include <signal.h>
#include <stddef.h>

#include "tail_fmt.h"

typedef struct tail_consumer tail_consumer_t;

/**
 * Create the client (librdkafka logs go to ls_log). No network I/O yet.
 * brokers and topic are copied.
 * @return new consumer (free with tail_consumer_destroy) or NULL with errstr.
 */
tail_consumer_t *tail_consumer_new(const char *brokers, const char *topic,
                                   char *errstr, size_t errsz);

/**
 * Look up the topic's partitions and assign all of them at the beginning or
 * the end. A missing topic is retried every 500 ms until it appears, wait_ms
 * passes (-1: no limit) or *stop becomes non-zero.
 * @return 0; LS_ENOTFOUND (topic still missing); LS_ESTOP; LS_ETRANSIENT
 *         (metadata failed).
 */
int tail_consumer_assign(tail_consumer_t *c, int from_end, long wait_ms,
                         volatile sig_atomic_t *stop);

/**
 * Wait up to timeout_ms for the next message.
 * @return 1 and *msg filled (its pointers valid until the next call or
 *         destroy), 0 when none arrived (a partition EOF also returns 0), or
 *         LS_EIO on a fatal client error.
 */
int tail_consumer_poll(tail_consumer_t *c, int timeout_ms, tail_msg_t *msg);

/** True once every assigned partition has reported EOF and had nothing newer since. */
int tail_consumer_at_end(const tail_consumer_t *c);

/** Close the consumer (no commits) and free. NULL is a no-op. */
void tail_consumer_destroy(tail_consumer_t *c);

#endif
