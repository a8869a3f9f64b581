/*
 * ls_coord_budget.c - the coordinator's adaptive intervals and request
 * budgets (the rule and the arithmetic are in ls_coord_adapt.c).
 *
 * Three request budgets, each a token bucket charged with a scope's last
 * reported request count (1 until one reported): the deployment's
 * (polling.budget_per_hour), one per integration type
 * (polling.integration_budgets, "TYPE=N,*=N") and one per tenant
 * (coordinator.tenant_budget, per minute, ls_coord_tenant.c). The hourly
 * buckets hold at most one minute's worth, so a restart cannot spend an
 * hour's budget at once. A due job goes only when every bucket it is under
 * allows it; otherwise it waits in its tenant's queue (counted once per job).
 *
 * With polling.adaptive the buckets are the hard limit, and planning keeps
 * jobs from waiting on them: the gauge walk sums each budget's demand
 * (cost / desired interval, binned) and finds the smallest factor that
 * stretches every desired interval under that budget proportionally (never
 * past max) so the demand fits. A scope's scheduled interval is its desired
 * interval times the largest factor of its budgets. A budget that cannot
 * pay for every scope at max is reported (gauge, one log line a minute);
 * then the buckets make scopes wait beyond max.
 */
#include "ls_coord_int.h"
#include "ls_coord_metrics.h"
#include "ls_err.h"
#include "ls_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUDGET_MAX 1e9
#define SHORT_LOG_MS 60000

/* One integration type's budget (types are interned: the pointer is the key). */
typedef struct coord_ibudget {
    const char *type;
    ls_bucket_t bucket;
    ls_adapt_load_t load;
    double stretch;
    int short_;
} coord_ibudget_t;

struct coord_budgets {
    ls_adapt_cfg_t acfg;
    ls_bucket_t deploy;
    ls_adapt_load_t dload;
    double dstretch;
    int dshort;
    coord_ibudget_t *ib;        /* owned; one per integration type seen */
    size_t n_ib, cap_ib;
    int64_t why_count[LS_IVAL__COUNT];
    int tenant_short;           /* tenants that cannot afford max in the last walk */
    int64_t walk_now;           /* the walk's instant */
    int64_t next_short_log_ms;
};

/* An hourly budget as a bucket: per second, holding one minute's worth. */
static void hourly_bucket(ls_bucket_t *b, double per_hour)
{
    ls_bucket_init(b, per_hour / 3600.0, per_hour / 60.0, 0); /* full at its first use */
}

int coord_budgets_open(coord_t *c, char *err, size_t errsz)
{
    const ls_config_t *cfg = c->cfg; /* min <= max: checked with the config (ls_config.c) */
    if (coord_integration_budgets_check(cfg->polling_integration_budgets, err, errsz) != LS_OK)
        return LS_EINVAL;
    struct coord_budgets *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errsz, "out of memory");
        return LS_ENOMEM;
    }
    b->acfg.min_ms = (uint32_t)cfg->polling_min_interval_s * 1000u;
    b->acfg.max_ms = (uint32_t)cfg->polling_max_interval_s * 1000u;
    hourly_bucket(&b->deploy, cfg->polling_budget_per_hour);
    b->dstretch = 1;
    c->budgets = b;
    return LS_OK;
}

void coord_budgets_close(coord_t *c)
{
    if (!c->budgets)
        return;
    free(c->budgets->ib);
    free(c->budgets);
    c->budgets = NULL;
}

static int free_load(const char *name, void *value, void *ud)
{
    coord_tenant_t *t = value;
    (void)name;
    (void)ud;
    free(t->load);
    t->load = NULL;
    return 0;
}

void coord_budgets_forget_tenants(coord_t *c)
{
    if (c->tenants)
        ls_strmap_sweep(c->tenants, free_load, NULL);
}

/* The budget of an integration type (made on first sight); NULL when out of memory. */
static coord_ibudget_t *ibudget(coord_t *c, const char *type)
{
    struct coord_budgets *b = c->budgets;
    for (size_t i = 0; i < b->n_ib; i++)
        if (b->ib[i].type == type)
            return &b->ib[i];
    if (b->n_ib == b->cap_ib) {
        size_t cap = b->cap_ib ? b->cap_ib * 2 : 8;
        coord_ibudget_t *a = realloc(b->ib, cap * sizeof(*a));
        if (!a)
            return NULL;
        b->ib = a;
        b->cap_ib = cap;
    }
    coord_ibudget_t *e = &b->ib[b->n_ib++];
    memset(e, 0, sizeof(*e));
    e->type = type;
    e->stretch = 1;
    hourly_bucket(&e->bucket, coord_spec_value(c->cfg->polling_integration_budgets, "polling.integration_budgets",
                                               BUDGET_MAX, type, 0));
    return e;
}

static double scope_cost(const coord_scope_t *sc)
{
    return sc->requests ? (double)sc->requests : 1.0;
}

