/*
 * test_sync_catalog.c - the pages of a catalog job (worker/ls_sync_catalog.c)
 * on a real LMDB store: the list urls, a page stored and found through the
 * lookup API, the last page, and pages that fail (not JSON, the paging
 * contract broken) leaving the stored names as they were.
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
    snprintf(dir, sizeof(dir), "/tmp/ls-sync-catalog-test-%ld", (long)getpid());
    memset(&ctx, 0, sizeof(ctx));
    ls_config_defaults(&cfg);
    cfg.page_limit = 2;
    snprintf(cfg.unified_base_url, sizeof(cfg.unified_base_url), "http://sandbox");
    ctx.cfg = &cfg;
    if (!(ctx.store = ls_store_open(dir, 8, 0, err, sizeof(err)))) {
        fprintf(stderr, "open failed: %s\n", err);
        return 1;
    }
    if (!(job = calloc(1, sizeof(*job))))
        return 1;
    job->ctx = &ctx;
    job->partition = 5;
    job->run.kind = LS_JOB_CATALOG;
    snprintf(job->run.connection_id, sizeof(job->run.connection_id), "conn 1");
    snprintf(job->scope, sizeof(job->scope), "conn 1//catalog");
    snprintf(job->conn, sizeof(job->conn), "conn 1"); /* as ls_sync_job_start sets them (default workspace) */
    job->base_url = cfg.unified_base_url;
    return 0;
}

static int teardown(void)
{
    char cmd[128];
    ls_catalog_page_release(&job->cat_page);
    free(job);
    ls_store_destroy(ctx.store);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) != 0;
}

static int page(const char *body, int *last)
{
    ls_http_resp_t resp = {200, body, strlen(body), -1, 0.0};
    return ls_sync_catalog_page(job, &resp, last);
}

/* The cached name of a course (kind 0) or content (1): "" when it has none, "-" when never fetched. */
static const char *cached_in(const char *conn, ls_catalog_kind_t kind, const char *id)
{
    static ls_catalog_entry_t e;
    char err[256];
    ls_store_reader_t *r = ls_store_reader_new(ctx.store, err, sizeof(err));
    int rc = r ? ls_store_catalog_get(r, job->partition, conn, kind, id, &e) : LS_EIO;
    ls_store_reader_destroy(r);
    return rc == LS_ENOTFOUND ? "-" : rc != LS_OK ? "?" : e.name;
}

static const char *cached(ls_catalog_kind_t kind, const char *id)
{
    return cached_in("conn 1", kind, id);
}

static void test_urls(void)
{
    char url[512];
    job->cat_kind = LS_CATALOG_COURSE;
    CU_ASSERT_EQUAL(ls_sync_page_url(job, 4, url, sizeof(url)), LS_OK);
    CU_ASSERT_STRING_EQUAL(url, "http://sandbox/lms/conn%201/course?limit=2&offset=4&fields=id&fields=name");
    job->cat_kind = LS_CATALOG_CONTENT;
    CU_ASSERT_EQUAL(ls_sync_page_url(job, 0, url, sizeof(url)), LS_OK);
    CU_ASSERT_STRING_EQUAL(url, "http://sandbox/lms/conn%201/content?limit=2&offset=0");
    CU_ASSERT_EQUAL(ls_sync_page_url(job, 0, url, 20), LS_EFULL);
}

static void test_pages_stored(void)
{
    int last = -1;
    job->cat_kind = LS_CATALOG_COURSE;
    job->offset = 0;
    job->page_hash = 0;
    CU_ASSERT_STRING_EQUAL(cached(LS_CATALOG_COURSE, "crs-1"), "-");
    CU_ASSERT_EQUAL(page("[{\"id\":\"crs-1\",\"name\":\"Algebra\"},{\"id\":\"crs-2\",\"name\":null}]", &last), LS_OK);
    CU_ASSERT_EQUAL(last, 0); /* a full page: another one follows */
    job->offset = 2;
    CU_ASSERT_EQUAL(page("[{\"id\":\"crs-3\",\"name\":\"Geometry\"}]", &last), LS_OK);
    CU_ASSERT_EQUAL(last, 1);
    CU_ASSERT_STRING_EQUAL(cached(LS_CATALOG_COURSE, "crs-1"), "Algebra");
    CU_ASSERT_STRING_EQUAL(cached(LS_CATALOG_COURSE, "crs-2"), ""); /* known, no name */
    CU_ASSERT_STRING_EQUAL(cached(LS_CATALOG_COURSE, "crs-3"), "Geometry");
    CU_ASSERT_STRING_EQUAL(cached(LS_CATALOG_CONTENT, "crs-1"), "-");
    CU_ASSERT_EQUAL(job->st.pages, 2);
    CU_ASSERT_EQUAL(job->st.records, 3);
    CU_ASSERT_EQUAL(job->st.state_writes, 3);
}

