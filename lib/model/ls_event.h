/*
 * ls_event.h - change events as CloudEvents 1.0 in Kafka binary mode.
 *
 * Attributes travel as Kafka headers (ce_specversion, ce_id, ce_source,
 * ce_type, ce_time, ce_subject, content-type); the value is the JSON payload:
 *
 *   { "connection_id", "integration_type", "tenant" (external_xref or null),
 *     "activity_id", "type", "before" (object or null), "after" (object or
 *     null for removed), "changed": [field names], "observed": {"mode":
 *     "full"|"incremental"|"webhook", "at": instant, "job_id"},
 *     "workspace" (only for a named workspace) }
 *
 * In a named workspace the id and the key hash the workspace-qualified
 * connection ("eu:conn-1", ls_conn_qualify) and the source is
 * "/workspaces/{workspace}/connections/{connection_id}", so equal connection
 * ids of two workspaces never share an id, a key or a source.
 *
 * The id is deterministic: hash(connection, activity id, packed before,
 * packed after), two differently seeded 64-bit hashes as 32 hex digits, so a
 * re-run of a crashed job reproduces the same ids.
 */
#ifndef LS_EVENT_H
#define LS_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "ls_activity.h"
#include "ls_diff.h"
#include "ls_scope.h"
#include "ls_time.h"

#define LS_EVENT_ID_LEN 32

typedef struct ls_event_ctx {
    const char *connection_id;     /* required */
    const char *integration_type;  /* may be NULL */
    const char *external_xref;     /* may be NULL: "tenant" becomes null */
    const char *mode;              /* ls_mode_name(): "full", "incremental" or "webhook" */
    const char *job_id;            /* may be NULL */
    int64_t observed_at_ms;
    const char *workspace;         /* may be NULL or "": the default workspace (ls_scope.h) */
} ls_event_ctx_t;

/* Room for "/workspaces/{workspace}/connections/{connection_id}" and its NUL. */
#define LS_EVENT_SOURCE_MAX (32 + LS_WORKSPACE_MAX + LS_STR_MAX)

typedef struct ls_event {
    char id[LS_EVENT_ID_LEN + 1];
    char type[48];                 /* "lms.activity.completed" */
    char source[LS_EVENT_SOURCE_MAX]; /* "[/workspaces/{workspace}]/connections/{connection_id}" */
    char subject[16 + LS_STR_MAX]; /* "activities/{activity id}" */
    char time[LS_TIME_BUFSZ];      /* observation instant */
    char key[LS_KEY_MAX + 16];  /* "{conn}/{student_id}", or "{conn}/activity/{id}" without student; conn qualified */
    char *value;                   /* owned: compact JSON payload (malloc) */
    size_t value_len;
} ls_event_t;

/**
 * Compute the deterministic id into out (LS_EVENT_ID_LEN + 1 bytes).
 * before/after are packed states (ls_state_pack); NULL/0 means "none".
 * Input: for connection_id, activity_id, before, after in that order a u32
 * little-endian length then the bytes (0xFFFFFFFF and no bytes for "none");
 * out = hex(ls_hash64(input, LS_HASH_SEED)) followed by
 * hex(ls_hash64(input, LS_HASH_SEED ^ 0x9e3779b97f4a7c15)), 16 lower-case
 * digits each. Frozen: changing it changes every event id.
 */
void ls_event_id(const char *connection_id, const char *activity_id,
                 const uint8_t *before, size_t before_len,
                 const uint8_t *after, size_t after_len, char *out);

/**
 * Build the event for one diff. before may be NULL (created); after may be
 * NULL only for LS_CHANGE_REMOVED. d->type must not be LS_CHANGE_NONE.
 * ctx->mode must be "full", "incremental" or "webhook". The key uses the
 * student_id of after (else of before) when present and non-empty. A value
 * that does not fit its fixed field (e.g. a very long connection_id) is
 * LS_EINVAL. The value is byte for byte what jansson 2.14's json_dumps() with
 * JSON_SORT_KEYS | JSON_COMPACT gives for the payload object (written
 * directly, without a json_t tree), so equal inputs give equal bytes; it is
 * NUL-terminated and value_len excludes the NUL. A string that is not valid
 * UTF-8 (a context string, or an id or present string field of before or
 * after) is LS_EINVAL, as json_string() refuses it. ev is zeroed first; on
 * error nothing is owned.
 * @return 0 and *ev filled (release with ls_event_release), or LS_ENOMEM /
 *         LS_EINVAL (message in err).
 */
int ls_event_build(const ls_event_ctx_t *ctx, const ls_activity_t *before,
                   const ls_activity_t *after, const ls_diff_t *d,
                   ls_event_t *ev, char *err, size_t errsz);

/** Free ev->value; ev may be reused after. */
void ls_event_release(ls_event_t *ev);

/*
 * Helpers shared with the other records lmsync publishes with the same
 * envelope and CloudEvents attributes (ls_current.h: the current records;
 * ls_rollup.h: the progress rollups).
 */

/**
 * The CloudEvents attributes of a record about activity_id: source
 * "/connections/{connection_id}" ("/workspaces/{workspace}/connections/
 * {connection_id}" in a named workspace), subject "activities/{activity_id}"
 * and time (ctx->observed_at_ms, ls_time_format). source must hold
 * LS_EVENT_SOURCE_MAX bytes, subject 16 + LS_STR_MAX, time LS_TIME_BUFSZ.
 * @return 0, or LS_EINVAL (message in err) when a part does not fit.
 */
int ls_event_attrs(const ls_event_ctx_t *ctx, const char *activity_id, char *source, char *subject,
                   char *time, char *err, size_t errsz);

/**
 * Set the envelope fields on obj (borrowed): "connection_id", and
 * "integration_type" and "tenant" (ctx->external_xref), each a string or
 * JSON null when NULL, and "workspace" in a named workspace only - the same
 * fields as the change event's payload.
 * @return 0, or LS_EINVAL when a string is not valid UTF-8 (json_string
 *         refuses it) or LS_ENOMEM.
 */
int ls_event_envelope_set(json_t *obj, const ls_event_ctx_t *ctx);

/** The CloudEvents source of ctx's connection (as ls_event_attrs) into buf (LS_EVENT_SOURCE_MAX bytes). */
void ls_event_source_of(const ls_event_ctx_t *ctx, char *buf);

#endif
