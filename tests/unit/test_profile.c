/* Unit tests of ls_profile: shipped table, Unified's Integration JSON, overrides, strategy. */
#include "ls_err.h"
#include "ls_profile.h"
#include "ls_test.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const ls_strategy_cfg_t SC = {50000, 12, 86400, 120};

/* The sandbox's successfactors_lms answer, in the shape docs/sandbox.md shows. */
static const char *SF =
    "[{\"type\":\"successfactors_lms\",\"name\":\"SAP SuccessFactors (LMS)\",\"categories\":[\"lms\"],"
    "\"support\":{\"lms_activity\":{\"methods\":{\"list_lms_activity\":true,\"get_lms_activity\":true},"
    "\"list_limit\":\"supported\",\"list_offset\":\"supported\",\"list_updated_gte\":\"supported\","
    "\"list_course_id\":\"supported\",\"list_student_id\":\"supported\",\"list_content_id\":\"not-supported\","
    "\"list_sort_by_updated_at\":\"supported\",\"list_sort_by_created_at\":\"supported\","
    "\"inbound_fields\":{\"id\":\"supported\",\"course_id\":\"supported\",\"updated_at\":\"supported\","
    "\"is_completed\":\"supported\",\"raw\":\"supported\"},"
    "\"webhook_events\":{\"created\":[\"virtual\"],\"updated\":[\"virtual\"]}},"
    "\"lms_course\":{\"methods\":{\"list_lms_course\":true},\"list_limit\":\"supported\",\"list_offset\":\"supported\"}}},"
    " {\"type\":\"moodle\",\"categories\":[\"lms\"],\"support\":{\"lms_activity\":{"
    "\"methods\":{\"list_lms_activity\":true},\"list_updated_gte\":\"supported\",\"list_course_id\":\"supported-required\","
    "\"inbound_fields\":{\"id\":\"supported\",\"course_id\":\"supported\"}}}},"
    " {\"type\":\"bad\",\"support\":{\"lms_activity\":{\"list_limit\":7}}}, 3, {\"name\":\"no type\"}]";

