/*
 * ls_ratelimit.c - token buckets and AIMD in-flight limits (ls_ratelimit.h).
 *
 * Connections and integrations live in two name-keyed maps (ls_strmap).
 * Connection entries that have been idle for an hour are dropped
 * when the table has doubled since the last sweep, so a process that sees
 * many connections over its life does not grow without bound.
 */
#include "ls_ratelimit.h"
#include "ls_err.h"
#include "ls_hash.h"
#include "ls_strmap.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_RATE (1.0 / 60.0)      /* a throttled connection still gets one request a minute */
#define RECOVER_STEPS 50.0         /* successes to climb back by the amount of one cut */
#define CUT_SPACING_MS 1000        /* at most one cut per second per limit */
#define MAX_HOLD_MS 60000          /* a Retry-After holds back at most this long (as ls_sync's backoff) */
#define BUSY_RETRY_MS 20           /* ask again this soon when an in-flight limit is full */
#define IDLE_EVICT_MS (3600 * 1000LL)
#define UNIFIED_429_TEXT "Too many requests to Unified.to"

/* ---- token bucket ---- */

void ls_bucket_init(ls_bucket_t *b, double rate_per_s, double burst, int64_t now_ms)
{
    b->rate = rate_per_s > 0 ? rate_per_s : 0;
    b->burst = burst >= 1 ? burst : 1;
    b->tokens = b->burst;
    b->last_ms = now_ms;
}

static void refill(ls_bucket_t *b, int64_t now_ms)
{
    if (now_ms <= b->last_ms)
        return;
    if (b->rate <= 0)
        b->tokens = b->burst;
    else
        b->tokens = fmin(b->burst, b->tokens + (double)(now_ms - b->last_ms) * b->rate / 1000.0);
    b->last_ms = now_ms;
}

int64_t ls_bucket_wait(ls_bucket_t *b, int64_t now_ms)
{
    if (b->rate <= 0)
        return 0;
    refill(b, now_ms);
    if (b->tokens >= 1.0)
        return 0;
    int64_t w = (int64_t)ceil((1.0 - b->tokens) * 1000.0 / b->rate);
    return w > 0 ? w : 1;
}

void ls_bucket_take(ls_bucket_t *b, int64_t now_ms)
{
    if (b->rate <= 0)
        return;
    refill(b, now_ms);
    b->tokens -= 1.0;
}

int ls_bucket_allows(ls_bucket_t *b, double cost, int64_t now_ms)
{
    if (b->rate <= 0)
        return 1;
    refill(b, now_ms);
    return b->tokens >= cost || b->tokens >= b->burst;
}

void ls_bucket_spend(ls_bucket_t *b, double cost)
{
    if (b->rate > 0)
        b->tokens -= cost;
}

void ls_bucket_set_rate(ls_bucket_t *b, double rate_per_s, int64_t now_ms)
{
    refill(b, now_ms);
    b->rate = rate_per_s > 0 ? rate_per_s : 0;
    if (b->tokens > b->burst)
        b->tokens = b->burst;
}

/* ---- AIMD ---- */

void ls_aimd_init(ls_aimd_t *a, int max)
{
    memset(a, 0, sizeof(*a));
    a->max = max >= 1 ? max : 1;
    a->limit = a->max;
}

int ls_aimd_room(const ls_aimd_t *a)
{
    return (double)a->in_flight + 1.0 <= a->limit + 1e-9;
}

void ls_aimd_grow(ls_aimd_t *a)
{
    a->limit = fmin((double)a->max, a->limit + 1.0 / a->limit);
}

int ls_aimd_cut(ls_aimd_t *a, int64_t now_ms)
{
    if (a->cuts && now_ms - a->last_cut_ms < CUT_SPACING_MS)
        return 0;
    a->limit = fmax(1.0, floor(a->limit / 2.0));
    a->last_cut_ms = now_ms;
    a->cuts++;
    return 1;
}

/* ---- configured rates ---- */

