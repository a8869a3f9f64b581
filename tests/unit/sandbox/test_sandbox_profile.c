/*
 * test_sandbox_profile.c - provider profiles: field sets, options, timestamp
 * styles, and that rendered records carry exactly the profile's fields.
 */
#include <stdlib.h>
#include <string.h>

#include "ls_err.h"
#include "ls_test.h"
#include "ls_time.h"
#include "sb_test_util.h"

#define ALL8 "coursera,go1,learnupon,d2l,successfactors_lms,udemy,docebo,moodle"

static bool has(const char *type, sb_field_t f)
{
    const sb_profile_t *p = sb_profile_find(type);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return sb_profile_has(p, f);
}

static void test_field_sets(void)
{
    static const char *const all[] = { "coursera", "go1", "learnupon", "d2l",
                                       "successfactors_lms", "udemy", "docebo", "moodle" };
    static const sb_field_t base[] = { SB_F_ID, SB_F_COURSE_ID, SB_F_STUDENT_ID, SB_F_IS_COMPLETED,
                                       SB_F_STARTED_AT, SB_F_COMPLETED_AT, SB_F_CREATED_AT };
    CU_ASSERT_TRUE(sb_profile_count() >= 8);
    for (size_t i = 0; i < 8; i++) {
        for (size_t f = 0; f < sizeof(base) / sizeof(base[0]); f++)
            CU_ASSERT_TRUE(has(all[i], base[f]));
        bool prog = !strcmp(all[i], "coursera") || !strcmp(all[i], "go1") || !strcmp(all[i], "learnupon");
        bool dur = !strcmp(all[i], "coursera") || !strcmp(all[i], "d2l") || !strcmp(all[i], "successfactors_lms");
        bool grade = !strcmp(all[i], "d2l") || !strcmp(all[i], "moodle");
        bool content = strcmp(all[i], "learnupon") && strcmp(all[i], "docebo") && strcmp(all[i], "udemy");
        CU_ASSERT_EQUAL(has(all[i], SB_F_PROGRESS), prog);
        CU_ASSERT_EQUAL(has(all[i], SB_F_DURATION), dur);
        CU_ASSERT_EQUAL(has(all[i], SB_F_ASSIGNED_GRADE), grade);
        CU_ASSERT_EQUAL(has(all[i], SB_F_CONTENT_ID), content);
        CU_ASSERT_EQUAL(has(all[i], SB_F_UPDATED_AT), strcmp(all[i], "moodle") != 0);
        const sb_profile_t *p = sb_profile_find(all[i]);
        CU_ASSERT_EQUAL(p->opt[SB_OPT_UPDATED_GTE] != SB_NOT_SUPPORTED,
                        strcmp(all[i], "successfactors_lms") == 0);
    }
    const sb_profile_t *u = sb_profile_find("udemy");
    CU_ASSERT_EQUAL(u->opt[SB_OPT_COURSE_ID], SB_SUPPORTED);
    CU_ASSERT_EQUAL(u->opt[SB_OPT_STUDENT_ID], SB_SUPPORTED);
    CU_ASSERT_EQUAL(u->opt[SB_OPT_LIMIT], SB_SUPPORTED);
    CU_ASSERT_EQUAL(u->opt[SB_OPT_OFFSET], SB_SUPPORTED);
    CU_ASSERT_PTR_NULL(sb_profile_find("nosuch"));
    CU_ASSERT_EQUAL(sb_field_from_name("progress_percentage"), SB_F_PROGRESS);
    CU_ASSERT_EQUAL(sb_field_from_name("raw"), SB_F__COUNT);
}

static void test_ts_styles(void)
{
    char buf[SB_TS_BUFSZ];
    int64_t t = 1767225600000LL;
    CU_ASSERT_STRING_EQUAL(sb_ts_format(SB_TS_Z, t, buf), "2026-01-01T00:00:00Z");
    CU_ASSERT_STRING_EQUAL(sb_ts_format(SB_TS_MILLIS_Z, t, buf), "2026-01-01T00:00:00.000Z");
    CU_ASSERT_STRING_EQUAL(sb_ts_format(SB_TS_OFFSET, t, buf), "2026-01-01T00:00:00+00:00");
    CU_ASSERT_STRING_EQUAL(sb_ts_format(SB_TS_Z, t + 5, buf), "2026-01-01T00:00:00.005Z");
    /* every style parses back to the same instant */
    for (int s = SB_TS_Z; s <= SB_TS_OFFSET; s++) {
        int64_t back = 0;
        CU_ASSERT_EQUAL(ls_time_parse(sb_ts_format((sb_ts_style_t)s, t + 1000, buf), &back), LS_OK);
        CU_ASSERT_EQUAL(back, t + 1000);
    }
    CU_ASSERT_EQUAL(sb_profile_find("go1")->ts_style, SB_TS_MILLIS_Z);
    CU_ASSERT_EQUAL(sb_profile_find("d2l")->ts_style, SB_TS_OFFSET);
    CU_ASSERT_EQUAL(sb_profile_find("coursera")->ts_style, SB_TS_Z);
}

