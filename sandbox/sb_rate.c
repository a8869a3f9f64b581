/*
 * sb_rate.c - rate limits and their counters (see sb_rate.h).
 *
 * Connections live in a chained hash (looked up on every data request) and
 * in a vector in registration order (for the stats). A bucket remembers the
 * limit it was built from; when the effective limit of its connection
 * differs (set, removed, or "*" changed) it is rebuilt full.
 */
#include "sb_rate.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ls_err.h"

#define SB_RATE_HASH 1024

typedef struct sb_rate_conn {
    struct sb_rate_conn *next;   /* hash chain */
    char *id;
    sb_rate_limit_t own;         /* rps 0: none, "*" applies */
    sb_rate_limit_t built;       /* what bucket was built from; rps 0: no bucket */
    sb_bucket_t bucket;
    unsigned long long requests, limited, limited_unified;
    sb_window_t win;
} sb_rate_conn_t;

struct sb_rate {
    pthread_mutex_t mu;
    sb_rate_clock_fn clock;
    void *clock_cls;
    sb_rate_conn_t *hash[SB_RATE_HASH];
    sb_rate_conn_t **all;
    size_t n, cap;
    sb_rate_limit_t dflt;        /* "*" */
    sb_rate_limit_t unified;
    sb_bucket_t unified_bucket;
    unsigned long long limited, limited_unified;
    sb_window_t win;             /* every data request */
};

/* ---- bucket ----------------------------------------------------------- */

unsigned sb_rate_limit_burst(const sb_rate_limit_t *lim)
{
    if (lim->burst > 0)
        return lim->burst;
    double c = ceil(lim->rps);
    return c < 1.0 ? 1u : c > SB_RATE_MAX_BURST ? SB_RATE_MAX_BURST : (unsigned)c;
}

void sb_bucket_init(sb_bucket_t *b, const sb_rate_limit_t *lim)
{
    double iv = (double)SB_RATE_NS / lim->rps;
    b->interval_ns = iv < 1.0 ? 1u : (uint64_t)llround(iv);
    b->tolerance_ns = (uint64_t)(sb_rate_limit_burst(lim) - 1) * b->interval_ns;
    b->tat_ns = 0;
}

bool sb_bucket_take(sb_bucket_t *b, uint64_t now_ns, uint64_t *wait_ns)
{
    uint64_t tat = b->tat_ns > now_ns ? b->tat_ns : now_ns;
    if (tat - now_ns > b->tolerance_ns) {
        *wait_ns = tat - b->tolerance_ns - now_ns;
        return false;
    }
    b->tat_ns = tat + b->interval_ns;
    *wait_ns = 0;
    return true;
}

long sb_rate_retry_after_s(uint64_t wait_ns)
{
    uint64_t s = (wait_ns + SB_RATE_NS - 1) / SB_RATE_NS;
    return s < 1 ? 1 : (long)s;
}

long sb_rate_retry_after_ms(uint64_t wait_ns)
{
    uint64_t ms = (wait_ns + 999999u) / 1000000u;
    return ms < 1 ? 1 : (long)ms;
}

/* ---- window ----------------------------------------------------------- */

void sb_window_init(sb_window_t *w)
{
    memset(w, 0, sizeof(*w));
}

void sb_window_release(sb_window_t *w)
{
    free(w->t);
    sb_window_init(w);
}

void sb_window_reset(sb_window_t *w)
{
    w->head = w->n = 0;
    w->last_ns = 0;
    w->max = 0;
}

/* Make room for one more; false when at SB_WINDOW_MAX or out of memory. */
static bool sb_window_grow(sb_window_t *w)
{
    if (w->n < w->cap)
        return true;
    size_t ncap = w->cap ? w->cap * 2 : 16;
    if (ncap > SB_WINDOW_MAX)
        return false;
    uint64_t *nt = malloc(ncap * sizeof(*nt));
    if (!nt)
        return false;
    for (size_t i = 0; i < w->n; i++)
        nt[i] = w->t[(w->head + i) % w->cap];
    free(w->t);
    w->t = nt;
    w->cap = ncap;
    w->head = 0;
    return true;
}

