/*
 * ls_control.h - operator requests on the control topic `{prefix}.control`
 * (key = connection id), read by the coordinator leader.
 *
 * Value (JSON): {"v":1, "type":"resync", "connection_id":"conn-1",
 *   "requested_at":"2026-11-28T20:19:45.436Z", "request_id":"1795897185436-0f3a9c21"}
 *
 * resync (lmsync-admin resync): the coordinator enqueues a full job with
 * "resync":true for every scope of the connection, with the job id
 * ls_control_job_id(scope, request_id), so whoever asked can find each
 * job's status record.
 */
#ifndef LS_CONTROL_H
#define LS_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include "ls_activity.h"

#define LS_CONTROL_VERSION 1
#define LS_CONTROL_REQUEST_ID_MAX 24 /* [A-Za-z0-9_-], so a job id "scope@resync-ID" always fits */

typedef enum { LS_CONTROL_RESYNC = 1 } ls_control_type_t;

typedef struct ls_control {
    ls_control_type_t type;
    char connection_id[LS_STR_MAX + 1];
    int64_t requested_at;                      /* ms since epoch */
    char request_id[LS_CONTROL_REQUEST_ID_MAX + 1];
} ls_control_t;

/** Compact JSON with sorted keys (malloc, caller frees); NULL on allocation failure. */
char *ls_control_encode(const ls_control_t *c);

/**
 * Decode a control message value (len bytes, need not be NUL-terminated).
 * Every member is required; type must be "resync"; connection_id must be a
 * key part (ls_key_part_check); request_id 1..LS_CONTROL_REQUEST_ID_MAX
 * bytes of [A-Za-z0-9_-].
 * @return 0, or LS_EINVAL with a one-line printable reason in err; *c is
 *         zeroed on error.
 */
int ls_control_decode(const char *value, size_t len, ls_control_t *c, char *err, size_t errsz);

/**
 * The job id of the resync job of scope ("conn" or "conn/course") for
 * request_id: "{scope}@resync-{request_id}".
 * @return its length, or -1 when it does not fit (buf then holds "").
 */
int ls_control_job_id(const char *scope, const char *request_id, char *buf, size_t bufsz);

/** 1 when job_id is a resync job id of request_id (any scope). */
int ls_control_is_job_of(const char *job_id, const char *request_id);

#endif
