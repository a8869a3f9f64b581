/*
 * ls_scope.h - the names a job, its status record and its state share:
 * the sync mode, the updated_gte capability a job carries, and the keys
 * built from identifiers (scope "conn" or "conn/course"; activity
 * "conn/activity"). Every place that builds one of these keys calls here.
 */
#ifndef LS_SCOPE_H
#define LS_SCOPE_H

#include <stddef.h>

/* How a job reads its scope. LS_MODE_NONE: not decided (a status record
 * without its own mode reports the job's). */
typedef enum {
    LS_MODE_NONE = 0,
    LS_MODE_FULL,        /* every record: the only mode that can detect removals */
    LS_MODE_INCREMENTAL, /* records with updated_at >= the stored watermark */
    LS_MODE_WEBHOOK,     /* records pushed to lmsync; never a removal */
} ls_mode_t;

/** "full", "incremental", "webhook"; "" for LS_MODE_NONE. */
const char *ls_mode_name(ls_mode_t m);

/** Parse a mode name; LS_MODE_NONE for anything else. */
ls_mode_t ls_mode_parse(const char *s);

/* Whether the activity list accepts updated_gte (from the capability profile). */
typedef enum {
    LS_GTE_NONE = 0,  /* not supported: only full scans */
    LS_GTE_SUPPORTED, /* optional filter: incremental scans possible */
    LS_GTE_REQUIRED,  /* must be sent on every request (full scans send the epoch) */
} ls_gte_t;

/**
 * Scope key: "conn" (course NULL or "") or "conn/course", into buf.
 * @return the key's length, or -1 when it does not fit (buf then holds "").
 */
int ls_scope_key(const char *connection_id, const char *course_id, char *buf, size_t bufsz);

/**
 * Whether id may be a key part that another part follows (a connection id,
 * a course id): '/' separates the parts and restores split at the first
 * one, so it must not contain '/' (nor a control character, which would
 * garble a log line). An activity id is always the last part and may.
 * @return 0, or LS_EINVAL with why, e.g. "contains '/' at byte 3".
 */
int ls_key_part_check(const char *id, char *why, size_t whysz);

/*
 * Workspaces (docs/design.md, "Workspaces and regions"): connection ids of
 * two Unified workspaces may be equal, so every key lmsync builds from a
 * connection id (scope, state, LMDB, event id, rate limiter) uses the
 * workspace-qualified id: the id itself in the default workspace (""), and
 * "WORKSPACE:id" in a named one. A workspace name is 1-31 of [a-z0-9_-].
 */
#define LS_WORKSPACE_MAX 32
/* Room for any key: workspace, ':', two ids of LS_STR_MAX (255) bytes at most, '/', NUL. */
#define LS_KEY_MAX (LS_WORKSPACE_MAX + 2 * 255 + 2)

/**
 * Whether name is a valid workspace name ([a-z0-9_-], 1-31 bytes).
 * @return 0, or LS_EINVAL with why.
 */
int ls_workspace_check(const char *name, char *why, size_t whysz);

/**
 * Qualified connection id into buf: connection_id when workspace is NULL or
 * "", else "workspace:connection_id".
 * @return the length, or -1 when it does not fit (buf then holds "").
 */
int ls_conn_qualify(const char *workspace, const char *connection_id, char *buf, size_t bufsz);

/**
 * Enrollment rollup key "conn/student/course": as ls_scope_key(). The
 * course rollup key is ls_scope_key(conn, course).
 */
int ls_enrollment_key(const char *connection_id, const char *student_id, const char *course_id, char *buf,
                      size_t bufsz);

/** Activity key "conn/activity" (state topic key): as ls_scope_key(). */
int ls_activity_key(const char *connection_id, const char *activity_id, char *buf, size_t bufsz);

#endif
