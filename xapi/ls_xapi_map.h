/*
 * ls_xapi_map.h - one lmsync change event -> one xAPI 1.0.3 statement.
 *
 * A pure function of the event's JSON value and its ce_id: no clock, no I/O,
 * so a re-delivered event maps to the same statement (same id, same content;
 * only the observation-time fallback of `timestamp` can differ, see
 * docs/xapi.md). Fields the provider did not report are left out of the
 * statement, never defaulted. The mapping table is in docs/xapi.md.
 */
#ifndef LS_XAPI_MAP_H
#define LS_XAPI_MAP_H

#include <jansson.h>
#include <stddef.h>

#define LS_XAPI_UUID_LEN 36 /* "xxxxxxxx-xxxx-5xxx-yxxx-xxxxxxxxxxxx" */

/* Fixed namespace of statement ids: uuid5(NAMESPACE_URL, "urn:lmsync:xapi:statement"). Frozen. */
#define LS_XAPI_NAMESPACE "a9c3d0d6-568d-5214-89a3-bbc7e93d6675"

typedef struct ls_xapi_map_conf {
    const char *activity_base; /* xapi.activity_base: IRI prefix of activities, ends with '/' */
    const char *actor_base;    /* xapi.actor_base: IRI prefix of the account homePage, ends with '/' */
    int actor_by_tenant;       /* xapi.actor_scope = tenant: homePage from the tenant when the event has one */
} ls_xapi_map_conf_t;

/* What became of an event; names (ls_xapi_outcome_names) are metric labels. */
typedef enum {
    LS_XAPI_MAPPED = 0,      /* one statement */
    LS_XAPI_SKIP_REMOVED,    /* `removed`: no statement (docs/xapi.md) */
    LS_XAPI_SKIP_UPDATED,    /* `updated` without a new numeric grade: no statement (docs/xapi.md) */
    LS_XAPI_SKIP_NO_STUDENT, /* after.student_id absent, null or "": no actor */
    LS_XAPI_UNDECODABLE,     /* not an lmsync change event: dead-letter */
    LS_XAPI__OUTCOMES
} ls_xapi_outcome_t;

extern const char *const ls_xapi_outcome_names[LS_XAPI__OUTCOMES + 1]; /* NULL-terminated */

/**
 * Map the change event ev (borrowed) whose CloudEvents id is ce_id.
 * @return LS_XAPI_MAPPED with *out = the statement (new reference, caller
 *         decrefs); any other outcome with *out = NULL and a one-line reason
 *         in why.
 */
ls_xapi_outcome_t ls_xapi_map(const ls_xapi_map_conf_t *conf, const char *ce_id, const json_t *ev,
                              json_t **out, char *why, size_t whysz);

/**
 * The statement id of the event with ce_id: UUID v5 (SHA-1) of the name
 * ce_id in LS_XAPI_NAMESPACE, lower-case, written with its NUL into
 * out[LS_XAPI_UUID_LEN + 1].
 * @return 0, or LS_EINVAL when ce_id is not 32 lower-case hex digits.
 */
int ls_xapi_statement_id(const char *ce_id, char *out);

/**
 * The duration of a number of minutes as ISO 8601 ("PT45M", "PT47M15S",
 * "PT0.5S"), rounded to 0.01 s, into buf.
 * @return 0, or LS_EINVAL for a negative or non-finite value.
 */
int ls_xapi_duration(double minutes, char *buf, size_t bufsz);

#endif
