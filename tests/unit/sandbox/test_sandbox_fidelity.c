/*
 * test_sandbox_fidelity.c - the sandbox behaviours the fidelity suite relies
 * on: shifts mid-scan, delete + re-create, fields that appear and disappear,
 * a provider that requires course_id, providers without updated_at, the
 * Integration shape, and the shift fault.
 */
#include <stdlib.h>
#include <string.h>

#include "ls_err.h"
#include "ls_test.h"
#include "sb_fault.h"
#include "sb_test_util.h"

static json_t *list_page(sb_world_t *w, const char *conn, long limit, long offset)
{
    sb_query_t q;
    sb_query_init(&q);
    q.limit = limit;
    q.offset = offset;
    q.want_raw = false;
    json_t *out = NULL;
    char err[128];
    CU_ASSERT_EQUAL(sb_world_list_activities(w, conn, &q, &out, err, sizeof(err)), LS_OK);
    return out;
}

static const char *rec_id(const json_t *arr, size_t i)
{
    return json_string_value(json_object_get(json_array_get(arr, i), "id"));
}

static void test_shift_insert_repeats(void)
{
    sb_world_t *w = sb_test_world("coursera", 3, 1);
    json_t *p1 = list_page(w, "conn-0001", 5, 0);
    sb_query_t q;
    sb_query_init(&q);
    q.limit = 5;
    q.offset = 5;
    json_t *ch = NULL;
    CU_ASSERT_EQUAL(sb_world_shift(w, "conn-0001", &q, false, SB_TEST_NOW, &ch), LS_OK);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(ch, "type")), "created");
    json_t *p2 = list_page(w, "conn-0001", 5, 5);
    CU_ASSERT_STRING_EQUAL(rec_id(p2, 0), rec_id(p1, 4));    /* repeated */
    json_t *first = list_page(w, "conn-0001", 1, 0);
    CU_ASSERT_STRING_EQUAL(rec_id(first, 0), json_string_value(json_object_get(ch, "activity_id")));
    json_decref(first);
    json_decref(ch);
    json_decref(p1);
    json_decref(p2);
    sb_world_destroy(w);
}

static void test_shift_delete_skips(void)
{
    sb_world_t *w = sb_test_world("d2l", 3, 1);
    json_t *all = list_page(w, "conn-0001", 1000, 0);
    sb_query_t q;
    sb_query_init(&q);
    q.limit = 5;
    q.offset = 5;
    json_t *ch = NULL;
    CU_ASSERT_EQUAL(sb_world_shift(w, "conn-0001", &q, true, SB_TEST_NOW, &ch), LS_OK);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(ch, "type")), "removed");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(ch, "activity_id")), rec_id(all, 4));
    CU_ASSERT_TRUE(json_is_null(json_object_get(ch, "after")));
    json_t *p2 = list_page(w, "conn-0001", 5, 5);
    CU_ASSERT_STRING_EQUAL(rec_id(p2, 0), rec_id(all, 6));    /* all[5] skipped */
    json_decref(ch);
    json_decref(p2);
    json_decref(all);
    sb_world_destroy(w);
}

static void test_delete_recreate(void)
{
    sb_world_t *w = sb_test_world("go1", 3, 1);
    json_t *all = list_page(w, "conn-0001", 1, 0);
    char id[64];
    snprintf(id, sizeof(id), "%s", rec_id(all, 0));
    json_decref(all);
    json_t *ch = NULL;
    CU_ASSERT_EQUAL(sb_world_remove(w, "conn-0001", id, SB_TEST_NOW, &ch), LS_OK);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(ch, "type")), "removed");
    json_decref(ch);
    json_t *set = json_pack("{s:s,s:s,s:b}", "course_id", "crs-1", "student_id", "stu-1", "is_completed", 0);
    sb_apply_t req = { .connection_id = "conn-0001", .activity_id = id, .set = set };
    char err[128];
    CU_ASSERT_EQUAL(sb_world_apply(w, &req, SB_TEST_NOW + 5000, &ch, err, sizeof(err)), LS_OK);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(ch, "type")), "created");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(ch, "activity_id")), id);
    CU_ASSERT_TRUE(json_is_null(json_object_get(ch, "before")));
    json_decref(ch);
    json_decref(set);
    sb_world_destroy(w);
}

static void test_unset_and_reappear_are_updates(void)
{
    sb_world_t *w = sb_test_world("d2l", 3, 1);
    json_t *acts = NULL;
    CU_ASSERT_EQUAL(sb_world_activities(w, "conn-0001", &acts), LS_OK);
    const char *id = NULL;
    size_t i;
    json_t *a;
    json_array_foreach(acts, i, a)
        if (json_object_get(a, "duration_minutes") && !id)
            id = json_string_value(json_object_get(a, "id"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    json_t *unset = json_pack("[s]", "duration_minutes");
    sb_apply_t req = { .connection_id = "conn-0001", .activity_id = id, .unset = unset };
    json_t *ch = NULL;
    char err[128];
    CU_ASSERT_EQUAL(sb_world_apply(w, &req, SB_TEST_NOW, &ch, err, sizeof(err)), LS_OK);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(ch, "type")), "updated");
    CU_ASSERT_PTR_NULL(json_object_get(json_object_get(ch, "after"), "duration_minutes"));
    json_decref(ch);
    json_t *set = json_pack("{s:i}", "duration_minutes", 7);
    sb_apply_t req2 = { .connection_id = "conn-0001", .activity_id = id, .set = set };
    CU_ASSERT_EQUAL(sb_world_apply(w, &req2, SB_TEST_NOW + 1000, &ch, err, sizeof(err)), LS_OK);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(ch, "type")), "updated");
    json_decref(ch);
    json_decref(set);
    json_decref(unset);
    json_decref(acts);
    sb_world_destroy(w);
}

