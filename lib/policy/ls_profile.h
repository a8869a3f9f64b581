/*
 * ls_profile.h - what each integration supports, and the polling strategy
 * that follows from it.
 *
 * A profile says, per LMS object (activity, course, content, collection),
 * which list methods and list options exist and whether an option is
 * required, which fields can be read, and which webhook kinds exist. Every
 * capability is a tri-state plus "required": unknown is never read as
 * supported, so a gap in the documentation can only make lmsync more
 * conservative. Sources, in order:
 *   1. Unified's GET /unified/integration (Integration.support), at runtime;
 *   2. the shipped table, generated from lib/policy/lms-providers.json (the
 *      documented facts; lib/policy/gen_profile_table.py);
 *   3. nothing known: the conservative profile (full scans, no filters, no
 *      sort, two-scan removals only);
 * then config overrides (coordinator.profile_overrides) on top.
 * The strategy (ls_profile_strategy) is a pure function of a profile and a
 * few settings, and carries one human-readable reason per choice, printed
 * by `lmsync-coordinator --explain` and in docs/providers.md.
 */
#ifndef LS_PROFILE_H
#define LS_PROFILE_H

#include <stddef.h>
#include <stdio.h>
#include <jansson.h>
#include "ls_scope.h"

typedef enum ls_cap {
    LS_CAP_UNKNOWN = 0,   /* not visible in the source: treated as not supported */
    LS_CAP_NO,
    LS_CAP_YES,
    LS_CAP_REQUIRED       /* "supported-required": every list request must carry it */
} ls_cap_t;

typedef enum ls_obj {
    LS_OBJ_ACTIVITY = 0, LS_OBJ_COURSE, LS_OBJ_CONTENT, LS_OBJ_COLLECTION, LS_OBJ__COUNT
} ls_obj_t;

/* List options; the runtime flag is "list_" + name. */
typedef enum ls_opt {
    LS_OPT_LIMIT = 0, LS_OPT_OFFSET, LS_OPT_UPDATED_GTE, LS_OPT_COURSE_ID, LS_OPT_STUDENT_ID,
    LS_OPT_CONTENT_ID, LS_OPT_CLASS_ID, LS_OPT_COLLECTION_ID, LS_OPT_PARENT_ID, LS_OPT_COMPANY_ID,
    LS_OPT_SORT_UPDATED_AT, LS_OPT_SORT_CREATED_AT, LS_OPT_ORDER, LS_OPT_QUERY, LS_OPT__COUNT
} ls_opt_t;

#define LS_WH_VIRTUAL 1u
#define LS_WH_NATIVE 2u

typedef enum ls_fields_known { LS_FIELDS_UNKNOWN = 0, LS_FIELDS_PREFIX, LS_FIELDS_EXACT } ls_fields_known_t;

typedef struct ls_obj_profile {
    int known;                   /* the object appears in the source */
    ls_cap_t list, get;          /* methods */
    ls_cap_t opt[LS_OPT__COUNT];
    int webhooks_known;
    unsigned webhooks;           /* LS_WH_* */
    ls_fields_known_t fields_known;
    char fields[640];            /* readable fields, comma separated (all, or a visible prefix) */
} ls_obj_profile_t;

typedef enum ls_psrc { LS_PSRC_CONSERVATIVE = 0, LS_PSRC_UNIFIED, LS_PSRC_SHIPPED } ls_psrc_t;

typedef struct ls_profile {
    char type[64];
    char name[128];
    ls_psrc_t source;
    char note[256];              /* why this source was used ("" when Unified answered) */
    char overrides[512];         /* overrides applied, "" = none */
    ls_obj_profile_t obj[LS_OBJ__COUNT];
} ls_profile_t;

/** Names: "activity".., "limit".., "unknown"/"not-supported"/"supported"/"supported-required". */
const char *ls_profile_obj_name(ls_obj_t o);
const char *ls_profile_opt_name(ls_opt_t o);
const char *ls_profile_cap_name(ls_cap_t c);
const char *ls_profile_source_name(ls_psrc_t s);

/** Number of providers in the shipped table, and the type of entry i (static storage). */
size_t ls_profile_shipped_count(void);
const char *ls_profile_shipped_type(size_t i);

/**
 * Profile of type from the shipped table into *out. Unknown type: *out is the
 * conservative profile (nothing known) and LS_ENOTFOUND is returned.
 */
