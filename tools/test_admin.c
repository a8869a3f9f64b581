/*
 * test_admin.c - unit tests of lmsync-admin's pure parts: the topic plan,
 * the config diff and the status aggregation.
 */
#include "admin_status.h"
#include "admin_topics.h"
#include "ls_err.h"
#include "ls_test.h"

#include <stdio.h>
#include <string.h>

static void plan_default(admin_topic_t plan[ADMIN_N_TOPICS])
{
    ls_config_t cfg;
    ls_config_defaults(&cfg);
    cfg.state_retention_s = 172800;
    snprintf(cfg.topic_prefix, sizeof(cfg.topic_prefix), "acme");
    admin_topics_plan(&cfg, 0, 0, plan);
}

static const admin_topic_t *row(admin_topic_t plan[ADMIN_N_TOPICS], const char *suffix)
{
    int i = admin_topics_index(suffix);
    CU_ASSERT_FATAL(i >= 0);
    return &plan[i];
}

static void test_plan(void)
{
    admin_topic_t plan[ADMIN_N_TOPICS];
    plan_default(plan);
    const admin_topic_t *st = row(plan, "activity.state");
    CU_ASSERT_STRING_EQUAL(st->name, "acme.activity.state");
    CU_ASSERT_STRING_EQUAL(st->configs[0].name, "cleanup.policy");
    CU_ASSERT_STRING_EQUAL(st->configs[0].value, "compact");
    CU_ASSERT_STRING_EQUAL(st->configs[1].name, "delete.retention.ms");
    CU_ASSERT_STRING_EQUAL(st->configs[1].value, "172800000");
    CU_ASSERT_STRING_EQUAL(row(plan, "poll.jobs")->configs[0].value, "delete");
    CU_ASSERT_STRING_EQUAL(row(plan, "sync.status")->configs[1].name, "retention.ms");
    CU_ASSERT_EQUAL(row(plan, "poll.dlq")->partitions, 1);
    CU_ASSERT_EQUAL(row(plan, "poll.jobs")->partitions, 0);
    CU_ASSERT_EQUAL(admin_topics_index("nope"), -1);
    const admin_topic_t *sch = row(plan, "coordinator.schedule"), *lead = row(plan, "coordinator.leader");
    CU_ASSERT_STRING_EQUAL(sch->name, "acme.coordinator.schedule");
    CU_ASSERT_STRING_EQUAL(sch->configs[0].value, "compact");
    CU_ASSERT_STRING_EQUAL(sch->configs[1].name, "delete.retention.ms");
    CU_ASSERT_STRING_EQUAL(sch->configs[1].value, "86400000");
    CU_ASSERT(sch->any_partitions);
    CU_ASSERT_EQUAL(lead->partitions, 1);
    CU_ASSERT_FALSE(lead->any_partitions);
    CU_ASSERT_STRING_EQUAL(row(plan, "xapi.dlq")->configs[1].value, "2592000000");
}


/* A plan, one topic of it, that topic observed exactly as planned, and a diff. */
typedef struct fixture {
    admin_topic_t plan[ADMIN_N_TOPICS];
    const admin_topic_t *t;
    admin_kv_t kv[ADMIN_MAX_CONFIGS];
    admin_observed_t got;
    admin_diff_t d;
} fixture_t;

/* partitions/replication: the plan's (0 = not given; prefix "acme", retention 2 days, as plan_default);
 * observed: the partitions the cluster reports. */
static void fixture_init(fixture_t *f, const char *suffix, int partitions, int replication, int observed)
{
    ls_config_t cfg;
    ls_config_defaults(&cfg);
    cfg.state_retention_s = 172800;
    snprintf(cfg.topic_prefix, sizeof(cfg.topic_prefix), "acme");
    admin_topics_plan(&cfg, partitions, replication, f->plan);
    f->t = row(f->plan, suffix);
    for (size_t i = 0; i < f->t->n_configs; i++)
        f->kv[i] = f->t->configs[i];
    f->got = (admin_observed_t){.exists = 1, .partitions = observed, .replication = 3,
                                .configs_known = 1, .n_configs = f->t->n_configs, .configs = f->kv};
}

