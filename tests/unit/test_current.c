/* test_current.c - current records: value shape, key, ids, tombstones, errors. */
#include "ls_activity.h"
#include "ls_current.h"
#include "ls_diff.h"
#include "ls_err.h"
#include "ls_event.h"
#include "ls_state.h"
#include "ls_test.h"
#include "ls_test_activity.h"

#include <stdlib.h>
#include <string.h>


static const char *REC = "\"id\":\"act-1\",\"student_id\":\"stu-9\",\"course_id\":\"crs-2\","
                         "\"is_completed\":false,\"progress_percentage\":100.0,\"assigned_grade\":null,"
                         "\"started_at\":\"2026-11-27T09:15:00+01:00\",\"updated_at\":\"2026-11-27T14:09:50.000Z\"";

static ls_event_ctx_t ctx_default(void)
{
    ls_event_ctx_t c = {"conn-7", "moodle", "tenant-42", "full", "job-1", INT64_C(1795788600000), NULL};
    return c;
}

static void test_golden_record(void)
{
    ls_activity_t a = ls_test_rec(REC);
    ls_event_ctx_t c = ctx_default();
    ls_current_t cur;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(ls_current_build(&c, "act-1", &a, NULL, &cur, err, sizeof(err)), LS_OK);
    /* absent fields stay absent, null stays null, false stays false; instants normalized */
    CU_ASSERT_STRING_EQUAL(cur.value,
                           "{\"assigned_grade\":null,\"connection_id\":\"conn-7\",\"course_id\":\"crs-2\","
                           "\"id\":\"act-1\",\"integration_type\":\"moodle\",\"is_completed\":false,"
                           "\"progress_percentage\":100,\"started_at\":\"2026-11-27T08:15:00Z\","
                           "\"student_id\":\"stu-9\",\"tenant\":\"tenant-42\",\"updated_at\":\"2026-11-27T14:09:50Z\"}");
    CU_ASSERT_EQUAL(cur.value_len, strlen(cur.value));
    CU_ASSERT_STRING_EQUAL(cur.key, "conn-7/act-1");
    CU_ASSERT_STRING_EQUAL(cur.source, "/connections/conn-7");
    CU_ASSERT_STRING_EQUAL(cur.subject, "activities/act-1");
    CU_ASSERT_STRING_EQUAL(cur.time, "2026-11-27T14:10:00Z");
    CU_ASSERT_EQUAL(strlen(cur.id), LS_EVENT_ID_LEN);
    ls_current_release(&cur);
    CU_ASSERT_PTR_NULL(cur.value);
}

static void test_no_tenant(void)
{
    ls_activity_t a = ls_test_rec("\"id\":\"act-77\",\"course_id\":\"crs-7\",\"progress_percentage\":10");
    ls_event_ctx_t c = {"conn-7", NULL, NULL, "full", NULL, 0, NULL};
    ls_current_t cur;
    CU_ASSERT_EQUAL_FATAL(ls_current_build(&c, "act-77", &a, NULL, &cur, NULL, 0), LS_OK);
    CU_ASSERT_STRING_EQUAL(cur.value, "{\"connection_id\":\"conn-7\",\"course_id\":\"crs-7\",\"id\":\"act-77\","
                                      "\"integration_type\":null,\"progress_percentage\":10,\"tenant\":null}");
    ls_current_release(&cur);
}

/* The value is the change event's `after` plus its envelope, field for field. */
static void test_equals_event_after(void)
{
    ls_activity_t b = ls_test_rec("\"id\":\"act-1\",\"progress_percentage\":40");
    ls_activity_t a = ls_test_rec(REC);
    ls_event_ctx_t c = ctx_default();
    ls_diff_t d;
    ls_diff_compute(&b, &a, &d);
    ls_event_t ev;
    ls_current_t cur;
    CU_ASSERT_EQUAL_FATAL(ls_event_build(&c, &b, &a, &d, &ev, NULL, 0), LS_OK);
    CU_ASSERT_EQUAL_FATAL(ls_current_build(&c, "act-1", &a, NULL, &cur, NULL, 0), LS_OK);
    json_t *e = json_loads(ev.value, 0, NULL), *v = json_loads(cur.value, 0, NULL);
    CU_ASSERT_FATAL(e != NULL && v != NULL);
    json_t *want = json_deep_copy(json_object_get(e, "after"));
    static const char *const env[] = {"connection_id", "integration_type", "tenant"};
    for (int i = 0; i < 3; i++)
        json_object_set(want, env[i], json_object_get(e, env[i]));
    CU_ASSERT(json_equal(want, v));
    CU_ASSERT_STRING_NOT_EQUAL(ev.id, cur.id);
    json_decref(want);
    json_decref(e);
    json_decref(v);
    ls_event_release(&ev);
    ls_current_release(&cur);
}

