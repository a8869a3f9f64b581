/*
 * admin_run.c - topics create / topics check / status (admin_run.h).
 */
#include "admin_run.h"
#include "admin_kafka.h"
#include "admin_status.h"
#include "admin_topics.h"
#include "ls_err.h"
#include "ls_kafka.h"
#include "ls_log.h"
#include "ls_time.h"

#include <string.h>
#include <time.h>

/* Running verdict of a topics command. */
typedef struct verdict {
    int diffs;        /* differences and failures */
    int unverified;   /* topics whose configs could not be described */
} verdict_t;

static int verdict_exit(const verdict_t *v)
{
    return v->diffs ? ADMIN_EXIT_DIFF : v->unverified ? ADMIN_EXIT_UNVERIFIED : ADMIN_EXIT_OK;
}

static void print_configs(const admin_topic_t *t, FILE *out)
{
    for (size_t i = 0; i < t->n_configs; i++)
        fprintf(out, " %s=%s", t->configs[i].name, t->configs[i].value);
}

/* Describe one existing topic's configs and print its differences (or ok). */
static void check_topic(admin_kafka_t *k, const admin_topic_t *t, admin_observed_t *got,
                        int jobs_partitions, verdict_t *v, FILE *out)
{
    char err[512];
    int rc = admin_kafka_configs(k, t->name, got, err, sizeof(err));
    if (rc == ADMIN_EUNSUPPORTED) {
        fprintf(out, "%s: configs: not verifiable: %s (a mock cluster such as the devbroker has no "
                "DescribeConfigs); must be", t->name, err);
        print_configs(t, out);
        fputc('\n', out);
        v->unverified++;
    } else if (rc != LS_OK) {
        fprintf(out, "%s: configs: %s\n", t->name, err);
        v->diffs++;
    }
    admin_diff_t d = {0};
    size_t n = admin_topic_diff(t, got, jobs_partitions, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(out, "%s\n", d.lines[i]);
    if (n == 0 && rc == LS_OK) {
        fprintf(out, "%s: ok (%d partitions, replication %d,", t->name, got->partitions, got->replication);
        print_configs(t, out);
        fputs(")\n", out);
    }
    v->diffs += (int)n;
}

/* Create t when missing; *got describes it afterwards. @return 0, or -1 when it cannot be checked. */
static int ensure_topic(admin_kafka_t *k, const admin_topic_t *t, admin_observed_t *got, verdict_t *v, FILE *out)
{
    char err[512];
    if (admin_kafka_metadata(k, t->name, got, err, sizeof(err)) != LS_OK) {
        fprintf(out, "%s: %s\n", t->name, err);
        v->diffs++;
        return -1;
    }
    if (got->exists)
        return 0;
    int rc = admin_kafka_create(k, t, err, sizeof(err));
    if (rc == LS_OK || rc == ADMIN_EEXISTS) {
        fprintf(out, "%s: %s\n", t->name, rc == LS_OK ? "created" : "created meanwhile by someone else");
    } else {
        fprintf(out, "%s: cannot create: %s%s\n", t->name, err,
                rc == ADMIN_EUNSUPPORTED || rc == LS_ETRANSIENT
                    ? " (a cluster without CreateTopics, such as the devbroker, needs the topic created by hand)" : "");
        v->diffs++;
        return -1;
    }
    /* Metadata of a new topic may lag behind the controller for a moment. */
    int64_t deadline = ls_time_mono_ms() + 5000;
    while (admin_kafka_metadata(k, t->name, got, err, sizeof(err)) == LS_OK && !got->exists &&
           ls_time_mono_ms() < deadline) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

typedef int (*topic_step_t)(admin_kafka_t *k, const admin_topic_t *t, admin_observed_t *got,
                            verdict_t *v, FILE *out);

static int describe_only(admin_kafka_t *k, const admin_topic_t *t, admin_observed_t *got, verdict_t *v, FILE *out)
{
    char err[512];
    if (admin_kafka_metadata(k, t->name, got, err, sizeof(err)) == LS_OK)
        return 0;
    fprintf(out, "%s: %s\n", t->name, err);
    v->diffs++;
    return -1;
}

/* Walk the plan: step (create or just describe), then compare. */
static int run_topics(const ls_config_t *cfg, const admin_opts_t *o, topic_step_t step, const char *what, FILE *out)
{
    admin_topic_t plan[ADMIN_N_TOPICS];
    admin_topics_plan(cfg, o->partitions, o->replication, plan);
    char err[512];
    admin_kafka_t *k = admin_kafka_new(cfg->kafka_brokers, o->timeout_ms, err, sizeof(err));
    if (!k) {
        fprintf(stderr, "lmsync-admin: kafka client: %s\n", err);
        return ADMIN_EXIT_DIFF;
    }
    verdict_t v = {0};
    int jobs_partitions = 0;
    for (size_t i = 0; i < ADMIN_N_TOPICS; i++) {
        admin_observed_t got = {0};
        if (step(k, &plan[i], &got, &v, out) != 0)
            continue;
        if (strcmp(plan[i].suffix, "poll.jobs") == 0)
            jobs_partitions = got.partitions;
        check_topic(k, &plan[i], &got, jobs_partitions, &v, out);
    }
    admin_kafka_destroy(k);
    fprintf(out, "topics %s: %d topic(s), %d difference(s), configs not verifiable on %d\n", what,
            ADMIN_N_TOPICS, v.diffs, v.unverified);
    return verdict_exit(&v);
}

int admin_run_topics_create(const ls_config_t *cfg, const admin_opts_t *o, FILE *out)
{
    return run_topics(cfg, o, ensure_topic, "create", out);
}

int admin_run_topics_check(const ls_config_t *cfg, const admin_opts_t *o, FILE *out)
{
    return run_topics(cfg, o, describe_only, "check", out);
}

/* ---- status ---- */

#define MAX_BAD_LOGGED 5

/* Hand every record of one partition up to its high watermark to cb. */
static int read_partition(ls_reader_t *r, const char *topic, int p, const admin_opts_t *o, admin_rec_cb_t cb,
                          void *ud)
{
    char err[512];
    int64_t low = 0, high = 0, eof = -1;
    if (ls_reader_watermarks(r, topic, p, &low, &high, o->timeout_ms, err, sizeof(err)) != LS_OK) {
        fprintf(stderr, "lmsync-admin: %s\n", err);
        return LS_ETRANSIENT;
    }
    if (high <= low)
        return LS_OK;
    if (ls_reader_start(r, topic, p, LS_OFFSET_BEGINNING) != LS_OK)
        return LS_ETRANSIENT;
    int64_t deadline = ls_time_mono_ms() + o->timeout_ms, next = low;
    while (next < high && ls_time_mono_ms() < deadline) {
        ls_kmsg_t m;
        int rc = ls_reader_poll(r, 200, &m, &eof, err, sizeof(err));
        if (rc == LS_ENOTFOUND) {
            if (eof >= 0)
                next = high; /* the end was reached before the watermark queried: nothing more to read */
            continue;
        }
        if (rc != LS_OK) {
            fprintf(stderr, "lmsync-admin: %s [%d]: %s\n", topic, p, err);
            return LS_ETRANSIENT;
        }
        next = m.offset + 1;
        deadline = ls_time_mono_ms() + o->timeout_ms;
        cb(&m, ud);
        ls_kmsg_release(&m);
    }
    ls_reader_stop(r);
    if (next >= high)
        return LS_OK;
    fprintf(stderr, "lmsync-admin: %s [%d]: read up to offset %lld of %lld before the timeout\n", topic, p,
            (long long)next, (long long)high);
    return LS_ETRANSIENT;
}

int admin_partition_count(const ls_config_t *cfg, const char *topic, const admin_opts_t *o)
{
    char err[512];
    admin_observed_t got = {0};
    admin_kafka_t *k = admin_kafka_new(cfg->kafka_brokers, o->timeout_ms, err, sizeof(err));
    int rc = k ? admin_kafka_metadata(k, topic, &got, err, sizeof(err)) : LS_EINVAL;
    admin_kafka_destroy(k);
    if (rc != LS_OK || !got.exists) {
        fprintf(stderr, "lmsync-admin: %s%s\n", rc != LS_OK ? err : topic,
                rc != LS_OK ? "" : ": topic does not exist (lmsync-admin topics create)");
        return -1;
    }
    return got.partitions;
}

int admin_read_topic(const ls_config_t *cfg, const char *topic, const admin_opts_t *o, admin_rec_cb_t cb, void *ud)
{
    char err[512];
    int parts = admin_partition_count(cfg, topic, o);
    if (parts < 0)
        return LS_ENOTFOUND;
    ls_kafka_conf_t kc = ls_config_kafka(cfg);
    ls_reader_t *r = ls_reader_new(&kc, err, sizeof(err));
    if (!r) {
        fprintf(stderr, "lmsync-admin: kafka reader: %s\n", err);
        return LS_ENOMEM;
    }
    int rc = LS_OK;
    for (int p = 0; rc == LS_OK && p < parts; p++)
        rc = read_partition(r, topic, p, o, cb, ud);
    ls_reader_destroy(r);
    return rc;
}

/* A status record into the summary; the first bad ones are shown. */
static void add_status(const ls_kmsg_t *m, void *ud)
{
    char err[512];
    admin_status_t *s = ud;
    if (admin_status_add(s, m->value, m->len, err, sizeof(err)) == LS_EINVAL && admin_status_bad(s) <= MAX_BAD_LOGGED)
        fprintf(stderr, "lmsync-admin: %s [%d] offset %lld skipped: %s\n", m->topic, m->partition,
                (long long)m->offset, err);
}

int admin_run_status(const ls_config_t *cfg, const admin_opts_t *o, FILE *out)
{
    char topic[192];
    ls_config_topic(cfg, "sync.status", topic, sizeof(topic));
    admin_status_t *s = admin_status_new();
    int rc = s ? admin_read_topic(cfg, topic, o, add_status, s) : LS_ENOMEM;
    if (rc == LS_OK) {
        if (o->json)
            rc = admin_status_print_json(s, out);
        else
            admin_status_print_table(s, out);
        fprintf(stderr, "lmsync-admin: %s: %zu scope(s), %lld bad record(s) skipped\n", topic,
                admin_status_count(s), admin_status_bad(s));
    }
    admin_status_destroy(s);
    return rc == LS_OK ? ADMIN_EXIT_OK : ADMIN_EXIT_DIFF;
}
