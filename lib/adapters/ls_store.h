/*
 * ls_store.h - the worker's local state in LMDB.
 *
 * One directory per worker pod and in it one LMDB environment per partition,
 * "<dir>/p-NNN" (p-007), so that the pod's processes, which own different
 * partitions, never wait for each other's writer lock. ls_store_open() (after
 * fork) opens the environments already there; the others open at the first
 * use of their partition in this process. Every call below names its
 * partition. Ten named databases in each environment:
 *   activities:  key = u16 partition | u32 connection number | activity id
 *                (numbers big endian; 6 bytes + the id), value = packed state
 *                (ls_state.h)
 *   sync:        key = u16 partition | scope key ("conn" or "conn/course")
 *                value = JSON text (watermarks, scan bookkeeping)
 *   checkpoints: key = u16 partition; value = i64 next changelog offset;
 *                key = u16 partition | 't'; value = i64 wall-clock ms of
 *                the last checkpoint write (tombstone-retention check)
 *   pending:     key = same as activities; value = u8 count of consecutive
 *                complete full scans that missed the activity (removal rule,
 *                docs/design.md, Removals); no key = not missed
 *   conns:       key = connection id; value = its u32 number (big endian);
 *                key = one 0x00 byte (no connection id): the last number
 *                given out (numbers are per partition environment). A
 *                connection gets its number in the first write
 *                transaction that stores a state or marker of it; numbers
 *                never change and are never deleted (not by a partition
 *                wipe either), so every process using the environment
 *                agrees and may cache them. Callers pass connection ids as
 *                before: the numbers never leave this module, and reads of
 *                a connection without number find nothing and write nothing.
 *   ru_members, ru_enrollments, ru_courses: the progress rollups
 *                (lib/model/ls_rollup.h): key = u16 partition | u32
 *                connection number | the rollup's row key (member:
 *                enrollment key + activity id; enrollment; course); value =
 *                the member's contribution, the enrollment's aggregate + ids,
 *                the course's last published aggregate + id. Written in the
 *                same transaction as the states they derive from
 *                (ls_store_commit_rows), rebuilt from the states after a
 *                restore (ls_store_rebuild_rollups).
 *   catalog:     key = u16 partition | "conn/course/ID" or "conn/content/ID"
 *                (text after the partition), value = ls_catalog_entry_pack()
 *                (name, type, fetched-at instant): the names a catalog job
 *                fetched. Entries are overwritten by the next refresh and
 *                never deleted by one (a failed page leaves them as they
 *                were); a partition wipe deletes them (the next refresh of
 *                the connection fetches them again).
 *   meta:        key "format" = u32 key format (4; stores without it are
 *                format 1, the connection id in the keys). An environment
 *                holding data of another format is emptied at its open (see
 *                ls_store_open()).
 * Keys start with the partition so one partition can be wiped and restored
 * alone. No transaction is ever held across a network call: readers open a
 * short read transaction per page (ls_store_reader_*), writers commit a page's
 * state and the changelog checkpoint together (ls_store_commit_page).
 * MDB_* codes never leave this module.
 *
 * Durability: the changelog is the source of truth and each partition's
 * checkpoint is committed in the same transaction as its state, so this
 * store may lose its latest commits: the restore replays from the older
 * checkpoint. A deferred store (ls_store_open(..., deferred_sync = 1))
 * therefore commits with MDB_NOSYNC and flushes in ls_store_sync(), which
 * the caller runs on a timer. A process crash loses nothing (the commits are
 * in the page cache); an OS crash or power loss can also tear the file, so
 * a marker file "<dir>/p-NNN/unsynced" holding the kernel boot id is made
 * durable before the first commit to that environment after a sync and
 * removed by the next sync. An environment opened with a marker of another
 * boot (or an unreadable one) is deleted before LMDB opens it
 * (ls_store_was_discarded()), and its partition is then restored from the
 * changelog from its start. The marker protocol runs under the
 * environment's writer lock, so it holds for several processes using it.
 */
#ifndef LS_STORE_H
#define LS_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "ls_activity.h"
#include "ls_catalog.h"

typedef struct ls_store ls_store_t;
typedef struct ls_store_reader ls_store_reader_t;

/** One state write: packed bytes for activity_id, or a delete when len == 0. */
typedef struct ls_store_put {
    const char *activity_id;     /* borrowed */
    const uint8_t *state;        /* borrowed; NULL with len 0 = delete */
    size_t len;
} ls_store_put_t;

