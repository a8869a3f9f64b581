/* test_time.c - RFC 3339 parsing, UTC formatting, clocks. */
#include "ls_err.h"
#include "ls_test.h"
#include "ls_time.h"

#include <string.h>

static int64_t parse_ok(const char *s)
{
    int64_t ms = -12345;
    int rc = ls_time_parse(s, &ms);
    CU_ASSERT_EQUAL(rc, LS_OK);
    if (rc != LS_OK)
        fprintf(stderr, "\nexpected to parse: \"%s\"\n", s);
    return ms;
}

static void test_parse_basic(void)
{
    CU_ASSERT_EQUAL(parse_ok("1970-01-01T00:00:00Z"), 0);
    CU_ASSERT_EQUAL(parse_ok("2026-11-27T14:09:48Z"), INT64_C(1795788588000));
    CU_ASSERT_EQUAL(parse_ok("2000-02-29T00:00:00Z"), INT64_C(951782400000));
    CU_ASSERT_EQUAL(parse_ok("1969-12-31T23:59:59.999Z"), -1);
    CU_ASSERT_EQUAL(parse_ok("1900-01-01T00:00:00Z"), INT64_C(-2208988800000));
    CU_ASSERT_EQUAL(parse_ok("9999-12-31T23:59:59.999Z"), INT64_C(253402300799999));
    CU_ASSERT_EQUAL(parse_ok("0000-01-01T00:00:00Z"), INT64_C(-62167219200000));
    CU_ASSERT_EQUAL(parse_ok("2024-02-29t12:00:00z"), INT64_C(1709208000000));
}

static void test_parse_equivalent_forms(void)
{
    int64_t base = parse_ok("2026-11-27T14:09:48Z");
    CU_ASSERT_EQUAL(parse_ok("2026-11-27T14:09:48.000Z"), base);
    CU_ASSERT_EQUAL(parse_ok("2026-11-27T14:09:48.0Z"), base);
    CU_ASSERT_EQUAL(parse_ok("2026-11-27T14:09:48.000000000Z"), base);
    CU_ASSERT_EQUAL(parse_ok("2026-11-27T14:09:48+00:00"), base);
    CU_ASSERT_EQUAL(parse_ok("2026-11-27T14:09:48-00:00"), base);
    CU_ASSERT_EQUAL(parse_ok("2026-11-27T16:09:48+02:00"), base);
    CU_ASSERT_EQUAL(parse_ok("2026-11-27T08:39:48-05:30"), base);
    CU_ASSERT_EQUAL(parse_ok("2026-11-28T00:09:48+10:00"), base); /* crosses a day */
}

static void test_parse_fraction(void)
{
    int64_t base = parse_ok("2026-11-27T14:09:48Z");
    CU_ASSERT_EQUAL(parse_ok("2026-11-27T14:09:48.1Z"), base + 100);
    CU_ASSERT_EQUAL(parse_ok("2026-11-27T14:09:48.12Z"), base + 120);
    CU_ASSERT_EQUAL(parse_ok("2026-11-27T14:09:48.123Z"), base + 123);
    CU_ASSERT_EQUAL(parse_ok("2026-11-27T14:09:48.1239Z"), base + 123); /* truncated */
    CU_ASSERT_EQUAL(parse_ok("2026-11-27T14:09:48.999999999Z"), base + 999);
    CU_ASSERT_EQUAL(parse_ok("2026-11-27T16:09:48.123456+02:00"), base + 123);
}

