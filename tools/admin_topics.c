/*
 * admin_topics.c - topic plan and config diff (see admin_topics.h).
 *
 * Retentions: jobs are useless after the coordinator re-enqueues them
 * (coordinator.job_timeout_s, 15 min by default), so 6 h is plenty; change
 * events and status history keep 7 days for consumers and `lmsync-admin
 * status`; dead letters keep 30 days for a person to look at them. The
 * state changelog is compacted, and its delete.retention.ms must be the
 * worker.state_tombstone_retention_s the workers assume when they decide
 * whether a checkpoint is too old to resume from. The current topic and the
 * rollup topics are compacted the same way: a consumer that reads one from
 * the beginning within delete.retention.ms of a removal still sees the
 * tombstone. The coordinators' schedule is compacted too (a scope's latest
 * record; read whole at start, so any partition count will do); the leader
 * election topic needs its partition 0 only and never holds a record. The
 * control topic has one partition: only the coordinator leader reads it.
 */
#include "admin_topics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    PARTS_ALL, /* --partitions (the jobs topic's count) */
    PARTS_ONE, /* exactly one: the DLQs (order does not matter, volume is tiny); the leader election (partition 0) */
    PARTS_ANY, /* read whole, any count will do: created with one */
} parts_t;

static const struct row {
    const char *suffix;
    parts_t parts;
    const char *policy;
    const char *retention_ms; /* delete policy: retention.ms; compact: delete.retention.ms (NULL = the state's) */
} rows[ADMIN_N_TOPICS] = {
    {"poll.jobs", PARTS_ALL, "delete", "21600000"},          /* 6 h */
    {"activity.changes", PARTS_ALL, "delete", "604800000"},  /* 7 days */
    {"activity.state", PARTS_ALL, "compact", NULL},
    {"sync.status", PARTS_ALL, "delete", "604800000"},       /* 7 days */
    {"poll.dlq", PARTS_ONE, "delete", "2592000000"},         /* 30 days */
    {"xapi.dlq", PARTS_ONE, "delete", "2592000000"},         /* 30 days, as poll.dlq */
    {"coordinator.schedule", PARTS_ANY, "compact", "86400000"}, /* a tombstone stays a day */
    {"coordinator.leader", PARTS_ONE, "delete", "3600000"},  /* nothing is written to it */
    {"activity.current", PARTS_ALL, "compact", NULL},
    {"control", PARTS_ONE, "delete", "604800000"},           /* 7 days: resync requests, read by the coordinator leader */
    {"progress.enrollments", PARTS_ALL, "compact", NULL},    /* latest rollup per enrollment */
    {"progress.courses", PARTS_ALL, "compact", NULL},        /* latest rollup per course */
};

/* Records of the state changelog younger than this are never compacted. */
#define STATE_MIN_COMPACTION_LAG_MS "3600000"

static void add_config(admin_topic_t *t, const char *name, const char *value)
{
    admin_kv_t *kv = &t->configs[t->n_configs++];
    snprintf(kv->name, sizeof(kv->name), "%s", name);
    snprintf(kv->value, sizeof(kv->value), "%s", value);
}

void admin_topics_plan(const ls_config_t *cfg, int partitions, int replication,
                       admin_topic_t out[ADMIN_N_TOPICS])
{
    for (size_t i = 0; i < ADMIN_N_TOPICS; i++) {
        const struct row *r = &rows[i];
        admin_topic_t *t = &out[i];
        memset(t, 0, sizeof(*t));
        ls_config_topic(cfg, r->suffix, t->name, sizeof(t->name));
        t->suffix = r->suffix;
        t->partitions = r->parts == PARTS_ALL ? partitions : 1;
        t->any_partitions = r->parts == PARTS_ANY;
        t->replication = replication;
        add_config(t, "cleanup.policy", r->policy);
        if (strcmp(r->policy, "delete") == 0 || r->retention_ms) {
            add_config(t, strcmp(r->policy, "delete") == 0 ? "retention.ms" : "delete.retention.ms", r->retention_ms);
            continue;
        }
        char ms[32];
        snprintf(ms, sizeof(ms), "%lld", (long long)cfg->state_retention_s * 1000);
        add_config(t, "delete.retention.ms", ms);
        add_config(t, "min.compaction.lag.ms", STATE_MIN_COMPACTION_LAG_MS);
    }
}

int admin_topics_index(const char *suffix)
{
    for (int i = 0; i < ADMIN_N_TOPICS; i++)
        if (strcmp(rows[i].suffix, suffix) == 0)
            return i;
    return -1;
}

static void add_line(admin_diff_t *d, const char *topic, const char *what)
{
    if (d->n >= ADMIN_MAX_DIFFS)
        return;
    snprintf(d->lines[d->n++], sizeof(d->lines[0]), "%s: %s", topic, what);
}

static const char *observed_value(const admin_observed_t *got, const char *name)
{
    for (size_t i = 0; i < got->n_configs; i++)
        if (strcmp(got->configs[i].name, name) == 0)
            return got->configs[i].value;
    return NULL;
}

static size_t diff_configs(const admin_topic_t *want, const admin_observed_t *got, admin_diff_t *d)
{
    size_t n = 0;
    char line[448];
    for (size_t i = 0; i < want->n_configs; i++) {
        const admin_kv_t *kv = &want->configs[i];
        const char *v = observed_value(got, kv->name);
        if (v && strcmp(v, kv->value) == 0)
            continue;
        snprintf(line, sizeof(line),
                 "%s is %s, must be %s (kafka-configs --alter --entity-type topics --entity-name %s "
                 "--add-config %s=%s)",
                 kv->name, v ? v : "not set", kv->value, want->name, kv->name, kv->value);
        add_line(d, want->name, line);
        n++;
    }
    return n;
}

static size_t diff_partitions(const admin_topic_t *want, const admin_observed_t *got,
                              int must, const char *why, admin_diff_t *d)
{
    if (must <= 0 || got->partitions == must)
        return 0;
    char line[448];
    if (got->partitions < must)
        snprintf(line, sizeof(line), "partitions is %d, must be %d%s (kafka-topics --alter --topic %s --partitions %d)",
                 got->partitions, must, why, want->name, must);
    else
        snprintf(line, sizeof(line), "partitions is %d, must be %d%s (partitions cannot shrink: "
                 "delete and recreate the topic with lmsync-admin topics create --partitions %d)",
                 got->partitions, must, why, must);
    add_line(d, want->name, line);
    return 1;
}

size_t admin_topic_diff(const admin_topic_t *want, const admin_observed_t *got,
                        int jobs_partitions, admin_diff_t *d)
{
    if (!got->exists) {
        add_line(d, want->name, "missing (lmsync-admin topics create)");
        return 1;
    }
    size_t n = diff_partitions(want, got, want->any_partitions ? 0 : want->partitions, "", d);
    if (strcmp(want->suffix, "activity.state") == 0 && n == 0)
        n += diff_partitions(want, got, jobs_partitions, " like the jobs topic (the worker writes "
                             "a job's state to the same partition number)", d);
    if (want->replication > 0 && got->replication != want->replication) {
        char line[448];
        snprintf(line, sizeof(line), "replication factor is %d, must be %d (kafka-reassign-partitions "
                 "--execute with a plan of %d replicas per partition)",
                 got->replication, want->replication, want->replication);
        add_line(d, want->name, line);
        n++;
    }
    if (got->configs_known)
        n += diff_configs(want, got, d);
    return n;
}
