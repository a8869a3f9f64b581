/*
 * sb_fault.h - fault injection for the simulated API.
 *
 * Faults are added through the control API and consumed by matching API
 * requests (count > 0 decrements, -1 lasts until cleared). Sleeping faults
 * (latency, stall) all apply; of the response-altering ones (status,
 * truncate, not_array, bad_record, ignore_offset, ignore_limit,
 * duplicate_ids) the first match wins. Own mutex; the
 * caller sleeps after matching, never while holding it.
 */
#ifndef SB_FAULT_H
#define SB_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

typedef enum sb_fault_kind {
    SB_FAULT_NONE = 0,
    SB_FAULT_STATUS,
    SB_FAULT_TRUNCATE,
    SB_FAULT_NOT_ARRAY,
    SB_FAULT_LATENCY,
    SB_FAULT_STALL,
    SB_FAULT_BAD_RECORD,
    SB_FAULT_SHIFT,            /* mutates the world mid-scan; see sb_faults_take_shift */
    SB_FAULT_IGNORE_OFFSET,    /* hostile: the activity list answers offset 0 whatever offset was sent */
    SB_FAULT_IGNORE_LIMIT,     /* hostile: the activity list answers 2 x the limit sent */
    SB_FAULT_DUPLICATE_IDS     /* hostile: a later page's first record carries the list's first id */
} sb_fault_kind_t;

/* Direction of a "shift" fault. */
typedef enum sb_shift_dir {
    SB_SHIFT_NONE = 0,
    SB_SHIFT_INSERT,           /* a new record at the front: the next page repeats one */
    SB_SHIFT_DELETE            /* a record before the offset is deleted: the next page skips one */
} sb_shift_dir_t;

/* What a request is, for "path" scoping. */
typedef enum sb_req_kind {
    SB_REQ_ACTIVITY = 0,   /* /lms/{c}/activity[/{id}] */
    SB_REQ_COURSE,         /* /lms/{c}/course[/{id}] */
    SB_REQ_CONTENT,        /* /lms/{c}/content */
    SB_REQ_LMS_OTHER,      /* any other /lms/{c}/... */
    SB_REQ_UNIFIED,        /* /unified/... (no connection) */
    SB_REQ_WEBHOOK         /* /unified/webhook[/{id}] (faults with path "webhook" only) */
} sb_req_kind_t;

typedef struct sb_faults sb_faults_t;

/** What to do with one request. */
typedef struct sb_fault_hit {
    long sleep_ms;                 /* total latency + stall to sleep first */
    sb_fault_kind_t action;        /* STATUS, TRUNCATE, NOT_ARRAY, BAD_RECORD, IGNORE_*, DUPLICATE_IDS or NONE */
    int status;                    /* for STATUS */
    int retry_after;               /* seconds, 0 = no header */
} sb_fault_hit_t;

sb_faults_t *sb_faults_new(void);
void sb_faults_destroy(sb_faults_t *f);

/**
 * Add a fault from a control-API body
 * {"connection_id":"conn-0001"|"*","kind":..,"status":503,"retry_after":2,
 *  "count":N|-1,"latency_ms":100,"stall_ms":30000,"path":"activity"|"course"|"lms"|"unified"|"webhook",
 *  "direction":"insert"|"delete"}  (direction: kind "shift" only, default insert).
 * @return 0 and *echo (new reference: the stored fault with its id), or
 *         LS_EINVAL with a message in err.
 */
int sb_faults_add(sb_faults_t *f, const json_t *body, json_t **echo, char *err, size_t err_size);

/** Remove every fault. */
void sb_faults_clear(sb_faults_t *f);

/** Active faults as a JSON array (new reference). */
json_t *sb_faults_list(sb_faults_t *f);

/**
 * Match (and consume) faults for one request. conn_id is NULL for
 * /unified requests (only "*" faults match those).
 */
void sb_faults_match(sb_faults_t *f, const char *conn_id, sb_req_kind_t kind, sb_fault_hit_t *hit);

/**
 * Match (and consume one count of) the first "shift" fault of conn_id. The
 * caller calls it only for activity list requests with offset > 0 (a scan
 * past its first page). sb_faults_match() never matches shift faults.
 * @return the direction, or SB_SHIFT_NONE.
 */
sb_shift_dir_t sb_faults_take_shift(sb_faults_t *f, const char *conn_id);

#endif
