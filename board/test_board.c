/*
 * test_board.c - unit tests of lmsync-board's pure parts: the course table
 * and its JSON, the change feed, SSE framing and the client queue.
 */
#include "board_sse.h"
#include "board_table.h"
#include "ls_err.h"
#include "ls_test.h"

#include <stdlib.h>
#include <string.h>

static char why[256];

/* Apply a course record (value NULL = tombstone); the event's JSON text, or NULL, into *text. */
static int course(board_table_t *t, const char *key, const char *value, char **text)
{
    const char *name = NULL;
    json_t *ev = NULL;
    int rc = board_table_course(t, key, strlen(key), value, value ? strlen(value) : 0, &name, &ev, why, sizeof(why));
    if (text)
        *text = ev ? json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    CU_ASSERT_EQUAL(ev != NULL, rc == 1);
    json_decref(ev);
    return rc;
}

static char *dump(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(v);
    return s;
}

#define REC(conn, crs, learners, done) \
    "{\"connection_id\":\"" conn "\",\"course_id\":\"" crs "\",\"integration_type\":\"moodle\",\"tenant\":null," \
    "\"learners\":" #learners ",\"learners_completed\":" #done ",\"learners_idle\":0,\"idle_days\":14}"

static void test_courses_sorted_and_replaced(void)
{
    board_table_t *t = board_table_new(5);
    CU_ASSERT_EQUAL(course(t, "conn-1-2/c", REC("conn-1-2", "c", 3, 1), NULL), 1);
    CU_ASSERT_EQUAL(course(t, "conn-1/b", REC("conn-1", "b", 2, 0), NULL), 1);
    CU_ASSERT_EQUAL(course(t, "conn-1/a", REC("conn-1", "a", 4, 4), NULL), 1);
    char *ev;
    CU_ASSERT_EQUAL(course(t, "conn-1/b", REC("conn-1", "b", 5, 2), &ev), 1); /* the latest value wins */
    CU_ASSERT_PTR_NOT_NULL(strstr(ev, "\"connection\":{\"changes\":0,\"connection_id\":\"conn-1\",\"courses\":2,"
                                      "\"integration_type\":\"moodle\",\"tenant\":null}"));
    free(ev);
    char *s = dump(board_table_courses(t));
    /* by (connection_id, course_id): "conn-1" before "conn-1-2", though the key "conn-1-2/c" sorts before "conn-1/a" */
    const char *a = strstr(s, "\"course_id\":\"a\""), *b = strstr(s, "\"course_id\":\"b\""), *c = strstr(s, "\"course_id\":\"c\"");
    CU_ASSERT_TRUE(a && b && c && a < b && b < c);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"course_id\":\"b\",\"idle_days\":14,\"integration_type\":\"moodle\",\"learners\":5,"
                                     "\"learners_completed\":2"));
    free(s);
    board_stats_t st;
    board_table_stats(t, &st);
    CU_ASSERT_EQUAL(st.courses, 3);
    CU_ASSERT_EQUAL(st.connections, 2);
    board_table_destroy(t);
}

/* Named workspaces: the key holds the qualified connection; equal ids of two workspaces stay two connections. */
static void test_workspace_courses(void)
{
    board_table_t *t = board_table_new(5);
    const char *eu = "{\"connection_id\":\"conn-1\",\"course_id\":\"a\",\"integration_type\":\"moodle\","
                     "\"tenant\":null,\"workspace\":\"eu\",\"learners\":2,\"learners_completed\":1,"
                     "\"learners_idle\":0,\"idle_days\":14}";
    CU_ASSERT_EQUAL(course(t, "conn-1/a", REC("conn-1", "a", 4, 4), NULL), 1);
    CU_ASSERT_EQUAL(course(t, "eu:conn-1/a", eu, NULL), 1);
    CU_ASSERT_EQUAL(course(t, "conn-1/a", eu, NULL), LS_EINVAL); /* the key must name the workspace */
    board_stats_t st;
    board_table_stats(t, &st);
    CU_ASSERT_EQUAL(st.courses, 2);
    CU_ASSERT_EQUAL(st.connections, 2);
    CU_ASSERT_EQUAL(course(t, "eu:conn-1/a", NULL, NULL), 1);
    board_table_stats(t, &st);
    CU_ASSERT_EQUAL(st.courses, 1);
    board_table_destroy(t);
}