int ls_rate_parse(const char *s, double *per_s, char *err, size_t errsz)
{
    char *end;
    errno = 0;
    double n = strtod(s, &end);
    if (errno || end == s || !isfinite(n) || n < 0) {
        snprintf(err, errsz, "rate \"%.40s\" must be N/s, N/min or N/h with N >= 0", s);
        return LS_EINVAL;
    }
    double div;
    if (*end == '\0' && n == 0)
        div = 1;
    else if (strcmp(end, "/s") == 0)
        div = 1;
    else if (strcmp(end, "/min") == 0)
        div = 60;
    else if (strcmp(end, "/h") == 0)
        div = 3600;
    else {
        snprintf(err, errsz, "rate \"%.40s\" must be N/s, N/min or N/h (or 0 for unlimited)", s);
        return LS_EINVAL;
    }
    *per_s = n / div;
    return LS_OK;
}

/* Walk "type=RATE,..." calling cb per entry; 0 or the first error. */
static int spec_walk(const char *spec, int (*cb)(const char *type, double rate, void *ud), void *ud,
                     char *err, size_t errsz)
{
    const char *p = spec ? spec : "";
    while (*p) {
        char ent[160], *eq;
        size_t n = strcspn(p, ",");
        if (n >= sizeof(ent)) {
            snprintf(err, errsz, "integration rate entry \"%.40s...\" is too long", p);
            return LS_EINVAL;
        }
        memcpy(ent, p, n);
        ent[n] = '\0';
        p += n + (p[n] == ',');
        char *s = ent;
        while (isspace((unsigned char)*s))
            s++;
        for (char *e = s + strlen(s); e > s && isspace((unsigned char)e[-1]);)
            *--e = '\0';
        if (*s == '\0')
            continue;
        if (!(eq = strchr(s, '=')) || eq == s) {
            snprintf(err, errsz, "integration rate entry \"%.60s\" is not TYPE=RATE", s);
            return LS_EINVAL;
        }
        *eq = '\0';
        double r;
        char why[160];
        if (ls_rate_parse(eq + 1, &r, why, sizeof(why)) != LS_OK) {
            snprintf(err, errsz, "integration rate for \"%.40s\": %s", s, why);
            return LS_EINVAL;
        }
        int rc = cb ? cb(s, r, ud) : LS_OK;
        if (rc != LS_OK)
            return rc;
    }
    return LS_OK;
}

int ls_rate_spec_check(const char *spec, char *err, size_t errsz)
{
    return spec_walk(spec, NULL, NULL, err, errsz);
}

/* ---- tables ---- */

/* A connection, or an integration type (which uses only its bucket). */
typedef struct ent {
    ls_bucket_t bucket;
    int in_flight;
    int64_t last_used_ms;
    /* connections */
    double ceiling;            /* > 0 while recovering from a cut: the rate to climb back to */
    double step;               /* rate added per success while recovering */
    double gap_ms;             /* moving average of the time between request starts (0 = unknown) */
    int64_t last_start_ms;
    int64_t last_cut_ms;
    int cut_once;              /* last_cut_ms is set */
    int64_t hold_until_ms;     /* Retry-After of the last vendor 429: nothing before */
} ent_t;

typedef struct rate_rule {
    char type[128];
    double rate;
} rate_rule_t;

struct ls_limiter {
    ls_limiter_cfg_t cfg;
    rate_rule_t *rules;
    size_t n_rules;
    double default_integration_rate;   /* from "*" (0 = none) */
    ls_strmap_t *conns, *integs;
    size_t swept_at;                   /* connections tracked after the last sweep */
    ls_aimd_t unified;
    int64_t unified_hold_until_ms;     /* retry-after of Unified's last 429: nothing before */
    ls_limiter_stats_t st;
};

/* ---- limiter ---- */

static int add_rule(const char *type, double rate, void *ud)
{
    ls_limiter_t *l = ud;
    if (strcmp(type, "*") == 0) {
        l->default_integration_rate = rate;
        return LS_OK;
    }
    rate_rule_t *r = realloc(l->rules, (l->n_rules + 1) * sizeof(*r));
    if (!r)
        return LS_ENOMEM;
    l->rules = r;
    snprintf(r[l->n_rules].type, sizeof(r[l->n_rules].type), "%s", type);
    r[l->n_rules++].rate = rate;
    return LS_OK;
}

