/*
 * ls_store.c - LMDB wrapper (the Knot DNS habit: MDB_* stays in here).
 *
 * One environment per partition, "<dir>/p-NNN" (penv_t), opened at the
 * store's open when it exists, else at the partition's first use in this
 * process (part_env()); a reader begins one read transaction per partition
 * it reads (reader_at()). Each environment uses MDB_NOTLS so read
 * transactions are not tied to a thread, and MDB_NOSUBDIR=0 (a directory). Every write commits a page and
 * its checkpoint atomically, so a crash leaves either the old or the new
 * state, never a mix.
 *
 * Deferred sync (ls_store_open(..., deferred_sync = 1)): commits use
 * MDB_NOSYNC and ls_store_sync() flushes them. A process crash loses nothing
 * (the page cache keeps every commit), but an OS crash can leave a torn file,
 * so a marker file "unsynced" holding the boot id guards the store:
 *
 *   - it is made durable (temp file, fsync, rename, fsync of the directory)
 *     before any commit that finds it missing, and removed only after an
 *     fsync of data.mdb that covers every commit made while it existed;
 *   - both steps run under LMDB's writer lock (inside a write transaction),
 *     because any worker process of a pod may use a partition's environment: a
 *     per-process "dirty" flag would let one process remove the marker while
 *     another process's unsynced commit is outstanding;
 *   - at open, a marker from another boot (or one that cannot be read, or no
 *     readable boot id at all) means the machine went down with commits that
 *     may not be on disk: data.mdb and lock.mdb are deleted before LMDB sees
 *     them, and every partition, now without checkpoint, is restored from the
 *     changelog. A marker of this boot (a process crash) is kept as it is.
 *
 * The discard runs under an fcntl lock on "<dir>/open.lock", so worker
 * processes that start together after a reboot cannot delete a file that a
 * sibling has just created and opened.
 *
 * Connection numbers: activity and pending keys hold a 4-byte number instead
 * of the connection id (most of a key's bytes otherwise). The conns database
 * maps id -> number, plus the counter under the key "\0" (ids never contain
 * NUL). A number is given out inside the write transaction that first needs
 * one, under LMDB's writer lock, so every process sharing the environment
 * agrees; numbers never change and are never deleted (a partition wipe
 * leaves conns alone), so a process may cache them forever, once committed:
 * numbers given out in a transaction wait in e->fresh until it commits (an
 * aborted one hands the same number to the next connection). Readers never
 * assign: a connection without number has no records.
 *
 * Key format versions (meta "format"): 1, no record, keys with the connection
 * id; 2, connection numbers; 3, the rollup databases (a store of format 2
 * has states without their rollup rows); 4, one environment per partition
 * (an older build's single environment, "<dir>/data.mdb", is deleted at the
 * store's open: remove_single_env()). Right after the reboot guard, under the same
 * open lock, a store with data but another version is emptied (every
 * database, conns included), like a discarded one: without checkpoints,
 * every partition is restored from the changelog.
 */
#define _GNU_SOURCE /* madvise(MADV_DONTNEED), renameat2(RENAME_EXCHANGE) */
#include "ls_store.h"
#include "ls_err.h"
#include "ls_log.h"
#include "ls_rollup.h"
#include "ls_state.h"
#include "ls_strmap.h"
#include "ls_time.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KEY_MAX 511 /* LMDB's default max key size */
#define TRIM_EVERY 8192 /* records walked between two looks at the resident map (ls_store_trim_map) */
#define BOOT_ID_LEN 36 /* a UUID: 8-4-4-4-12 hex digits */
#define ACT_PREFIX 6   /* u16 partition | u32 connection number */
#define FORMAT 4       /* the key format this build writes (meta "format"); no record = 1 */

static const char counter_key[1] = {0};   /* conns: the last number given out; no id is "\0" */
static const char format_key[] = "format";

static const char *boot_id_path = "/proc/sys/kernel/random/boot_id";

/* One partition's environment, "<dir>/p-NNN", opened by this process's first use of the partition. */
typedef struct penv {
    ls_store_t *st;        /* the store it belongs to */
    int partition;
    MDB_env *env;
    MDB_dbi activities, sync, checkpoints, pending, conns, meta, catalog;
    MDB_dbi ru[LS_STORE_RU__COUNT];   /* rollup rows, by ls_store_ru_t */
    ls_strmap_t *nums;     /* connection id -> committed uint32_t number: never stale (numbers never change) */
    ls_strmap_t *fresh;    /* numbers given out by the write transaction in progress, not yet committed */
    int deferred;          /* MDB_NOSYNC and the unsynced marker are in use */
    char *dir, *marker, *marker_tmp;   /* owned */
    struct stat data;      /* of its data.mdb after the open: tells its map in /proc/self/maps */
    uint64_t base_used;    /* used bytes at the open (or a failed compaction): ls_store_compact_if_sparse() */
} penv_t;

struct ls_store {
    char *dir;             /* the root: one directory per partition in it; owned */
    size_t map_mb;         /* of each partition's environment; for the map-full message */
    int want_deferred;     /* deferred sync asked for and possible (the boot id is readable) */
    int discarded;         /* an open discarded contents: unsynced writes before a reboot, another key format */
    char boot_id[BOOT_ID_LEN + 2];     /* "<uuid>\n", or "" when unreadable */
    size_t resident_max;               /* ls_store_set_resident_max(); 0 = never trim */
    double next_trim_look;             /* mono_s() of the next look at the resident map after a write */
    ls_store_timing_cb_t timing;       /* ls_store_set_write_timing(); NULL = none */
    void *timing_ud;
    double wait_s;                     /* the write transaction in progress: how long its begin waited */
    double locked_at;                  /* ... and when it got the writer lock (mono_s()) */
    penv_t **parts;        /* by partition; NULL = not opened by this process */
    int n_parts;           /* slots of parts */
};

/* A read transaction per partition read, begun by the first read of it (reader_at()). */
typedef struct rtxn {
    penv_t *e;
    MDB_txn *txn;
} rtxn_t;

struct ls_store_reader {
    ls_store_t *st;
    penv_t *e;             /* the partition of the latest read ... */
    MDB_txn *txn;          /* ... and its transaction (one of txns) */
    rtxn_t *txns;
    size_t n, cap;
};

