/*
 * fuzz_header.c - the response header reader of ls_http
 * (ls_http_read_retry_after: Retry-After / retry-after-ms, as delays or
 * HTTP-dates) on arbitrary header lines. Whatever the line, the delay stays
 * unset (-1) or lands in [0, LS_HTTP_RETRY_AFTER_MAX_MS]; UBSan checks the
 * arithmetic on the way (no signed overflow however many digits).
 */
#include "fuzz.h"
#include "ls_http.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t ms = -1, kept = 1234;
    ls_http_read_retry_after((const char *)data, size, 1764252588, &ms);
    FUZZ_CHECK(ms == -1 || (ms >= 0 && ms <= LS_HTTP_RETRY_AFTER_MAX_MS), "Retry-After delay out of range");
    /* an earlier retry-after-ms is kept against any Retry-After */
    ls_http_read_retry_after((const char *)data, size, 1764252588, &kept);
    FUZZ_CHECK(kept == 1234 || (kept >= 0 && kept <= LS_HTTP_RETRY_AFTER_MAX_MS), "retry-after-ms out of range");
    return 0;
}
