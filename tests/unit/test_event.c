/* test_event.c - CloudEvents attributes, deterministic ids, JSON payload. */
#include "ls_activity.h"
#include "ls_diff.h"
#include "ls_err.h"
#include "ls_event.h"
#include "ls_hash.h"
#include "ls_state.h"
#include "ls_test.h"

#include <ctype.h>
#include <inttypes.h>
#include <string.h>

static ls_activity_t rec(const char *body)
{
    char text[1024], err[256];
    ls_activity_t a;
    snprintf(text, sizeof(text), "{%s}", body);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    CU_ASSERT_PTR_NOT_NULL(j);
    CU_ASSERT_EQUAL(ls_activity_from_json(j, &a, err, sizeof(err)), LS_OK);
    json_decref(j);
    return a;
}

static const char *BEFORE = "\"id\":\"act-1\",\"student_id\":\"stu-9\",\"course_id\":\"crs-2\","
                            "\"is_completed\":false,\"progress_percentage\":40,"
                            "\"updated_at\":\"2026-11-27T14:00:00Z\"";
static const char *AFTER = "\"id\":\"act-1\",\"student_id\":\"stu-9\",\"course_id\":\"crs-2\","
                           "\"is_completed\":true,\"progress_percentage\":100.0,"
                           "\"completed_at\":\"2026-11-27T14:09:48.120Z\","
                           "\"updated_at\":\"2026-11-27T14:09:50Z\"";

static ls_event_ctx_t ctx_default(void)
{
    ls_event_ctx_t c = {"conn-7", "moodle", "tenant-42", "full", "job-1", INT64_C(1795788600000)};
    return c;
}

/* Build an event; asserts success and returns the parsed value (new reference). */
static json_t *build(const ls_event_ctx_t *c, const ls_activity_t *b, const ls_activity_t *a,
                     ls_event_t *ev)
{
    ls_diff_t d;
    char err[256] = "";
    ls_diff_compute(b, a, &d);
    int rc = ls_event_build(c, b, a, &d, ev, err, sizeof(err));
    CU_ASSERT_EQUAL(rc, LS_OK);
    if (rc != LS_OK) {
        fprintf(stderr, "\nls_event_build: %s\n", err);
        return NULL;
    }
    CU_ASSERT_EQUAL(ev->value_len, strlen(ev->value));
    json_error_t je;
    json_t *v = json_loads(ev->value, 0, &je);
    CU_ASSERT_PTR_NOT_NULL(v);
    return v;
}

static void id_of(const ls_activity_t *b, const ls_activity_t *a, const char *conn, char *out)
{
    uint8_t pb[LS_STATE_MAX], pa[LS_STATE_MAX];
    size_t lb = 0, la = 0;
    if (b != NULL) {
        CU_ASSERT_EQUAL(ls_state_pack(b, pb, sizeof(pb), &lb), LS_OK);
    }
    if (a != NULL) {
        CU_ASSERT_EQUAL(ls_state_pack(a, pa, sizeof(pa), &la), LS_OK);
    }
    ls_event_id(conn, (a != NULL ? a : b)->id, b ? pb : NULL, lb, a ? pa : NULL, la, out);
}

static void put_part(uint8_t *buf, size_t *n, const void *data, uint32_t len)
{
    for (int i = 0; i < 4; i++)
        buf[(*n)++] = (uint8_t)(len >> (8 * i));
    if (len != UINT32_C(0xFFFFFFFF)) {
        memcpy(buf + *n, data, len);
        *n += len;
    }
}

/* The documented algorithm, recomputed from scratch over a flat buffer. */
static void test_id_algorithm(void)
{
    const uint8_t after[] = {1, 0, 0, 0, 0};
    uint8_t buf[64];
    size_t n = 0;
    put_part(buf, &n, "conn", 4);
    put_part(buf, &n, "a1", 2);
    put_part(buf, &n, NULL, UINT32_C(0xFFFFFFFF));
    put_part(buf, &n, after, sizeof(after));
    char want[40], got[LS_EVENT_ID_LEN + 1];
    snprintf(want, sizeof(want), "%016" PRIx64 "%016" PRIx64, ls_hash64(buf, n, LS_HASH_SEED),
             ls_hash64(buf, n, LS_HASH_SEED ^ UINT64_C(0x9e3779b97f4a7c15)));
    ls_event_id("conn", "a1", NULL, 0, after, sizeof(after), got);
    CU_ASSERT_STRING_EQUAL(got, want);
    CU_ASSERT_EQUAL(strlen(got), LS_EVENT_ID_LEN);
    for (int i = 0; i < LS_EVENT_ID_LEN; i++)
        CU_ASSERT(isxdigit((unsigned char)got[i]) && !isupper((unsigned char)got[i]));
    /* NULL and 0-length both mean "no state" */
    char got2[LS_EVENT_ID_LEN + 1];
    ls_event_id("conn", "a1", after, 0, after, sizeof(after), got2);
    CU_ASSERT_STRING_EQUAL(got, got2);
}

