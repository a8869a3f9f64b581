/*
 * test_sandbox_rate.c - the sandbox's rate limits (sb_rate.c) on an
 * injected clock: the token bucket admits its burst then paces at rps,
 * Retry-After / retry-after-ms rounding, max_rps_1s, "*" versus a
 * connection's own limit, the Unified-wide limit asked first, the counters.
 */
#include <stdlib.h>
#include <string.h>

#include "ls_err.h"
#include "ls_test.h"
#include "sb_rate.h"

#define MS 1000000ull                 /* ns */
#define T0 (1000 * SB_RATE_NS)        /* a monotonic "now" far from 0 */

static uint64_t fake_clock(void *cls)
{
    return *(const uint64_t *)cls;
}

static void test_bucket_burst_then_pace(void)
{
    sb_rate_limit_t lim = { 5.0, 3 };
    sb_bucket_t b;
    sb_bucket_init(&b, &lim);
    uint64_t wait = 0;
    for (int i = 0; i < 3; i++)
        CU_ASSERT_TRUE(sb_bucket_take(&b, T0, &wait));          /* the burst */
    CU_ASSERT_FALSE(sb_bucket_take(&b, T0, &wait));
    CU_ASSERT_EQUAL(wait, 200 * MS);                             /* one token per 200 ms */
    CU_ASSERT_FALSE(sb_bucket_take(&b, T0 + 199 * MS, &wait));
    CU_ASSERT_EQUAL(wait, 1 * MS);
    CU_ASSERT_TRUE(sb_bucket_take(&b, T0 + 200 * MS, &wait));
    CU_ASSERT_FALSE(sb_bucket_take(&b, T0 + 200 * MS, &wait));
    /* a client asking every 10 ms gets one every 200 ms: 50 in 10 s (from T0 + 0.41 s) */
    int admitted = 0;
    for (uint64_t t = T0 + 210 * MS; t < T0 + 10400 * MS; t += 10 * MS)
        admitted += sb_bucket_take(&b, t, &wait);
    CU_ASSERT_EQUAL(admitted, 50);
    /* idle refills to the burst, never beyond */
    uint64_t later = T0 + 60 * SB_RATE_NS;
    int n = 0;
    while (sb_bucket_take(&b, later, &wait))
        n++;
    CU_ASSERT_EQUAL(n, 3);
}

static void test_bucket_default_burst_and_fraction(void)
{
    sb_rate_limit_t half = { 0.5, 0 };
    CU_ASSERT_EQUAL(sb_rate_limit_burst(&half), 1);
    sb_rate_limit_t five = { 5.0, 0 };
    CU_ASSERT_EQUAL(sb_rate_limit_burst(&five), 5);
    sb_rate_limit_t odd = { 2.5, 0 };
    CU_ASSERT_EQUAL(sb_rate_limit_burst(&odd), 3);
    sb_bucket_t b;
    sb_bucket_init(&b, &half);
    uint64_t wait = 0;
    CU_ASSERT_TRUE(sb_bucket_take(&b, T0, &wait));
    CU_ASSERT_FALSE(sb_bucket_take(&b, T0 + 1 * MS, &wait));
    CU_ASSERT_EQUAL(wait, 1999 * MS);
    CU_ASSERT_EQUAL(sb_rate_retry_after_s(wait), 2);
    CU_ASSERT_TRUE(sb_bucket_take(&b, T0 + 2000 * MS, &wait));
}

static void test_retry_after_rounding(void)
{
    CU_ASSERT_EQUAL(sb_rate_retry_after_s(1), 1);
    CU_ASSERT_EQUAL(sb_rate_retry_after_s(200 * MS), 1);       /* never 0 */
    CU_ASSERT_EQUAL(sb_rate_retry_after_s(SB_RATE_NS), 1);
    CU_ASSERT_EQUAL(sb_rate_retry_after_s(SB_RATE_NS + 1), 2);
    CU_ASSERT_EQUAL(sb_rate_retry_after_ms(1), 1);
    CU_ASSERT_EQUAL(sb_rate_retry_after_ms(200 * MS), 200);
    CU_ASSERT_EQUAL(sb_rate_retry_after_ms(200 * MS + 1), 201);
}

