/* test_removal.c - the shrink guard and the removal decisions (ls_removal.h), as tables of cases. */
#include "ls_removal.h"
#include "ls_test.h"

#include <string.h>

typedef struct shrink_case {
    const char *name;
    ls_shrink_cfg_t cfg;
    ls_shrink_in_t in;
    ls_shrink_verdict_t verdict;
    long long shrink_count, shrink_scans, last_full_count; /* expected out */
    const char *why;                                       /* expected reason */
} shrink_case_t;

#define CFG {50, 5, 3}
#define NO_CAND -1, 0

static const shrink_case_t shrink_cases[] = {
    {"rejected records without an id block removals", CFG, {100, 100, 100, 2, NO_CAND}, LS_SHRINK_UNIDENTIFIED,
     -1, 0, -1, "2 rejected records without a usable id"},
    {"no id blocks even a shrunken scan", CFG, {100, 100, 10, 1, 12, 2}, LS_SHRINK_UNIDENTIFIED, -1, 0, -1,
     "1 rejected records without a usable id"},
    {"first scan, nothing stored", CFG, {-1, 0, 0, 0, NO_CAND}, LS_SHRINK_PASS, -1, 0, -1, ""},
    {"first scan: the stored count is the baseline", CFG, {-1, 100, 60, 0, NO_CAND}, LS_SHRINK_PASS, -1, 0, -1, ""},
    {"exactly the ratio passes", CFG, {100, 100, 50, 0, NO_CAND}, LS_SHRINK_PASS, -1, 0, -1, ""},
    {"a baseline of 0 never guards", CFG, {0, 5, 0, 0, NO_CAND}, LS_SHRINK_PASS, -1, 0, -1, ""},
    {"a normal scan clears an old candidate", CFG, {100, 100, 90, 0, 40, 2}, LS_SHRINK_PASS, -1, 0, -1, ""},
    {"below the ratio: guarded, first candidate", CFG, {100, 100, 49, 0, NO_CAND}, LS_SHRINK_GUARDED, 49, 1, -1,
     "scan saw 49 records, below 50% of the last complete scan's 100 (worker.removal_min_ratio_pct); "
     "agreeing complete scans 1 of 3"},
    {"first scan below the stored count", CFG, {-1, 100, 10, 0, NO_CAND}, LS_SHRINK_GUARDED, 10, 1, -1,
     "scan saw 10 records, below 50% of the last complete scan's 100 (worker.removal_min_ratio_pct); "
     "agreeing complete scans 1 of 3"},
    {"agreeing within tolerance counts up", CFG, {100, 100, 40, 0, 41, 1}, LS_SHRINK_GUARDED, 40, 2, -1,
     "scan saw 40 records, below 50% of the last complete scan's 100 (worker.removal_min_ratio_pct); "
     "agreeing complete scans 2 of 3"},
    {"disagreeing restarts the streak", CFG, {100, 100, 40, 0, 60, 2}, LS_SHRINK_GUARDED, 40, 1, -1,
     "scan saw 40 records, below 50% of the last complete scan's 100 (worker.removal_min_ratio_pct); "
     "agreeing complete scans 1 of 3"},
    {"enough agreeing scans: new baseline", CFG, {100, 100, 40, 0, 41, 2}, LS_SHRINK_ACCEPTED, -1, 0, 40,
     "scan saw 40 records, below 50% of the last complete scan's 100 (worker.removal_min_ratio_pct); "
     "3 consecutive complete scans agreed, so 40 is the new baseline (worker.shrink_accept_scans)"},
    {"accept_scans 0 never accepts", {50, 5, 0}, {100, 100, 40, 0, 40, 5}, LS_SHRINK_GUARDED, 40, 6, -1,
     "scan saw 40 records, below 50% of the last complete scan's 100 (worker.removal_min_ratio_pct); "
     "agreeing complete scans 6 of 0"},
    {"tolerance 0 needs equal counts", {50, 0, 2}, {100, 100, 40, 0, 41, 1}, LS_SHRINK_GUARDED, 40, 1, -1,
     "scan saw 40 records, below 50% of the last complete scan's 100 (worker.removal_min_ratio_pct); "
     "agreeing complete scans 1 of 2"},
};