static size_t fixture_diff(fixture_t *f, int jobs_partitions)
{
    memset(&f->d, 0, sizeof(f->d));
    return admin_topic_diff(f->t, &f->got, jobs_partitions, &f->d);
}

static void test_diff_clean(void)
{
    static const char *const suffixes[ADMIN_N_TOPICS] = {
        "poll.jobs",        "activity.changes", "activity.state",       "sync.status",
        "poll.dlq",         "xapi.dlq",         "coordinator.schedule", "coordinator.leader",
        "activity.current", "control",          "progress.enrollments", "progress.courses"};
    static const int parts[ADMIN_N_TOPICS] = {24, 24, 24, 24, 1, 1, 1, 1, 24, 1, 24, 24};
    for (size_t i = 0; i < ADMIN_N_TOPICS; i++) {
        fixture_t f;
        fixture_init(&f, suffixes[i], 0, 0, parts[i]);
        CU_ASSERT_EQUAL(fixture_diff(&f, 24), 0);
        CU_ASSERT_EQUAL(f.d.n, 0);
    }
}

/* The schedule may have any partition count; the leader topic must have exactly one. */
static void test_coordinator_topics_partitions(void)
{
    fixture_t f;
    fixture_init(&f, "coordinator.schedule", 8, 0, 12);
    CU_ASSERT_EQUAL(fixture_diff(&f, 8), 0);
    fixture_init(&f, "coordinator.leader", 8, 0, 3);
    CU_ASSERT_EQUAL(fixture_diff(&f, 8), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(f.d.lines[0], "acme.coordinator.leader: partitions is 3, must be 1"));
}

static void test_diff_policy(void)
{
    fixture_t f;
    fixture_init(&f, "activity.state", 0, 0, 24);
    snprintf(f.kv[0].value, sizeof(f.kv[0].value), "delete");
    CU_ASSERT_EQUAL(fixture_diff(&f, 24), 1);
    CU_ASSERT_STRING_EQUAL(f.d.lines[0], "acme.activity.state: cleanup.policy is delete, must be compact "
                           "(kafka-configs --alter --entity-type topics --entity-name acme.activity.state "
                           "--add-config cleanup.policy=compact)");
}

static void test_diff_missing_config(void)
{
    fixture_t f;
    fixture_init(&f, "activity.state", 0, 0, 24);
    f.got.n_configs = 1; /* delete.retention.ms and min.compaction.lag.ms not reported */
    CU_ASSERT_EQUAL(fixture_diff(&f, 24), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(f.d.lines[0], "delete.retention.ms is not set, must be 172800000"));
}

static void test_diff_unknown_configs(void)
{
    fixture_t f;
    fixture_init(&f, "activity.state", 0, 0, 24);
    f.got.configs_known = 0;
    snprintf(f.kv[0].value, sizeof(f.kv[0].value), "delete");
    CU_ASSERT_EQUAL(fixture_diff(&f, 24), 0); /* configs not described: nothing compared */
}

static void test_diff_partitions(void)
{
    fixture_t f;
    fixture_init(&f, "poll.jobs", 12, 3, 6);
    f.got.replication = 1;
    CU_ASSERT_EQUAL(fixture_diff(&f, 0), 2);
    CU_ASSERT_STRING_EQUAL(f.d.lines[0], "acme.poll.jobs: partitions is 6, must be 12 "
                           "(kafka-topics --alter --topic acme.poll.jobs --partitions 12)");
    CU_ASSERT_PTR_NOT_NULL(strstr(f.d.lines[1], "replication factor is 1, must be 3"));
    f.got.partitions = 48;
    f.got.replication = 3;
    CU_ASSERT_EQUAL(fixture_diff(&f, 0), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(f.d.lines[0], "partitions cannot shrink"));
}

