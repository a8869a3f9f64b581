/*
 * test_coord_adapt.c - adaptive poll intervals (coordinator/ls_coord_adapt.c):
 * the rule, the clamp, the budget stretch and the cost-charged bucket.
 */
#include "ls_coord_adapt.h"
#include "ls_coord_int.h"
#include "ls_err.h"
#include "ls_ratelimit.h"
#include "ls_test.h"

#include <math.h>
#include <string.h>

static const ls_adapt_cfg_t A = {.min_ms = 10000, .max_ms = 240000};

static void test_rule(void)
{
    ls_ival_why_t why;
    CU_ASSERT_EQUAL(ls_adapt_initial(&A, 60000), 60000);
    CU_ASSERT_EQUAL(ls_adapt_initial(&A, 5000), 10000);     /* clamped to min */
    CU_ASSERT_EQUAL(ls_adapt_initial(&A, 300000), 240000);  /* ... and to max */
    /* changes halve, quiet doubles */
    CU_ASSERT_EQUAL(ls_adapt_next(&A, 60000, 60000, 3, &why), 30000);
    CU_ASSERT_EQUAL(why, LS_IVAL_ACTIVE);
    CU_ASSERT_EQUAL(ls_adapt_next(&A, 60000, 60000, 0, &why), 120000);
    CU_ASSERT_EQUAL(why, LS_IVAL_QUIET);
    CU_ASSERT_EQUAL(ls_adapt_next(&A, 12000, 60000, 1, &why), 10000); /* never below min */
    CU_ASSERT_EQUAL(ls_adapt_next(&A, 200000, 60000, 0, &why), 240000); /* nor above max */
    CU_ASSERT_EQUAL(why, LS_IVAL_MAX);
    CU_ASSERT_EQUAL(ls_adapt_next(&A, 0, 60000, 0, &why), 120000);    /* 0 (an old record): from the fixed interval */
    /* a busy scope reaches min, a quiet one max, in log2(24) < 5 steps */
    uint32_t busy = 60000, quiet = 60000;
    for (int i = 0; i < 5; i++) {
        busy = ls_adapt_next(&A, busy, 60000, 2, &why);
        quiet = ls_adapt_next(&A, quiet, 60000, 0, &why);
    }
    CU_ASSERT_EQUAL(busy, A.min_ms);
    CU_ASSERT_EQUAL(quiet, A.max_ms);
    /* stable: alternating change / no change stays within one factor of two */
    uint32_t v = 60000;
    for (int i = 0; i < 10; i++) {
        v = ls_adapt_next(&A, v, 60000, (uint64_t)(i % 2), &why);
        CU_ASSERT(v == 60000 || v == 120000);
    }
    CU_ASSERT_STRING_EQUAL(ls_adapt_why_name(LS_IVAL_BUDGET_TENANT), "budget:tenant");
    CU_ASSERT_STRING_EQUAL(ls_adapt_why_name(LS_IVAL_WEBHOOK), "webhook");
    CU_ASSERT_PTR_NULL(ls_adapt_why_names[LS_IVAL__COUNT]);
}

static void test_apply(void)
{
    CU_ASSERT_EQUAL(ls_adapt_apply(&A, 20000, 1), 20000);
    CU_ASSERT_EQUAL(ls_adapt_apply(&A, 20000, 2.5), 50000);
    CU_ASSERT_EQUAL(ls_adapt_apply(&A, 20000, 100), 240000); /* a stretch never passes max */
    CU_ASSERT_EQUAL(ls_adapt_apply(&A, 20000, 0.5), 20000);  /* nor shrinks */
}

/* 10 busy scopes at min and 90 quiet ones at max: 10/10 + 90/240 = 1.375 requests/s. */
static void fill(ls_adapt_load_t *l)
{
    memset(l, 0, sizeof(*l));
    for (int i = 0; i < 10; i++)
        ls_adapt_load_add(l, &A, A.min_ms, 1);
    for (int i = 0; i < 90; i++)
        ls_adapt_load_add(l, &A, A.max_ms, 1);
}

