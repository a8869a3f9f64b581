/*
 * Unit tests of the restore building blocks: ls_store_apply_changelog,
 * ls_store_wipe_partition, checkpoint times, the map-full message, and the
 * changelog key parser of ls_restore. The replay itself needs a broker and
 * is covered by tests/e2e/faults.sh.
 */
#include "ls_err.h"
#include "ls_restore.h"
#include "ls_store.h"
#include "ls_test.h"
#include "ls_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static ls_store_t *fresh(size_t map_mb)
{
    char err[256], cmd[128];
    snprintf(dir, sizeof(dir), "/tmp/ls-restore-test-%ld", (long)getpid());
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CU_ASSERT(system(cmd) == 0);
    ls_store_t *st = ls_store_new(dir, map_mb, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    return st;
}

static void cleanup(ls_store_t *st)
{
    char cmd[128];
    ls_store_destroy(st);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CU_ASSERT(system(cmd) == 0);
}

static int has(ls_store_t *st, int p, const char *c, const char *a)
{
    char err[256];
    const uint8_t *v;
    size_t n;
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    int rc = ls_store_reader_get(r, p, c, a, &v, &n);
    ls_store_reader_destroy(r);
    return rc == LS_OK;
}

static int marker(ls_store_t *st, int p, const char *c, const char *a)
{
    char err[256];
    int m = 0;
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    ls_store_reader_get_pending(r, p, c, a, &m);
    ls_store_reader_destroy(r);
    return m;
}

static void test_apply(void)
{
    ls_store_t *st = fresh(8);
    char err[256];
    const uint8_t v[] = {1, 2, 3};
    ls_store_put_t puts[] = {{"a1", v, 3}, {"a2", v, 3}};
    ls_store_mark_t marks[] = {{"a1", 1}, {"a2", 1}};
    CU_ASSERT_EQUAL(ls_store_commit(st, 2, "c1", puts, 2, marks, 2, 5, NULL, NULL, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(marker(st, 2, "c1", "a1"), 1);
    /* a put from another owner clears the marker; a tombstone deletes state and marker */
    ls_store_rec_t recs[] = {{"c1", "a1", v, 2}, {"c1", "a2", NULL, 0}, {"c2", "b1", v, 3}, {"c2", "gone", NULL, 0}};
    int64_t t0 = ls_time_now_ms();
    CU_ASSERT_EQUAL(ls_store_apply_changelog(st, 2, recs, 4, 42, err, sizeof(err)), LS_OK);
    CU_ASSERT(has(st, 2, "c1", "a1"));
    CU_ASSERT_FALSE(has(st, 2, "c1", "a2"));
    CU_ASSERT(has(st, 2, "c2", "b1"));
    CU_ASSERT_EQUAL(marker(st, 2, "c1", "a1"), 0);
    CU_ASSERT_EQUAL(marker(st, 2, "c1", "a2"), 0);
    int64_t cp = 0, t = 0;
    CU_ASSERT_EQUAL(ls_store_get_checkpoint(st, 2, &cp), LS_OK);
    CU_ASSERT_EQUAL(cp, 42);
    CU_ASSERT_EQUAL(ls_store_get_checkpoint_time(st, 2, &t), LS_OK);
    CU_ASSERT(t >= t0 && t <= ls_time_now_ms());
    CU_ASSERT_EQUAL(ls_store_get_checkpoint_time(st, 3, &t), LS_ENOTFOUND);
    /* n = 0 records only the checkpoint */
    CU_ASSERT_EQUAL(ls_store_apply_changelog(st, 3, NULL, 0, 7, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_get_checkpoint(st, 3, &cp), LS_OK);
    CU_ASSERT_EQUAL(cp, 7);
    CU_ASSERT_EQUAL(ls_store_count(st, 3), 0);
    cleanup(st);
}

static void test_wipe(void)
{
    ls_store_t *st = fresh(64);
    char err[256];
    const uint8_t v[] = {9, 9};
    enum { N = 12000 }; /* more than one wipe chunk */
    static ls_store_put_t puts[N];
    static char ids[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "a%05d", i);
        puts[i] = (ls_store_put_t){ids[i], v, 2};
    }
    ls_store_mark_t mark = {"a00001", 1};
    CU_ASSERT_EQUAL(ls_store_commit(st, 1, "c", puts, N, &mark, 1, 100, "c", "{\"last_full_count\":3}", err,
                                    sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_commit(st, 2, "c", puts, 10, NULL, 0, 9, "c", "{}", err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_commit(st, 0, "c", puts, 3, NULL, 0, 4, NULL, NULL, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_count(st, 1), N);
    CU_ASSERT_EQUAL(ls_store_wipe_partition(st, 1, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_count(st, 1), 0);
    int64_t cp, t;
    CU_ASSERT_EQUAL(ls_store_get_checkpoint(st, 1, &cp), LS_ENOTFOUND);
    CU_ASSERT_EQUAL(ls_store_get_checkpoint_time(st, 1, &t), LS_ENOTFOUND);
    CU_ASSERT_EQUAL(marker(st, 1, "c", "a00001"), 0);
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    char buf[64];
    CU_ASSERT_EQUAL(ls_store_reader_get_sync(r, 1, "c", buf, sizeof(buf)), LS_ENOTFOUND);
    CU_ASSERT_EQUAL(ls_store_reader_get_sync(r, 2, "c", buf, sizeof(buf)), LS_OK); /* neighbours untouched */
    ls_store_reader_destroy(r);
    CU_ASSERT_EQUAL(ls_store_count(st, 2), 10);
    CU_ASSERT_EQUAL(ls_store_count(st, 0), 3);
    CU_ASSERT_EQUAL(ls_store_get_checkpoint(st, 2, &cp), LS_OK);
    CU_ASSERT_EQUAL(cp, 9);
    CU_ASSERT_EQUAL(ls_store_get_checkpoint(st, 0, &cp), LS_OK);
    CU_ASSERT_EQUAL(ls_store_wipe_partition(st, 7, err, sizeof(err)), LS_OK); /* empty: fine */
    CU_ASSERT_EQUAL(ls_store_wipe_partition(st, 70000, err, sizeof(err)), LS_EINVAL);
    cleanup(st);
}

static void test_map_full_message(void)
{
    ls_store_t *st = fresh(1);
    char err[512], id[32];
    static uint8_t big[1000];
    static ls_store_rec_t recs[100];
    static char ids[100][32];
    int rc = LS_OK;
    for (int b = 0; b < 100 && rc == LS_OK; b++) {
        for (int i = 0; i < 100; i++) {
            snprintf(ids[i], sizeof(ids[i]), "b%d-%d", b, i);
            recs[i] = (ls_store_rec_t){"conn", ids[i], big, sizeof(big)};
        }
        rc = ls_store_apply_changelog(st, 4, recs, 100, b + 1, err, sizeof(err));
    }
    CU_ASSERT_EQUAL(rc, LS_EFULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "worker.lmdb_map_mb"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "(1 MB, the map of each partition)"));
    CU_ASSERT_EQUAL(ls_store_count(st, 4) % 100, 0); /* a failed batch leaves nothing of itself */
    /* the page writer names the setting too */
    ls_store_put_t put = {"one-more", big, sizeof(big)};
    rc = LS_OK;
    for (int i = 0; i < 2000 && rc == LS_OK; i++) {
        snprintf(id, sizeof(id), "p%d", i);
        put.activity_id = id;
        rc = ls_store_commit_page(st, 5, "conn", &put, 1, i, NULL, NULL, err, sizeof(err));
    }
    CU_ASSERT_EQUAL(rc, LS_EFULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "worker.lmdb_map_mb"));
    cleanup(st);
}

static void test_parse_key(void)
{
    char c[LS_STR_MAX + 1], a[LS_STR_MAX + 1], why[128];
    CU_ASSERT_EQUAL(ls_restore_parse_key("conn-1/act-1", 12, c, a, why, sizeof(why)), LS_OK);
    CU_ASSERT_STRING_EQUAL(c, "conn-1");
    CU_ASSERT_STRING_EQUAL(a, "act-1");
    /* activity ids may contain '/': only the first one splits */
    CU_ASSERT_EQUAL(ls_restore_parse_key("c/a/b", 5, c, a, why, sizeof(why)), LS_OK);
    CU_ASSERT_STRING_EQUAL(c, "c");
    CU_ASSERT_STRING_EQUAL(a, "a/b");
    CU_ASSERT_EQUAL(ls_restore_parse_key(NULL, 0, c, a, why, sizeof(why)), LS_EINVAL);
    CU_ASSERT_EQUAL(ls_restore_parse_key("noslash", 7, c, a, why, sizeof(why)), LS_EINVAL);
    CU_ASSERT_EQUAL(ls_restore_parse_key("/a", 2, c, a, why, sizeof(why)), LS_EINVAL);
    CU_ASSERT_EQUAL(ls_restore_parse_key("c/", 2, c, a, why, sizeof(why)), LS_EINVAL);
    CU_ASSERT_EQUAL(ls_restore_parse_key("c/a\0b", 5, c, a, why, sizeof(why)), LS_EINVAL);
    static char longkey[600];
    memset(longkey, 'x', sizeof(longkey));
    longkey[300] = '/';
    CU_ASSERT_EQUAL(ls_restore_parse_key(longkey, sizeof(longkey), c, a, why, sizeof(why)), LS_EINVAL);
    /* each part fits but the LMDB key would not (2 + 255 + 1 + 255 > 511) */
    static char k2[511];
    memset(k2, 'y', sizeof(k2));
    k2[255] = '/';
    CU_ASSERT_EQUAL(ls_restore_parse_key(k2, sizeof(k2), c, a, why, sizeof(why)), LS_EINVAL);
}

static CU_TestInfo tests[] = {
    {"apply changelog records with checkpoint and time", test_apply},
    {"wipe one partition only, in chunks", test_wipe},
    {"map full names worker.lmdb_map_mb", test_map_full_message},
    {"changelog key parsing", test_parse_key},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {{"restore", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};
LS_TEST_MAIN(suites)
