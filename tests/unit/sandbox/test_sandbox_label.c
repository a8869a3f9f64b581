/*
 * test_sandbox_label.c - change labelling: sb_label() itself, the labels the
 * mutation clock produces, and the control-API create/modify/remove path.
 */
#include <stdlib.h>
#include <string.h>

#include "ls_err.h"
#include "ls_test.h"
#include "sb_test_util.h"

static const char *lab(const char *b, const char *a)
{
    json_t *jb = b ? json_loads(b, 0, NULL) : NULL, *ja = a ? json_loads(a, 0, NULL) : NULL;
    const char *l = sb_label(jb, ja);
    json_decref(jb);
    json_decref(ja);
    return l ? l : "(none)";
}

static void test_label_rules(void)
{
    CU_ASSERT_STRING_EQUAL(lab(NULL, "{\"id\":\"a\"}"), "created");
    CU_ASSERT_STRING_EQUAL(lab("{\"id\":\"a\"}", NULL), "removed");
    CU_ASSERT_STRING_EQUAL(lab("{\"is_completed\":false}", "{\"is_completed\":true}"), "completed");
    CU_ASSERT_STRING_EQUAL(lab("{}", "{\"is_completed\":true}"), "completed");
    CU_ASSERT_STRING_EQUAL(lab("{\"is_completed\":null}", "{\"is_completed\":true}"), "completed");
    CU_ASSERT_STRING_EQUAL(lab("{\"is_completed\":true}", "{\"is_completed\":false}"), "reopened");
    CU_ASSERT_STRING_EQUAL(lab("{\"is_completed\":true}", "{}"), "updated");
    CU_ASSERT_STRING_EQUAL(lab("{\"progress_percentage\":10}", "{\"progress_percentage\":10.5}"), "progressed");
    CU_ASSERT_STRING_EQUAL(lab("{\"progress_percentage\":50}", "{\"progress_percentage\":40}"), "regressed");
    CU_ASSERT_STRING_EQUAL(lab("{}", "{\"progress_percentage\":40}"), "updated");
    CU_ASSERT_STRING_EQUAL(lab("{\"is_completed\":false,\"progress_percentage\":50}",
                               "{\"is_completed\":true,\"progress_percentage\":100}"), "completed");
    CU_ASSERT_STRING_EQUAL(lab("{\"duration_minutes\":5}", "{\"duration_minutes\":6}"), "updated");
    CU_ASSERT_STRING_EQUAL(lab("{\"assigned_grade\":\"A\"}", "{\"assigned_grade\":null}"), "updated");
    CU_ASSERT_STRING_EQUAL(lab("{\"updated_at\":\"2026-01-01T00:00:00Z\"}",
                               "{\"updated_at\":\"2026-01-01T00:00:01Z\"}"), "touched");
    CU_ASSERT_STRING_EQUAL(lab("{\"started_at\":\"2026-01-01T00:00:00Z\"}",
                               "{\"started_at\":\"2026-01-01T00:00:00.000Z\"}"), "(none)");
    CU_ASSERT_STRING_EQUAL(lab("{\"started_at\":\"2026-01-01T00:00:00Z\"}",
                               "{\"started_at\":\"2026-01-01T00:00:00+00:00\"}"), "(none)");
    CU_ASSERT_STRING_EQUAL(lab("{\"progress_percentage\":40}", "{\"progress_percentage\":40.0}"), "(none)");
    CU_ASSERT_STRING_EQUAL(lab("{\"a\":1}", "{\"a\":1}"), "(none)");
}

static double num(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* Every clock change is labelled consistently with what it did; all kinds occur. */
static void test_mutation_labels(void)
{
    sb_world_t *w = sb_test_world("coursera,go1,learnupon,d2l,successfactors_lms,udemy,docebo,moodle", 42, 8);
    json_t *ch = json_array();
    CU_ASSERT_EQUAL(sb_world_tick(w, 600, SB_TEST_NOW + 123, ch), 600);
    unsigned kinds = 0;
    static const char *const names[] = { "created", "completed", "reopened", "progressed", "updated" };
    size_t i;
    json_t *e;
    json_array_foreach(ch, i, e) {
        const char *t = json_string_value(json_object_get(e, "type"));
        const json_t *b = json_object_get(e, "before"), *a = json_object_get(e, "after");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(e, "at")), "2027-01-01T00:00:00Z");
        CU_ASSERT_STRING_EQUAL(t, sb_label(json_is_null(b) ? NULL : b, a));
        for (unsigned k = 0; k < 5; k++)
            if (!strcmp(t, names[k]))
                kinds |= 1u << k;
        CU_ASSERT_TRUE(strcmp(t, "touched") && strcmp(t, "removed") && strcmp(t, "regressed"));
        if (!strcmp(t, "completed"))
            CU_ASSERT_PTR_NOT_NULL(json_object_get(a, "completed_at"));
        if (!strcmp(t, "reopened"))
            CU_ASSERT_PTR_NULL(json_object_get(a, "completed_at"));
        if (!strcmp(t, "progressed"))
            CU_ASSERT_TRUE(num(a, "progress_percentage") > num(b, "progress_percentage") &&
                           num(a, "progress_percentage") <= 99);
        const char *upd = json_string_value(json_object_get(a, "updated_at"));
        if (upd)   /* every mutation stamps updated_at = now where the provider has it */
            CU_ASSERT_TRUE(strncmp(upd, "2027-01-01T00:00:00", 19) == 0);
        /* moodle (conn-0008) never gets updated_at */
        if (!strcmp(json_string_value(json_object_get(e, "connection_id")), "conn-0008"))
            CU_ASSERT_PTR_NULL(upd);
    }
    CU_ASSERT_EQUAL(kinds, 0x1f);
    json_decref(ch);
    sb_world_destroy(w);
}

