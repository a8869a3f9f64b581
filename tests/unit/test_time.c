/* test_time.c - RFC 3339 parsing, UTC formatting, clocks. */
#include "ls_err.h"
#include "ls_test.h"
#include "ls_time.h"

#include <inttypes.h>
#include <stdbool.h>
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
        "2016-12-31T23:59:61Z", "2016-12-31T23:59:60+01:00", "2016-12-31T23:58:60Z",
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

/* RFC 3339 leap second: 23:59:60 UTC is read as 23:59:59.999, in order with its neighbours. */
static void test_parse_leap_second(void)
{
    int64_t want, ms, next;
    CU_ASSERT_EQUAL_FATAL(ls_time_parse("2016-12-31T23:59:59.999Z", &want), LS_OK);
    CU_ASSERT_EQUAL_FATAL(ls_time_parse("2017-01-01T00:00:00Z", &next), LS_OK);
    static const char *leap[] = {
        "2016-12-31T23:59:60Z", "2016-12-31t23:59:60z", "2016-12-31T23:59:60.5Z",
        "2016-12-31T23:59:60.000000001Z", "2017-01-01T00:59:60+01:00", "2016-12-31T18:29:60-05:30",
        "2026-06-30T23:59:60Z",
    };
    for (size_t i = 0; i < sizeof(leap) / sizeof(leap[0]); i++) {
        ms = 0;
        CU_ASSERT_EQUAL(ls_time_parse(leap[i], &ms), LS_OK);
        if (i < 6)
            CU_ASSERT_EQUAL(ms, want);
        CU_ASSERT_EQUAL(ms % 1000, 999);
    }
    CU_ASSERT(want < next);
    char buf[LS_TIME_BUFSZ];
    CU_ASSERT_STRING_EQUAL(ls_time_format(want, buf), "2016-12-31T23:59:59.999Z");
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

/*
 * The snprintf formatter ls_time_format() had before it wrote its digits
 * itself, kept verbatim (with its civil_from_days) as the reference for the
 * differential test below: the bytes must never change.
 */
static void ref_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = era * 400 + yoe + (*m <= 2);
}

static char *ref_format(int64_t ms, char *buf)
{
    int64_t days = ms / INT64_C(86400000);
    int64_t rem = ms % INT64_C(86400000);
    if (rem < 0) {
        rem += INT64_C(86400000);
        days--;
    }
    int64_t y;
    int m, d;
    ref_civil_from_days(days, &y, &m, &d);
    int msec = (int)(rem % 1000);
    int secs = (int)(rem / 1000);
    int n = snprintf(buf, LS_TIME_BUFSZ, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d",
                     y, m, d, secs / 3600, secs / 60 % 60, secs % 60);
    if (n < 0 || n >= LS_TIME_BUFSZ - 5)
        return buf;
    if (msec != 0)
        snprintf(buf + n, (size_t)(LS_TIME_BUFSZ - n), ".%03dZ", msec);
    else
        snprintf(buf + n, (size_t)(LS_TIME_BUFSZ - n), "Z");
    return buf;
}

/* ls_time_format and ls_time_write against ref_format for one value; prints
 * the first few differences. */
static bool same_as_ref(int64_t ms, int *reported)
{
    char want[LS_TIME_BUFSZ], got[LS_TIME_BUFSZ], raw[LS_TIME_BUFSZ + 1];
    ref_format(ms, want);
    memset(got, 'X', sizeof(got));
    memset(raw, 'X', sizeof(raw));
    ls_time_format(ms, got);
    size_t n = ls_time_write(ms, raw);
    bool ok = memchr(got, '\0', sizeof(got)) != NULL && strcmp(got, want) == 0 &&
              n == strlen(want) && n <= LS_TIME_BUFSZ - 1 && memcmp(raw, want, n) == 0 &&
              raw[n] == 'X'; /* no terminator, nothing past the length */
    if (!ok && (*reported)++ < 5)
        fprintf(stderr, "\nms %" PRId64 ": want \"%s\", got \"%.*s\"\n", ms, want,
                (int)sizeof(got) - 1, got);
    return ok;
}

