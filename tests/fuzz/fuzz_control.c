/*
 * fuzz_control.c - the control message decoder (ls_control_decode) on
 * arbitrary values from <prefix>.control, as the coordinator leader reads
 * them. A rejection has a one-line printable reason; a decoded request
 * re-encodes (ls_control_encode) to a value that decodes to a request with
 * the identical encoding, and its resync job id always fits a job.
 */
#include "fuzz.h"
#include "ls_control.h"
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
    static ls_control_t req, back;
    static ls_job_t job;
    char err[512];
    err[0] = '\0';
    if (ls_control_decode((const char *)data, size, &req, err, sizeof(err)) != LS_OK) {
        FUZZ_CHECK(err[0] != '\0', "a rejected control message has no reason");
        for (const char *p = err; *p; p++)
            FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "a rejection reason is not one printable line");
        return 0;
    }
    FUZZ_CHECK(ls_control_job_id(req.connection_id, req.request_id, job.job_id, sizeof(job.job_id)) > 0,
               "a resync job id does not fit");
    char *enc = ls_control_encode(&req);
    if (!enc)
        return 0;
    FUZZ_CHECK(ls_control_decode(enc, strlen(enc), &back, err, sizeof(err)) == LS_OK, "an encoded request is rejected");
    char *enc2 = ls_control_encode(&back);
    FUZZ_CHECK(enc2 && strcmp(enc, enc2) == 0, "a request changes through encode + decode");
    free(enc);
    free(enc2);
    return 0;
}
