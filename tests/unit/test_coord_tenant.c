/*
 * test_coord_tenant.c - tenants (coordinator/ls_coord_tenant.c): which
 * tenant coordinator.tenant_map gives a connection, the settings' precise
 * errors, and the request budget's bucket.
 */
#include "ls_coord_int.h"
#include "ls_err.h"
#include "ls_test.h"

#include <string.h>

static void test_tenant_name(void)
{
    const char *map = "conn-7=acme,eu:conn-7=acme-eu,moodle=schools";
    char buf[64];
    /* the qualified id first, then the id, then the integration type, then external_xref */
    CU_ASSERT_STRING_EQUAL(coord_tenant_name(map, "eu:conn-7", "conn-7", "moodle", "x", buf, sizeof(buf)), "acme-eu");
    CU_ASSERT_STRING_EQUAL(coord_tenant_name(map, "au:conn-7", "conn-7", "moodle", "x", buf, sizeof(buf)), "acme");
    CU_ASSERT_STRING_EQUAL(coord_tenant_name(map, "conn-8", "conn-8", "moodle", "x", buf, sizeof(buf)), "schools");
    CU_ASSERT_STRING_EQUAL(coord_tenant_name(map, "conn-8", "conn-8", "go1", "x", buf, sizeof(buf)), "x");
    CU_ASSERT_STRING_EQUAL(coord_tenant_name("", "conn-7", "conn-7", "moodle", "", buf, sizeof(buf)), "");
    CU_ASSERT_STRING_EQUAL(coord_tenant_name(map, "conn-70", "conn-70", "moodl", "y", buf, sizeof(buf)), "y"); /* whole keys only */
}

static void expect_err(int rc, const char *err, const char *fragment)
{
    CU_ASSERT_EQUAL(rc, LS_EINVAL);
    if (!strstr(err, fragment))
        fprintf(stderr, "\n  \"%s\" lacks \"%s\"\n", err, fragment);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, fragment));
}

static void test_checks(void)
{
    char err[256];
    CU_ASSERT_EQUAL(coord_tenant_map_check("conn-1=a,moodle=b", err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(coord_tenant_map_check("", err, sizeof(err)), LS_OK);
    expect_err(coord_tenant_map_check("conn-1=a,moodle", err, sizeof(err)), err,
               "setting 'coordinator.tenant_map': entry \"moodle\" is not KEY=TENANT");
    expect_err(coord_tenant_map_check("=a", err, sizeof(err)), err, "entry \"=a\" is not KEY=TENANT");
    expect_err(coord_tenant_map_check("conn-1=", err, sizeof(err)), err, "entry \"conn-1=\" is not KEY=TENANT");
    CU_ASSERT_EQUAL(coord_tenant_budget_check("acme=600,*=6000", err, sizeof(err)), LS_OK);
    expect_err(coord_tenant_budget_check("acme=0", err, sizeof(err)), err,
               "setting 'coordinator.tenant_budget': entry \"acme=0\" is not TENANT=RPM");
    expect_err(coord_tenant_budget_check("acme=10/s", err, sizeof(err)), err, "entry \"acme=10/s\" is not TENANT=RPM");
    CU_ASSERT_EQUAL(coord_tenant_weights_check("big=4,*=1", err, sizeof(err)), LS_OK);
    expect_err(coord_tenant_weights_check("big=2000", err, sizeof(err)), err,
               "setting 'coordinator.tenant_weights': entry \"big=2000\" is not NAME=WEIGHT");
}

static void test_budget(void)
{
    coord_tenant_t t;
    memset(&t, 0, sizeof(t));
    CU_ASSERT(coord_budget_take(&t, 1e6, 1000)); /* no budget: always */
    ls_bucket_init(&t.bucket, 1.0, 60, 0);       /* 60 requests a minute: one a second, burst 60 */
    CU_ASSERT(coord_budget_take(&t, 50, 1000));  /* starts full */
    CU_ASSERT_FALSE(coord_budget_take(&t, 20, 1000)); /* 10 left */
    CU_ASSERT(coord_budget_take(&t, 10, 1000));
    CU_ASSERT_FALSE(coord_budget_take(&t, 5, 3000)); /* 2 s: 2 tokens */
    CU_ASSERT(coord_budget_take(&t, 5, 6000));       /* 5 s: 5 tokens */
    CU_ASSERT_FALSE(coord_budget_take(&t, 100, 60000)); /* 54 s: 54 tokens; costlier than the budget waits ... */
    CU_ASSERT(coord_budget_take(&t, 100, 70000));        /* ... for a full bucket, then goes into debt */
    CU_ASSERT_FALSE(coord_budget_take(&t, 1, 80000));    /* -40 + 10 */
    CU_ASSERT(coord_budget_take(&t, 1, 122000));         /* -30 + 42 = 12 */
}

static CU_TestInfo tests[] = {
    {"tenant_map: qualified id, id, type, then external_xref", test_tenant_name},
    {"tenant settings: precise errors", test_checks},
    {"request budget: bucket, refill, debt", test_budget},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"coord_tenant", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