/* Rendered records (seed and after many mutations) carry only the profile's fields. */
static void test_records_follow_profile(void)
{
    sb_world_t *w = sb_test_world(ALL8, 5, 8);
    sb_world_tick(w, 400, SB_TEST_NOW, NULL);
    for (unsigned c = 1; c <= 8; c++) {
        char id[16];
        snprintf(id, sizeof(id), "conn-%04u", c);
        const sb_profile_t *p = sb_profile_at(c - 1);
        json_t *acts = NULL;
        CU_ASSERT_EQUAL_FATAL(sb_world_activities(w, id, &acts), LS_OK);
        unsigned seen = 0;
        size_t i;
        json_t *r;
        json_array_foreach(acts, i, r) {
            const char *k;
            json_t *v;
            json_object_foreach(r, k, v) {
                sb_field_t f = sb_field_from_name(k);
                CU_ASSERT_TRUE(f != SB_F__COUNT && sb_profile_has(p, f));
                seen |= 1u << f;
                if (sb_field_kind(f) == SB_KIND_TIME) {
                    const char *s = json_string_value(v);
                    size_t n = strlen(s);
                    if (p->ts_style == SB_TS_MILLIS_Z)
                        CU_ASSERT_STRING_EQUAL(s + n - 5, ".000Z");
                    if (p->ts_style == SB_TS_OFFSET)
                        CU_ASSERT_STRING_EQUAL(s + n - 6, "+00:00");
                    if (p->ts_style == SB_TS_Z)
                        CU_ASSERT_TRUE(n == 20 && s[19] == 'Z');
                }
            }
            CU_ASSERT_PTR_NULL(json_object_get(r, "raw"));   /* ground truth has no raw */
        }
        CU_ASSERT_EQUAL(seen, p->fields);   /* and every profile field shows up somewhere */
        json_decref(acts);
    }
    sb_world_destroy(w);
}

static void test_integration_json(void)
{
    json_t *j = sb_profile_integration_json(sb_profile_find("successfactors_lms"));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "type")), "successfactors_lms");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(j, "categories"), 0)), "lms");
    json_t *a = json_object_get(json_object_get(j, "support"), "lms_activity");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a, "list_updated_gte")), "supported");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a, "list_content_id")), "not-supported");
    CU_ASSERT_TRUE(json_is_true(json_object_get(json_object_get(a, "methods"), "list_lms_activity")));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(a, "inbound_fields"), "duration_minutes")), "supported");
    CU_ASSERT_PTR_NULL(json_object_get(json_object_get(a, "inbound_fields"), "progress_percentage"));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(json_object_get(a, "webhook_events"), "updated"), 0)), "virtual");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(json_object_get(a, "webhook_events"), "updated"), 1)), "native");
    json_decref(j);
    j = sb_profile_integration_json(sb_profile_find("moodle"));
    a = json_object_get(json_object_get(j, "support"), "lms_activity");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(a, "list_updated_gte")), "not-supported");
    CU_ASSERT_PTR_NULL(json_object_get(a, "webhook_events"));
    CU_ASSERT_PTR_NULL(json_object_get(json_object_get(a, "inbound_fields"), "updated_at"));
    json_decref(j);
    CU_ASSERT_STRING_EQUAL(sb_support_name(SB_SUPPORTED_REQUIRED), "supported-required");
}

static CU_TestInfo profile_tests[] = {
    { "field sets and options per provider", test_field_sets },
    { "timestamp styles", test_ts_styles },
    { "rendered records follow the profile", test_records_follow_profile },
    { "integration object", test_integration_json },
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    { "sandbox profiles", NULL, NULL, NULL, NULL, profile_tests },
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