int coord_budget_admit(coord_t *c, coord_scope_t *sc, int64_t now)
{
    double cost = scope_cost(sc);
    coord_ibudget_t *ib = ibudget(c, sc->conn->integration_type);
    ls_bucket_t *buckets[3] = {&c->budgets->deploy, ib ? &ib->bucket : NULL, &sc->conn->tenant->bucket};
    for (int i = 0; i < 3; i++)
        if (buckets[i] && !ls_bucket_allows(buckets[i], cost, now)) {
            if (!sc->waited)
                ls_metric_add(CM_BUDGET_WAITS, i, 0, 1);
            sc->waited = 1;
            return 0;
        }
    for (int i = 0; i < 3; i++)
        if (buckets[i])
            ls_bucket_spend(buckets[i], cost);
    sc->waited = 0;
    return 1;
}

/* The largest stretch of sc's budgets and which budget it is (LS_IVAL__COUNT: none above 1). */
static double scope_stretch(coord_t *c, const coord_scope_t *sc, ls_ival_why_t *which)
{
    struct coord_budgets *b = c->budgets;
    coord_ibudget_t *ib = ibudget(c, sc->conn->integration_type);
    double f[3] = {b->dstretch, ib ? ib->stretch : 1, sc->conn->tenant->stretch};
    double best = 1;
    *which = LS_IVAL__COUNT;
    for (int i = 0; i < 3; i++)
        if (f[i] > best) {
            best = f[i];
            *which = (ls_ival_why_t)(LS_IVAL_BUDGET_DEPLOYMENT + i);
        }
    return best;
}

/* The interval to schedule now (sets sc->why). */
static int64_t interval_of(coord_t *c, coord_scope_t *sc)
{
    const ls_adapt_cfg_t *a = &c->budgets->acfg;
    int64_t fixed = (int64_t)c->cfg->poll_interval_s * 1000;
    ls_ival_why_t which;
    if (sc->conn && sc->conn->wh_healthy >= COORD_SUB_EVENTS) { /* covered by webhooks: polling only reconciles */
        sc->why = LS_IVAL_WEBHOOK;
        return coord_scope_interval(c, sc);
    }
    if (!c->cfg->polling_adaptive) {
        sc->why = LS_IVAL_FIXED;
        return fixed;
    }
    if (!sc->ival_ms) /* a new scope, or one restored from a record without "ival" */
        sc->ival_ms = ls_adapt_initial(a, fixed);
    if (sc->why_rule == LS_IVAL_FIXED) /* no report since the start: quiet so far */
        sc->why_rule = sc->ival_ms >= a->max_ms ? LS_IVAL_MAX : LS_IVAL_QUIET;
    uint32_t ms = ls_adapt_apply(a, sc->ival_ms, scope_stretch(c, sc, &which));
    sc->why = ms > sc->ival_ms && which != LS_IVAL__COUNT ? (uint8_t)which : sc->why_rule;
    return ms;
}

int64_t coord_interval_ms(coord_t *c, coord_scope_t *sc)
{
    int64_t ms = interval_of(c, sc);
    ls_metric_observe(CM_POLL_INTERVAL, 0, 0, (double)ms / 1000.0);
    return ms;
}

void coord_adapt_report(coord_t *c, coord_scope_t *sc, int64_t since_ms, uint64_t events, int64_t now)
{
    ls_ival_why_t why;
    if (!c->cfg->polling_adaptive)
        return;
    sc->ival_ms = ls_adapt_next(&c->budgets->acfg, sc->ival_ms, (int64_t)c->cfg->poll_interval_s * 1000, events, &why);
    sc->why_rule = (uint8_t)why;
    if (!sc->t.pos || sc->failures || sc->why == LS_IVAL_WEBHOOK)
        return; /* due already (queued), backed off, or on its covered connection's reconcile slot */
    int64_t next = since_ms + interval_of(c, sc); /* observed when its job is produced */
    ls_coord_heap_set(&c->heap, &sc->t, next > now ? next : now);
}

/* ---- the walk ---- */

void coord_budget_walk_scope(coord_t *c, const coord_scope_t *sc)
{
    struct coord_budgets *b = c->budgets;
    coord_tenant_t *t = sc->conn->tenant;
    double cost = scope_cost(sc);
    uint32_t ival = sc->ival_ms ? sc->ival_ms : ls_adapt_initial(&b->acfg, (int64_t)c->cfg->poll_interval_s * 1000);
    ls_ival_why_t why = sc->why < LS_IVAL__COUNT ? (ls_ival_why_t)sc->why : LS_IVAL_FIXED;
    b->why_count[c->cfg->polling_adaptive && why == LS_IVAL_FIXED ? LS_IVAL_QUIET : why]++; /* not scheduled by the rule yet */
    if (!c->cfg->polling_adaptive)
        return;
    if (b->deploy.rate > 0)
        ls_adapt_load_add(&b->dload, &b->acfg, ival, cost);
    coord_ibudget_t *ib = ibudget(c, sc->conn->integration_type);
    if (ib && ib->bucket.rate > 0)
        ls_adapt_load_add(&ib->load, &b->acfg, ival, cost);
    if (t->bucket.rate > 0 && (t->load || (t->load = calloc(1, sizeof(*t->load)))))
        ls_adapt_load_add(t->load, &b->acfg, ival, cost);
}

