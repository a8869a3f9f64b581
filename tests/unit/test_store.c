/* Unit tests of ls_store (LMDB): partition-prefixed keys, atomic page commits, map full. */
#include "ls_err.h"
#include "ls_store.h"
#include "ls_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static ls_store_t *fresh(size_t map_mb)
{
    char err[256], cmd[128];
    snprintf(dir, sizeof(dir), "/tmp/ls-store-test-%ld", (long)getpid());
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

static void test_put_get(void)
{
    ls_store_t *st = fresh(8);
    char err[256];
    const uint8_t v1[] = {1, 2, 3}, v2[] = {9};
    ls_store_put_t puts[] = {{"a1", v1, 3}, {"a2", v2, 1}};
    CU_ASSERT_EQUAL(ls_store_commit_page(st, 3, "conn", puts, 2, 17, "conn", "{\"w\":1}", err, sizeof(err)), LS_OK);
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    const uint8_t *p;
    size_t n;
    CU_ASSERT_EQUAL(ls_store_reader_get(r, 3, "conn", "a1", &p, &n), LS_OK);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_EQUAL(memcmp(p, v1, 3), 0);
    CU_ASSERT_EQUAL(ls_store_reader_get(r, 4, "conn", "a1", &p, &n), LS_ENOTFOUND); /* other partition */
    CU_ASSERT_EQUAL(ls_store_reader_get(r, 3, "con", "na1", &p, &n), LS_ENOTFOUND); /* no key aliasing */
    char buf[64];
    CU_ASSERT_EQUAL(ls_store_reader_get_sync(r, 3, "conn", buf, sizeof(buf)), LS_OK);
    CU_ASSERT_STRING_EQUAL(buf, "{\"w\":1}");
    ls_store_reader_destroy(r);
    int64_t cp;
    CU_ASSERT_EQUAL(ls_store_get_checkpoint(st, 3, &cp), LS_OK);
    CU_ASSERT_EQUAL(cp, 17);
    CU_ASSERT_EQUAL(ls_store_get_checkpoint(st, 4, &cp), LS_ENOTFOUND);
    CU_ASSERT_EQUAL(ls_store_count(st, 3), 2);
    CU_ASSERT_EQUAL(ls_store_count(st, 4), 0);
    ls_store_put_t del[] = {{"a1", NULL, 0}};
    CU_ASSERT_EQUAL(ls_store_commit_page(st, 3, "conn", del, 1, -1, NULL, NULL, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_count(st, 3), 1);
    CU_ASSERT_EQUAL(ls_store_get_checkpoint(st, 3, &cp), LS_OK);
    CU_ASSERT_EQUAL(cp, 17); /* -1 leaves the checkpoint alone */
    cleanup(st);
}

static void test_map_full(void)
{
    ls_store_t *st = fresh(1);
    char err[256], id[32];
    static uint8_t big[1000];
    ls_store_put_t puts[100];
    int rc = LS_OK;
    for (int page = 0; page < 100 && rc == LS_OK; page++) {
        for (int i = 0; i < 100; i++) {
            snprintf(id, sizeof(id), "p%d-%d", page, i);
            puts[i].activity_id = strdup(id);
            puts[i].state = big;
            puts[i].len = sizeof(big);
        }
        rc = ls_store_commit_page(st, 0, "conn", puts, 100, page, NULL, NULL, err, sizeof(err));
        for (int i = 0; i < 100; i++)
            free((void *)puts[i].activity_id);
    }
    CU_ASSERT_EQUAL(rc, LS_EFULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "partition 0"));
    /* a failed page leaves nothing of itself: count is a multiple of the page size */
    CU_ASSERT_EQUAL(ls_store_count(st, 0) % 100, 0);
    cleanup(st);
}

/* foreach collects "id=len" strings, and can stop early. */
typedef struct walk {
    char seen[8][32];
    int n, stop_after;
} walk_t;

static int walk_cb(const char *id, const uint8_t *state, size_t len, void *ud)
{
    walk_t *w = ud;
    (void)state;
    if (w->n < 8)
        snprintf(w->seen[w->n], sizeof(w->seen[0]), "%s=%zu", id, len);
    w->n++;
    return w->stop_after && w->n >= w->stop_after ? 42 : 0;
}

static void test_foreach(void)
{
    ls_store_t *st = fresh(8);
    char err[256];
    const uint8_t v[] = {1, 2, 3, 4};
    ls_store_put_t a[] = {{"b", v, 2}, {"a", v, 1}, {"c", v, 3}};
    ls_store_put_t b[] = {{"x", v, 4}};
    CU_ASSERT_EQUAL(ls_store_commit_page(st, 1, "conn", a, 3, -1, NULL, NULL, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_commit_page(st, 1, "conn2", b, 1, -1, NULL, NULL, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_commit_page(st, 2, "conn", b, 1, -1, NULL, NULL, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_commit_page(st, 0, "conn", b, 1, -1, NULL, NULL, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_commit_page(st, 1, "con", b, 1, -1, NULL, NULL, err, sizeof(err)), LS_OK);
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    walk_t w = {0};
    CU_ASSERT_EQUAL(ls_store_reader_foreach(r, 1, "conn", walk_cb, &w), LS_OK);
    CU_ASSERT_EQUAL(w.n, 3); /* not conn2, con, nor partitions 0 and 2 */
    CU_ASSERT_STRING_EQUAL(w.seen[0], "a=1");
    CU_ASSERT_STRING_EQUAL(w.seen[1], "b=2");
    CU_ASSERT_STRING_EQUAL(w.seen[2], "c=3");
    memset(&w, 0, sizeof(w));
    CU_ASSERT_EQUAL(ls_store_reader_foreach(r, 1, "conn2", walk_cb, &w), LS_OK);
    CU_ASSERT_EQUAL(w.n, 1);
    CU_ASSERT_STRING_EQUAL(w.seen[0], "x=4");
    memset(&w, 0, sizeof(w));
    CU_ASSERT_EQUAL(ls_store_reader_foreach(r, 3, "conn", walk_cb, &w), LS_OK);
    CU_ASSERT_EQUAL(w.n, 0);
    CU_ASSERT_EQUAL(ls_store_reader_foreach(r, 1, "nobody", walk_cb, &w), LS_OK);
    CU_ASSERT_EQUAL(w.n, 0);
    w.stop_after = 2;
    CU_ASSERT_EQUAL(ls_store_reader_foreach(r, 1, "conn", walk_cb, &w), 42);
    CU_ASSERT_EQUAL(w.n, 2);
    ls_store_reader_destroy(r);
    cleanup(st);
}

static void test_pending(void)
{
    ls_store_t *st = fresh(8);
    char err[256], buf[64];
    const uint8_t v[] = {7};
    int m = -1;
    ls_store_put_t a[] = {{"a", v, 1}, {"b", v, 1}};
    ls_store_mark_t set[] = {{"a", 1}, {"b", 2}};
    CU_ASSERT_EQUAL(ls_store_commit(st, 1, "conn", a, 2, set, 2, 5, "conn", "{\"last_full_count\":2}",
                                    err, sizeof(err)), LS_OK);
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    CU_ASSERT_EQUAL(ls_store_reader_get_pending(r, 1, "conn", "a", &m), LS_OK);
    CU_ASSERT_EQUAL(m, 1);
    CU_ASSERT_EQUAL(ls_store_reader_get_pending(r, 1, "conn", "b", &m), LS_OK);
    CU_ASSERT_EQUAL(m, 2);
    CU_ASSERT_EQUAL(ls_store_reader_get_pending(r, 1, "conn2", "a", &m), LS_ENOTFOUND);
    CU_ASSERT_EQUAL(m, 0);
    CU_ASSERT_EQUAL(ls_store_reader_get_pending(r, 2, "conn", "a", &m), LS_ENOTFOUND);
    CU_ASSERT_EQUAL(ls_store_reader_get_sync(r, 1, "conn", buf, sizeof(buf)), LS_OK);
    CU_ASSERT_STRING_EQUAL(buf, "{\"last_full_count\":2}");
    ls_store_reader_destroy(r);
    /* removal: state and marker of b go together with the checkpoint; a's marker is cleared */
    ls_store_put_t del[] = {{"b", NULL, 0}};
    ls_store_mark_t clr[] = {{"a", 0}, {"b", 0}};
    CU_ASSERT_EQUAL(ls_store_commit(st, 1, "conn", del, 1, clr, 2, 9, NULL, NULL, err, sizeof(err)), LS_OK);
    r = ls_store_reader_new(st, err, sizeof(err));
    const uint8_t *p;
    size_t n;
    CU_ASSERT_EQUAL(ls_store_reader_get_pending(r, 1, "conn", "a", &m), LS_ENOTFOUND);
    CU_ASSERT_EQUAL(ls_store_reader_get_pending(r, 1, "conn", "b", &m), LS_ENOTFOUND);
    CU_ASSERT_EQUAL(ls_store_reader_get(r, 1, "conn", "a", &p, &n), LS_OK);
    CU_ASSERT_EQUAL(ls_store_reader_get(r, 1, "conn", "b", &p, &n), LS_ENOTFOUND);
    ls_store_reader_destroy(r);
    int64_t cp;
    CU_ASSERT_EQUAL(ls_store_get_checkpoint(st, 1, &cp), LS_OK);
    CU_ASSERT_EQUAL(cp, 9);
    /* clearing a marker that does not exist is fine; a failing commit writes no marker */
    CU_ASSERT_EQUAL(ls_store_commit(st, 1, "conn", NULL, 0, clr, 1, -1, NULL, NULL, err, sizeof(err)), LS_OK);
    char longid[600];
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    ls_store_mark_t bad[] = {{"c", 1}, {longid, 1}};
    CU_ASSERT_EQUAL(ls_store_commit(st, 1, "conn", NULL, 0, bad, 2, -1, NULL, NULL, err, sizeof(err)), LS_EINVAL);
    r = ls_store_reader_new(st, err, sizeof(err));
    CU_ASSERT_EQUAL(ls_store_reader_get_pending(r, 1, "conn", "c", &m), LS_ENOTFOUND);
    ls_store_reader_destroy(r);
    cleanup(st);
}

static void test_bad_path(void)
{
    char err[256];
    ls_store_t *st = ls_store_new("/proc/no/such/dir", 8, err, sizeof(err));
    CU_ASSERT_PTR_NULL(st);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "worker.lmdb_path"));
}

static CU_TestInfo tests[] = {
    {"put, get, partitions, checkpoints", test_put_get},
    {"map full fails the page atomically", test_map_full},
    {"unusable path", test_bad_path},
    {"foreach walks one partition and connection", test_foreach},
    {"pending-removal markers", test_pending},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {{"store", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};
LS_TEST_MAIN(suites)
