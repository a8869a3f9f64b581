/* test_control.c - control topic messages (resync requests) and resync job ids. */
#include "ls_control.h"
#include "ls_err.h"
#include "ls_job.h"
#include "ls_test.h"

#include <stdlib.h>
#include <string.h>

static void expect_bad(const char *v, const char *fragment)
{
    ls_control_t c;
    char err[256] = "";
    CU_ASSERT_EQUAL(ls_control_decode(v, v ? strlen(v) : 0, &c, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, fragment));
    if (!strstr(err, fragment))
        fprintf(stderr, "\nwanted \"%s\" in \"%s\"\n", fragment, err);
    CU_ASSERT_STRING_EQUAL(c.connection_id, "");
}

static void test_roundtrip(void)
{
    ls_control_t c = {LS_CONTROL_RESYNC, "conn-1", INT64_C(1795897185436), "1795897185436-0f3a9c21"}, d;
    char err[256];
    char *s = ls_control_encode(&c);
    CU_ASSERT_STRING_EQUAL(s, "{\"connection_id\":\"conn-1\",\"request_id\":\"1795897185436-0f3a9c21\","
                              "\"requested_at\":\"2026-11-28T20:19:45.436Z\",\"type\":\"resync\",\"v\":1}");
    CU_ASSERT_EQUAL(ls_control_decode(s, strlen(s), &d, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(d.type, LS_CONTROL_RESYNC);
    CU_ASSERT_STRING_EQUAL(d.connection_id, "conn-1");
    CU_ASSERT_STRING_EQUAL(d.request_id, c.request_id);
    CU_ASSERT_EQUAL(d.requested_at, c.requested_at);
    free(s);
}

#define MSG(v, type, conn, at, rid)                                                                       \
    "{\"v\":" v ",\"type\":\"" type "\",\"connection_id\":\"" conn "\",\"requested_at\":\"" at "\","     \
    "\"request_id\":\"" rid "\"}"

static void test_bad(void)
{
    expect_bad("", "empty");
    expect_bad("{", "invalid JSON");
    expect_bad("[]", "not a JSON object");
    expect_bad(MSG("2", "resync", "c", "2026-11-28T20:19:45Z", "r1"), "'v' must be 1");
    expect_bad(MSG("1", "purge", "c", "2026-11-28T20:19:45Z", "r1"), "unknown type \"purge\"");
    expect_bad(MSG("1", "resync", "", "2026-11-28T20:19:45Z", "r1"), "'connection_id' is empty");
    expect_bad(MSG("1", "resync", "a/b", "2026-11-28T20:19:45Z", "r1"), "cannot be a key part");
    expect_bad(MSG("1", "resync", "c", "yesterday", "r1"), "'requested_at' is not a timestamp");
    expect_bad(MSG("1", "resync", "c", "2026-11-28T20:19:45Z", "r 1"), "'request_id' may hold only");
    expect_bad(MSG("1", "resync", "c", "2026-11-28T20:19:45Z", "0123456789012345678901234"), "'request_id' is too long");
    expect_bad("{\"v\":1,\"type\":\"resync\",\"connection_id\":\"c\",\"requested_at\":\"2026-11-28T20:19:45Z\"}",
               "missing field 'request_id'");
    expect_bad("{\"v\":1,\"type\":\"resync\",\"connection_id\":7,\"requested_at\":\"x\",\"request_id\":\"r\"}",
               "'connection_id'");
    /* a control character in a quoted value never reaches the log line raw */
    ls_control_t c;
    char err[256];
    const char *nl = MSG("1", "resync\\n", "c", "2026-11-28T20:19:45Z", "r1");
    CU_ASSERT_EQUAL(ls_control_decode(nl, strlen(nl), &c, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_PTR_NULL(strchr(err, '\n'));
}

static void test_job_ids(void)
{
    char buf[sizeof(((ls_job_t *)0)->job_id)];
    CU_ASSERT_EQUAL(ls_control_job_id("conn-1/crs-2", "r-7", buf, sizeof(buf)), (int)strlen("conn-1/crs-2@resync-r-7"));
    CU_ASSERT_STRING_EQUAL(buf, "conn-1/crs-2@resync-r-7");
    CU_ASSERT(ls_control_is_job_of(buf, "r-7"));
    CU_ASSERT(!ls_control_is_job_of(buf, "r-8"));
    CU_ASSERT(!ls_control_is_job_of("conn-1@1795897185436", "1795897185436"));
    CU_ASSERT(!ls_control_is_job_of("r-7", "r-7"));
    /* the longest scope and request id fit a job id */
    char scope[2 * LS_STR_MAX + 2], rid[LS_CONTROL_REQUEST_ID_MAX + 1];
    memset(scope, 'c', sizeof(scope) - 1);
    scope[LS_STR_MAX] = '/';
    scope[sizeof(scope) - 1] = '\0';
    memset(rid, 'r', sizeof(rid) - 1);
    rid[sizeof(rid) - 1] = '\0';
    CU_ASSERT(ls_control_job_id(scope, rid, buf, sizeof(buf)) > 0);
    CU_ASSERT_EQUAL(ls_control_job_id(scope, rid, buf, 16), -1);
    CU_ASSERT_STRING_EQUAL(buf, "");
}

static CU_TestInfo control_tests[] = {
    {"resync request round trip", test_roundtrip},
    {"malformed requests are rejected", test_bad},
    {"resync job ids", test_job_ids},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_control", NULL, NULL, NULL, NULL, control_tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