/**
 * One pending-removal marker change: misses 0 deletes the marker, 1..255 sets
 * it. Used with ls_store_commit() next to state puts.
 */
typedef struct ls_store_mark {
    const char *activity_id;     /* borrowed */
    int misses;
} ls_store_mark_t;

/**
 * Open (creating the directory if needed) the store at dir, each partition's
 * environment with a map of map_mb megabytes; open every partition
 * environment already in dir (the checks below run for each). A single
 * environment of an older build in dir itself (dir/data.mdb) is deleted,
 * with one warning; ls_store_was_discarded() then returns 1. Returns NULL
 * and a precise message in errstr on failure.
 *
 * deferred_sync = 0: every commit is synced to disk (LMDB's default).
 * deferred_sync = 1: commits are not synced; call ls_store_sync() regularly.
 * Falls back to durable commits, with one warning in the log, when the boot
 * id (/proc/sys/kernel/random/boot_id) cannot be read (ls_store_is_deferred()
 * tells which mode is in force).
 *
 * In both modes, at the open of a partition's environment, a
 * "<dir>/p-NNN/unsynced" marker of another boot, an unreadable or garbled
 * marker, or a marker while the boot id cannot be read makes the open
 * delete its data.mdb, lock.mdb and the marker first, with a warning in the
 * log; ls_store_was_discarded() then returns 1. A marker of this boot (a
 * process crash) is kept with the data.
 *
 * Then, under the same lock (an fcntl lock on "<dir>/p-NNN/open.lock"), the
 * key format: an environment holding data without the current format record
 * (written by an older build, or a newer one) is emptied, every database
 * including conns, with a warning that the partition will be restored from
 * the changelog; ls_store_was_discarded() then returns 1 too. Without a
 * checkpoint, the restore wipes and replays the partition. An empty
 * environment only gets the record. Must be called after fork(), like any
 * LMDB open.
 */
ls_store_t *ls_store_open(const char *dir, size_t map_mb, int deferred_sync,
                          char *errstr, size_t errstr_size);

/** ls_store_open(dir, map_mb, 0, ...): every commit durable. */
ls_store_t *ls_store_new(const char *dir, size_t map_mb, char *errstr, size_t errstr_size);

/**
 * For every environment this process has open: make every commit so far (of
 * every process using it) durable and remove its "unsynced" marker. Returns
 * at once (no fsync) for an environment without marker, i.e. nothing
 * unsynced; cheap enough to call every second in either mode. It takes each
 * flushed environment's writer lock briefly (waiting for a commit of another
 * process in progress), so call it outside any write.
 * @return 0 or LS_EIO with the first failure in errstr (the others are
 *         still synced; a failed one keeps its marker: still unsynced).
 */
int ls_store_sync(ls_store_t *st, char *errstr, size_t errstr_size);

/**
 * 1 when an open so far (of the store, or of a partition's environment)
 * discarded contents (an older build's single environment, unsynced writes
 * before a reboot, or data of another key format), else 0.
 */
int ls_store_was_discarded(const ls_store_t *st);

/** 1 when commits are deferred (MDB_NOSYNC + marker), 0 when every commit is synced. */
int ls_store_is_deferred(const ls_store_t *st);

/**
 * Sync (ls_store_sync(); a failure is logged, and the marker then stays) and
 * close every environment. NULL is accepted.
 */
void ls_store_destroy(ls_store_t *st);

/**
 * Bound the LMDB maps' share of the process's resident memory at max_bytes
 * (0, the default, = never): ls_store_trim_map() compares the process's
 * file-backed resident memory (RssFile: the touched pages of every open
 * environment's map, plus its binaries) with it and, when over, drops every
 * map's pages from the process's page tables (madvise MADV_DONTNEED on the shared read-only maps;
 * the data stays in the kernel's page cache and the next access maps it
 * again: a minor fault). ls_store_reader_foreach() also calls it every
 * 8192 records, so a walk over a large connection does not leave it all
 * resident. Safe at any time, also inside a transaction: the contents seen
 * through the map never change.
 */
void ls_store_set_resident_max(ls_store_t *st, size_t max_bytes);

