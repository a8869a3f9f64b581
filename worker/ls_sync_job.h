/*
 * ls_sync_job.h - the insides of one sync job, shared by the files that
 * make it up (not for the rest of the worker, which sees ls_sync.h):
 *
 *   ls_sync.c            the driver: the job's state machine (one transition
 *                        function), start, step, result, destroy
 *   ls_sync_fsm.c        the transition table (pure)
 *   ls_sync_fetch.c      requests: urls, rate-limit grants, prefetch, backoff
 *   ls_sync_page.c       the page pipeline: normalize -> diff -> produce -> store
 *   ls_sync_removal.c    the removal pass (decisions in lib/policy/ls_removal)
 *   ls_sync_republish.c  a resync job's republication of the scope's current records
 *   ls_sync_watermark.c  the scope's sync record: mode, watermark
 *   ls_sync_webhook.c    a webhook job: its inline records as one page
 *   ls_sync_catalog.c    a catalog job's pages: course and content names
 */
#ifndef LS_SYNC_JOB_H
#define LS_SYNC_JOB_H

#include <jansson.h>
#include "ls_activity.h"
#include "ls_catalog.h"
#include "ls_diff.h"
#include "ls_removal.h"
#include "ls_state.h"
#include "ls_sync.h"
#include "ls_sync_fsm.h"
#include "ls_sync_rollup.h"

#define LS_SYNC_DELIVERY_TIMEOUT_MS 60000 /* a batch not acknowledged by then fails the job (LS_EIO) */
#define LS_SYNC_RECHECK_WINDOW 4          /* per-record GETs of one job in flight at once */
#define LS_SYNC_LATER 1                   /* ls_sync_req_start: the rate limiter says wait */
#define LS_SYNC_PAGE_CAP_FLOOR 10000      /* pages a scan may always take (ls_sync_page_cap) */

/* One request of the job on the shared curl multi handle. */
typedef struct ls_sync_req {
    ls_http_xfer_t *x;   /* NULL: none */
    int ready;           /* its response arrived */
    int held;            /* it holds a rate-limiter grant (given back when it completes or is dropped) */
} ls_sync_req_t;

/* Ids seen by this scan (64-bit hashes; a collision delays a removal, or takes the later of the two
 * records for a duplicate of the earlier one in this scan: about n^2 / 2^65 for n records). */
typedef struct ls_sync_seen {
    uint64_t *slots;
    size_t cap, n;
    size_t unidentified; /* rejected records without a usable id */
} ls_sync_seen_t;

/* One normalized record of a page and what the diff made of it. */
typedef struct ls_sync_item {
    ls_activity_t act;
    ls_diff_t diff;
    uint8_t packed[LS_STATE_MAX];
    size_t packed_len;
    int has_before;
    int had_mark;        /* a pending-removal marker exists: cleared with the page */
    ls_activity_t before;
} ls_sync_item_t;

typedef struct ls_sync_page {
    ls_sync_item_t *items;
    size_t n, cap;
} ls_sync_page_t;

/* A stored activity of the scope that the scan did not see (copied out of the read txn). */
typedef struct ls_sync_gone {
    int misses;
    ls_activity_t before;
    ls_gone_action_t action;
    int attempt;                   /* LS_GONE_RECHECK: GETs tried so far */
    int64_t not_before;            /* LS_GONE_RECHECK: monotonic ms of the next try (0 = now) */
    int in_flight;                 /* its GET is on the wire */
    ls_activity_t now;             /* LS_GONE_UPDATE: the record the GET returned */
    ls_diff_t diff;
    uint8_t packed[LS_STATE_MAX];
    size_t packed_len;
} ls_sync_gone_t;

/* The removal pass of a complete full scan. */
typedef struct ls_sync_removal {
    ls_sync_gone_t *items;
    size_t n, cap;
    size_t in_scope;               /* stored activities of the scope */
    size_t first_open;             /* items before it are decided */
    struct {
        ls_sync_req_t req;
        size_t item;
    } rx[LS_SYNC_RECHECK_WINDOW];  /* re-check GETs in flight */
    int64_t wake_at;               /* monotonic ms of the earliest backed-off re-check (0 = none) */
} ls_sync_removal_t;