static void test_stretch(void)
{
    ls_adapt_load_t l;
    int s;
    fill(&l);
    CU_ASSERT_DOUBLE_EQUAL(ls_adapt_load_rate(&l, &A, 1), 1.375, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(ls_adapt_stretch(&l, &A, 0, &s), 1, 1e-9); /* no budget */
    CU_ASSERT_DOUBLE_EQUAL(ls_adapt_stretch(&l, &A, 2, &s), 1, 1e-9); /* fits */
    CU_ASSERT_FALSE(s);
    /* 1 request/s: the busy scopes may spend 1 - 0.375: stretched by 1.6 (10 s -> 16 s; max stays max) */
    double f = ls_adapt_stretch(&l, &A, 1.0, &s);
    CU_ASSERT_FALSE(s);
    CU_ASSERT(f > 1.55 && f < 1.65);
    CU_ASSERT(ls_adapt_load_rate(&l, &A, f) <= 1.0 + 1e-9);
    CU_ASSERT(ls_adapt_load_rate(&l, &A, f * 0.97) > 1.0); /* and it is about the smallest such factor */
    /* 0.3 requests/s cannot pay for 100 scopes at 240 s (0.417/s): short, every scope at max */
    f = ls_adapt_stretch(&l, &A, 0.3, &s);
    CU_ASSERT(s);
    CU_ASSERT_EQUAL(ls_adapt_apply(&A, A.min_ms, f), A.max_ms);
    /* cost counts: a scope of 5 requests per job weighs five */
    ls_adapt_load_t one;
    memset(&one, 0, sizeof(one));
    ls_adapt_load_add(&one, &A, 50000, 5);
    CU_ASSERT_DOUBLE_EQUAL(ls_adapt_load_rate(&one, &A, 1), 0.1, 1e-9);
}

/* The budgets' bucket charged with a job's cost (lib/policy/ls_ratelimit.c). */
static void test_bucket_cost(void)
{
    ls_bucket_t b;
    ls_bucket_init(&b, 3600.0 / 3600, 3600.0 / 60, 0); /* 3600 an hour: 1/s, a minute's worth */
    CU_ASSERT(ls_bucket_allows(&b, 59, 1000));
    ls_bucket_spend(&b, 59);
    CU_ASSERT_FALSE(ls_bucket_allows(&b, 2, 1000));
    CU_ASSERT(ls_bucket_allows(&b, 2, 2000));
    ls_bucket_spend(&b, 2);
    CU_ASSERT_FALSE(ls_bucket_allows(&b, 100, 30000)); /* costlier than the burst: waits for a full bucket */
    CU_ASSERT(ls_bucket_allows(&b, 100, 62000));
    ls_bucket_spend(&b, 100);                         /* ... and leaves it in debt */
    CU_ASSERT_FALSE(ls_bucket_allows(&b, 1, 100000));
    ls_bucket_t free_;
    ls_bucket_init(&free_, 0, 1, 0);
    CU_ASSERT(ls_bucket_allows(&free_, 1e9, 1)); /* rate 0: unlimited */
}

/*
 * The coordinator's budgets (ls_coord_budget.c) on one connection of type
 * moodle: polling.integration_budgets = moodle=360 (0.1 request/s, 6 of
 * burst) under a deployment budget of 3600/h that does not bind. One busy
 * scope (10 s) and nine quiet ones (240 s) want 0.1375 requests/s: the walk
 * stretches the busy one by 1.6 (the quiet ones are at max already), and
 * the bucket lets 6 jobs out at once, then one per 10 s.
 */
static void test_coord_budgets(void)
{
    ls_config_t cfg;
    char err[256];
    ls_config_defaults(&cfg);
    cfg.polling_adaptive = 1;
    cfg.polling_min_interval_s = 10;
    cfg.polling_max_interval_s = 240;
    cfg.poll_interval_s = 60;
    cfg.polling_budget_per_hour = 3600;
    snprintf(cfg.polling_integration_budgets, sizeof(cfg.polling_integration_budgets), "moodle=360");
    coord_t c;
    memset(&c, 0, sizeof(c));
    c.cfg = &cfg;
    c.tenants = ls_strmap_new(sizeof(coord_tenant_t));
    CU_ASSERT_EQUAL_FATAL(coord_budgets_open(&c, err, sizeof(err)), LS_OK);
    coord_conn_t conn;
    memset(&conn, 0, sizeof(conn));
    conn.integration_type = "moodle";
    conn.tenant = coord_tenant_get(&c, "");
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn.tenant);
    coord_scope_t sc[10];
    memset(sc, 0, sizeof(sc));
    for (int i = 0; i < 10; i++) {
        sc[i].conn = &conn;
        sc[i].ival_ms = i ? 240000 : 10000;
        sc[i].why_rule = i ? LS_IVAL_MAX : LS_IVAL_ACTIVE;
        coord_budget_walk_scope(&c, &sc[i]);
    }
    coord_budget_walk_end(&c, 1000);
    int64_t busy = coord_interval_ms(&c, &sc[0]);
    CU_ASSERT(busy > 15500 && busy < 16500);
    CU_ASSERT_EQUAL(sc[0].why, LS_IVAL_BUDGET_INTEGRATION);
    CU_ASSERT_EQUAL(coord_interval_ms(&c, &sc[1]), 240000);
    CU_ASSERT_EQUAL(sc[1].why, LS_IVAL_MAX);
    for (int i = 0; i < 6; i++)
        CU_ASSERT(coord_budget_admit(&c, &sc[i], 1000));
    CU_ASSERT_FALSE(coord_budget_admit(&c, &sc[6], 1000));
    CU_ASSERT(sc[6].waited);
    CU_ASSERT_FALSE(coord_budget_admit(&c, &sc[6], 5000));
    CU_ASSERT(coord_budget_admit(&c, &sc[6], 11000));
    CU_ASSERT_FALSE(sc[6].waited);
    /* without polling.adaptive: the fixed interval, whatever the budget */
    cfg.polling_adaptive = 0;
    CU_ASSERT_EQUAL(coord_interval_ms(&c, &sc[0]), 60000);
    CU_ASSERT_EQUAL(sc[0].why, LS_IVAL_FIXED);
    coord_budgets_forget_tenants(&c);
    ls_strmap_destroy(c.tenants);
    coord_budgets_close(&c);
}

static CU_TestInfo tests[] = {
    {"rule: halve on changes, double when quiet, within [min, max]", test_rule},
    {"stretch applied within [min, max]", test_apply},
    {"budget stretch: smallest factor that fits, short when max does not", test_stretch},
    {"bucket charged with a job's cost", test_bucket_cost},
    {"coordinator budgets: stretch from the walk, buckets per integration", test_coord_budgets},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"coord_adapt", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