/** Bytes of the maps in use (pages up to the last one written) and their size, summed over the open environments. */
int ls_store_usage(ls_store_t *st, uint64_t *used_bytes, uint64_t *map_bytes);

/** See ls_store_set_resident_max(). @return 1 when the map was trimmed, else 0. */
int ls_store_trim_map(ls_store_t *st);

/**
 * Called after every write transaction (committed or aborted) with the
 * seconds its mdb_txn_begin waited for LMDB's writer lock (held by a write
 * of another process using the environment, or by ls_store_sync()), the
 * seconds it then held the lock (its writes and its commit) and the seconds
 * of the commit alone (0 when aborted). NULL stops the calls.
 */
typedef void (*ls_store_timing_cb_t)(double wait_s, double held_s, double commit_s, void *ud);
void ls_store_set_write_timing(ls_store_t *st, ls_store_timing_cb_t cb, void *ud);

/** Tests only: read the boot id from path instead (NULL restores the default). Not thread-safe. */
void ls_store_set_boot_id_path_for_test(const char *path);

/**
 * A short read: each partition it reads gets a read transaction at its first
 * read (the environment opened if needed; a failure there is logged and the
 * read returns LS_EIO). NULL and errstr when out of memory. End it with
 * ls_store_reader_destroy().
 */
ls_store_reader_t *ls_store_reader_new(ls_store_t *st, char *errstr, size_t errstr_size);
void ls_store_reader_destroy(ls_store_reader_t *r);

/**
 * Look up one activity's packed state. On 0, *state and *len point into the map:
 * valid until the reader is destroyed (borrowed).
 * @return 0, LS_ENOTFOUND, or LS_EIO.
 */
int ls_store_reader_get(ls_store_reader_t *r, int partition, const char *connection_id,
                        const char *activity_id, const uint8_t **state, size_t *len);

/**
 * The pending-removal marker of one activity: *misses = stored count.
 * @return 0, LS_ENOTFOUND (no marker: *misses = 0), LS_EINVAL or LS_EIO.
 */
int ls_store_reader_get_pending(ls_store_reader_t *r, int partition, const char *connection_id,
                                const char *activity_id, int *misses);

/**
 * Call cb for every stored activity of (partition, connection_id), in key
 * order, inside r's read transaction. activity_id (NUL-terminated) and state
 * are borrowed: valid only during the call; copy what you keep. cb may call
 * other ls_store_reader_* functions on r, but must not write or block.
 * A non-zero return of cb stops the walk and is returned.
 * @return 0 after the last record, cb's non-zero value, LS_EINVAL or LS_EIO.
 */
int ls_store_reader_foreach(ls_store_reader_t *r, int partition, const char *connection_id,
                            int (*cb)(const char *activity_id, const uint8_t *state, size_t len, void *ud),
                            void *ud);

/** Read a sync record (JSON text) into buf; LS_ENOTFOUND when none. */
int ls_store_reader_get_sync(ls_store_reader_t *r, int partition, const char *scope,
                             char *buf, size_t bufsz);

/**
 * In one write transaction (a deferred store first makes its unsynced marker
 * durable when it is missing: LS_EIO with errstr, nothing written, if that
 * fails; the same holds for every write below): apply puts (for connection_id on partition), set
 * the partition's changelog checkpoint when checkpoint >= 0, and store a sync
 * record when sync_json is non-NULL.
 * connection_id: 1 to 511 bytes, else LS_EINVAL when a state or marker is stored.
 * @return 0, LS_EFULL (map full: nothing written), LS_EINVAL (key too long) or LS_EIO.
 */
int ls_store_commit_page(ls_store_t *st, int partition, const char *connection_id,
                         const ls_store_put_t *puts, size_t n, int64_t checkpoint,
                         const char *scope, const char *sync_json, char *errstr, size_t errstr_size);

/**
 * ls_store_commit_page() plus pending-marker changes (marks, nm) in the same
 * write transaction. A put with len 0 deletes the state; its marker is only
 * deleted when marks says so.
 */
int ls_store_commit(ls_store_t *st, int partition, const char *connection_id,
                    const ls_store_put_t *puts, size_t n, const ls_store_mark_t *marks, size_t nm,
                    int64_t checkpoint, const char *scope, const char *sync_json,
                    char *errstr, size_t errstr_size);

