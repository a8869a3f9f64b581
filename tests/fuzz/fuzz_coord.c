/*
 * fuzz_coord.c - the coordinator's decoders of upstream bodies:
 * ls_coord_parse_connections (GET /unified/connection) and
 * ls_coord_parse_courses (GET /lms/{conn}/course), on the same bytes. Its
 * reading of status records is ls_status_decode (fuzz_status.c).
 */
#include "fuzz.h"
#include "ls_coord.h"
#include "ls_err.h"

#include <string.h>

#define CAP 8

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ls_coord_conn_t conns[CAP];
    static char ids[CAP][LS_STR_MAX + 1];
    char err[256];
    size_t seen = 0;
    int n = ls_coord_parse_connections((const char *)data, size, conns, CAP, &seen, err, sizeof(err));
    FUZZ_CHECK(n == LS_EINVAL || (n >= 0 && n <= CAP && (size_t)n <= seen), "connection count out of range");
    for (int i = 0; i < n; i++)
        FUZZ_CHECK(conns[i].id[0] != '\0' && memchr(conns[i].id, '\0', sizeof(conns[i].id)), "a connection without id");
    n = ls_coord_parse_courses((const char *)data, size, ids, CAP, &seen, err, sizeof(err));
    FUZZ_CHECK(n == LS_EINVAL || (n >= 0 && n <= CAP && (size_t)n <= seen), "course count out of range");
    for (int i = 0; i < n; i++)
        FUZZ_CHECK(ids[i][0] != '\0', "a course without id");
    return 0;
}