static void test_id_properties(void)
{
    ls_activity_t b = rec(BEFORE), a = rec(AFTER), b2 = rec(BEFORE);
    char i1[LS_EVENT_ID_LEN + 1], i2[LS_EVENT_ID_LEN + 1];
    id_of(&b, &a, "conn-7", i1);
    id_of(&b, &a, "conn-7", i2);
    CU_ASSERT_STRING_EQUAL(i1, i2);
    b2.progress_percentage = 41;
    id_of(&b2, &a, "conn-7", i2);
    CU_ASSERT_STRING_NOT_EQUAL(i1, i2);          /* different before */
    id_of(NULL, &a, "conn-7", i2);
    CU_ASSERT_STRING_NOT_EQUAL(i1, i2);          /* created vs changed */
    id_of(&b, &a, "conn-8", i2);
    CU_ASSERT_STRING_NOT_EQUAL(i1, i2);          /* different connection */
    id_of(&a, &b, "conn-7", i2);
    CU_ASSERT_STRING_NOT_EQUAL(i1, i2);          /* direction matters */
    /* length prefixes keep the parts apart */
    ls_event_id("ab", "c", NULL, 0, NULL, 0, i1);
    ls_event_id("a", "bc", NULL, 0, NULL, 0, i2);
    CU_ASSERT_STRING_NOT_EQUAL(i1, i2);
    const uint8_t s[] = {1, 0, 0, 0, 0};
    ls_event_id("a", "b", s, sizeof(s), NULL, 0, i1);
    ls_event_id("a", "b", NULL, 0, s, sizeof(s), i2);
    CU_ASSERT_STRING_NOT_EQUAL(i1, i2);
}

static void test_id_independent_of_observation(void)
{
    ls_activity_t b = rec(BEFORE), a = rec(AFTER);
    ls_event_ctx_t c1 = ctx_default(), c2 = ctx_default();
    c2.observed_at_ms += 3600000;
    c2.job_id = NULL;
    c2.mode = "webhook";
    c2.integration_type = "canvas";
    c2.external_xref = NULL;
    ls_event_t e1, e2;
    json_t *v1 = build(&c1, &b, &a, &e1), *v2 = build(&c2, &b, &a, &e2);
    CU_ASSERT_STRING_EQUAL(e1.id, e2.id);
    char direct[LS_EVENT_ID_LEN + 1];
    id_of(&b, &a, "conn-7", direct);
    CU_ASSERT_STRING_EQUAL(e1.id, direct);
    CU_ASSERT_STRING_NOT_EQUAL(e1.time, e2.time);
    json_decref(v1);
    json_decref(v2);
    ls_event_release(&e1);
    ls_event_release(&e2);
}

static void check_string(json_t *o, const char *key, const char *want)
{
    json_t *v = json_object_get(o, key);
    CU_ASSERT(json_is_string(v));
    if (json_is_string(v)) {
        CU_ASSERT_STRING_EQUAL(json_string_value(v), want);
    } else {
        fprintf(stderr, "\nkey '%s' is not a string\n", key);
    }
}

