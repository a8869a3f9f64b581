/*
 * Unit tests of lmsync-export's rows (export_row.c): CSV quoting (RFC 4180),
 * absent vs null cells, JSON lines, column names, filters.
 */
#define _DEFAULT_SOURCE /* open_memstream */
#include "export_row.h"
#include "ls_test.h"

#include <stdlib.h>
#include <string.h>

static char *buf;
static size_t len;

static FILE *mem(void)
{
    free(buf);
    buf = NULL;
    FILE *f = open_memstream(&buf, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    return f;
}

static json_t *parse(const char *s)
{
    json_t *v = json_loads(s, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    return v;
}

static void test_csv_field(void)
{
    FILE *f = mem();
    export_csv_field(f, "plain", 5);
    fputc('|', f);
    export_csv_field(f, "a,b", 3);
    fputc('|', f);
    export_csv_field(f, "say \"hi\"", 8);
    fputc('|', f);
    export_csv_field(f, "two\r\nlines", 10);
    fclose(f);
    CU_ASSERT_STRING_EQUAL(buf, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\r\nlines\"");
}

static void test_enrollment_csv(void)
{
    FILE *f = mem();
    CU_ASSERT_EQUAL(export_header(f, EXPORT_ENROLLMENT, EXPORT_CSV), 0);
    json_t *v = parse("{\"connection_id\":\"c1\",\"tenant\":null,\"integration_type\":\"moodle\","
                      "\"student_id\":\"s,1\",\"course_id\":\"k1\",\"activities\":4,\"completed\":3,"
                      "\"completion_share\":0.75,\"progress_mean\":62.5,\"last_activity_at\":\"2026-11-27T08:15:00Z\"}");
    CU_ASSERT_EQUAL(export_row(f, EXPORT_ENROLLMENT, EXPORT_CSV, v), 0);
    json_decref(v);
    fclose(f);
    CU_ASSERT_STRING_EQUAL(buf,
                           "connection_id,tenant,integration_type,student_id,course_id,course_name,activities,"
                           "activities_completed,completion_share,completed_at,progress_mean,progress_min,"
                           "duration_minutes,first_started_at,last_activity_at\r\n"
                           "c1,,moodle,\"s,1\",k1,,4,3,0.75,,62.5,,,,2026-11-27T08:15:00Z\r\n");
}

static void test_activity_jsonl(void)
{
    FILE *f = mem();
    CU_ASSERT_EQUAL(export_header(f, EXPORT_ACTIVITY, EXPORT_JSONL), 0);
    json_t *v = parse("{\"connection_id\":\"c1\",\"tenant\":\"acme\",\"id\":\"a1\",\"is_completed\":false,"
                      "\"progress_percentage\":null,\"raw\":{\"x\":1}}");
    CU_ASSERT_EQUAL(export_row(f, EXPORT_ACTIVITY, EXPORT_JSONL, v), 0);
    json_decref(v);
    fclose(f);
    /* absent fields are missing, null stays null, unknown keys are not carried, id is activity_id */
    CU_ASSERT_STRING_EQUAL(buf, "{\"connection_id\":\"c1\",\"tenant\":\"acme\",\"activity_id\":\"a1\","
                                "\"is_completed\":false,\"progress_percentage\":null}\n");
}

static void test_filters(void)
{
    export_filter_t any = {NULL, NULL, NULL}, conn = {"conn-1", NULL, NULL}, tc = {NULL, "acme", "k1"};
    CU_ASSERT_TRUE(export_key_matches(&any, "conn-9/a", 8));
    CU_ASSERT_TRUE(export_key_matches(&conn, "conn-1/a", 8));
    CU_ASSERT_FALSE(export_key_matches(&conn, "conn-10/a", 9)); /* a prefix of another id */
    CU_ASSERT_FALSE(export_key_matches(&conn, "conn-1", 6));
    CU_ASSERT_FALSE(export_key_matches(&conn, NULL, 0));
    json_t *v = parse("{\"tenant\":\"acme\",\"course_id\":\"k1\"}");
    json_t *w = parse("{\"tenant\":null,\"course_id\":\"k1\"}");
    CU_ASSERT_TRUE(export_value_matches(&tc, v));
    CU_ASSERT_FALSE(export_value_matches(&tc, w));
    CU_ASSERT_TRUE(export_value_matches(&any, w));
    json_decref(v);
    json_decref(w);
}

static void test_topics(void)
{
    CU_ASSERT_STRING_EQUAL(export_topic_suffix(EXPORT_ENROLLMENT), "progress.enrollments");
    CU_ASSERT_STRING_EQUAL(export_topic_suffix(EXPORT_ACTIVITY), "activity.current");
}

static CU_TestInfo tests[] = {
    {"CSV quoting (RFC 4180)", test_csv_field},
    {"enrollment rows as CSV", test_enrollment_csv},
    {"activity rows as JSON lines", test_activity_jsonl},
    {"connection, tenant and course filters", test_filters},
    {"topics", test_topics},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"export", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
