/*
 * ls_job.h - poll jobs (lmsync.poll.jobs) and their outcomes (lmsync.sync.status).
 *
 * Job value (JSON, key = connection id):
 *   {"v":1, "job_id":"conn-1@1764252588000", "connection_id":"conn-1",
 *    "integration_type":"coursera", "external_xref":"tenant-1" (optional),
 *    "course_id": (optional: a per-course scope), "mode":"full",
 *    "scheduled_at":"2026-11-27T14:09:48Z",
 *    optional, from the connection's strategy (ls_profile.h); absent = the
 *    behaviour of jobs written before strategies existed (every field, no
 *    sort, paged, no per-record get, no updated_gte):
 *    "fields":["id","course_id",...]   fields to request (absent: every tracked field)
 *    "sort":"created_at"                sort to send (absent: none)
 *    "order":"asc"                      order to send with sort (absent: none)
 *    "paged":false                      the list does not page (absent: true)
 *    "get":true                         GET /lms/{conn}/activity/{id} exists (absent: false)
 *    "updated_gte":"supported"|"required"  (absent: not supported; an
 *                                       incremental job needs it)
 *    "leader_epoch":N                   the coordinator replica's leadership
 *                                       epoch (absent: a single coordinator)
 *    "workspace":"eu"                   the Unified workspace (unified.workspaces)
 *                                       whose base URL and token the job uses
 *                                       (absent: the default workspace)
 *    "records":[{...},...]              mode "webhook" only, and required there:
 *                                       the records a webhook delivered (1..
 *                                       LS_JOB_RECORDS_MAX_N, at most
 *                                       LS_JOB_RECORDS_MAX bytes as compact JSON)
 *    "kind":"catalog"                   a catalog job: fetch the connection's
 *                                       course and content names (absent or
 *                                       "activity": a poll job); mode "full",
 *                                       no course_id, no strategy members)
 *    "tenant":"t-1"                     the tenant the coordinator resolved for the
 *                                       connection (coordinator.tenant_map, else
 *                                       external_xref); the worker shares its
 *                                       in-flight slots by it (absent: external_xref,
 *                                       or "" when that is absent too)
 *    "resync":true                      a re-snapshot requested by an operator
 *                                       (lmsync-admin resync): never skipped as
 *                                       stale or duplicate; after the full scan
 *                                       the worker republishes every current
 *                                       record and every progress rollup of
 *                                       the scope (absent: false)}
 * Status value (JSON, key = connection id [/course id]): ls_status_encode().
 */
#ifndef LS_JOB_H
#define LS_JOB_H

#include <stddef.h>
#include <stdint.h>
#include "ls_activity.h"
#include "ls_scope.h"

#define LS_JOB_VERSION 1
#define LS_JOB_RECORDS_MAX (512 * 1024) /* bytes of a webhook job's records (compact JSON): under Kafka's 1 MB */
#define LS_JOB_RECORDS_MAX_N 1000       /* records of one webhook job */

/* What a job does. A catalog job's scope key is "conn//catalog" (ls_job_scope):
 * '/' cannot start a course id, so it never names an activity scope. */
typedef enum {
    LS_JOB_ACTIVITY = 0,  /* poll the activity list (absent "kind") */
    LS_JOB_CATALOG,       /* refresh the course and content names (ls_catalog.h) */
} ls_job_kind_t;

/** "activity", "catalog". */
const char *ls_job_kind_name(ls_job_kind_t k);

typedef struct ls_job {
    char job_id[LS_KEY_MAX + 40];      /* "conn[/course]@ms" */
    char connection_id[LS_STR_MAX + 1];
    char integration_type[64];
    char external_xref[LS_STR_MAX + 1];  /* "" when none */
    char course_id[LS_STR_MAX + 1];      /* "" = whole connection */
    ls_mode_t mode;                       /* LS_MODE_FULL, LS_MODE_INCREMENTAL or LS_MODE_WEBHOOK */
    int64_t scheduled_at;                 /* ms since epoch */
    char fields[512];                     /* comma list; "" = every tracked field */
    char sort[16];                        /* "" | "created_at" | "updated_at" */
    int order_asc;                        /* send order=asc with sort */
    int unpaged;                          /* 1 = one request without limit/offset */
    int get;                              /* per-record get exists */
    ls_gte_t gte;                         /* updated_gte on the activity list */
    int64_t leader_epoch;                 /* "leader_epoch": the enqueuing coordinator's leadership epoch (0 = absent) */
    char workspace[LS_WORKSPACE_MAX];     /* "workspace": the Unified workspace of the connection ("" = the default) */
    char *records;                        /* webhook jobs: the records, a compact JSON array with sorted
                                             keys (owned: ls_job_release); NULL for polling jobs. A copy
                                             of the struct borrows it. */
    size_t records_len;
    ls_job_kind_t kind;                   /* "kind": LS_JOB_ACTIVITY (absent) or LS_JOB_CATALOG */
    int resync;                           /* "resync": 1 = re-snapshot on request (a full job) */
    char tenant[LS_STR_MAX + 1];          /* "tenant": the resolved tenant (decoded absent: external_xref) */
} ls_job_t;

