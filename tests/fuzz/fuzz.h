/*
 * fuzz.h - what every libFuzzer harness of tests/fuzz shares.
 *
 * FUZZ_CHECK states a property the code under test promises (a round trip,
 * a canonical form); a broken promise aborts, which libFuzzer reports as a
 * crash and saves the input. Logging is turned down to errors once, so the
 * fuzzer's own output stays readable.
 */
#ifndef LS_FUZZ_H
#define LS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ls_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond, what)                                                   \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "fuzz property broken at %s:%d: %s\n", __FILE__,     \
                    __LINE__, (what));                                           \
            abort();                                                             \
        }                                                                        \
    } while (0)

/* Quiet logging: only errors reach stderr. */
static inline void fuzz_quiet(void)
{
    ls_log_init("fuzz", LS_LOG_ERROR, 0);
}

#endif
