/*
 * ls_store.c - LMDB wrapper (the Knot DNS habit: MDB_* stays in here).
 *
 * The environment uses MDB_NOTLS so read transactions are not tied to a
 * thread, and MDB_NOSUBDIR=0 (a directory). Every write commits a page and
 * its checkpoint atomically, so a crash leaves either the old or the new
 * state, never a mix.
 */
#include "ls_store.h"
#include "ls_err.h"
#include "ls_time.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KEY_MAX 511 /* LMDB's default max key size */

struct ls_store {
    MDB_env *env;
    MDB_dbi activities, sync, checkpoints, pending;
    size_t map_mb;   /* for the map-full message */
};

struct ls_store_reader {
    ls_store_t *st;
    MDB_txn *txn;
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

static int open_dbs(ls_store_t *st, char *errstr, size_t errsz)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "activities", MDB_CREATE, &st->activities);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "sync", MDB_CREATE, &st->sync);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "checkpoints", MDB_CREATE, &st->checkpoints);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "pending", MDB_CREATE, &st->pending);
    if (rc == 0)
        return (rc = mdb_txn_commit(txn)) == 0 ? LS_OK
               : (snprintf(errstr, errsz, "lmdb commit of databases failed: %s", mdb_strerror(rc)), LS_EIO);
    mdb_txn_abort(txn);
    snprintf(errstr, errsz, "lmdb cannot open databases: %s", mdb_strerror(rc));
    return LS_EIO;
}

ls_store_t *ls_store_new(const char *dir, size_t map_mb, char *errstr, size_t errsz)
{
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        snprintf(errstr, errsz, "setting 'worker.lmdb_path': cannot create \"%s\": %s", dir, strerror(errno));
        return NULL;
    }
    ls_store_t *st = calloc(1, sizeof(*st));
    if (!st) {
        snprintf(errstr, errsz, "out of memory");
        return NULL;
    }
    int rc = mdb_env_create(&st->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(st->env, 8);
    if (rc == 0)
        rc = mdb_env_set_mapsize(st->env, map_mb * 1024 * 1024);
    if (rc == 0)
        rc = mdb_env_open(st->env, dir, MDB_NOTLS, 0640);
    if (rc != 0) {
        snprintf(errstr, errsz, "setting 'worker.lmdb_path': cannot open lmdb at \"%s\": %s", dir, mdb_strerror(rc));
        mdb_env_close(st->env);
        free(st);
        return NULL;
    }
    if (open_dbs(st, errstr, errsz) != LS_OK) {
        mdb_env_close(st->env);
        free(st);
        return NULL;
    }
    st->map_mb = map_mb;
    return st;
}

void ls_store_destroy(ls_store_t *st)
{
    if (!st)
        return;
    mdb_env_close(st->env);
    free(st);
}

/* u16 partition | a [| 0x00 | b] into buf; returns length or -1 if too long. */
static int make_key(char *buf, int partition, const char *a, const char *b)
{
    size_t la = strlen(a), lb = b ? strlen(b) : 0;
    size_t n = 2 + la + (b ? 1 + lb : 0);
    if (n > KEY_MAX || partition < 0 || partition > 0xffff)
        return -1;
    buf[0] = (char)((partition >> 8) & 0xff);
    buf[1] = (char)(partition & 0xff);
    memcpy(buf + 2, a, la);
    if (b) {
        buf[2 + la] = '\0';
        memcpy(buf + 3 + la, b, lb);
    }
    return (int)n;
}

ls_store_reader_t *ls_store_reader_new(ls_store_t *st, char *errstr, size_t errsz)
{
    ls_store_reader_t *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(errstr, errsz, "out of memory");
        return NULL;
    }
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &r->txn);
    if (rc != 0) {
        snprintf(errstr, errsz, "lmdb read transaction failed: %s", mdb_strerror(rc));
        free(r);
        return NULL;
    }
    r->st = st;
    return r;
}

void ls_store_reader_destroy(ls_store_reader_t *r)
{
    if (!r)
        return;
    mdb_txn_abort(r->txn);
    free(r);
}

