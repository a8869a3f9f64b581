/*
 * fuzz_status.c - the status record decoder (ls_status_decode), which the
 * coordinator runs on every lmsync.sync.status value. A decoded record
 * re-encodes (ls_status_encode) to a value that decodes to a record with the
 * identical encoding.
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
    static ls_job_t job, job2;
    static ls_status_t st, st2;
    char err[512];
    err[0] = '\0';
    if (ls_status_decode((const char *)data, size, &job, &st, err, sizeof(err)) != LS_OK) {
        FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL, "a rejected status record has no one-line reason");
        return 0;
    }
    char *enc = ls_status_encode(&job, &st);
    if (!enc)
        return 0;
    FUZZ_CHECK(ls_status_decode(enc, strlen(enc), &job2, &st2, err, sizeof(err)) == LS_OK,
               "an encoded status record is rejected");
    char *enc2 = ls_status_encode(&job2, &st2);
    FUZZ_CHECK(enc2 && strcmp(enc, enc2) == 0, "a status record changes through encode + decode");
    free(enc);
    free(enc2);
    return 0;
}
