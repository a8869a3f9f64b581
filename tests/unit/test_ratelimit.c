/* test_ratelimit.c - token buckets, AIMD limits and the per-process limiter (ls_ratelimit.h). */
#include "ls_err.h"
#include "ls_ratelimit.h"
#include "ls_test.h"

#include <math.h>
#include <string.h>

static void test_bucket_burst_then_rate(void)
{
    ls_bucket_t b;
    ls_bucket_init(&b, 10, 5, 1000);
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(ls_bucket_wait(&b, 1000), 0);
        ls_bucket_take(&b, 1000);
    }
    /* empty: the next token comes 100 ms later at 10/s */
    CU_ASSERT_EQUAL(ls_bucket_wait(&b, 1000), 100);
    CU_ASSERT_EQUAL(ls_bucket_wait(&b, 1050), 50);
    CU_ASSERT_EQUAL(ls_bucket_wait(&b, 1100), 0);
    ls_bucket_take(&b, 1100);
    /* over 10 simulated seconds exactly rate x time + burst requests pass */
    int granted = 0;
    for (int64_t t = 1100; t <= 11100; t++)
        if (ls_bucket_wait(&b, t) == 0) {
            ls_bucket_take(&b, t);
            granted++;
        }
    CU_ASSERT(granted >= 100 && granted <= 101);
}

static void test_bucket_unlimited_and_refill_cap(void)
{
    ls_bucket_t b;
    ls_bucket_init(&b, 0, 1, 0);
    for (int i = 0; i < 1000; i++) {
        CU_ASSERT_EQUAL(ls_bucket_wait(&b, 0), 0);
        ls_bucket_take(&b, 0);
    }
    ls_bucket_init(&b, 2, 3, 0);
    CU_ASSERT_EQUAL(ls_bucket_wait(&b, 3600000), 0);
    CU_ASSERT(b.tokens <= 3.0); /* an idle hour does not bank more than burst */
    ls_bucket_set_rate(&b, 0.5, 3600000);
    for (int i = 0; i < 3; i++)
        ls_bucket_take(&b, 3600000);
    CU_ASSERT_EQUAL(ls_bucket_wait(&b, 3600000), 2000);
}

static void test_aimd(void)
{
    ls_aimd_t a;
    ls_aimd_init(&a, 64);
    CU_ASSERT_DOUBLE_EQUAL(a.limit, 64, 1e-9);
    CU_ASSERT_EQUAL(ls_aimd_cut(&a, 10000), 1);
    CU_ASSERT_DOUBLE_EQUAL(a.limit, 32, 1e-9);
    CU_ASSERT_EQUAL(ls_aimd_cut(&a, 10500), 0); /* one cut per second */
    CU_ASSERT_EQUAL(ls_aimd_cut(&a, 11000), 1);
    CU_ASSERT_DOUBLE_EQUAL(a.limit, 16, 1e-9);
    for (int t = 0; t < 10; t++)
        ls_aimd_cut(&a, 20000 + 1000 * t);
    CU_ASSERT_DOUBLE_EQUAL(a.limit, 1, 1e-9); /* never below one */
    a.in_flight = 1;
    CU_ASSERT_FALSE(ls_aimd_room(&a));
    a.in_flight = 0;
    CU_ASSERT_TRUE(ls_aimd_room(&a));
    /* slow recovery: from 1 to 2 takes one success, from 16 to 17 takes 16 */
    ls_aimd_grow(&a);
    CU_ASSERT_DOUBLE_EQUAL(a.limit, 2, 1e-9);
    a.limit = 16;
    for (int i = 0; i < 15; i++)
        ls_aimd_grow(&a);
    CU_ASSERT(a.limit < 17);
    ls_aimd_grow(&a);
    ls_aimd_grow(&a);
    CU_ASSERT(a.limit >= 17);
    a.limit = 63.99;
    ls_aimd_grow(&a);
    CU_ASSERT_DOUBLE_EQUAL(a.limit, 64, 1e-9);
}

