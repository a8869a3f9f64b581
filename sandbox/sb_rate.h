/*
 * sb_rate.h - rate limits of the simulated upstream, and what they saw.
 *
 * Two kinds of limit stand in front of the /lms data requests: a vendor
 * limit per connection (one customer's LMS account: "*" is the default of
 * every connection, a connection's own setting wins over it; each connection
 * has its own bucket either way) and one Unified-wide limit over all
 * connections together. Both are token buckets (GCRA form: integer
 * nanoseconds, no drift) on a monotonic clock, never the mutation clock.
 *
 * Alongside, per connection and overall, it counts data requests, the 429s
 * these limits gave, and the most requests that started within any one
 * second (max_rps_1s), from a ring of the start times of the last second.
 *
 * One mutex. The clock is read under it, so start times are recorded in
 * order even when handler threads race. Tests inject the clock.
 */
#ifndef SB_RATE_H
#define SB_RATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define SB_RATE_MAX_RPS 1000000.0
#define SB_RATE_MAX_BURST 1000000u
#define SB_RATE_NS 1000000000ull

/** One limit: rps 0 = none. burst 0 means the default, ceil(rps) (at least 1). */
typedef struct sb_rate_limit {
    double rps;
    unsigned burst;
} sb_rate_limit_t;

/**
 * A token bucket in GCRA form: a request at now is admitted when the
 * theoretical arrival time of the next one (tat) is at most
 * (burst - 1) * interval ahead of now, and then pushes tat one interval on.
 * It admits burst requests at once, then one per interval.
 */
typedef struct sb_bucket {
    uint64_t interval_ns;        /* 1 s / rps */
    uint64_t tolerance_ns;       /* (burst - 1) * interval */
    uint64_t tat_ns;             /* 0 when full */
} sb_bucket_t;

/** lim's burst: its own, or by default ceil(rps), at least 1. */
unsigned sb_rate_limit_burst(const sb_rate_limit_t *lim);

/** A full bucket for lim (lim->rps > 0). */
void sb_bucket_init(sb_bucket_t *b, const sb_rate_limit_t *lim);

/**
 * Take one token at now_ns. Returns true when admitted; otherwise false with
 * *wait_ns = how long until a token is there again (> 0). Rejected requests
 * take nothing.
 */
bool sb_bucket_take(sb_bucket_t *b, uint64_t now_ns, uint64_t *wait_ns);

/**
 * Start times of the last second, to find the most requests that started
 * within any 1-second window (half-open: requests exactly 1 s apart are
 * not in one window). The ring grows with the rate (up to SB_WINDOW_MAX,
 * beyond which the count saturates).
 */
#define SB_WINDOW_MAX (1u << 20)
typedef struct sb_window {
    uint64_t *t;                 /* ring of start times, ns */
    size_t cap, head, n;
    uint64_t last_ns;
    unsigned long max;           /* the answer so far */
} sb_window_t;

void sb_window_init(sb_window_t *w);
void sb_window_release(sb_window_t *w);

/** Forget the times and the max (the ring keeps its memory). */
void sb_window_reset(sb_window_t *w);

/**
 * Record a request that started at now_ns (an earlier time than the last is
 * taken as the last). Returns how many started in (now - 1 s, now], and
 * raises w->max to it.
 */
unsigned long sb_window_add(sb_window_t *w, uint64_t now_ns);

/**
 * Parse "RPS[:BURST]" (the --rate-limit form): RPS a decimal number
 * 0..SB_RATE_MAX_RPS (0 = off), BURST an integer 1..SB_RATE_MAX_BURST.
 * @return 0, or LS_EINVAL (*out untouched).
 */
int sb_rate_parse(const char *spec, sb_rate_limit_t *out);

/** What a POST /_sandbox/ratelimit body asks for. */
typedef struct sb_rate_req {
    bool unified;                /* "scope":"unified" */
    const char *connection_id;   /* borrowed from the body; "*" or an id; NULL when unified */
    sb_rate_limit_t limit;
} sb_rate_req_t;

/**
 * Parse {"connection_id":"conn-0001"|"*","rps":N,"burst":M} or
 * {"scope":"unified","rps":N,"burst":M} (pure). Strings in *req are
 * borrowed from body.
 * @return 0, or LS_EINVAL with a message in err.
 */
int sb_rate_parse_body(const json_t *body, sb_rate_req_t *req, char *err, size_t err_size);

typedef struct sb_rate sb_rate_t;

/** Monotonic nanoseconds; cls is the pointer given to sb_rate_new. */
typedef uint64_t (*sb_rate_clock_fn)(void *cls);

/** The default clock: CLOCK_MONOTONIC. */
uint64_t sb_rate_mono_ns(void *cls);

/** A limiter with no limits. clock NULL = sb_rate_mono_ns. NULL when out of memory. */
sb_rate_t *sb_rate_new(sb_rate_clock_fn clock, void *clock_cls);
void sb_rate_destroy(sb_rate_t *r);

/**
 * Register a connection that exists (copied). Only registered connections
 * have vendor limits and per-connection counters.
 * @return 0, or LS_ENOMEM.
 */
int sb_rate_add_connection(sb_rate_t *r, const char *conn_id);

/**
 * Set a limit: conn_id NULL = the Unified-wide limit, "*" = every
 * connection's default, else that connection's own (lim->rps 0 removes it).
 * The buckets it governs start full again.
 * @return 0, or LS_ENOTFOUND (connection not registered).
 */
int sb_rate_set(sb_rate_t *r, const char *conn_id, const sb_rate_limit_t *lim);

/** Remove every limit. */
void sb_rate_clear(sb_rate_t *r);

/** The limits set: {"unified":{"rps":..,"burst":..}|null,"connections":{"*":{..},"conn-0001":{..}}}. New reference. */
json_t *sb_rate_limits_json(sb_rate_t *r);

typedef enum sb_rate_verdict {
    SB_RATE_OK = 0,
    SB_RATE_VENDOR,              /* the connection's LMS said 429 */
    SB_RATE_UNIFIED              /* Unified's own limit said 429 */
} sb_rate_verdict_t;

typedef struct sb_rate_hit {
    sb_rate_verdict_t verdict;
    uint64_t wait_ns;            /* until a token is there again; 0 when admitted */
    double rps;                  /* of the limit that refused */
} sb_rate_hit_t;

/**
 * One data request starting now: count it and decide. The Unified-wide
 * limit is asked first (a request it refuses never reaches the vendor, so
 * takes no vendor token), then the connection's. conn_id NULL or not
 * registered: counted overall only, and only the Unified limit applies.
 */
void sb_rate_check(sb_rate_t *r, const char *conn_id, sb_rate_hit_t *hit);

/**
 * Add the counters to a stats object (borrowed): "rate_limited",
 * "rate_limited_unified", "max_rps_1s" and "connections":{id:{"requests",
 * "rate_limited","rate_limited_unified","max_rps_1s"}} for every connection
 * with a data request since the last reset, in registration order.
 */
void sb_rate_stats_json(sb_rate_t *r, json_t *stats);

/** Zero the counters and windows (limits and buckets stay). */
void sb_rate_reset_stats(sb_rate_t *r);

/** Retry-After seconds for a wait: rounded up, at least 1. */
long sb_rate_retry_after_s(uint64_t wait_ns);

/** retry-after-ms for a wait: rounded up, at least 1. */
long sb_rate_retry_after_ms(uint64_t wait_ns);

#endif