static int map_err(int rc)
{
    switch (rc) {
    case 0: return LS_OK;
    case MDB_NOTFOUND: return LS_ENOTFOUND;
    case MDB_MAP_FULL: return LS_EFULL;
    case MDB_BAD_VALSIZE: return LS_EINVAL;
    case ENOMEM: return LS_ENOMEM;
    default: return LS_EIO;
    }
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const void *v)
{
    const uint8_t *p = v;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * The key format check (in the open's write transaction): a store with data
 * and another format (*found, 1 = no record) is emptied, *wiped = 1; the
 * current format is recorded. An LMDB code.
 */
static int check_format(penv_t *e, MDB_txn *txn, uint32_t *found, int *wiped)
{
    MDB_dbi data[] = {e->activities, e->pending, e->sync, e->checkpoints, e->conns, e->catalog,
                      e->ru[LS_STORE_RU_MEMBERS], e->ru[LS_STORE_RU_ENROLLMENTS], e->ru[LS_STORE_RU_COURSES]};
    MDB_val k = {sizeof(format_key) - 1, (void *)format_key}, v;
    uint8_t cur[4];
    int rc = mdb_get(txn, e->meta, &k, &v);
    *found = rc == 0 && v.mv_size == 4 ? get_be32(v.mv_data) : 1;
    *wiped = 0;
    if (rc == 0 && *found == FORMAT)
        return 0;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(data) / sizeof(data[0]); i++) {
        MDB_stat ms;
        rc = mdb_stat(txn, data[i], &ms);
        if (rc == 0 && ms.ms_entries > 0) {
            *wiped = 1;
            rc = mdb_drop(txn, data[i], 0);   /* empty it, keep the handle */
        }
    }
    put_be32(cur, FORMAT);
    v = (MDB_val){sizeof(cur), cur};
    return rc ? rc : mdb_put(txn, e->meta, &k, &v, 0);
}

static int open_dbs(penv_t *e, char *errstr, size_t errsz)
{
    static const char *names[] = {"activities", "sync", "checkpoints", "pending", "conns", "meta",
                                  "catalog", "ru_members", "ru_enrollments", "ru_courses"};
    MDB_dbi *dbis[] = {&e->activities, &e->sync, &e->checkpoints, &e->pending, &e->conns, &e->meta, &e->catalog,
                       &e->ru[LS_STORE_RU_MEMBERS], &e->ru[LS_STORE_RU_ENROLLMENTS], &e->ru[LS_STORE_RU_COURSES]};
    MDB_txn *txn;
    uint32_t found = FORMAT;
    int wiped = 0, rc = mdb_txn_begin(e->env, NULL, 0, &txn);
    for (size_t i = 0; rc == 0 && i < sizeof(names) / sizeof(names[0]); i++)
        rc = mdb_dbi_open(txn, names[i], MDB_CREATE, dbis[i]);
    if (rc == 0 && (rc = check_format(e, txn, &found, &wiped)) != 0) {
        mdb_txn_abort(txn);
        snprintf(errstr, errsz, "lmdb at \"%s\": cannot check or record the key format: %s", e->dir,
                 mdb_strerror(rc));
        return LS_EIO;
    }
    if (rc == 0) {
        if ((rc = mdb_txn_commit(txn)) != 0) {
            snprintf(errstr, errsz, "lmdb commit of databases failed: %s", mdb_strerror(rc));
            return LS_EIO;
        }
        if (wiped) {
            e->st->discarded = 1;
            ls_warn("lmdb store \"%s\" discarded: its keys are in format %u, this build writes format %d; "
                    "partition %d will be restored from the changelog", e->dir, (unsigned)found, FORMAT, e->partition);
        }
        return LS_OK;
    }
    mdb_txn_abort(txn);
    snprintf(errstr, errsz, "lmdb cannot open databases: %s", mdb_strerror(rc));
    return LS_EIO;
}

void ls_store_set_boot_id_path_for_test(const char *path)
{
    boot_id_path = path ? path : "/proc/sys/kernel/random/boot_id";
}

/* A boot id is 36 characters of hex digits and dashes. */
static int boot_id_valid(const char *s, size_t n)
{
    if (n != BOOT_ID_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef-", s[i]) || s[i] == '\0')
            return 0;
    return 1;
}

/* Read up to cap - 1 bytes of path into buf (NUL-terminated); bytes read, or -1 with errno. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    int e = errno;
    close(fd);
    errno = e;
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

/* st->boot_id = "<uuid>\n" of this boot; 0, or -1 with a reason in why. */
static int read_boot_id(ls_store_t *st, char *why, size_t whysz)
{
    char buf[64];
    ssize_t n = read_small(boot_id_path, buf, sizeof(buf));
    if (n < 0) {
        snprintf(why, whysz, "%s", strerror(errno));
        return -1;
    }
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (!boot_id_valid(buf, (size_t)n)) {
        snprintf(why, whysz, "not a boot id");
        return -1;
    }
    memcpy(st->boot_id, buf, BOOT_ID_LEN);
    memcpy(st->boot_id + BOOT_ID_LEN, "\n", 2);
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd), e = errno;
    close(fd);
    errno = e;
    return rc;
}

/*
 * Make sure the unsynced marker is on disk before a commit: a no-op when it
 * exists. Called with LMDB's writer lock held (inside a write transaction),
 * so no ls_store_sync() of any process can remove it between the check and
 * the commit. 0, or LS_EIO with errstr.
 */
static int mark_unsynced(penv_t *e, char *errstr, size_t errsz)
{
    struct stat sb;
    if (stat(e->marker, &sb) == 0)
        return LS_OK;
    const char *step = "stat";
    int fd = -1, ok = errno == ENOENT;
    if (ok) {
        step = "create";
        fd = open(e->marker_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        ok = fd >= 0;
    }
    if (ok) {
        step = "write";
        ok = write(fd, e->st->boot_id, BOOT_ID_LEN + 1) == BOOT_ID_LEN + 1;
    }
    if (ok) {
        step = "fsync";
        ok = fsync(fd) == 0;
    }
    int err = errno;
    if (fd >= 0)
        close(fd);
    if (ok) {
        step = "rename";
        ok = rename(e->marker_tmp, e->marker) == 0;
        err = errno;
    }
    if (ok) {
        step = "fsync the directory of";
        ok = fsync_dir(e->dir) == 0;
        err = errno;
    }
    if (ok)
        return LS_OK;
    snprintf(errstr, errsz, "lmdb deferred sync: cannot %s marker \"%s\", nothing committed: %s",
             step, e->marker, strerror(err));
    return LS_EIO;
}

/* errno of unlinking path, 0 when it is gone (or was never there). */
static int remove_file(const char *dir, const char *name)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return ENAMETOOLONG;
    return unlink(path) == 0 || errno == ENOENT ? 0 : errno;
}

/*
 * Delete the LMDB files and the marker of the environment in dir (why: the
 * reason, for the message), and make the deletion durable. had_data = 1 when
 * there was a data.mdb. 0, or LS_EIO with errstr.
 */
static int remove_env(const char *dir, const char *why, int *had_data, char *errstr, size_t errsz)
{
    struct stat sb;
    char data[4096];
    snprintf(data, sizeof(data), "%s/data.mdb", dir);
    *had_data = stat(data, &sb) == 0;
    const char *names[] = {"data.mdb", "lock.mdb", "unsynced.tmp", "unsynced"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int e = remove_file(dir, names[i]);
        if (e != 0) {
            snprintf(errstr, errsz, "setting 'worker.lmdb_path': cannot delete \"%s/%s\" of a store that %s: %s",
                     dir, names[i], why, strerror(e));
            return LS_EIO;
        }
    }
    if (fsync_dir(dir) != 0) {
        snprintf(errstr, errsz, "setting 'worker.lmdb_path': cannot fsync \"%s\": %s", dir, strerror(errno));
        return LS_EIO;
    }
    return LS_OK;
}

/*
 * The reboot guard at the open of a partition's environment (under its open
 * lock, before mdb_env_open): with a marker that is not of this boot, delete
 * the LMDB files and the marker. An unreadable boot id distrusts any marker.
 */
static int check_marker(penv_t *e, char *errstr, size_t errsz)
{
    const ls_store_t *st = e->st;
    char buf[64], reason[160];
    ssize_t n = read_small(e->marker, buf, sizeof(buf));
    if (n < 0 && errno == ENOENT)
        return LS_OK;
    if (n < 0)
        snprintf(reason, sizeof(reason), "its marker \"%s\" cannot be read (%s)", e->marker, strerror(errno));
    else if (!st->boot_id[0])
        snprintf(reason, sizeof(reason), "it has a marker \"%s\" and the boot id of this boot cannot be read "
                 "from \"%s\" to tell a process crash from a reboot", e->marker, boot_id_path);
    else if (strcmp(buf, st->boot_id) == 0)
        return LS_OK;   /* a process crash in this boot: the page cache holds every commit */
    else if (n == BOOT_ID_LEN + 1 && buf[BOOT_ID_LEN] == '\n' && boot_id_valid(buf, BOOT_ID_LEN))
        snprintf(reason, sizeof(reason), "it had unsynced writes before a reboot (marker boot id %.36s, "
                 "this boot %.36s)", buf, st->boot_id);
    else
        snprintf(reason, sizeof(reason), "its marker of unsynced writes \"%s\" is garbled, so a reboot may "
                 "have lost writes", e->marker);
    int had_data;
    if (remove_env(e->dir, reason, &had_data, errstr, errsz) != LS_OK)
        return LS_EIO;
    e->st->discarded |= had_data;
    if (had_data)
        ls_warn("lmdb store \"%s\" discarded: %s; partition %d will be restored from the changelog",
                e->dir, reason, e->partition);
    else
        ls_info("lmdb store \"%s\": removed the marker of a store without data (%s)", e->dir, reason);
    return LS_OK;
}

/* dir "/" name, allocated (NULL when out of memory). */
static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/*
 * An fcntl write lock on "<dir>/open.lock", held from the marker check to the
 * end of the open, so that processes opening the store together cannot
 * discard it twice. The fd (closing it unlocks), or -1 with errstr.
 */
static int lock_open(const char *dir, char *errstr, size_t errsz)
{
    char *path = join(dir, "open.lock");
    int fd = path ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640) : -1;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    int rc = fd < 0 ? -1 : fcntl(fd, F_SETLKW, &fl);
    while (rc != 0 && fd >= 0 && errno == EINTR)
        rc = fcntl(fd, F_SETLKW, &fl);
    if (rc != 0) {
        snprintf(errstr, errsz, "setting 'worker.lmdb_path': cannot lock \"%s\": %s", path ? path : dir,
                 path ? strerror(errno) : "out of memory");
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    free(path);
    return fd;
}

static int env_open(penv_t *e, char *errstr, size_t errsz)
{
    int rc = mdb_env_create(&e->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(e->env, 16);   /* 10 named databases in use */
    if (rc == 0)
        rc = mdb_env_set_mapsize(e->env, e->st->map_mb * 1024 * 1024);
    if (rc == 0)
        rc = mdb_env_open(e->env, e->dir, MDB_NOTLS, 0640);
    if (rc != 0) {
        snprintf(errstr, errsz, "setting 'worker.lmdb_path': cannot open lmdb at \"%s\": %s", e->dir,
                 mdb_strerror(rc));
        return LS_EIO;
    }
    /* still durable: a new environment's databases are on disk before deferred commits start */
    return open_dbs(e, errstr, errsz);
}

static void free_penv(penv_t *e)
{
    if (!e)
        return;
    if (e->env)
        mdb_env_close(e->env);
    ls_strmap_destroy(e->nums);
    ls_strmap_destroy(e->fresh);
    free(e->dir);
    free(e->marker);
    free(e->marker_tmp);
    free(e);
}

static uint64_t env_used(const penv_t *e);

/*
 * Open partition's environment "<root>/p-NNN" (creating it): under its open
 * lock, the reboot guard, then LMDB and the key format check, then deferred
 * commits when the store asks for them. NULL with errstr on failure.
 */
static penv_t *penv_open(ls_store_t *st, int partition, char *errstr, size_t errsz)
{
    char name[16];
    snprintf(name, sizeof(name), "p-%03d", partition);
    penv_t *e = calloc(1, sizeof(*e));
    if (!e || !(e->dir = join(st->dir, name)) || !(e->marker = join(e->dir, "unsynced")) ||
        !(e->marker_tmp = join(e->dir, "unsynced.tmp")) || !(e->nums = ls_strmap_new(sizeof(uint32_t))) ||
        !(e->fresh = ls_strmap_new(sizeof(uint32_t)))) {
        snprintf(errstr, errsz, "out of memory");
        free_penv(e);
        return NULL;
    }
    e->st = st;
    e->partition = partition;
    if (mkdir(e->dir, 0750) != 0 && errno != EEXIST) {
        snprintf(errstr, errsz, "setting 'worker.lmdb_path': cannot create \"%s\": %s", e->dir, strerror(errno));
        free_penv(e);
        return NULL;
    }
    int lock = lock_open(e->dir, errstr, errsz);
    int rc = lock < 0 ? LS_EIO : check_marker(e, errstr, errsz);
    if (rc == LS_OK)
        rc = env_open(e, errstr, errsz);
    if (lock >= 0)
        close(lock);
    char data[4096];
    snprintf(data, sizeof(data), "%s/data.mdb", e->dir);
    if (rc == LS_OK && stat(data, &e->data) != 0) {
        snprintf(errstr, errsz, "lmdb at \"%s\": cannot stat data.mdb: %s", e->dir, strerror(errno));
        rc = LS_EIO;
    }
    if (rc == LS_OK && st->want_deferred) {
        int mrc = mdb_env_set_flags(e->env, MDB_NOSYNC, 1);
        if (mrc != 0) {
            snprintf(errstr, errsz, "lmdb at \"%s\": cannot set deferred sync: %s", e->dir, mdb_strerror(mrc));
            rc = LS_EIO;
        }
        e->deferred = mrc == 0;
    }
    if (rc != LS_OK) {
        free_penv(e);
        return NULL;
    }
    e->base_used = env_used(e);
    return e;
}

/*
 * The environment of partition, opened at its first use in this process;
 * NULL with errstr (partition out of range, out of memory, open failed: the
 * next use tries again).
 */
static penv_t *part_env(ls_store_t *st, int partition, char *errstr, size_t errsz)
{
    if (partition < 0 || partition > 0xffff) {
        snprintf(errstr, errsz, "lmdb: partition %d out of range", partition);
        return NULL;
    }
    if (partition < st->n_parts && st->parts[partition])
        return st->parts[partition];
    if (partition >= st->n_parts) {
        int n = partition + 1 > 2 * st->n_parts ? partition + 1 : 2 * st->n_parts;
        penv_t **p = realloc(st->parts, (size_t)n * sizeof(*p));
        if (!p) {
            snprintf(errstr, errsz, "out of memory");
            return NULL;
        }
        memset(p + st->n_parts, 0, (size_t)(n - st->n_parts) * sizeof(*p));
        st->parts = p;
        st->n_parts = n;
    }
    return st->parts[partition] = penv_open(st, partition, errstr, errsz);
}

static void free_store(ls_store_t *st)
{
    for (int i = 0; i < st->n_parts; i++)
        free_penv(st->parts[i]);
    free(st->parts);
    free(st->dir);
    free(st);
}

/* qsort order of partition numbers. */
static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/*
 * The partitions with an environment in the store's directory (names
 * "p-NNN" as penv_open() makes them), ascending, into *out (malloc'd; *n).
 * LS_OK, LS_EIO (the directory cannot be read) or LS_ENOMEM.
 */
static int list_partitions(const ls_store_t *st, int **out, size_t *n)
{
    DIR *d = opendir(st->dir);
    if (!d)
        return LS_EIO;
    int *v = NULL, rc = LS_OK;
    size_t cap = 0;
    *n = 0;
    struct dirent *de;
    while (rc == LS_OK && (de = readdir(d)) != NULL) {
        int part, end = 0;
        char name[16];
        if (sscanf(de->d_name, "p-%5d%n", &part, &end) != 1 || de->d_name[end] || part < 0 || part > 0xffff)
            continue;
        snprintf(name, sizeof(name), "p-%03d", part);
        if (strcmp(name, de->d_name) != 0)
            continue;   /* not a name penv_open() makes (e.g. "p-+1") */
        if (*n == cap) {
            int *g = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*g));
            if (!g) {
                rc = LS_ENOMEM;
                break;
            }
            v = g;
        }
        v[(*n)++] = part;
    }
    closedir(d);
    if (rc != LS_OK) {
        free(v);
        return rc;
    }
    if (*n > 1) /* v is NULL when the directory holds no partition */
        qsort(v, *n, sizeof(*v), cmp_int);
    *out = v;
    return LS_OK;
}