static void test_rate_parse(void)
{
    char err[256];
    double r;
    CU_ASSERT_EQUAL(ls_rate_parse("10/s", &r, err, sizeof(err)), LS_OK);
    CU_ASSERT_DOUBLE_EQUAL(r, 10, 1e-9);
    CU_ASSERT_EQUAL(ls_rate_parse("90/min", &r, err, sizeof(err)), LS_OK);
    CU_ASSERT_DOUBLE_EQUAL(r, 1.5, 1e-9);
    CU_ASSERT_EQUAL(ls_rate_parse("1800/h", &r, err, sizeof(err)), LS_OK);
    CU_ASSERT_DOUBLE_EQUAL(r, 0.5, 1e-9);
    CU_ASSERT_EQUAL(ls_rate_parse("0", &r, err, sizeof(err)), LS_OK);
    CU_ASSERT_DOUBLE_EQUAL(r, 0, 1e-9);
    CU_ASSERT_EQUAL(ls_rate_parse("2.5/s", &r, err, sizeof(err)), LS_OK);
    CU_ASSERT_DOUBLE_EQUAL(r, 2.5, 1e-9);
    const char *bad[] = {"", "10", "-1/s", "10/day", "x/s", "nan/s", "inf/s", "10/s ", NULL};
    for (int i = 0; bad[i]; i++) {
        err[0] = '\0';
        CU_ASSERT_EQUAL(ls_rate_parse(bad[i], &r, err, sizeof(err)), LS_EINVAL);
        CU_ASSERT(strstr(err, "rate") != NULL);
    }
    CU_ASSERT_EQUAL(ls_rate_spec_check("", err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_rate_spec_check("coursera=5/s, docebo=100/min ,*=20/s", err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_rate_spec_check("coursera", err, sizeof(err)), LS_EINVAL);
    CU_ASSERT(strstr(err, "coursera") != NULL);
    CU_ASSERT_EQUAL(ls_rate_spec_check("go1=fast", err, sizeof(err)), LS_EINVAL);
    CU_ASSERT(strstr(err, "go1") != NULL);
    CU_ASSERT_EQUAL(ls_rate_spec_check("=5/s", err, sizeof(err)), LS_EINVAL);
}

static void test_classify(void)
{
    const char *u = "{\"message\":\"Too many requests to Unified.to\"}";
    const char *v = "{\"error\":\"rate limited by the LMS\"}";
    CU_ASSERT_EQUAL(ls_rl_classify(200, "[]", 2), LS_RL_OK);
    CU_ASSERT_EQUAL(ls_rl_classify(503, "", 0), LS_RL_OK);
    CU_ASSERT_EQUAL(ls_rl_classify(0, NULL, 0), LS_RL_CANCELLED);
    CU_ASSERT_EQUAL(ls_rl_classify(429, u, strlen(u)), LS_RL_UNIFIED_429);
    CU_ASSERT_EQUAL(ls_rl_classify(429, v, strlen(v)), LS_RL_VENDOR_429);
    CU_ASSERT_EQUAL(ls_rl_classify(429, NULL, 0), LS_RL_VENDOR_429);
    CU_ASSERT_EQUAL(ls_rl_classify(429, u, 10), LS_RL_VENDOR_429); /* never reads past len */
}

static ls_limiter_t *limiter(double conn_rate, double burst, const char *rates, int max)
{
    char err[256];
    ls_limiter_cfg_t cfg = {conn_rate, burst, rates, max};
    ls_limiter_t *l = ls_limiter_new(&cfg, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    return l;
}

/* Simulate one connection asking as fast as it may for `ms` ms; requests answer at once with outcome. */
static int drive(ls_limiter_t *l, const char *conn, const char *integ, int64_t from, int64_t ms,
                 ls_rl_outcome_t outcome)
{
    int n = 0;
    for (int64_t t = from; t < from + ms; t++)
        if (ls_limiter_acquire(l, conn, integ, t) == 0) {
            ls_limiter_release(l, conn, outcome, -1, t);
            n++;
        }
    return n;
}

static void test_limiter_connection_bucket(void)
{
    ls_limiter_t *l = limiter(5, 5, NULL, 64);
    /* 10 s at 5/s with a burst of 5: 55 requests, never more */
    int n = drive(l, "conn-1", "coursera", 0, 10000, LS_RL_OK);
    CU_ASSERT(n >= 54 && n <= 55);
    /* another connection has its own bucket */
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "conn-2", "coursera", 10000), 0);
    ls_limiter_release(l, "conn-2", LS_RL_OK, -1, 10000);
    /* a denied acquire says when to come back */
    int64_t t = 20000;
    while (ls_limiter_acquire(l, "conn-1", "coursera", t) == 0)
        ls_limiter_release(l, "conn-1", LS_RL_OK, -1, t);
    int64_t again = ls_limiter_acquire(l, "conn-1", "coursera", t);
    CU_ASSERT(again > t && again <= t + 200);
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "conn-1", "coursera", again), 0);
    ls_limiter_release(l, "conn-1", LS_RL_OK, -1, again);
    ls_limiter_stats_t st;
    ls_limiter_get_stats(l, &st);
    CU_ASSERT(st.delayed > 0);
    CU_ASSERT_EQUAL(st.connections, 2);
    ls_limiter_destroy(l);
}