static void test_completed_event(void)
{
    ls_activity_t b = rec(BEFORE), a = rec(AFTER);
    ls_event_ctx_t c = ctx_default();
    ls_event_t ev;
    json_t *v = build(&c, &b, &a, &ev);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_STRING_EQUAL(ev.type, "lms.activity.completed");
    CU_ASSERT_STRING_EQUAL(ev.source, "/connections/conn-7");
    CU_ASSERT_STRING_EQUAL(ev.subject, "activities/act-1");
    CU_ASSERT_STRING_EQUAL(ev.time, "2026-11-27T14:10:00Z");
    CU_ASSERT_STRING_EQUAL(ev.key, "conn-7/stu-9");

    CU_ASSERT_EQUAL(json_object_size(v), 9);
    check_string(v, "connection_id", "conn-7");
    check_string(v, "integration_type", "moodle");
    check_string(v, "tenant", "tenant-42");
    check_string(v, "activity_id", "act-1");
    check_string(v, "type", "completed");
    json_t *jb = json_object_get(v, "before"), *ja = json_object_get(v, "after");
    CU_ASSERT(json_is_object(jb));
    CU_ASSERT(json_is_object(ja));
    CU_ASSERT(json_equal(json_object_get(jb, "is_completed"), json_false()));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(jb, "progress_percentage")), 40);
    CU_ASSERT(json_equal(json_object_get(ja, "is_completed"), json_true()));
    CU_ASSERT(json_is_integer(json_object_get(ja, "progress_percentage"))); /* 100.0 -> 100 */
    check_string(ja, "completed_at", "2026-11-27T14:09:48.120Z");
    check_string(ja, "id", "act-1");
    CU_ASSERT_PTR_NULL(json_object_get(jb, "completed_at")); /* absent stays absent */
    json_t *ch = json_object_get(v, "changed");
    CU_ASSERT_EQUAL_FATAL(json_array_size(ch), 3);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(ch, 0)), "is_completed");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(ch, 1)), "progress_percentage");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(ch, 2)), "completed_at");
    json_t *ob = json_object_get(v, "observed");
    CU_ASSERT_EQUAL(json_object_size(ob), 3);
    check_string(ob, "mode", "full");
    check_string(ob, "at", "2026-11-27T14:10:00Z");
    check_string(ob, "job_id", "job-1");
    json_decref(v);
    ls_event_release(&ev);
    CU_ASSERT_PTR_NULL(ev.value);
    ls_event_release(&ev); /* idempotent */
}

static void test_created_event_nulls(void)
{
    ls_activity_t a = rec("\"id\":\"act-2\",\"progress_percentage\":null");
    ls_event_ctx_t c = ctx_default();
    c.integration_type = NULL;
    c.external_xref = NULL;
    c.job_id = NULL;
    c.mode = "incremental";
    ls_event_t ev;
    json_t *v = build(&c, NULL, &a, &ev);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_STRING_EQUAL(ev.type, "lms.activity.created");
    CU_ASSERT_STRING_EQUAL(ev.key, "conn-7/activity/act-2"); /* no student */
    CU_ASSERT(json_is_null(json_object_get(v, "before")));
    CU_ASSERT(json_is_null(json_object_get(v, "integration_type")));
    CU_ASSERT(json_is_null(json_object_get(v, "tenant")));
    check_string(v, "type", "created");
    json_t *ja = json_object_get(v, "after");
    CU_ASSERT(json_is_null(json_object_get(ja, "progress_percentage")));
    json_t *ch = json_object_get(v, "changed");
    CU_ASSERT_EQUAL(json_array_size(ch), 1);
    json_t *ob = json_object_get(v, "observed");
    CU_ASSERT(json_is_null(json_object_get(ob, "job_id")));
    check_string(ob, "mode", "incremental");
    json_decref(v);
    ls_event_release(&ev);
}

static void test_removed_event(void)
{
    ls_activity_t b = rec(BEFORE);
    ls_event_ctx_t c = ctx_default();
    ls_diff_t d = {LS_CHANGE_REMOVED, 0, 0};
    ls_event_t ev;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(ls_event_build(&c, &b, NULL, &d, &ev, err, sizeof(err)), LS_OK);
    CU_ASSERT_STRING_EQUAL(ev.type, "lms.activity.removed");
    CU_ASSERT_STRING_EQUAL(ev.subject, "activities/act-1");
    CU_ASSERT_STRING_EQUAL(ev.key, "conn-7/stu-9"); /* student from before */
    json_t *v = json_loads(ev.value, 0, NULL);
    CU_ASSERT(json_is_object(json_object_get(v, "before")));
    CU_ASSERT(json_is_null(json_object_get(v, "after")));
    CU_ASSERT_EQUAL(json_array_size(json_object_get(v, "changed")), 0);
    check_string(v, "activity_id", "act-1");
    char direct[LS_EVENT_ID_LEN + 1];
    id_of(&b, NULL, "conn-7", direct);
    CU_ASSERT_STRING_EQUAL(ev.id, direct);
    json_decref(v);
    ls_event_release(&ev);
}