static json_t *apply(sb_world_t *w, const char *act, const char *set, const char *unset, bool force,
                     int expect_rc)
{
    json_t *js = set ? json_loads(set, 0, NULL) : NULL, *ju = unset ? json_loads(unset, 0, NULL) : NULL;
    sb_apply_t req = { .connection_id = "conn-0001", .activity_id = act, .set = js, .unset = ju,
                       .force = force };
    json_t *change = NULL;
    char err[128] = "";
    CU_ASSERT_EQUAL(sb_world_apply(w, &req, SB_TEST_NOW, &change, err, sizeof(err)), expect_rc);
    json_decref(js);
    json_decref(ju);
    return change;
}

static const char *type_of(const json_t *change)
{
    return change ? json_string_value(json_object_get(change, "type")) : "(none)";
}

static void expect(sb_world_t *w, const char *act, const char *set, const char *unset, const char *want)
{
    json_t *c = apply(w, act, set, unset, false, LS_OK);
    CU_ASSERT_STRING_EQUAL(type_of(c), want);
    json_decref(c);
}

static void test_control_labels(void)
{
    sb_world_t *w = sb_test_world("coursera,moodle", 42, 2);
    const char *id = "ctl-1";
    json_t *c = apply(w, id, "{\"course_id\":\"crs-1\",\"student_id\":\"stu-1\",\"is_completed\":false,"
                             "\"progress_percentage\":10}", NULL, false, LS_OK);
    CU_ASSERT_STRING_EQUAL(type_of(c), "created");
    json_t *after = json_object_get(c, "after");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(after, "created_at")), "2027-01-01T00:00:00Z");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(after, "updated_at")), "2027-01-01T00:00:00Z");
    json_decref(c);
    expect(w, id, "{\"progress_percentage\":30}", NULL, "progressed");
    uint64_t seq = sb_world_next_seq(w);
    expect(w, id, "{\"progress_percentage\":30}", NULL, "(none)");   /* no-op writes nothing */
    CU_ASSERT_EQUAL(sb_world_next_seq(w), seq);
    expect(w, id, "{\"progress_percentage\":20}", NULL, "regressed");
    expect(w, id, "{\"is_completed\":true,\"completed_at\":\"2027-01-01T00:00:00Z\"}", NULL, "completed");
    expect(w, id, "{\"is_completed\":false}", "[\"completed_at\"]", "reopened");
    expect(w, id, "{\"duration_minutes\":12}", NULL, "updated");
    expect(w, id, "{\"updated_at\":\"2027-02-01T00:00:00Z\"}", NULL, "touched");
    expect(w, id, "{\"started_at\":null}", NULL, "updated");
    /* a field coursera does not have: rejected unless forced */
    c = apply(w, id, "{\"assigned_grade\":\"A\"}", NULL, false, LS_EINVAL);
    CU_ASSERT_PTR_NULL(c);
    c = apply(w, id, "{\"assigned_grade\":\"A\"}", NULL, true, LS_OK);
    CU_ASSERT_STRING_EQUAL(type_of(c), "updated");
    json_decref(c);
    c = apply(w, id, "{\"progress_percentage\":\"fifty\"}", NULL, false, LS_EINVAL);
    c = apply(w, id, "{\"id\":\"x\"}", NULL, false, LS_EINVAL);
    c = apply(w, id, "{\"started_at\":\"yesterday\"}", NULL, false, LS_EINVAL);
    /* generated id */
    c = apply(w, NULL, "{\"course_id\":\"crs-2\"}", NULL, false, LS_OK);
    CU_ASSERT_STRING_EQUAL(type_of(c), "created");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "activity_id")), "act-0001-000031");
    json_decref(c);
    /* remove, then it is gone */
    json_t *rm = NULL;
    CU_ASSERT_EQUAL(sb_world_remove(w, "conn-0001", id, SB_TEST_NOW, &rm), LS_OK);
    CU_ASSERT_STRING_EQUAL(type_of(rm), "removed");
    CU_ASSERT_TRUE(json_is_null(json_object_get(rm, "after")));
    json_decref(rm);
    sb_query_t q;
    sb_query_init(&q);
    json_t *got = NULL;
    CU_ASSERT_EQUAL(sb_world_get_activity(w, "conn-0001", id, &q, &got), LS_ENOTFOUND);
    CU_ASSERT_EQUAL(sb_world_remove(w, "conn-0001", id, SB_TEST_NOW, &rm), LS_ENOTFOUND);
    /* moodle: no automatic updated_at */
    json_t *js = json_loads("{\"is_completed\":true}", 0, NULL);
    sb_apply_t req = { .connection_id = "conn-0002", .activity_id = "act-0002-000001", .set = js };
    char err[128];
    json_t *mc = NULL;
    CU_ASSERT_EQUAL(sb_world_apply(w, &req, SB_TEST_NOW, &mc, err, sizeof(err)), LS_OK);
    CU_ASSERT_PTR_NULL(json_object_get(json_object_get(mc, "after"), "updated_at"));
    json_decref(mc);
    json_decref(js);
    req.connection_id = "conn-0404";
    CU_ASSERT_EQUAL(sb_world_apply(w, &req, SB_TEST_NOW, &mc, err, sizeof(err)), LS_ENOTFOUND);
    sb_world_destroy(w);
}

static CU_TestInfo label_tests[] = {
    { "labelling rules", test_label_rules },
    { "mutation clock labels", test_mutation_labels },
    { "control API labels", test_control_labels },
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    { "sandbox labels", NULL, NULL, NULL, NULL, label_tests },
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