/*
 * A store of an older build: one environment for every partition, in the
 * root. It is deleted (under the root's open lock) and every partition is
 * restored from the changelog into its own environment.
 */
static int remove_single_env(ls_store_t *st, char *errstr, size_t errsz)
{
    struct stat sb;
    char data[4096];
    snprintf(data, sizeof(data), "%s/data.mdb", st->dir);
    if (stat(data, &sb) != 0)
        return LS_OK;
    int had_data;
    if (remove_env(st->dir, "is of an older layout", &had_data, errstr, errsz) != LS_OK)
        return LS_EIO;
    st->discarded = 1;
    ls_warn("lmdb store \"%s\": removed the single environment of an older build (data.mdb); this build keeps one "
            "environment per partition (p-NNN) and restores every partition from the changelog", st->dir);
    return LS_OK;
}

/*
 * Open every partition environment already in the directory, so that the
 * reboot guard and the key format check of each run at the open (and
 * ls_store_was_discarded() tells at once); the others open at first use.
 */
static int remove_leftovers(const ls_store_t *st, char *errstr, size_t errsz);

static int open_existing(ls_store_t *st, char *errstr, size_t errsz)
{
    if (remove_leftovers(st, errstr, errsz) != LS_OK)
        return LS_EIO;
    int *parts = NULL;
    size_t n = 0;
    int rc = list_partitions(st, &parts, &n);
    if (rc != LS_OK) {
        snprintf(errstr, errsz, "setting 'worker.lmdb_path': cannot read \"%s\": %s", st->dir,
                 rc == LS_ENOMEM ? "out of memory" : strerror(errno));
        return LS_EIO;
    }
    for (size_t i = 0; rc == LS_OK && i < n; i++)
        if (!part_env(st, parts[i], errstr, errsz))
            rc = LS_EIO;
    free(parts);
    return rc;
}

ls_store_t *ls_store_open(const char *dir, size_t map_mb, int deferred_sync, char *errstr, size_t errsz)
{
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        snprintf(errstr, errsz, "setting 'worker.lmdb_path': cannot create \"%s\": %s", dir, strerror(errno));
        return NULL;
    }
    ls_store_t *st = calloc(1, sizeof(*st));
    if (!st || !(st->dir = strdup(dir))) {
        snprintf(errstr, errsz, "out of memory");
        if (st)
            free_store(st);
        return NULL;
    }
    char why[128];
    int have_boot_id = read_boot_id(st, why, sizeof(why)) == 0;
    if (deferred_sync && !have_boot_id)
        ls_warn("lmdb store \"%s\": deferred sync needs the boot id from \"%s\" (%s) to detect a reboot; "
                "every commit is synced to disk instead", dir, boot_id_path, why);
    st->want_deferred = deferred_sync && have_boot_id;
    st->map_mb = map_mb;
    int lock = lock_open(dir, errstr, errsz);
    int rc = lock < 0 ? LS_EIO : remove_single_env(st, errstr, errsz);
    if (lock >= 0)
        close(lock);
    if (rc == LS_OK)
        rc = open_existing(st, errstr, errsz);
    if (rc != LS_OK) {
        free_store(st);
        return NULL;
    }
    return st;
}

ls_store_t *ls_store_new(const char *dir, size_t map_mb, char *errstr, size_t errsz)
{
    return ls_store_open(dir, map_mb, 0, errstr, errsz);
}

/* ls_store_sync() of one partition's environment. */
static int penv_sync(penv_t *e, char *errstr, size_t errsz)
{
    struct stat sb;
    if (stat(e->marker, &sb) != 0 && errno == ENOENT)
        return LS_OK;   /* every unsynced commit is made while the marker exists */
    MDB_envinfo info;
    MDB_txn *txn = NULL;
    const char *step = "sync of";
    int rc = mdb_env_info(e->env, &info);
    if (rc == 0)   /* the bulk of the flush, without blocking other processes' commits */
        rc = mdb_env_sync(e->env, 1);
    if (rc == 0)   /* LMDB's writer lock: no commit of any process until the marker is gone */
        rc = mdb_txn_begin(e->env, NULL, 0, &txn);
    if (rc == 0 && mdb_txn_id(txn) != info.me_last_txnid + 1)
        rc = mdb_env_sync(e->env, 1);   /* commits made since the first flush */
    if (rc == 0 && unlink(e->marker) != 0 && errno != ENOENT) {
        step = "removal of the marker of";
        rc = errno;
    }
    if (txn)
        mdb_txn_abort(txn);
    if (rc == 0 && fsync_dir(e->dir) != 0) {
        step = "fsync of the directory";
        rc = errno;
    }
    if (rc == 0)
        return LS_OK;
    snprintf(errstr, errsz, "lmdb %s \"%s\" failed: %s", step, e->dir, mdb_strerror(rc));
    return LS_EIO;
}

int ls_store_sync(ls_store_t *st, char *errstr, size_t errsz)
{
    int out = LS_OK;
    for (int i = 0; i < st->n_parts; i++) {
        char err[512];
        if (st->parts[i] && penv_sync(st->parts[i], err, sizeof(err)) != LS_OK && out == LS_OK) {
            snprintf(errstr, errsz, "%s", err);   /* the first failure; the others are still synced */
            out = LS_EIO;
        }
    }
    return out;
}

int ls_store_was_discarded(const ls_store_t *st)
{
    return st->discarded;
}

int ls_store_is_deferred(const ls_store_t *st)
{
    return st->want_deferred;
}

void ls_store_destroy(ls_store_t *st)
{
    if (!st)
        return;
    char err[512];
    if (ls_store_sync(st, err, sizeof(err)) != LS_OK)
        ls_warn("lmdb store \"%s\" closed with unsynced writes, a reboot before the next sync discards it: %s",
                st->dir, err);
    free_store(st);
}

/* CLOCK_MONOTONIC in seconds, for the write timings. */
static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ls_store_set_write_timing(ls_store_t *st, ls_store_timing_cb_t cb, void *ud)
{
    st->timing = cb;
    st->timing_ud = ud;
}

/*
 * Writes into a large tree at random keys (rollup rows: one new enrollment per
 * activity) fault in pages all over the map, and the kernel maps up to 16
 * pages around each fault: the resident map grew by ~250 MB a second in bench
 * c, faster than the once-a-second trim of the worker's loop. So every write
 * also looks at the map, at most every TRIM_LOOK_S.
 */
#define TRIM_LOOK_S 0.05
static void trim_after_write(ls_store_t *st)
{
    if (st->resident_max == 0)
        return;
    double now = mono_s();
    if (now < st->next_trim_look)
        return;
    st->next_trim_look = now + TRIM_LOOK_S;
    ls_store_trim_map(st);
}

/*
 * End a write transaction of begin_write(): commit it when rc is 0, else
 * abort it; the timing callback gets the lock wait and the commit time.
 * rc, or the commit's LMDB code.
 */
static int end_write(penv_t *e, MDB_txn *txn, int rc)
{
    double commit_s = 0;
    if (rc == 0) {
        double t0 = mono_s();
        rc = mdb_txn_commit(txn);
        commit_s = mono_s() - t0;
    } else {
        mdb_txn_abort(txn);
    }
    if (e->st->timing)
        e->st->timing(e->st->wait_s, mono_s() - e->st->locked_at, commit_s, e->st->timing_ud);
    trim_after_write(e->st);
    return rc;
}

/*
 * Begin a write transaction on partition's environment (*ep); a deferred
 * store first makes sure the environment's unsynced marker is on disk.
 */
static int begin_write(ls_store_t *st, penv_t **ep, MDB_txn **txn, int partition, char *errstr, size_t errsz)
{
    penv_t *e = *ep = part_env(st, partition, errstr, errsz);
    if (!e)
        return partition < 0 || partition > 0xffff ? LS_EINVAL : LS_EIO;
    double t0 = mono_s();
    int rc = mdb_txn_begin(e->env, NULL, 0, txn);
    st->locked_at = mono_s();
    st->wait_s = st->locked_at - t0;   /* LMDB's writer lock: held by another process's write, or free */
    if (rc != 0) {
        snprintf(errstr, errsz, "lmdb write of partition %d failed: %s", partition, mdb_strerror(rc));
        return map_err(rc);
    }
    if (e->deferred && (rc = mark_unsynced(e, errstr, errsz)) != LS_OK)
        mdb_txn_abort(*txn);
    return rc;
}

