/*
 * admin_run.h - the commands of lmsync-admin (see docs/operations.md).
 *
 * Exit codes: ADMIN_EXIT_OK (0) everything verified; ADMIN_EXIT_DIFF (1) a
 * difference, a missing topic or a failure; ADMIN_EXIT_USAGE (2) bad command
 * line or configuration; ADMIN_EXIT_UNVERIFIED (3) nothing wrong was found
 * but something could not be verified because the broker lacks an admin
 * call (the devbroker: CreateTopics, DescribeConfigs).
 */
#ifndef ADMIN_RUN_H
#define ADMIN_RUN_H

#include <stdio.h>

#include "ls_config.h"
#include "ls_kafka.h"

enum { ADMIN_EXIT_OK = 0, ADMIN_EXIT_DIFF = 1, ADMIN_EXIT_USAGE = 2, ADMIN_EXIT_UNVERIFIED = 3 };

typedef struct admin_opts {
    int partitions;   /* --partitions, 0 = not given */
    int replication;  /* --replication, 0 = not given */
    int json;         /* status --json */
    int timeout_ms;   /* per cluster request (--timeout seconds) */
    int wait_s;       /* resync --wait: seconds to wait for the jobs' status records, 0 = do not wait */
} admin_opts_t;

/** A record read by admin_read_topic (borrowed for the call). */
typedef void (*admin_rec_cb_t)(const ls_kmsg_t *m, void *ud);

/** Partitions of topic, or -1 (message on stderr) when it is missing or the cluster does not answer. */
int admin_partition_count(const ls_config_t *cfg, const char *topic, const admin_opts_t *o);

/**
 * Every record of every partition of topic, from the beginning up to the
 * high watermarks seen now, handed to cb (a reader that joins no group).
 * @return 0; LS_ENOTFOUND when the topic is missing; another LS_E* on a
 *         read failure (messages on stderr).
 */
int admin_read_topic(const ls_config_t *cfg, const char *topic, const admin_opts_t *o, admin_rec_cb_t cb, void *ud);

/** `topics create`: create what is missing, then check everything. Reports on out. */
int admin_run_topics_create(const ls_config_t *cfg, const admin_opts_t *o, FILE *out);

/** `topics check`: describe every topic and print each difference with its fix. */
int admin_run_topics_check(const ls_config_t *cfg, const admin_opts_t *o, FILE *out);

/** `status`: read <prefix>.sync.status from the beginning, print per scope. */
int admin_run_status(const ls_config_t *cfg, const admin_opts_t *o, FILE *out);

/** `catalog CONNECTION`: the cached course and content names of one connection (worker.lmdb_path), JSON lines. */
int admin_run_catalog(const ls_config_t *cfg, const char *connection_id, FILE *out);
/**
 * `resync CONNECTION [--wait S]`: check that the coordinator's schedule
 * topic knows the connection (else ADMIN_EXIT_DIFF with a message naming
 * it), write a resync request to <prefix>.control, and with --wait print
 * the outcome of the status record of every resync job of the request
 * (ADMIN_EXIT_DIFF when one failed or none came in time).
 */
int admin_run_resync(const ls_config_t *cfg, const admin_opts_t *o, const char *connection, FILE *out);

#endif
