/*
 * test_coord_term.c - two leaders detected (coordinator/ls_coord_leader.c):
 * the verdict on a job outcome of another leader term, and what a leading
 * replica does with it (error, lmsync_coordinator_split_brain_total, step
 * down when its own term is the older one).
 */
#include "ls_config.h"
#include "ls_coord_int.h"
#include "ls_coord_metrics.h"
#include "ls_err.h"
#include "ls_test.h"

#include <stdlib.h>
#include <string.h>

static void test_verdict(void)
{
    CU_ASSERT_EQUAL(coord_term_verdict(1000, 0, 99999), COORD_TERM_OK);      /* no epoch: a single coordinator's job */
    CU_ASSERT_EQUAL(coord_term_verdict(1000, 1000, 99999), COORD_TERM_OK);   /* this term */
    CU_ASSERT_EQUAL(coord_term_verdict(1000, 1001, 500), COORD_TERM_NEWER);  /* a later term leads too */
    CU_ASSERT_EQUAL(coord_term_verdict(100000, 50000, 90000), COORD_TERM_OK); /* an earlier term's backlog */
    CU_ASSERT_EQUAL(coord_term_verdict(100000, 50000, 100000 + COORD_SKEW_MS), COORD_TERM_OK); /* within the skew */
    CU_ASSERT_EQUAL(coord_term_verdict(100000, 50000, 100001 + COORD_SKEW_MS), COORD_TERM_OLDER_LIVE);
    CU_ASSERT_EQUAL(coord_term_verdict(0, 50000, 99999), COORD_TERM_OK);     /* not leading a term */
}

/* lmsync_coordinator_split_brain_total as rendered (-1 when absent). */
static long split_brain_count(void)
{
    char *text = NULL;
    long v = -1;
    if (ls_metrics_render(&text) >= 0) {
        const char *p = strstr(text, "\nlmsync_coordinator_split_brain_total ");
        v = p ? strtol(p + strlen("\nlmsync_coordinator_split_brain_total "), NULL, 10) : -1;
    }
    free(text);
    return v;
}

static void test_check_steps_down(void)
{
    static ls_config_t cfg;
    static coord_t c;
    ls_config_defaults(&cfg);
    cfg.leader_election = 1;
    memset(&c, 0, sizeof(c));
    c.cfg = &cfg;
    c.leading = c.lead_assigned = 1;
    c.epoch = 100000;
    CU_ASSERT_EQUAL_FATAL(ls_metrics_init(ls_coord_metrics, CM__COUNT, 1), LS_OK);
    ls_job_t job;
    memset(&job, 0, sizeof(job));
    snprintf(job.job_id, sizeof(job.job_id), "conn-1@90000");
    job.leader_epoch = 100000;
    CU_ASSERT_EQUAL(coord_term_check(&c, &job), 0);
    CU_ASSERT_EQUAL(split_brain_count(), 0);
    job.leader_epoch = 50000; /* an earlier term, due after this one began: counted, this replica keeps leading */
    snprintf(job.job_id, sizeof(job.job_id), "conn-1@200000");
    CU_ASSERT_EQUAL(coord_term_check(&c, &job), 0);
    CU_ASSERT_EQUAL(c.lead_assigned, 1);
    CU_ASSERT_EQUAL(split_brain_count(), 1);
    job.leader_epoch = 150000; /* a later term: this one is older and steps down */
    CU_ASSERT_EQUAL(coord_term_check(&c, &job), 1);
    CU_ASSERT_EQUAL(c.lead_assigned, 0);
    CU_ASSERT_EQUAL(split_brain_count(), 2);
    cfg.leader_election = 0; /* a single coordinator never checks */
    c.lead_assigned = 1;
    CU_ASSERT_EQUAL(coord_term_check(&c, &job), 0);
    CU_ASSERT_EQUAL(c.lead_assigned, 1);
    ls_metrics_free();
}

static CU_TestInfo tests[] = {
    {"verdict: this, earlier, later, live earlier term", test_verdict},
    {"a leading replica counts, and steps down when older", test_check_steps_down},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"coord_term", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