static uint64_t xorshift64(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Uniform-ish in [lo, hi] (hi - lo < 2^63). */
static int64_t rand_between(uint64_t *s, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(xorshift64(s) % ((uint64_t)(hi - lo) + 1));
}

#define MS_0000 INT64_C(-62167219200000)  /* 0000-01-01T00:00:00Z */
#define MS_10000 INT64_C(253402300800000) /* 10000-01-01T00:00:00Z */
#define MS_DAY INT64_C(86400000)

/* Days from 1970-01-01 to 1 January of year y (proleptic Gregorian). */
static int64_t year_start_days(int64_t y)
{
    y -= 1;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + 306 - 719468;
}

static void test_format_edges_vs_ref(void)
{
    static const int64_t fixed[] = {
        0, 1, -1, 999, 1000, -999, -1000, -1001, MS_DAY - 1, MS_DAY, -MS_DAY, -MS_DAY - 1,
        INT64_C(951782400000), INT64_C(951782399999), INT64_C(951868800000), /* 2000-02-29 */
        INT64_C(1709164800000), INT64_C(1709251199999), /* 2024-02-29 */
        INT64_C(-2203891200000), INT64_C(-2203891200001), /* 1900-03-01, no 02-29 */
        MS_0000, MS_0000 - 1, MS_0000 + 1, MS_0000 + 59 * MS_DAY, /* 0000-02-29 */
        MS_10000, MS_10000 - 1, INT64_C(253402300799000), /* 9999-12-31T23:59:59Z */
        INT64_MIN, INT64_MIN + 1, INT64_MIN + 999, INT64_MIN + 1000,
        INT64_MAX, INT64_MAX - 1, INT64_MAX - 999, INT64_MAX - 1000,
    };
    int failures = 0, reported = 0;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        failures += !same_as_ref(fixed[i], &reported);
    /* Every year boundary from -1200 to 12000 (the sign and padding changes
     * at 0, -1, -10, -100, -1000, 10000), +-1 ms and +-1 s. */
    static const int64_t around[] = {0, 1, -1, 1000, -1000, 999, -999};
    for (int64_t y = -1200; y <= 12000; y++)
        for (size_t k = 0; k < sizeof(around) / sizeof(around[0]); k++)
            failures += !same_as_ref(year_start_days(y) * MS_DAY + around[k], &reported);
    CU_ASSERT_EQUAL(failures, 0);
    char buf[LS_TIME_BUFSZ];
    CU_ASSERT_STRING_EQUAL(ls_time_format(MS_10000, buf), "10000-01-01T00:00:00Z");
    CU_ASSERT_STRING_EQUAL(ls_time_format(MS_0000 - 1, buf), "-001-12-31T23:59:59.999Z");
    CU_ASSERT_STRING_EQUAL(ls_time_format(INT64_MIN, buf), "-292275055-05-16T16:47:04.192Z");
    CU_ASSERT_STRING_EQUAL(ls_time_format(INT64_MAX, buf), "292278994-08-17T07:12:55.807Z");
}

/* 1,200,000 pseudo-random instants against the snprintf reference: over the
 * whole int64 range, within years 0000-9999 (with and without a millisecond
 * part), and within +-100,000 years. Fixed seed, so a failure reproduces. */
static void test_format_random_vs_ref(void)
{
    uint64_t s = UINT64_C(0x2545F4914F6CDD1D);
    int failures = 0, reported = 0;
    for (int i = 0; i < 400000; i++)
        failures += !same_as_ref((int64_t)xorshift64(&s), &reported);
    for (int i = 0; i < 600000; i++) {
        int64_t ms = rand_between(&s, MS_0000, MS_10000 - 1);
        if (i % 3 == 0)
            ms -= ((ms % 1000) + 1000) % 1000; /* whole second: no fraction */
        failures += !same_as_ref(ms, &reported);
    }
    int64_t span = year_start_days(100000) * MS_DAY;
    for (int i = 0; i < 200000; i++)
        failures += !same_as_ref(rand_between(&s, -span, span), &reported);
    CU_ASSERT_EQUAL(failures, 0);
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
    {"parse leap second 23:59:60", test_parse_leap_second},
    {"format", test_format},
    {"format edges vs snprintf reference", test_format_edges_vs_ref},
    {"format random vs snprintf reference", test_format_random_vs_ref},
    {"format/parse round trip sweep", test_roundtrip_sweep},
    {"clocks", test_clocks},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_time", NULL, NULL, NULL, NULL, time_tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
