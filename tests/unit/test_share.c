/* test_share.c - the per-tenant share of a worker's in-flight slots (ls_share.h): parsing, the cap, admission
 * and the work-conserving rule, and a tick simulation of one worker process with a slow and a fast tenant. */
#include "ls_err.h"
#include "ls_share.h"
#include "ls_test.h"

#include <string.h>

static void test_parse(void)
{
    static const char *const good[] = {"0.5", "1", "1.0", "0.25", "0.01"};
    static const char *const bad[] = {"0", "-0.1", "1.5", "abc", "", "0.5x", "nan", "inf"};
    double v = 0;
    char why[200];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        CU_ASSERT_EQUAL(ls_share_parse(good[i], &v, why, sizeof(why)), LS_OK);
    CU_ASSERT_DOUBLE_EQUAL(v, 0.01, 1e-12);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        CU_ASSERT_EQUAL(ls_share_parse(bad[i], &v, why, sizeof(why)), LS_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(why, "must be a number in (0, 1]"));
    }
    CU_ASSERT_EQUAL(ls_share_parse(NULL, &v, why, sizeof(why)), LS_EINVAL);
}

static void test_cap(void)
{
    CU_ASSERT_EQUAL(ls_share_cap(4, 0.5), 2);
    CU_ASSERT_EQUAL(ls_share_cap(4, 1.0), 4);
    CU_ASSERT_EQUAL(ls_share_cap(64, 0.5), 32);
    CU_ASSERT_EQUAL(ls_share_cap(1, 0.5), 1);  /* at least one */
    CU_ASSERT_EQUAL(ls_share_cap(3, 0.5), 1);  /* floor */
    CU_ASSERT_EQUAL(ls_share_cap(100, 0.29), 29); /* 0.29 x 100 is 28.999... in binary */
    CU_ASSERT_EQUAL(ls_share_cap(4, 0.01), 1);
}

/* Admission: under the cap always; at the cap only while no other tenant has a job ready. */
static void test_admit(void)
{
    ls_share_t sh;
    CU_ASSERT_FATAL(ls_share_init(&sh, 4, 0.5) == LS_OK);
    CU_ASSERT_EQUAL(sh.cap, 2);
    ls_share_reset(&sh);
    CU_ASSERT_TRUE(ls_share_admit(&sh, "a")); /* unknown tenant: runs nothing */
    ls_share_count(&sh, "a", LS_SHARE_RUNNING);
    ls_share_count(&sh, "a", LS_SHARE_RUNNING);
    ls_share_count(&sh, "a", LS_SHARE_READY);
    CU_ASSERT_TRUE(ls_share_admit(&sh, "a"));  /* at the cap, but alone: work-conserving */
    ls_share_started(&sh, "a");
    CU_ASSERT_EQUAL(ls_share_running(&sh, "a"), 3);
    CU_ASSERT_EQUAL(sh.ready, 0);
    ls_share_count(&sh, "b", LS_SHARE_READY);
    CU_ASSERT_FALSE(ls_share_admit(&sh, "a")); /* b waits: a holds more than its share */
    CU_ASSERT_TRUE(ls_share_admit(&sh, "b"));
    ls_share_started(&sh, "b");
    CU_ASSERT_TRUE(ls_share_admit(&sh, "a"));  /* b has nothing ready any more */
    /* a new pass: counts start from zero; a tenant the last pass counted stays known */
    ls_share_reset(&sh);
    CU_ASSERT_EQUAL(ls_share_running(&sh, "a"), 0);
    CU_ASSERT_EQUAL(sh.ready, 0);
    ls_share_count(&sh, "a", LS_SHARE_RUNNING);
    ls_share_count(&sh, "c", LS_SHARE_READY);
    CU_ASSERT_TRUE(ls_share_admit(&sh, "a"));  /* under the cap while c waits */
    ls_share_release(&sh);

    CU_ASSERT_FATAL(ls_share_init(&sh, 4, 1.0) == LS_OK); /* 1 = no cap: every slot */
    ls_share_reset(&sh);
    for (int i = 0; i < 3; i++)
        ls_share_count(&sh, "a", LS_SHARE_RUNNING);
    ls_share_count(&sh, "b", LS_SHARE_READY);
    CU_ASSERT_TRUE(ls_share_admit(&sh, "a"));
    ls_share_release(&sh);
}

