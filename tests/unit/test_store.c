/*
 * Unit tests of ls_store (LMDB): partition-prefixed keys, atomic page commits,
 * map full, deferred sync and its reboot guard (the "unsynced" marker),
 * connection numbers and the key format check. Raw LMDB reads the store's
 * files here (only while the store is closed: one environment per process).
 */
#include "ls_err.h"
#include "ls_rollup.h"
#include "ls_state.h"
#include "ls_store.h"
#include "ls_test.h"

#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* ---- deferred sync and the reboot guard ---- */

static char marker[96];

/* An empty store directory at dir; nothing opened. */
static void fresh_dir(void)
{
    char cmd[128];
    snprintf(dir, sizeof(dir), "/tmp/ls-store-test-%ld", (long)getpid());
    snprintf(marker, sizeof(marker), "%s/p-001/unsynced", dir);   /* partition 1's environment */
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CU_ASSERT(system(cmd) == 0);
}

static ls_store_t *open_store(int deferred)
{
    char err[256];
    ls_store_t *st = ls_store_open(dir, 8, deferred, err, sizeof(err));
    if (!st)
        fprintf(stderr, "open failed: %s\n", err);
    return st;
}

static int marker_exists(void)
{
    return access(marker, F_OK) == 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    CU_ASSERT(fclose(f) == 0);
}

/* "<boot id>\n" of this boot. */
static void this_boot(char *buf, size_t sz)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_PTR_NOT_NULL(fgets(buf, (int)sz, f));
    fclose(f);
    CU_ASSERT_EQUAL(strlen(buf), 37);
}

/* Commit n activities "a0".."a<n-1>" of partition p with checkpoint cp. */
static int put_n(ls_store_t *st, int p, int n, int64_t cp)
{
    char err[256], ids[16][8];
    const uint8_t v[] = {1, 2, 3};
    ls_store_put_t puts[16];
    for (int i = 0; i < n && i < 16; i++) {
        snprintf(ids[i], sizeof(ids[i]), "a%d", i);
        puts[i] = (ls_store_put_t){ids[i], v, sizeof(v)};
    }
    return ls_store_commit_page(st, p, "conn", puts, (size_t)n, cp, NULL, NULL, err, sizeof(err));
}

/* Run open_store(deferred) with stderr captured into log (the ls_log lines). */
static ls_store_t *open_logged(int deferred, char *log, size_t logsz)
{
    char path[128];
    snprintf(path, sizeof(path), "%s.log", dir);
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    ls_store_t *st = open_store(deferred);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, log, logsz - 1, 0);
    log[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return st;
}

