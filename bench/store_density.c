/*
 * store_density.c - LMDB bytes per stored activity, for two insert orders.
 *
 * Usage: lmsync-store-density [parent-dir] [connections] [per-connection]
 *        (defaults: the current directory, 500, 2000: 1,000,000 records)
 *
 * Writes the same records through ls_store_commit_page() twice, each time
 * into a new store <parent-dir>/lmsync-store-density.<pid>:
 *   sequential:  one connection after the other, pages of 100;
 *   interleaved: 64 connections at a time, one page of 100 each in turn
 *                (round-robin, like 64 jobs in flight), a finished
 *                connection's slot taking the next one;
 *   interleaved+compacted: the same, then ls_store_compact_partition() of
 *                every partition (a copy in key order).
 * Connections are "conn-0001".., activity ids "act-0001-000123" in
 * increasing order per connection, states 80 bytes, partitions spread over 6
 * (hash of the connection id, like the jobs topic of bench/run.sh), every
 * commit with a checkpoint. Then prints, per named database summed over the
 * partitions' environments, mdb_stat's
 * pages (branch + leaf + overflow) x page size / activity records, the
 * figure bench/run.sh reports as "LMDB bytes per tracked activity" for the
 * activities database, and the same for all databases together.
 */
#include "ls_err.h"
#include "ls_hash.h"
#include "ls_store.h"

#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE 100
#define SLOTS 64
#define VALUE_LEN 80
#define PARTITIONS 6
#define MAP_MB 2048

typedef struct conn {
    char id[24];
    int index, partition, next;   /* next activity to write */
} conn_t;

static void conn_init(conn_t *c, int index)
{
    c->index = index;
    c->next = 0;
    snprintf(c->id, sizeof(c->id), "conn-%04d", index + 1);
    c->partition = (int)(ls_hash64(c->id, strlen(c->id), 0) % PARTITIONS);
}

/* Commit the next page (up to PAGE records) of c; 0, or -1 after printing why. */
static int commit_next(ls_store_t *st, conn_t *c, int per_conn, int64_t checkpoint)
{
    static char ids[PAGE][32];
    static uint8_t vals[PAGE][VALUE_LEN];
    ls_store_put_t puts[PAGE];
    size_t n = 0;
    for (; n < PAGE && c->next < per_conn; n++, c->next++) {
        snprintf(ids[n], sizeof(ids[n]), "act-%04d-%06d", c->index + 1, c->next);
        uint64_t h = ls_hash64(ids[n], strlen(ids[n]), 1);
        for (size_t b = 0; b < VALUE_LEN; b++)   /* not compressible, not all equal */
            vals[n][b] = (uint8_t)(h >> (8 * (b % 8))) ^ (uint8_t)b;
        puts[n] = (ls_store_put_t){ids[n], vals[n], VALUE_LEN};
    }
    char err[512];
    if (ls_store_commit_page(st, c->partition, c->id, puts, n, checkpoint, NULL, NULL, err, sizeof(err)) != LS_OK) {
        fprintf(stderr, "lmsync-store-density: commit failed: %s\n", err);
        return -1;
    }
    return 0;
}

static int write_sequential(ls_store_t *st, int conns, int per_conn)
{
    int64_t cp = 0;
    for (int i = 0; i < conns; i++) {
        conn_t c;
        conn_init(&c, i);
        while (c.next < per_conn)
            if (commit_next(st, &c, per_conn, cp++) != 0)
                return -1;
    }
    return 0;
}

static int write_interleaved(ls_store_t *st, int conns, int per_conn)
{
    conn_t slot[SLOTS];
    int started = 0, active = 0;
    int64_t cp = 0;
    for (int s = 0; s < SLOTS && started < conns; s++, active++)
        conn_init(&slot[s], started++);
    while (active > 0) {
        for (int s = 0; s < active; s++) {
            if (commit_next(st, &slot[s], per_conn, cp++) != 0)
                return -1;
            if (slot[s].next < per_conn)
                continue;
            if (started < conns)
                conn_init(&slot[s], started++);
            else
                slot[s--] = slot[--active];   /* done: the last slot moves here and runs this round */
        }
    }
    return 0;
}

/* Pages of one named database, or 0 when it does not exist; *entries = its entries. */
static size_t db_pages(MDB_txn *txn, const char *name, size_t *entries)
{
    MDB_dbi dbi;
    MDB_stat ms;
    *entries = 0;
    if (mdb_dbi_open(txn, name, 0, &dbi) != 0 || mdb_stat(txn, dbi, &ms) != 0)
        return 0;
    *entries = ms.ms_entries;
    return ms.ms_branch_pages + ms.ms_leaf_pages + ms.ms_overflow_pages;
}