static void test_parse_rejects(void)
{
    static const char *bad[] = {
        "", "2026-11-27", "2026-11-27T14:09:48", "2026-11-27T14:09Z",
        "2026-11-27 14:09:48Z", "2026-11-27T14:09:48ZZ", "2026-11-27T14:09:48Z ",
        " 2026-11-27T14:09:48Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
        "2026-01-32T00:00:00Z", "2026-01-00T00:00:00Z", "2026-02-30T00:00:00Z",
        "2025-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
        "2026-11-27T24:00:00Z", "2026-11-27T14:60:00Z", "2026-11-27T14:09:60Z",
        "2026-11-27T14:09:48.Z", "2026-11-27T14:09:48.1234567890Z",
        "2026-11-27T14:09:48+24:00", "2026-11-27T14:09:48+02:60",
        "2026-11-27T14:09:48+0200", "2026-11-27T14:09:48+2:00", "2026-11-27T14:09:48+02",
        "26-11-27T14:09:48Z", "20261-11-27T14:09:48Z", "2026-1-27T14:09:48Z",
        "2026-11-27X14:09:48Z", "-026-11-27T14:09:48Z", "2026-11-27T14:09:48.12a3Z",
        "yesterday", "2026-11-27T14:09:48,123Z", "+2026-11-27T14:09:48Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 777;
        int rc = ls_time_parse(bad[i], &ms);
        CU_ASSERT_EQUAL(rc, LS_EINVAL);
        CU_ASSERT_EQUAL(ms, 777); /* untouched on failure */
        if (rc != LS_EINVAL)
            fprintf(stderr, "\naccepted bad timestamp: \"%s\"\n", bad[i]);
    }
    int64_t ms;
    CU_ASSERT_EQUAL(ls_time_parse(NULL, &ms), LS_EINVAL);
}

static void test_format(void)
{
    char buf[LS_TIME_BUFSZ];
    CU_ASSERT_STRING_EQUAL(ls_time_format(0, buf), "1970-01-01T00:00:00Z");
    CU_ASSERT_STRING_EQUAL(ls_time_format(INT64_C(1795788588000), buf), "2026-11-27T14:09:48Z");
    CU_ASSERT_STRING_EQUAL(ls_time_format(INT64_C(1795788588123), buf), "2026-11-27T14:09:48.123Z");
    CU_ASSERT_STRING_EQUAL(ls_time_format(INT64_C(1795788588007), buf), "2026-11-27T14:09:48.007Z");
    CU_ASSERT_STRING_EQUAL(ls_time_format(-1, buf), "1969-12-31T23:59:59.999Z");
    CU_ASSERT_STRING_EQUAL(ls_time_format(INT64_C(951782400000), buf), "2000-02-29T00:00:00Z");
    CU_ASSERT_STRING_EQUAL(ls_time_format(INT64_C(-62167219200000), buf), "0000-01-01T00:00:00Z");
    CU_ASSERT_STRING_EQUAL(ls_time_format(INT64_C(253402300799999), buf), "9999-12-31T23:59:59.999Z");
    CU_ASSERT_PTR_EQUAL(ls_time_format(0, buf), buf);
    /* extremes of int64 (possible from a corrupt store) stay within the buffer */
    ls_time_format(INT64_MIN, buf);
    CU_ASSERT(strlen(buf) < LS_TIME_BUFSZ);
    ls_time_format(INT64_MAX, buf);
    CU_ASSERT(strlen(buf) < LS_TIME_BUFSZ);
}

/* Every day from 1600 to 2400 (and a sample of times) round-trips. */
static void test_roundtrip_sweep(void)
{
    char buf[LS_TIME_BUFSZ];
    int64_t from = INT64_C(-11676096000000), to = INT64_C(13569465600000);
    int failures = 0;
    for (int64_t ms = from; ms < to; ms += INT64_C(86400000) + 3601001) {
        int64_t back = 0;
        if (ls_time_parse(ls_time_format(ms, buf), &back) != LS_OK || back != ms)
            failures++;
    }
    CU_ASSERT_EQUAL(failures, 0);
}

static void test_clocks(void)
{
    int64_t now = ls_time_now_ms();
    CU_ASSERT(now > INT64_C(1700000000000)); /* after Nov 2023 */
    int64_t m1 = ls_time_mono_ms(), m2 = ls_time_mono_ms();
    CU_ASSERT(m1 > 0);
    CU_ASSERT(m2 >= m1);
}

static CU_TestInfo time_tests[] = {
    {"parse basic", test_parse_basic},
    {"parse equivalent forms", test_parse_equivalent_forms},
    {"parse fraction", test_parse_fraction},
    {"parse rejects", test_parse_rejects},
    {"format", test_format},
    {"format/parse round trip sweep", test_roundtrip_sweep},
    {"clocks", test_clocks},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_time", NULL, NULL, NULL, NULL, time_tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