static void test_failed_pages_keep_names(void)
{
    int last = -1;
    job->cat_kind = LS_CATALOG_COURSE;
    job->offset = 0;
    job->page_hash = 0;
    CU_ASSERT_EQUAL(page("{\"message\":\"sandbox fault: not an array\"}", &last), LS_ETRANSIENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(job->st.error, "course list page at offset 0 of \"conn 1\" does not parse"));
    CU_ASSERT_EQUAL(page("[{\"id\":\"crs-1\",\"name\":\"A\"},{\"id\":\"crs-2\"},{\"id\":\"crs-3\"}]", &last), LS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(job->st.error, "paging: course list page at offset 0 of \"conn 1\" has 3 records"));
    CU_ASSERT_STRING_EQUAL(cached(LS_CATALOG_COURSE, "crs-1"), "Algebra"); /* as it was */
    /* the same full page twice: the upstream ignores offset */
    job->page_hash = 0;
    CU_ASSERT_EQUAL(page("[{\"id\":\"crs-1\",\"name\":\"Algebra\"},{\"id\":\"crs-2\"}]", &last), LS_OK);
    job->offset = 2;
    CU_ASSERT_EQUAL(page("[{\"id\":\"crs-1\",\"name\":\"Renamed\"},{\"id\":\"crs-2\"}]", &last), LS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(job->st.error, "repeats the previous page"));
    CU_ASSERT_STRING_EQUAL(cached(LS_CATALOG_COURSE, "crs-1"), "Algebra");
}

/* A catalog job of a named workspace: its workspace's base URL, the connection's id within it in the
 * URL, and its names stored under the qualified connection (equal ids of two workspaces stay apart). */
static void test_named_workspace(void)
{
    char url[512], conn[LS_KEY_MAX];
    int last = -1;
    snprintf(conn, sizeof(conn), "%s", job->conn);
    snprintf(job->run.workspace, sizeof(job->run.workspace), "eu");
    snprintf(job->conn, sizeof(job->conn), "eu:conn 1");
    job->base_url = "http://eu.sandbox";
    job->cat_kind = LS_CATALOG_COURSE;
    job->offset = 0;
    job->page_hash = 0;
    CU_ASSERT_EQUAL(ls_sync_page_url(job, 0, url, sizeof(url)), LS_OK);
    CU_ASSERT_STRING_EQUAL(url, "http://eu.sandbox/lms/conn%201/course?limit=2&offset=0&fields=id&fields=name");
    CU_ASSERT_EQUAL(page("[{\"id\":\"crs-1\",\"name\":\"Algebra EU\"}]", &last), LS_OK);
    CU_ASSERT_STRING_EQUAL(cached_in("eu:conn 1", LS_CATALOG_COURSE, "crs-1"), "Algebra EU");
    CU_ASSERT_STRING_EQUAL(cached(LS_CATALOG_COURSE, "crs-1"), "Algebra"); /* the default workspace's, untouched */
    job->run.workspace[0] = '\0';
    snprintf(job->conn, sizeof(job->conn), "%s", conn);
    job->base_url = cfg.unified_base_url;
}

static CU_TestInfo tests[] = {
    {"course and content list urls", test_urls},
    {"pages stored, found by the lookup, last page", test_pages_stored},
    {"a page that fails leaves the names as they were", test_failed_pages_keep_names},
    {"named workspace: its base URL, names under the qualified connection", test_named_workspace},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"sync_catalog", setup, teardown, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

LS_TEST_MAIN(suites)