static void test_shrink_guard_table(void)
{
    for (size_t i = 0; i < sizeof(shrink_cases) / sizeof(shrink_cases[0]); i++) {
        const shrink_case_t *c = &shrink_cases[i];
        ls_shrink_out_t out;
        char why[512];
        ls_shrink_guard(&c->cfg, &c->in, &out, why, sizeof(why));
        int ok = out.verdict == c->verdict && strcmp(why, c->why) == 0 &&
                 (c->verdict != LS_SHRINK_GUARDED ||
                  (out.shrink_count == c->shrink_count && out.shrink_scans == c->shrink_scans)) &&
                 (c->verdict != LS_SHRINK_ACCEPTED || out.last_full_count == c->last_full_count);
        if (!ok)
            fprintf(stderr, "case \"%s\": verdict %d count %lld scans %lld base %lld why \"%s\"\n", c->name,
                    out.verdict, out.shrink_count, out.shrink_scans, out.last_full_count, why);
        CU_ASSERT(ok);
    }
}

static void test_shrink_guard_small_buffer(void)
{
    ls_shrink_cfg_t cfg = CFG;
    ls_shrink_in_t in = {100, 100, 10, 0, NO_CAND};
    ls_shrink_out_t out;
    char why[16];
    ls_shrink_guard(&cfg, &in, &out, why, sizeof(why));
    CU_ASSERT_EQUAL(out.verdict, LS_SHRINK_GUARDED);
    CU_ASSERT_EQUAL(strlen(why), sizeof(why) - 1);
}

typedef struct gone_case {
    ls_gone_in_t in;
    ls_gone_action_t want;
} gone_case_t;

static void test_gone_decide_table(void)
{
    static const gone_case_t cases[] = {
        {{0, 0, 0}, LS_GONE_MARK},    {{0, 1, 1}, LS_GONE_MARK},    {{1, 1, 0}, LS_GONE_RECHECK},
        {{1, 1, 1}, LS_GONE_RECHECK}, {{2, 0, 1}, LS_GONE_HOLD},    {{1, 0, 0}, LS_GONE_REMOVE},
        {{254, 0, 0}, LS_GONE_REMOVE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why = NULL;
        ls_gone_action_t a = ls_gone_decide(&cases[i].in, &why);
        if (a != cases[i].want)
            fprintf(stderr, "gone case %zu: got %s, want %s\n", i, ls_gone_action_name(a),
                    ls_gone_action_name(cases[i].want));
        CU_ASSERT_EQUAL(a, cases[i].want);
        CU_ASSERT(why && why[0]);
    }
}

typedef struct recheck_case {
    ls_recheck_answer_t answer;
    int attempt, max_retries;
    ls_gone_action_t want;
} recheck_case_t;

static void test_recheck_decide_table(void)
{
    static const recheck_case_t cases[] = {
        {LS_RECHECK_NOT_FOUND, 0, 3, LS_GONE_REMOVE}, {LS_RECHECK_FOUND, 2, 3, LS_GONE_UPDATE},
        {LS_RECHECK_TRANSIENT, 0, 3, LS_GONE_RECHECK}, {LS_RECHECK_TRANSIENT, 2, 3, LS_GONE_RECHECK},
        {LS_RECHECK_TRANSIENT, 3, 3, LS_GONE_HOLD},   {LS_RECHECK_TRANSIENT, 0, 0, LS_GONE_HOLD},
        {LS_RECHECK_INVALID, 0, 3, LS_GONE_HOLD},     {LS_RECHECK_FAILED, 0, 3, LS_GONE_HOLD},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why = NULL;
        ls_gone_action_t a = ls_recheck_decide(cases[i].answer, cases[i].attempt, cases[i].max_retries, &why);
        if (a != cases[i].want)
            fprintf(stderr, "recheck case %zu: got %s, want %s\n", i, ls_gone_action_name(a),
                    ls_gone_action_name(cases[i].want));
        CU_ASSERT_EQUAL(a, cases[i].want);
        CU_ASSERT(why && why[0]);
    }
}

static void test_action_names(void)
{
    CU_ASSERT_STRING_EQUAL(ls_gone_action_name(LS_GONE_MARK), "mark");
    CU_ASSERT_STRING_EQUAL(ls_gone_action_name(LS_GONE_HOLD), "hold");
    CU_ASSERT_STRING_EQUAL(ls_gone_action_name((ls_gone_action_t)99), "?");
}

static CU_TestInfo tests[] = {
    {"shrink guard: every branch", test_shrink_guard_table},
    {"shrink guard: reason truncated safely", test_shrink_guard_small_buffer},
    {"unseen activity: mark, recheck, hold, remove", test_gone_decide_table},
    {"re-check answers: remove, update, retry, hold", test_recheck_decide_table},
    {"action names", test_action_names},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_removal", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