static void test_tombstone(void)
{
    board_table_t *t = board_table_new(5);
    course(t, "conn-1/a", REC("conn-1", "a", 4, 4), NULL);
    course(t, "conn-1/b", REC("conn-1", "b", 2, 1), NULL);
    char *ev;
    CU_ASSERT_EQUAL(course(t, "conn-1/a", NULL, &ev), 1);
    CU_ASSERT_STRING_EQUAL(ev, "{\"connection\":{\"changes\":0,\"connection_id\":\"conn-1\",\"courses\":1,"
                               "\"integration_type\":\"moodle\",\"tenant\":null},"
                               "\"removed\":{\"connection_id\":\"conn-1\",\"course_id\":\"a\"}}");
    free(ev);
    CU_ASSERT_EQUAL(course(t, "conn-1/a", NULL, NULL), 0);     /* already gone: nothing to push */
    CU_ASSERT_EQUAL(course(t, "conn-9/zz", NULL, NULL), 0);
    char *s = dump(board_table_courses(t));
    CU_ASSERT_PTR_NULL(strstr(s, "\"course_id\":\"a\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"course_id\":\"b\""));
    free(s);
    board_table_destroy(t);
}

/* A field nobody reported stays absent: never 0 in what the page gets. */
static void test_absent_stays_absent(void)
{
    board_table_t *t = board_table_new(5);
    course(t, "c/x", "{\"connection_id\":\"c\",\"course_id\":\"x\",\"learners\":0,\"learners_completed\":0}", NULL);
    course(t, "c/y", "{\"connection_id\":\"c\",\"course_id\":\"y\",\"learners\":2,\"learners_completed\":1,"
                     "\"completion_rate\":0.5,\"progress_mean\":60.5,\"course_name\":\"Safety 101\"}", NULL);
    char *s = dump(board_table_courses(t));
    CU_ASSERT_STRING_EQUAL(s, "[{\"connection_id\":\"c\",\"course_id\":\"x\",\"learners\":0,\"learners_completed\":0},"
                              "{\"completion_rate\":0.5,\"connection_id\":\"c\",\"course_id\":\"y\",\"course_name\":"
                              "\"Safety 101\",\"learners\":2,\"learners_completed\":1,\"progress_mean\":60.5}]");
    free(s);
    board_table_destroy(t);
}

static void test_bad_courses(void)
{
    static const struct { const char *key, *value, *reason; } bad[] = {
        {"c/x", "not json", "not JSON"},
        {"c/x", "[1]", "not a JSON object"},
        {"c/x", "{\"connection_id\":\"c\",\"course_id\":\"x\",\"learners\":\"5\",\"learners_completed\":0}", "'learners' has the wrong type"},
        {"c/x", "{\"connection_id\":\"c\",\"course_id\":\"x\",\"learners_completed\":0}", "'learners' is missing"},
        {"c/x", "{\"connection_id\":\"c\",\"course_id\":\"x\",\"learners\":-1,\"learners_completed\":0}", "'learners' has the wrong type"},
        {"c/x", "{\"connection_id\":\"c\",\"course_id\":\"x\",\"learners\":1,\"learners_completed\":0,\"progress_mean\":\"50\"}", "'progress_mean'"},
        {"c/x", "{\"connection_id\":\"c\",\"course_id\":\"x\",\"learners\":1,\"learners_completed\":0,\"tenant\":7}", "'tenant'"},
        {"c/x", "{\"connection_id\":\"\",\"course_id\":\"x\",\"learners\":1,\"learners_completed\":0}", "'connection_id'"},
        {"c/y", "{\"connection_id\":\"c\",\"course_id\":\"x\",\"learners\":1,\"learners_completed\":0}", "is not {connection_id}/{course_id}"},
        {"c/x", "{\"connection_id\":\"c\",\"course_id\":\"x\",\"learners\":1,\"learners_completed\":2}", "learners_completed above learners"},
        {"nokey", NULL, "tombstone key"},
    };
    board_table_t *t = board_table_new(5);
    course(t, "c/x", REC("c", "x", 3, 1), NULL);
    char *before = dump(board_table_snapshot(t));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CU_ASSERT_EQUAL(course(t, bad[i].key, bad[i].value, NULL), LS_EINVAL);
        if (!strstr(why, bad[i].reason))
            fprintf(stderr, "case %zu: reason \"%s\" lacks \"%s\"\n", i, why, bad[i].reason);
        CU_ASSERT_PTR_NOT_NULL(strstr(why, bad[i].reason));
    }
    char *after = dump(board_table_snapshot(t));
    CU_ASSERT_STRING_EQUAL(before, after); /* a refused record changes nothing */
    free(before);
    free(after);
    board_stats_t st;
    board_table_stats(t, &st);
    CU_ASSERT_EQUAL(st.bad_courses, sizeof(bad) / sizeof(bad[0]));
    CU_ASSERT_EQUAL(st.bad_changes, 0);
    board_table_destroy(t);
}