ls_limiter_t *ls_limiter_new(const ls_limiter_cfg_t *cfg, char *err, size_t errsz)
{
    ls_limiter_t *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, errsz, "out of memory for the rate limiter");
        return NULL;
    }
    l->cfg = *cfg;
    l->cfg.integration_rates = NULL;
    int rc = spec_walk(cfg->integration_rates, add_rule, l, err, errsz);
    if (rc == LS_OK && (!(l->conns = ls_strmap_new(sizeof(ent_t))) || !(l->integs = ls_strmap_new(sizeof(ent_t)))))
        rc = LS_ENOMEM;
    if (rc != LS_OK) {
        if (rc == LS_ENOMEM)
            snprintf(err, errsz, "out of memory for the rate limiter");
        ls_limiter_destroy(l);
        return NULL;
    }
    ls_aimd_init(&l->unified, cfg->max_in_flight);
    return l;
}

void ls_limiter_destroy(ls_limiter_t *l)
{
    if (!l)
        return;
    ls_strmap_destroy(l->conns);
    ls_strmap_destroy(l->integs);
    free(l->rules);
    free(l);
}

static double integration_rate(const ls_limiter_t *l, const char *integ)
{
    for (size_t i = 0; i < l->n_rules; i++)
        if (strcmp(l->rules[i].type, integ) == 0)
            return l->rules[i].rate;
    return l->default_integration_rate;
}

static ent_t *integ_get(ls_limiter_t *l, const char *integ, int64_t now_ms)
{
    const char *name = integ ? integ : "";
    int added;
    ent_t *e = ls_strmap_put(l->integs, name, &added);
    if (e && added) {
        double r = integration_rate(l, name);
        ls_bucket_init(&e->bucket, r, fmax(1.0, r), now_ms);
    }
    return e;
}

/* Sweep callback: idle for an hour with nothing in flight. */
static int idle(const char *name, void *value, void *ud)
{
    (void)name;
    const ent_t *e = value;
    return e->in_flight == 0 && *(const int64_t *)ud - e->last_used_ms > IDLE_EVICT_MS;
}

static ent_t *conn_get(ls_limiter_t *l, const char *conn, int64_t now_ms)
{
    ent_t *e = ls_strmap_get(l->conns, conn);
    if (e)
        return e;
    size_t n = ls_strmap_count(l->conns);
    if (n >= 1024 && n >= 2 * l->swept_at) {
        ls_strmap_sweep(l->conns, idle, &now_ms);
        l->swept_at = ls_strmap_count(l->conns);
    }
    if ((e = ls_strmap_put(l->conns, conn, NULL))) {
        ls_bucket_init(&e->bucket, l->cfg.connection_rate, l->cfg.connection_burst, now_ms);
        e->last_used_ms = now_ms;
    }
    return e;
}

int64_t ls_limiter_acquire(ls_limiter_t *l, const char *conn, const char *integ, int64_t now_ms)
{
    ent_t *ie = integ_get(l, integ, now_ms), *ce = conn_get(l, conn, now_ms);
    if (now_ms < l->unified_hold_until_ms || (ce && now_ms < ce->hold_until_ms)) {
        l->st.delayed++;
        return ce && ce->hold_until_ms > l->unified_hold_until_ms ? ce->hold_until_ms : l->unified_hold_until_ms;
    }
    if (!ls_aimd_room(&l->unified)) {
        l->st.delayed++;
        return now_ms + BUSY_RETRY_MS;
    }
    int64_t w = ie ? ls_bucket_wait(&ie->bucket, now_ms) : 0;
    int64_t wc = ce ? ls_bucket_wait(&ce->bucket, now_ms) : 0;
    if (wc > w)
        w = wc;
    if (w > 0) {
        l->st.delayed++;
        return now_ms + w;
    }
    l->unified.in_flight++;
    if (ie)
        ls_bucket_take(&ie->bucket, now_ms);
    if (ce) {
        ls_bucket_take(&ce->bucket, now_ms);
        if (ce->last_start_ms) {
            double gap = (double)(now_ms - ce->last_start_ms);
            ce->gap_ms = ce->gap_ms > 0 ? 0.8 * ce->gap_ms + 0.2 * gap : gap;
        }
        ce->last_start_ms = now_ms;
        ce->in_flight++;
        ce->last_used_ms = now_ms;
    }
    l->st.granted++;
    return 0;
}