static void test_parse_runtime(void)
{
    ls_profile_t *list, p;
    size_t n;
    char err[256];
    ls_strategy_t s;
    CU_ASSERT_EQUAL_FATAL(ls_profile_parse_integrations(SF, strlen(SF), &list, &n, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL_FATAL(n, 2); /* the malformed entries are skipped */
    ls_profile_resolve("successfactors_lms", list, n, NULL, &p);
    CU_ASSERT_EQUAL(p.source, LS_PSRC_UNIFIED);
    CU_ASSERT_EQUAL(p.obj[LS_OBJ_ACTIVITY].get, LS_CAP_YES);
    CU_ASSERT_EQUAL(p.obj[LS_OBJ_ACTIVITY].opt[LS_OPT_CONTENT_ID], LS_CAP_NO);
    CU_ASSERT_EQUAL(p.obj[LS_OBJ_ACTIVITY].webhooks, LS_WH_VIRTUAL);
    ls_profile_strategy(&p, &SC, -1, &s);
    CU_ASSERT(s.poll && s.incremental && s.gte == LS_GTE_SUPPORTED && !s.fanout && s.get && s.paged);
    CU_ASSERT_STRING_EQUAL(s.sort, "created_at");
    CU_ASSERT_STRING_EQUAL(s.fields, "id,course_id,is_completed,updated_at");
    /* required course_id: fan-out; updated_at not readable: never incremental */
    ls_profile_resolve("moodle", list, n, NULL, &p);
    ls_profile_strategy(&p, &SC, -1, &s);
    CU_ASSERT(s.fanout && !s.incremental && !s.get);
    CU_ASSERT_PTR_NOT_NULL(strstr(s.why[LS_WHY_MODE], "updated_at is not a readable field"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s.why[LS_WHY_REMOVALS], "held"));
    free(list);
    CU_ASSERT_EQUAL(ls_profile_parse_integrations("{\"a\":1}", 7, &list, &n, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_EQUAL(ls_profile_parse_integrations("[", 1, &list, &n, err, sizeof(err)), LS_EINVAL);
}

static void test_fallbacks(void)
{
    ls_profile_t p;
    ls_strategy_t s;
    /* no runtime answer: the shipped table, with the reason noted */
    ls_profile_resolve("udemy", NULL, 0, "GET /unified/integration failed: http 500", &p);
    CU_ASSERT_EQUAL(p.source, LS_PSRC_SHIPPED);
    CU_ASSERT_PTR_NOT_NULL(strstr(p.note, "http 500"));
    CU_ASSERT_EQUAL(p.obj[LS_OBJ_ACTIVITY].opt[LS_OPT_COURSE_ID], LS_CAP_YES);
    CU_ASSERT_EQUAL(p.obj[LS_OBJ_ACTIVITY].opt[LS_OPT_UPDATED_GTE], LS_CAP_NO);
    ls_profile_strategy(&p, &SC, -1, &s);
    CU_ASSERT(s.poll && !s.incremental && s.gte == LS_GTE_NONE && !s.fanout && !s.get);
    /* fan-out by size where course_id is a supported filter */
    ls_profile_strategy(&p, &SC, 60000, &s);
    CU_ASSERT(s.fanout);
    /* unknown type: conservative, never a crash */
    ls_profile_resolve("no-such-lms", NULL, 0, NULL, &p);
    CU_ASSERT_EQUAL(p.source, LS_PSRC_CONSERVATIVE);
    ls_profile_strategy(&p, &SC, 1000000, &s);
    CU_ASSERT(s.poll && !s.incremental && !s.fanout && !s.get && s.paged);
    CU_ASSERT_STRING_EQUAL(s.sort, "");
    ls_profile_resolve(NULL, NULL, 0, NULL, &p);
    ls_profile_strategy(&p, &SC, -1, &s);
    CU_ASSERT(s.poll && !s.incremental);
    /* a type Unified lists without lms_activity falls back too */
    const char *body = "[{\"type\":\"udemy\",\"support\":{\"lms_course\":{}}}]";
    ls_profile_t *list;
    size_t n;
    char err[128];
    CU_ASSERT_EQUAL_FATAL(ls_profile_parse_integrations(body, strlen(body), &list, &n, err, sizeof(err)), LS_OK);
    ls_profile_resolve("udemy", list, n, NULL, &p);
    CU_ASSERT_EQUAL(p.source, LS_PSRC_SHIPPED);
    free(list);
}

static void test_shipped_table(void)
{
    ls_profile_t p;
    CU_ASSERT(ls_profile_shipped_count() >= 30);
    for (size_t i = 0; i < ls_profile_shipped_count(); i++)
        CU_ASSERT_EQUAL(ls_profile_shipped(ls_profile_shipped_type(i), &p), LS_OK);
    CU_ASSERT_EQUAL(ls_profile_shipped("mykademy", &p), LS_OK);
    CU_ASSERT_EQUAL(p.obj[LS_OBJ_ACTIVITY].fields_known, LS_FIELDS_PREFIX);
    CU_ASSERT_EQUAL(p.obj[LS_OBJ_ACTIVITY].get, LS_CAP_NO);
    CU_ASSERT_EQUAL(ls_profile_shipped("coursera", &p), LS_OK);
    CU_ASSERT_EQUAL(p.obj[LS_OBJ_ACTIVITY].known, 0);
    CU_ASSERT_EQUAL(ls_profile_shipped("nope", &p), LS_ENOTFOUND);
}

static void test_overrides(void)
{
    ls_profile_t p;
    ls_strategy_t s;
    char err[256];
    ls_profile_shipped("coursera", &p);
    CU_ASSERT_EQUAL(ls_profile_apply_overrides(&p, "conn-0001",
                    "coursera.course_id=required,conn-0001.get=yes,d2l.updated_gte=supported", err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(p.obj[LS_OBJ_ACTIVITY].opt[LS_OPT_COURSE_ID], LS_CAP_REQUIRED);
    CU_ASSERT_EQUAL(p.obj[LS_OBJ_ACTIVITY].opt[LS_OPT_UPDATED_GTE], LS_CAP_UNKNOWN);
    CU_ASSERT_PTR_NOT_NULL(strstr(p.overrides, "course_id=required"));
    ls_profile_strategy(&p, &SC, -1, &s);
    CU_ASSERT(s.fanout && s.get);
    CU_ASSERT_EQUAL(ls_profile_apply_overrides(&p, "c", "*.fields=id+updated_at,*.updated_gte=supported", err,
                                               sizeof(err)), LS_OK);
    ls_profile_strategy(&p, &SC, -1, &s);
    CU_ASSERT(s.incremental);
    CU_ASSERT_STRING_EQUAL(s.fields, "id,updated_at");
    CU_ASSERT_EQUAL(ls_profile_check_overrides("", err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_profile_check_overrides("coursera.course_id=maybe", err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_EQUAL(ls_profile_check_overrides("coursera.course_id=supported-required,*.updated_gte=not-supported",
                                                err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_profile_check_overrides("coursera.course_id=unknown", err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_EQUAL(ls_profile_check_overrides("coursera.colour=red", err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_EQUAL(ls_profile_check_overrides("coursera", err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "TARGET.KEY=VALUE"));
}

static void test_required_gte_and_unpaged(void)
{
    const char *body = "[{\"type\":\"x\",\"support\":{\"lms_activity\":{\"methods\":{\"list\":true},"
                       "\"list_limit\":\"not-supported\",\"list_updated_gte\":\"supported-required\","
                       "\"list_student_id\":\"something-new\","
                       "\"inbound_fields\":{\"id\":\"supported\",\"updated_at\":\"supported\"}}}}]";
    ls_profile_t *list, p;
    ls_strategy_t s;
    size_t n;
    char err[128];
    CU_ASSERT_EQUAL_FATAL(ls_profile_parse_integrations(body, strlen(body), &list, &n, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    ls_profile_resolve("x", list, n, NULL, &p);
    CU_ASSERT_EQUAL(p.obj[LS_OBJ_ACTIVITY].opt[LS_OPT_STUDENT_ID], LS_CAP_UNKNOWN); /* unknown value: never supported */
    ls_profile_strategy(&p, &SC, -1, &s);
    CU_ASSERT(s.incremental && s.gte == LS_GTE_REQUIRED && !s.paged);
    free(list);
}

static void test_md_and_explain(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ls_profile_providers_md(f, &SC);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "| coursera | Coursera |"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "any other integration type (conservative)"));
    free(buf);
    ls_profile_t p;
    ls_strategy_t s;
    ls_profile_shipped("go1", &p);
    ls_profile_strategy(&p, &SC, -1, &s);
    f = open_memstream(&buf, &len);
    ls_profile_explain(f, "conn-9", &p, &s);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "profile source: shipped table"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "removals"));
    free(buf);
}

static CU_TestInfo tests[] = {
    {"Unified's integration list; malformed entries skipped", test_parse_runtime},
    {"fallbacks: shipped table, conservative", test_fallbacks},
    {"shipped table", test_shipped_table},
    {"overrides", test_overrides},
    {"required updated_gte, unpaged list, unknown flag values", test_required_gte_and_unpaged},
    {"providers.md and explain output", test_md_and_explain},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {
    {"profile", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};
LS_TEST_MAIN(suites)
