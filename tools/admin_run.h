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

enum { ADMIN_EXIT_OK = 0, ADMIN_EXIT_DIFF = 1, ADMIN_EXIT_USAGE = 2, ADMIN_EXIT_UNVERIFIED = 3 };

typedef struct admin_opts {
    int partitions;   /* --partitions, 0 = not given */
    int replication;  /* --replication, 0 = not given */
    int json;         /* status --json */
    int timeout_ms;   /* per cluster request (--timeout seconds) */
} admin_opts_t;

/** `topics create`: create what is missing, then check everything. Reports on out. */
int admin_run_topics_create(const ls_config_t *cfg, const admin_opts_t *o, FILE *out);

/** `topics check`: describe every topic and print each difference with its fix. */
int admin_run_topics_check(const ls_config_t *cfg, const admin_opts_t *o, FILE *out);

/** `status`: read <prefix>.sync.status from the beginning, print per scope. */
int admin_run_status(const ls_config_t *cfg, const admin_opts_t *o, FILE *out);

/** `catalog CONNECTION`: the cached course and content names of one connection (worker.lmdb_path), JSON lines. */
int admin_run_catalog(const ls_config_t *cfg, const char *connection_id, FILE *out);

#endif
