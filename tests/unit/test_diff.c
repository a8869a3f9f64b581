/* test_diff.c - change classification (docs/design.md, Change rules). */
#include "ls_activity.h"
#include "ls_diff.h"
#include "ls_err.h"
#include "ls_test.h"

#include <string.h>

#define BIT(f) (1u << (f))
#define ALL ((1u << LS_F__COUNT) - 1u)

/* Record from the fields of a JSON object body: rec("\"is_completed\":true"). */
static ls_activity_t rec(const char *body)
{
    char text[1024], err[256];
    ls_activity_t a;
    snprintf(text, sizeof(text), "{\"id\":\"act-1\"%s%s}", body[0] ? "," : "", body);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    CU_ASSERT_PTR_NOT_NULL(j);
    int rc = ls_activity_from_json(j, &a, err, sizeof(err));
    CU_ASSERT_EQUAL(rc, LS_OK);
    if (rc != LS_OK)
        fprintf(stderr, "\nbad test record %s: %s\n", text, err);
    json_decref(j);
    return a;
}

static ls_diff_t diff(const char *before, const char *after)
{
    ls_activity_t b = rec(before), a = rec(after);
    ls_diff_t d;
    memset(&d, 0x5a, sizeof(d));
    ls_diff_compute(&b, &a, &d);
    return d;
}

static void check(const char *before, const char *after, ls_change_type_t type, uint32_t changed)
{
    ls_diff_t d = diff(before, after);
    CU_ASSERT_EQUAL(d.type, type);
    CU_ASSERT_EQUAL(d.changed_mask, changed);
    CU_ASSERT_EQUAL(d.stored_mask & ~BIT(LS_F_UPDATED_AT), changed);
    if (d.type != type || d.changed_mask != changed)
        fprintf(stderr, "\n{%s} -> {%s}: got %s/0x%x, want %s/0x%x\n", before, after,
                ls_change_type_name(d.type), d.changed_mask, ls_change_type_name(type), changed);
}

static void test_created(void)
{
    ls_activity_t a = rec("\"course_id\":\"c\",\"is_completed\":null,\"updated_at\":\"2026-01-01T00:00:00Z\"");
    ls_diff_t d;
    ls_diff_compute(NULL, &a, &d);
    CU_ASSERT_EQUAL(d.type, LS_CHANGE_CREATED);
    CU_ASSERT_EQUAL(d.changed_mask, BIT(LS_F_COURSE_ID) | BIT(LS_F_IS_COMPLETED));
    CU_ASSERT_EQUAL(d.stored_mask, ALL);
    /* even a record with only an id is created */
    a = rec("");
    ls_diff_compute(NULL, &a, &d);
    CU_ASSERT_EQUAL(d.type, LS_CHANGE_CREATED);
    CU_ASSERT_EQUAL(d.changed_mask, 0);
    CU_ASSERT_EQUAL(d.stored_mask, ALL);
    /* created outranks completed */
    a = rec("\"is_completed\":true,\"progress_percentage\":100");
    ls_diff_compute(NULL, &a, &d);
    CU_ASSERT_EQUAL(d.type, LS_CHANGE_CREATED);
}

static void test_completed(void)
{
    uint32_t ic = BIT(LS_F_IS_COMPLETED);
    check("\"is_completed\":false", "\"is_completed\":true", LS_CHANGE_COMPLETED, ic);
    check("", "\"is_completed\":true", LS_CHANGE_COMPLETED, ic);
    check("\"is_completed\":null", "\"is_completed\":true", LS_CHANGE_COMPLETED, ic);
    /* outranks a progress change, in either direction, and other fields */
    check("\"is_completed\":false,\"progress_percentage\":40",
          "\"is_completed\":true,\"progress_percentage\":100,\"completed_at\":\"2026-01-01T00:00:00Z\"",
          LS_CHANGE_COMPLETED, ic | BIT(LS_F_PROGRESS) | BIT(LS_F_COMPLETED_AT));
    check("\"is_completed\":false,\"progress_percentage\":90",
          "\"is_completed\":true,\"progress_percentage\":80",
          LS_CHANGE_COMPLETED, ic | BIT(LS_F_PROGRESS));
    /* staying completed is not completed again */
    check("\"is_completed\":true,\"grade\":1", "\"is_completed\":true,\"assigned_grade\":\"B\"",
          LS_CHANGE_UPDATED, BIT(LS_F_ASSIGNED_GRADE));
}