/* The rollup databases. */
typedef enum ls_store_ru {
    LS_STORE_RU_MEMBERS = 0,
    LS_STORE_RU_ENROLLMENTS,
    LS_STORE_RU_COURSES,
    LS_STORE_RU__COUNT
} ls_store_ru_t;

/** One rollup row write: val with vlen bytes, or a delete when vlen == 0. All borrowed. */
typedef struct ls_store_row {
    ls_store_ru_t db;
    const uint8_t *key;
    size_t klen;
    const uint8_t *val;
    size_t vlen;
} ls_store_row_t;

/**
 * ls_store_commit() plus rollup rows (of connection_id on partition) in the
 * same write transaction: a page's states and the rollups derived from them
 * are committed together or not at all.
 */
int ls_store_commit_rows(ls_store_t *st, int partition, const char *connection_id,
                         const ls_store_put_t *puts, size_t n, const ls_store_mark_t *marks, size_t nm,
                         const ls_store_row_t *rows, size_t nr, int64_t checkpoint, const char *scope,
                         const char *sync_json, char *errstr, size_t errstr_size);

/**
 * One rollup row: *val (borrowed, valid until the reader is destroyed).
 * @return 0, LS_ENOTFOUND, LS_EINVAL (key too long) or LS_EIO.
 */
int ls_store_reader_get_row(ls_store_reader_t *r, ls_store_ru_t db, int partition, const char *connection_id,
                            const uint8_t *key, size_t klen, const uint8_t **val, size_t *vlen);

/**
 * Call cb for every rollup row of (partition, connection_id) whose key
 * starts with prefix (plen bytes; 0 = every row of the connection), in key
 * order. key and val are borrowed for the call. A non-zero return of cb
 * stops the walk and is returned.
 * @return 0, cb's value, LS_EINVAL or LS_EIO.
 */
int ls_store_reader_scan(ls_store_reader_t *r, ls_store_ru_t db, int partition, const char *connection_id,
                         const uint8_t *prefix, size_t plen,
                         int (*cb)(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *ud),
                         void *ud);

/**
 * Rebuild the partition's rollup rows from its stored states, in one write
 * transaction: members and enrollments are recomputed; course rows are
 * deleted (they record what was last published, which this environment
 * does not know after a restore, so the first evaluation of each course
 * publishes it again). Nothing is published here.
 * Clears the partition's rollups-stale mark in the same transaction.
 * @return 0, LS_EFULL (map full: nothing written; the message names
 *         'worker.lmdb_map_mb'), LS_EINVAL (a stored state or row that does
 *         not decode: nothing written, the message names it) or LS_EIO.
 */
int ls_store_rebuild_rollups(ls_store_t *st, int partition, int64_t *enrollments, char *errstr,
                             size_t errstr_size);

/**
 * 1 when the partition's rollup rows are stale: ls_store_apply_changelog()
 * applied records (it sets the mark in its transaction) and no rebuild has
 * run since; 0 when they are current; LS_EIO.
 */
int ls_store_rollups_stale(ls_store_t *st, int partition);
/** Mark partition's rollup rows stale (rollups.enabled = 0: states change without them). @return 0 or LS_EIO. */
int ls_store_mark_rollups_stale(ls_store_t *st, int partition, char *errstr, size_t errstr_size);

/**
 * Store a page of catalog entries of connection_id (kind) on partition in one
 * write transaction, each under "conn/kind/id" (overwriting the entry there).
 * @return 0, LS_EFULL (map full: nothing written), LS_EINVAL (key too long:
 *         nothing written) or LS_EIO.
 */
int ls_store_catalog_commit(ls_store_t *st, int partition, const char *connection_id, ls_catalog_kind_t kind,
                            const ls_catalog_item_t *items, size_t n, char *errstr, size_t errstr_size);

/**
 * The cached name (and type) of course or content id of connection_id, as
 * of r's read transaction, into *out (copied: independent of r).
 * @return 0; LS_ENOTFOUND (never fetched: *out zeroed, has_name = 0);
 *         LS_EINVAL (key too long); LS_EIO (read error or garbled value).
 */
int ls_store_catalog_get(ls_store_reader_t *r, int partition, const char *connection_id, ls_catalog_kind_t kind,
                         const char *id, ls_catalog_entry_t *out);