static void test_diff_state_like_jobs(void)
{
    fixture_t f;
    fixture_init(&f, "activity.state", 0, 0, 12);
    CU_ASSERT_EQUAL(fixture_diff(&f, 24), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(f.d.lines[0], "partitions is 12, must be 24 like the jobs topic"));
    f.got.exists = 0;
    CU_ASSERT_EQUAL(fixture_diff(&f, 24), 1);
    CU_ASSERT_STRING_EQUAL(f.d.lines[0], "acme.activity.state: missing (lmsync-admin topics create)");
}

static int add(admin_status_t *s, const char *json)
{
    char err[256];
    return admin_status_add(s, json, strlen(json), err, sizeof(err));
}

#define REC(scope, outcome, at, mode, records, pending, error)                                            \
    "{\"job_id\":\"" scope "@1\",\"scope\":\"" scope "\",\"connection_id\":\"" scope "\",\"integration_type\":\"moodle\"," \
    "\"outcome\":\"" outcome "\",\"finished_at\":\"" at "\",\"mode\":\"" mode "\",\"records\":" records \
    ",\"pending_removals\":" pending ",\"error\":" error "}"

static void test_status_aggregate(void)
{
    admin_status_t *s = admin_status_new();
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_EQUAL(add(s, REC("conn-2", "ok", "2026-01-01T00:00:00Z", "full", "10", "1", "null")), LS_OK);
    CU_ASSERT_EQUAL(add(s, REC("conn-1", "failed", "2026-01-01T00:01:00Z", "full", "3", "0", "\"http 503\"")), LS_OK);
    CU_ASSERT_EQUAL(add(s, REC("conn-2", "ok", "2026-01-01T00:05:00Z", "incremental", "4", "0", "null")), LS_OK);
    CU_ASSERT_EQUAL(add(s, REC("conn-2", "failed", "2026-01-01T00:10:00Z", "full", "0", "0", "\"http 401\"")), LS_OK);
    CU_ASSERT_EQUAL(add(s, REC("conn-2", "skipped", "2026-01-01T00:11:00Z", "full", "0", "0", "null")), LS_OK);
    CU_ASSERT_EQUAL(add(s, REC("conn-2", "failed", "2026-01-01T00:15:00Z", "full", "0", "0", "\"http 500\"")), LS_OK);
    CU_ASSERT_EQUAL(admin_status_add(s, NULL, 0, NULL, 0), LS_OK); /* tombstone */
    CU_ASSERT_EQUAL(add(s, "{not json"), LS_EINVAL);
    CU_ASSERT_EQUAL(add(s, "{\"outcome\":\"ok\"}"), LS_EINVAL);
    CU_ASSERT_EQUAL(admin_status_count(s), 2);
    CU_ASSERT_EQUAL(admin_status_bad(s), 2);
    const admin_scope_t *sc = admin_status_sorted(s);
    CU_ASSERT_STRING_EQUAL(sc[0].scope, "conn-1");
    CU_ASSERT_STRING_EQUAL(sc[0].last_ok_at, "");
    CU_ASSERT_EQUAL(sc[0].consecutive_failures, 1);
    CU_ASSERT_STRING_EQUAL(sc[1].scope, "conn-2");
    CU_ASSERT_STRING_EQUAL(sc[1].last_ok_at, "2026-01-01T00:05:00Z");
    CU_ASSERT_STRING_EQUAL(sc[1].last_ok_mode, "incremental");
    CU_ASSERT_EQUAL(sc[1].last_ok_records, 4);
    CU_ASSERT_EQUAL(sc[1].pending_removals, 0);
    CU_ASSERT_EQUAL(sc[1].consecutive_failures, 2); /* the skipped run neither counts nor resets */
    CU_ASSERT_STRING_EQUAL(sc[1].last_error, "http 500");
    CU_ASSERT_STRING_EQUAL(sc[1].last_outcome, "failed");
    CU_ASSERT_EQUAL(sc[1].reports, 5);
    /* the index follows the sort: later records still land on their scope */
    CU_ASSERT_EQUAL(add(s, REC("conn-1", "ok", "2026-01-01T00:20:00Z", "full", "7", "2", "null")), LS_OK);
    sc = admin_status_sorted(s);
    CU_ASSERT_EQUAL(admin_status_count(s), 2);
    CU_ASSERT_EQUAL(sc[0].consecutive_failures, 0);
    CU_ASSERT_EQUAL(sc[0].pending_removals, 2);
    CU_ASSERT_STRING_EQUAL(sc[0].last_error, "http 503");
    admin_status_destroy(s);
}