/** Encode as compact JSON (malloc'd string, caller frees); NULL on allocation failure or records that do not parse. */
char *ls_job_encode(const ls_job_t *job);

/**
 * Decode a job message value (len bytes, need not be NUL-terminated) into
 * *job, which is overwritten (release an earlier decode first).
 * @return 0 (a webhook job then owns its records: ls_job_release), or
 *         LS_EINVAL with a precise reason in err (never crashes on garbage;
 *         nothing to release).
 */
int ls_job_decode(const char *value, size_t len, ls_job_t *job, char *err, size_t errsz);

/**
 * Give job the records of a webhook: arr (borrowed) must be a JSON array
 * of 1..LS_JOB_RECORDS_MAX_N objects whose compact text fits
 * LS_JOB_RECORDS_MAX; job->records is replaced by that text (owned).
 * @return 0, or LS_EINVAL with the reason in err (job unchanged), LS_ENOMEM.
 */
int ls_job_set_records(ls_job_t *job, const json_t *arr, char *err, size_t errsz);

/** Free what a job owns (its records); the rest of it stays. NULL accepted. */
void ls_job_release(ls_job_t *job);

/** Scope key "conn" or "conn/course" (a catalog job: "conn//catalog") of the
 *  workspace-qualified connection (ls_conn_qualify): status key and LMDB sync key. */
void ls_job_scope(const ls_job_t *job, char *buf, size_t bufsz);

typedef struct ls_status {
    int ok;                    /* 1 = every page fetched and delivered */
    char error[512];           /* one-line reason when !ok */
    int64_t started_at, finished_at;
    uint64_t pages, records, rejected, events, state_writes;
    uint64_t requests, bytes, retries;
    uint64_t removed;          /* removed events produced and acknowledged (also in events) */
    uint64_t pending_removals; /* activities missed for the first time by this complete full scan */
    char removals_skipped[256];/* "" = null; why the removal pass was skipped (shrink guard) */
    ls_mode_t mode;            /* mode actually run (LS_MODE_NONE = the job's): an incremental job without a watermark runs full */
    char watermark[40];        /* "" = null; updated_gte sent (incremental) */
    char next_watermark[40];   /* "" = null; watermark stored by this job */
    uint64_t removals_held;    /* missed twice but not removable: course scope without per-record get */
    uint64_t rechecked;        /* removal candidates re-checked with a per-record GET */
    uint64_t rate_waits;       /* times a request waited for the rate limiter (ls_ratelimit.h) */
    uint64_t duplicates;       /* records whose id an earlier record of the same scan had: ignored (first wins) */
    uint64_t stale_records;    /* webhook jobs: records older than the stored state (updated_at earlier): not applied */
    uint64_t republished;      /* current records republished from the stored state (resync jobs) */
    uint64_t rollups_republished; /* enrollment and course rollups republished (resync jobs) */
    int skipped;               /* 1 = not run: stale or duplicate (skip_reason says why); ok is 1 then */
    char skip_reason[512];
} ls_status_t;

/**
 * Status record JSON (malloc'd, caller frees) for job; NULL on allocation
 * failure. Members: job_id, connection_id, workspace (named workspaces
 * only), leader_epoch (the job's, when it had one), course_id (course scopes only),
 * scope, integration_type, mode (st->mode, else the job's), outcome
 * ("ok" | "failed" | "skipped"), kind ("catalog" only for catalog jobs;
 * absent = activity), started_at, finished_at, error (null
 * unless failed), skip_reason (null unless skipped), every counter of
 * ls_status_t, and removals_skipped, watermark, next_watermark (null when "").
 */
char *ls_status_encode(const ls_job_t *job, const ls_status_t *st);

/**
 * Decode a status record value (len bytes, need not be NUL-terminated): the
 * inverse of ls_status_encode(). Fills job's identity (job_id,
 * connection_id, integration_type, course_id; mode = the mode run) and *st
 * (outcome "skipped" sets skipped and ok). job_id, connection_id and
 * outcome are required; every other member may be absent (0 / "" / mode
 * LS_MODE_NONE), so records of older workers still decode, but a member
 * that is present must have its type and range, and `scope` must be the
 * key ls_job_scope() builds.
 * @return 0, or LS_EINVAL with a precise reason in err (never crashes on
 *         garbage); *job and *st are zeroed on error.
 */
int ls_status_decode(const char *value, size_t len, ls_job_t *job, ls_status_t *st,
                     char *err, size_t errsz);

#endif
