/*
 * fuzz_state.c - the packed state decoder (ls_state_unpack) on arbitrary
 * LMDB values / lmsync.activity.state changelog values. ls_state.h promises
 * that unpack accepts only what pack produces: an accepted buffer re-packs
 * to the identical bytes.
 */
#include "fuzz.h"
#include "ls_err.h"
#include "ls_state.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ls_activity_t a;
    uint8_t again[LS_STATE_MAX];
    size_t n;
    if (ls_state_unpack(data, size, &a) != LS_OK)
        return 0;
    FUZZ_CHECK(ls_state_pack(&a, again, sizeof(again), &n) == LS_OK, "an unpacked record does not pack");
    FUZZ_CHECK(n == size && memcmp(again, data, size) == 0, "unpack accepted a non-canonical buffer");
    return 0;
}