static void test_limiter_vendor_429_adapts(void)
{
    ls_limiter_t *l = limiter(20, 20, NULL, 64);
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "c1", "docebo", 0), 0);
    ls_limiter_release(l, "c1", LS_RL_VENDOR_429, -1, 0);
    CU_ASSERT_DOUBLE_EQUAL(ls_limiter_connection_rate(l, "c1"), 10, 1e-9);
    /* the bucket was emptied: no burst right after a 429 */
    CU_ASSERT(ls_limiter_acquire(l, "c1", "docebo", 0) > 0);
    /* a second 429 within the same second does not cut again */
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "c1", "docebo", 200), 0);
    ls_limiter_release(l, "c1", LS_RL_VENDOR_429, -1, 200);
    CU_ASSERT_DOUBLE_EQUAL(ls_limiter_connection_rate(l, "c1"), 10, 1e-9);
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "c1", "docebo", 1300), 0);
    ls_limiter_release(l, "c1", LS_RL_VENDOR_429, -1, 1300);
    CU_ASSERT_DOUBLE_EQUAL(ls_limiter_connection_rate(l, "c1"), 5, 1e-9);
    /* one connection's 429s never shrink the process's in-flight limit */
    CU_ASSERT_DOUBLE_EQUAL(ls_limiter_inflight_limit(l), 64, 1e-9);
    /* slow recovery: 10 s of successes at the cut rate do not restore 20/s at once ... */
    drive(l, "c1", "docebo", 2000, 2000, LS_RL_OK);
    double mid = ls_limiter_connection_rate(l, "c1");
    CU_ASSERT(mid > 5 && mid < 20);
    /* ... but it gets back to the configured rate */
    drive(l, "c1", "docebo", 4000, 60000, LS_RL_OK);
    CU_ASSERT_DOUBLE_EQUAL(ls_limiter_connection_rate(l, "c1"), 20, 1e-9);
    ls_limiter_stats_t st;
    ls_limiter_get_stats(l, &st);
    CU_ASSERT_EQUAL(st.vendor_429, 3);
    CU_ASSERT_EQUAL(st.connection_cuts, 2);
    ls_limiter_destroy(l);
}

static void test_limiter_unlimited_connection_learns(void)
{
    ls_limiter_t *l = limiter(0, 1, NULL, 64);
    /* a connection asking every 10 ms (100/s), unlimited, then a 429 */
    for (int64_t t = 0; t < 1000; t += 10) {
        CU_ASSERT_EQUAL(ls_limiter_acquire(l, "c", "go1", t), 0);
        ls_limiter_release(l, "c", LS_RL_OK, -1, t);
    }
    CU_ASSERT_DOUBLE_EQUAL(ls_limiter_connection_rate(l, "c"), 0, 1e-9);
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "c", "go1", 1000), 0);
    ls_limiter_release(l, "c", LS_RL_VENDOR_429, -1, 1000);
    double r = ls_limiter_connection_rate(l, "c");
    CU_ASSERT(r > 40 && r < 60); /* half of what it asked at */
    /* recovery ends unlimited again */
    drive(l, "c", "go1", 2000, 120000, LS_RL_OK);
    CU_ASSERT_DOUBLE_EQUAL(ls_limiter_connection_rate(l, "c"), 0, 1e-9);
    ls_limiter_destroy(l);
}