int ls_store_reader_get(ls_store_reader_t *r, int partition, const char *connection_id,
                        const char *activity_id, const uint8_t **state, size_t *len)
{
    char kbuf[KEY_MAX + 1];
    int kl = make_key(kbuf, partition, connection_id, activity_id);
    if (kl < 0)
        return LS_EINVAL;
    MDB_val k = {(size_t)kl, kbuf}, v;
    int rc = mdb_get(r->txn, r->st->activities, &k, &v);
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
    int kl = make_key(kbuf, partition, connection_id, activity_id);
    if (kl < 0)
        return LS_EINVAL;
    MDB_val k = {(size_t)kl, kbuf}, v;
    int rc = mdb_get(r->txn, r->st->pending, &k, &v);
    if (rc != 0)
        return map_err(rc);
    if (v.mv_size != 1)
        return LS_EIO;
    *misses = ((const uint8_t *)v.mv_data)[0];
    return LS_OK;
}

int ls_store_reader_foreach(ls_store_reader_t *r, int partition, const char *connection_id,
                            int (*cb)(const char *activity_id, const uint8_t *state, size_t len, void *ud),
                            void *ud)
{
    char prefix[KEY_MAX + 1], id[KEY_MAX + 1];
    int pl = make_key(prefix, partition, connection_id, "");   /* u16 | connection | 0x00 */
    if (pl < 0)
        return LS_EINVAL;
    MDB_cursor *cur;
    if (mdb_cursor_open(r->txn, r->st->activities, &cur) != 0)
        return LS_EIO;
    MDB_val k = {(size_t)pl, prefix}, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE), out = LS_OK;
    while (rc == 0 && k.mv_size > (size_t)pl && memcmp(k.mv_data, prefix, (size_t)pl) == 0) {
        size_t il = k.mv_size - (size_t)pl;
        memcpy(id, (const char *)k.mv_data + pl, il);
        id[il] = '\0';
        if ((out = cb(id, v.mv_data, v.mv_size, ud)) != 0)
            break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (out != 0)
        return out;
    return rc == 0 || rc == MDB_NOTFOUND ? LS_OK : map_err(rc);
}

int ls_store_reader_get_sync(ls_store_reader_t *r, int partition, const char *scope,
                             char *buf, size_t bufsz)
{
    char kbuf[KEY_MAX + 1];
    int kl = make_key(kbuf, partition, scope, NULL);
    if (kl < 0)
        return LS_EINVAL;
    MDB_val k = {(size_t)kl, kbuf}, v;
    int rc = mdb_get(r->txn, r->st->sync, &k, &v);
    if (rc != 0)
        return map_err(rc);
    if (v.mv_size >= bufsz)
        return LS_EFULL;
    memcpy(buf, v.mv_data, v.mv_size);
    buf[v.mv_size] = '\0';
    return LS_OK;
}

static int apply_puts(ls_store_t *st, MDB_txn *txn, int partition, const char *conn,
                      const ls_store_put_t *puts, size_t n)
{
    char kbuf[KEY_MAX + 1];
    for (size_t i = 0; i < n; i++) {
        int kl = make_key(kbuf, partition, conn, puts[i].activity_id);
        if (kl < 0)
            return MDB_BAD_VALSIZE;
        MDB_val k = {(size_t)kl, kbuf}, v = {puts[i].len, (void *)puts[i].state};
        int rc = puts[i].len ? mdb_put(txn, st->activities, &k, &v, 0)
                             : mdb_del(txn, st->activities, &k, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
    }
    return 0;
}

static int apply_marks(ls_store_t *st, MDB_txn *txn, int partition, const char *conn,
                       const ls_store_mark_t *marks, size_t n)
{
    char kbuf[KEY_MAX + 1];
    for (size_t i = 0; i < n; i++) {
        int kl = make_key(kbuf, partition, conn, marks[i].activity_id);
        if (kl < 0)
            return MDB_BAD_VALSIZE;
        uint8_t m = (uint8_t)(marks[i].misses > 255 ? 255 : marks[i].misses);
        MDB_val k = {(size_t)kl, kbuf}, v = {1, &m};
        int rc = m ? mdb_put(txn, st->pending, &k, &v, 0) : mdb_del(txn, st->pending, &k, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
    }
    return 0;
}

/* Checkpoint time: key u16 partition | 't' in checkpoints, value i64 wall-clock ms. */
static int put_checkpoint_time(ls_store_t *st, MDB_txn *txn, int partition, int64_t ms)
{
    char kbuf[4];
    int kl = make_key(kbuf, partition, "t", NULL);
    MDB_val k = {(size_t)kl, kbuf}, v = {sizeof(ms), &ms};
    return mdb_put(txn, st->checkpoints, &k, &v, 0);
}

/* The write error message; a full map names the setting that fixes it. */
static void write_error(const ls_store_t *st, int partition, int rc, char *errstr, size_t errsz)
{
    if (rc == MDB_MAP_FULL)
        snprintf(errstr, errsz, "lmdb map full while writing partition %d: setting 'worker.lmdb_map_mb' "
                 "(%zu MB) is too small for the state; raise it and restart the worker", partition, st->map_mb);
    else
        snprintf(errstr, errsz, "lmdb write of partition %d failed: %s", partition, mdb_strerror(rc));
}

static int put_meta(ls_store_t *st, MDB_txn *txn, int partition, int64_t checkpoint,
                    const char *scope, const char *sync_json)
{
    char kbuf[KEY_MAX + 1];
    int rc = 0;
    if (checkpoint >= 0) {
        int kl = make_key(kbuf, partition, "", NULL);
        MDB_val k = {(size_t)kl, kbuf}, v = {sizeof(checkpoint), &checkpoint};
        rc = mdb_put(txn, st->checkpoints, &k, &v, 0);
        if (rc == 0) /* when this environment last caught up with the changelog */
            rc = put_checkpoint_time(st, txn, partition, ls_time_now_ms());
    }
    if (rc == 0 && scope && sync_json) {
        int kl = make_key(kbuf, partition, scope, NULL);
        if (kl < 0)
            return MDB_BAD_VALSIZE;
        MDB_val k = {(size_t)kl, kbuf}, v = {strlen(sync_json), (void *)sync_json};
        rc = mdb_put(txn, st->sync, &k, &v, 0);
    }
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
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc == 0)
        rc = apply_puts(st, txn, partition, connection_id, puts, n);
    if (rc == 0)
        rc = apply_marks(st, txn, partition, connection_id, marks, nm);
    if (rc == 0)
        rc = put_meta(st, txn, partition, checkpoint, scope, sync_json);
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
    } else {
        mdb_txn_abort(txn);
    }
    if (rc != 0)
        write_error(st, partition, rc, errstr, errsz);
    return map_err(rc);
}

