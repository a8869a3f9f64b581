/*
 * ls_removal.h - when a full scan may remove activities, and what happens to
 * one stored activity that the scan did not see. Pure decisions: no I/O, no
 * clock, no configuration reader; every input is an argument and every
 * decision comes with its reason. The worker (worker/ls_sync_removal.c) does
 * the reading, the re-check GETs and the writing.
 *
 * The rules (docs/architecture.md, "A job (worker)", Removal):
 * - two complete full scans that miss an activity remove it (the first one
 *   leaves a pending-removal marker);
 * - the shrink guard: a scan that saw fewer than min_ratio_pct % of the last
 *   complete scan's count, or that rejected a record without a usable id,
 *   removes nothing and moves no marker; after accept_scans consecutive
 *   guarded scans that agree within tolerance_pct, the smaller count becomes
 *   the new baseline;
 * - a second miss is confirmed by a per-record GET where the provider has
 *   one (404 removes, 200 updates, anything else holds the marker);
 * - a course-scoped scan without a per-record get never removes (the record
 *   may have moved to another course): it holds the marker.
 */
#ifndef LS_REMOVAL_H
#define LS_REMOVAL_H

#include <stddef.h>

/* ---- the shrink guard ---- */

typedef struct ls_shrink_cfg {
    int min_ratio_pct;    /* worker.removal_min_ratio_pct */
    int tolerance_pct;    /* worker.shrink_tolerance_pct */
    int accept_scans;     /* worker.shrink_accept_scans (0 = never accept a shrink) */
} ls_shrink_cfg_t;

/* What the scope's sync record and the scan say. Counts < 0 = absent. */
typedef struct ls_shrink_in {
    long long last_full_count; /* the baseline, or -1 before the first complete scan */
    long long in_scope;        /* stored activities of the scope (the baseline when there is none) */
    long long seen;            /* distinct ids this scan saw */
    size_t unidentified;       /* rejected records without a usable id */
    long long shrink_count;    /* candidate baseline of earlier guarded scans, or -1 */
    long long shrink_scans;    /* how many consecutive guarded scans agreed on it (0 = none) */
} ls_shrink_in_t;

typedef enum ls_shrink_verdict {
    LS_SHRINK_PASS,          /* the scan may count misses; the candidate is cleared */
    LS_SHRINK_UNIDENTIFIED,  /* a rejected record had no id: nothing removed, sync record unchanged */
    LS_SHRINK_GUARDED,       /* too few records: nothing removed; the candidate becomes (seen, streak) */
    LS_SHRINK_ACCEPTED       /* too few, but agreed often enough: seen becomes the baseline; nothing removed */
} ls_shrink_verdict_t;

typedef struct ls_shrink_out {
    ls_shrink_verdict_t verdict;
    long long shrink_count, shrink_scans; /* GUARDED: the candidate to store */
    long long last_full_count;            /* ACCEPTED: the new baseline */
} ls_shrink_out_t;

/**
 * The shrink guard. out filled; why gets "" for LS_SHRINK_PASS, else the
 * reason (reported as the status record's removals_skipped).
 */
void ls_shrink_guard(const ls_shrink_cfg_t *cfg, const ls_shrink_in_t *in, ls_shrink_out_t *out, char *why,
                     size_t whysz);

/* ---- one unseen stored activity ---- */

typedef enum ls_gone_action {
    LS_GONE_MARK,     /* first miss: set the pending-removal marker */
    LS_GONE_RECHECK,  /* second miss: ask GET /lms/{conn}/activity/{id} first */
    LS_GONE_REMOVE,   /* emit removed, tombstone, delete state and marker */
    LS_GONE_UPDATE,   /* a re-check found it: store it like a listed record, clear the marker */
    LS_GONE_HOLD      /* keep the marker (one more miss counted); ask again next scan */
} ls_gone_action_t;

/* The scan's scope and what the provider supports. */
typedef struct ls_gone_in {
    int misses;         /* the stored marker (0 = none) */
    int has_get;        /* the job says the provider has a per-record get */
    int course_scoped;  /* the job lists one course */
} ls_gone_in_t;

/** What to do with an unseen stored activity of a complete full scan that passed the guard. */
ls_gone_action_t ls_gone_decide(const ls_gone_in_t *in, const char **why);

/* The outcome of a re-check GET. */
typedef enum ls_recheck_answer {
    LS_RECHECK_NOT_FOUND,  /* 404 */
    LS_RECHECK_FOUND,      /* 200 with the same activity, normalized and packed */
    LS_RECHECK_INVALID,    /* 200, but not this activity / cannot be stored */
    LS_RECHECK_TRANSIENT,  /* 429, 5xx, timeout, broken transfer */
    LS_RECHECK_FAILED      /* another 4xx, a url that cannot be built */
} ls_recheck_answer_t;

/**
 * What a re-check answer means after `attempt` earlier tries of this
 * record (max_retries: unified.max_retries). LS_GONE_RECHECK means "ask
 * again after a backoff"; every other action is final.
 */
ls_gone_action_t ls_recheck_decide(ls_recheck_answer_t a, int attempt, int max_retries, const char **why);

/** "mark", "recheck", "remove", "update", "hold". */
const char *ls_gone_action_name(ls_gone_action_t a);

#endif