static void test_limiter_vendor_429_is_per_connection(void)
{
    ls_limiter_t *l = limiter(0, 1, NULL, 8);
    /* 429s of two accounts of one type at once: each account slows down, nothing else does */
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "a", "moodle", 0), 0);
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "b", "moodle", 0), 0);
    ls_limiter_release(l, "a", LS_RL_VENDOR_429, -1, 100);
    ls_limiter_release(l, "b", LS_RL_VENDOR_429, -1, 200);
    CU_ASSERT_DOUBLE_EQUAL(ls_limiter_inflight_limit(l), 8, 1e-9);
    CU_ASSERT_FALSE(ls_limiter_saturated(l));
    CU_ASSERT_FALSE(ls_limiter_may_prefetch(l, "a"));
    CU_ASSERT_FALSE(ls_limiter_may_prefetch(l, "b"));
    CU_ASSERT_TRUE(ls_limiter_may_prefetch(l, "c"));
    int got = 0;
    char name[16];
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof(name), "m%d", i);
        got += ls_limiter_acquire(l, name, "moodle", 300) == 0;
    }
    CU_ASSERT_EQUAL(got, 8);
    CU_ASSERT_TRUE(ls_limiter_saturated(l)); /* the process-wide maximum (8 here) */
    int64_t again = ls_limiter_acquire(l, "m9", "moodle", 300);
    CU_ASSERT(again > 300 && again <= 400);
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof(name), "m%d", i);
        ls_limiter_release(l, name, LS_RL_OK, -1, 400);
    }
    CU_ASSERT_FALSE(ls_limiter_saturated(l));
    /* a recovered connection prefetches again */
    drive(l, "a", "moodle", 1000, 120000, LS_RL_OK);
    CU_ASSERT_TRUE(ls_limiter_may_prefetch(l, "a"));
    ls_limiter_destroy(l);
}

static void test_limiter_unified_429(void)
{
    ls_limiter_t *l = limiter(0, 1, NULL, 16);
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "a", "go1", 0), 0);
    ls_limiter_release(l, "a", LS_RL_UNIFIED_429, -1, 0);
    CU_ASSERT_DOUBLE_EQUAL(ls_limiter_inflight_limit(l), 8, 1e-9);
    /* Unified's own limit applies to every type */
    int got = 0;
    char name[16];
    for (int i = 0; i < 16; i++) {
        snprintf(name, sizeof(name), "c%d", i);
        got += ls_limiter_acquire(l, name, i % 2 ? "go1" : "docebo", 10) == 0;
    }
    CU_ASSERT_EQUAL(got, 8);
    CU_ASSERT_TRUE(ls_limiter_saturated(l));
    /* a vendor's limit is not changed by it */
    CU_ASSERT_DOUBLE_EQUAL(ls_limiter_connection_rate(l, "a"), 0, 1e-9);
    ls_limiter_stats_t st;
    ls_limiter_get_stats(l, &st);
    CU_ASSERT_EQUAL(st.unified_429, 1);
    CU_ASSERT_EQUAL(st.unified_cuts, 1);
    ls_limiter_destroy(l);
}

static void test_limiter_retry_after_holds(void)
{
    ls_limiter_t *l = limiter(0, 1, NULL, 16);
    /* Unified's 429 with retry-after-ms 700: no request of any connection before then */
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "a", "go1", 1000), 0);
    ls_limiter_release(l, "a", LS_RL_UNIFIED_429, 700, 1000);
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "b", "docebo", 1200), 1700);
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "b", "docebo", 1700), 0);
    ls_limiter_release(l, "b", LS_RL_OK, -1, 1700);
    /* a vendor's Retry-After holds back only that connection; capped at 60 s */
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "c", "go1", 2000), 0);
    ls_limiter_release(l, "c", LS_RL_VENDOR_429, 3600000, 2000);
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "c", "go1", 2001), 62000);
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "d", "go1", 2001), 0);
    ls_limiter_destroy(l);
}