static const char *const db_names[] = {"activities", "pending", "sync", "checkpoints", "conns", "meta"};
#define N_DBS (sizeof(db_names) / sizeof(db_names[0]))

/* What report() adds up over the partitions' environments. */
typedef struct sums {
    size_t pages[N_DBS], entries[N_DBS], file_pages, psize, envs;
} sums_t;

/* Add the environment at path (a partition's, "<dir>/p-NNN") to s; 1 when it was not there, -1 on error. */
static int add_env(const char *path, sums_t *s)
{
    char data[4300];
    snprintf(data, sizeof(data), "%s/data.mdb", path);
    if (access(data, F_OK) != 0)
        return 1;
    MDB_env *env;
    MDB_txn *txn;
    MDB_envinfo info;
    MDB_stat ms;
    int rc = mdb_env_create(&env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(env, 16);
    if (rc == 0)
        rc = mdb_env_open(env, path, MDB_RDONLY, 0640);
    if (rc == 0)
        rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        fprintf(stderr, "lmsync-store-density: cannot read \"%s\": %s\n", path, mdb_strerror(rc));
        mdb_env_close(env);
        return -1;
    }
    mdb_env_stat(env, &ms);
    mdb_env_info(env, &info);
    for (size_t i = 0; i < N_DBS; i++) {
        size_t e;
        s->pages[i] += db_pages(txn, db_names[i], &e);
        s->entries[i] += e;
    }
    s->file_pages += (size_t)info.me_last_pgno + 1;
    s->psize = ms.ms_psize;
    s->envs++;
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return 0;
}

static int report(const char *dir, const char *order, double secs)
{
    sums_t s = {0};
    char path[4200];
    for (int p = 0; p < PARTITIONS; p++) {
        snprintf(path, sizeof(path), "%s/p-%03d", dir, p);
        if (add_env(path, &s) < 0)
            return -1;
    }
    size_t records = s.entries[0], total = 0;
    double per = (double)s.psize / (double)(records ? records : 1);
    printf("%-22s %9zu records in %zu environments, %.1f s\n", order, records, s.envs, secs);
    for (size_t i = 0; i < N_DBS; i++) {
        total += s.pages[i];
        if (s.pages[i])
            printf("  %-12s %9zu entries %8zu pages %8.1f bytes/record\n", db_names[i], s.entries[i], s.pages[i],
                   (double)s.pages[i] * per);
    }
    printf("  %-12s %9s         %8zu pages %8.1f bytes/record (activities: %.1f)\n", "all dbs", "", total,
           (double)total * per, (double)s.pages[0] * per);
    printf("  %-12s %9s         %8zu pages %8.1f bytes/record (file high-water, incl. free pages)\n",
           "data.mdb", "", s.file_pages, (double)s.file_pages * per);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(const char *parent, const char *order, int conns, int per_conn)
{
    char dir[4096], cmd[4200], err[512];
    snprintf(dir, sizeof(dir), "%s/lmsync-store-density.%ld", parent, (long)getpid());
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return -1;
    ls_store_t *st = ls_store_open(dir, MAP_MB, 1, err, sizeof(err));   /* deferred: one fsync at the end */
    if (!st) {
        fprintf(stderr, "lmsync-store-density: %s\n", err);
        return -1;
    }
    double t0 = now_s();
    int rc = strcmp(order, "sequential") == 0 ? write_sequential(st, conns, per_conn)
                                               : write_interleaved(st, conns, per_conn);
    for (int p = 0; rc == 0 && strstr(order, "compacted") && p < PARTITIONS; p++) {
        uint64_t before, after;
        if ((rc = ls_store_compact_partition(st, p, &before, &after, err, sizeof(err))) != LS_OK)
            fprintf(stderr, "lmsync-store-density: %s\n", err);
    }
    ls_store_destroy(st);
    if (rc == 0)
        rc = report(dir, order, now_s() - t0);
    if (system(cmd) != 0)
        rc = -1;
    return rc;
}

int main(int argc, char **argv)
{
    const char *parent = argc > 1 ? argv[1] : ".";
    int conns = argc > 2 ? atoi(argv[2]) : 500, per_conn = argc > 3 ? atoi(argv[3]) : 2000;
    if (conns < 1 || conns > 9999 || per_conn < 1 || per_conn > 999999) {
        fprintf(stderr, "usage: lmsync-store-density [parent-dir] [connections 1..9999] [per-connection]\n");
        return 2;
    }
    if (run(parent, "sequential", conns, per_conn) != 0 || run(parent, "interleaved", conns, per_conn) != 0 ||
        run(parent, "interleaved+compacted", conns, per_conn) != 0)
        return 1;
    return 0;
}