/* u16 partition | a (sync and checkpoint keys) into buf; returns length or -1 if too long. */
static int make_key(char *buf, int partition, const char *a)
{
    size_t la = strlen(a);
    if (2 + la > KEY_MAX || partition < 0 || partition > 0xffff)
        return -1;
    buf[0] = (char)((partition >> 8) & 0xff);
    buf[1] = (char)(partition & 0xff);
    memcpy(buf + 2, a, la);
    return (int)(2 + la);
}

/* u16 partition | u32 connection number | la bytes of act into buf; returns length or -1 if too long. */
static int make_row_key(char *buf, int partition, uint32_t num, const void *act, size_t la)
{
    if (ACT_PREFIX + la > KEY_MAX || partition < 0 || partition > 0xffff)
        return -1;
    buf[0] = (char)((partition >> 8) & 0xff);
    buf[1] = (char)(partition & 0xff);
    put_be32((uint8_t *)buf + 2, num);
    if (la) /* act may be NULL for a bare prefix */
        memcpy(buf + ACT_PREFIX, act, la);
    return (int)(ACT_PREFIX + la);
}

/* u16 partition | u32 connection number | activity id (activities and pending keys). */
static int make_act_key(char *buf, int partition, uint32_t num, const char *act)
{
    return make_row_key(buf, partition, num, act, strlen(act));
}

/*
 * The number of conn as seen by txn: the cache, the write transaction's own
 * new numbers, then conns (a number found there is committed: cached).
 * 0, MDB_NOTFOUND (none; also for "", which cannot have one), MDB_BAD_VALSIZE
 * (id longer than a key) or an LMDB code.
 */
static int conn_find(penv_t *e, MDB_txn *txn, const char *conn, uint32_t *num)
{
    const uint32_t *c = ls_strmap_get(e->nums, conn);
    if (!c && ls_strmap_count(e->fresh))
        c = ls_strmap_get(e->fresh, conn);
    if (c) {
        *num = *c;
        return 0;
    }
    size_t len = strlen(conn);
    if (len == 0 || len > KEY_MAX)
        return len ? MDB_BAD_VALSIZE : MDB_NOTFOUND;
    MDB_val k = {len, (void *)conn}, v;
    int rc = mdb_get(txn, e->conns, &k, &v);
    if (rc != 0)
        return rc;
    if (v.mv_size != 4)
        return MDB_CORRUPTED;
    *num = get_be32(v.mv_data);
    uint32_t *slot = ls_strmap_put(e->nums, conn, NULL);
    if (slot)   /* out of memory: only the cache misses it */
        *slot = *num;
    return 0;
}

/* conn_find(), giving out the next number (in write transaction txn) when conn has none. An LMDB code. */
static int conn_intern(penv_t *e, MDB_txn *txn, const char *conn, uint32_t *num)
{
    int rc = conn_find(e, txn, conn, num);
    if (rc != MDB_NOTFOUND)
        return rc;
    if (!*conn)
        return MDB_BAD_VALSIZE;   /* LMDB keys are never empty */
    MDB_val ck = {sizeof(counter_key), (void *)counter_key}, k = {strlen(conn), (void *)conn}, v;
    uint8_t buf[4];
    uint32_t last = 0;
    rc = mdb_get(txn, e->conns, &ck, &v);
    if (rc == 0 && v.mv_size != 4)
        return MDB_CORRUPTED;
    if (rc == 0)
        last = get_be32(v.mv_data);
    else if (rc != MDB_NOTFOUND)
        return rc;
    if (last == UINT32_MAX)
        return EOVERFLOW;   /* 4 billion connections: never in practice */
    put_be32(buf, *num = last + 1);
    v = (MDB_val){sizeof(buf), buf};
    rc = mdb_put(txn, e->conns, &ck, &v, 0);
    if (rc == 0)
        rc = mdb_put(txn, e->conns, &k, &v, MDB_NOOVERWRITE);
    if (rc != 0)
        return rc;
    uint32_t *slot = ls_strmap_put(e->fresh, conn, NULL);
    if (!slot)
        return ENOMEM;
    *slot = *num;
    return 0;
}

static int settle_one(const char *conn, void *value, void *ud)
{
    uint32_t *slot = ls_strmap_put(ud, conn, NULL);
    if (slot)
        *slot = *(const uint32_t *)value;
    return 1;
}

static int drop_one(const char *conn, void *value, void *ud)
{
    (void)conn, (void)value, (void)ud;
    return 1;
}

/* After a write transaction: its new numbers join the cache when it committed, else are forgotten. */
static void conns_settle(penv_t *e, int committed)
{
    if (ls_strmap_count(e->fresh))
        ls_strmap_sweep(e->fresh, committed ? settle_one : drop_one, e->nums);
}

/*
 * Make partition's read transaction r's current one (r->e, r->txn), opening
 * the environment and beginning the transaction at the partition's first
 * read. 0, LS_EINVAL (partition out of range) or LS_EIO (with a log line:
 * the reader calls have no errstr).
 */
static int reader_at(ls_store_reader_t *r, int partition)
{
    if (r->e && r->e->partition == partition)
        return LS_OK;
    for (size_t i = 0; i < r->n; i++)
        if (r->txns[i].e->partition == partition) {
            r->e = r->txns[i].e;
            r->txn = r->txns[i].txn;
            return LS_OK;
        }
    if (partition < 0 || partition > 0xffff)
        return LS_EINVAL;
    char err[512];
    penv_t *e = part_env(r->st, partition, err, sizeof(err));
    MDB_txn *txn = NULL;
    int rc = e ? mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn) : 0;
    if (e && rc != 0)
        snprintf(err, sizeof(err), "lmdb read transaction of partition %d failed: %s", partition, mdb_strerror(rc));
    if (e && rc == 0 && r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 4;
        rtxn_t *t = realloc(r->txns, cap * sizeof(*t));
        if (t) {
            r->txns = t;
            r->cap = cap;
        } else {
            mdb_txn_abort(txn);
            snprintf(err, sizeof(err), "out of memory");
            rc = ENOMEM;
        }
    }
    if (!e || rc != 0) {
        ls_warn("%s", err);
        return LS_EIO;
    }
    r->txns[r->n++] = (rtxn_t){e, txn};
    r->e = e;
    r->txn = txn;
    return LS_OK;
}

/* A reader's key of (partition, conn, act): 0, LS_ENOTFOUND (conn has no number), LS_EINVAL or LS_EIO. */
static int reader_key(ls_store_reader_t *r, int partition, const char *conn, const char *act, char *kbuf, int *kl)
{
    uint32_t num;
    int rc = reader_at(r, partition);
    if (rc != LS_OK)
        return rc;
    rc = conn_find(r->e, r->txn, conn, &num);
    if (rc != 0)
        return map_err(rc);
    *kl = make_act_key(kbuf, partition, num, act);
    return *kl < 0 ? LS_EINVAL : LS_OK;
}

ls_store_reader_t *ls_store_reader_new(ls_store_t *st, char *errstr, size_t errsz)
{
    ls_store_reader_t *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(errstr, errsz, "out of memory");
        return NULL;
    }
    r->st = st;   /* the transactions begin at each partition's first read */
    return r;
}

void ls_store_reader_destroy(ls_store_reader_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        mdb_txn_abort(r->txns[i].txn);
    free(r->txns);
    free(r);
}

int ls_store_reader_get(ls_store_reader_t *r, int partition, const char *connection_id,
                        const char *activity_id, const uint8_t **state, size_t *len)
{
    char kbuf[KEY_MAX + 1];
    int kl, rc = reader_key(r, partition, connection_id, activity_id, kbuf, &kl);
    if (rc != LS_OK)
        return rc;
    MDB_val k = {(size_t)kl, kbuf}, v;
    rc = mdb_get(r->txn, r->e->activities, &k, &v);
    if (rc != 0)
        return map_err(rc);
    *state = v.mv_data;
    *len = v.mv_size;
    return LS_OK;
}

int ls_store_reader_get_pending(ls_store_reader_t *r, int partition, const char *connection_id,
                                const char *activity_id, int *misses)
{
    char kbuf[KEY_MAX + 1];
    *misses = 0;
    int kl, rc = reader_key(r, partition, connection_id, activity_id, kbuf, &kl);
    if (rc != LS_OK)
        return rc;
    MDB_val k = {(size_t)kl, kbuf}, v;
    rc = mdb_get(r->txn, r->e->pending, &k, &v);
    if (rc != 0)
        return map_err(rc);
    if (v.mv_size != 1)
        return LS_EIO;
    *misses = ((const uint8_t *)v.mv_data)[0];
    return LS_OK;
}

/*
 * Call cb(key, value) for every key of dbi that starts with prefix (pl bytes)
 * and is longer, in key order, inside txn; a long walk trims the map now and
 * then. 0 after the last, cb's non-zero value, or an LS_E* code.
 */
static int walk_range(ls_store_t *st, MDB_txn *txn, MDB_dbi dbi, const char *prefix, size_t pl,
                      int (*cb)(const MDB_val *k, const MDB_val *v, void *ud), void *ud)
{
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, dbi, &cur) != 0)
        return LS_EIO;
    MDB_val k = {pl, (void *)prefix}, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE), out = LS_OK;
    unsigned long walked = 0;
    while (rc == 0 && k.mv_size > pl && memcmp(k.mv_data, prefix, pl) == 0) {
        if ((out = cb(&k, &v, ud)) != 0)
            break;
        if (++walked % TRIM_EVERY == 0) /* a long walk touches the whole range: keep it from staying resident */
            ls_store_trim_map(st);
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (out != 0)
        return out;
    return rc == 0 || rc == MDB_NOTFOUND ? LS_OK : map_err(rc);
}

typedef struct foreach_ud {
    size_t pl;
    int (*cb)(const char *activity_id, const uint8_t *state, size_t len, void *ud);
    void *ud;
} foreach_ud_t;

static int foreach_one(const MDB_val *k, const MDB_val *v, void *ud)
{
    foreach_ud_t *f = ud;
    char id[KEY_MAX + 1];
    size_t il = k->mv_size - f->pl;
    memcpy(id, (const char *)k->mv_data + f->pl, il);
    id[il] = '\0';
    return f->cb(id, v->mv_data, v->mv_size, f->ud);
}

