/*
 * sb_profile.h - provider profiles of the simulated Unified LMS API.
 *
 * One table (sb_profile.c) says, per integration_type, which LmsActivity
 * fields a record carries, which list options the provider honours (and
 * which it requires), how it writes timestamps and which webhooks it has.
 * Everything else in the sandbox (generator, mutations, list endpoint,
 * /unified/integration) reads this table, so adding or refining a provider
 * is a one-row change.
 */
#ifndef SB_PROFILE_H
#define SB_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* LmsActivity fields in wire order (records are rendered in this order). */
typedef enum sb_field {
    SB_F_ID = 0,
    SB_F_CREATED_AT,
    SB_F_UPDATED_AT,
    SB_F_COURSE_ID,
    SB_F_STUDENT_ID,
    SB_F_CONTENT_ID,
    SB_F_IS_COMPLETED,
    SB_F_PROGRESS,          /* progress_percentage */
    SB_F_DURATION,          /* duration_minutes */
    SB_F_ASSIGNED_GRADE,
    SB_F_STARTED_AT,
    SB_F_COMPLETED_AT,
    SB_F__COUNT
} sb_field_t;

#define SB_FBIT(f) (1u << (unsigned)(f))
#define SB_FIELDS_ALL ((1u << SB_F__COUNT) - 1u)

typedef enum sb_field_kind {
    SB_KIND_STRING = 0,
    SB_KIND_BOOL,
    SB_KIND_NUMBER,
    SB_KIND_TIME
} sb_field_kind_t;

/* IntegrationSupport list_* values. */
typedef enum sb_support {
    SB_NOT_SUPPORTED = 0,
    SB_SUPPORTED,
    SB_SUPPORTED_REQUIRED
} sb_support_t;

/* List options of the activity list endpoint, as IntegrationSupport names them. */
typedef enum sb_opt {
    SB_OPT_LIMIT = 0,               /* list_limit */
    SB_OPT_OFFSET,                  /* list_offset */
    SB_OPT_UPDATED_GTE,             /* list_updated_gte */
    SB_OPT_COURSE_ID,               /* list_course_id */
    SB_OPT_STUDENT_ID,              /* list_student_id */
    SB_OPT_CONTENT_ID,              /* list_content_id */
    SB_OPT_SORT_UPDATED_AT,         /* list_sort_by_updated_at */
    SB_OPT_SORT_CREATED_AT,         /* list_sort_by_created_at */
    SB_OPT__COUNT
} sb_opt_t;

/* How a provider writes the same instant. */
typedef enum sb_ts_style {
    SB_TS_Z = 0,        /* 2026-01-01T00:00:00Z (".mmm" only when ms != 0) */
    SB_TS_MILLIS_Z,     /* 2026-01-01T00:00:00.000Z */
    SB_TS_OFFSET        /* 2026-01-01T00:00:00+00:00 */
} sb_ts_style_t;

#define SB_WH_VIRTUAL 1u
#define SB_WH_NATIVE  2u

typedef struct sb_profile {
    const char *type;            /* integration_type, e.g. "d2l" */
    const char *name;            /* Integration.name */
    const char *vendor_object;   /* vendor's activity object, shown in raw */
    unsigned fields;             /* SB_FBIT() set of LmsActivity fields */
    sb_support_t opt[SB_OPT__COUNT];
    sb_ts_style_t ts_style;
    unsigned webhooks;           /* SB_WH_* for lms_activity */
    bool test_only;              /* not a vendor; never a default provider */
} sb_profile_t;

/** Number of profiles in the table. */
size_t sb_profile_count(void);

/** Profile i (0 <= i < sb_profile_count()); static storage. */
const sb_profile_t *sb_profile_at(size_t i);

/** Profile by integration_type, or NULL. Static storage. */
const sb_profile_t *sb_profile_find(const char *type);

/** True when records of this provider carry field f. */
bool sb_profile_has(const sb_profile_t *p, sb_field_t f);

/** Wire name of a field ("progress_percentage"); NULL when out of range. */
const char *sb_field_name(sb_field_t f);

/** Field by wire name; returns SB_F__COUNT when unknown. */
sb_field_t sb_field_from_name(const char *name);

/** JSON kind of a field. */
sb_field_kind_t sb_field_kind(sb_field_t f);

/** IntegrationSupport name of a list option ("list_updated_gte"). */
const char *sb_opt_name(sb_opt_t o);

/** "supported" / "not-supported" / "supported-required". */
const char *sb_support_name(sb_support_t s);

#define SB_TS_BUFSZ 40

/** Format ms since the epoch in the given style into buf (SB_TS_BUFSZ bytes). Returns buf. */
char *sb_ts_format(sb_ts_style_t style, int64_t ms, char *buf);

/**
 * Integration object in Unified's shape (type, name, categories, support
 * {lms_activity, lms_course}). Returns a new reference.
 */
json_t *sb_profile_integration_json(const sb_profile_t *p);

#endif
