/*
 * admin_topics.h - the topics lmsync needs, with their configs, and the
 * comparison of a topic as a broker describes it with what it must be.
 *
 * One table (admin_topics.c, rows[]) holds every topic's suffix, partition
 * rule, cleanup policy and retention; `lmsync-admin topics create` creates
 * from it, `topics check` compares with it, docs/operations.md documents it.
 * Pure code: no Kafka client here, so the unit tests cover the diff.
 */
#ifndef ADMIN_TOPICS_H
#define ADMIN_TOPICS_H

#include <stddef.h>

#include "ls_config.h"

#define ADMIN_N_TOPICS 12
#define ADMIN_MAX_CONFIGS 4
#define ADMIN_MAX_DIFFS 16
#define ADMIN_DEFAULT_PARTITIONS 24 /* topics create without --partitions */

typedef struct admin_kv {
    char name[64];
    char value[128];
} admin_kv_t;

/* What one topic must be. */
typedef struct admin_topic {
    char name[192];                    /* "<prefix>.<suffix>" */
    const char *suffix;                /* static: "activity.state" */
    int partitions;                    /* for create; 0 = not checked */
    int any_partitions;                /* 1: any count will do (not checked); created with one */
    int replication;                   /* for create; 0 = not checked (broker default on create) */
    size_t n_configs;
    admin_kv_t configs[ADMIN_MAX_CONFIGS];
} admin_topic_t;

/* A topic as the cluster describes it. */
typedef struct admin_observed {
    int exists;
    int partitions;
    int replication;                   /* replicas of partition 0 */
    int configs_known;                 /* 0: the broker cannot describe configs (nothing compared) */
    size_t n_configs;
    admin_kv_t *configs;               /* borrowed; every config the broker reported */
} admin_observed_t;

/* Differences found for one topic, each a complete line with its fix. */
typedef struct admin_diff {
    size_t n;
    char lines[ADMIN_MAX_DIFFS][768];
} admin_diff_t;

/**
 * The plan: every topic of cfg's prefix. partitions / replication: what
 * `--partitions` / `--replication` asked for (0 = not given: create uses
 * ADMIN_DEFAULT_PARTITIONS and the broker's default replication; check does not
 * compare counts, except that the state topic must have as many partitions
 * as the jobs topic). out[ADMIN_N_TOPICS] in fixed order: jobs, changes,
 * state, status, dlq, xapi dlq, coordinator schedule, coordinator leader,
 * current, control, enrollment rollups, course rollups.
 */
void admin_topics_plan(const ls_config_t *cfg, int partitions, int replication,
                       admin_topic_t out[ADMIN_N_TOPICS]);

/** Index of the plan row with this suffix, or -1. */
int admin_topics_index(const char *suffix);

/**
 * Compare got with want; every difference is appended to *d as
 * "<topic>: <what> is X, must be Y (<command that fixes it>)".
 * jobs_partitions > 0: the partition count the state topic must equal.
 * @return the number of differences added.
 */
size_t admin_topic_diff(const admin_topic_t *want, const admin_observed_t *got,
                        int jobs_partitions, admin_diff_t *d);

#endif
