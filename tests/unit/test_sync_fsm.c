/*
 * test_sync_fsm.c - the sync job's state machine: the transition table
 * (every legal and illegal move) and the driver on a real LMDB store and
 * curl multi handle against an upstream that refuses connections (a page
 * that fails, backs off, is retried and fails the job; no Kafka needed).
 */
#include "ls_err.h"
#include "ls_log.h"
#include "ls_sync.h"
#include "ls_sync_fsm.h"
#include "ls_test.h"
#include "ls_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define F LS_SJ_FETCHING
#define B LS_SJ_BACKOFF
#define D LS_SJ_DELIVERING
#define R LS_SJ_RECHECKING
#define M LS_SJ_REMOVING
#define X LS_SJ_DONE
#define P LS_SJ_REPUBLISHING

/* legal[from][to], written out by hand: the table in ls_sync_fsm.c must say the same. */
static const int legal[LS_SJ_N_STATES][LS_SJ_N_STATES] = {
    /*               START F  B  D  R  M  X  P */
    [LS_SJ_START] = {0, 1, 1, 1, 0, 0, 1, 0}, /* START -> D: a webhook job */
    [F] = {0, 1, 1, 1, 0, 0, 1, 0}, /* F -> F: a catalog job's next page */
    [B] = {0, 1, 1, 0, 0, 0, 1, 0},
    [D] = {0, 1, 1, 0, 1, 1, 1, 1},
    [R] = {0, 0, 0, 0, 0, 1, 1, 0},
    [M] = {0, 0, 0, 0, 0, 0, 1, 1},
    [X] = {0, 0, 0, 0, 0, 0, 0, 0},
    [P] = {0, 0, 0, 0, 0, 0, 1, 0},
};

static void test_transition_table(void)
{
    for (int from = 0; from < LS_SJ_N_STATES; from++)
        for (int to = 0; to < LS_SJ_N_STATES; to++) {
            int got = ls_sync_fsm_legal((ls_sync_state_t)from, (ls_sync_state_t)to);
            if (got != legal[from][to])
                fprintf(stderr, "%s -> %s: legal=%d, want %d\n", ls_sync_state_name((ls_sync_state_t)from),
                        ls_sync_state_name((ls_sync_state_t)to), got, legal[from][to]);
            CU_ASSERT_EQUAL(got, legal[from][to]);
        }
}

static void test_out_of_range_and_names(void)
{
    CU_ASSERT_FALSE(ls_sync_fsm_legal(LS_SJ_N_STATES, F));
    CU_ASSERT_FALSE(ls_sync_fsm_legal(F, LS_SJ_N_STATES));
    CU_ASSERT_FALSE(ls_sync_fsm_legal((ls_sync_state_t)-1, F));
    CU_ASSERT_STRING_EQUAL(ls_sync_state_name(LS_SJ_START), "start");
    CU_ASSERT_STRING_EQUAL(ls_sync_state_name(D), "delivering");
    CU_ASSERT_STRING_EQUAL(ls_sync_state_name(X), "done");
    CU_ASSERT_STRING_EQUAL(ls_sync_state_name(LS_SJ_N_STATES), "?");
}

/* Every state can reach DONE, and DONE is final: a job always ends. */
static void test_every_state_reaches_done(void)
{
    for (int s = 0; s < LS_SJ_N_STATES; s++) {
        if (s == X)
            continue;
        int seen[LS_SJ_N_STATES] = {0}, grew = 1;
        seen[s] = 1;
        while (grew) {
            grew = 0;
            for (int a = 0; a < LS_SJ_N_STATES; a++)
                for (int b = 0; b < LS_SJ_N_STATES && seen[a]; b++)
                    if (!seen[b] && ls_sync_fsm_legal((ls_sync_state_t)a, (ls_sync_state_t)b))
                        seen[b] = grew = 1;
        }
        CU_ASSERT(seen[X]);
    }
}

/* ---- the driver ---- */

static char dir[64];

static void drive(ls_sync_ctx_t *ctx, ls_sync_job_t *j, int *visited, int64_t limit_ms)
{
    int64_t end = ls_time_mono_ms() + limit_ms;
    while (!ls_sync_job_done(j) && ls_time_mono_ms() < end) {
        void *ud;
        ls_http_xfer_t *x;
        ls_http_multi_run(ctx->multi, 20, -1);
        while ((x = ls_http_multi_next_done(ctx->multi, &ud))) {
            CU_ASSERT_PTR_EQUAL(ud, j);
            ls_sync_job_on_xfer(ud, x);
            /* on_xfer only records the answer: the state moves in step */
            CU_ASSERT_EQUAL(ls_sync_job_state(j), F);
        }
        ls_sync_job_step(j, ls_time_mono_ms());
        visited[ls_sync_job_state(j)] = 1;
        if (ls_sync_job_state(j) == B)
            CU_ASSERT(ls_sync_job_timer(j) > 0);
    }
}

static void test_driver_retries_then_fails(void)
{
    static ls_config_t cfg;
    char err[256];
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.unified_base_url, sizeof(cfg.unified_base_url), "http://127.0.0.1:1");
    cfg.http_max_retries = 1;
    cfg.page_limit = 100;
    cfg.http_timeout_s = 5;
    snprintf(dir, sizeof(dir), "/tmp/ls-sync-fsm-test-%ld", (long)getpid());
    ls_sync_ctx_t ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.cfg = &cfg;
    ctx.store = ls_store_open(dir, 8, 0, err, sizeof(err));
    ctx.multi = ls_http_multi_new("token", 5, 4, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(ctx.store);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ctx.multi);
    ls_page_init(&ctx.parsed);
    CU_ASSERT_EQUAL_FATAL(ls_sync_ctx_open_creds(&ctx), LS_OK);
    ls_job_t job;
    memset(&job, 0, sizeof(job));
    snprintf(job.job_id, sizeof(job.job_id), "conn-1@1");
    snprintf(job.connection_id, sizeof(job.connection_id), "conn-1");
    job.mode = LS_MODE_FULL;

    ls_sync_job_t *j = ls_sync_job_start(&ctx, &job, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_EQUAL(ls_sync_job_state(j), F);
    CU_ASSERT_EQUAL(ls_sync_job_timer(j), 0);
    int visited[LS_SJ_N_STATES] = {0};
    drive(&ctx, j, visited, 10000);
    CU_ASSERT(visited[B]);
    CU_ASSERT(visited[F]);
    CU_ASSERT_FALSE(visited[D]);
    CU_ASSERT(ls_sync_job_done(j));
    ls_status_t st;
    CU_ASSERT_EQUAL(ls_sync_job_result(j, &st), LS_ETRANSIENT);
    CU_ASSERT_FALSE(st.ok);
    CU_ASSERT_EQUAL(st.requests, 2);
    CU_ASSERT_EQUAL(st.retries, 1);
    CU_ASSERT_EQUAL(st.mode, LS_MODE_FULL);
    CU_ASSERT(strstr(st.error, "failed") != NULL);
    CU_ASSERT_EQUAL(ls_sync_job_timer(j), 0);
    ls_sync_job_destroy(j);
    ls_sync_ctx_release(&ctx);
    ls_http_multi_destroy(ctx.multi);
    ls_store_destroy(ctx.store);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CU_ASSERT(system(cmd) == 0);
}

static CU_TestInfo tests[] = {
    {"transition table: every pair", test_transition_table},
    {"out of range, names", test_out_of_range_and_names},
    {"every state reaches done", test_every_state_reaches_done},
    {"driver: refused page backs off, retries, fails", test_driver_retries_then_fails},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_sync_fsm", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
