/*
 * test_sandbox_data.c - deterministic generation and mutation stream.
 */
#include <stdlib.h>
#include <string.h>

#include "ls_err.h"
#include "ls_test.h"
#include "sb_test_util.h"

#define ALL8 "coursera,go1,learnupon,d2l,successfactors_lms,udemy,docebo,moodle"

static char *world_fingerprint(sb_world_t *w, unsigned conns)
{
    json_t *all = json_array();
    json_array_append_new(all, sb_world_changes(w, 1, 1000000));
    for (unsigned i = 1; i <= conns; i++) {
        char id[16];
        json_t *acts = NULL;
        snprintf(id, sizeof(id), "conn-%04u", i);
        CU_ASSERT_EQUAL(sb_world_activities(w, id, &acts), LS_OK);
        json_array_append_new(all, acts ? acts : json_null());
    }
    char *s = sb_test_dump(all);
    json_decref(all);
    return s;
}

static void test_same_seed_same_data(void)
{
    sb_world_t *a = sb_test_world(ALL8, 42, 8), *b = sb_test_world(ALL8, 42, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    char *fa = world_fingerprint(a, 8), *fb = world_fingerprint(b, 8);
    CU_ASSERT_STRING_EQUAL(fa, fb);
    free(fa);
    free(fb);
    /* the mutation stream is deterministic too, given the same "now" */
    json_t *ca = json_array(), *cb = json_array();
    CU_ASSERT_EQUAL(sb_world_tick(a, 200, SB_TEST_NOW, ca), 200);
    CU_ASSERT_EQUAL(sb_world_tick(b, 200, SB_TEST_NOW, cb), 200);
    CU_ASSERT_TRUE(json_equal(ca, cb));
    json_decref(ca);
    json_decref(cb);
    sb_world_destroy(a);
    sb_world_destroy(b);
}

static void test_other_seed_other_data(void)
{
    sb_world_t *a = sb_test_world(ALL8, 42, 8), *b = sb_test_world(ALL8, 43, 8);
    char *fa = world_fingerprint(a, 8), *fb = world_fingerprint(b, 8);
    CU_ASSERT_STRING_NOT_EQUAL(fa, fb);
    CU_ASSERT_NOT_EQUAL(sb_world_base_ms(a), sb_world_base_ms(b));
    free(fa);
    free(fb);
    sb_world_destroy(a);
    sb_world_destroy(b);
}

static void test_shape_and_counts(void)
{
    /* coursera has content_id: 5 students x 3 courses x 2 contents; learnupon: 5 x 3 */
    sb_world_t *w = sb_test_world("coursera,learnupon", 7, 3);
    json_t *a1 = NULL, *a2 = NULL, *a3 = NULL;
    CU_ASSERT_EQUAL(sb_world_activities(w, "conn-0001", &a1), LS_OK);
    CU_ASSERT_EQUAL(sb_world_activities(w, "conn-0002", &a2), LS_OK);
    CU_ASSERT_EQUAL(sb_world_activities(w, "conn-0003", &a3), LS_OK);
    CU_ASSERT_EQUAL(sb_world_activities(w, "conn-0004", &a3), LS_ENOTFOUND);
    CU_ASSERT_EQUAL(json_array_size(a1), 30);
    CU_ASSERT_EQUAL(json_array_size(a2), 15);
    CU_ASSERT_EQUAL(json_array_size(a3), 30);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(a1, 0), "id")), "act-0001-000001");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(a2, 14), "id")), "act-0002-000015");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(a1, 29), "content_id")), "cnt-6");
    CU_ASSERT_PTR_NULL(json_object_get(json_array_get(a2, 0), "content_id"));
    /* a deterministic mix of states; completed_at only once completed */
    unsigned not_started = 0, in_progress = 0, completed = 0;
    size_t i;
    json_t *r;
    json_array_foreach(a1, i, r) {
        bool done = json_is_true(json_object_get(r, "is_completed"));
        bool started = json_object_get(r, "started_at") != NULL;
        CU_ASSERT_EQUAL(done, json_object_get(r, "completed_at") != NULL);
        completed += done;
        in_progress += started && !done;
        not_started += !started;
    }
    CU_ASSERT_TRUE(not_started > 0 && in_progress > 0 && completed > 0);
    /* the seed is logged as created entries, seq 1.. */
    json_t *ch = sb_world_changes(w, 1, 5);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(ch, "next")), 6);
    json_t *e0 = json_array_get(json_object_get(ch, "changes"), 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(e0, "type")), "created");
    CU_ASSERT_TRUE(json_is_null(json_object_get(e0, "before")));
    CU_ASSERT_TRUE(json_equal(json_object_get(e0, "after"), json_array_get(a1, 0)));
    CU_ASSERT_EQUAL(sb_world_next_seq(w), 76);
    json_t *tail = sb_world_changes(w, 76, 10);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(tail, "changes")), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(tail, "next")), 76);
    json_decref(tail);
    json_decref(ch);
    json_decref(a1);
    json_decref(a2);
    json_decref(a3);
    sb_world_destroy(w);
}

static void test_connections_and_courses(void)
{
    sb_world_t *w = sb_test_world(ALL8, 42, 10);
    json_t *c = sb_world_connections_json(w, NULL, NULL, 100, 0);
    CU_ASSERT_EQUAL(json_array_size(c), 10);
    json_t *c9 = json_array_get(c, 8);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c9, "id")), "conn-0009");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c9, "integration_type")), "coursera");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c9, "external_xref")), "tenant-0009");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(c, 7), "integration_type")), "moodle");
    json_decref(c);
    c = sb_world_connections_json(w, NULL, NULL, 3, 8);
    CU_ASSERT_EQUAL(json_array_size(c), 2);
    json_decref(c);
    c = sb_world_connections_json(w, "hris", NULL, 100, 0);
    CU_ASSERT_EQUAL(json_array_size(c), 0);
    json_decref(c);
    c = sb_world_connections_json(w, NULL, "tenant-0003", 100, 0);
    CU_ASSERT_EQUAL(json_array_size(c), 1);
    json_decref(c);
    json_t *crs = NULL;
    CU_ASSERT_EQUAL(sb_world_list_courses(w, "conn-0001", 2, 1, &crs), LS_OK);
    CU_ASSERT_EQUAL(json_array_size(crs), 2);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(crs, 0), "id")), "crs-2");
    json_decref(crs);
    CU_ASSERT_EQUAL(sb_world_get_course(w, "conn-0001", "crs-3", &crs), LS_OK);
    json_decref(crs);
    CU_ASSERT_EQUAL(sb_world_get_course(w, "conn-0001", "crs-4", &crs), LS_ENOTFOUND);
    sb_world_destroy(w);
}

static CU_TestInfo data_tests[] = {
    { "same seed gives the same data and mutations", test_same_seed_same_data },
    { "another seed gives other data", test_other_seed_other_data },
    { "record shape, counts, state mix, seed log", test_shape_and_counts },
    { "connections and courses", test_connections_and_courses },
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    { "sandbox data", NULL, NULL, NULL, NULL, data_tests },
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