struct ls_sync_job {
    ls_sync_ctx_t *ctx;
    ls_job_t run;              /* the job, mode = the mode actually run */
    int partition;
    ls_status_t st;
    char scope[LS_KEY_MAX], gte[40];
    char conn[LS_KEY_MAX];     /* the workspace-qualified connection: key of its state, LMDB and rate limit */
    const char *base_url;      /* borrowed from cfg: the job's workspace's */
    const ls_http_cred_t *cred;/* borrowed from ctx: its token, sent only to base_url */
    json_t *sync;              /* the scope's sync record (in memory) */
    char *stored;              /* ... as stored (compact, sorted), or NULL */
    ls_sync_state_t state;     /* changed only by set_state() in ls_sync.c */
    int rc;                    /* DONE: the outcome */
    /* paging */
    long offset;               /* offset of the page requested by cur */
    ls_sync_req_t cur;         /* the page at offset (no transfer while BACKOFF) */
    ls_sync_req_t next;        /* prefetch of the page at offset + page_limit */
    int attempt;               /* retries of the page at offset */
    int64_t retry_at;          /* BACKOFF: monotonic ms at which cur is requested */
    int page_last;             /* the page being delivered is the last one */
    uint64_t page_hash;        /* hash of the ids, in order, of the previous page (0 = none yet) */
    /* delivery (DELIVERING, REMOVING) */
    ls_sync_seen_t seen;
    ls_sync_page_t pg;         /* the page being delivered (kept until its commit) */
    ls_batch_t *batch;         /* its messages (heap: librdkafka points at it) */
    int produce_failed;
    int64_t ack_deadline;      /* monotonic ms */
    ls_sync_removal_t rm;      /* RECHECKING, REMOVING */
    ls_ru_rows_t ru;           /* rollup rows of the batch in flight, committed with its states */
    /* a catalog job (run.kind LS_JOB_CATALOG): FETCHING and BACKOFF only, one list after the other */
    ls_catalog_kind_t cat_kind; /* the list being read: courses, then contents */
    ls_catalog_page_t cat_page; /* the page just parsed (reused) */
};

/* ---- ls_sync_fetch.c ---- */

/** The page request's url (only what the job's strategy says the provider supports). */
int ls_sync_page_url(const ls_sync_job_t *j, long offset, char *url, size_t sz);
/** GET /lms/{conn}/activity/{id}?fields=... */
int ls_sync_get_url(const ls_sync_job_t *j, const char *id, char *url, size_t sz);
/** Ask the rate limiter, then start url as r: LS_OK, LS_SYNC_LATER (*later set) or LS_ENOMEM. */
int ls_sync_req_start(ls_sync_job_t *j, ls_sync_req_t *r, const char *url, int64_t *later);
/** The transfer of r completed: mark it ready and give back its grant with the answer's outcome. */
void ls_sync_req_completed(ls_sync_job_t *j, ls_sync_req_t *r);
/** Cancel r (grant given back as cancelled) and forget it. */
void ls_sync_req_drop(ls_sync_job_t *j, ls_sync_req_t *r);
/**
 * The most pages one scan may take: max(2 * last_full_count / limit + 10,
 * LS_SYNC_PAGE_CAP_FLOOR); last_full_count < 0 when no complete full scan is known.
 */
long long ls_sync_page_cap(long long last_full_count, int limit);
/**
 * The page just parsed (page number st.pages) against the paging contract:
 * no more records than the limit sent, not the previous page again, not
 * past the page cap. LS_OK, or LS_EINVAL with st.error "paging: ..." naming
 * the scope (counted).
 */
int ls_sync_paging_check(ls_sync_job_t *j);
/** Exponential backoff with jitter seeded by the job id, or the server's retry-after (at most 60 s). */
int64_t ls_sync_backoff_ms(const ls_sync_job_t *j, int attempt, int64_t retry_after_ms);

/* ---- ls_sync_catalog.c ---- */

/** GET .../course or .../content (j->cat_kind) with limit/offset. */
int ls_sync_catalog_url(const ls_sync_job_t *j, long offset, char *url, size_t sz);
/**
 * A page of j->cat_kind arrived (resp, status 2xx): parse it, check the
 * paging contract, store its names in one LMDB write. *last = 1 when it
 * was the list's last page. LS_OK; LS_ETRANSIENT (does not parse: may be
 * retried), LS_EINVAL (paging contract broken), LS_EIO (LMDB), st.error set.
 */
int ls_sync_catalog_page(ls_sync_job_t *j, const ls_http_resp_t *resp, int *last);

/* ---- ls_sync_page.c ---- */

/** Add id to the ids seen by the scan; *added (may be NULL) = 1 when it was not there yet. */
int ls_sync_seen_add(ls_sync_seen_t *s, const char *id, int *added);
int ls_sync_seen_has(const ls_sync_seen_t *s, const char *id);
/** Normalize ctx->parsed into j->pg (bad records counted and skipped), diff it against LMDB. LS_OK or LS_EIO. */
int ls_sync_page_prepare(ls_sync_job_t *j);
/** The envelope of the job's connection (strings borrowed from j; observed now). */
void ls_sync_event_ctx(const ls_sync_job_t *j, ls_event_ctx_t *ec);
/** The rollup environment of the job: reading through r, records into b (all borrowed). */
void ls_sync_ru_env(const ls_sync_job_t *j, ls_store_reader_t *r, const ls_event_ctx_t *ec, ls_batch_t *b,
                    ls_ru_env_t *env);