static void test_reopened(void)
{
    uint32_t ic = BIT(LS_F_IS_COMPLETED);
    check("\"is_completed\":true", "\"is_completed\":false", LS_CHANGE_REOPENED, ic);
    check("\"is_completed\":true,\"progress_percentage\":100",
          "\"is_completed\":false,\"progress_percentage\":50",
          LS_CHANGE_REOPENED, ic | BIT(LS_F_PROGRESS));
    check("\"is_completed\":true,\"progress_percentage\":90",
          "\"is_completed\":false,\"progress_percentage\":95",
          LS_CHANGE_REOPENED, ic | BIT(LS_F_PROGRESS));
    /* never inferred from absence or null */
    check("\"is_completed\":true", "", LS_CHANGE_UPDATED, ic);
    check("\"is_completed\":true", "\"is_completed\":null", LS_CHANGE_UPDATED, ic);
    check("\"is_completed\":true,\"progress_percentage\":100", "\"progress_percentage\":50",
          LS_CHANGE_REGRESSED, ic | BIT(LS_F_PROGRESS));
}

static void test_is_completed_presence(void)
{
    uint32_t ic = BIT(LS_F_IS_COMPLETED);
    check("\"is_completed\":false", "", LS_CHANGE_UPDATED, ic);
    check("", "\"is_completed\":false", LS_CHANGE_UPDATED, ic);
    check("\"is_completed\":null", "\"is_completed\":false", LS_CHANGE_UPDATED, ic);
    check("\"is_completed\":false", "\"is_completed\":null", LS_CHANGE_UPDATED, ic);
    check("\"is_completed\":null", "", LS_CHANGE_UPDATED, ic);
    check("\"is_completed\":false", "\"is_completed\":false", LS_CHANGE_NONE, 0);
    check("\"is_completed\":null", "\"is_completed\":null", LS_CHANGE_NONE, 0);
    check("\"is_completed\":true", "\"is_completed\":true", LS_CHANGE_NONE, 0);
}

static void test_progress(void)
{
    uint32_t p = BIT(LS_F_PROGRESS);
    check("\"progress_percentage\":40", "\"progress_percentage\":41", LS_CHANGE_PROGRESSED, p);
    check("\"progress_percentage\":40", "\"progress_percentage\":40.5", LS_CHANGE_PROGRESSED, p);
    check("", "\"progress_percentage\":10", LS_CHANGE_PROGRESSED, p);
    check("\"progress_percentage\":null", "\"progress_percentage\":0.1", LS_CHANGE_PROGRESSED, p);
    check("\"progress_percentage\":40", "\"progress_percentage\":39.9", LS_CHANGE_REGRESSED, p);
    check("\"progress_percentage\":40", "\"progress_percentage\":0", LS_CHANGE_REGRESSED, p);
    /* from absent/null to 0 is not progress; to absent/null is not regress */
    check("", "\"progress_percentage\":0", LS_CHANGE_UPDATED, p);
    check("\"progress_percentage\":null", "\"progress_percentage\":0", LS_CHANGE_UPDATED, p);
    check("\"progress_percentage\":40", "", LS_CHANGE_UPDATED, p);
    check("\"progress_percentage\":40", "\"progress_percentage\":null", LS_CHANGE_UPDATED, p);
    check("", "\"progress_percentage\":null", LS_CHANGE_UPDATED, p);
    /* progress outranks other fields */
    check("\"progress_percentage\":40,\"duration_minutes\":5",
          "\"progress_percentage\":50,\"duration_minutes\":9", LS_CHANGE_PROGRESSED,
          p | BIT(LS_F_DURATION));
    check("\"progress_percentage\":50,\"course_id\":\"a\"",
          "\"progress_percentage\":40,\"course_id\":\"b\"", LS_CHANGE_REGRESSED,
          p | BIT(LS_F_COURSE_ID));
    /* numbers compare numerically */
    check("\"progress_percentage\":40", "\"progress_percentage\":40.0", LS_CHANGE_NONE, 0);
    check("\"progress_percentage\":40", "\"progress_percentage\":4e1", LS_CHANGE_NONE, 0);
}