int ls_store_reader_foreach(ls_store_reader_t *r, int partition, const char *connection_id,
                            int (*cb)(const char *activity_id, const uint8_t *state, size_t len, void *ud),
                            void *ud)
{
    char prefix[ACT_PREFIX + 1];
    int pl, rc = reader_key(r, partition, connection_id, "", prefix, &pl);   /* u16 | u32 */
    if (rc == LS_ENOTFOUND)
        return LS_OK;   /* no number: no records */
    if (rc != LS_OK)
        return rc;
    foreach_ud_t f = {(size_t)pl, cb, ud};
    return walk_range(r->st, r->txn, r->e->activities, prefix, (size_t)pl, foreach_one, &f);
}

/* A reader's key of a rollup row: as reader_key(). */
static int reader_row_key(ls_store_reader_t *r, ls_store_ru_t db, int partition, const char *conn,
                          const uint8_t *key, size_t klen, char *kbuf, int *kl)
{
    uint32_t num;
    if ((unsigned)db >= LS_STORE_RU__COUNT)
        return LS_EINVAL;
    int rc = reader_at(r, partition);
    if (rc != LS_OK)
        return rc;
    rc = conn_find(r->e, r->txn, conn, &num);
    if (rc != 0)
        return map_err(rc);
    *kl = make_row_key(kbuf, partition, num, key, klen);
    return *kl < 0 ? LS_EINVAL : LS_OK;
}

int ls_store_reader_get_row(ls_store_reader_t *r, ls_store_ru_t db, int partition, const char *connection_id,
                            const uint8_t *key, size_t klen, const uint8_t **val, size_t *vlen)
{
    char kbuf[KEY_MAX + 1];
    int kl, rc = reader_row_key(r, db, partition, connection_id, key, klen, kbuf, &kl);
    if (rc != LS_OK)
        return rc;
    MDB_val k = {(size_t)kl, kbuf}, v;
    rc = mdb_get(r->txn, r->e->ru[db], &k, &v);
    if (rc != 0)
        return map_err(rc);
    *val = v.mv_data;
    *vlen = v.mv_size;
    return LS_OK;
}

typedef struct scan_ud {
    int (*cb)(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *ud);
    void *ud;
} scan_ud_t;

static int scan_one(const MDB_val *k, const MDB_val *v, void *ud)
{
    scan_ud_t *s = ud;
    return s->cb((const uint8_t *)k->mv_data + ACT_PREFIX, k->mv_size - ACT_PREFIX, v->mv_data, v->mv_size, s->ud);
}

int ls_store_reader_scan(ls_store_reader_t *r, ls_store_ru_t db, int partition, const char *connection_id,
                         const uint8_t *prefix, size_t plen,
                         int (*cb)(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *ud),
                         void *ud)
{
    char kbuf[KEY_MAX + 1];
    int kl, rc = reader_row_key(r, db, partition, connection_id, prefix, plen, kbuf, &kl);
    if (rc == LS_ENOTFOUND)
        return LS_OK;   /* no number: no rows */
    if (rc != LS_OK)
        return rc;
    scan_ud_t s = {cb, ud};
    return walk_range(r->st, r->txn, r->e->ru[db], kbuf, (size_t)kl, scan_one, &s);
}

int ls_store_reader_get_sync(ls_store_reader_t *r, int partition, const char *scope,
                             char *buf, size_t bufsz)
{
    char kbuf[KEY_MAX + 1];
    int kl = make_key(kbuf, partition, scope), rc;
    if (kl < 0)
        return LS_EINVAL;
    if ((rc = reader_at(r, partition)) != LS_OK)
        return rc;
    MDB_val k = {(size_t)kl, kbuf}, v;
    rc = mdb_get(r->txn, r->e->sync, &k, &v);
    if (rc != 0)
        return map_err(rc);
    if (v.mv_size >= bufsz)
        return LS_EFULL;
    memcpy(buf, v.mv_data, v.mv_size);
    buf[v.mv_size] = '\0';
    return LS_OK;
}