unsigned long sb_window_add(sb_window_t *w, uint64_t now_ns)
{
    if (now_ns < w->last_ns)
        now_ns = w->last_ns;
    w->last_ns = now_ns;
    /* keep only t > now - 1 s */
    while (w->n > 0 && w->t[w->head] + SB_RATE_NS <= now_ns) {
        w->head = (w->head + 1) % w->cap;
        w->n--;
    }
    if (!sb_window_grow(w)) {        /* saturated: drop the oldest */
        if (w->n == 0)
            return w->max;
        w->head = (w->head + 1) % w->cap;
        w->n--;
    }
    w->t[(w->head + w->n) % w->cap] = now_ns;
    w->n++;
    if (w->n > w->max)
        w->max = w->n;
    return w->n;
}

/* ---- parsing ---------------------------------------------------------- */

static bool sb_rate_valid(double rps, long long burst)
{
    return isfinite(rps) && rps >= 0.0 && rps <= SB_RATE_MAX_RPS &&
           burst >= 0 && burst <= (long long)SB_RATE_MAX_BURST;
}

int sb_rate_parse(const char *spec, sb_rate_limit_t *out)
{
    if (!spec || !((*spec >= '0' && *spec <= '9') || *spec == '.'))
        return LS_EINVAL;
    char *end = NULL;
    double rps = strtod(spec, &end);
    long long burst = 0;
    if (end == spec)
        return LS_EINVAL;
    if (*end == ':') {
        const char *b = end + 1;
        if (*b < '0' || *b > '9')
            return LS_EINVAL;
        burst = strtoll(b, &end, 10);
        if (burst < 1)
            return LS_EINVAL;
    }
    if (*end != '\0' || !sb_rate_valid(rps, burst))
        return LS_EINVAL;
    out->rps = rps;
    out->burst = (unsigned)burst;
    return LS_OK;
}

int sb_rate_parse_body(const json_t *body, sb_rate_req_t *req, char *err, size_t err_size)
{
    memset(req, 0, sizeof(*req));
    const json_t *scope = json_object_get(body, "scope"), *cid = json_object_get(body, "connection_id");
    const json_t *rps = json_object_get(body, "rps"), *burst = json_object_get(body, "burst");
    const char *s = scope ? json_string_value(scope) : "connection";
    if (!s || (strcmp(s, "connection") != 0 && strcmp(s, "unified") != 0)) {
        snprintf(err, err_size, "scope must be \"connection\" or \"unified\"");
        return LS_EINVAL;
    }
    req->unified = strcmp(s, "unified") == 0;
    if (req->unified ? cid != NULL : !json_is_string(cid)) {
        snprintf(err, err_size, req->unified ? "a unified limit takes no connection_id"
                                             : "connection_id (a connection or \"*\") is required");
        return LS_EINVAL;
    }
    req->connection_id = req->unified ? NULL : json_string_value(cid);
    long long b = burst ? (json_is_integer(burst) ? (long long)json_integer_value(burst) : -1) : 0;
    if (!json_is_number(rps) || (burst && b < 1) || !sb_rate_valid(json_number_value(rps), b)) {
        snprintf(err, err_size, "rps must be a number 0..%.0f (0 removes the limit) "
                 "and burst an integer 1..%u", SB_RATE_MAX_RPS, SB_RATE_MAX_BURST);
        return LS_EINVAL;
    }
    req->limit.rps = json_number_value(rps);
    req->limit.burst = (unsigned)b;
    return LS_OK;
}

/* ---- the limiter ------------------------------------------------------ */

uint64_t sb_rate_mono_ns(void *cls)
{
    (void)cls;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * SB_RATE_NS + (uint64_t)ts.tv_nsec;
}

