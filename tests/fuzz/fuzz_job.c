/*
 * fuzz_job.c - the poll job decoder (ls_job_decode) on arbitrary message
 * values from lmsync.poll.jobs. A decoded job re-encodes (ls_job_encode) to
 * a value that decodes to a job with the identical encoding.
 */
#include "fuzz.h"
#include "ls_err.h"
#include "ls_job.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ls_job_t job, back;
    char err[512];
    err[0] = '\0';
    ls_job_release(&job);
    ls_job_release(&back);
    if (ls_job_decode((const char *)data, size, &job, err, sizeof(err)) != LS_OK) {
        FUZZ_CHECK(err[0] != '\0', "a rejected job has no reason");
        return 0;
    }
    char *enc = ls_job_encode(&job);
    if (!enc)
        return 0;
    FUZZ_CHECK(ls_job_decode(enc, strlen(enc), &back, err, sizeof(err)) == LS_OK, "an encoded job is rejected");
    char *enc2 = ls_job_encode(&back);
    FUZZ_CHECK(enc2 && strcmp(enc, enc2) == 0, "a job changes through encode + decode");
    free(enc);
    free(enc2);
    return 0;
}
