/*
 * admin_status.h - per-scope summary of the sync.status history, for
 * `lmsync-admin status`.
 *
 * Fed the status records of one topic in offset order (a scope's records
 * share a key, hence a partition, hence an order), it keeps per scope the
 * last ok run, the last failure and its reason, the failures since the last
 * ok run and the pending removals of the last ok run. Pure code: records in,
 * lines out; the Kafka reading is in admin_run.c.
 */
#ifndef ADMIN_STATUS_H
#define ADMIN_STATUS_H

#include <stddef.h>
#include <stdio.h>

#include "ls_activity.h"
#include "ls_scope.h"

typedef struct admin_scope {
    char scope[LS_KEY_MAX];       /* "conn" or "conn/course" */
    char connection_id[LS_STR_MAX + 1];
    char integration_type[64];
    char last_outcome[16];        /* outcome of the latest record */
    char last_finished_at[40];
    char last_ok_at[40];          /* "" = no ok run in the topic */
    char last_ok_mode[16];
    long long last_ok_records;
    long long pending_removals;   /* of the last ok run */
    char last_failure_at[40];     /* "" = none */
    char last_error[512];
    int consecutive_failures;     /* failed runs after the last ok one (skipped runs do not count) */
    long long reports;            /* status records seen for the scope */
} admin_scope_t;

typedef struct admin_status admin_status_t;

/** Empty summary; NULL when out of memory. Free with admin_status_destroy. */
admin_status_t *admin_status_new(void);
void admin_status_destroy(admin_status_t *s);

/**
 * Account one record's value (len bytes, not NUL-terminated; NULL = tombstone,
 * ignored), decoded by ls_status_decode. @return 0; LS_EINVAL with its
 * one-line reason in err when the value is not a status record: the record is
 * counted as bad and skipped; LS_ENOMEM.
 */
int admin_status_add(admin_status_t *s, const char *value, size_t len, char *err, size_t errsz);

/** Scopes seen, and records skipped as bad. */
size_t admin_status_count(const admin_status_t *s);
long long admin_status_bad(const admin_status_t *s);

/** The scopes sorted by scope name; borrowed until the next add or destroy. */
const admin_scope_t *admin_status_sorted(admin_status_t *s);

/** One JSON object per scope and line. @return 0 or LS_ENOMEM/LS_EIO. */
int admin_status_print_json(admin_status_t *s, FILE *out);

/** An aligned table with a header line. */
void admin_status_print_table(admin_status_t *s, FILE *out);

#endif
