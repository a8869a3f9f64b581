/* ls_coord_adapt.c - adaptive poll intervals and the budget stretch (ls_coord_adapt.h). */
#include "ls_coord_adapt.h"

#include <math.h>
#include <stddef.h>

const char *const ls_adapt_why_names[LS_IVAL__COUNT + 1] = {
    [LS_IVAL_FIXED] = "fixed",
    [LS_IVAL_ACTIVE] = "active",
    [LS_IVAL_QUIET] = "quiet",
    [LS_IVAL_MAX] = "max",
    [LS_IVAL_BUDGET_DEPLOYMENT] = "budget:deployment",
    [LS_IVAL_BUDGET_INTEGRATION] = "budget:integration",
    [LS_IVAL_BUDGET_TENANT] = "budget:tenant",
    [LS_IVAL_WEBHOOK] = "webhook",
    [LS_IVAL__COUNT] = NULL,
};

const char *ls_adapt_why_name(ls_ival_why_t why)
{
    return (unsigned)why < LS_IVAL__COUNT ? ls_adapt_why_names[why] : "fixed";
}

static uint32_t clamp(const ls_adapt_cfg_t *cfg, double ms)
{
    if (!(ms > cfg->min_ms))
        return cfg->min_ms;
    return ms < cfg->max_ms ? (uint32_t)ms : cfg->max_ms;
}

uint32_t ls_adapt_initial(const ls_adapt_cfg_t *cfg, int64_t fixed_ms)
{
    return clamp(cfg, (double)fixed_ms);
}

uint32_t ls_adapt_next(const ls_adapt_cfg_t *cfg, uint32_t ival_ms, int64_t fixed_ms, uint64_t events,
                       ls_ival_why_t *why)
{
    double cur = ival_ms ? (double)ival_ms : (double)ls_adapt_initial(cfg, fixed_ms);
    uint32_t next = clamp(cfg, events > 0 ? cur / 2 : cur * 2);
    *why = next >= cfg->max_ms ? LS_IVAL_MAX : events > 0 ? LS_IVAL_ACTIVE : LS_IVAL_QUIET;
    return next;
}

uint32_t ls_adapt_apply(const ls_adapt_cfg_t *cfg, uint32_t ival_ms, double stretch)
{
    return clamp(cfg, (double)ival_ms * (stretch > 1 ? stretch : 1));
}

/* ---- load and stretch ---- */

/* The bin of an interval: LS_ADAPT_BINS equal steps of log(interval) from min to max. */
static int bin_of(const ls_adapt_cfg_t *cfg, uint32_t ival_ms)
{
    if (cfg->max_ms <= cfg->min_ms || ival_ms <= cfg->min_ms)
        return 0;
    double x = log((double)ival_ms / cfg->min_ms) / log((double)cfg->max_ms / cfg->min_ms);
    int b = (int)(x * LS_ADAPT_BINS);
    return b < 0 ? 0 : b >= LS_ADAPT_BINS ? LS_ADAPT_BINS - 1 : b;
}

/* The upper edge of bin b (ms). */
static double bin_top(const ls_adapt_cfg_t *cfg, int b)
{
    return cfg->min_ms * pow((double)cfg->max_ms / cfg->min_ms, (double)(b + 1) / LS_ADAPT_BINS);
}

void ls_adapt_load_add(ls_adapt_load_t *l, const ls_adapt_cfg_t *cfg, uint32_t ival_ms, double cost)
{
    int b = bin_of(cfg, ival_ms);
    l->rate[b] += cost * 1000.0 / (ival_ms ? ival_ms : 1);
    l->cost[b] += cost;
}

/* A bin whose upper edge, stretched, passes max is counted at max (an upper bound within one bin's width). */
double ls_adapt_load_rate(const ls_adapt_load_t *l, const ls_adapt_cfg_t *cfg, double f)
{
    double r = 0;
    for (int b = 0; b < LS_ADAPT_BINS; b++)
        if (bin_top(cfg, b) * f < cfg->max_ms)
            r += l->rate[b] / f;
        else
            r += l->cost[b] * 1000.0 / cfg->max_ms;
    return r;
}

double ls_adapt_stretch(const ls_adapt_load_t *l, const ls_adapt_cfg_t *cfg, double budget_per_s, int *short_)
{
    double hi = cfg->min_ms ? (double)cfg->max_ms / cfg->min_ms + 1 : 1;
    *short_ = 0;
    if (budget_per_s <= 0 || ls_adapt_load_rate(l, cfg, 1) <= budget_per_s)
        return 1;
    if (ls_adapt_load_rate(l, cfg, hi) > budget_per_s) {
        *short_ = 1;
        return hi;
    }
    double lo = 1;
    for (int i = 0; i < 40 && hi - lo > 1e-3; i++) {
        double mid = (lo + hi) / 2;
        if (ls_adapt_load_rate(l, cfg, mid) > budget_per_s)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}
