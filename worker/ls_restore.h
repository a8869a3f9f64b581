/*
 * ls_restore.h - rebuild one partition of the local LMDB cache from the
 * changelog topic, so a worker keeps no state of its own that the
 * changelog does not hold.
 *
 * The worker calls ls_restore_step() for a jobs partition the group
 * assigns to it, once per loop turn, while that partition is paused; it
 * resumes the partition only after the restore completed, so no job of the
 * partition runs against stale state, while the other partitions' jobs go
 * on between the steps.
 */
#ifndef LS_RESTORE_H
#define LS_RESTORE_H

#include <signal.h>
#include <stdint.h>
#include "ls_config.h"
#include "ls_kafka.h"
#include "ls_store.h"

typedef struct ls_restore_ctx {
    const ls_config_t *cfg;        /* borrowed */
    ls_store_t *store;             /* borrowed */
    ls_producer_t *producer;       /* borrowed: dead-letter copies */
    ls_reader_t *reader;           /* owned; created on first use (after fork) */
    struct ls_restore_run *run;    /* owned: the restore in progress (internal) */
    char topic_state[128];
    char topic_dlq[128];
    volatile sig_atomic_t *stop;
    /* totals of this process, logged at stop */
    uint64_t partitions, records, skipped, wipes;
} ls_restore_ctx_t;

/* What one restore did. */
typedef struct ls_restore_stats {
    int64_t from, to;      /* changelog offsets replayed: [from, to) */
    uint64_t puts, deletes, skipped;
    int wiped;             /* the partition was wiped first (reason logged) */
    int64_t ms;
} ls_restore_stats_t;

/**
 * Advance the restore of changelog partition `partition` by one bounded
 * slice (at most 500 records, about 20 ms of reading). The first call
 * starts it: watermarks, checkpoint, and whether to wipe. It replays from
 * the LMDB checkpoint to the high watermark taken at the start, each batch's
 * states and the checkpoint in one LMDB write. No checkpoint, a checkpoint
 * below the low watermark (confirmed by reading) or beyond the end, or one
 * older than worker.state_tombstone_retention_s (while records follow it)
 * first wipes the partition and restores it from the beginning. A record
 * that does not decode is skipped, logged with topic/partition/offset,
 * counted and copied to <prefix>.poll.dlq. A call for another partition
 * than the one in progress abandons that one first (ls_restore_abort).
 * @return 1 while more remains (call again); 0 when restored (*st filled);
 *         LS_ESTOP on shutdown, LS_EFULL (LMDB map full: message logged) or
 *         LS_ETRANSIENT / LS_EIO (logged; try again later). A failed
 *         restore keeps what it applied: the next attempt continues from
 *         the new checkpoint.
 */
int ls_restore_step(ls_restore_ctx_t *ctx, int partition, ls_restore_stats_t *st);

/** Abandon the restore in progress (its partition was revoked): records read but not written are dropped. */
void ls_restore_abort(ls_restore_ctx_t *ctx);

/** Abandon any restore and destroy the reader. */
void ls_restore_release(ls_restore_ctx_t *ctx);

/**
 * Parse a changelog key "<connection_id>/<activity_id>" (connection ids
 * contain no '/') into NUL-terminated copies in conn and act (each
 * LS_STR_MAX + 1 bytes). @return 0 or LS_EINVAL with why set.
 */
int ls_restore_parse_key(const char *key, size_t len, char *conn, char *act, char *why, size_t whysz);

#endif
