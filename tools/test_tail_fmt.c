/*
 * test_tail_fmt.c - CUnit tests for lmsync-tail's renderings (no broker).
 */
#include "tail_fmt.h"

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include <stdlib.h>
#include <string.h>

static tail_msg_t msg(const char *key, const char *value, const tail_header_t *h, size_t hn)
{
    tail_msg_t m = {.topic = "t", .partition = 2, .offset = 7, .timestamp_ms = 1000,
                    .key = key, .key_len = key ? strlen(key) : 0,
                    .value = value, .value_len = value ? strlen(value) : 0,
                    .headers = h, .header_cnt = hn};
    return m;
}

static void expect_json(const tail_msg_t *m, const char *want)
{
    char *got = tail_fmt_json(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
}

static void expect_line(const tail_msg_t *m, const char *want)
{
    char *got = tail_fmt_line(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
}

static void test_json_values(void)
{
    tail_msg_t m = msg("k", "{\"a\":[1,2.5,true]}", NULL, 0);
    expect_json(&m, "{\"topic\":\"t\",\"partition\":2,\"offset\":7,\"timestamp_ms\":1000,"
                    "\"key\":\"k\",\"headers\":{},\"value\":{\"a\":[1,2.5,true]}}");
    m = msg(NULL, NULL, NULL, 0);
    m.timestamp_ms = -1;
    expect_json(&m, "{\"topic\":\"t\",\"partition\":2,\"offset\":7,\"timestamp_ms\":null,"
                    "\"key\":null,\"headers\":{},\"value\":null}");
    m = msg("k", "not json {", NULL, 0);
    expect_json(&m, "{\"topic\":\"t\",\"partition\":2,\"offset\":7,\"timestamp_ms\":1000,"
                    "\"key\":\"k\",\"headers\":{},\"value\":\"not json {\"}");
    m = msg("k", "42", NULL, 0);
    expect_json(&m, "{\"topic\":\"t\",\"partition\":2,\"offset\":7,\"timestamp_ms\":1000,"
                    "\"key\":\"k\",\"headers\":{},\"value\":42}");
}

static void test_json_bytes_and_headers(void)
{
    tail_header_t h[] = {{"a", "1", 1}, {"n", NULL, 0}, {"a", "2", 1}};
    tail_msg_t m = msg("k\xff", "x\xc3(", h, 3);
    expect_json(&m, "{\"topic\":\"t\",\"partition\":2,\"offset\":7,\"timestamp_ms\":1000,"
                    "\"key\":\"k\xEF\xBF\xBD\",\"headers\":{\"a\":\"2\",\"n\":null},"
                    "\"value\":\"x\xEF\xBF\xBD(\"}");
}

static const tail_header_t ev_hdrs[] = {
    {"ce_type", "lms.activity.completed", 22},
    {"ce_subject", "activities/a1", 13},
    {"ce_source", "/connections/c1", 15},
};

static void test_line_event(void)
{
    tail_msg_t m = msg("c1/s9",
        "{\"connection_id\":\"c1\",\"before\":{\"progress_percentage\":40,\"is_completed\":false,"
        "\"student_id\":\"s9\"},\"after\":{\"progress_percentage\":100.5,\"is_completed\":true,"
        "\"completed_at\":\"2026-11-27T14:09:48Z\",\"student_id\":\"s9\"},"
        "\"changed\":[\"progress_percentage\",\"is_completed\",\"completed_at\"]}",
        ev_hdrs, 3);
    expect_line(&m, "lms.activity.completed   c1               a1               "
                    "progress_percentage 40 -> 100.5, is_completed false -> true, "
                    "completed_at - -> 2026-11-27T14:09:48Z  student=s9");
}

static void test_line_event_created_removed(void)
{
    tail_msg_t m = msg("k", "{\"before\":null,\"after\":{\"progress_percentage\":0.1,"
                            "\"assigned_grade\":null},\"changed\":[\"progress_percentage\","
                            "\"assigned_grade\"]}", ev_hdrs, 3);
    /* connection id falls back to ce_source */
    expect_line(&m, "lms.activity.completed   c1               a1               "
                    "progress_percentage - -> 0.1, assigned_grade - -> null");
    m = msg("k", "{\"before\":{\"student_id\":\"s1\"},\"after\":null,\"changed\":[]}", ev_hdrs, 1);
    expect_line(&m, "lms.activity.completed   -                -                removed  student=s1");
}

static void test_line_plain(void)
{
    tail_msg_t m = msg("k2", "a\nb", NULL, 0);
    expect_line(&m, "t k2 a\\nb");
    m = msg(NULL, NULL, NULL, 0);
    expect_line(&m, "t - (tombstone)");
    m = msg("k", "not json", ev_hdrs, 1);
    expect_line(&m, "lms.activity.completed   -                -                not json");
}

static void test_line_rollup(void)
{
    static const tail_header_t enr[] = {{"ce_type", "lmsync.progress.enrollment", 26}};
    static const tail_header_t crs[] = {{"ce_type", "lmsync.progress.course", 22}};
    tail_msg_t m = msg("c1/s2/k3", "{\"activities\":4,\"completed\":3,\"progress_mean\":62.5,"
                                   "\"progress_min\":10.0,\"duration_minutes\":95.25}", enr, 1);
    expect_line(&m, "enrollment c1/s2/k3 3/4 completed, mean 62.5%, min 10%, time 95.25 min");
    m = msg("c1/s2/k3", "{\"activities\":1,\"completed\":0}", enr, 1);   /* nothing reported: nothing shown */
    expect_line(&m, "enrollment c1/s2/k3 0/1 completed");
    m = msg("c1/s2/k3", NULL, enr, 1);
    expect_line(&m, "enrollment c1/s2/k3 removed");
    m = msg("c1/k3", "{\"learners\":12,\"learners_completed\":5,\"completion_rate\":0.4167,"
                     "\"progress_mean\":55.2,\"learners_idle\":3,\"idle_days\":14}", crs, 1);
    expect_line(&m, "course     c1/k3 5/12 learners completed, rate 41.67%, mean 55.2%, 3 idle > 14 d");
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("tail_fmt", NULL, NULL);
    CU_add_test(s, "json values", test_json_values);
    CU_add_test(s, "json bytes and headers", test_json_bytes_and_headers);
    CU_add_test(s, "line event", test_line_event);
    CU_add_test(s, "line event created/removed", test_line_event_created_removed);
    CU_add_test(s, "line plain", test_line_plain);
    CU_add_test(s, "line rollup", test_line_rollup);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails > 0 ? 1 : 0;
}