static void test_tombstone(void)
{
    ls_event_ctx_t c = ctx_default();
    ls_current_t t1, t2;
    CU_ASSERT_EQUAL_FATAL(ls_current_build(&c, "act/1", NULL, NULL, &t1, NULL, 0), LS_OK);
    CU_ASSERT_PTR_NULL(t1.value);
    CU_ASSERT_EQUAL(t1.value_len, 0);
    CU_ASSERT_STRING_EQUAL(t1.key, "conn-7/act/1"); /* an activity id is the last key part: '/' allowed */
    CU_ASSERT_STRING_EQUAL(t1.subject, "activities/act/1");
    c.observed_at_ms += 1000;
    CU_ASSERT_EQUAL_FATAL(ls_current_build(&c, "act/1", NULL, NULL, &t2, NULL, 0), LS_OK);
    CU_ASSERT_STRING_EQUAL(t1.id, t2.id); /* deterministic, independent of the observation */
    CU_ASSERT_STRING_NOT_EQUAL(t1.time, t2.time);
    ls_current_release(&t1);
    ls_current_release(&t2);
}

static void test_ids(void)
{
    ls_activity_t a = ls_test_rec(REC), a2 = ls_test_rec(REC);
    a2.progress_percentage = 99;
    ls_event_ctx_t c = ctx_default();
    ls_current_t x, y, z, t;
    CU_ASSERT_EQUAL(ls_current_build(&c, "act-1", &a, NULL, &x, NULL, 0), LS_OK);
    c.job_id = "job-2";
    c.observed_at_ms += 5;
    CU_ASSERT_EQUAL(ls_current_build(&c, "act-1", &a, NULL, &y, NULL, 0), LS_OK);
    CU_ASSERT_EQUAL(ls_current_build(&c, "act-1", &a2, NULL, &z, NULL, 0), LS_OK);
    CU_ASSERT_EQUAL(ls_current_build(&c, "act-1", NULL, NULL, &t, NULL, 0), LS_OK);
    CU_ASSERT_STRING_EQUAL(x.id, y.id);     /* a republish of the same state has the same id */
    CU_ASSERT_STRING_NOT_EQUAL(x.id, z.id); /* another state, another id */
    CU_ASSERT_STRING_NOT_EQUAL(x.id, t.id);
    /* never the id of the created event of the same state (no before) */
    uint8_t p[LS_STATE_MAX];
    size_t len;
    char created[LS_EVENT_ID_LEN + 1];
    CU_ASSERT_EQUAL(ls_state_pack(&a, p, sizeof(p), &len), LS_OK);
    ls_event_id("conn-7", "act-1", NULL, 0, p, len, created);
    CU_ASSERT_STRING_NOT_EQUAL(created, x.id);
    ls_current_release(&x);
    ls_current_release(&y);
    ls_current_release(&z);
    ls_current_release(&t);
}

/* Names from the catalog cache: a known one is a member, an unknown one is absent (also when the
 * object held a stale one), never "". */