static void test_window_max(void)
{
    sb_window_t w;
    sb_window_init(&w);
    /* exactly 5 rps: requests 200 ms apart; ones 1 s apart are not in one window */
    for (int i = 0; i <= 50; i++)
        sb_window_add(&w, T0 + (uint64_t)i * 200 * MS);
    CU_ASSERT_EQUAL(w.max, 5);
    /* 5 rps with up to 40 ms of jitter never shows more than 6 */
    sb_window_reset(&w);
    unsigned seed = 7;
    for (int i = 0; i < 500; i++) {
        seed = seed * 1103515245u + 12345u;
        sb_window_add(&w, T0 + (uint64_t)i * 200 * MS + (seed >> 16) % (40 * MS / 1000) * 1000);
    }
    CU_ASSERT_TRUE(w.max >= 5 && w.max <= 6);
    /* a burst of 20 at once, then nothing: 20 */
    sb_window_reset(&w);
    for (int i = 0; i < 20; i++)
        CU_ASSERT_EQUAL(sb_window_add(&w, T0), (unsigned long)i + 1);
    CU_ASSERT_EQUAL(sb_window_add(&w, T0 + SB_RATE_NS), 1);
    CU_ASSERT_EQUAL(w.max, 20);
    /* the densest second is found wherever it is: 3 at 0.9..0.99 s and 4 at 1.0..1.3 s */
    sb_window_reset(&w);
    sb_window_add(&w, T0);
    for (int i = 0; i < 3; i++)
        sb_window_add(&w, T0 + 900 * MS + (uint64_t)i * 30 * MS);
    for (int i = 0; i < 4; i++)
        sb_window_add(&w, T0 + 1000 * MS + (uint64_t)i * 100 * MS);
    CU_ASSERT_EQUAL(w.max, 7);
    /* a time going backwards (racing threads) counts as the last one */
    CU_ASSERT_EQUAL(sb_window_add(&w, T0), 8);
    /* growth past the first ring: 1000 in one second */
    sb_window_reset(&w);
    for (int i = 0; i < 1000; i++)
        sb_window_add(&w, T0 + (uint64_t)i * MS);
    CU_ASSERT_EQUAL(w.max, 1000);
    sb_window_release(&w);
}

