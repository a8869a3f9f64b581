/*
 * ls_ratelimit.h - how fast one worker process may ask the upstream.
 *
 * Every page request of a worker process asks the limiter first
 * (ls_limiter_acquire) and reports how it ended (ls_limiter_release). Three
 * levels, each for a different kind of upstream limit:
 *
 *   connection   one customer's LMS account (a vendor limit): a token
 *                bucket (worker.connection_rate, burst
 *                worker.connection_burst) whose rate adapts: a vendor 429
 *                halves it (at most once a second) and empties the bucket,
 *                every success adds back rate_at_cut / 50 until the
 *                configured rate is reached again; while it recovers the
 *                connection has one request in flight, not two (no
 *                prefetch: ls_limiter_may_prefetch). A connection's jobs
 *                always land on one worker process (jobs are keyed by
 *                connection), so this bucket is the connection's only one.
 *   integration  all connections of one integration type in this process:
 *                an optional token bucket (worker.integration_rates,
 *                "type=rate,...,*=rate"), for a vendor's limit over all
 *                accounts. It is configured, not guessed: a vendor's 429
 *                does not say whether the account or the whole app is over
 *                its limit, and treating coincident 429s of several
 *                accounts as an app limit collapses throughput when many
 *                accounts reach their own limits at once (every start-up).
 *   process      every request of the process: an adaptive in-flight limit
 *                (AIMD) that Unified's own 429 ("Too many requests to
 *                Unified.to") halves, at most once a second, and each
 *                success grows by 1/limit (one more request per "round").
 *
 * The in-flight limit starts at its maximum (2 x worker.max_in_flight: a
 * job has at most its page and one prefetch in flight), so nothing is
 * limited until the upstream says so. Retry-After / retry-after-ms are
 * honoured by the job that got the 429 (ls_sync); the limiter shapes every
 * later request. Buckets and limits are per worker process: a configured
 * integration rate is the share of one process. Times are monotonic ms
 * passed in by the caller, so the module is deterministic under test.
 */
#ifndef LS_RATELIMIT_H
#define LS_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

/* ---- token bucket ---- */

typedef struct ls_bucket {
    double rate;       /* tokens per second; 0 = unlimited */
    double burst;      /* capacity (>= 1) */
    double tokens;
    int64_t last_ms;
} ls_bucket_t;

/** A full bucket at now. rate 0 = unlimited. burst < 1 is taken as 1. */
void ls_bucket_init(ls_bucket_t *b, double rate_per_s, double burst, int64_t now_ms);

/** ms until one token is available (0 = now); takes nothing. */
int64_t ls_bucket_wait(ls_bucket_t *b, int64_t now_ms);

/** Take one token (call only after ls_bucket_wait() returned 0). */
void ls_bucket_take(ls_bucket_t *b, int64_t now_ms);

/**
 * Whether a job costing cost tokens may go at now_ms: the bucket holds
 * cost, or it is full (a job costlier than the whole burst goes then and
 * leaves the bucket in debt). Refills; takes nothing. Unlimited: 1.
 */
int ls_bucket_allows(ls_bucket_t *b, double cost, int64_t now_ms);

/** Take cost tokens (after ls_bucket_allows() said yes; the bucket may go below 0). */
void ls_bucket_spend(ls_bucket_t *b, double cost);

/** Change the rate, keeping the tokens (capped at burst). */
void ls_bucket_set_rate(ls_bucket_t *b, double rate_per_s, int64_t now_ms);

/* ---- additive-increase / multiplicative-decrease in-flight limit ---- */

typedef struct ls_aimd {
    double limit;      /* current limit, 1 <= limit <= max */
    int max;
    int in_flight;
    int64_t last_cut_ms;
    uint64_t cuts;
} ls_aimd_t;

void ls_aimd_init(ls_aimd_t *a, int max);
/** 1 when one more request may start. */
int ls_aimd_room(const ls_aimd_t *a);
/** A success: limit += 1/limit (at most max). */
void ls_aimd_grow(ls_aimd_t *a);
/** A throttle: limit halves (at least 1), at most once per second; 1 when it was cut. */
int ls_aimd_cut(ls_aimd_t *a, int64_t now_ms);

