/*
 * ls_current.h - the current records: the latest full record of every
 * tracked activity, on the compacted topic `{prefix}.activity.current`
 * (docs/events.md, section 9).
 *
 * Key "{connection_id}/{activity_id}" (ls_activity_key) of the
 * workspace-qualified connection ("eu:conn-1" in workspace "eu",
 * ls_conn_qualify), as the change events' keys. Value: the change
 * event's `after` record (absent, null and false kept apart; instants as
 * ls_time_format) plus the envelope fields "connection_id",
 * "integration_type", "tenant" and, in a named workspace, "workspace"
 * (ls_event_envelope_set), compact JSON with
 * sorted keys. A removed activity gets a tombstone: no value, headers kept.
 * Headers: the change events' CloudEvents attributes with ce_type
 * "lmsync.activity.current".
 */
#ifndef LS_CURRENT_H
#define LS_CURRENT_H

#include <jansson.h>
#include <stddef.h>
#include "ls_activity.h"
#include "ls_catalog.h"
#include "ls_event.h"

#define LS_CURRENT_TYPE "lmsync.activity.current"

/* Names joined into a current record from the catalog cache (ls_catalog.h):
 * "course_name" from course, "content_name" and "content_type" from
 * content; a NULL entry, or one without the name/type, leaves the member
 * absent (never "" or invented). */
typedef struct ls_current_names {
    const ls_catalog_entry_t *course;
    const ls_catalog_entry_t *content;
} ls_current_names_t;

typedef struct ls_current {
    char id[LS_EVENT_ID_LEN + 1];  /* ce_id (ls_current_id) */
    char source[LS_EVENT_SOURCE_MAX]; /* "[/workspaces/{workspace}]/connections/{connection_id}" */
    char subject[16 + LS_STR_MAX]; /* "activities/{activity id}" */
    char time[LS_TIME_BUFSZ];      /* ctx->observed_at_ms */
    char key[LS_KEY_MAX];          /* "{qualified connection}/{activity id}" */
    char *value;                   /* owned (malloc), NUL-terminated; NULL for a tombstone */
    size_t value_len;              /* 0 for a tombstone */
} ls_current_t;

/**
 * The value of a's current record, set on obj (borrowed; normally an empty
 * object): every key of ls_activity_to_json(a), the envelope fields and
 * the names (ls_catalog_add_names; names may be NULL: none known). This is
 * the one place that decides what a current record holds.
 * @return 0, LS_EINVAL (a string that is not valid UTF-8) or LS_ENOMEM.
 */
int ls_current_value_set(json_t *obj, const ls_event_ctx_t *ctx, const ls_activity_t *a,
                         const ls_current_names_t *names);

/**
 * The deterministic ce_id of a current record: ls_event_id() over the
 * connection, the activity id, the marker bytes "current" in place of the
 * before state (a packed state never equals them, so no change event shares
 * the id) and the packed state (packed/len; NULL/0 for a tombstone). The
 * same state republished gets the same id.
 */
void ls_current_id(const char *connection_id, const char *activity_id, const uint8_t *packed, size_t len,
                   char *out);

/**
 * Build the current record of activity_id: its value from a (NULL: the
 * tombstone of a removed activity) and names (may be NULL), key, ce_id and
 * CloudEvents attributes. The ce_id depends on the state only: a record
 * republished with a name learnt since keeps its id.
 * a->id must equal activity_id. ctx->mode and ctx->job_id are not used.
 * cur is zeroed first; on error nothing is owned.
 * @return 0 (release with ls_current_release), or LS_EINVAL / LS_ENOMEM
 *         with a one-line reason in err.
 */
int ls_current_build(const ls_event_ctx_t *ctx, const char *activity_id, const ls_activity_t *a,
                     const ls_current_names_t *names, ls_current_t *cur, char *err, size_t errsz);

/** Free cur->value; cur may be reused after. */
void ls_current_release(ls_current_t *cur);

#endif
