/* test_activity.c - JSON normalization of LmsActivity records. */
#include "ls_activity.h"
#include "ls_err.h"
#include "ls_test.h"
#include "ls_time.h"

#include <math.h>
#include <string.h>

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (j == NULL)
        fprintf(stderr, "\nbad test json: %s: %s\n", text, je.text);
    return j;
}

/* Normalize text; returns the rc and fills *a and err. */
static int from_text(const char *text, ls_activity_t *a, char *err, size_t errsz)
{
    json_t *j = parse(text);
    if (j == NULL)
        return 99;
    err[0] = '\0';
    int rc = ls_activity_from_json(j, a, err, errsz);
    json_decref(j);
    return rc;
}

static void expect_reject(const char *text, const char *reason)
{
    ls_activity_t a;
    char err[256];
    int rc = from_text(text, &a, err, sizeof(err));
    CU_ASSERT_EQUAL(rc, LS_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, reason);
    CU_ASSERT_EQUAL(a.id[0], '\0'); /* cleared on failure */
    if (rc != LS_EINVAL || strcmp(err, reason) != 0)
        fprintf(stderr, "\ninput %s\n  got rc=%d \"%s\"\n  want \"%s\"\n", text, rc, err, reason);
}

static void test_full_record(void)
{
    ls_activity_t a;
    char err[256];
    int rc = from_text("{\"id\":\"act-1\",\"course_id\":\"c1\",\"student_id\":\"s1\","
                       "\"content_id\":\"k1\",\"is_completed\":true,\"progress_percentage\":40,"
                       "\"duration_minutes\":12.5,\"assigned_grade\":\"A-\","
                       "\"started_at\":\"2026-11-27T14:09:48Z\",\"completed_at\":\"2026-11-27T15:00:00.5Z\","
                       "\"created_at\":\"2026-11-27T16:09:48+02:00\",\"updated_at\":\"2026-11-28T00:00:00Z\","
                       "\"raw\":{\"x\":1},\"unknown_key\":[1,2]}",
                       &a, err, sizeof(err));
    CU_ASSERT_EQUAL_FATAL(rc, LS_OK);
    CU_ASSERT_STRING_EQUAL(a.id, "act-1");
    CU_ASSERT_STRING_EQUAL(a.course_id, "c1");
    CU_ASSERT_STRING_EQUAL(a.student_id, "s1");
    CU_ASSERT_STRING_EQUAL(a.content_id, "k1");
    CU_ASSERT_STRING_EQUAL(a.assigned_grade, "A-");
    CU_ASSERT(a.is_completed);
    CU_ASSERT_DOUBLE_EQUAL(a.progress_percentage, 40.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(a.duration_minutes, 12.5, 0.0);
    CU_ASSERT_EQUAL(a.started_at, INT64_C(1795788588000));
    CU_ASSERT_EQUAL(a.completed_at, INT64_C(1795791600500));
    CU_ASSERT_EQUAL(a.created_at, INT64_C(1795788588000));
    CU_ASSERT_EQUAL(a.updated_at, INT64_C(1795824000000));
    for (int f = 0; f < LS_F__COUNT; f++)
        CU_ASSERT_EQUAL(a.pres[f], LS_PRESENT);
}

static void test_absent_null_false(void)
{
    ls_activity_t a;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(from_text("{\"id\":\"x\",\"is_completed\":false,\"progress_percentage\":null}",
                                    &a, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(a.pres[LS_F_IS_COMPLETED], LS_PRESENT);
    CU_ASSERT_FALSE(a.is_completed);
    CU_ASSERT_EQUAL(a.pres[LS_F_PROGRESS], LS_NULL);
    CU_ASSERT_EQUAL(a.pres[LS_F_COURSE_ID], LS_ABSENT);
    CU_ASSERT_EQUAL(a.pres[LS_F_UPDATED_AT], LS_ABSENT);

    CU_ASSERT_EQUAL_FATAL(from_text("{\"id\":\"x\",\"is_completed\":null,\"completed_at\":null,"
                                    "\"course_id\":null,\"course_id\":\"\"}", &a, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(a.pres[LS_F_IS_COMPLETED], LS_NULL);
    CU_ASSERT_EQUAL(a.pres[LS_F_COMPLETED_AT], LS_NULL);
    /* duplicate keys: jansson keeps the last; an empty string is a present value */
    CU_ASSERT_EQUAL(a.pres[LS_F_COURSE_ID], LS_PRESENT);
    CU_ASSERT_STRING_EQUAL(a.course_id, "");

    CU_ASSERT_EQUAL_FATAL(from_text("{\"id\":\"only\"}", &a, err, sizeof(err)), LS_OK);
    for (int f = 0; f < LS_F__COUNT; f++)
        CU_ASSERT_EQUAL(a.pres[f], LS_ABSENT);
}

static void test_numbers(void)
{
    ls_activity_t a, b;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(from_text("{\"id\":\"x\",\"progress_percentage\":40}", &a, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL_FATAL(from_text("{\"id\":\"x\",\"progress_percentage\":40.0}", &b, err, sizeof(err)), LS_OK);
    CU_ASSERT(ls_activity_field_equal(&a, &b, LS_F_PROGRESS));
    CU_ASSERT_EQUAL_FATAL(from_text("{\"id\":\"x\",\"progress_percentage\":4e1}", &b, err, sizeof(err)), LS_OK);
    CU_ASSERT(ls_activity_field_equal(&a, &b, LS_F_PROGRESS));
    CU_ASSERT_EQUAL_FATAL(from_text("{\"id\":\"x\",\"progress_percentage\":-0.0}", &b, err, sizeof(err)), LS_OK);
    CU_ASSERT_FALSE(signbit(b.progress_percentage)); /* normalized to +0 */
    CU_ASSERT_EQUAL_FATAL(from_text("{\"id\":\"x\",\"duration_minutes\":1e308}", &b, err, sizeof(err)), LS_OK);
}

static void test_rejects(void)
{
    expect_reject("[1,2]", "record is not an object");
    expect_reject("\"id\"", "record is not an object");
    expect_reject("{\"course_id\":\"c\"}", "missing field 'id'");
    expect_reject("{\"id\":42}", "field 'id': expected string, got number");
    expect_reject("{\"id\":null}", "field 'id': expected string, got null");
    expect_reject("{\"id\":\"\"}", "field 'id': empty string");
    expect_reject("{\"id\":\"x\",\"progress_percentage\":\"40\"}",
                  "field 'progress_percentage': expected number, got string");
    expect_reject("{\"id\":\"x\",\"duration_minutes\":true}",
                  "field 'duration_minutes': expected number, got boolean");
    expect_reject("{\"id\":\"x\",\"is_completed\":1}", "field 'is_completed': expected boolean, got number");
    expect_reject("{\"id\":\"x\",\"is_completed\":\"true\"}",
                  "field 'is_completed': expected boolean, got string");
    expect_reject("{\"id\":\"x\",\"course_id\":7}", "field 'course_id': expected string, got number");
    expect_reject("{\"id\":\"x\",\"student_id\":{}}", "field 'student_id': expected string, got object");
    expect_reject("{\"id\":\"x\",\"assigned_grade\":[]}", "field 'assigned_grade': expected string, got array");
    expect_reject("{\"id\":\"x\",\"started_at\":1700000000}", "field 'started_at': expected string, got number");
    expect_reject("{\"id\":\"x\",\"completed_at\":\"yesterday\"}",
                  "field 'completed_at': invalid timestamp \"yesterday\"");
    expect_reject("{\"id\":\"x\",\"created_at\":\"2026-11-27\"}",
                  "field 'created_at': invalid timestamp \"2026-11-27\"");
    expect_reject("{\"id\":\"x\",\"updated_at\":\"2026-11-27T14:09:48Z\\u0000x\"}",
                  "field 'updated_at': invalid timestamp \"2026-11-27T14:09:48Z\"");
    expect_reject("{\"id\":\"x\",\"content_id\":\"a\\u0000b\"}", "field 'content_id': contains a NUL byte");
}

static void test_reason_quoting(void)
{
    /* long values are cut at 40 bytes; quotes and control characters replaced */
    expect_reject("{\"id\":\"x\",\"completed_at\":\"0123456789012345678901234567890123456789TAIL\"}",
                  "field 'completed_at': invalid timestamp \"0123456789012345678901234567890123456789...\"");
    expect_reject("{\"id\":\"x\",\"started_at\":\"a\\\"b\\nc\"}",
                  "field 'started_at': invalid timestamp \"a?b?c\"");
    /* a cut never splits a UTF-8 sequence: 39 ASCII bytes then a 2-byte e-acute */
    expect_reject("{\"id\":\"x\",\"started_at\":\"012345678901234567890123456789012345678\\u00e9Z\"}",
                  "field 'started_at': invalid timestamp \"012345678901234567890123456789012345678...\"");
    /* a tiny err buffer is truncated, never overrun */
    ls_activity_t a;
    char err[8];
    CU_ASSERT_EQUAL(from_text("{\"id\":7}", &a, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "field '");
    json_t *j = parse("{}");
    CU_ASSERT_EQUAL(ls_activity_from_json(j, &a, NULL, 0), LS_EINVAL);
    json_decref(j);
}

static void test_string_length(void)
{
    char big[300], text[1400];
    ls_activity_t a;
    char err[256];
    memset(big, 'a', 255);
    big[255] = '\0';
    snprintf(text, sizeof(text), "{\"id\":\"%s\",\"course_id\":\"%s\"}", big, big);
    CU_ASSERT_EQUAL(from_text(text, &a, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(strlen(a.id), 255);
    CU_ASSERT_EQUAL(strlen(a.course_id), 255);
    big[255] = 'a';
    big[256] = '\0';
    snprintf(text, sizeof(text), "{\"id\":\"x\",\"course_id\":\"%s\"}", big);
    expect_reject(text, "field 'course_id': longer than 255 bytes");
    snprintf(text, sizeof(text), "{\"id\":\"%s\"}", big);
    expect_reject(text, "field 'id': longer than 255 bytes");
}

static void test_to_json(void)
{
    ls_activity_t a;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(from_text("{\"id\":\"act-1\",\"is_completed\":false,\"progress_percentage\":40.0,"
                                    "\"duration_minutes\":12.5,\"assigned_grade\":null,"
                                    "\"started_at\":\"2026-11-27T16:09:48.000+02:00\","
                                    "\"completed_at\":\"2026-11-27T14:09:48.1239Z\",\"raw\":{}}",
                                    &a, err, sizeof(err)), LS_OK);
    json_t *j = ls_activity_to_json(&a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    CU_ASSERT_STRING_EQUAL(s, "{\"assigned_grade\":null,\"completed_at\":\"2026-11-27T14:09:48.123Z\","
                              "\"duration_minutes\":12.5,\"id\":\"act-1\",\"is_completed\":false,"
                              "\"progress_percentage\":40,\"started_at\":\"2026-11-27T14:09:48Z\"}");
    free(s);
    /* to_json output normalizes back to an equal record */
    ls_activity_t b;
    CU_ASSERT_EQUAL(ls_activity_from_json(j, &b, err, sizeof(err)), LS_OK);
    for (int f = 0; f < LS_F__COUNT; f++)
        CU_ASSERT(ls_activity_field_equal(&a, &b, (ls_field_t)f));
    json_decref(j);
}

static void test_to_json_numbers(void)
{
    ls_activity_t a;
    ls_activity_clear(&a);
    strcpy(a.id, "n");
    a.pres[LS_F_PROGRESS] = a.pres[LS_F_DURATION] = LS_PRESENT;
    a.progress_percentage = 9007199254740992.0; /* 2^53: still an integer */
    a.duration_minutes = 1e300;                 /* integral but beyond 2^53: real */
    json_t *j = ls_activity_to_json(&a);
    CU_ASSERT(json_is_integer(json_object_get(j, "progress_percentage")));
    CU_ASSERT(json_is_real(json_object_get(j, "duration_minutes")));
    json_decref(j);
    a.progress_percentage = -3.0;
    a.duration_minutes = 0.25;
    j = ls_activity_to_json(&a);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "progress_percentage")), -3);
    CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(j, "duration_minutes")), 0.25, 0.0);
    json_decref(j);
}

static void test_field_equal(void)
{
    ls_activity_t a, b;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(from_text("{\"id\":\"x\",\"started_at\":\"2026-11-27T14:09:48Z\",\"is_completed\":false,"
                                    "\"course_id\":\"c\",\"assigned_grade\":null}", &a, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL_FATAL(from_text("{\"id\":\"y\",\"started_at\":\"2026-11-27T14:09:48.000Z\","
                                    "\"course_id\":\"c\",\"assigned_grade\":null}", &b, err, sizeof(err)), LS_OK);
    CU_ASSERT(ls_activity_field_equal(&a, &b, LS_F_STARTED_AT));
    CU_ASSERT(ls_activity_field_equal(&a, &b, LS_F_COURSE_ID));
    CU_ASSERT(ls_activity_field_equal(&a, &b, LS_F_ASSIGNED_GRADE)); /* null == null */
    CU_ASSERT(ls_activity_field_equal(&a, &b, LS_F_UPDATED_AT));     /* absent == absent */
    CU_ASSERT_FALSE(ls_activity_field_equal(&a, &b, LS_F_IS_COMPLETED)); /* false != absent */
    strcpy(b.course_id, "C");
    CU_ASSERT_FALSE(ls_activity_field_equal(&a, &b, LS_F_COURSE_ID));
    b.pres[LS_F_ASSIGNED_GRADE] = LS_ABSENT;
    CU_ASSERT_FALSE(ls_activity_field_equal(&a, &b, LS_F_ASSIGNED_GRADE)); /* null != absent */
    CU_ASSERT_FALSE(ls_activity_field_equal(&a, &b, LS_F__COUNT));
}

static void test_field_names(void)
{
    static const char *names[LS_F__COUNT] = {
        "course_id", "student_id", "content_id", "is_completed", "progress_percentage",
        "duration_minutes", "assigned_grade", "started_at", "completed_at", "created_at",
        "updated_at"};
    for (int f = 0; f < LS_F__COUNT; f++)
        CU_ASSERT_STRING_EQUAL(ls_field_name((ls_field_t)f), names[f]);
    CU_ASSERT_PTR_NULL(ls_field_name(LS_F__COUNT));
    CU_ASSERT_PTR_NULL(ls_field_name((ls_field_t)-1));
}

static CU_TestInfo activity_tests[] = {
    {"full record", test_full_record},
    {"absent, null and false", test_absent_null_false},
    {"numbers", test_numbers},
    {"rejects with reason", test_rejects},
    {"reason quoting", test_reason_quoting},
    {"string length limit", test_string_length},
    {"to_json", test_to_json},
    {"to_json numbers", test_to_json_numbers},
    {"field_equal", test_field_equal},
    {"field names", test_field_names},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_activity", NULL, NULL, NULL, NULL, activity_tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