/*
 * One worker process, 4 slots, jobs taken in arrival order as the worker's start pass does: tenant A
 * brings 8 jobs of 10 ticks, then tenant B 4 jobs of 1 tick, all held at tick 0.
 */
#define SIM_SLOTS 4
#define SIM_JOBS 12

typedef struct sim_job {
    const char *tenant;
    int dur, start, end; /* start, end: -1 until then */
} sim_job_t;

static void sim_pass(ls_share_t *sh, sim_job_t *j, int n, int t, int *running, size_t *deferred)
{
    *deferred = 0;
    ls_share_reset(sh);
    for (int i = 0; i < n; i++)
        if (j[i].start >= 0 && j[i].end < 0)
            ls_share_count(sh, j[i].tenant, LS_SHARE_RUNNING);
        else if (j[i].start < 0)
            ls_share_count(sh, j[i].tenant, LS_SHARE_READY);
    for (int i = 0; i < n; i++) {
        if (j[i].start >= 0)
            continue;
        if (!ls_share_admit(sh, j[i].tenant)) {
            (*deferred)++;
            continue;
        }
        if (*running == SIM_SLOTS)
            continue;
        j[i].start = t;
        ls_share_started(sh, j[i].tenant);
        (*running)++;
    }
}

/* @return the tick by which every job ended; *b_last: the last end of B's jobs; *max_deferred seen. */
static int simulate(double share, int *b_last, size_t *max_deferred, int *idle_ticks)
{
    sim_job_t j[SIM_JOBS];
    for (int i = 0; i < SIM_JOBS; i++)
        j[i] = (sim_job_t){i < 8 ? "A" : "B", i < 8 ? 10 : 1, -1, -1};
    ls_share_t sh;
    CU_ASSERT_FATAL(ls_share_init(&sh, SIM_SLOTS, share) == LS_OK);
    int running = 0, done = 0, t = 0;
    *max_deferred = 0;
    *idle_ticks = 0;
    for (; done < SIM_JOBS && t < 1000; t++) {
        for (int i = 0; i < SIM_JOBS; i++)
            if (j[i].start >= 0 && j[i].end < 0 && t - j[i].start >= j[i].dur) {
                j[i].end = t;
                running--;
                done++;
            }
        int before;
        size_t deferred;
        do { /* as start_jobs: again while a pass both starts and defers */
            before = running;
            sim_pass(&sh, j, SIM_JOBS, t, &running, &deferred);
        } while (running > before && deferred > 0);
        *max_deferred = deferred > *max_deferred ? deferred : *max_deferred;
        int waiting = SIM_JOBS - done - running;
        *idle_ticks += running < SIM_SLOTS && waiting > 0; /* a free slot while a job waits */
    }
    ls_share_release(&sh);
    *b_last = 0;
    for (int i = 8; i < SIM_JOBS; i++)
        *b_last = j[i].end > *b_last ? j[i].end : *b_last;
    return t - 1;
}

static void test_simulation(void)
{
    int b_last, idle;
    size_t deferred;
    int end = simulate(0.5, &b_last, &deferred, &idle);
    fprintf(stderr, "\n  share 0.5: B done at tick %d, all done at %d, at most %zu deferred, %d idle ticks\n", b_last, end,
            deferred, idle);
    CU_ASSERT_EQUAL(b_last, 2);   /* B gets 2 slots at once and is through in 2 ticks */
    CU_ASSERT_TRUE(deferred > 0); /* A's jobs were held back while B's waited */
    CU_ASSERT_EQUAL(idle, 0);     /* work-conserving: no slot stays free while a job waits */
    CU_ASSERT_EQUAL(end, 22);     /* once B is through, A takes every slot again */
    int end1 = simulate(1.0, &b_last, &deferred, &idle);
    fprintf(stderr, "  share 1.0: B done at tick %d, all done at %d\n", b_last, end1);
    CU_ASSERT_TRUE(b_last >= 10); /* without a cap, B waits behind A's first four jobs */
    CU_ASSERT_EQUAL(deferred, 0);
    CU_ASSERT_TRUE(end <= end1 + 2);
}

static CU_TestInfo tests[] = {
    {"worker.tenant_max_share parses (0, 1] only", test_parse},
    {"cap: floor of share x slots, at least 1", test_cap},
    {"admission and the work-conserving rule", test_admit},
    {"slow and fast tenant on 4 slots", test_simulation},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_share", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