int ls_profile_shipped(const char *type, ls_profile_t *out);

/**
 * Parse one Unified Integration object (borrowed) into *out (source UNIFIED).
 * Unknown keys are ignored; a wrong type of a known key fails the whole
 * object. @return 0, or LS_EINVAL with the reason in err.
 */
int ls_profile_from_integration(const json_t *integration, ls_profile_t *out, char *err, size_t errsz);

/**
 * Parse the body of GET /unified/integration (a JSON array). Malformed
 * elements are skipped with a warning. *out is malloc'd (caller frees), *n
 * its length. @return 0, or LS_EINVAL when the body is not a JSON array.
 */
int ls_profile_parse_integrations(const char *body, size_t len, ls_profile_t **out, size_t *n,
                                  char *err, size_t errsz);

/**
 * The profile of a connection of integration type `type`: runtime[] (n, may
 * be NULL) when it holds that type with an lms_activity entry, else the
 * shipped table (with a warning; why_no_runtime says why the runtime answer
 * was not usable), else the conservative profile.
 */
void ls_profile_resolve(const char *type, const ls_profile_t *runtime, size_t n,
                        const char *why_no_runtime, ls_profile_t *out);

/**
 * Apply overrides: "TARGET.KEY=VALUE,..." where TARGET is an integration type,
 * a connection id or "*", KEY an activity option name (course_id,
 * updated_gte, sort_by_created_at, ...) with VALUE supported | required |
 * not-supported, or KEY "get" with VALUE yes | no, or KEY "fields" with VALUE
 * "id+course_id+..." (exact readable activity fields). Entries for other
 * targets are ignored. spec NULL/"" = nothing.
 * @return 0, or LS_EINVAL (entry named in err; p unchanged).
 */
int ls_profile_apply_overrides(ls_profile_t *p, const char *connection_id, const char *spec,
                               char *err, size_t errsz);

/** Validate an override spec (config check). */
int ls_profile_check_overrides(const char *spec, char *err, size_t errsz);

/* ---- strategy ---- */

typedef enum ls_why {
    LS_WHY_POLL = 0, LS_WHY_MODE, LS_WHY_FULL, LS_WHY_FIELDS, LS_WHY_FILTERS, LS_WHY_SORT,
    LS_WHY_PAGING, LS_WHY_FANOUT, LS_WHY_REMOVALS, LS_WHY_WEBHOOKS, LS_WHY__COUNT
} ls_why_t;

typedef struct ls_strategy_cfg {
    long fanout_records;         /* fan out a connection whose last full scan saw more (0 = never by size) */
    int full_every;              /* every Nth job of a scope is a full scan */
    int full_max_age_s;          /* ... and at least this often */
    int overlap_s;               /* watermark overlap window */
} ls_strategy_cfg_t;

typedef struct ls_strategy {
    int poll;                    /* 0: the activity list cannot be polled (why[LS_WHY_POLL]) */
    int incremental;             /* updated_gte watermarks between full scans */
    ls_gte_t gte;                /* updated_gte the scope's jobs carry: LS_GTE_REQUIRED on every
                                    request (full scans send the epoch), LS_GTE_SUPPORTED on
                                    incremental jobs only, LS_GTE_NONE never */
    int fanout;                  /* one job per course */
    int paged;                   /* limit + offset paging */
    int get;                     /* per-record GET /lms/{conn}/activity/{id} exists */
    int course_paged;            /* the course list pages with limit + offset */
    char sort[16];               /* "created_at" or "" (provider order) */
    int order_asc;               /* send order=asc with sort */
    char fields[512];            /* comma list to request through fields= */
    char why[LS_WHY__COUNT][320];
} ls_strategy_t;

/** Strategy for profile p; known_records = last complete full scan's count (-1 unknown). */
void ls_profile_strategy(const ls_profile_t *p, const ls_strategy_cfg_t *sc, long known_records,
                         ls_strategy_t *out);

/** Print the profile and the strategy with reasons (--explain). */
void ls_profile_explain(FILE *f, const char *connection_id, const ls_profile_t *p, const ls_strategy_t *s);

/** Print docs/providers.md (generated from the shipped table) for the strategy settings *sc. */
void ls_profile_providers_md(FILE *f, const ls_strategy_cfg_t *sc);

#endif