static void test_course_required(void)
{
    const sb_profile_t *p = sb_profile_find("sandbox_course_required");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_TRUE(p->test_only);
    sb_world_t *w = sb_test_world("sandbox_course_required", 3, 1);
    sb_query_t q;
    sb_query_init(&q);
    json_t *out = NULL;
    char err[128] = "";
    CU_ASSERT_EQUAL(sb_world_list_activities(w, "conn-0001", &q, &out, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "course_id is required");
    q.has_course_id = true;
    snprintf(q.course_id, sizeof(q.course_id), "crs-2");
    CU_ASSERT_EQUAL(sb_world_list_activities(w, "conn-0001", &q, &out, err, sizeof(err)), LS_OK);
    CU_ASSERT_TRUE(json_array_size(out) > 0);
    size_t i;
    json_t *a;
    json_array_foreach(out, i, a)
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a, "course_id")), "crs-2");
    json_decref(out);
    json_t *integ = sb_profile_integration_json(p);
    json_t *act = json_object_get(json_object_get(integ, "support"), "lms_activity");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(act, "list_course_id")), "supported-required");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(act, "raw_objects"), 0)), "enrollment");
    json_decref(integ);
    /* the default provider list never contains a test-only profile */
    sb_world_config_t cfg;
    sb_world_config_default(&cfg);
    CU_ASSERT_EQUAL(cfg.nproviders, 8);
    for (size_t k = 0; k < cfg.nproviders; k++)
        CU_ASSERT_FALSE(cfg.providers[k]->test_only);
    sb_world_destroy(w);
}

static void test_moodle_has_no_updated_at(void)
{
    sb_world_t *w = sb_test_world("moodle", 3, 1);
    sb_world_tick(w, 50, SB_TEST_NOW, NULL);
    json_t *acts = NULL;
    CU_ASSERT_EQUAL(sb_world_activities(w, "conn-0001", &acts), LS_OK);
    size_t i;
    json_t *a;
    json_array_foreach(acts, i, a)
        CU_ASSERT_PTR_NULL(json_object_get(a, "updated_at"));
    json_t *log = sb_world_changes(w, 1, 1000000);
    json_array_foreach(json_object_get(log, "changes"), i, a) {
        CU_ASSERT_PTR_NULL(json_object_get(json_object_get(a, "after"), "updated_at"));
        CU_ASSERT_STRING_NOT_EQUAL(json_string_value(json_object_get(a, "type")), "touched");
    }
    json_decref(log);
    json_t *list = list_page(w, "conn-0001", 1000, 0);
    json_array_foreach(list, i, a)
        CU_ASSERT_PTR_NULL(json_object_get(a, "updated_at"));
    json_decref(list);
    json_decref(acts);
    sb_world_destroy(w);
}

static void test_shift_fault_table(void)
{
    sb_faults_t *f = sb_faults_new();
    json_t *echo = NULL;
    char err[128];
    json_t *b = json_pack("{s:s,s:s,s:s,s:i}", "connection_id", "conn-0002", "kind", "shift",
                          "direction", "delete", "count", 1);
    CU_ASSERT_EQUAL(sb_faults_add(f, b, &echo, err, sizeof(err)), LS_OK);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(echo, "direction")), "delete");
    json_decref(echo);
    json_decref(b);
    b = json_pack("{s:s,s:s}", "kind", "shift", "direction", "sideways");
    CU_ASSERT_EQUAL(sb_faults_add(f, b, &echo, err, sizeof(err)), LS_EINVAL);
    json_decref(b);
    sb_fault_hit_t hit;
    sb_faults_match(f, "conn-0002", SB_REQ_ACTIVITY, &hit);     /* never a response fault */
    CU_ASSERT_EQUAL(hit.action, SB_FAULT_NONE);
    CU_ASSERT_EQUAL(sb_faults_take_shift(f, "conn-0001"), SB_SHIFT_NONE);
    CU_ASSERT_EQUAL(sb_faults_take_shift(f, "conn-0002"), SB_SHIFT_DELETE);
    CU_ASSERT_EQUAL(sb_faults_take_shift(f, "conn-0002"), SB_SHIFT_NONE);   /* count used up */
    sb_faults_destroy(f);
}

static CU_TestInfo fidelity_tests[] = {
    { "shift insert: the next page repeats a record", test_shift_insert_repeats },
    { "shift delete: the next page skips a record", test_shift_delete_skips },
    { "delete then re-create the same id", test_delete_recreate },
    { "a field that disappears or appears is an update", test_unset_and_reappear_are_updates },
    { "sandbox_course_required needs course_id", test_course_required },
    { "moodle never carries updated_at", test_moodle_has_no_updated_at },
    { "shift faults", test_shift_fault_table },
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    { "sandbox fidelity behaviours", NULL, NULL, NULL, NULL, fidelity_tests },
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
