/* test_sandbox_virtual.c - virtual connections from a formula (sb_virtual.h). */
#include <string.h>

#include "ls_err.h"
#include "ls_test.h"
#include "sb_virtual.h"

static void test_connections_and_courses(void)
{
    sb_virtual_t v = {.n = 250, .fanout_pct = 10, .courses = 120};
    json_t *page = sb_virtual_connections_json(&v, 100, 200);
    CU_ASSERT_EQUAL(json_array_size(page), 50); /* the last page is short */
    json_t *c = json_array_get(page, 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "id")), "vconn-0000200");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "integration_type")), "sandbox_course_required");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "external_xref")), "vt-2");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(page, 1), "integration_type")), "coursera");
    json_decref(page);
    json_t *out = NULL;
    CU_ASSERT_EQUAL(sb_virtual_courses_json(&v, "vconn-0000010", 100, 100, &out), LS_OK);
    CU_ASSERT_EQUAL(json_array_size(out), 20);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(out, 0), "id")), "vcrs-101");
    json_decref(out);
    CU_ASSERT_EQUAL(sb_virtual_courses_json(&v, "vconn-0000011", 100, 0, &out), LS_OK);
    CU_ASSERT_EQUAL(json_array_size(out), 0); /* not fanned out: no courses */
    json_decref(out);
    CU_ASSERT_EQUAL(sb_virtual_courses_json(&v, "vconn-0000250", 100, 0, &out), LS_ENOTFOUND);
    CU_ASSERT_EQUAL(sb_virtual_courses_json(&v, "conn-0001", 100, 0, &out), LS_ENOTFOUND);
    CU_ASSERT_PTR_NULL(sb_virtual_connection_json(&v, "vconn-00000001"));
    json_t *one = sb_virtual_connection_json(&v, "vconn-0000001");
    CU_ASSERT_PTR_NOT_NULL(one);
    json_decref(one);
}

static void test_tenant_groups(void)
{
    sb_virtual_t v = {.fanout_pct = 0};
    CU_ASSERT_EQUAL(sb_virtual_parse_tenants("1x20000,100x5", &v), 0);
    CU_ASSERT_EQUAL(v.n, 20500);
    json_t *page = sb_virtual_connections_json(&v, 2, 19999);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(page, 0), "external_xref")), "vt-0");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(page, 1), "external_xref")), "vt-1");
    json_decref(page);
    page = sb_virtual_connections_json(&v, 1, 20499);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(page, 0), "external_xref")), "vt-100");
    json_decref(page);
    CU_ASSERT_EQUAL(sb_virtual_parse_tenants("", &v), -1);
    CU_ASSERT_EQUAL(sb_virtual_parse_tenants("3x", &v), -1);
    CU_ASSERT_EQUAL(sb_virtual_parse_tenants("0x5", &v), -1);
    CU_ASSERT_EQUAL(sb_virtual_parse_tenants("2x5,", &v), 0);
    CU_ASSERT_EQUAL(sb_virtual_parse_tenants("2x5;1x1", &v), -1);
}

static CU_TestInfo tests[] = {
    {"connections and courses", test_connections_and_courses},
    {"tenant groups", test_tenant_groups},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"sb_virtual", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
