/*
 * ls_test.h - the one CUnit main() every unit runner uses.
 *
 * LS_TEST_MAIN(suites) registers a NULL-terminated CU_SuiteInfo array, runs it
 * verbosely and returns non-zero when any assertion failed, so ctest can
 * never report a failing runner as passing.
 */
#ifndef LS_TEST_H
#define LS_TEST_H

#include <CUnit/Basic.h>
#include <stdint.h>
#include <stdio.h>

/* Deterministic PRNG (xorshift64*) of the randomized tests, so failures reproduce; *state != 0. */
static inline uint64_t ls_test_rnd(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * UINT64_C(0x2545F4914F6CDD1D);
}

static inline int ls_test_run(CU_SuiteInfo *suites)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    if (CU_register_suites(suites) != CUE_SUCCESS) {
        fprintf(stderr, "suite registration failed: %s\n", CU_get_error_msg());
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    unsigned run = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    if (run == 0) {
        fprintf(stderr, "no test ran\n");
        return 3;
    }
    return failures > 0 ? 1 : 0;
}

#define LS_TEST_MAIN(suites) \
    int main(void) { return ls_test_run(suites); }

#endif
