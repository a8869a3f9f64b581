/*
 * ls_sync_fsm.h - the states of one sync job and which moves between them
 * are legal. Owns only the table (pure; unit-tested); the driver in
 * ls_sync.c moves a job only through its one transition function, which
 * checks every move against this table.
 *
 *   START      -> FETCHING | BACKOFF | DONE
 *   FETCHING   -> DELIVERING (page parsed, produced) | BACKOFF (retry) | DONE (failed)
 *   BACKOFF    -> FETCHING (timer came, request started) | BACKOFF (limiter: later) | DONE
 *   DELIVERING -> FETCHING | BACKOFF (next page) | RECHECKING | REMOVING (after the last
 *                 page of a full scan) | DONE (last page of an incremental scan, guarded
 *                 removal pass, or failed)
 *   RECHECKING -> REMOVING (every re-check decided) | DONE (failed)
 *   REMOVING   -> DONE | REPUBLISHING (a resync job)
 *   DELIVERING -> REPUBLISHING too (a resync job whose removal pass had nothing to do)
 *   REPUBLISHING -> DONE
 *
 * START       the sync record is read and the mode chosen.
 * FETCHING    the page at the job's offset is requested; waiting for it.
 * BACKOFF     its request waits for a timer: a retry's backoff, or the
 *             rate limiter's "later".
 * DELIVERING  the page was diffed and its events and changelog records
 *             produced; waiting (without blocking) for their acks, then the
 *             page is committed to LMDB. The next page may be in flight.
 * RECHECKING  after the last page of a complete full scan: per-record GETs
 *             that confirm second misses (same curl multi handle and rate
 *             limiter as pages; failing ones back off).
 * REMOVING    the removal pass's events and tombstones are in flight;
 *             once acknowledged, removals, markers and the sync record are
 *             committed in one LMDB write.
 * REPUBLISHING  a resync job after its complete scan: every current record
 *             of the scope, read from LMDB, is in flight (ls_sync_republish).
 * DONE        the outcome is known (ls_sync_job_result).
 */
#ifndef LS_SYNC_FSM_H
#define LS_SYNC_FSM_H

typedef enum ls_sync_state {
    LS_SJ_START,
    LS_SJ_FETCHING,
    LS_SJ_BACKOFF,
    LS_SJ_DELIVERING,
    LS_SJ_RECHECKING,
    LS_SJ_REMOVING,
    LS_SJ_DONE,
    LS_SJ_REPUBLISHING,
    LS_SJ_N_STATES
} ls_sync_state_t;

/** 1 when a job may move from `from` to `to` (staying in BACKOFF is legal: a new timer). */
int ls_sync_fsm_legal(ls_sync_state_t from, ls_sync_state_t to);

/** "start", "fetching", ... ("?" for a value out of range). */
const char *ls_sync_state_name(ls_sync_state_t s);

#endif