static unsigned sb_rate_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % SB_RATE_HASH;
}

static sb_rate_conn_t *sb_rate_find(sb_rate_t *r, const char *id)
{
    if (!id)
        return NULL;
    for (sb_rate_conn_t *c = r->hash[sb_rate_hash(id)]; c; c = c->next)
        if (strcmp(c->id, id) == 0)
            return c;
    return NULL;
}

sb_rate_t *sb_rate_new(sb_rate_clock_fn clock, void *clock_cls)
{
    sb_rate_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    pthread_mutex_init(&r->mu, NULL);
    r->clock = clock ? clock : sb_rate_mono_ns;
    r->clock_cls = clock_cls;
    sb_window_init(&r->win);
    return r;
}

void sb_rate_destroy(sb_rate_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        sb_window_release(&r->all[i]->win);
        free(r->all[i]->id);
        free(r->all[i]);
    }
    free(r->all);
    sb_window_release(&r->win);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

int sb_rate_add_connection(sb_rate_t *r, const char *conn_id)
{
    pthread_mutex_lock(&r->mu);
    int rc = LS_OK;
    if (sb_rate_find(r, conn_id))
        goto out;
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 16;
        sb_rate_conn_t **na = realloc(r->all, ncap * sizeof(*na));
        if (!na) {
            rc = LS_ENOMEM;
            goto out;
        }
        r->all = na;
        r->cap = ncap;
    }
    sb_rate_conn_t *c = calloc(1, sizeof(*c));
    if (!c || !(c->id = strdup(conn_id))) {
        free(c);
        rc = LS_ENOMEM;
        goto out;
    }
    sb_window_init(&c->win);
    unsigned hv = sb_rate_hash(conn_id);
    c->next = r->hash[hv];
    r->hash[hv] = c;
    r->all[r->n++] = c;
out:
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* Buckets are rebuilt when their effective limit changes; this forces it. */
static void sb_rate_stale(sb_rate_conn_t *c)
{
    c->built.rps = -1.0;
}

