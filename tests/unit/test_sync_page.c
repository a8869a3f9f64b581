/*
 * test_sync_page.c - the page pipeline of a sync job (worker/ls_sync_page.c)
 * on a real LMDB store, without Kafka: normalize (rejects, ids seen,
 * repeated ids), diff against stored state and markers, and the commit of a
 * delivered page (states, cleared markers, checkpoint).
 */
#include "ls_err.h"
#include "ls_sync_job.h"
#include "ls_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static ls_config_t cfg;
static ls_sync_ctx_t ctx;
static ls_sync_job_t *job;

static int setup(void)
{
    char err[256];
    snprintf(dir, sizeof(dir), "/tmp/ls-sync-page-test-%ld", (long)getpid());
    memset(&ctx, 0, sizeof(ctx));
    ctx.cfg = &cfg;
    if (!(ctx.store = ls_store_open(dir, 8, 0, err, sizeof(err)))) {
        fprintf(stderr, "open failed: %s\n", err);
        return 1;
    }
    ls_page_init(&ctx.parsed);
    job = calloc(1, sizeof(*job));
    if (!job || !(job->batch = malloc(sizeof(*job->batch))))
        return 1;
    ls_batch_init(job->batch);
    job->ctx = &ctx;
    job->partition = 3;
    snprintf(job->run.connection_id, sizeof(job->run.connection_id), "conn-1");
    snprintf(job->scope, sizeof(job->scope), "conn-1");
    snprintf(job->conn, sizeof(job->conn), "conn-1");
    return 0;
}

static int teardown(void)
{
    char cmd[128];
    free(job->batch);
    free(job->pg.items);
    free(job->seen.slots);
    free(job);
    ls_page_release(&ctx.parsed);
    ls_store_destroy(ctx.store);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) != 0;
}

/* Parse body as the page that arrived, and run normalize + diff. */
static int prepare(const char *body)
{
    char why[256];
    if (ls_page_parse(&ctx.parsed, body, strlen(body), why, sizeof(why)) != LS_OK) {
        fprintf(stderr, "page does not parse: %s\n", why);
        return LS_EINVAL;
    }
    return ls_sync_page_prepare(job);
}

/* A new scan of the job: no id seen yet. */
static void new_scan(void)
{
    free(job->seen.slots);
    memset(&job->seen, 0, sizeof(job->seen));
    job->st.duplicates = 0;
}

static int marker(const char *id)
{
    char err[256];
    int misses = 0;
    ls_store_reader_t *r = ls_store_reader_new(ctx.store, err, sizeof(err));
    int rc = r ? ls_store_reader_get_pending(r, job->partition, "conn-1", id, &misses) : LS_EIO;
    ls_store_reader_destroy(r);
    return rc == LS_OK ? misses : rc == LS_ENOTFOUND ? 0 : -1;
}

static void test_normalize_rejects_and_repeats(void)
{
    const char *body = "[{\"id\":\"a1\",\"progress_percentage\":10},"
                       "{\"id\":\"a2\",\"progress_percentage\":\"ten\"},"
                       "{\"id\":\"a1\",\"progress_percentage\":10},"
                       "{\"progress_percentage\":5}]";
    CU_ASSERT_EQUAL_FATAL(prepare(body), LS_OK);
    CU_ASSERT_EQUAL(job->st.records, 4);
    CU_ASSERT_EQUAL(job->st.rejected, 2);
    CU_ASSERT_EQUAL(job->pg.n, 1); /* a1 once; a2 rejected */
    CU_ASSERT_EQUAL(job->st.duplicates, 1);
    CU_ASSERT(ls_sync_seen_has(&job->seen, "a1"));
    CU_ASSERT(ls_sync_seen_has(&job->seen, "a2")); /* rejected, but it exists upstream */
    CU_ASSERT_FALSE(ls_sync_seen_has(&job->seen, "a3"));
    CU_ASSERT_EQUAL(job->seen.n, 2);
    CU_ASSERT_EQUAL(job->seen.unidentified, 1);
    ls_sync_item_t *it = &job->pg.items[0];
    CU_ASSERT_STRING_EQUAL(it->act.id, "a1");
    CU_ASSERT_FALSE(it->has_before);
    CU_ASSERT_FALSE(it->had_mark);
    CU_ASSERT_EQUAL(it->diff.type, LS_CHANGE_CREATED);
    CU_ASSERT(it->diff.stored_mask != 0 && it->packed_len > 0);
}

