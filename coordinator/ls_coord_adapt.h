/*
 * ls_coord_adapt.h - adaptive poll intervals and request budgets (pure
 * functions; ls_coord_budget.c applies them to the coordinator's scopes).
 *
 * The rule (polling.adaptive = 1): each scope keeps one number, its desired
 * interval. A job that reports changes (events > 0) halves it, a job that
 * reports none doubles it, always within [polling.min_interval_s,
 * polling.max_interval_s]; a new scope starts at coordinator.interval_s
 * (clamped). So a scope settles where about every other poll finds a
 * change, moves one factor of two per poll, and a quiet scope reaches max
 * after log2(max/min) quiet polls. Failed and skipped jobs leave it alone.
 *
 * Budgets (requests per second, token buckets charged with a scope's last
 * request count) stretch the desired intervals: every scope under a budget
 * has its desired interval multiplied by the same factor (proportional),
 * capped at max, with the smallest factor whose load fits the budget. The
 * load is summed in logarithmic bins of the desired interval (a walk over
 * the scopes fills them), so finding the factor costs LS_ADAPT_BINS steps
 * per bisection round, whatever the number of scopes. The budgets' token
 * buckets are ls_ratelimit.h's (charged with a job's cost).
 */
#ifndef LS_COORD_ADAPT_H
#define LS_COORD_ADAPT_H

#include <stdint.h>

/* Why a scope has its current interval (metric label and --explain word; order = label list). */
typedef enum {
    LS_IVAL_FIXED,              /* polling.adaptive = 0: coordinator.interval_s */
    LS_IVAL_ACTIVE,             /* its last job found changes: shrinking toward min */
    LS_IVAL_QUIET,              /* its last job found none: growing toward max */
    LS_IVAL_MAX,                /* at polling.max_interval_s */
    LS_IVAL_BUDGET_DEPLOYMENT,  /* stretched by polling.budget_per_hour */
    LS_IVAL_BUDGET_INTEGRATION, /* stretched by polling.integration_budgets */
    LS_IVAL_BUDGET_TENANT,      /* stretched by coordinator.tenant_budget */
    LS_IVAL_WEBHOOK,            /* its connection is covered by webhook subscriptions: webhook.reconcile_interval_s */
    LS_IVAL__COUNT
} ls_ival_why_t;

/** The reason's label ("fixed", "active", ..., "budget:tenant", "webhook"); static. */
const char *ls_adapt_why_name(ls_ival_why_t why);

/** NULL-terminated list of the labels, in enum order (static; metric label values). */
extern const char *const ls_adapt_why_names[LS_IVAL__COUNT + 1];

typedef struct ls_adapt_cfg {
    uint32_t min_ms, max_ms; /* polling.min_interval_s, polling.max_interval_s (min <= max) */
} ls_adapt_cfg_t;

/** The first desired interval of a scope: the fixed interval, clamped to [min, max]. */
uint32_t ls_adapt_initial(const ls_adapt_cfg_t *cfg, int64_t fixed_ms);

/**
 * The rule: the desired interval after a job that reported events changes
 * (halved when events > 0, else doubled; clamped). A stored interval of 0
 * (an old schedule record) starts from fixed_ms. *why gets active, quiet or max.
 */
uint32_t ls_adapt_next(const ls_adapt_cfg_t *cfg, uint32_t ival_ms, int64_t fixed_ms, uint64_t events,
                       ls_ival_why_t *why);

/** The interval to schedule: desired x stretch, within [min, max]. */
uint32_t ls_adapt_apply(const ls_adapt_cfg_t *cfg, uint32_t ival_ms, double stretch);

/* ---- load and stretch of one budget ---- */

#define LS_ADAPT_BINS 64

/* Scopes' demand under one budget, binned by desired interval (log scale from min to max). */
typedef struct ls_adapt_load {
    double rate[LS_ADAPT_BINS]; /* sum of cost / desired interval (requests per second at stretch 1) */
    double cost[LS_ADAPT_BINS]; /* sum of cost (requests per job) */
} ls_adapt_load_t;

/** Add one scope: desired interval ival_ms, cost requests per job. */
void ls_adapt_load_add(ls_adapt_load_t *l, const ls_adapt_cfg_t *cfg, uint32_t ival_ms, double cost);

/** Requests per second of the load when every desired interval is stretched by f (>= 1), capped at max. */
double ls_adapt_load_rate(const ls_adapt_load_t *l, const ls_adapt_cfg_t *cfg, double f);

/**
 * The smallest stretch (>= 1) under which the load fits budget_per_s
 * requests per second (budget_per_s <= 0: none, 1). When not even every
 * scope at max fits, *short is set to 1 and the stretch that puts every
 * scope at max is returned (the token bucket then holds jobs back).
 */
double ls_adapt_stretch(const ls_adapt_load_t *l, const ls_adapt_cfg_t *cfg, double budget_per_s, int *short_);

#endif