int sb_rate_set(sb_rate_t *r, const char *conn_id, const sb_rate_limit_t *lim)
{
    sb_rate_limit_t l = *lim;
    if (l.rps <= 0.0)
        l = (sb_rate_limit_t){ 0.0, 0 };
    int rc = LS_OK;
    pthread_mutex_lock(&r->mu);
    if (!conn_id) {
        r->unified = l;
        if (l.rps > 0.0)
            sb_bucket_init(&r->unified_bucket, &l);
    } else if (strcmp(conn_id, "*") == 0) {
        r->dflt = l;
        for (size_t i = 0; i < r->n; i++)
            if (r->all[i]->own.rps <= 0.0)
                sb_rate_stale(r->all[i]);
    } else {
        sb_rate_conn_t *c = sb_rate_find(r, conn_id);
        if (c) {
            c->own = l;
            sb_rate_stale(c);
        } else {
            rc = LS_ENOTFOUND;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

void sb_rate_clear(sb_rate_t *r)
{
    pthread_mutex_lock(&r->mu);
    r->unified = r->dflt = (sb_rate_limit_t){ 0.0, 0 };
    for (size_t i = 0; i < r->n; i++) {
        r->all[i]->own = (sb_rate_limit_t){ 0.0, 0 };
        sb_rate_stale(r->all[i]);
    }
    pthread_mutex_unlock(&r->mu);
}

static json_t *sb_rate_limit_json(const sb_rate_limit_t *l)
{
    json_t *rps = l->rps == floor(l->rps) ? json_integer((json_int_t)l->rps) : json_real(l->rps);
    return json_pack("{s:o,s:I}", "rps", rps, "burst", (json_int_t)sb_rate_limit_burst(l));
}

json_t *sb_rate_limits_json(sb_rate_t *r)
{
    json_t *conns = json_object();
    pthread_mutex_lock(&r->mu);
    json_t *uni = r->unified.rps > 0.0 ? sb_rate_limit_json(&r->unified) : json_null();
    if (r->dflt.rps > 0.0)
        json_object_set_new(conns, "*", sb_rate_limit_json(&r->dflt));
    for (size_t i = 0; i < r->n; i++)
        if (r->all[i]->own.rps > 0.0)
            json_object_set_new(conns, r->all[i]->id, sb_rate_limit_json(&r->all[i]->own));
    pthread_mutex_unlock(&r->mu);
    return json_pack("{s:o,s:o}", "unified", uni, "connections", conns);
}

/* The vendor bucket of c, rebuilt when its effective limit changed; NULL when unlimited. */
static sb_bucket_t *sb_rate_bucket(sb_rate_t *r, sb_rate_conn_t *c)
{
    const sb_rate_limit_t *eff = c->own.rps > 0.0 ? &c->own : &r->dflt;
    if (eff->rps <= 0.0)
        return NULL;
    if (c->built.rps != eff->rps || c->built.burst != eff->burst) {
        sb_bucket_init(&c->bucket, eff);
        c->built = *eff;
    }
    return &c->bucket;
}

void sb_rate_check(sb_rate_t *r, const char *conn_id, sb_rate_hit_t *hit)
{
    memset(hit, 0, sizeof(*hit));
    pthread_mutex_lock(&r->mu);
    uint64_t now = r->clock(r->clock_cls);
    sb_rate_conn_t *c = sb_rate_find(r, conn_id);
    sb_window_add(&r->win, now);
    if (c) {
        c->requests++;
        sb_window_add(&c->win, now);
    }
    if (r->unified.rps > 0.0 && !sb_bucket_take(&r->unified_bucket, now, &hit->wait_ns)) {
        hit->verdict = SB_RATE_UNIFIED;
        hit->rps = r->unified.rps;
        r->limited++;
        r->limited_unified++;
        if (c) {
            c->limited++;
            c->limited_unified++;
        }
    } else if (c) {
        sb_bucket_t *b = sb_rate_bucket(r, c);
        if (b && !sb_bucket_take(b, now, &hit->wait_ns)) {
            hit->verdict = SB_RATE_VENDOR;
            hit->rps = c->built.rps;
            r->limited++;
            c->limited++;
        }
    }
    pthread_mutex_unlock(&r->mu);
}

void sb_rate_stats_json(sb_rate_t *r, json_t *stats)
{
    json_t *conns = json_object();
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++) {
        const sb_rate_conn_t *c = r->all[i];
        if (c->requests == 0)
            continue;
        json_object_set_new(conns, c->id,
                            json_pack("{s:I,s:I,s:I,s:I}", "requests", (json_int_t)c->requests,
                                      "rate_limited", (json_int_t)c->limited,
                                      "rate_limited_unified", (json_int_t)c->limited_unified,
                                      "max_rps_1s", (json_int_t)c->win.max));
    }
    json_object_set_new(stats, "rate_limited", json_integer((json_int_t)r->limited));
    json_object_set_new(stats, "rate_limited_unified", json_integer((json_int_t)r->limited_unified));
    json_object_set_new(stats, "max_rps_1s", json_integer((json_int_t)r->win.max));
    pthread_mutex_unlock(&r->mu);
    json_object_set_new(stats, "connections", conns);
}

void sb_rate_reset_stats(sb_rate_t *r)
{
    pthread_mutex_lock(&r->mu);
    r->limited = r->limited_unified = 0;
    sb_window_reset(&r->win);
    for (size_t i = 0; i < r->n; i++) {
        sb_rate_conn_t *c = r->all[i];
        c->requests = c->limited = c->limited_unified = 0;
        sb_window_reset(&c->win);
    }
    pthread_mutex_unlock(&r->mu);
}