static void test_deferred_marker(void)
{
    fresh_dir();
    char err[256], boot[64], buf[64];
    ls_store_t *st = open_store(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(ls_store_is_deferred(st), 1);
    CU_ASSERT_EQUAL(ls_store_was_discarded(st), 0);
    CU_ASSERT_FALSE(marker_exists());                /* opening writes nothing unsynced */
    CU_ASSERT_EQUAL(put_n(st, 1, 3, 10), LS_OK);
    CU_ASSERT_TRUE(marker_exists());
    this_boot(boot, sizeof(boot));
    FILE *f = fopen(marker, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_PTR_NOT_NULL(fgets(buf, sizeof(buf), f));
    fclose(f);
    CU_ASSERT_STRING_EQUAL(buf, boot);
    CU_ASSERT_EQUAL(ls_store_sync(st, err, sizeof(err)), LS_OK);
    CU_ASSERT_FALSE(marker_exists());
    CU_ASSERT_EQUAL(ls_store_sync(st, err, sizeof(err)), LS_OK);   /* clean: a no-op */
    CU_ASSERT_EQUAL(put_n(st, 1, 4, 11), LS_OK);
    CU_ASSERT_TRUE(marker_exists());
    /* the restore's writes and the wipe are guarded too */
    CU_ASSERT_EQUAL(ls_store_sync(st, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_apply_changelog(st, 1, NULL, 0, 5, err, sizeof(err)), LS_OK);
    CU_ASSERT_TRUE(marker_exists());
    CU_ASSERT_EQUAL(ls_store_sync(st, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_wipe_partition(st, 2, err, sizeof(err)), LS_OK);
    CU_ASSERT_FALSE(marker_exists());   /* each partition's environment has its own marker */
    snprintf(marker, sizeof(marker), "%s/p-002/unsynced", dir);
    CU_ASSERT_TRUE(marker_exists());
    CU_ASSERT_EQUAL(ls_store_sync(st, err, sizeof(err)), LS_OK);   /* syncs every open environment */
    CU_ASSERT_FALSE(marker_exists());
    CU_ASSERT_EQUAL(ls_store_wipe_partition(st, 2, err, sizeof(err)), LS_OK);
    snprintf(marker, sizeof(marker), "%s/p-001/unsynced", dir);
    ls_store_destroy(st);
    CU_ASSERT_FALSE(marker_exists());
    CU_ASSERT_EQUAL(access(marker, F_OK), -1);
    st = open_store(1);   /* a clean close keeps the data */
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(ls_store_was_discarded(st), 0);
    CU_ASSERT_EQUAL(ls_store_count(st, 1), 4);
    cleanup(st);
}

static void test_durable_no_marker(void)
{
    fresh_dir();
    char err[256];
    ls_store_t *st = open_store(0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(ls_store_is_deferred(st), 0);
    CU_ASSERT_EQUAL(put_n(st, 1, 3, 10), LS_OK);
    CU_ASSERT_EQUAL(ls_store_apply_changelog(st, 2, NULL, 0, 5, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_wipe_partition(st, 1, err, sizeof(err)), LS_OK);
    CU_ASSERT_FALSE(marker_exists());
    CU_ASSERT_EQUAL(ls_store_sync(st, err, sizeof(err)), LS_OK);
    ls_store_destroy(st);
    CU_ASSERT_FALSE(marker_exists());
    st = ls_store_new(dir, 8, err, sizeof(err));   /* the old name is the durable mode */
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(ls_store_is_deferred(st), 0);
    CU_ASSERT_EQUAL(put_n(st, 1, 2, 11), LS_OK);
    CU_ASSERT_FALSE(marker_exists());
    cleanup(st);
}

/* Store 3 activities of partition 1 (checkpoint 10), close cleanly, then put text in the marker. */
static void closed_store_with_marker(const char *text)
{
    fresh_dir();
    ls_store_t *st = open_store(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(put_n(st, 1, 3, 10), LS_OK);
    ls_store_destroy(st);
    CU_ASSERT_FALSE(marker_exists());
    write_file(marker, text);
}

static void assert_discarded(int deferred)
{
    char log[2048];
    int64_t cp;
    ls_store_t *st = open_logged(deferred, log, sizeof(log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(ls_store_was_discarded(st), 1);
    CU_ASSERT_EQUAL(ls_store_count(st, 1), 0);
    CU_ASSERT_EQUAL(ls_store_get_checkpoint(st, 1, &cp), LS_ENOTFOUND);   /* so the restore starts over */
    CU_ASSERT_FALSE(marker_exists());
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "discarded"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "partition 1 will be restored from the changelog"));
    CU_ASSERT_EQUAL(put_n(st, 1, 1, 12), LS_OK);   /* and it is usable */
    CU_ASSERT_EQUAL(ls_store_count(st, 1), 1);
    cleanup(st);
}

static void test_foreign_boot_discards(void)
{
    char boot[64], log[2048];
    this_boot(boot, sizeof(boot));
    boot[0] = boot[0] == '0' ? '1' : '0';   /* another boot's id */
    closed_store_with_marker(boot);
    assert_discarded(1);
    closed_store_with_marker(boot);
    assert_discarded(0);   /* the guard runs in durable mode too */
    closed_store_with_marker(boot);
    ls_store_t *st = open_logged(1, log, sizeof(log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "unsynced writes before a reboot"));
    cleanup(st);
}

static void test_garbled_marker_discards(void)
{
    closed_store_with_marker("not a boot id\n");
    assert_discarded(1);
    closed_store_with_marker("");
    assert_discarded(1);
    char boot[64];
    this_boot(boot, sizeof(boot));
    boot[36] = '\0';   /* this boot's id, but without its newline */
    closed_store_with_marker(boot);
    assert_discarded(1);
}

static void test_same_boot_keeps(void)
{
    char boot[64];
    this_boot(boot, sizeof(boot));
    closed_store_with_marker(boot);
    ls_store_t *st = open_store(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(ls_store_was_discarded(st), 0);
    CU_ASSERT_EQUAL(ls_store_count(st, 1), 3);
    CU_ASSERT_TRUE(marker_exists());   /* still unsynced until the next sync */
    ls_store_destroy(st);
    CU_ASSERT_FALSE(marker_exists());
}

/* A real process crash: a child commits without sync and _exits; its commits survive. */
static void test_process_crash_keeps(void)
{
    fresh_dir();
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        ls_store_t *st = open_store(1);
        _exit(st && put_n(st, 1, 5, 10) == LS_OK ? 0 : 1);   /* no destroy, no sync */
    }
    int status;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CU_ASSERT_TRUE(marker_exists());
    ls_store_t *st = open_store(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(ls_store_was_discarded(st), 0);
    CU_ASSERT_EQUAL(ls_store_count(st, 1), 5);
    int64_t cp;
    CU_ASSERT_EQUAL(ls_store_get_checkpoint(st, 1, &cp), LS_OK);
    CU_ASSERT_EQUAL(cp, 10);
    CU_ASSERT_TRUE(marker_exists());
    cleanup(st);
    CU_ASSERT_FALSE(marker_exists());
}

static void test_no_boot_id(void)
{
    char boot[64], log[2048];
    fresh_dir();
    ls_store_set_boot_id_path_for_test("/nonexistent/boot_id");
    ls_store_t *st = open_logged(1, log, sizeof(log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(ls_store_is_deferred(st), 0);   /* falls back to durable commits */
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "every commit is synced to disk instead"));
    CU_ASSERT_EQUAL(put_n(st, 1, 3, 10), LS_OK);
    CU_ASSERT_FALSE(marker_exists());
    ls_store_destroy(st);
    /* a marker, even of this boot, cannot be trusted without the boot id */
    this_boot(boot, sizeof(boot));
    write_file(marker, boot);
    st = open_logged(1, log, sizeof(log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(ls_store_was_discarded(st), 1);
    CU_ASSERT_EQUAL(ls_store_count(st, 1), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "partition 1 will be restored from the changelog"));
    cleanup(st);
    ls_store_set_boot_id_path_for_test(NULL);
}

/* Blocking one-byte messages between the two processes of the next test. */
static void say(int fd, char c)
{
    CU_ASSERT(write(fd, &c, 1) == 1);
}

static char hear(int fd)
{
    char c = 0;
    return read(fd, &c, 1) == 1 ? c : 0;
}

/*
 * Two processes share one environment (as the worker processes of a pod do):
 * a sync in one must never leave the other's later commit without marker.
 */
static void test_marker_across_processes(void)
{
    fresh_dir();
    int to_child[2], to_parent[2];
    CU_ASSERT_FATAL(pipe(to_child) == 0 && pipe(to_parent) == 0);
    pid_t pid = fork();   /* fork first, then open */
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        ls_store_t *st = open_store(1);
        int ok = st && put_n(st, 2, 1, 1) == LS_OK;             /* the marker is written */
        say(to_parent[1], ok ? 'a' : 'x');
        ok = ok && hear(to_child[0]) == 'b' && put_n(st, 2, 2, 2) == LS_OK;   /* after the parent's sync */
        say(to_parent[1], ok ? 'c' : 'x');
        ok = ok && hear(to_child[0]) == 'd';
        ls_store_destroy(st);
        _exit(ok ? 0 : 1);
    }
    char err[256];
    CU_ASSERT_EQUAL(hear(to_parent[0]), 'a');
    snprintf(marker, sizeof(marker), "%s/p-002/unsynced", dir);   /* the partition both write */
    ls_store_t *st = open_store(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_TRUE(marker_exists());
    CU_ASSERT_EQUAL(put_n(st, 2, 1, 1), LS_OK);                  /* dirty here too */
    CU_ASSERT_EQUAL(ls_store_sync(st, err, sizeof(err)), LS_OK);  /* flushes both processes' commits */
    CU_ASSERT_FALSE(marker_exists());
    say(to_child[1], 'b');
    CU_ASSERT_EQUAL(hear(to_parent[0]), 'c');
    CU_ASSERT_TRUE(marker_exists());   /* the child's second commit wrote it again */
    CU_ASSERT_EQUAL(ls_store_count(st, 2), 2);
    say(to_child[1], 'd');
    int status;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CU_ASSERT_FALSE(marker_exists());   /* the child's close synced */
    close(to_child[0]);
    close(to_child[1]);
    close(to_parent[0]);
    close(to_parent[1]);
    cleanup(st);
}

static long rss_file_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[128];
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "RssFile: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static int count_cb(const char *id, const uint8_t *state, size_t len, void *ud)
{
    (void)id;
    *(long *)ud += state[0] + (long)len; /* read the value: its page is mapped */
    return 0;
}

/* Trimming the map drops its pages from the process (RssFile falls) and loses nothing. */
typedef struct timing {
    int calls;
    double wait_s, held_s, commit_s;
} timing_t;

static void on_write(double wait_s, double held_s, double commit_s, void *ud)
{
    timing_t *t = ud;
    t->calls++;
    t->wait_s = wait_s;
    t->held_s = held_s;
    t->commit_s = commit_s;
}

/* The write-timing callback: once per write transaction; the usage sums the partitions' environments. */
static void test_write_timing_and_usage(void)
{
    ls_store_t *st = fresh(8);
    char err[256], longid[600];
    timing_t t = {0};
    ls_store_set_write_timing(st, on_write, &t);
    CU_ASSERT_EQUAL(put_n(st, 1, 3, 10), LS_OK);
    CU_ASSERT_EQUAL(t.calls, 1);
    CU_ASSERT(t.wait_s >= 0 && t.wait_s < 5);
    CU_ASSERT(t.commit_s > 0 && t.commit_s < 5);   /* a durable commit: an fsync */
    CU_ASSERT(t.held_s >= t.commit_s && t.held_s < 5);
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    ls_store_put_t bad = {longid, (const uint8_t *)"\1", 1};
    CU_ASSERT_EQUAL(ls_store_commit_page(st, 2, "conn", &bad, 1, -1, NULL, NULL, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_EQUAL(t.calls, 2);                   /* aborted: timed too, no commit */
    CU_ASSERT_EQUAL(t.commit_s, 0);
    CU_ASSERT(t.held_s > 0);
    uint64_t used, size;
    CU_ASSERT_EQUAL(ls_store_usage(st, &used, &size), LS_OK);
    CU_ASSERT_EQUAL(size, 2ull * 8 << 20);         /* partitions 1 and 2: a map of 8 MB each */
    CU_ASSERT(used >= 2 * 4 * 4096 && used < size);
    ls_store_set_write_timing(st, NULL, NULL);
    CU_ASSERT_EQUAL(put_n(st, 1, 3, 11), LS_OK);
    CU_ASSERT_EQUAL(t.calls, 2);
    cleanup(st);
}

static void test_trim_map(void)
{
    ls_store_t *st = fresh(256);
    char err[256], id[32];
    static uint8_t val[120];
    ls_store_put_t puts[500];
    char ids[500][32];
    for (int page = 0; page < 100; page++) {
        for (int i = 0; i < 500; i++) {
            snprintf(ids[i], sizeof(ids[i]), "act-%06d", page * 500 + i);
            val[0] = (uint8_t)i;
            puts[i] = (ls_store_put_t){ids[i], val, sizeof(val)};
        }
        /* two partitions: two environments, two maps, both trimmed */
        CU_ASSERT_EQUAL_FATAL(ls_store_commit_page(st, 1 + page % 2, "conn", puts, 500, -1, NULL, NULL, err,
                                                   sizeof(err)), LS_OK);
    }
    long sum = 0;
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    CU_ASSERT_EQUAL(ls_store_reader_foreach(r, 1, "conn", count_cb, &sum), LS_OK);
    CU_ASSERT_EQUAL(ls_store_reader_foreach(r, 2, "conn", count_cb, &sum), LS_OK);
    ls_store_reader_destroy(r);
    long before = rss_file_kb();
    CU_ASSERT_EQUAL(ls_store_trim_map(st), 0);                         /* default: never */
    ls_store_set_resident_max(st, (size_t)1 << 40);
    CU_ASSERT_EQUAL(ls_store_trim_map(st), 0);                         /* under the bound */
    ls_store_set_resident_max(st, 1);
    CU_ASSERT_EQUAL(ls_store_trim_map(st), 1);
    long after = rss_file_kb();
    CU_ASSERT(before > 0 && after >= 0);
    CU_ASSERT(before - after >= 4000); /* 50,000 x ~140 bytes of map pages were resident */
    /* every record still reads the same */
    long sum2 = 0;
    r = ls_store_reader_new(st, err, sizeof(err));
    CU_ASSERT_EQUAL(ls_store_reader_foreach(r, 1, "conn", count_cb, &sum2), LS_OK);
    CU_ASSERT_EQUAL(ls_store_reader_foreach(r, 2, "conn", count_cb, &sum2), LS_OK);
    snprintf(id, sizeof(id), "act-%06d", 49999);   /* page 99: partition 2 */
    const uint8_t *p;
    size_t n;
    CU_ASSERT_EQUAL(ls_store_reader_get(r, 2, "conn", id, &p, &n), LS_OK);
    CU_ASSERT_EQUAL(n, sizeof(val));
    ls_store_reader_destroy(r);
    CU_ASSERT_EQUAL(sum, sum2);
    CU_ASSERT_EQUAL(ls_store_count(st, 1) + ls_store_count(st, 2), 50000);
    cleanup(st);
}

/* ---- connection numbers and the key format ---- */

static int raw_part = 1;   /* the partition whose environment raw_begin() opens; -1 = the root (an older build's) */

/* Raw LMDB on the closed store at dir: opens env (read-only unless rw) and begins a transaction. */
static MDB_txn *raw_begin(MDB_env **env, int rw)
{
    MDB_txn *txn = NULL;
    char path[160];
    if (raw_part < 0)
        snprintf(path, sizeof(path), "%s", dir);
    else
        snprintf(path, sizeof(path), "%s/p-%03d", dir, raw_part);
    CU_ASSERT_FATAL(mdb_env_create(env) == 0);
    CU_ASSERT_FATAL(mdb_env_set_maxdbs(*env, 16) == 0);
    CU_ASSERT_FATAL(mdb_env_open(*env, path, rw ? 0 : MDB_RDONLY, 0640) == 0);
    CU_ASSERT_FATAL(mdb_txn_begin(*env, NULL, rw ? 0 : MDB_RDONLY, &txn) == 0);
    return txn;
}

/* The number of conn in conns ("" = the counter), 0 when absent; *entries = conns' entries. */
static uint32_t raw_num(const char *conn, size_t *entries)
{
    MDB_env *env;
    MDB_txn *txn = raw_begin(&env, 0);
    MDB_dbi dbi;
    MDB_stat ms;
    uint32_t num = 0;
    CU_ASSERT_FATAL(mdb_dbi_open(txn, "conns", 0, &dbi) == 0);
    MDB_val k = {*conn ? strlen(conn) : 1, *conn ? (void *)conn : "\0"}, v;
    if (mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == 4) {
        const uint8_t *b = v.mv_data;
        num = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    }
    CU_ASSERT(mdb_stat(txn, dbi, &ms) == 0);
    if (entries)
        *entries = ms.ms_entries;
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return num;
}

/* LMDB's last committed transaction id of the closed store. */
static size_t raw_last_txn(void)
{
    MDB_env *env;
    MDB_envinfo info;
    MDB_txn *txn = raw_begin(&env, 0);
    mdb_txn_abort(txn);
    CU_ASSERT(mdb_env_info(env, &info) == 0);
    mdb_env_close(env);
    return info.me_last_txnid;
}

static int put1(ls_store_t *st, int p, const char *conn, const char *act, uint8_t val)
{
    char err[256];
    ls_store_put_t put = {act, &val, 1};
    return ls_store_commit_page(st, p, conn, &put, 1, -1, NULL, NULL, err, sizeof(err));
}

/* The 1-byte state of (p, conn, act), -1 when none. */
static int get1(ls_store_t *st, int p, const char *conn, const char *act)
{
    char err[256];
    const uint8_t *v;
    size_t n;
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    int rc = ls_store_reader_get(r, p, conn, act, &v, &n), out = rc == LS_OK && n == 1 ? v[0] : -1;
    CU_ASSERT(rc == LS_OK || rc == LS_ENOTFOUND);
    ls_store_reader_destroy(r);
    return out;
}

/* Records foreach finds for (p, conn). */
static int walk_n(ls_store_t *st, int p, const char *conn, walk_t *w)
{
    char err[256];
    memset(w, 0, sizeof(*w));
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(ls_store_reader_foreach(r, p, conn, walk_cb, w), LS_OK);
    ls_store_reader_destroy(r);
    return w->n;
}

static void test_numbers_stable(void)
{
    ls_store_t *st = fresh(8);
    char err[256];
    CU_ASSERT_EQUAL(put1(st, 1, "conn-a", "x", 1), LS_OK);
    CU_ASSERT_EQUAL(put1(st, 2, "conn-b", "x", 2), LS_OK);
    CU_ASSERT_EQUAL(put1(st, 3, "conn-a", "y", 3), LS_OK);   /* other partition: its own numbers */
    ls_store_destroy(st);
    size_t entries;
    CU_ASSERT_EQUAL(raw_num("conn-a", &entries), 1);
    CU_ASSERT_EQUAL(raw_num("", NULL), 1);   /* the counter */
    CU_ASSERT_EQUAL(entries, 2);
    raw_part = 2;
    CU_ASSERT_EQUAL(raw_num("conn-b", NULL), 1);
    CU_ASSERT_EQUAL(raw_num("conn-a", NULL), 0);
    raw_part = 3;
    CU_ASSERT_EQUAL(raw_num("conn-a", NULL), 1);
    raw_part = 1;
    st = ls_store_new(dir, 8, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(ls_store_was_discarded(st), 0);
    CU_ASSERT_EQUAL(get1(st, 1, "conn-a", "x"), 1);
    CU_ASSERT_EQUAL(get1(st, 2, "conn-b", "x"), 2);
    CU_ASSERT_EQUAL(get1(st, 3, "conn-a", "y"), 3);
    CU_ASSERT_EQUAL(put1(st, 1, "conn-c", "x", 4), LS_OK);
    CU_ASSERT_EQUAL(put1(st, 1, "conn-a", "z", 5), LS_OK);
    ls_store_rec_t rec = {"conn-d", "x", (const uint8_t *)"\6", 1};
    CU_ASSERT_EQUAL(ls_store_apply_changelog(st, 1, &rec, 1, 7, err, sizeof(err)), LS_OK);
    ls_store_destroy(st);
    CU_ASSERT_EQUAL(raw_num("conn-a", NULL), 1);
    CU_ASSERT_EQUAL(raw_num("conn-c", NULL), 2);
    CU_ASSERT_EQUAL(raw_num("conn-d", NULL), 3);
    CU_ASSERT_EQUAL(raw_num("", &entries), 3);
    CU_ASSERT_EQUAL(entries, 4);
    st = ls_store_new(dir, 8, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(get1(st, 1, "conn-d", "x"), 6);
    cleanup(st);
}

static void test_numbers_no_alias(void)
{
    ls_store_t *st = fresh(8);
    char err[256];
    walk_t w;
    int m = -1;
    /* "c" + "1x" and "c1" + "x" were told apart by the 0x00 separator; now by the numbers */
    const uint8_t v1 = 1, v2 = 2, v3 = 3;
    ls_store_put_t pa[] = {{"1x", &v1, 1}}, pb[] = {{"x", &v2, 1}}, pc[] = {{"", &v3, 1}, {"1x", &v3, 1}};
    ls_store_mark_t ma[] = {{"1x", 2}};
    CU_ASSERT_EQUAL(ls_store_commit(st, 1, "c", pa, 1, ma, 1, -1, NULL, NULL, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_commit(st, 1, "c1", pb, 1, NULL, 0, -1, NULL, NULL, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_commit(st, 1, "c1x", pc + 1, 1, NULL, 0, -1, NULL, NULL, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(get1(st, 1, "c", "1x"), 1);
    CU_ASSERT_EQUAL(get1(st, 1, "c1", "x"), 2);
    CU_ASSERT_EQUAL(get1(st, 1, "c1x", "1x"), 3);
    CU_ASSERT_EQUAL(get1(st, 1, "c", "x"), -1);
    CU_ASSERT_EQUAL(get1(st, 1, "c1", "1x"), -1);
    CU_ASSERT_EQUAL(get1(st, 1, "c1x", "x"), -1);
    CU_ASSERT_EQUAL(walk_n(st, 1, "c", &w), 1);
    CU_ASSERT_STRING_EQUAL(w.seen[0], "1x=1");
    CU_ASSERT_EQUAL(walk_n(st, 1, "c1", &w), 1);
    CU_ASSERT_STRING_EQUAL(w.seen[0], "x=1");
    CU_ASSERT_EQUAL(walk_n(st, 1, "c1x", &w), 1);
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    CU_ASSERT_EQUAL(ls_store_reader_get_pending(r, 1, "c", "1x", &m), LS_OK);
    CU_ASSERT_EQUAL(m, 2);
    CU_ASSERT_EQUAL(ls_store_reader_get_pending(r, 1, "c1x", "1x", &m), LS_ENOTFOUND);
    CU_ASSERT_EQUAL(ls_store_reader_get_pending(r, 1, "c1", "x", &m), LS_ENOTFOUND);
    ls_store_reader_destroy(r);
    /* the empty connection id cannot have a number: a write is refused, a read finds nothing */
    CU_ASSERT_EQUAL(ls_store_commit(st, 1, "", pc, 1, NULL, 0, -1, NULL, NULL, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_EQUAL(get1(st, 1, "", "x"), -1);
    ls_store_destroy(st);
    CU_ASSERT_EQUAL(raw_num("c", NULL), 1);
    CU_ASSERT_EQUAL(raw_num("c1", NULL), 2);
    CU_ASSERT_EQUAL(raw_num("c1x", NULL), 3);
    st = ls_store_new(dir, 8, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    cleanup(st);
}

/* A number given out by a transaction that then failed goes to the next connection, not to both. */
static void test_numbers_failed_commit(void)
{
    ls_store_t *st = fresh(8);
    char err[256], longid[600];
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    const uint8_t v = 9;
    ls_store_put_t bad[] = {{"x1", &v, 1}, {longid, &v, 1}};
    CU_ASSERT_EQUAL(ls_store_commit_page(st, 1, "conn-x", bad, 2, -1, NULL, NULL, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_EQUAL(put1(st, 1, "conn-y", "y1", 1), LS_OK);   /* gets the number conn-x lost */
    CU_ASSERT_EQUAL(put1(st, 1, "conn-x", "x1", 2), LS_OK);
    ls_store_rec_t recs[] = {{"conn-z", "z1", &v, 1}, {"conn-z", longid, &v, 1}};
    CU_ASSERT_EQUAL(ls_store_apply_changelog(st, 1, recs, 2, -1, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_EQUAL(put1(st, 1, "conn-w", "w1", 3), LS_OK);
    CU_ASSERT_EQUAL(put1(st, 1, "conn-z", "z1", 4), LS_OK);
    walk_t w;
    CU_ASSERT_EQUAL(walk_n(st, 1, "conn-y", &w), 1);
    CU_ASSERT_STRING_EQUAL(w.seen[0], "y1=1");
    CU_ASSERT_EQUAL(walk_n(st, 1, "conn-x", &w), 1);
    CU_ASSERT_STRING_EQUAL(w.seen[0], "x1=1");
    CU_ASSERT_EQUAL(walk_n(st, 1, "conn-w", &w), 1);
    CU_ASSERT_EQUAL(walk_n(st, 1, "conn-z", &w), 1);
    CU_ASSERT_EQUAL(get1(st, 1, "conn-y", "x1"), -1);
    CU_ASSERT_EQUAL(get1(st, 1, "conn-w", "z1"), -1);
    ls_store_destroy(st);
    CU_ASSERT_EQUAL(raw_num("conn-y", NULL), 1);
    CU_ASSERT_EQUAL(raw_num("conn-x", NULL), 2);
    CU_ASSERT_EQUAL(raw_num("conn-w", NULL), 3);
    CU_ASSERT_EQUAL(raw_num("conn-z", NULL), 4);
    st = ls_store_new(dir, 8, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    cleanup(st);
}

/* Reads of a connection without number find nothing and write nothing; so do its deletes. */
static void test_numbers_unknown_read(void)
{
    ls_store_t *st = fresh(8);
    char err[256];
    CU_ASSERT_EQUAL(put1(st, 1, "known", "a", 1), LS_OK);
    ls_store_destroy(st);
    size_t before = raw_last_txn();
    st = ls_store_new(dir, 8, err, sizeof(err));   /* an open of a current store writes nothing either */
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    const uint8_t *p = NULL;
    size_t n = 0;
    int m = -1;
    walk_t w = {0};
    CU_ASSERT_EQUAL(ls_store_reader_get(r, 1, "ghost", "a", &p, &n), LS_ENOTFOUND);
    CU_ASSERT_EQUAL(ls_store_reader_get_pending(r, 1, "ghost", "a", &m), LS_ENOTFOUND);
    CU_ASSERT_EQUAL(m, 0);
    CU_ASSERT_EQUAL(ls_store_reader_foreach(r, 1, "ghost", walk_cb, &w), LS_OK);
    CU_ASSERT_EQUAL(w.n, 0);
    CU_ASSERT_EQUAL(ls_store_reader_get(r, 1, "known", "a", &p, &n), LS_OK);
    ls_store_reader_destroy(r);
    ls_store_destroy(st);
    CU_ASSERT_EQUAL(raw_last_txn(), before);
    st = ls_store_new(dir, 8, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    /* deletes need no number: state, marker and tombstone of ghost commit, and give none out */
    ls_store_put_t del = {"a", NULL, 0};
    ls_store_mark_t clr = {"a", 0};
    ls_store_rec_t tomb = {"ghost", "a", NULL, 0};
    CU_ASSERT_EQUAL(ls_store_commit(st, 1, "ghost", &del, 1, &clr, 1, 5, NULL, NULL, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_apply_changelog(st, 1, &tomb, 1, 6, err, sizeof(err)), LS_OK);
    ls_store_destroy(st);
    size_t entries;
    CU_ASSERT_EQUAL(raw_num("ghost", &entries), 0);
    CU_ASSERT_EQUAL(entries, 2);   /* "known" and the counter */
    st = ls_store_new(dir, 8, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    int64_t cp;
    CU_ASSERT_EQUAL(ls_store_get_checkpoint(st, 1, &cp), LS_OK);
    CU_ASSERT_EQUAL(cp, 6);
    cleanup(st);
}

static void test_numbers_survive_wipe(void)
{
    ls_store_t *st = fresh(8);
    char err[256];
    CU_ASSERT_EQUAL(put1(st, 1, "conn-a", "x", 1), LS_OK);
    CU_ASSERT_EQUAL(put1(st, 2, "conn-b", "x", 2), LS_OK);
    CU_ASSERT_EQUAL(ls_store_wipe_partition(st, 1, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(get1(st, 1, "conn-a", "x"), -1);
    CU_ASSERT_EQUAL(get1(st, 2, "conn-b", "x"), 2);
    CU_ASSERT_EQUAL(put1(st, 1, "conn-c", "x", 3), LS_OK);
    CU_ASSERT_EQUAL(put1(st, 1, "conn-a", "x", 4), LS_OK);
    ls_store_destroy(st);
    CU_ASSERT_EQUAL(raw_num("conn-a", NULL), 1);
    CU_ASSERT_EQUAL(raw_num("conn-c", NULL), 2);
    CU_ASSERT_EQUAL(raw_num("", NULL), 2);
    raw_part = 2;
    CU_ASSERT_EQUAL(raw_num("conn-b", NULL), 1);
    raw_part = 1;
    st = ls_store_new(dir, 8, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(get1(st, 1, "conn-a", "x"), 4);
    CU_ASSERT_EQUAL(get1(st, 1, "conn-c", "x"), 3);
    cleanup(st);
}

/* Two processes sharing the environment (forked first, then opened) give out distinct numbers. */
static void test_numbers_across_processes(void)
{
    fresh_dir();
    int to_child[2], to_parent[2];
    CU_ASSERT_FATAL(pipe(to_child) == 0 && pipe(to_parent) == 0);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        int ok = hear(to_child[0]) == 'a';
        ls_store_t *st = ok ? open_store(1) : NULL;
        ok = st && put1(st, 1, "kid", "k", 7) == LS_OK && get1(st, 1, "par", "p") == 1;
        ls_store_destroy(st);
        say(to_parent[1], ok ? 'b' : 'x');
        _exit(ok ? 0 : 1);
    }
    ls_store_t *st = open_store(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(put1(st, 1, "par", "p", 1), LS_OK);   /* number 1, cached here */
    say(to_child[1], 'a');
    CU_ASSERT_EQUAL(hear(to_parent[0]), 'b');             /* the child gave "kid" number 2 */
    CU_ASSERT_EQUAL(put1(st, 1, "par2", "p", 2), LS_OK);  /* so this one gets 3 */
    CU_ASSERT_EQUAL(get1(st, 1, "kid", "k"), 7);
    CU_ASSERT_EQUAL(get1(st, 1, "par2", "k"), -1);
    int status;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ls_store_destroy(st);
    CU_ASSERT_EQUAL(raw_num("par", NULL), 1);
    CU_ASSERT_EQUAL(raw_num("kid", NULL), 2);
    CU_ASSERT_EQUAL(raw_num("par2", NULL), 3);
    close(to_child[0]);
    close(to_child[1]);
    close(to_parent[0]);
    close(to_parent[1]);
    st = open_store(0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    cleanup(st);
}

/* 8 connections' pages interleaved into partition 1 (half-full pages), a marker and a sync record. */
static void write_interleaved(ls_store_t *st)
{
    char err[256], ids[100][16], conn[16];
    static uint8_t val[80];
    ls_store_put_t puts[100];
    for (int page = 0; page < 20; page++)
        for (int c = 0; c < 8; c++) {
            snprintf(conn, sizeof(conn), "conn-%d", c);
            for (int i = 0; i < 100; i++) {
                snprintf(ids[i], sizeof(ids[i]), "act-%05d", page * 100 + i);
                val[0] = (uint8_t)(c + i);
                puts[i] = (ls_store_put_t){ids[i], val, sizeof(val)};
            }
            CU_ASSERT_EQUAL_FATAL(ls_store_commit_page(st, 1, conn, puts, 100, page, NULL, NULL, err, sizeof(err)),
                                  LS_OK);
        }
    ls_store_mark_t mark = {"act-00007", 2};
    CU_ASSERT_EQUAL(ls_store_commit(st, 1, "conn-3", NULL, 0, &mark, 1, 99, "conn-3", "{\"w\":1}", err,
                                    sizeof(err)), LS_OK);
}

/* Compaction keeps every record, shrinks the map, and another process's handle follows the swap. */
static void test_compact_partition(void)
{
    ls_store_t *st = fresh(64);
    char err[256], buf[64], left[160];
    uint64_t before, after;
    int64_t cp;
    int m;
    write_interleaved(st);
    CU_ASSERT_EQUAL(put1(st, 2, "other", "x", 9), LS_OK);
    int pipefd[2], opened[2];
    CU_ASSERT_FATAL(pipe(pipefd) == 0 && pipe(opened) == 0);
    pid_t pid = fork();   /* the child opened the store before the compaction: its handle goes stale */
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        char e2[256], c;
        ls_store_t *o = ls_store_open(dir, 64, 0, e2, sizeof(e2));   /* opens p-001 as it is */
        int ok = o && write(opened[1], "o", 1) == 1 && read(pipefd[0], &c, 1) == 1;   /* the parent has compacted */
        int64_t ck = -1;
        ok = ok && ls_store_get_checkpoint(o, 1, &ck) == LS_OK && ck == 99 && put1(o, 1, "conn-9", "new", 7) == LS_OK;
        ls_store_destroy(o);
        _exit(ok ? 0 : 1);
    }
    char c = 0;
    CU_ASSERT(read(opened[0], &c, 1) == 1 && c == 'o');   /* the child holds the old file open */
    int crc = ls_store_compact_partition(st, 1, &before, &after, err, sizeof(err));
    CU_ASSERT_EQUAL(crc, LS_OK);
    if (crc != LS_OK)
        fprintf(stderr, "compaction: %s\n", err);
    CU_ASSERT(after > 0 && after < before * 3 / 4);
    snprintf(left, sizeof(left), "%s/p-001.new", dir);
    CU_ASSERT_EQUAL(access(left, F_OK), -1);   /* the old environment is gone */
    CU_ASSERT(write(pipefd[1], "c", 1) == 1);
    int status;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* everything is there, and the child's write after the swap went to the new file */
    CU_ASSERT_EQUAL(ls_store_count(st, 1), 8 * 2000 + 1);
    const uint8_t *v;
    size_t vn;
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    CU_ASSERT_EQUAL(ls_store_reader_get(r, 1, "conn-5", "act-01999", &v, &vn), LS_OK);
    CU_ASSERT(vn == 80 && v[0] == 5 + 99);
    CU_ASSERT_EQUAL(get1(st, 1, "conn-9", "new"), 7);
    CU_ASSERT_EQUAL(get1(st, 2, "other", "x"), 9);
    CU_ASSERT_EQUAL(ls_store_get_checkpoint(st, 1, &cp), LS_OK);
    CU_ASSERT_EQUAL(cp, 99);
    CU_ASSERT_EQUAL(ls_store_reader_get_pending(r, 1, "conn-3", "act-00007", &m), LS_OK);
    CU_ASSERT_EQUAL(m, 2);
    CU_ASSERT_EQUAL(ls_store_reader_get_sync(r, 1, "conn-3", buf, sizeof(buf)), LS_OK);
    CU_ASSERT_STRING_EQUAL(buf, "{\"w\":1}");
    ls_store_reader_destroy(r);
    CU_ASSERT_EQUAL(put1(st, 1, "conn-10", "y", 3), LS_OK);   /* new numbers continue after the copied ones */
    CU_ASSERT_EQUAL(get1(st, 1, "conn-10", "y"), 3);
    ls_store_destroy(st);
    /* a compaction that did not finish leaves "p-001.new": deleted at the next open, the old one kept */
    CU_ASSERT_FATAL(mkdir(left, 0750) == 0);
    char torn[200];
    snprintf(torn, sizeof(torn), "%s/data.mdb", left);
    write_file(torn, "torn");
    st = ls_store_new(dir, 64, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(access(left, F_OK), -1);
    CU_ASSERT_EQUAL(ls_store_count(st, 1), 8 * 2000 + 2);
    cleanup(st);
}

/* Compaction when sparse: only past the floor and after the use doubled since the open or the last one. */
static void test_compact_if_sparse(void)
{
    ls_store_t *st = fresh(64);
    char err[256];
    uint64_t before = 0, after = 0;
    CU_ASSERT_EQUAL(ls_store_compact_if_sparse(st, 1, 0, &before, &after, err, sizeof(err)), LS_ENOTFOUND); /* not open */
    write_interleaved(st);
    CU_ASSERT_EQUAL(ls_store_compact_if_sparse(st, 1, (uint64_t)1 << 30, &before, &after, err, sizeof(err)),
                    LS_ENOTFOUND);   /* under the floor */
    CU_ASSERT_EQUAL(ls_store_compact_if_sparse(st, 1, 0, &before, &after, err, sizeof(err)), LS_OK);
    CU_ASSERT(after > 0 && after < before);
    CU_ASSERT_EQUAL(ls_store_compact_if_sparse(st, 1, 0, &before, &after, err, sizeof(err)), LS_ENOTFOUND);
    CU_ASSERT_EQUAL(ls_store_count(st, 1), 8 * 2000);
    cleanup(st);
}

/* Put key (klen bytes) = val (vlen bytes) into the named db of an open raw transaction. */
static void raw_put(MDB_txn *txn, const char *db, const void *key, size_t klen, const void *val, size_t vlen)
{
    MDB_dbi dbi;
    CU_ASSERT_FATAL(mdb_dbi_open(txn, db, MDB_CREATE, &dbi) == 0);
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    CU_ASSERT_FATAL(mdb_put(txn, dbi, &k, &v, 0) == 0);
}

/*
 * A store as a build before connection numbers wrote it: keys u16 partition |
 * connection id | 0x00 | activity id, in the environment raw_part says (the
 * root, as those builds kept it, or a partition's).
 */
static void write_old_format(int with_data)
{
    char pdir[160];
    fresh_dir();
    CU_ASSERT_FATAL(mkdir(dir, 0750) == 0);
    snprintf(pdir, sizeof(pdir), "%s/p-%03d", dir, raw_part);
    CU_ASSERT_FATAL(raw_part < 0 || mkdir(pdir, 0750) == 0);
    MDB_env *env;
    MDB_txn *txn = raw_begin(&env, 1);
    static const char key[] = "\0\1conn\0a1", cpkey[] = "\0\1", synckey[] = "\0\1conn";
    int64_t cp = 10;
    uint8_t one = 1;
    MDB_dbi dbi;
    CU_ASSERT_FATAL(mdb_dbi_open(txn, "activities", MDB_CREATE, &dbi) == 0);
    CU_ASSERT_FATAL(mdb_dbi_open(txn, "sync", MDB_CREATE, &dbi) == 0);
    CU_ASSERT_FATAL(mdb_dbi_open(txn, "checkpoints", MDB_CREATE, &dbi) == 0);
    CU_ASSERT_FATAL(mdb_dbi_open(txn, "pending", MDB_CREATE, &dbi) == 0);
    if (with_data) {
        raw_put(txn, "activities", key, sizeof(key) - 1, "\1\2\3", 3);
        raw_put(txn, "pending", key, sizeof(key) - 1, &one, 1);
        raw_put(txn, "checkpoints", cpkey, 2, &cp, sizeof(cp));
        raw_put(txn, "sync", synckey, sizeof(synckey) - 1, "{}", 2);
    }
    CU_ASSERT_FATAL(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
}

/* The old store is emptied at open, with the message, and then used in the new format. */
static void test_old_format_wiped(void)
{
    char log[2048], buf[64], err[256];
    int64_t cp;
    int m = -1;
    raw_part = -1;   /* an older build's single environment in the root */
    write_old_format(1);
    raw_part = 1;
    ls_store_t *st = open_logged(1, log, sizeof(log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(ls_store_was_discarded(st), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "removed the single environment of an older build"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "restores every partition from the changelog"));
    char root_data[160];
    snprintf(root_data, sizeof(root_data), "%s/data.mdb", dir);
    CU_ASSERT_EQUAL(access(root_data, F_OK), -1);
    CU_ASSERT_EQUAL(ls_store_count(st, 1), 0);
    CU_ASSERT_EQUAL(ls_store_get_checkpoint(st, 1, &cp), LS_ENOTFOUND);   /* so the restore wipes and replays */
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    CU_ASSERT_EQUAL(ls_store_reader_get_sync(r, 1, "conn", buf, sizeof(buf)), LS_ENOTFOUND);
    CU_ASSERT_EQUAL(ls_store_reader_get_pending(r, 1, "conn", "a1", &m), LS_ENOTFOUND);
    ls_store_reader_destroy(r);
    CU_ASSERT_FALSE(marker_exists());   /* the format wipe is durable: no marker needed */
    CU_ASSERT_EQUAL(put_n(st, 1, 2, 11), LS_OK);
    CU_ASSERT_EQUAL(put1(st, 1, "conn", "a1", 5), LS_OK);
    ls_store_destroy(st);
    st = open_logged(1, log, sizeof(log));   /* now in the current format: kept */
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(ls_store_was_discarded(st), 0);
    CU_ASSERT_PTR_NULL(strstr(log, "discarded"));
    CU_ASSERT_EQUAL(ls_store_count(st, 1), 2);
    CU_ASSERT_EQUAL(get1(st, 1, "conn", "a1"), 5);
    ls_store_destroy(st);
    /* a format this build does not know (a newer one) is emptied too */
    MDB_env *env;
    MDB_txn *txn = raw_begin(&env, 1);
    raw_put(txn, "meta", "format", 6, "\0\0\0\5", 4);
    CU_ASSERT_FATAL(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
    st = open_logged(0, log, sizeof(log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(ls_store_was_discarded(st), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "format 5"));
    CU_ASSERT_EQUAL(ls_store_count(st, 1), 0);
    ls_store_destroy(st);
    CU_ASSERT_EQUAL(raw_num("", NULL), 0);   /* conns went too */
    /* a partition's environment in an old format is emptied at open */
    write_old_format(1);
    st = open_logged(1, log, sizeof(log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(ls_store_was_discarded(st), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "format 1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "partition 1 will be restored from the changelog"));
    CU_ASSERT_EQUAL(ls_store_count(st, 1), 0);
    CU_ASSERT_EQUAL(ls_store_get_checkpoint(st, 1, &cp), LS_ENOTFOUND);
    ls_store_destroy(st);
    /* an old store without data only gets the format record */
    write_old_format(0);
    st = open_logged(0, log, sizeof(log));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(ls_store_was_discarded(st), 0);
    CU_ASSERT_PTR_NULL(strstr(log, "discarded"));
    cleanup(st);
}

/* One catalog entry item: name NULL = not reported. */
static ls_catalog_item_t cat_item(const char *id, const char *name, const char *type, int64_t at)
{
    ls_catalog_item_t it;
    memset(&it, 0, sizeof(it));
    snprintf(it.id, sizeof(it.id), "%s", id);
    it.e.has_name = name != NULL;
    snprintf(it.e.name, sizeof(it.e.name), "%s", name ? name : "");
    it.e.has_type = type != NULL;
    snprintf(it.e.type, sizeof(it.e.type), "%s", type ? type : "");
    it.e.fetched_at = at;
    return it;
}

static int cat_get(ls_store_t *st, int part, const char *conn, ls_catalog_kind_t k, const char *id, ls_catalog_entry_t *e)
{
    char err[256];
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    int rc = ls_store_catalog_get(r, part, conn, k, id, e);
    ls_store_reader_destroy(r);
    return rc;
}

static void test_catalog_put_get(void)
{
    ls_store_t *st = fresh(8);
    char err[256];
    ls_catalog_entry_t e;
    ls_catalog_item_t courses[] = {cat_item("crs-1", "Algebra I", NULL, 1000), cat_item("crs-2", NULL, NULL, 1000)};
    ls_catalog_item_t contents[] = {cat_item("crs-1", "Quiz 1", "QUIZ", 1000)};
    CU_ASSERT_EQUAL(cat_get(st, 2, "conn", LS_CATALOG_COURSE, "crs-1", &e), LS_ENOTFOUND); /* never fetched */
    CU_ASSERT_EQUAL(e.has_name, 0);
    CU_ASSERT_EQUAL(ls_store_catalog_commit(st, 2, "conn", LS_CATALOG_COURSE, courses, 2, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_catalog_commit(st, 2, "conn", LS_CATALOG_CONTENT, contents, 1, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(cat_get(st, 2, "conn", LS_CATALOG_COURSE, "crs-1", &e), LS_OK);
    CU_ASSERT_STRING_EQUAL(e.name, "Algebra I");
    CU_ASSERT_EQUAL(e.has_type, 0);
    CU_ASSERT_EQUAL(e.fetched_at, 1000);
    CU_ASSERT_EQUAL(cat_get(st, 2, "conn", LS_CATALOG_COURSE, "crs-2", &e), LS_OK); /* known, without a name */
    CU_ASSERT_EQUAL(e.has_name, 0);
    CU_ASSERT_STRING_EQUAL(e.name, "");
    /* same id, other kind, other partition, other connection: separate keys */
    CU_ASSERT_EQUAL(cat_get(st, 2, "conn", LS_CATALOG_CONTENT, "crs-1", &e), LS_OK);
    CU_ASSERT_STRING_EQUAL(e.name, "Quiz 1");
    CU_ASSERT_STRING_EQUAL(e.type, "QUIZ");
    CU_ASSERT_EQUAL(cat_get(st, 3, "conn", LS_CATALOG_COURSE, "crs-1", &e), LS_ENOTFOUND);
    CU_ASSERT_EQUAL(cat_get(st, 2, "con", LS_CATALOG_COURSE, "crs-1", &e), LS_ENOTFOUND);
    /* a refresh overwrites (a rename), with its own instant */
    ls_catalog_item_t renamed[] = {cat_item("crs-1", "Algebra I (2027)", NULL, 2000)};
    CU_ASSERT_EQUAL(ls_store_catalog_commit(st, 2, "conn", LS_CATALOG_COURSE, renamed, 1, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(cat_get(st, 2, "conn", LS_CATALOG_COURSE, "crs-1", &e), LS_OK);
    CU_ASSERT_STRING_EQUAL(e.name, "Algebra I (2027)");
    CU_ASSERT_EQUAL(e.fetched_at, 2000);
    cleanup(st);
}

static int count_entry(int partition, ls_catalog_kind_t kind, const char *id, const ls_catalog_entry_t *e, void *ud)
{
    (void)e;
    CU_ASSERT_EQUAL(partition, 1);
    CU_ASSERT(kind == LS_CATALOG_COURSE ? strcmp(id, "c/1") == 0 : strcmp(id, "x") == 0); /* an id may hold '/' */
    (*(int *)ud)++;
    return 0;
}

/* ---- rollup rows ---- */

static int count_rows(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *ud)
{
    (void)key, (void)klen, (void)val, (void)vlen;
    (*(int *)ud)++;
    return 0;
}

static int scan_count(ls_store_t *st, ls_store_ru_t db, int p, const char *conn, const uint8_t *prefix, size_t pl)
{
    char err[256];
    int n = 0;
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    CU_ASSERT_EQUAL(ls_store_reader_scan(r, db, p, conn, prefix, pl, count_rows, &n), LS_OK);
    ls_store_reader_destroy(r);
    return n;
}

/* A packed state of act in (course, student) with progress pct. */
static size_t state_of(const char *course, const char *student, double pct, uint8_t *buf)
{
    ls_activity_t a;
    ls_activity_clear(&a);
    snprintf(a.course_id, sizeof(a.course_id), "%s", course);
    snprintf(a.student_id, sizeof(a.student_id), "%s", student);
    a.pres[LS_F_COURSE_ID] = a.pres[LS_F_STUDENT_ID] = a.pres[LS_F_PROGRESS] = LS_PRESENT;
    a.progress_percentage = pct;
    size_t len = 0;
    CU_ASSERT_EQUAL(ls_state_pack(&a, buf, LS_STATE_MAX, &len), LS_OK);
    return len;
}

/* Rows commit with the states, scan by prefix, and a rebuild from the states gives the same
 * member and enrollment rows and drops the course rows; a corrupt state fails it loudly. */
static void test_rollup_rows_rebuild(void)
{
    ls_store_t *st = fresh(8);
    char err[256];
    uint8_t s1[LS_STATE_MAX], s2[LS_STATE_MAX], s3[LS_STATE_MAX];
    size_t l1 = state_of("c1", "u1", 10, s1), l2 = state_of("c1", "u1", 30, s2), l3 = state_of("c1", "u2", 50, s3);
    ls_store_put_t puts[] = {{"a1", s1, l1}, {"a2", s2, l2}, {"a3", s3, l3}};
    CU_ASSERT_EQUAL(ls_store_commit_page(st, 2, "conn", puts, 3, 5, NULL, NULL, err, sizeof(err)), LS_OK);
    uint8_t ck[LS_RU_COURSE_KEY], crow[LS_RU_COURSE_ROW_MAX];
    ls_ru_course_key("c1", ck);
    ls_ru_course_t c;
    ls_ru_course_init(&c, 14, 1);
    ls_store_row_t row = {LS_STORE_RU_COURSES, ck, sizeof(ck), crow, ls_ru_course_row_pack(&c, "c1", crow)};
    CU_ASSERT_EQUAL(ls_store_commit_rows(st, 2, "conn", NULL, 0, NULL, 0, &row, 1, -1, NULL, NULL, err,
                                         sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(scan_count(st, LS_STORE_RU_COURSES, 2, "conn", NULL, 0), 1);
    CU_ASSERT_EQUAL(scan_count(st, LS_STORE_RU_COURSES, 3, "conn", NULL, 0), 0);
    int64_t enr = 0;
    ls_store_rec_t rec = {"conn", "a3", s3, l3};   /* a restore step: the rows are stale until rebuilt */
    CU_ASSERT_EQUAL(ls_store_apply_changelog(st, 2, &rec, 1, 6, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_rollups_stale(st, 2), 1);
    CU_ASSERT_EQUAL(ls_store_rebuild_rollups(st, 2, &enr, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_rollups_stale(st, 2), 0);
    CU_ASSERT_EQUAL(enr, 2);
    CU_ASSERT_EQUAL(scan_count(st, LS_STORE_RU_COURSES, 2, "conn", NULL, 0), 0);
    CU_ASSERT_EQUAL(scan_count(st, LS_STORE_RU_MEMBERS, 2, "conn", NULL, 0), 3);
    CU_ASSERT_EQUAL(scan_count(st, LS_STORE_RU_ENROLLMENTS, 2, "conn", ck, sizeof(ck)), 2);
    uint8_t ek[LS_RU_ENR_KEY];
    ls_ru_enr_key("c1", "u1", ek);
    CU_ASSERT_EQUAL(scan_count(st, LS_STORE_RU_MEMBERS, 2, "conn", ek, sizeof(ek)), 2);
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    const uint8_t *v;
    size_t vl;
    ls_ru_enr_t e;
    char cid[LS_STR_MAX + 1], sid[LS_STR_MAX + 1];
    CU_ASSERT_EQUAL_FATAL(ls_store_reader_get_row(r, LS_STORE_RU_ENROLLMENTS, 2, "conn", ek, sizeof(ek), &v, &vl),
                          LS_OK);
    CU_ASSERT_EQUAL(ls_ru_enr_row_unpack(v, vl, &e, cid, sid), LS_OK);
    CU_ASSERT_EQUAL(e.activities, 2);
    CU_ASSERT_EQUAL(e.progress_sum, 4000);
    CU_ASSERT_STRING_EQUAL(sid, "u1");
    ls_store_reader_destroy(r);
    /* a state that does not decode: the rebuild fails, names it, and writes nothing */
    const uint8_t junk[] = {0x7f};
    ls_store_put_t bad[] = {{"zz", junk, 1}};
    CU_ASSERT_EQUAL(ls_store_commit_page(st, 2, "conn", bad, 1, -1, NULL, NULL, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_rebuild_rollups(st, 2, &enr, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "\"zz\" does not decode"));
    CU_ASSERT_EQUAL(scan_count(st, LS_STORE_RU_MEMBERS, 2, "conn", NULL, 0), 3);
    /* a partition wipe takes the rollup rows too */
    CU_ASSERT_EQUAL(ls_store_wipe_partition(st, 2, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(scan_count(st, LS_STORE_RU_MEMBERS, 2, "conn", NULL, 0), 0);
    CU_ASSERT_EQUAL(scan_count(st, LS_STORE_RU_ENROLLMENTS, 2, "conn", NULL, 0), 0);
    cleanup(st);
}

/* A restore step marks the rollups stale; a rebuild that does not fit the map fails with the
 * setting to raise, writes nothing and leaves the mark (the next restore tries again). */
static void test_rollup_rebuild_map_full(void)
{
    ls_store_t *st = fresh(1);
    char err[512];
    static uint8_t states[100][LS_STATE_MAX];
    static char ids[100][32];
    static ls_store_rec_t recs[100];
    int rc = LS_OK, batches = 0;
    CU_ASSERT_EQUAL(ls_store_rollups_stale(st, 6), 0);
    for (int b = 0; b < 200 && rc == LS_OK; b++) {
        for (int i = 0; i < 100; i++) {
            char course[16];
            snprintf(course, sizeof(course), "c%d", i % 7);
            snprintf(ids[i], sizeof(ids[i]), "activity-number-%d-%d", b, i);
            recs[i] = (ls_store_rec_t){"conn", ids[i], states[i], state_of(course, ids[i], 50, states[i])};
        }
        rc = ls_store_apply_changelog(st, 6, recs, 100, b + 1, err, sizeof(err));
        batches += rc == LS_OK;
    }
    CU_ASSERT_EQUAL_FATAL(rc, LS_EFULL);
    CU_ASSERT_TRUE(batches > 10);
    CU_ASSERT_EQUAL(ls_store_rollups_stale(st, 6), 1);
    rc = ls_store_rebuild_rollups(st, 6, NULL, err, sizeof(err));
    CU_ASSERT_EQUAL(rc, LS_EFULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "worker.lmdb_map_mb"));
    CU_ASSERT_EQUAL(ls_store_rollups_stale(st, 6), 1);
    CU_ASSERT_EQUAL(scan_count(st, LS_STORE_RU_MEMBERS, 6, "conn", NULL, 0), 0);
    cleanup(st);
}

static void test_catalog_foreach_wipe(void)
{
    ls_store_t *st = fresh(8);
    char err[256];
    int n = 0;
    ls_catalog_entry_t e;
    ls_catalog_item_t a[] = {cat_item("c/1", "A", NULL, 5)}, b[] = {cat_item("x", NULL, "VIDEO", 5)};
    ls_catalog_item_t other[] = {cat_item("c/1", "B", NULL, 5)};
    CU_ASSERT_EQUAL(ls_store_catalog_commit(st, 1, "k", LS_CATALOG_COURSE, a, 1, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_catalog_commit(st, 1, "k", LS_CATALOG_CONTENT, b, 1, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(ls_store_catalog_commit(st, 1, "kk", LS_CATALOG_COURSE, other, 1, err, sizeof(err)), LS_OK);
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    CU_ASSERT_EQUAL(ls_store_catalog_foreach(r, "k", count_entry, &n), LS_OK);
    ls_store_reader_destroy(r);
    CU_ASSERT_EQUAL(n, 2); /* "kk" is another connection */
    CU_ASSERT_EQUAL(ls_store_wipe_partition(st, 1, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(cat_get(st, 1, "k", LS_CATALOG_COURSE, "c/1", &e), LS_ENOTFOUND);
    CU_ASSERT_EQUAL(ls_store_catalog_commit(st, 1, "", LS_CATALOG_COURSE, a, 1, err, sizeof(err)), LS_EINVAL);
    cleanup(st);
}

static CU_TestInfo tests[] = {
    {"catalog: put, get, absent, rename", test_catalog_put_get},
    {"catalog: walk per connection, partition wipe", test_catalog_foreach_wipe},
    {"put, get, partitions, checkpoints", test_put_get},
    {"map full fails the page atomically", test_map_full},
    {"unusable path", test_bad_path},
    {"foreach walks one partition and connection", test_foreach},
    {"pending-removal markers", test_pending},
    {"deferred: commit writes the marker, sync and close remove it", test_deferred_marker},
    {"durable: never a marker", test_durable_no_marker},
    {"marker of another boot: store discarded", test_foreign_boot_discards},
    {"garbled marker: store discarded", test_garbled_marker_discards},
    {"marker of this boot: store kept", test_same_boot_keeps},
    {"process crash without sync: commits kept", test_process_crash_keeps},
    {"no boot id: durable, and any marker discards", test_no_boot_id},
    {"marker protocol across processes", test_marker_across_processes},
    {"trim the map's resident pages", test_trim_map},
    {"write timing callback; usage over the partitions", test_write_timing_and_usage},
    {"compaction of a partition: same records, smaller map, swap followed", test_compact_partition},
    {"compaction when sparse: floor and doubling", test_compact_if_sparse},
    {"connection numbers: stable across reopen", test_numbers_stable},
    {"connection numbers: prefixes never alias", test_numbers_no_alias},
    {"connection numbers: a failed commit's number is not kept", test_numbers_failed_commit},
    {"connection numbers: unknown connection reads nothing, writes nothing", test_numbers_unknown_read},
    {"connection numbers: a partition wipe keeps them", test_numbers_survive_wipe},
    {"connection numbers: processes sharing the store agree", test_numbers_across_processes},
    {"old key format: wiped at open, with the message", test_old_format_wiped},
    {"rollup rows: commit, scan, rebuild, corrupt state", test_rollup_rows_rebuild},
    {"rollup rebuild: stale mark, map full", test_rollup_rebuild_map_full},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {{"store", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};
LS_TEST_MAIN(suites)
