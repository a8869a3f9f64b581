/*
 * ls_share.h - the per-tenant share of a worker process's in-flight slots
 * (worker.tenant_max_share). Pure admission: no I/O, no clock; the worker
 * (worker/ls_worker.c, start_jobs) feeds it the jobs it holds and asks it
 * before starting each one.
 *
 * The rule: a tenant may hold at most `cap` running jobs (cap =
 * floor(max_share x max_in_flight), at least 1) *while another tenant has
 * a job ready to start* (waiting, its re-run time come, its connection
 * free). With no other tenant ready the cap does not apply, so a tenant
 * alone on the worker uses every slot (work-conserving). Slots are never
 * taken back from a running job: a tenant above its cap gets no new slot
 * until it is under the cap again or the others have nothing ready. A job
 * held back by the cap is "deferred": it keeps its place among the held
 * jobs (and so holds its partition's offset commit) and starts on a later
 * pass.
 *
 * Use per pass: ls_share_reset, then ls_share_count for every running job
 * and every ready job, then per ready job in order ls_share_admit and, when
 * it starts, ls_share_started. Tenant names are borrowed for the call only
 * (copied into the map).
 */
#ifndef LS_SHARE_H
#define LS_SHARE_H

#include <stddef.h>
#include "ls_strmap.h"

typedef enum { LS_SHARE_RUNNING, LS_SHARE_READY } ls_share_what_t;

typedef struct ls_share {
    ls_strmap_t *tenants;  /* tenant -> ls_share_count_t (owned) */
    size_t cap;            /* running jobs one tenant may hold while another has one ready */
    int capped;            /* cap < max_in_flight (share 1: every job is admitted, none deferred) */
    size_t ready;          /* ready jobs of every tenant in this pass */
} ls_share_t;

/**
 * Parse worker.tenant_max_share: a decimal number in (0, 1] ("0.5"; "1" =
 * no cap). @return 0 with *share set, or LS_EINVAL with a one-line reason
 * in why.
 */
int ls_share_parse(const char *text, double *share, char *why, size_t whysz);

/** cap = floor(share x max_in_flight), at least 1 (share in (0, 1], max_in_flight >= 1). */
size_t ls_share_cap(int max_in_flight, double share);

/** Embedded struct: @return 0, or LS_ENOMEM. Release with ls_share_release. */
int ls_share_init(ls_share_t *sh, int max_in_flight, double share);
void ls_share_release(ls_share_t *sh);

/** Start of a pass: every count back to 0 (a tenant that the previous pass did not count is dropped). */
void ls_share_reset(ls_share_t *sh);

/** One running or ready job of tenant. @return 0, or LS_ENOMEM (that job is then not counted). */
int ls_share_count(ls_share_t *sh, const char *tenant, ls_share_what_t what);

/**
 * May a ready job of tenant start now? 1 = yes; 0 = deferred: the tenant
 * runs cap or more jobs and another tenant has a job ready.
 */
int ls_share_admit(const ls_share_t *sh, const char *tenant);

/** A ready job of tenant started: one ready job fewer, one running more. */
void ls_share_started(ls_share_t *sh, const char *tenant);

/** Running jobs of tenant in this pass (0 when unknown). */
size_t ls_share_running(const ls_share_t *sh, const char *tenant);

#endif