static int change(board_table_t *t, const char *value, const char *ce_id, char **text)
{
    const char *name = NULL;
    json_t *ev = NULL;
    int rc = board_table_change(t, value, value ? strlen(value) : 0, ce_id, &name, &ev, why, sizeof(why));
    if (ev)
        CU_ASSERT_STRING_EQUAL(name, "change");
    if (text)
        *text = ev ? json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(ev);
    return rc;
}

#define EVENT(act, at) \
    "{\"activity_id\":\"" act "\",\"after\":{\"course_id\":\"crs-7\",\"id\":\"" act "\",\"is_completed\":false," \
    "\"progress_percentage\":35.5,\"student_id\":\"stu-42\"},\"before\":{\"course_id\":\"crs-7\",\"id\":\"" act "\"," \
    "\"is_completed\":false,\"progress_percentage\":0,\"student_id\":\"stu-42\"},\"changed\":[\"progress_percentage\"," \
    "\"duration_minutes\"],\"connection_id\":\"conn-7\",\"integration_type\":\"moodle\",\"observed\":{\"at\":\"" at "\"," \
    "\"job_id\":\"j\",\"mode\":\"full\"},\"tenant\":\"t-42\",\"type\":\"progressed\"}"

static void test_change_feed(void)
{
    board_table_t *t = board_table_new(3);
    char *ev;
    CU_ASSERT_EQUAL(change(t, EVENT("act-1", "2026-11-27T14:35:00Z"), "abc", &ev), 1);
    /* before/after carry only the changed fields they have: duration_minutes was reported by neither */
    CU_ASSERT_STRING_EQUAL(ev, "{\"change\":{\"activity_id\":\"act-1\",\"after\":{\"progress_percentage\":35.5},"
                               "\"at\":\"2026-11-27T14:35:00Z\",\"before\":{\"progress_percentage\":0},"
                               "\"changed\":[\"progress_percentage\",\"duration_minutes\"],\"connection_id\":\"conn-7\","
                               "\"course_id\":\"crs-7\",\"id\":\"abc\",\"student_id\":\"stu-42\",\"type\":\"progressed\"},"
                               "\"connection\":{\"changes\":1,\"connection_id\":\"conn-7\",\"courses\":0,"
                               "\"integration_type\":\"moodle\",\"last_change_at\":\"2026-11-27T14:35:00Z\",\"tenant\":\"t-42\"}}");
    free(ev);
    change(t, EVENT("act-2", "2026-11-27T14:36:00Z"), NULL, NULL);
    change(t, EVENT("act-3", "2026-11-27T14:37:00Z"), NULL, NULL);
    change(t, EVENT("act-4", "2026-11-27T14:38:00Z"), NULL, NULL);
    json_t *snap = board_table_snapshot(t);
    json_t *ch = json_object_get(snap, "changes");
    CU_ASSERT_EQUAL(json_array_size(ch), 3); /* the ring keeps the newest 3, newest first */
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(ch, 0), "activity_id")), "act-4");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(ch, 2), "activity_id")), "act-2");
    CU_ASSERT_PTR_NULL(json_object_get(json_array_get(ch, 0), "id")); /* no ce_id header: no id */
    json_t *conn = json_array_get(json_object_get(snap, "connections"), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(conn, "changes")), 4);
    json_decref(snap);
    board_table_destroy(t);
}

