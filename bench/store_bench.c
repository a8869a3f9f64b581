/*
 * store_bench.c - cost of an LMDB page commit, durable vs deferred sync.
 *
 * Usage: lmsync-store-bench [parent-dir]   (default: the current directory)
 *
 * Per mode and run: a new store in <parent-dir>/lmsync-store-bench.<pid>,
 * 2000 commits (ls_store_commit_page) of 100 new activities with 110-byte
 * states and a checkpoint, like an initial sync. Deferred mode calls
 * ls_store_sync() every 200 commits and once at the end, inside the timing.
 * Prints the median of 3 runs of wall time and CPU time (getrusage user+sys)
 * per commit. Put parent-dir on the file system the worker uses: on tmpfs an
 * fsync costs nothing and the comparison means nothing.
 */
#include "ls_err.h"
#include "ls_store.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define COMMITS 2000
#define PUTS 100
#define VALUE_LEN 110
#define SYNC_EVERY 200
#define RUNS 3

typedef struct sample {
    double wall_us, cpu_us, sys_us;   /* per commit */
} sample_t;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void cpu_us(double *total, double *sys)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *sys = (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
    *total = (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec + *sys;
}

static int remove_store(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

/* One run; 0 and *out, or -1 after printing why. */
static int run(const char *dir, int deferred, sample_t *out)
{
    char err[512], ids[PUTS][48];
    static uint8_t value[VALUE_LEN];
    ls_store_put_t puts[PUTS];
    if (remove_store(dir) != 0)
        return -1;
    ls_store_t *st = ls_store_open(dir, 256, deferred, err, sizeof(err));
    if (!st) {
        fprintf(stderr, "store-bench: %s\n", err);
        return -1;
    }
    if (deferred && !ls_store_is_deferred(st)) {
        fprintf(stderr, "store-bench: deferred sync unavailable here (no boot id)\n");
        ls_store_destroy(st);
        return -1;
    }
    double c0, s0, c1, s1, t0 = now_us();
    cpu_us(&c0, &s0);
    int rc = LS_OK;
    for (int c = 0; c < COMMITS && rc == LS_OK; c++) {
        for (int i = 0; i < PUTS; i++) {
            snprintf(ids[i], sizeof(ids[i]), "course-%04d/activity-%06d", c % 37, c * PUTS + i);
            memset(value, 'a' + (c + i) % 26, sizeof(value));
            puts[i] = (ls_store_put_t){ids[i], value, sizeof(value)};
        }
        rc = ls_store_commit_page(st, c % 8, "conn-bench", puts, PUTS, c, NULL, NULL, err, sizeof(err));
        if (rc == LS_OK && deferred && ((c + 1) % SYNC_EVERY == 0 || c + 1 == COMMITS))
            rc = ls_store_sync(st, err, sizeof(err));
    }
    double t1 = now_us();
    cpu_us(&c1, &s1);
    ls_store_destroy(st);
    remove_store(dir);
    if (rc != LS_OK) {
        fprintf(stderr, "store-bench: %s\n", err);
        return -1;
    }
    *out = (sample_t){(t1 - t0) / COMMITS, (c1 - c0) / COMMITS, (s1 - s0) / COMMITS};
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const sample_t *s, size_t field_offset)
{
    double v[RUNS];
    for (int i = 0; i < RUNS; i++)
        memcpy(&v[i], (const char *)&s[i] + field_offset, sizeof(double));
    qsort(v, RUNS, sizeof(v[0]), cmp_double);
    return v[RUNS / 2];
}

int main(int argc, char **argv)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/lmsync-store-bench.%ld", argc > 1 ? argv[1] : ".", (long)getpid());
    printf("%d commits x %d puts of %d-byte values; median of %d runs, per commit\n",
           COMMITS, PUTS, VALUE_LEN, RUNS);
    printf("%-28s %10s %10s %10s\n", "mode", "wall_us", "cpu_us", "sys_us");
    const char *names[] = {"durable (every commit)", "deferred (sync every 200)"};
    double wall[2] = {0};
    for (int mode = 0; mode < 2; mode++) {
        sample_t s[RUNS];
        for (int r = 0; r < RUNS; r++)
            if (run(dir, mode, &s[r]) != 0)
                return 1;
        wall[mode] = median(s, offsetof(sample_t, wall_us));
        printf("%-28s %10.1f %10.1f %10.1f\n", names[mode], wall[mode],
               median(s, offsetof(sample_t, cpu_us)), median(s, offsetof(sample_t, sys_us)));
    }
    printf("wall time ratio durable/deferred: %.1fx\n", wall[1] > 0 ? wall[0] / wall[1] : 0.0);
    return 0;
}