static void test_deterministic_bytes(void)
{
    ls_activity_t b = rec(BEFORE), a = rec(AFTER);
    ls_event_ctx_t c = ctx_default();
    ls_event_t e1, e2;
    json_t *v1 = build(&c, &b, &a, &e1), *v2 = build(&c, &b, &a, &e2);
    CU_ASSERT_STRING_EQUAL(e1.value, e2.value);
    CU_ASSERT_STRING_EQUAL(e1.key, e2.key);
    /* compact and key-sorted */
    CU_ASSERT_PTR_NULL(strchr(e1.value, '\n'));
    const char *head = "{\"activity_id\":\"act-1\",\"after\":{";
    CU_ASSERT(strncmp(e1.value, head, strlen(head)) == 0);
    json_decref(v1);
    json_decref(v2);
    ls_event_release(&e1);
    ls_event_release(&e2);
}

static void expect_build_fails(const ls_event_ctx_t *c, const ls_activity_t *b,
                               const ls_activity_t *a, ls_change_type_t t, const char *substr)
{
    ls_diff_t d = {t, 0, 0};
    ls_event_t ev;
    char err[256] = "";
    int rc = ls_event_build(c, b, a, &d, &ev, err, sizeof(err));
    CU_ASSERT_EQUAL(rc, LS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, substr));
    CU_ASSERT_PTR_NULL(ev.value);
    if (rc != LS_EINVAL || strstr(err, substr) == NULL)
        fprintf(stderr, "\nrc=%d err=\"%s\", wanted \"%s\"\n", rc, err, substr);
}

static void test_build_errors(void)
{
    ls_activity_t b = rec(BEFORE), a = rec(AFTER), other = rec("\"id\":\"act-X\"");
    ls_event_ctx_t c = ctx_default();
    expect_build_fails(&c, &b, &a, LS_CHANGE_NONE, "no change");
    expect_build_fails(&c, &b, NULL, LS_CHANGE_UPDATED, "missing after");
    expect_build_fails(&c, NULL, NULL, LS_CHANGE_REMOVED, "missing after");
    expect_build_fails(&c, &b, &other, LS_CHANGE_UPDATED, "ids differ");
    c.mode = "poll";
    expect_build_fails(&c, &b, &a, LS_CHANGE_UPDATED, "mode");
    c = ctx_default();
    c.connection_id = NULL;
    expect_build_fails(&c, &b, &a, LS_CHANGE_UPDATED, "connection");
    c.connection_id = "";
    expect_build_fails(&c, &b, &a, LS_CHANGE_UPDATED, "connection");

    char longconn[400];
    memset(longconn, 'c', sizeof(longconn) - 1);
    longconn[sizeof(longconn) - 1] = '\0';
    c = ctx_default();
    c.connection_id = longconn;
    expect_build_fails(&c, &b, &a, LS_CHANGE_UPDATED, "source longer than");
    c.integration_type = "bad\xff utf8";
    c.connection_id = "conn-7";
    expect_build_fails(&c, &b, &a, LS_CHANGE_UPDATED, "cannot encode");
}

static void test_long_ids_fit(void)
{
    /* maximum-length activity and student ids with a realistic connection id */
    char body[900], id[LS_STR_MAX + 1], stu[LS_STR_MAX + 1];
    memset(id, 'i', LS_STR_MAX);
    id[LS_STR_MAX] = '\0';
    memset(stu, 's', LS_STR_MAX);
    stu[LS_STR_MAX] = '\0';
    snprintf(body, sizeof(body), "\"id\":\"%s\",\"student_id\":\"%s\"", id, stu);
    ls_activity_t a = rec(body);
    ls_event_ctx_t c = ctx_default();
    c.connection_id = "6650f3a2b1c4d5e6f7a8b9c0";
    ls_event_t ev;
    json_t *v = build(&c, NULL, &a, &ev);
    CU_ASSERT_EQUAL(strlen(ev.subject), 11 + LS_STR_MAX);
    CU_ASSERT_EQUAL(strlen(ev.key), 24 + 1 + LS_STR_MAX);
    json_decref(v);
    ls_event_release(&ev);
}

static CU_TestInfo event_tests[] = {
    {"id algorithm", test_id_algorithm},
    {"id properties", test_id_properties},
    {"id independent of observation", test_id_independent_of_observation},
    {"completed event shape", test_completed_event},
    {"created event with nulls", test_created_event_nulls},
    {"removed event", test_removed_event},
    {"deterministic bytes", test_deterministic_bytes},
    {"build errors", test_build_errors},
    {"maximum-length ids fit", test_long_ids_fit},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_event", NULL, NULL, NULL, NULL, event_tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