static void test_limiter_integration_rate(void)
{
    ls_limiter_t *l = limiter(0, 1, "coursera=2/s,*=100/min", 64);
    /* 10 connections of coursera share 2/s: 10 s -> about 20 (+ burst 2) */
    int n = 0;
    char name[16];
    for (int64_t t = 0; t < 10000; t++)
        for (int i = 0; i < 10; i++) {
            snprintf(name, sizeof(name), "k%d", i);
            if (ls_limiter_acquire(l, name, "coursera", t) == 0) {
                ls_limiter_release(l, name, LS_RL_OK, -1, t);
                n++;
            }
        }
    CU_ASSERT(n >= 20 && n <= 22);
    /* "*" for other types: 100/min */
    n = drive(l, "d1", "docebo", 0, 60000, LS_RL_OK);
    CU_ASSERT(n >= 100 && n <= 102);
    char err[256];
    ls_limiter_cfg_t bad = {0, 1, "coursera=lots", 64};
    CU_ASSERT_PTR_NULL(ls_limiter_new(&bad, err, sizeof(err)));
    CU_ASSERT(strstr(err, "coursera") != NULL);
    ls_limiter_destroy(l);
}

static void test_limiter_release_balance(void)
{
    ls_limiter_t *l = limiter(0, 1, NULL, 2);
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "a", "t", 0), 0);
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "b", "t", 0), 0);
    CU_ASSERT(ls_limiter_acquire(l, "c", "t", 0) > 0);
    ls_limiter_release(l, "a", LS_RL_CANCELLED, -1, 0);
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "c", "t", 0), 0);
    ls_limiter_release(l, "b", LS_RL_OK, -1, 0);
    ls_limiter_release(l, "c", LS_RL_OK, -1, 0);
    /* extra releases never drive in-flight counts negative */
    ls_limiter_release(l, "c", LS_RL_OK, -1, 0);
    ls_limiter_release(l, "zz", LS_RL_OK, -1, 0);
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "a", "t", 0), 0);
    CU_ASSERT_EQUAL(ls_limiter_acquire(l, "b", "t", 0), 0);
    CU_ASSERT(ls_limiter_acquire(l, "c", "t", 0) > 0);
    ls_limiter_destroy(l);
}

static void test_limiter_many_connections(void)
{
    ls_limiter_t *l = limiter(10, 10, NULL, 64);
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "conn-%05d", i);
        CU_ASSERT_EQUAL_FATAL(ls_limiter_acquire(l, name, "t", 0), 0);
        ls_limiter_release(l, name, LS_RL_OK, -1, 0);
    }
    ls_limiter_stats_t st;
    ls_limiter_get_stats(l, &st);
    CU_ASSERT_EQUAL(st.connections, 5000);
    /* two hours later new connections sweep the idle ones away */
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "new-%05d", i);
        ls_limiter_acquire(l, name, "t", 7200000);
        ls_limiter_release(l, name, LS_RL_OK, -1, 7200000);
    }
    ls_limiter_get_stats(l, &st);
    CU_ASSERT(st.connections < 10000);
    ls_limiter_destroy(l);
}

static CU_TestInfo tests[] = {
    {"bucket: burst, then the rate", test_bucket_burst_then_rate},
    {"bucket: unlimited, refill capped", test_bucket_unlimited_and_refill_cap},
    {"aimd: halve, floor 1, slow growth", test_aimd},
    {"rates: parse and spec check", test_rate_parse},
    {"classify 429s", test_classify},
    {"limiter: connection bucket", test_limiter_connection_bucket},
    {"limiter: vendor 429 halves, recovery", test_limiter_vendor_429_adapts},
    {"limiter: unlimited connection learns its rate", test_limiter_unlimited_connection_learns},
    {"limiter: vendor 429s stay with their connection", test_limiter_vendor_429_is_per_connection},
    {"limiter: Unified's own 429", test_limiter_unified_429},
    {"limiter: Retry-After holds back", test_limiter_retry_after_holds},
    {"limiter: integration rates", test_limiter_integration_rate},
    {"limiter: release balance", test_limiter_release_balance},
    {"limiter: many connections, idle sweep", test_limiter_many_connections},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_ratelimit", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