/**
 * Call cb for every catalog entry of connection_id on any partition (a walk
 * of the whole catalog database of every partition environment in the
 * directory, in partition order: for lmsync-admin's dump, not for a hot
 * path). id and e are borrowed for the call. A non-zero return of cb stops
 * the walk and is returned. @return 0, cb's value or LS_EIO.
 */
int ls_store_catalog_foreach(ls_store_reader_t *r, const char *connection_id,
                             int (*cb)(int partition, ls_catalog_kind_t kind, const char *id,
                                       const ls_catalog_entry_t *e, void *ud),
                             void *ud);

/** The partition's changelog checkpoint; LS_ENOTFOUND when none. */
int ls_store_get_checkpoint(ls_store_t *st, int partition, int64_t *offset);

/** Count of activity records of one partition (-1 on error). */
long ls_store_count(ls_store_t *st, int partition);

/** One changelog record for ls_store_apply_changelog(): len 0 = tombstone (delete). */
typedef struct ls_store_rec {
    const char *connection_id;   /* borrowed, NUL-terminated */
    const char *activity_id;     /* borrowed, NUL-terminated */
    const uint8_t *state;        /* borrowed; NULL with len 0 = delete */
    size_t len;
} ls_store_rec_t;

/**
 * Restore step: in one write transaction apply changelog records of one
 * partition (put or delete the state; a record of any kind also clears the
 * activity's pending-removal marker: another owner saw or removed it; with
 * n > 0 the partition's rollups are marked stale, ls_store_rollups_stale), and
 * set the partition's checkpoint (and its time) when checkpoint >= 0.
 * n may be 0 to record only the checkpoint.
 * @return 0, LS_EFULL (map full: nothing written; the message names
 *         'worker.lmdb_map_mb'), LS_EINVAL (key too long) or LS_EIO.
 */
int ls_store_apply_changelog(ls_store_t *st, int partition, const ls_store_rec_t *recs, size_t n,
                             int64_t checkpoint, char *errstr, size_t errstr_size);

/**
 * Delete everything of one partition: checkpoint (first, in its own
 * transaction), activities, pending markers, sync records, rollup rows and catalog entries (connection
 * numbers stay: they never change). Done in
 * chunks; a crash part way leaves no checkpoint, which the restore treats
 * as "wipe again, then restore from the beginning".
 * @return 0, LS_EINVAL (partition out of range) or LS_EIO.
 */
int ls_store_wipe_partition(ls_store_t *st, int partition, char *errstr, size_t errstr_size);

/**
 * Wall-clock ms of the last write of the partition's checkpoint (every
 * commit with a checkpoint and every restore step record it): when this
 * environment last held the changelog up to its checkpoint.
 * @return 0, LS_ENOTFOUND (never written) or LS_EIO.
 */
int ls_store_get_checkpoint_time(ls_store_t *st, int partition, int64_t *ms);

/**
 * Compact partition's environment: copy its databases in key order
 * (MDB_APPEND: full pages) into a fresh environment "<dir>/p-NNN.new",
 * sync it, and swap the two directories in one atomic rename
 * (RENAME_EXCHANGE), then delete the old one. A crash before the swap leaves
 * the old environment authoritative; after it, the synced copy. Leftover
 * "p-NNN.new" directories are deleted at the store's open. Call it only
 * while this process owns the partition and has no transaction on it;
 * another process that still has the old file open reopens it when it
 * reads the partition's checkpoint (the restore does so first on an
 * assignment). *before and *after: used bytes of the old and the new map.
 * @return 0, LS_EFULL (the copy does not fit the map), or LS_EIO with errstr
 *         (nothing changed).
 */
int ls_store_compact_partition(ls_store_t *st, int partition, uint64_t *before, uint64_t *after, char *errstr,
                               size_t errstr_size);

/**
 * ls_store_compact_partition() when partition's environment is open in this
 * process, uses at least min_bytes and twice the bytes it used when this
 * process opened it (a compaction reopens it: then its compacted size):
 * pages written in interleaved order are about half full, a copy in key
 * order fills them. After a failed compaction the next try waits until the
 * use doubles again.
 * @return 0 (compacted, *before and *after set), LS_ENOTFOUND (not needed),
 *         or the error of ls_store_compact_partition() with errstr.
 */
int ls_store_compact_if_sparse(ls_store_t *st, int partition, uint64_t min_bytes, uint64_t *before, uint64_t *after,
                               char *errstr, size_t errstr_size);

#endif