static void test_updated_each_field(void)
{
    check("\"course_id\":\"a\"", "\"course_id\":\"b\"", LS_CHANGE_UPDATED, BIT(LS_F_COURSE_ID));
    check("\"student_id\":\"a\"", "\"student_id\":null", LS_CHANGE_UPDATED, BIT(LS_F_STUDENT_ID));
    check("", "\"content_id\":\"k\"", LS_CHANGE_UPDATED, BIT(LS_F_CONTENT_ID));
    check("\"duration_minutes\":5", "\"duration_minutes\":4", LS_CHANGE_UPDATED, BIT(LS_F_DURATION));
    check("\"assigned_grade\":\"A\"", "\"assigned_grade\":\"a\"", LS_CHANGE_UPDATED,
          BIT(LS_F_ASSIGNED_GRADE));
    check("\"assigned_grade\":\"\"", "\"assigned_grade\":null", LS_CHANGE_UPDATED,
          BIT(LS_F_ASSIGNED_GRADE));
    check("\"started_at\":\"2026-01-01T00:00:00Z\"", "\"started_at\":\"2026-01-01T00:00:00.001Z\"",
          LS_CHANGE_UPDATED, BIT(LS_F_STARTED_AT));
    check("\"completed_at\":null", "", LS_CHANGE_UPDATED, BIT(LS_F_COMPLETED_AT));
    check("\"created_at\":\"2026-01-01T00:00:00Z\"", "\"created_at\":\"2026-01-02T00:00:00Z\"",
          LS_CHANGE_UPDATED, BIT(LS_F_CREATED_AT));
}

static void test_timestamp_equivalence(void)
{
    check("\"started_at\":\"2026-11-27T14:09:48Z\",\"completed_at\":\"2026-11-27T15:00:00.5Z\"",
          "\"started_at\":\"2026-11-27T14:09:48.000Z\",\"completed_at\":\"2026-11-27T17:00:00.500+02:00\"",
          LS_CHANGE_NONE, 0);
    check("\"created_at\":\"2026-11-27T14:09:48.1234Z\"", "\"created_at\":\"2026-11-27T14:09:48.123Z\"",
          LS_CHANGE_NONE, 0);
}

static void test_updated_at_only(void)
{
    ls_diff_t d = diff("\"is_completed\":true,\"updated_at\":\"2026-01-01T00:00:00Z\"",
                       "\"is_completed\":true,\"updated_at\":\"2026-01-02T00:00:00Z\"");
    CU_ASSERT_EQUAL(d.type, LS_CHANGE_NONE);
    CU_ASSERT_EQUAL(d.changed_mask, 0);
    CU_ASSERT_EQUAL(d.stored_mask, BIT(LS_F_UPDATED_AT));
    d = diff("", "\"updated_at\":\"2026-01-02T00:00:00Z\"");
    CU_ASSERT_EQUAL(d.type, LS_CHANGE_NONE);
    CU_ASSERT_EQUAL(d.stored_mask, BIT(LS_F_UPDATED_AT));
    /* updated_at rides along with a real change but is never in changed_mask */
    d = diff("\"course_id\":\"a\",\"updated_at\":\"2026-01-01T00:00:00Z\"",
             "\"course_id\":\"b\",\"updated_at\":\"2026-01-02T00:00:00Z\"");
    CU_ASSERT_EQUAL(d.type, LS_CHANGE_UPDATED);
    CU_ASSERT_EQUAL(d.changed_mask, BIT(LS_F_COURSE_ID));
    CU_ASSERT_EQUAL(d.stored_mask, BIT(LS_F_COURSE_ID) | BIT(LS_F_UPDATED_AT));
    /* raw and unknown keys are not tracked */
    check("\"raw\":{\"a\":1},\"x\":1", "\"raw\":{\"a\":2},\"x\":2", LS_CHANGE_NONE, 0);
}