static void test_value_names(void)
{
    ls_activity_t a = ls_test_rec("\"id\":\"act-1\",\"is_completed\":true");
    ls_event_ctx_t c = ctx_default();
    ls_catalog_entry_t course = {.has_name = 1, .name = "Algebra"}, content = {.has_name = 0, .has_type = 1, .type = "video"};
    ls_current_names_t names = {&course, &content};
    json_t *o = json_object();
    json_object_set_new(o, "content_name", json_string("stale"));
    CU_ASSERT_EQUAL(ls_current_value_set(o, &c, &a, &names), LS_OK);
    char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
    CU_ASSERT_STRING_EQUAL(s, "{\"connection_id\":\"conn-7\",\"content_type\":\"video\",\"course_name\":\"Algebra\","
                              "\"id\":\"act-1\",\"integration_type\":\"moodle\",\"is_completed\":true,\"tenant\":\"tenant-42\"}");
    ls_current_t cur;
    CU_ASSERT_EQUAL_FATAL(ls_current_build(&c, "act-1", &a, &names, &cur, NULL, 0), LS_OK);
    CU_ASSERT_STRING_EQUAL(cur.value, s);
    ls_current_release(&cur);
    free(s);
    json_decref(o);
}

static void test_errors(void)
{
    ls_activity_t a = ls_test_rec(REC);
    ls_event_ctx_t c = ctx_default();
    ls_current_t cur;
    char err[256];
    CU_ASSERT_EQUAL(ls_current_build(&c, "act-2", &a, NULL, &cur, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "current record: record id differs from \"act-2\"");
    CU_ASSERT_PTR_NULL(cur.value);
    CU_ASSERT_EQUAL(ls_current_build(&c, "", NULL, NULL, &cur, err, sizeof(err)), LS_EINVAL);
    c.connection_id = "";
    CU_ASSERT_EQUAL(ls_current_build(&c, "act-1", &a, NULL, &cur, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "current record: missing connection id");
    c = ctx_default();
    c.external_xref = "bad \xC3\x28 tenant";
    CU_ASSERT_EQUAL(ls_current_build(&c, "act-1", &a, NULL, &cur, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "invalid UTF-8"));
    CU_ASSERT_PTR_NULL(cur.value);
    char longconn[2 * LS_STR_MAX];
    memset(longconn, 'x', sizeof(longconn) - 1);
    longconn[sizeof(longconn) - 1] = '\0';
    c = ctx_default();
    c.connection_id = longconn;
    CU_ASSERT_EQUAL(ls_current_build(&c, "act-1", NULL, NULL, &cur, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "too long"));
}

/* ---- the direct writer against the jansson definition (ls_current_value_set) ---- */

static uint64_t rng = UINT64_C(0x9e3779b97f4a7c15);

static unsigned rnd(unsigned n)
{
    rng = rng * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return (unsigned)((rng >> 33) % n);
}

static void rnd_string(char *s, size_t cap)
{
    static const char *const parts[] = {"a", "Z", "7", "-", "/", "\"", "\\", "\n", "\t", "\x01", "\x7f",
                                        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", ",\"id\":", "}"};
    size_t n = 0, want = rnd(24);
    s[0] = '\0';
    for (size_t i = 0; i < want; i++) {
        const char *p = parts[rnd(sizeof(parts) / sizeof(parts[0]))];
        size_t l = strlen(p);
        if (n + l >= cap)
            break;
        memcpy(s + n, p, l + 1);
        n += l;
    }
}

/* A record with every field randomly absent, null or present. */
static void rnd_record(ls_activity_t *a)
{
    ls_activity_clear(a);
    rnd_string(a->id, 40);
    if (!a->id[0])
        strcpy(a->id, "x");
    for (int f = 0; f < LS_F__COUNT; f++) {
        unsigned r = rnd(3);
        a->pres[f] = r == 0 ? LS_ABSENT : r == 1 ? LS_NULL : LS_PRESENT;
    }
    rnd_string(a->course_id, 60);
    rnd_string(a->student_id, 60);
    rnd_string(a->content_id, 60);
    rnd_string(a->assigned_grade, 60);
    a->is_completed = rnd(2);
    a->progress_percentage = rnd(2) ? (double)rnd(101) : rnd(100000) / 7.0;
    a->duration_minutes = rnd(2) ? -(double)rnd(5) : rnd(100000) / 3.0;
    a->started_at = INT64_C(1790000000000) + (int64_t)rnd(1000000) * 997;
    a->completed_at = a->started_at + rnd(100000);
    a->created_at = a->started_at - rnd(100000) * 1000;
    a->updated_at = a->started_at + rnd(3) * 1000;
}

static void test_writer_vs_jansson(void)
{
    const char *xrefs[] = {NULL, "tenant-42", "t\"q\\\xc3\xa9"};
    int differ = 0;
    for (int i = 0; i < 5000 && differ < 3; i++) {
        ls_activity_t a;
        rnd_record(&a);
        ls_event_ctx_t c = {"conn-7", i % 4 ? "moodle" : NULL, xrefs[i % 3], "full", NULL, 0, i % 5 ? NULL : "eu"};
        ls_catalog_entry_t course = {0}, content = {0};
        course.has_name = rnd(2);
        rnd_string(course.name, 200);
        content.has_name = rnd(2);
        rnd_string(content.name, 200);
        content.has_type = rnd(2);
        rnd_string(content.type, 40);
        ls_current_names_t names = {rnd(4) ? &course : NULL, rnd(4) ? &content : NULL};
        const ls_current_names_t *np = rnd(5) ? &names : NULL;
        json_t *o = json_object();
        CU_ASSERT_EQUAL_FATAL(ls_current_value_set(o, &c, &a, np), LS_OK);
        char *want = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
        ls_current_t cur;
        char err[256];
        CU_ASSERT_EQUAL_FATAL(ls_current_build(&c, a.id, &a, np, &cur, err, sizeof(err)), LS_OK);
        if (want == NULL || strcmp(want, cur.value) != 0 || cur.value_len != strlen(want)) {
            fprintf(stderr, "\nrecord %d differs:\n  writer:  %s\n  jansson: %s\n", i, cur.value, want);
            differ++;
        }
        free(want);
        json_decref(o);
        ls_current_release(&cur);
    }
    CU_ASSERT_EQUAL(differ, 0);
}

/* A named workspace: key, id and source use the qualified connection, as the change events; the value names it. */
static void test_named_workspace(void)
{
    ls_activity_t a = ls_test_rec("\"id\":\"act-1\",\"progress_percentage\":10");
    ls_event_ctx_t c = ctx_default();
    ls_current_t def, eu;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(ls_current_build(&c, "act-1", &a, NULL, &def, err, sizeof(err)), LS_OK);
    c.workspace = "eu";
    CU_ASSERT_EQUAL_FATAL(ls_current_build(&c, "act-1", &a, NULL, &eu, err, sizeof(err)), LS_OK);
    CU_ASSERT_STRING_EQUAL(def.key, "conn-7/act-1");
    CU_ASSERT_STRING_EQUAL(eu.key, "eu:conn-7/act-1");
    CU_ASSERT_STRING_EQUAL(eu.source, "/workspaces/eu/connections/conn-7");
    CU_ASSERT_STRING_NOT_EQUAL(eu.id, def.id);
    CU_ASSERT_PTR_NOT_NULL(strstr(eu.value, "\"workspace\":\"eu\""));
    CU_ASSERT_PTR_NULL(strstr(def.value, "\"workspace\""));
    ls_event_t ev;
    ls_diff_t d;
    ls_diff_compute(NULL, &a, &d);
    CU_ASSERT_EQUAL_FATAL(ls_event_build(&c, NULL, &a, &d, &ev, err, sizeof(err)), LS_OK);
    CU_ASSERT_STRING_EQUAL(ev.source, eu.source);
    CU_ASSERT_EQUAL(strncmp(ev.key, "eu:conn-7/", 10), 0);
    ls_event_release(&ev);
    ls_current_release(&def);
    ls_current_release(&eu);
}

static CU_TestInfo current_tests[] = {
    {"named workspace: qualified key, id and source; workspace in the value", test_named_workspace},
    {"direct writer equals the jansson definition", test_writer_vs_jansson},
    {"golden record bytes", test_golden_record},
    {"no integration type, no tenant", test_no_tenant},
    {"value equals the event's after plus envelope", test_equals_event_after},
    {"tombstone", test_tombstone},
    {"deterministic ids", test_ids},
    {"catalog names are joined, unknown ones absent", test_value_names},
    {"build errors", test_errors},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_current", NULL, NULL, NULL, NULL, current_tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