/* A vendor 429 of this connection: halve its rate (once per second), empty its bucket. */
static void conn_cut(ls_limiter_t *l, ent_t *ce, int64_t now_ms)
{
    ce->bucket.tokens = 0;
    ce->bucket.last_ms = now_ms;
    if (ce->cut_once && now_ms - ce->last_cut_ms < CUT_SPACING_MS && ce->bucket.rate > 0)
        return;
    double cur = ce->bucket.rate;
    if (cur <= 0) /* unlimited so far: start from the rate it was asking at */
        cur = ce->gap_ms > 0 ? 1000.0 / fmax(ce->gap_ms, 1.0) : 1.0;
    if (ce->ceiling <= 0)
        ce->ceiling = l->cfg.connection_rate > 0 ? l->cfg.connection_rate : 2.0 * cur;
    double next = fmax(MIN_RATE, cur / 2.0);
    ce->step = fmax(MIN_RATE, cur / RECOVER_STEPS);
    ls_bucket_set_rate(&ce->bucket, next, now_ms);
    ce->bucket.tokens = 0;
    ce->last_cut_ms = now_ms;
    ce->cut_once = 1;
    l->st.connection_cuts++;
}

static void conn_recover(ls_limiter_t *l, ent_t *ce, int64_t now_ms)
{
    if (ce->ceiling <= 0)
        return;
    double next = ce->bucket.rate + ce->step;
    if (next >= ce->ceiling) {
        ls_bucket_set_rate(&ce->bucket, l->cfg.connection_rate, now_ms);
        ce->ceiling = 0;
    } else {
        ls_bucket_set_rate(&ce->bucket, next, now_ms);
    }
}

void ls_limiter_release(ls_limiter_t *l, const char *conn, ls_rl_outcome_t outcome, int64_t retry_after_ms,
                        int64_t now_ms)
{
    int64_t hold = retry_after_ms > 0 ? now_ms + (retry_after_ms < MAX_HOLD_MS ? retry_after_ms : MAX_HOLD_MS) : 0;
    ent_t *ce = ls_strmap_get(l->conns, conn);
    if (l->unified.in_flight > 0)
        l->unified.in_flight--;
    if (ce && ce->in_flight > 0)
        ce->in_flight--;
    switch (outcome) {
    case LS_RL_OK:
        ls_aimd_grow(&l->unified);
        if (ce)
            conn_recover(l, ce, now_ms);
        break;
    case LS_RL_VENDOR_429:
        l->st.vendor_429++;
        if (ce) {
            conn_cut(l, ce, now_ms);
            if (hold > ce->hold_until_ms)
                ce->hold_until_ms = hold;
        }
        break;
    case LS_RL_UNIFIED_429:
        l->st.unified_429++;
        if (ls_aimd_cut(&l->unified, now_ms))
            l->st.unified_cuts++;
        if (hold > l->unified_hold_until_ms)
            l->unified_hold_until_ms = hold;
        break;
    case LS_RL_CANCELLED:
        break;
    }
}

int ls_limiter_saturated(const ls_limiter_t *l)
{
    return !ls_aimd_room(&l->unified);
}

int ls_limiter_may_prefetch(const ls_limiter_t *l, const char *conn)
{
    const ent_t *ce = ls_strmap_get(l->conns, conn);
    return !ce || ce->ceiling <= 0;
}

double ls_limiter_connection_rate(const ls_limiter_t *l, const char *conn)
{
    const ent_t *ce = ls_strmap_get(l->conns, conn);
    return ce ? ce->bucket.rate : 0;
}

double ls_limiter_inflight_limit(const ls_limiter_t *l)
{
    return l->unified.limit;
}

void ls_limiter_get_stats(const ls_limiter_t *l, ls_limiter_stats_t *st)
{
    *st = l->st;
    st->connections = ls_strmap_count(l->conns);
}

ls_rl_outcome_t ls_rl_classify(long status, const char *body, size_t len)
{
    if (status == 0)
        return LS_RL_CANCELLED;
    if (status != 429)
        return LS_RL_OK;
    size_t tl = strlen(UNIFIED_429_TEXT);
    for (size_t i = 0; body && len >= tl && i <= len - tl; i++)
        if (body[i] == 'T' && memcmp(body + i, UNIFIED_429_TEXT, tl) == 0)
            return LS_RL_UNIFIED_429;
    return LS_RL_VENDOR_429;
}