static int apply_puts(penv_t *e, MDB_txn *txn, int partition, uint32_t num,
                      const ls_store_put_t *puts, size_t n)
{
    char kbuf[KEY_MAX + 1];
    for (size_t i = 0; i < n; i++) {
        int kl = make_act_key(kbuf, partition, num, puts[i].activity_id);
        if (kl < 0)
            return MDB_BAD_VALSIZE;
        MDB_val k = {(size_t)kl, kbuf}, v = {puts[i].len, (void *)puts[i].state};
        int rc = puts[i].len ? mdb_put(txn, e->activities, &k, &v, 0)
                             : mdb_del(txn, e->activities, &k, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
    }
    return 0;
}

static int apply_marks(penv_t *e, MDB_txn *txn, int partition, uint32_t num,
                       const ls_store_mark_t *marks, size_t n)
{
    char kbuf[KEY_MAX + 1];
    for (size_t i = 0; i < n; i++) {
        int kl = make_act_key(kbuf, partition, num, marks[i].activity_id);
        if (kl < 0)
            return MDB_BAD_VALSIZE;
        uint8_t m = (uint8_t)(marks[i].misses > 255 ? 255 : marks[i].misses);
        MDB_val k = {(size_t)kl, kbuf}, v = {1, &m};
        int rc = m ? mdb_put(txn, e->pending, &k, &v, 0) : mdb_del(txn, e->pending, &k, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
    }
    return 0;
}

/* Checkpoint time: key u16 partition | 't' in checkpoints, value i64 wall-clock ms. */
static int put_checkpoint_time(penv_t *e, MDB_txn *txn, int partition, int64_t ms)
{
    char kbuf[4];
    int kl = make_key(kbuf, partition, "t");
    MDB_val k = {(size_t)kl, kbuf}, v = {sizeof(ms), &ms};
    return mdb_put(txn, e->checkpoints, &k, &v, 0);
}

/* The rollups-stale marker: key u16 partition | 'r' in checkpoints (value 1), deleted when on is 0. */
static int put_stale(penv_t *e, MDB_txn *txn, int partition, int on)
{
    char kbuf[4];
    uint8_t one = 1;
    int kl = make_key(kbuf, partition, "r");
    MDB_val k = {(size_t)kl, kbuf}, v = {1, &one};
    int rc = on ? mdb_put(txn, e->checkpoints, &k, &v, 0) : mdb_del(txn, e->checkpoints, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* A read transaction on partition's environment (*ep): an LMDB code, EINVAL or EIO (logged) when no environment. */
static int begin_read(ls_store_t *st, int partition, penv_t **ep, MDB_txn **txn)
{
    char err[512];
    if (!(*ep = part_env(st, partition, err, sizeof(err)))) {
        ls_warn("%s", err);
        return partition < 0 || partition > 0xffff ? EINVAL : EIO;
    }
    return mdb_txn_begin((*ep)->env, NULL, MDB_RDONLY, txn);
}

int ls_store_mark_rollups_stale(ls_store_t *st, int partition, char *errstr, size_t errsz)
{
    penv_t *e;
    MDB_txn *txn;
    int rc = begin_write(st, &e, &txn, partition, errstr, errsz);
    if (rc != LS_OK)
        return rc;
    rc = end_write(e, txn, put_stale(e, txn, partition, 1));
    if (rc == 0)
        return LS_OK;
    snprintf(errstr, errsz, "cannot mark the rollups of partition %d stale: %s", partition, mdb_strerror(rc));
    return LS_EIO;
}

int ls_store_rollups_stale(ls_store_t *st, int partition)
{
    char kbuf[4];
    int kl = make_key(kbuf, partition, "r");
    penv_t *e;
    MDB_txn *txn;
    if (kl < 0 || begin_read(st, partition, &e, &txn) != 0)
        return LS_EIO;
    MDB_val k = {(size_t)kl, kbuf}, v;
    int rc = mdb_get(txn, e->checkpoints, &k, &v);
    mdb_txn_abort(txn);
    return rc == 0 ? 1 : rc == MDB_NOTFOUND ? 0 : LS_EIO;
}

/* The write error message; a full map names the setting that fixes it. */
static void write_error(const penv_t *e, int partition, int rc, char *errstr, size_t errsz)
{
    if (rc == MDB_MAP_FULL)
        snprintf(errstr, errsz, "lmdb map full while writing partition %d: setting 'worker.lmdb_map_mb' "
                 "(%zu MB, the map of each partition) is too small for the partition's state; raise it and "
                 "restart the worker", partition, e->st->map_mb);
    else
        snprintf(errstr, errsz, "lmdb write of partition %d failed: %s", partition, mdb_strerror(rc));
}

static int put_meta(penv_t *e, MDB_txn *txn, int partition, int64_t checkpoint,
                    const char *scope, const char *sync_json)
{
    char kbuf[KEY_MAX + 1];
    int rc = 0;
    if (checkpoint >= 0) {
        int kl = make_key(kbuf, partition, "");
        MDB_val k = {(size_t)kl, kbuf}, v = {sizeof(checkpoint), &checkpoint};
        rc = mdb_put(txn, e->checkpoints, &k, &v, 0);
        if (rc == 0) /* when this environment last caught up with the changelog */
            rc = put_checkpoint_time(e, txn, partition, ls_time_now_ms());
    }
    if (rc == 0 && scope && sync_json) {
        int kl = make_key(kbuf, partition, scope);
        if (kl < 0)
            return MDB_BAD_VALSIZE;
        MDB_val k = {(size_t)kl, kbuf}, v = {strlen(sync_json), (void *)sync_json};
        rc = mdb_put(txn, e->sync, &k, &v, 0);
    }
    return rc;
}

/*
 * The puts and marks of one connection. Only a stored state or a marker
 * needs a number; deletes of a connection without number have nothing to do.
 */
static int apply_rows(penv_t *e, MDB_txn *txn, int partition, uint32_t num, const ls_store_row_t *rows,
                      size_t n)
{
    char kbuf[KEY_MAX + 1];
    for (size_t i = 0; i < n; i++) {
        int kl = make_row_key(kbuf, partition, num, rows[i].key, rows[i].klen);
        if (kl < 0 || (unsigned)rows[i].db >= LS_STORE_RU__COUNT)
            return MDB_BAD_VALSIZE;
        MDB_val k = {(size_t)kl, kbuf}, v = {rows[i].vlen, (void *)rows[i].val};
        MDB_dbi dbi = e->ru[rows[i].db];
        int rc = rows[i].vlen ? mdb_put(txn, dbi, &k, &v, 0) : mdb_del(txn, dbi, &k, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
    }
    return 0;
}

/* Whether a write needs the connection's number: something is stored, not only deleted. */
static int needs_number(const ls_store_put_t *puts, size_t n, const ls_store_mark_t *marks, size_t nm,
                        const ls_store_row_t *rows, size_t nr)
{
    for (size_t i = 0; i < n; i++)
        if (puts[i].len > 0)
            return 1;
    for (size_t i = 0; i < nm; i++)
        if (marks[i].misses > 0)
            return 1;
    for (size_t i = 0; i < nr; i++)
        if (rows[i].vlen > 0)
            return 1;
    return 0;
}

static int apply_conn(penv_t *e, MDB_txn *txn, int partition, const char *conn,
                      const ls_store_put_t *puts, size_t n, const ls_store_mark_t *marks, size_t nm,
                      const ls_store_row_t *rows, size_t nr)
{
    if (n == 0 && nm == 0 && nr == 0)
        return 0;
    int need = needs_number(puts, n, marks, nm, rows, nr);
    uint32_t num;
    int rc = need ? conn_intern(e, txn, conn, &num) : conn_find(e, txn, conn, &num);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc == 0)
        rc = apply_puts(e, txn, partition, num, puts, n);
    if (rc == 0)
        rc = apply_marks(e, txn, partition, num, marks, nm);
    if (rc == 0)
        rc = apply_rows(e, txn, partition, num, rows, nr);
    return rc;
}

int ls_store_commit_page(ls_store_t *st, int partition, const char *connection_id,
                         const ls_store_put_t *puts, size_t n, int64_t checkpoint,
                         const char *scope, const char *sync_json, char *errstr, size_t errsz)
{
    return ls_store_commit(st, partition, connection_id, puts, n, NULL, 0, checkpoint, scope, sync_json,
                           errstr, errsz);
}

int ls_store_commit(ls_store_t *st, int partition, const char *connection_id,
                    const ls_store_put_t *puts, size_t n, const ls_store_mark_t *marks, size_t nm,
                    int64_t checkpoint, const char *scope, const char *sync_json,
                    char *errstr, size_t errsz)
{
    return ls_store_commit_rows(st, partition, connection_id, puts, n, marks, nm, NULL, 0, checkpoint, scope,
                                sync_json, errstr, errsz);
}

int ls_store_commit_rows(ls_store_t *st, int partition, const char *connection_id,
                         const ls_store_put_t *puts, size_t n, const ls_store_mark_t *marks, size_t nm,
                         const ls_store_row_t *rows, size_t nr, int64_t checkpoint, const char *scope,
                         const char *sync_json, char *errstr, size_t errsz)
{
    penv_t *e;
    MDB_txn *txn;
    int rc = begin_write(st, &e, &txn, partition, errstr, errsz);
    if (rc != LS_OK)
        return rc;
    rc = apply_conn(e, txn, partition, connection_id, puts, n, marks, nm, rows, nr);
    if (rc == 0)
        rc = put_meta(e, txn, partition, checkpoint, scope, sync_json);
    rc = end_write(e, txn, rc);
    conns_settle(e, rc == 0);
    if (rc != 0)
        write_error(e, partition, rc, errstr, errsz);
    return map_err(rc);
}

/*
 * Close partition's environment when its data.mdb is no longer the file this
 * process opened (another process compacted it: ls_store_compact_partition()),
 * so that the next use opens the new one. The restore reads the checkpoint
 * first when a partition is assigned, so a new owner never writes a replaced file.
 */
static void reopen_if_replaced(ls_store_t *st, int partition)
{
    penv_t *e = partition >= 0 && partition < st->n_parts ? st->parts[partition] : NULL;
    char data[4096];
    struct stat sb;
    if (!e)
        return;
    snprintf(data, sizeof(data), "%s/data.mdb", e->dir);
    if (stat(data, &sb) == 0 && sb.st_ino == e->data.st_ino && sb.st_dev == e->data.st_dev)
        return;
    ls_info("lmdb store \"%s\": reopened (its file was replaced by a compaction)", e->dir);
    free_penv(e);
    st->parts[partition] = NULL;
}

/* Read one i64 of the checkpoints db: key u16 partition | suffix. */
static int get_i64(ls_store_t *st, int partition, const char *suffix, int64_t *out)
{
    char kbuf[4];
    int kl = make_key(kbuf, partition, suffix);
    penv_t *e;
    MDB_txn *txn;
    if (kl < 0)
        return LS_EINVAL;
    reopen_if_replaced(st, partition);
    int rc = begin_read(st, partition, &e, &txn);
    if (rc != 0)
        return map_err(rc);
    MDB_val k = {(size_t)kl, kbuf}, v;
    rc = mdb_get(txn, e->checkpoints, &k, &v);
    if (rc == 0 && v.mv_size == sizeof(*out))
        memcpy(out, v.mv_data, sizeof(*out));
    else if (rc == 0)
        rc = MDB_CORRUPTED;
    mdb_txn_abort(txn);
    return map_err(rc);
}

int ls_store_get_checkpoint(ls_store_t *st, int partition, int64_t *offset)
{
    return get_i64(st, partition, "", offset);
}

long ls_store_count(ls_store_t *st, int partition)
{
    penv_t *e;
    MDB_txn *txn;
    MDB_cursor *cur;
    if (begin_read(st, partition, &e, &txn) != 0)
        return -1;
    if (mdb_cursor_open(txn, e->activities, &cur) != 0) {
        mdb_txn_abort(txn);
        return -1;
    }
    char kbuf[2] = {(char)((partition >> 8) & 0xff), (char)(partition & 0xff)};
    MDB_val k = {2, kbuf}, v;
    long n = 0;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= 2 && memcmp(k.mv_data, kbuf, 2) == 0) {
        n++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return n;
}

int ls_store_get_checkpoint_time(ls_store_t *st, int partition, int64_t *ms)
{
    return get_i64(st, partition, "t", ms);
}

/* One changelog record into activities (put or delete) and its marker cleared. */
static int apply_rec(penv_t *e, MDB_txn *txn, int partition, const ls_store_rec_t *r)
{
    char kbuf[KEY_MAX + 1];
    uint32_t num;
    int rc = r->len ? conn_intern(e, txn, r->connection_id, &num) : conn_find(e, txn, r->connection_id, &num);
    if (rc != 0)   /* a tombstone of a connection without number: nothing stored */
        return rc == MDB_NOTFOUND ? 0 : rc;
    int kl = make_act_key(kbuf, partition, num, r->activity_id);
    if (kl < 0)
        return MDB_BAD_VALSIZE;
    MDB_val k = {(size_t)kl, kbuf}, v = {r->len, (void *)r->state};
    rc = r->len ? mdb_put(txn, e->activities, &k, &v, 0) : mdb_del(txn, e->activities, &k, NULL);
    if (rc == 0 || rc == MDB_NOTFOUND)
        rc = mdb_del(txn, e->pending, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int ls_store_apply_changelog(ls_store_t *st, int partition, const ls_store_rec_t *recs, size_t n,
                             int64_t checkpoint, char *errstr, size_t errsz)
{
    penv_t *e;
    MDB_txn *txn;
    int rc = begin_write(st, &e, &txn, partition, errstr, errsz);
    if (rc != LS_OK)
        return rc;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = apply_rec(e, txn, partition, &recs[i]);
    if (rc == 0 && n > 0)   /* states changed without their rollup rows: rebuild before the next job */
        rc = put_stale(e, txn, partition, 1);
    if (rc == 0)
        rc = put_meta(e, txn, partition, checkpoint, NULL, NULL);
    rc = end_write(e, txn, rc);
    conns_settle(e, rc == 0);
    if (rc != 0)
        write_error(e, partition, rc, errstr, errsz);
    return map_err(rc);
}

/* Delete up to max keys of dbi that start with the 2-byte partition prefix; *left = 1 if more remain. */
static int wipe_some(MDB_txn *txn, MDB_dbi dbi, const char *prefix, size_t max, int *left)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc != 0)
        return rc;
    MDB_val k = {2, (void *)prefix}, v;
    size_t n = 0;
    *left = 0;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= 2 && memcmp(k.mv_data, prefix, 2) == 0) {
        if (n++ == max) {
            *left = 1;
            break;
        }
        if ((rc = mdb_cursor_del(cur, 0)) == 0) {
            k = (MDB_val){2, (void *)prefix};   /* seek again: simplest safe cursor use after a delete */
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

#define WIPE_CHUNK 5000

int ls_store_wipe_partition(ls_store_t *st, int partition, char *errstr, size_t errsz)
{
    if (partition < 0 || partition > 0xffff)
        return LS_EINVAL;
    char prefix[2] = {(char)((partition >> 8) & 0xff), (char)(partition & 0xff)};
    penv_t *e = part_env(st, partition, errstr, errsz);
    if (!e)
        return LS_EIO;
    /* the checkpoints go first and alone: a crash mid-wipe leaves no checkpoint,
     * and no checkpoint always means "wipe, then restore from the beginning" */
    MDB_dbi order[] = {e->checkpoints, e->activities, e->pending, e->sync, e->catalog,
                       e->ru[LS_STORE_RU_MEMBERS], e->ru[LS_STORE_RU_ENROLLMENTS], e->ru[LS_STORE_RU_COURSES]};
    int rc = 0;
    for (size_t d = 0; rc == 0 && d < sizeof(order) / sizeof(order[0]); d++) {
        int left = 1;
        while (rc == 0 && left) {
            MDB_txn *txn;
            int brc = begin_write(st, &e, &txn, partition, errstr, errsz);
            if (brc != LS_OK)
                return brc;
            rc = wipe_some(txn, order[d], prefix, WIPE_CHUNK, &left);
            rc = end_write(e, txn, rc);
        }
    }
    if (rc != 0)
        snprintf(errstr, errsz, "lmdb wipe of partition %d failed: %s", partition, mdb_strerror(rc));
    return map_err(rc);
}

/* ---- rollup rebuild ---- */

typedef struct rebuild {
    penv_t *e;
    MDB_txn *txn;
    int partition;
    int64_t enrollments;
    char *errstr;
    size_t errsz;
} rebuild_t;

/* Add member m (key: enrollment key | act) to its enrollment row (read, add, write). An LMDB code. */
static int rebuild_enrollment(rebuild_t *b, uint32_t num, const uint8_t *ekey, const ls_ru_member_t *m,
                              const char *course, const char *student)
{
    char kbuf[KEY_MAX + 1];
    uint8_t row[LS_RU_ENR_ROW_MAX];
    char c[LS_STR_MAX + 1], s[LS_STR_MAX + 1];
    int kl = make_row_key(kbuf, b->partition, num, ekey, LS_RU_ENR_KEY);
    MDB_val k = {(size_t)kl, kbuf}, v;
    ls_ru_enr_t e;
    int rc = mdb_get(b->txn, b->e->ru[LS_STORE_RU_ENROLLMENTS], &k, &v);
    if (rc == MDB_NOTFOUND) {
        ls_ru_enr_init(&e);
        b->enrollments++;
    } else if (rc != 0 || ls_ru_enr_row_unpack(v.mv_data, v.mv_size, &e, c, s) != LS_OK) {
        return rc ? rc : MDB_CORRUPTED;
    }
    ls_ru_enr_add(&e, m);
    v = (MDB_val){ls_ru_enr_row_pack(&e, course, student, row), row};
    return mdb_put(b->txn, b->e->ru[LS_STORE_RU_ENROLLMENTS], &k, &v, 0);
}

/* One stored state: its member row and its share of its enrollment. */
static int rebuild_one(const MDB_val *k, const MDB_val *v, void *ud)
{
    rebuild_t *b = ud;
    ls_activity_t a;
    const char *course, *student;
    ls_ru_member_t m;
    size_t il = k->mv_size - ACT_PREFIX;
    if (ls_state_unpack(v->mv_data, v->mv_size, &a) != LS_OK) {
        snprintf(b->errstr, b->errsz, "rollup rebuild of partition %d: the stored state of activity \"%.*s\" "
                 "does not decode", b->partition, (int)(il > 200 ? 200 : il), (const char *)k->mv_data + ACT_PREFIX);
        return LS_EINVAL;
    }
    if (!ls_ru_member_from_activity(&a, &m, &course, &student))
        return 0;
    uint32_t num = get_be32((const uint8_t *)k->mv_data + 2);
    uint8_t mkey[LS_RU_ENR_KEY + LS_STR_MAX], mval[LS_RU_MEMBER_LEN];
    char kbuf[KEY_MAX + 1];
    ls_ru_enr_key(course, student, mkey);
    memcpy(mkey + LS_RU_ENR_KEY, (const char *)k->mv_data + ACT_PREFIX, il);
    int kl = make_row_key(kbuf, b->partition, num, mkey, LS_RU_ENR_KEY + il);
    ls_ru_member_pack(&m, mval);
    MDB_val mk = {(size_t)kl, kbuf}, mv = {sizeof(mval), mval};
    int rc = kl < 0 ? MDB_BAD_VALSIZE : mdb_put(b->txn, b->e->ru[LS_STORE_RU_MEMBERS], &mk, &mv, 0);
    if (rc == 0)
        rc = rebuild_enrollment(b, num, mkey, &m, course, student);
    if (rc != 0)
        write_error(b->e, b->partition, rc, b->errstr, b->errsz);
    return rc == 0 ? 0 : rc == MDB_CORRUPTED ? LS_EINVAL : map_err(rc);
}

int ls_store_rebuild_rollups(ls_store_t *st, int partition, int64_t *enrollments, char *errstr, size_t errsz)
{
    if (partition < 0 || partition > 0xffff)
        return LS_EINVAL;
    char prefix[2] = {(char)((partition >> 8) & 0xff), (char)(partition & 0xff)};
    penv_t *e;
    MDB_txn *txn;
    int rc = begin_write(st, &e, &txn, partition, errstr, errsz), left = 0;
    if (rc != LS_OK)
        return rc;
    for (int d = 0; rc == 0 && d < LS_STORE_RU__COUNT; d++)
        rc = wipe_some(txn, e->ru[d], prefix, SIZE_MAX, &left);
    if (rc != 0) {
        end_write(e, txn, rc);
        write_error(e, partition, rc, errstr, errsz);
        return map_err(rc);
    }
    rebuild_t b = {e, txn, partition, 0, errstr, errsz};
    rc = walk_range(st, txn, e->activities, prefix, 2, rebuild_one, &b);
    if (rc == LS_OK && (rc = put_stale(e, txn, partition, 0)) != 0) {
        write_error(e, partition, rc, errstr, errsz);
        rc = map_err(rc);
    }
    if (rc != LS_OK) {
        end_write(e, txn, rc);
        return rc;
    }
    int mrc = end_write(e, txn, 0);
    if (mrc != 0) {
        write_error(e, partition, mrc, errstr, errsz);
        return map_err(mrc);
    }
    if (enrollments)
        *enrollments = b.enrollments;
    return LS_OK;
}

/* ---- catalog: course and content names ---- */

/* u16 partition | "conn/kind/id" into buf; returns length or -1 if too long. */
static int make_catalog_key(char *buf, int partition, const char *conn, ls_catalog_kind_t kind, const char *id)
{
    char tail[KEY_MAX + 1];
    int n = snprintf(tail, sizeof(tail), "%s/%s/%s", conn, ls_catalog_kind_name(kind), id);
    if (n < 0 || (size_t)n >= sizeof(tail) || !conn[0])
        return -1;
    return make_key(buf, partition, tail);
}

int ls_store_catalog_commit(ls_store_t *st, int partition, const char *connection_id, ls_catalog_kind_t kind,
                            const ls_catalog_item_t *items, size_t n, char *errstr, size_t errsz)
{
    penv_t *e;
    MDB_txn *txn;
    char kbuf[KEY_MAX + 1];
    uint8_t vbuf[LS_CATALOG_VALUE_MAX];
    int rc = begin_write(st, &e, &txn, partition, errstr, errsz);
    if (rc != LS_OK)
        return rc;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int kl = make_catalog_key(kbuf, partition, connection_id, kind, items[i].id);
        if (kl < 0) {
            rc = MDB_BAD_VALSIZE;
            break;
        }
        MDB_val k = {(size_t)kl, kbuf}, v = {ls_catalog_entry_pack(&items[i].e, vbuf), vbuf};
        rc = mdb_put(txn, e->catalog, &k, &v, 0);
    }
    rc = end_write(e, txn, rc);
    if (rc != 0)
        write_error(e, partition, rc, errstr, errsz);
    return map_err(rc);
}

int ls_store_catalog_get(ls_store_reader_t *r, int partition, const char *connection_id, ls_catalog_kind_t kind,
                         const char *id, ls_catalog_entry_t *out)
{
    char kbuf[KEY_MAX + 1];
    memset(out, 0, sizeof(*out));
    int kl = make_catalog_key(kbuf, partition, connection_id, kind, id), rc;
    if (kl < 0)
        return LS_EINVAL;
    if ((rc = reader_at(r, partition)) != LS_OK)
        return rc;
    MDB_val k = {(size_t)kl, kbuf}, v;
    rc = mdb_get(r->txn, r->e->catalog, &k, &v);
    if (rc != 0)
        return map_err(rc);
    return ls_catalog_entry_unpack(v.mv_data, v.mv_size, out) == LS_OK ? LS_OK : LS_EIO;
}

/* The catalog walk of ls_store_catalog_foreach() in the current partition of r. */
static int catalog_walk(ls_store_reader_t *r, const char *connection_id,
                        int (*cb)(int partition, ls_catalog_kind_t kind, const char *id,
                                  const ls_catalog_entry_t *e, void *ud),
                        void *ud)
{
    MDB_cursor *cur;
    MDB_val k = {0, NULL}, v;
    size_t cl = strlen(connection_id);
    if (mdb_cursor_open(r->txn, r->e->catalog, &cur) != 0)
        return LS_EIO;
    int out = 0, rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; rc == 0 && out == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const char *t = (const char *)k.mv_data + 2;
        size_t tl = k.mv_size - 2, sl;
        if (k.mv_size < 2 || tl <= cl + 1 || memcmp(t, connection_id, cl) != 0 || t[cl] != '/')
            continue;
        char rest[KEY_MAX + 1];
        memcpy(rest, t + cl + 1, tl - cl - 1);
        rest[tl - cl - 1] = '\0';
        ls_catalog_kind_t kind = LS_CATALOG_COURSE;
        while (kind < LS_CATALOG_N_KINDS && (strncmp(rest, ls_catalog_kind_name(kind), sl = strlen(ls_catalog_kind_name(kind))) ||
                                             rest[sl] != '/'))
            kind++;
        ls_catalog_entry_t e;
        if (kind == LS_CATALOG_N_KINDS || ls_catalog_entry_unpack(v.mv_data, v.mv_size, &e) != LS_OK)
            continue;
        int part = ((const uint8_t *)k.mv_data)[0] << 8 | ((const uint8_t *)k.mv_data)[1];
        out = cb(part, kind, rest + strlen(ls_catalog_kind_name(kind)) + 1, &e, ud);
    }
    mdb_cursor_close(cur);
    if (out != 0)
        return out;
    return rc == 0 || rc == MDB_NOTFOUND ? LS_OK : map_err(rc);
}

int ls_store_catalog_foreach(ls_store_reader_t *r, const char *connection_id,
                             int (*cb)(int partition, ls_catalog_kind_t kind, const char *id,
                                       const ls_catalog_entry_t *e, void *ud),
                             void *ud)
{
    int *parts = NULL, rc;
    size_t n = 0;
    if ((rc = list_partitions(r->st, &parts, &n)) != LS_OK)
        return rc == LS_ENOMEM ? rc : LS_EIO;
    for (size_t i = 0; rc == LS_OK && i < n; i++)
        if ((rc = reader_at(r, parts[i])) == LS_OK)
            rc = catalog_walk(r, connection_id, cb, ud);
    free(parts);
    return rc;
}

/* RssFile of this process in bytes (file-backed resident pages), -1 when unknown. */
static long long rss_file_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[128];
    long long kb = -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "RssFile: %lld kB", &kb) == 1)
            break;
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

/* Whether a line of /proc/self/maps maps the data.mdb of an open partition environment. */
static int is_env_map(const ls_store_t *st, unsigned maj, unsigned min, unsigned long ino)
{
    for (int i = 0; i < st->n_parts; i++) {
        const penv_t *e = st->parts[i];
        if (e && ino == (unsigned long)e->data.st_ino && maj == major(e->data.st_dev) &&
            min == minor(e->data.st_dev))
            return 1;
    }
    return 0;
}

/*
 * Drop the page-table entries of every open environment's map: the mappings
 * of /proc/self/maps with a data.mdb's inode (mdb_env_info's me_mapaddr is
 * only set with MDB_FIXEDMAP). The maps are shared read-only file mappings:
 * this loses nothing, the next access maps the page again from the page
 * cache (a minor fault). 1 when one was trimmed, else 0.
 */
static int trim_maps(const ls_store_t *st)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return 0;
    char line[4352];
    int trimmed = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi, ino;
        unsigned maj, min;
        if (sscanf(line, "%lx-%lx %*s %*s %x:%x %lu", &lo, &hi, &maj, &min, &ino) != 5 || ino == 0 ||
            !is_env_map(st, maj, min, ino))
            continue;
        if (madvise((void *)lo, hi - lo, MADV_DONTNEED) != 0)
            ls_warn("madvise(MADV_DONTNEED) of an lmdb map failed: %s", strerror(errno));
        else
            trimmed = 1;
    }
    fclose(f);
    return trimmed;
}