/* ---- rates as configured ---- */

/**
 * Parse "N/s", "N/min", "N/h" (N a decimal number >= 0) or "0" (unlimited)
 * into requests per second.
 * @return 0, or LS_EINVAL with the reason in err.
 */
int ls_rate_parse(const char *s, double *per_s, char *err, size_t errsz);

/**
 * Check an integration rate list "type=RATE,...", "*" matching every other
 * type; empty = none.
 * @return 0 or LS_EINVAL naming the bad entry.
 */
int ls_rate_spec_check(const char *spec, char *err, size_t errsz);

/* ---- the limiter of one worker process ---- */

typedef enum ls_rl_outcome {
    LS_RL_OK = 0,          /* an answer that was not a throttle (2xx, 4xx, 5xx) */
    LS_RL_VENDOR_429,      /* 429 from the LMS (passed through by Unified) */
    LS_RL_UNIFIED_429,     /* 429 of Unified's own limiter */
    LS_RL_CANCELLED        /* no answer: cancelled, timed out, reset */
} ls_rl_outcome_t;

typedef struct ls_limiter_cfg {
    double connection_rate;        /* per second, 0 = unlimited */
    double connection_burst;
    const char *integration_rates; /* "type=RATE,...,*=RATE"; NULL/"" = none */
    int max_in_flight;             /* maximum of the adaptive in-flight limit */
} ls_limiter_cfg_t;

typedef struct ls_limiter_stats {
    uint64_t granted;              /* requests let through */
    uint64_t delayed;              /* acquire calls answered "later" */
    uint64_t vendor_429, unified_429;
    uint64_t connection_cuts;      /* a connection's rate halved */
    uint64_t unified_cuts;         /* the process-wide in-flight limit halved */
    size_t connections;            /* connections tracked now */
} ls_limiter_stats_t;

typedef struct ls_limiter ls_limiter_t;

/** NULL and err on a bad integration_rates spec or no memory. */
ls_limiter_t *ls_limiter_new(const ls_limiter_cfg_t *cfg, char *err, size_t errsz);
void ls_limiter_destroy(ls_limiter_t *l);

/**
 * Ask to start one request of connection conn (integration type integ, may
 * be NULL or ""). 0 = granted (the request counts as in flight until
 * released); otherwise the monotonic ms at which to ask again. Out of
 * memory grants (the limiter never stops work on its own failure).
 */
int64_t ls_limiter_acquire(ls_limiter_t *l, const char *conn, const char *integ, int64_t now_ms);

/**
 * A granted request ended with outcome. Exactly once per granted acquire.
 * retry_after_ms (the answer's retry-after-ms / Retry-After, -1 = none) of
 * a 429 holds back every later request of the connection (vendor 429) or
 * of the whole process (Unified's 429) until then, at most 60 s.
 */
void ls_limiter_release(ls_limiter_t *l, const char *conn, ls_rl_outcome_t outcome, int64_t retry_after_ms,
                        int64_t now_ms);

/** 1 when the process has no room for another request now (Unified's limit). */
int ls_limiter_saturated(const ls_limiter_t *l);

/** 0 while conn recovers from a vendor 429: then it has one request in flight at a time. */
int ls_limiter_may_prefetch(const ls_limiter_t *l, const char *conn);

/** The current rate of conn (requests/s; 0 = unlimited or unknown). */
double ls_limiter_connection_rate(const ls_limiter_t *l, const char *conn);

/** The current process-wide in-flight limit. */
double ls_limiter_inflight_limit(const ls_limiter_t *l);

void ls_limiter_get_stats(const ls_limiter_t *l, ls_limiter_stats_t *st);

/** Classify an answer: status and body (Unified's own 429 says "Too many requests to Unified.to"). */
ls_rl_outcome_t ls_rl_classify(long status, const char *body, size_t len);

#endif
