/* test_coord_store.c - the persisted schedule record (ls_coord_store.h). */
#include "ls_coord_store.h"
#include "ls_err.h"
#include "ls_test.h"

#include <string.h>

static void test_roundtrip(void)
{
    ls_coord_sched_rec_t r = {.next_due_ms = 1795896718586, .last_full_ms = 1795896000000, .since_full = 3,
                              .records = -1, .failures = 2, .job_due_ms = 1795896718000,
                              .job_since_ms = 1795896718010, .last_ok_ms = 1795896600000,
                              .ival_ms = 240000, .requests = 3}, back;
    char buf[448], err[256];
    int n = ls_coord_sched_encode(&r, buf, sizeof(buf));
    CU_ASSERT_FATAL(n > 0);
    CU_ASSERT_EQUAL((size_t)n, strlen(buf));
    CU_ASSERT_EQUAL(ls_coord_sched_decode(buf, (size_t)n, &back, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(memcmp(&r, &back, sizeof(r)), 0);
    CU_ASSERT(n < 230); /* a small record per scope */
    CU_ASSERT_PTR_NULL(strstr(buf, "epoch")); /* no leader epoch: no member */
    CU_ASSERT_EQUAL(ls_coord_sched_encode(&r, buf, 40), -1);
    r.epoch = 1795896000123; /* the writer's leader epoch travels */
    n = ls_coord_sched_encode(&r, buf, sizeof(buf));
    CU_ASSERT_FATAL(n > 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, ",\"epoch\":1795896000123,\"ival\":240000,\"requests\":3}"));
    CU_ASSERT_EQUAL(ls_coord_sched_decode(buf, (size_t)n, &back, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(memcmp(&r, &back, sizeof(r)), 0);
}

/* A record written before the epoch and the adaptive members existed (or by a single coordinator) decodes with 0s. */
static void test_old_record(void)
{
    static const char old[] = "{\"v\":1,\"next_due\":5,\"last_full\":4,\"since_full\":1,\"records\":9,\"failures\":0,"
                              "\"job_due\":0,\"job_since\":0,\"last_ok\":3}";
    ls_coord_sched_rec_t r;
    char err[256];
    CU_ASSERT_EQUAL(ls_coord_sched_decode(old, strlen(old), &r, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(r.next_due_ms, 5);
    CU_ASSERT_EQUAL(r.records, 9);
    CU_ASSERT_EQUAL(r.epoch, 0);
    CU_ASSERT_EQUAL(r.ival_ms, 0); /* nor the adaptive members */
    CU_ASSERT_EQUAL(r.requests, 0);
}

static void test_bad_records(void)
{
    static const struct {
        const char *value, *reason;
    } bad[] = {
        {"", "not a JSON object"},
        {"[1]", "not a JSON object"},
        {"{\"v\":2,\"next_due\":1}", "member \"v\" is not 1"},
        {"{\"v\":1}", "member \"next_due\" is missing"},
        {"{\"v\":1,\"next_due\":\"soon\"}", "member \"next_due\" is not an integer in range"},
        {"{\"v\":1,\"next_due\":1,\"last_full\":0,\"since_full\":0,\"records\":-2}", "member \"records\" is not an integer in range"},
        {"{\"v\":1,\"next_due\":1,\"last_full\":0,\"since_full\":0,\"records\":0,\"failures\":0,\"job_due\":0,"
         "\"job_since\":0,\"last_ok\":0,\"epoch\":0}", "member \"epoch\" is not an integer in range"},
        {"{\"v\":1,\"next_due\":1,\"last_full\":0,\"since_full\":0,\"records\":0,\"failures\":0,\"job_due\":0,"
         "\"job_since\":0,\"last_ok\":0,\"epoch\":\"x\"}", "member \"epoch\" is not an integer in range"},
        {"{\"v\":1,\"next_due\":1,\"last_full\":0,\"since_full\":0,\"records\":0,\"failures\":0,\"job_due\":0,"
         "\"job_since\":0,\"last_ok\":0,\"ival\":-1}", "member \"ival\" is not an integer in range"},
    };
    ls_coord_sched_rec_t r;
    char err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CU_ASSERT_EQUAL(ls_coord_sched_decode(bad[i].value, strlen(bad[i].value), &r, err, sizeof(err)), LS_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].reason));
        CU_ASSERT_EQUAL(r.next_due_ms, 0);
    }
}

static CU_TestInfo tests[] = {
    {"encode, decode", test_roundtrip},
    {"records that cannot be decoded", test_bad_records},
    {"a record without an epoch or the adaptive members", test_old_record},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_coord_store", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