void ls_store_set_resident_max(ls_store_t *st, size_t max_bytes)
{
    st->resident_max = max_bytes;
}

int ls_store_trim_map(ls_store_t *st)
{
    if (st->resident_max == 0)
        return 0;
    long long rss = rss_file_bytes();
    if (rss < 0 || (unsigned long long)rss <= st->resident_max)
        return 0;
    return trim_maps(st);
}

int ls_store_usage(ls_store_t *st, uint64_t *used_bytes, uint64_t *map_bytes)
{
    *used_bytes = *map_bytes = 0;
    for (int i = 0; i < st->n_parts; i++) {
        MDB_envinfo info;
        MDB_stat ms;
        penv_t *e = st->parts[i];
        if (!e)
            continue;
        if (mdb_env_info(e->env, &info) != 0 || mdb_env_stat(e->env, &ms) != 0)
            return LS_EIO;
        *used_bytes += (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
        *map_bytes += (uint64_t)info.me_mapsize;
    }
    return LS_OK;
}

/* ---- compaction: a partition's databases copied in key order into a fresh environment ---- */

/* Delete a compaction's leftover directory (its LMDB files, then the directory). 0, or LS_EIO with errstr. */
static int remove_env_dir(const char *dir, char *errstr, size_t errsz)
{
    int had;
    struct stat sb;
    if (stat(dir, &sb) != 0 && errno == ENOENT)
        return LS_OK;
    if (remove_env(dir, "is a compaction's leftover", &had, errstr, errsz) != LS_OK ||
        remove_file(dir, "open.lock") != 0 || (rmdir(dir) != 0 && errno != ENOENT)) {
        snprintf(errstr, errsz, "setting 'worker.lmdb_path': cannot remove \"%s\": %s", dir, strerror(errno));
        return LS_EIO;
    }
    return LS_OK;
}

/*
 * At the store's open: "p-NNN.new" directories are compactions that did not
 * finish (the partition's own directory is then the authoritative one) or
 * old environments a finished one swapped out; both are deleted.
 */
static int remove_leftovers(const ls_store_t *st, char *errstr, size_t errsz)
{
    DIR *d = opendir(st->dir);
    if (!d)
        return LS_OK;   /* open_existing() reports an unreadable directory */
    int rc = LS_OK;
    struct dirent *de;
    while (rc == LS_OK && (de = readdir(d)) != NULL) {
        int part, end = 0;
        if (sscanf(de->d_name, "p-%5d.new%n", &part, &end) != 1 || de->d_name[end] || end == 0)
            continue;
        char *path = join(st->dir, de->d_name), own[4200];
        snprintf(own, sizeof(own), "%.*s", path ? (int)strlen(path) - 4 : 0, path ? path : "");   /* "<dir>/p-NNN" */
        /* a compaction in progress holds its partition's open lock: wait for it (its copy is not a leftover yet) */
        int lock = path ? lock_open(own, errstr, errsz) : -1;
        rc = path ? remove_env_dir(path, errstr, errsz) : LS_ENOMEM;
        if (lock >= 0)
            close(lock);
        free(path);
    }
    closedir(d);
    return rc;
}

/* Copy every record of dbi (src) into dst in key order, appending. An LMDB code; *n += records. */
static int copy_db(MDB_txn *src, MDB_dbi from, MDB_txn *dst, MDB_dbi to, size_t *n)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(src, from, &cur);
    if (rc != 0)
        return rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if ((rc = mdb_put(dst, to, &k, &v, MDB_APPEND)) != 0)
            break;
        (*n)++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Copy every database of e but meta (the fresh one has its format record) into n, in one transaction. */
static int copy_env(penv_t *e, penv_t *n, size_t *records)
{
    MDB_dbi from[] = {e->activities, e->sync, e->checkpoints, e->pending, e->conns, e->catalog,
                      e->ru[LS_STORE_RU_MEMBERS], e->ru[LS_STORE_RU_ENROLLMENTS], e->ru[LS_STORE_RU_COURSES]};
    MDB_dbi to[] = {n->activities, n->sync, n->checkpoints, n->pending, n->conns, n->catalog,
                    n->ru[LS_STORE_RU_MEMBERS], n->ru[LS_STORE_RU_ENROLLMENTS], n->ru[LS_STORE_RU_COURSES]};
    MDB_txn *src, *dst;
    int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &src);
    if (rc != 0)
        return rc;
    if ((rc = mdb_txn_begin(n->env, NULL, 0, &dst)) != 0) {
        mdb_txn_abort(src);
        return rc;
    }
    for (size_t i = 0; rc == 0 && i < sizeof(from) / sizeof(from[0]); i++)
        rc = copy_db(src, from[i], dst, to[i], records);
    mdb_txn_abort(src);
    if (rc == 0)
        rc = mdb_txn_commit(dst);
    else
        mdb_txn_abort(dst);
    return rc == 0 ? mdb_env_sync(n->env, 1) : rc;
}