/* A budget's new stretch from its load (which is then cleared for the next walk). @return 1 when it is short. */
static int restretch(struct coord_budgets *b, ls_adapt_load_t *l, double rate, double *stretch)
{
    int s;
    *stretch = ls_adapt_stretch(l, &b->acfg, rate, &s);
    memset(l, 0, sizeof(*l));
    return s;
}

static int tenant_restretch(const char *name, void *value, void *ud)
{
    coord_t *c = ud;
    coord_tenant_t *t = value;
    if (!t->load)
        return 0;
    if (restretch(c->budgets, t->load, t->bucket.rate, &t->stretch)) {
        c->budgets->tenant_short++;
        if (c->budgets->walk_now >= c->budgets->next_short_log_ms)
            ls_warn("tenant \"%s\": coordinator.tenant_budget cannot pay for every scope at polling.max_interval_s: "
                    "its scopes are polled less often than that", name);
    }
    return 0;
}

/* Log a short budget at most once a minute (one line per walk that finds one). */
static void short_log(coord_t *c, const char *what, int64_t now)
{
    if (now < c->budgets->next_short_log_ms)
        return;
    ls_warn("%s cannot pay for every scope at polling.max_interval_s (%d s): scopes wait beyond it "
            "(lmsync_coordinator_budget_short)", what, c->cfg->polling_max_interval_s);
}

void coord_budget_walk_end(coord_t *c, int64_t now)
{
    struct coord_budgets *b = c->budgets;
    int ishort = 0, logged = 0;
    for (int i = 0; i < LS_IVAL__COUNT; i++)
        ls_metric_set(CM_SCOPES_BY_WHY, i, 0, b->why_count[i]);
    memset(b->why_count, 0, sizeof(b->why_count));
    if (!c->cfg->polling_adaptive)
        return;
    b->dshort = restretch(b, &b->dload, b->deploy.rate, &b->dstretch);
    if (b->dshort && (logged = 1))
        short_log(c, "polling.budget_per_hour", now);
    for (size_t i = 0; i < b->n_ib; i++)
        if (restretch(b, &b->ib[i].load, b->ib[i].bucket.rate, &b->ib[i].stretch) && ++ishort && (logged = 1))
            short_log(c, "polling.integration_budgets", now);
    b->tenant_short = 0;
    b->walk_now = now;
    ls_strmap_sweep(c->tenants, tenant_restretch, c);
    logged |= b->tenant_short > 0;
    ls_metric_set(CM_BUDGET_SHORT, 0, 0, b->dshort);
    ls_metric_set(CM_BUDGET_SHORT, 1, 0, ishort);
    ls_metric_set(CM_BUDGET_SHORT, 2, 0, b->tenant_short);
    if (logged && now >= b->next_short_log_ms)
        b->next_short_log_ms = now + SHORT_LOG_MS;
}

/* ---- --explain ---- */

static const char *budget_str(double v, const char *per, char *buf, size_t n)
{
    if (v <= 0)
        return "unlimited";
    snprintf(buf, n, "%g/%s", v, per);
    return buf;
}

void coord_adapt_explain(const ls_config_t *cfg, const char *type, const char *tenant, FILE *out)
{
    double ib = coord_spec_value(cfg->polling_integration_budgets, "polling.integration_budgets", BUDGET_MAX, type, 0);
    double tb = coord_spec_value(cfg->tenant_budget, "coordinator.tenant_budget", BUDGET_MAX, tenant, 0);
    if (!cfg->polling_adaptive)
        fprintf(out, "  %-10s fixed: every %d s (coordinator.interval_s; polling.adaptive = 0)\n", "interval",
                cfg->poll_interval_s);
    else
        fprintf(out,
                "  %-10s adaptive, between %d and %d s: halved after a job that found changes, doubled after one that "
                "found none; starts at %d s. The live value is \"ival\" in this scope's record on "
                "<prefix>.coordinator.schedule\n",
                "interval", cfg->polling_min_interval_s, cfg->polling_max_interval_s,
                cfg->poll_interval_s < cfg->polling_min_interval_s   ? cfg->polling_min_interval_s
                : cfg->poll_interval_s > cfg->polling_max_interval_s ? cfg->polling_max_interval_s
                                                                     : cfg->poll_interval_s);
    char d[32], i[32], t[32];
    fprintf(out, "  %-10s deployment %s, integration \"%s\" %s, tenant \"%s\" %s", "budgets",
            budget_str(cfg->polling_budget_per_hour, "h", d, sizeof(d)), type, budget_str(ib, "h", i, sizeof(i)), tenant,
            budget_str(tb, "min", t, sizeof(t)));
    fprintf(out, "%s\n", cfg->polling_adaptive ? " (over budget: intervals stretch proportionally, up to max)"
                                               : " (over budget: jobs wait)");
}