static void test_status_json(void)
{
    admin_status_t *s = admin_status_new();
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_EQUAL(add(s, "{\"job_id\":\"c/crs@1\",\"scope\":\"c/crs\",\"connection_id\":\"c\",\"course_id\":\"crs\","
                           "\"integration_type\":\"moodle\",\"outcome\":\"ok\",\"mode\":\"full\",\"records\":10,"
                           "\"pending_removals\":1,\"finished_at\":\"2026-01-01T00:00:00.250Z\"}"), LS_OK);
    char buf[2048] = {0};
    FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_EQUAL(admin_status_print_json(s, f), LS_OK);
    fclose(f);
    CU_ASSERT_STRING_EQUAL(buf, "{\"connection_id\":\"c\",\"consecutive_failures\":0,\"integration_type\":\"moodle\","
                                "\"last_error\":null,\"last_failure_at\":null,\"last_finished_at\":\"2026-01-01T00:00:00.250Z\","
                                "\"last_ok_at\":\"2026-01-01T00:00:00.250Z\",\"last_outcome\":\"ok\",\"mode\":\"full\","
                                "\"pending_removals\":1,\"records\":10,\"reports\":1,\"scope\":\"c/crs\"}\n");
    admin_status_destroy(s);
}

/* What ls_status_decode refuses is skipped and counted, whatever it is. */
static void test_status_bad_records(void)
{
    admin_status_t *s = admin_status_new();
    char rec[2048], err[700];
    memset(err, 'x', 600);
    err[600] = '\0';
    snprintf(rec, sizeof(rec), "{\"job_id\":\"c@1\",\"connection_id\":\"c\",\"outcome\":\"failed\",\"error\":\"%s\"}", err);
    CU_ASSERT_EQUAL(add(s, rec), LS_EINVAL); /* error longer than a status record can carry */
    CU_ASSERT_EQUAL(add(s, "{\"job_id\":\"c@1\",\"connection_id\":\"c\",\"scope\":\"d\",\"outcome\":\"ok\"}"), LS_EINVAL);
    CU_ASSERT_EQUAL(add(s, "{\"job_id\":\"c@1\",\"connection_id\":\"c\",\"outcome\":\"ok\",\"records\":\"7\"}"), LS_EINVAL);
    CU_ASSERT_EQUAL(add(s, "[]"), LS_EINVAL);
    CU_ASSERT_EQUAL(admin_status_count(s), 0);
    CU_ASSERT_EQUAL(admin_status_bad(s), 4);
    CU_ASSERT_EQUAL(add(s, "{\"job_id\":\"c@1\",\"connection_id\":\"c\",\"outcome\":\"ok\"}"), LS_OK);
    CU_ASSERT_EQUAL(admin_status_count(s), 1);
    admin_status_destroy(s);
}

static CU_TestInfo topics_tests[] = {
    {"plan", test_plan},
    {"diff: as planned", test_diff_clean},
    {"coordinator topics: schedule any count, leader exactly one", test_coordinator_topics_partitions},
    {"diff: cleanup.policy", test_diff_policy},
    {"diff: config not set", test_diff_missing_config},
    {"diff: configs unknown", test_diff_unknown_configs},
    {"diff: partitions and replication", test_diff_partitions},
    {"diff: state partitions like jobs", test_diff_state_like_jobs},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo status_tests[] = {
    {"aggregate", test_status_aggregate},
    {"json lines", test_status_json},
    {"bad records", test_status_bad_records},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {
    {"admin_topics", NULL, NULL, NULL, NULL, topics_tests},
    {"admin_status", NULL, NULL, NULL, NULL, status_tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
