/*
 * test_sandbox_schema.c - the sandbox's LmsActivity fields against lmsync's
 * field table.
 *
 * The sandbox stands in for Unified: it keeps its own field list (the
 * upstream's wire order, and fields lmsync does not track may be added), so
 * that a mistake in lmsync's table is not copied into the simulator and
 * hidden from the end-to-end and fidelity tests. This test is what keeps the
 * two from drifting apart: every tracked field of ls_schema must be a
 * sandbox field of the same JSON kind, and "id" must be one too.
 */
#include <string.h>

#include "ls_schema.h"
#include "ls_test.h"
#include "sb_profile.h"

static sb_field_kind_t expected_kind(ls_kind_t k)
{
    switch (k) {
    case LS_KIND_BOOL: return SB_KIND_BOOL;
    case LS_KIND_NUM: return SB_KIND_NUMBER;
    case LS_KIND_TIME: return SB_KIND_TIME;
    default: return SB_KIND_STRING;
    }
}

static void check_same(const ls_field_desc_t *d)
{
    sb_field_t f = sb_field_from_name(d->name);
    CU_ASSERT_NOT_EQUAL(f, SB_F__COUNT);
    if (f == SB_F__COUNT) {
        fprintf(stderr, "\ntracked field '%s' is not a sandbox field\n", d->name);
        return;
    }
    CU_ASSERT_EQUAL(sb_field_kind(f), expected_kind(d->kind));
}

static void test_tracked_fields_exist(void)
{
    check_same(&ls_schema_id);
    for (unsigned f = 0; f < LS_F__COUNT; f++)
        check_same(&ls_schema_fields[f]);
}

/* Today the sandbox renders exactly id and the tracked fields. */
static void test_same_count(void)
{
    CU_ASSERT_EQUAL(SB_F__COUNT, LS_F__COUNT + 1);
}

static CU_TestInfo tests[] = {
    {"tracked fields are sandbox fields of the same kind", test_tracked_fields_exist},
    {"same number of fields", test_same_count},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"sandbox vs ls_schema", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