/* Used bytes of an open environment (pages up to the last one written). */
static uint64_t env_used(const penv_t *e)
{
    MDB_envinfo info;
    MDB_stat ms;
    if (mdb_env_info(e->env, &info) != 0 || mdb_env_stat(e->env, &ms) != 0)
        return 0;
    return (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
}

/*
 * Build the compacted copy of e in "<dir>.new" (synced; then closed): 0 and
 * its used bytes in *after, or LS_E* with errstr (the copy's directory is
 * then deleted, the partition's own is untouched).
 */
static int build_copy(penv_t *e, const char *tmp, uint64_t *after, char *errstr, size_t errsz)
{
    penv_t *n = calloc(1, sizeof(*n));
    size_t records = 0;
    int rc = n && remove_env_dir(tmp, errstr, errsz) == LS_OK && (n->dir = strdup(tmp)) ? LS_OK : LS_EIO;
    if (rc == LS_OK && mkdir(tmp, 0750) != 0) {
        snprintf(errstr, errsz, "lmdb compaction: cannot create \"%s\": %s", tmp, strerror(errno));
        rc = LS_EIO;
    }
    if (n) {
        n->st = e->st;
        n->partition = e->partition;
    }
    if (rc == LS_OK)
        rc = env_open(n, errstr, errsz);
    int mrc = rc == LS_OK ? copy_env(e, n, &records) : 0;
    if (mrc != 0) {
        snprintf(errstr, errsz, "lmdb compaction of \"%s\" failed: %s", e->dir, mdb_strerror(mrc));
        rc = map_err(mrc);
    }
    if (rc == LS_OK)
        *after = env_used(n);
    free_penv(n);
    if (rc == LS_OK && fsync_dir(tmp) != 0) {
        snprintf(errstr, errsz, "lmdb compaction: cannot fsync \"%s\": %s", tmp, strerror(errno));
        rc = LS_EIO;
    }
    if (rc != LS_OK) {
        char ignored[256];
        remove_env_dir(tmp, ignored, sizeof(ignored));
    }
    return rc;
}

int ls_store_compact_partition(ls_store_t *st, int partition, uint64_t *before, uint64_t *after, char *errstr,
                               size_t errsz)
{
    penv_t *e = part_env(st, partition, errstr, errsz);
    if (!e)
        return LS_EIO;
    char dir[4096], tmp[4200], ignored[256];
    snprintf(dir, sizeof(dir), "%s", e->dir);
    snprintf(tmp, sizeof(tmp), "%s.new", dir);
    *before = env_used(e);
    int lock = lock_open(dir, errstr, errsz);   /* no other process opens the partition meanwhile */
    int rc = lock < 0 ? LS_EIO : build_copy(e, tmp, after, errstr, errsz);
    /* one atomic step: before it the old environment is the partition's, after it the synced copy */
    if (rc == LS_OK && renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) != 0) {
        snprintf(errstr, errsz, "lmdb compaction: cannot swap \"%s\" and \"%s\": %s", tmp, dir, strerror(errno));
        remove_env_dir(tmp, ignored, sizeof(ignored));
        rc = LS_EIO;
    }
    if (rc == LS_OK && fsync_dir(st->dir) != 0)
        ls_warn("lmdb compaction: cannot fsync \"%s\" (a crash may bring back the uncompacted copy): %s", st->dir,
                strerror(errno));
    if (rc == LS_OK) {   /* this process's handle is on the old file, now in tmp: close it, drop that */
        st->parts[partition] = NULL;
        free_penv(e);
        if (remove_env_dir(tmp, errstr, errsz) != LS_OK)
            ls_warn("%s (deleted at the next open)", errstr);
    }
    if (lock >= 0)
        close(lock);
    return rc;
}

int ls_store_compact_if_sparse(ls_store_t *st, int partition, uint64_t min_bytes, uint64_t *before, uint64_t *after,
                               char *errstr, size_t errsz)
{
    penv_t *e = partition >= 0 && partition < st->n_parts ? st->parts[partition] : NULL;
    uint64_t used = e ? env_used(e) : 0;
    if (!e || used < min_bytes || used < 2 * e->base_used)
        return LS_ENOTFOUND;
    int rc = ls_store_compact_partition(st, partition, before, after, errstr, errsz);
    if (rc != LS_OK)
        e->base_used = used;   /* not again before it doubles once more */
    return rc;
}