/* Read one i64 of the checkpoints db: key u16 partition | suffix. */
static int get_i64(ls_store_t *st, int partition, const char *suffix, int64_t *out)
{
    char kbuf[4];
    int kl = make_key(kbuf, partition, suffix, NULL);
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return map_err(rc);
    MDB_val k = {(size_t)kl, kbuf}, v;
    rc = mdb_get(txn, st->checkpoints, &k, &v);
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
    MDB_txn *txn;
    MDB_cursor *cur;
    if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) != 0)
        return -1;
    if (mdb_cursor_open(txn, st->activities, &cur) != 0) {
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
static int apply_rec(ls_store_t *st, MDB_txn *txn, int partition, const ls_store_rec_t *r)
{
    char kbuf[KEY_MAX + 1];
    int kl = make_key(kbuf, partition, r->connection_id, r->activity_id);
    if (kl < 0)
        return MDB_BAD_VALSIZE;
    MDB_val k = {(size_t)kl, kbuf}, v = {r->len, (void *)r->state};
    int rc = r->len ? mdb_put(txn, st->activities, &k, &v, 0) : mdb_del(txn, st->activities, &k, NULL);
    if (rc == 0 || rc == MDB_NOTFOUND)
        rc = mdb_del(txn, st->pending, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int ls_store_apply_changelog(ls_store_t *st, int partition, const ls_store_rec_t *recs, size_t n,
                             int64_t checkpoint, char *errstr, size_t errsz)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = apply_rec(st, txn, partition, &recs[i]);
    if (rc == 0)
        rc = put_meta(st, txn, partition, checkpoint, NULL, NULL);
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    if (rc != 0)
        write_error(st, partition, rc, errstr, errsz);
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
    /* the checkpoints go first and alone: a crash mid-wipe leaves no checkpoint,
     * and no checkpoint always means "wipe, then restore from the beginning" */
    MDB_dbi order[] = {st->checkpoints, st->activities, st->pending, st->sync};
    int rc = 0;
    for (size_t d = 0; rc == 0 && d < sizeof(order) / sizeof(order[0]); d++) {
        int left = 1;
        while (rc == 0 && left) {
            MDB_txn *txn;
            if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
                break;
            rc = wipe_some(txn, order[d], prefix, WIPE_CHUNK, &left);
            if (rc == 0)
                rc = mdb_txn_commit(txn);
            else
                mdb_txn_abort(txn);
        }
    }
    if (rc != 0)
        snprintf(errstr, errsz, "lmdb wipe of partition %d failed: %s", partition, mdb_strerror(rc));
    return map_err(rc);
}