static void test_parse(void)
{
    sb_rate_limit_t l = { -1.0, 99 };
    CU_ASSERT_EQUAL(sb_rate_parse("5", &l), LS_OK);
    CU_ASSERT_DOUBLE_EQUAL(l.rps, 5.0, 1e-9);
    CU_ASSERT_EQUAL(l.burst, 0);
    CU_ASSERT_EQUAL(sb_rate_parse("2.5:10", &l), LS_OK);
    CU_ASSERT_DOUBLE_EQUAL(l.rps, 2.5, 1e-9);
    CU_ASSERT_EQUAL(l.burst, 10);
    CU_ASSERT_EQUAL(sb_rate_parse("0", &l), LS_OK);
    CU_ASSERT_DOUBLE_EQUAL(l.rps, 0.0, 1e-9);
    const char *bad[] = { "", "-1", "x", "5:", "5:0", "5:-2", "5:3x", "nan", "inf", " 5", "2000000", "5:2000000" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CU_ASSERT_EQUAL(sb_rate_parse(bad[i], &l), LS_EINVAL);

    char err[160];
    sb_rate_req_t req;
    json_t *b = json_loads("{\"connection_id\":\"conn-0001\",\"rps\":3,\"burst\":6}", 0, NULL);
    CU_ASSERT_EQUAL(sb_rate_parse_body(b, &req, err, sizeof(err)), LS_OK);
    CU_ASSERT_FALSE(req.unified);
    CU_ASSERT_STRING_EQUAL(req.connection_id, "conn-0001");
    CU_ASSERT_EQUAL(req.limit.burst, 6);
    json_decref(b);
    b = json_loads("{\"scope\":\"unified\",\"rps\":0.5}", 0, NULL);
    CU_ASSERT_EQUAL(sb_rate_parse_body(b, &req, err, sizeof(err)), LS_OK);
    CU_ASSERT_TRUE(req.unified);
    CU_ASSERT_PTR_NULL(req.connection_id);
    CU_ASSERT_DOUBLE_EQUAL(req.limit.rps, 0.5, 1e-9);
    json_decref(b);
    const char *bad_bodies[] = {
        "{\"rps\":3}", "{\"connection_id\":\"*\"}", "{\"connection_id\":\"*\",\"rps\":-1}",
        "{\"connection_id\":\"*\",\"rps\":\"3\"}", "{\"connection_id\":\"*\",\"rps\":3,\"burst\":0}",
        "{\"connection_id\":\"*\",\"rps\":3,\"burst\":1.5}", "{\"scope\":\"world\",\"rps\":3}",
        "{\"scope\":\"unified\",\"connection_id\":\"*\",\"rps\":3}",
    };
    for (size_t i = 0; i < sizeof(bad_bodies) / sizeof(bad_bodies[0]); i++) {
        b = json_loads(bad_bodies[i], 0, NULL);
        CU_ASSERT_EQUAL(sb_rate_parse_body(b, &req, err, sizeof(err)), LS_EINVAL);
        json_decref(b);
    }
}

static sb_rate_t *limiter(uint64_t *now, unsigned conns)
{
    sb_rate_t *r = sb_rate_new(fake_clock, now);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    char id[16];
    for (unsigned i = 1; i <= conns; i++) {
        snprintf(id, sizeof(id), "conn-%04u", i);
        CU_ASSERT_EQUAL(sb_rate_add_connection(r, id), LS_OK);
    }
    return r;
}

static int admitted(sb_rate_t *r, const char *conn, int n, sb_rate_hit_t *last)
{
    int ok = 0;
    for (int i = 0; i < n; i++) {
        sb_rate_check(r, conn, last);
        ok += last->verdict == SB_RATE_OK;
    }
    return ok;
}

static void test_vendor_limits(void)
{
    uint64_t now = T0;
    sb_rate_t *r = limiter(&now, 3);
    sb_rate_hit_t hit;
    CU_ASSERT_EQUAL(admitted(r, "conn-0001", 100, &hit), 100);      /* no limit: all pass */
    sb_rate_limit_t star = { 2.0, 2 }, own = { 10.0, 4 }, off = { 0.0, 0 };
    CU_ASSERT_EQUAL(sb_rate_set(r, "*", &star), LS_OK);
    CU_ASSERT_EQUAL(sb_rate_set(r, "conn-0002", &own), LS_OK);
    CU_ASSERT_EQUAL(sb_rate_set(r, "conn-0009", &own), LS_ENOTFOUND);
    CU_ASSERT_EQUAL(admitted(r, "conn-0001", 5, &hit), 2);           /* "*": own bucket each */
    CU_ASSERT_EQUAL(hit.verdict, SB_RATE_VENDOR);
    CU_ASSERT_DOUBLE_EQUAL(hit.rps, 2.0, 1e-9);
    CU_ASSERT_EQUAL(hit.wait_ns, 500 * MS);
    CU_ASSERT_EQUAL(admitted(r, "conn-0003", 5, &hit), 2);
    CU_ASSERT_EQUAL(admitted(r, "conn-0002", 10, &hit), 4);          /* its own wins over "*" */
    CU_ASSERT_DOUBLE_EQUAL(hit.rps, 10.0, 1e-9);
    CU_ASSERT_EQUAL(admitted(r, "conn-0404", 10, &hit), 10);         /* unknown: no vendor limit */
    now += 500 * MS;
    CU_ASSERT_EQUAL(admitted(r, "conn-0001", 5, &hit), 1);
    CU_ASSERT_EQUAL(sb_rate_set(r, "conn-0002", &off), LS_OK);       /* back to "*" (full) */
    CU_ASSERT_EQUAL(admitted(r, "conn-0002", 5, &hit), 2);
    sb_rate_clear(r);
    CU_ASSERT_EQUAL(admitted(r, "conn-0001", 50, &hit), 50);
    json_t *lims = sb_rate_limits_json(r);
    CU_ASSERT_TRUE(json_is_null(json_object_get(lims, "unified")));
    CU_ASSERT_EQUAL(json_object_size(json_object_get(lims, "connections")), 0);
    json_decref(lims);
    sb_rate_destroy(r);
}

static void test_unified_first(void)
{
    uint64_t now = T0;
    sb_rate_t *r = limiter(&now, 2);
    sb_rate_limit_t uni = { 4.0, 3 }, vendor = { 1.0, 1 };
    CU_ASSERT_EQUAL(sb_rate_set(r, NULL, &uni), LS_OK);
    CU_ASSERT_EQUAL(sb_rate_set(r, "conn-0002", &vendor), LS_OK);
    sb_rate_hit_t hit;
    /* conn-0001 takes the whole Unified burst; conn-0002 is refused by Unified, not its LMS */
    CU_ASSERT_EQUAL(admitted(r, "conn-0001", 3, &hit), 3);
    sb_rate_check(r, "conn-0002", &hit);
    CU_ASSERT_EQUAL(hit.verdict, SB_RATE_UNIFIED);
    CU_ASSERT_EQUAL(hit.wait_ns, 250 * MS);
    CU_ASSERT_EQUAL(sb_rate_retry_after_ms(hit.wait_ns), 250);
    /* that refusal took no vendor token: conn-0002's single token is still there */
    now += 250 * MS;
    sb_rate_check(r, "conn-0002", &hit);
    CU_ASSERT_EQUAL(hit.verdict, SB_RATE_OK);
    now += 250 * MS;
    sb_rate_check(r, "conn-0002", &hit);
    CU_ASSERT_EQUAL(hit.verdict, SB_RATE_VENDOR);
    CU_ASSERT_EQUAL(hit.wait_ns, 750 * MS);
    CU_ASSERT_EQUAL(sb_rate_retry_after_s(hit.wait_ns), 1);
    /* unknown connections still meet the Unified limit */
    CU_ASSERT_EQUAL(admitted(r, "conn-0404", 5, &hit), 0);
    CU_ASSERT_EQUAL(hit.verdict, SB_RATE_UNIFIED);
    json_t *lims = sb_rate_limits_json(r);
    char *s = json_dumps(lims, JSON_COMPACT);
    CU_ASSERT_STRING_EQUAL(s, "{\"unified\":{\"rps\":4,\"burst\":3},\"connections\":{\"conn-0002\":{\"rps\":1,\"burst\":1}}}");
    free(s);
    json_decref(lims);
    sb_rate_destroy(r);
}

static json_int_t jint(const json_t *o, const char *path1, const char *path2, const char *key)
{
    const json_t *x = o;
    if (path1)
        x = json_object_get(x, path1);
    if (path2)
        x = json_object_get(x, path2);
    return json_integer_value(json_object_get(x, key));
}

static void test_counters(void)
{
    uint64_t now = T0;
    sb_rate_t *r = limiter(&now, 3);
    sb_rate_limit_t lim = { 5.0, 5 };
    sb_rate_set(r, "conn-0001", &lim);
    sb_rate_hit_t hit;
    /* conn-0001 asks 10 at once (5 refused), then at 5 rps for 3 s (all pass) */
    admitted(r, "conn-0001", 10, &hit);
    for (int i = 1; i <= 15; i++) {
        now = T0 + (uint64_t)i * 200 * MS;
        sb_rate_check(r, "conn-0001", &hit);
        CU_ASSERT_EQUAL(hit.verdict, SB_RATE_OK);
    }
    /* conn-0002 asks 3 at T0 + 3 s */
    admitted(r, "conn-0002", 3, &hit);
    json_t *st = json_object();
    sb_rate_stats_json(r, st);
    CU_ASSERT_EQUAL(jint(st, NULL, NULL, "rate_limited"), 5);
    CU_ASSERT_EQUAL(jint(st, NULL, NULL, "rate_limited_unified"), 0);
    CU_ASSERT_EQUAL(jint(st, "connections", "conn-0001", "requests"), 25);
    CU_ASSERT_EQUAL(jint(st, "connections", "conn-0001", "rate_limited"), 5);
    CU_ASSERT_EQUAL(jint(st, "connections", "conn-0001", "max_rps_1s"), 14);   /* 10 at T0 + 4 by 0.8 s */
    CU_ASSERT_EQUAL(jint(st, "connections", "conn-0002", "requests"), 3);
    CU_ASSERT_EQUAL(jint(st, "connections", "conn-0002", "max_rps_1s"), 3);
    CU_ASSERT_EQUAL(jint(st, NULL, NULL, "max_rps_1s"), 14);
    CU_ASSERT_PTR_NULL(json_object_get(json_object_get(st, "connections"), "conn-0003"));
    json_decref(st);
    sb_rate_reset_stats(r);
    st = json_object();
    sb_rate_stats_json(r, st);
    CU_ASSERT_EQUAL(jint(st, NULL, NULL, "rate_limited"), 0);
    CU_ASSERT_EQUAL(jint(st, NULL, NULL, "max_rps_1s"), 0);
    CU_ASSERT_EQUAL(json_object_size(json_object_get(st, "connections")), 0);
    json_decref(st);
    /* the reset keeps the limit and its bucket (paced, one token per 200 ms) */
    now += 200 * MS;
    CU_ASSERT_EQUAL(admitted(r, "conn-0001", 3, &hit), 1);
    sb_rate_destroy(r);
}

static CU_TestInfo rate_tests[] = {
    { "token bucket admits the burst then paces at rps", test_bucket_burst_then_pace },
    { "default burst and fractional rps", test_bucket_default_burst_and_fraction },
    { "Retry-After and retry-after-ms round up, at least 1", test_retry_after_rounding },
    { "max_rps_1s over any 1-second window", test_window_max },
    { "RPS[:BURST] and control-API bodies", test_parse },
    { "per-connection limits, \"*\" and unknown connections", test_vendor_limits },
    { "the Unified limit is asked first", test_unified_first },
    { "counters and their reset", test_counters },
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    { "sandbox rate limits", NULL, NULL, NULL, NULL, rate_tests },
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