static void test_removed_and_bad_changes(void)
{
    board_table_t *t = board_table_new(3);
    char *ev;
    CU_ASSERT_EQUAL(change(t, "{\"activity_id\":\"a\",\"after\":null,\"before\":{\"id\":\"a\",\"student_id\":\"s\"},"
                              "\"changed\":[],\"connection_id\":\"c\",\"type\":\"removed\"}", NULL, &ev), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(ev, "\"after\":null,\"before\":{},\"changed\":[],\"connection_id\":\"c\","
                                      "\"student_id\":\"s\",\"type\":\"removed\"}"));
    CU_ASSERT_PTR_NULL(strstr(ev, "\"at\""));
    free(ev);
    static const char *const bad[] = {
        "{", "\"x\"", "{\"activity_id\":\"a\",\"changed\":[],\"type\":\"created\"}",
        "{\"activity_id\":\"a\",\"changed\":[1],\"connection_id\":\"c\",\"type\":\"created\"}",
        "{\"activity_id\":\"a\",\"changed\":[],\"connection_id\":\"c\",\"type\":\"created\",\"after\":[]}",
        NULL,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CU_ASSERT_EQUAL(change(t, bad[i], "id", NULL), LS_EINVAL);
    board_stats_t st;
    board_table_stats(t, &st);
    CU_ASSERT_EQUAL(st.bad_changes, sizeof(bad) / sizeof(bad[0]));
    CU_ASSERT_EQUAL(st.changes, 1);
    board_table_destroy(t);
}

static void test_snapshot_shape(void)
{
    board_table_t *t = board_table_new(2);
    char *s = dump(board_table_snapshot(t));
    CU_ASSERT_STRING_EQUAL(s, "{\"changes\":[],\"connections\":[],\"courses\":[]}");
    free(s);
    course(t, "c/x", "{\"connection_id\":\"c\",\"course_id\":\"x\",\"learners\":1,\"learners_completed\":1}", NULL);
    s = dump(board_table_snapshot(t));
    CU_ASSERT_STRING_EQUAL(s, "{\"changes\":[],\"connections\":[{\"changes\":0,\"connection_id\":\"c\",\"courses\":1}],"
                              "\"courses\":[{\"connection_id\":\"c\",\"course_id\":\"x\",\"learners\":1,"
                              "\"learners_completed\":1}]}");
    free(s);
    board_table_destroy(t);
}

/* ---- SSE ---- */

static void frame_is(const char *name, const char *data, const char *want)
{
    size_t len;
    char *f = board_sse_frame(name, data, &len);
    CU_ASSERT_STRING_EQUAL(f, want);
    CU_ASSERT_EQUAL(len, strlen(want));
    free(f);
}

static void test_sse_frame(void)
{
    frame_is("course", "{\"a\":1}", "event: course\ndata: {\"a\":1}\n\n");
    frame_is("x", "", "event: x\ndata: \n\n");
    frame_is("x", "one\ntwo", "event: x\ndata: one\ndata: two\n\n");
    frame_is("x", "one\r\ntwo\rthree\n", "event: x\ndata: one\ndata: two\ndata: three\ndata: \n\n");
    frame_is("x", "\n\n", "event: x\ndata: \ndata: \ndata: \n\n");
}

static void test_sse_queue(void)
{
    board_sse_queue_t q;
    board_sse_queue_init(&q, 10);
    char out[16];
    CU_ASSERT_EQUAL(board_sse_queue_take(&q, out, sizeof(out)), 0);
    CU_ASSERT_EQUAL(board_sse_queue_push(&q, "abcdef", 6), LS_OK);
    CU_ASSERT_EQUAL(board_sse_queue_push(&q, "ghijk", 5), LS_EFULL); /* 11 pending > 10 */
    CU_ASSERT_EQUAL(board_sse_queue_take(&q, out, 4), 4);
    CU_ASSERT_EQUAL(memcmp(out, "abcd", 4), 0);
    CU_ASSERT_EQUAL(board_sse_queue_push(&q, "ghijk", 5), LS_OK); /* 7 pending now */
    CU_ASSERT_EQUAL(board_sse_queue_push(&q, "lmnop", 5), LS_EFULL);
    size_t n = board_sse_queue_take(&q, out, sizeof(out));
    CU_ASSERT_EQUAL(n, 7);
    CU_ASSERT_EQUAL(memcmp(out, "efghijk", 7), 0);
    CU_ASSERT_EQUAL(board_sse_queue_take(&q, out, sizeof(out)), 0);
    CU_ASSERT_EQUAL(board_sse_queue_push(&q, "0123456789", 10), LS_OK);
    CU_ASSERT_EQUAL(board_sse_queue_take(&q, out, sizeof(out)), 10);
    board_sse_queue_release(&q);
}

static CU_TestInfo table_tests[] = {
    {"courses sorted by (connection, course), latest value wins", test_courses_sorted_and_replaced},
    {"a tombstone removes the course", test_tombstone},
    {"named workspaces: qualified keys, separate connections", test_workspace_courses},
    {"absent fields stay absent", test_absent_stays_absent},
    {"bad course records refused, counted, nothing changed", test_bad_courses},
    {"change feed: items, ring, connection summary", test_change_feed},
    {"removed events and bad change records", test_removed_and_bad_changes},
    {"snapshot JSON", test_snapshot_shape},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo sse_tests[] = {
    {"SSE frames", test_sse_frame},
    {"client queue", test_sse_queue},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"board_table", NULL, NULL, NULL, NULL, table_tests},
    {"board_sse", NULL, NULL, NULL, NULL, sse_tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