static void test_store_then_unchanged(void)
{
    char err[256];
    int64_t cp = -1;
    job->batch->after_acks_next_offset = 7; /* as if the page's changelog records were acknowledged */
    CU_ASSERT_EQUAL_FATAL(ls_sync_page_store(job), LS_OK);
    CU_ASSERT_EQUAL(ls_store_get_checkpoint(ctx.store, job->partition, &cp), LS_OK);
    CU_ASSERT_EQUAL(cp, 7);
    /* a1 was missed once by another scan: a marker */
    ls_store_mark_t m = {"a1", 1};
    CU_ASSERT_EQUAL_FATAL(ls_store_commit(ctx.store, job->partition, "conn-1", NULL, 0, &m, 1, -1, NULL, NULL, err,
                                          sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(marker("a1"), 1);
    /* the same record again: no change, nothing to write but the cleared marker */
    new_scan();
    CU_ASSERT_EQUAL_FATAL(prepare("[{\"id\":\"a1\",\"progress_percentage\":10}]"), LS_OK);
    ls_sync_item_t *it = &job->pg.items[0];
    CU_ASSERT(it->has_before);
    CU_ASSERT(it->had_mark);
    CU_ASSERT_EQUAL(it->diff.type, LS_CHANGE_NONE);
    CU_ASSERT_EQUAL(it->diff.stored_mask, 0);
    ls_batch_init(job->batch);
    CU_ASSERT_EQUAL(ls_sync_page_store(job), LS_OK);
    CU_ASSERT_EQUAL(marker("a1"), 0);
    CU_ASSERT_EQUAL(ls_store_get_checkpoint(ctx.store, job->partition, &cp), LS_OK);
    CU_ASSERT_EQUAL(cp, 7); /* no changelog record: the checkpoint stays */
}

static void test_progress_against_stored(void)
{
    new_scan();
    CU_ASSERT_EQUAL_FATAL(prepare("[{\"id\":\"a1\",\"progress_percentage\":60}]"), LS_OK);
    ls_sync_item_t *it = &job->pg.items[0];
    CU_ASSERT(it->has_before);
    CU_ASSERT_EQUAL(it->diff.type, LS_CHANGE_PROGRESSED);
    CU_ASSERT(it->diff.stored_mask != 0);
}

/* One id on two pages of a scan with different contents: the first wins, every scan alike. */
static void test_duplicate_across_pages(void)
{
    for (int scan = 0; scan < 2; scan++) {
        new_scan();
        CU_ASSERT_EQUAL_FATAL(prepare("[{\"id\":\"d1\",\"progress_percentage\":30}]"), LS_OK);
        CU_ASSERT_EQUAL(job->pg.n, 1);
        CU_ASSERT_EQUAL(job->pg.items[0].diff.type, scan == 0 ? LS_CHANGE_CREATED : LS_CHANGE_NONE);
        job->batch->after_acks_next_offset = 9;
        CU_ASSERT_EQUAL_FATAL(ls_sync_page_store(job), LS_OK);
        CU_ASSERT_EQUAL_FATAL(prepare("[{\"id\":\"d1\",\"progress_percentage\":80},"
                                      "{\"id\":\"d2\",\"progress_percentage\":5}]"), LS_OK);
        CU_ASSERT_EQUAL(job->pg.n, 1); /* d2 only: the second d1 is ignored */
        CU_ASSERT_STRING_EQUAL(job->pg.items[0].act.id, "d2");
        CU_ASSERT_EQUAL(job->st.duplicates, 1);
        CU_ASSERT_EQUAL(ls_sync_page_store(job), LS_OK);
    }
}

/* The paging contract: over the limit, a repeated page, the page cap. */
static void test_paging_check(void)
{
    char why[256];
    cfg.page_limit = 2;
    job->page_hash = 0;
    job->st.pages = 1;
    const char *p1 = "[{\"id\":\"p1\"},{\"id\":\"p2\"}]";
    CU_ASSERT_EQUAL_FATAL(ls_page_parse(&ctx.parsed, p1, strlen(p1), why, sizeof(why)), LS_OK);
    CU_ASSERT_EQUAL(ls_sync_paging_check(job), LS_OK);
    job->st.pages = 2; /* the same ids again: offset ignored */
    CU_ASSERT_EQUAL(ls_sync_paging_check(job), LS_EINVAL);
    CU_ASSERT_STRING_EQUAL(job->st.error, "paging: page 2 of \"conn-1\" repeats page 1 (the upstream ignores offset)");
    const char *p3 = "[{\"id\":\"p1\"},{\"id\":\"p2\"},{\"id\":\"p3\"}]";
    CU_ASSERT_EQUAL_FATAL(ls_page_parse(&ctx.parsed, p3, strlen(p3), why, sizeof(why)), LS_OK);
    CU_ASSERT_EQUAL(ls_sync_paging_check(job), LS_EINVAL);
    CU_ASSERT_STRING_EQUAL(job->st.error, "paging: page 2 of \"conn-1\" has 3 records, more than the limit 2 sent "
                                          "(the upstream ignores limit)");
    job->run.unpaged = 1; /* one request without limit: nothing to check */
    CU_ASSERT_EQUAL(ls_sync_paging_check(job), LS_OK);
    job->run.unpaged = 0;
    job->st.pages = LS_SYNC_PAGE_CAP_FLOOR + 1;
    CU_ASSERT_EQUAL_FATAL(ls_page_parse(&ctx.parsed, p1, strlen(p1), why, sizeof(why)), LS_OK);
    job->page_hash = 0;
    CU_ASSERT_EQUAL(ls_sync_paging_check(job), LS_EINVAL);
    CU_ASSERT(strstr(job->st.error, "is past the cap of 10000 pages") != NULL);
    CU_ASSERT_EQUAL(ls_sync_page_cap(-1, 100), LS_SYNC_PAGE_CAP_FLOOR);
    CU_ASSERT_EQUAL(ls_sync_page_cap(1000, 100), LS_SYNC_PAGE_CAP_FLOOR);
    CU_ASSERT_EQUAL(ls_sync_page_cap(10000000, 100), 200010);
    job->st.pages = 0;
    cfg.page_limit = 100;
}

/* A webhook job's inline records: applied when newer, counted stale when older than the stored state. */
static void test_webhook_records(void)
{
    char rec[256];
    const char *stored = "[{\"id\":\"w1\",\"progress_percentage\":40,\"updated_at\":\"2026-11-28T10:00:05Z\"}]";
    new_scan();
    CU_ASSERT_EQUAL_FATAL(prepare(stored), LS_OK);
    job->batch->after_acks_next_offset = 11;
    CU_ASSERT_EQUAL_FATAL(ls_sync_page_store(job), LS_OK);
    const struct {
        const char *updated_at;
        int progress;
        ls_change_type_t want;
        uint64_t stale;
    } cases[] = {
        {"2026-11-28T10:00:04Z", 20, LS_CHANGE_NONE, 1},       /* a late delivery of an older state */
        {"2026-11-28T10:00:05Z", 40, LS_CHANGE_NONE, 0},       /* the stored state again (a duplicate) */
        {"2026-11-28T10:00:09Z", 70, LS_CHANGE_PROGRESSED, 0}, /* newer: applied */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(rec, sizeof(rec), "[{\"id\":\"w1\",\"progress_percentage\":%d,\"updated_at\":\"%s\"}]",
                 cases[i].progress, cases[i].updated_at);
        new_scan();
        job->st.stale_records = 0;
        job->run.records = rec;
        job->run.records_len = strlen(rec);
        CU_ASSERT_EQUAL_FATAL(ls_sync_webhook_prepare(job), LS_OK);
        CU_ASSERT_EQUAL(job->st.mode, LS_MODE_WEBHOOK);
        CU_ASSERT_EQUAL(job->pg.n, 1);
        CU_ASSERT_EQUAL(job->pg.items[0].diff.type, cases[i].want);
        CU_ASSERT_EQUAL(job->pg.items[0].diff.stored_mask != 0, cases[i].want != LS_CHANGE_NONE);
        CU_ASSERT_EQUAL(job->st.stale_records, cases[i].stale);
    }
    job->run.records = "[{\"id\":";
    job->run.records_len = strlen(job->run.records);
    CU_ASSERT_EQUAL(ls_sync_webhook_prepare(job), LS_EINVAL);
    CU_ASSERT(strstr(job->st.error, "webhook records of \"conn-1\" do not parse") != NULL);
    job->run.records = NULL;
    job->run.records_len = 0;
    job->st.mode = LS_MODE_NONE;
}

static CU_TestInfo tests[] = {
    {"normalize: rejects, ids seen, repeated ids", test_normalize_rejects_and_repeats},
    {"store: checkpoint, then an unchanged record clears its marker", test_store_then_unchanged},
    {"diff against the stored state", test_progress_against_stored},
    {"a duplicated id: the first occurrence wins, the next poll emits nothing", test_duplicate_across_pages},
    {"paging: over the limit, a repeated page, the page cap", test_paging_check},
    {"webhook records: newer applied, older counted stale, repeats no change", test_webhook_records},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_sync_page", setup, teardown, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
