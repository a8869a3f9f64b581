/*
 * ls_share.c - per-tenant share of in-flight slots (ls_share.h): counts per
 * tenant in a string map, rebuilt on every pass over the held jobs, so no
 * count can drift from the jobs it stands for.
 */
#include "ls_share.h"
#include "ls_err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ls_share_count {
    size_t running, ready;
} ls_share_count_t;

int ls_share_parse(const char *text, double *share, char *why, size_t whysz)
{
    char *end = NULL;
    double v = text && *text ? strtod(text, &end) : NAN;
    if (!end || *end || !(v > 0.0 && v <= 1.0)) {
        snprintf(why, whysz, "must be a number in (0, 1] (a fraction of worker.max_in_flight; 1 = no cap), got \"%.40s\"",
                 text ? text : "");
        return LS_EINVAL;
    }
    *share = v;
    return LS_OK;
}

size_t ls_share_cap(int max_in_flight, double share)
{
    size_t cap = (size_t)floor(share * (double)max_in_flight + 1e-9);
    return cap ? cap : 1;
}

int ls_share_init(ls_share_t *sh, int max_in_flight, double share)
{
    memset(sh, 0, sizeof(*sh));
    sh->cap = ls_share_cap(max_in_flight, share);
    sh->capped = sh->cap < (size_t)max_in_flight;
    sh->tenants = ls_strmap_new(sizeof(ls_share_count_t));
    return sh->tenants ? LS_OK : LS_ENOMEM;
}

void ls_share_release(ls_share_t *sh)
{
    ls_strmap_destroy(sh->tenants);
    sh->tenants = NULL;
}

/* Zero a tenant's counts; drop it when the last pass did not see it either (no churn for the tenants at work). */
static int zero_or_drop(const char *name, void *value, void *ud)
{
    ls_share_count_t *t = value;
    (void)name, (void)ud;
    if (!t->running && !t->ready)
        return 1;
    t->running = t->ready = 0;
    return 0;
}

void ls_share_reset(ls_share_t *sh)
{
    ls_strmap_sweep(sh->tenants, zero_or_drop, NULL);
    sh->ready = 0;
}

int ls_share_count(ls_share_t *sh, const char *tenant, ls_share_what_t what)
{
    ls_share_count_t *t = ls_strmap_put(sh->tenants, tenant, NULL);
    if (!t)
        return LS_ENOMEM;
    if (what == LS_SHARE_RUNNING) {
        t->running++;
    } else {
        t->ready++;
        sh->ready++;
    }
    return LS_OK;
}

int ls_share_admit(const ls_share_t *sh, const char *tenant)
{
    const ls_share_count_t *t = ls_strmap_get(sh->tenants, tenant);
    if (!sh->capped || !t || t->running < sh->cap)
        return 1;
    return sh->ready - t->ready == 0; /* work-conserving: nobody else is waiting for a slot */
}

void ls_share_started(ls_share_t *sh, const char *tenant)
{
    ls_share_count_t *t = ls_strmap_get(sh->tenants, tenant);
    if (!t) /* not counted (out of memory): count it now if possible */
        t = ls_strmap_put(sh->tenants, tenant, NULL);
    if (!t)
        return;
    if (t->ready) {
        t->ready--;
        sh->ready--;
    }
    t->running++;
}

size_t ls_share_running(const ls_share_t *sh, const char *tenant)
{
    const ls_share_count_t *t = ls_strmap_get(sh->tenants, tenant);
    return t ? t->running : 0;
}