/**
 * The rollup records of the batch's changes (and, with reevaluate, of every
 * course of the job's scope) into j->batch; their rows into j->ru (reset
 * first). LS_OK or LS_EIO (st.error set).
 */
int ls_sync_rollups(ls_sync_job_t *j, const ls_ru_change_t *ch, size_t n, int reevaluate);
/**
 * Produce the page's events (now), current records and rollups (after the
 * events) and changelog records (last) into j->batch.
 */
int ls_sync_page_produce(ls_sync_job_t *j);
/** After delivery: commit the page's states, cleared markers and checkpoint. LS_OK or LS_EIO (st.error set). */
int ls_sync_page_store(ls_sync_job_t *j);
/** One change event into b; before or after may be NULL (created / removed). */
int ls_sync_produce_event(ls_sync_job_t *j, const ls_activity_t *before, const ls_activity_t *after,
                          const ls_diff_t *d, ls_batch_t *b);
/**
 * The current record of id from a (NULL: tombstone), held until the batch's events are acknowledged,
 * with the course and content names the catalog cache holds (read through names, an open reader of
 * the store; NULL: one is opened for the call). republished: counted as republished (a resync job),
 * not as a changed record.
 */
int ls_sync_produce_current(ls_sync_job_t *j, const char *id, const ls_activity_t *a, int republished,
                            ls_store_reader_t *names, ls_batch_t *b);
/** The changelog record of id (value NULL = tombstone), held until the batch's events are acknowledged. */
int ls_sync_produce_changelog(ls_sync_job_t *j, const char *id, const uint8_t *value, size_t len,
                              ls_batch_t *b);

/* ---- ls_sync_removal.c ---- */

typedef enum { LS_RM_SKIPPED, LS_RM_RECHECK, LS_RM_PRODUCE } ls_rm_next_t;
/** Walk the unseen stored activities, apply the shrink guard, decide each one. LS_OK with *next, or LS_EIO. */
int ls_sync_removal_begin(ls_sync_job_t *j, ls_rm_next_t *next);
/** Take finished re-checks, start due ones. 1 when every re-check is decided. */
int ls_sync_removal_recheck(ls_sync_job_t *j, int64_t now);
/** Hand a completed transfer to its re-check; 0 when it is not one of them. */
int ls_sync_removal_on_xfer(ls_sync_job_t *j, ls_http_xfer_t *x);
/** Produce removed/updated events and changelog records into j->batch. */
int ls_sync_removal_produce(ls_sync_job_t *j);
/** After delivery: one LMDB write of removals, updates, markers, checkpoint and sync record. */
int ls_sync_removal_store(ls_sync_job_t *j);
/** Cancel re-checks in flight and free the pass. */
void ls_sync_removal_release(ls_sync_job_t *j);

/* ---- ls_sync_republish.c ---- */

/**
 * Republish what is derived from the scope's stored state into b (stage
 * LS_SEND_AFTER_EVENTS): the current record of every stored activity of the
 * scope (a course scope: those whose stored course_id is the job's course),
 * then every enrollment and course rollup of the scope (ls_ru_republish:
 * their rows into j->ru, reset first, for ls_sync_republish_store), read in
 * one short LMDB read transaction (messages are only copied into b inside
 * it). *n = current records produced; j->st.rollups_republished = rollup
 * records produced.
 * @return LS_OK, or LS_EIO (logged) when the store cannot be read or a
 *         record cannot be produced.
 */
int ls_sync_republish(ls_sync_job_t *j, ls_batch_t *b, uint64_t *n);
/**
 * After the republished records are acknowledged: commit the course rows
 * ls_sync_republish evaluated (what was last published). LS_OK or LS_EIO
 * (st.error set).
 */
int ls_sync_republish_store(ls_sync_job_t *j);

/* ---- ls_sync_watermark.c ---- */

/** Read the scope's sync record into j->sync / j->stored. LS_OK, LS_EIO or LS_ENOMEM. */
int ls_sync_record_load(ls_sync_job_t *j);
/** Choose the mode to run and the updated_gte to send (j->gte). */
void ls_sync_choose_mode(ls_sync_job_t *j);
/** At job end: store the sync record with the next watermark (only when its text changed). */
int ls_sync_record_store(ls_sync_job_t *j);
/** The sync record as stored (compact, sorted); NULL on no memory. */
char *ls_sync_record_dump(const ls_sync_job_t *j);
/** An integer of the sync record, or dflt. */
long long ls_sync_record_int(const ls_sync_job_t *j, const char *key, long long dflt);

/* ---- ls_sync_webhook.c ---- */

/**
 * A webhook job's records (j->run.records) as the page: parse, normalize,
 * diff, and drop the records older than the stored state (st.stale_records).
 * Sets st.mode, st.pages and page_last. LS_OK; LS_EINVAL (records do not
 * parse) or LS_EIO, st.error set.
 */
int ls_sync_webhook_prepare(ls_sync_job_t *j);

#endif