static void test_identical(void)
{
    const char *full = "\"course_id\":\"c\",\"student_id\":\"s\",\"content_id\":\"k\",\"is_completed\":true,"
                       "\"progress_percentage\":100,\"duration_minutes\":3,\"assigned_grade\":\"A\","
                       "\"started_at\":\"2026-01-01T00:00:00Z\",\"completed_at\":null,"
                       "\"created_at\":\"2026-01-01T00:00:00Z\",\"updated_at\":\"2026-01-01T00:00:00Z\"";
    ls_diff_t d = diff(full, full);
    CU_ASSERT_EQUAL(d.type, LS_CHANGE_NONE);
    CU_ASSERT_EQUAL(d.changed_mask, 0);
    CU_ASSERT_EQUAL(d.stored_mask, 0);
}

static void test_removed_and_null(void)
{
    ls_activity_t b = rec("\"course_id\":\"c\",\"updated_at\":\"2026-01-01T00:00:00Z\",\"is_completed\":null");
    ls_diff_t d;
    ls_diff_compute(&b, NULL, &d);
    CU_ASSERT_EQUAL(d.type, LS_CHANGE_REMOVED);
    CU_ASSERT_EQUAL(d.changed_mask, BIT(LS_F_COURSE_ID) | BIT(LS_F_IS_COMPLETED));
    CU_ASSERT_EQUAL(d.stored_mask, ALL);
    ls_diff_compute(NULL, NULL, &d);
    CU_ASSERT_EQUAL(d.type, LS_CHANGE_NONE);
    CU_ASSERT_EQUAL(d.changed_mask | d.stored_mask, 0);
}

static void test_type_names(void)
{
    CU_ASSERT_STRING_EQUAL(ls_change_type_name(LS_CHANGE_NONE), "none");
    CU_ASSERT_STRING_EQUAL(ls_change_type_name(LS_CHANGE_CREATED), "created");
    CU_ASSERT_STRING_EQUAL(ls_change_type_name(LS_CHANGE_COMPLETED), "completed");
    CU_ASSERT_STRING_EQUAL(ls_change_type_name(LS_CHANGE_REOPENED), "reopened");
    CU_ASSERT_STRING_EQUAL(ls_change_type_name(LS_CHANGE_PROGRESSED), "progressed");
    CU_ASSERT_STRING_EQUAL(ls_change_type_name(LS_CHANGE_REGRESSED), "regressed");
    CU_ASSERT_STRING_EQUAL(ls_change_type_name(LS_CHANGE_UPDATED), "updated");
    CU_ASSERT_STRING_EQUAL(ls_change_type_name(LS_CHANGE_REMOVED), "removed");
    CU_ASSERT_PTR_NOT_NULL(ls_change_type_name((ls_change_type_t)99));
}

static CU_TestInfo diff_tests[] = {
    {"created", test_created},
    {"completed", test_completed},
    {"reopened", test_reopened},
    {"is_completed absent/null/false", test_is_completed_presence},
    {"progressed / regressed", test_progress},
    {"updated, each field", test_updated_each_field},
    {"timestamp format equivalence", test_timestamp_equivalence},
    {"updated_at alone is no event", test_updated_at_only},
    {"identical records", test_identical},
    {"removed (after NULL)", test_removed_and_null},
    {"type names", test_type_names},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_diff", NULL, NULL, NULL, NULL, diff_tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
