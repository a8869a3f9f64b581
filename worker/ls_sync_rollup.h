/*
 * ls_sync_rollup.h - the worker's progress rollups (the arithmetic is in
 * lib/model/ls_rollup.h): from a batch's activity changes to the rollup
 * records it publishes and the LMDB rows it commits with its states.
 *
 * A connection's scopes all live in one partition of the jobs topic, so a
 * connection's rollups are local to the one worker process that owns it.
 * For each changed activity whose rollup contribution changed, its
 * enrollment is recomputed from the stored member rows (an LMDB prefix
 * scan) overlaid with the batch's own changes, and each changed enrollment's
 * course from the stored enrollment rows overlaid the same way. A record is
 * produced (LS_SEND_AFTER_EVENTS) only when the value differs from the
 * stored row; an enrollment or course left without activity is a
 * tombstone. The rows are returned for the store step, which commits them
 * in the same write transaction as the batch's states.
 */
#ifndef LS_SYNC_ROLLUP_H
#define LS_SYNC_ROLLUP_H

#include <stddef.h>
#include <stdint.h>
#include "ls_activity.h"
#include "ls_event.h"
#include "ls_kafka.h"
#include "ls_rollup.h"
#include "ls_store.h"

/* One rollup row to commit (owned copy of key and value). */
typedef struct ls_ru_row {
    ls_store_ru_t db;
    uint8_t key[LS_RU_ENR_KEY + LS_STR_MAX];
    size_t klen;
    uint8_t val[LS_RU_ENR_ROW_MAX];
    size_t vlen;                   /* 0: delete */
} ls_ru_row_t;

/* The rows a batch commits; ls_ru_rows_view() lends them to ls_store_commit_rows. */
typedef struct ls_ru_rows {
    ls_ru_row_t *rows;
    ls_store_row_t *view;
    size_t n, cap, view_cap;
    uint64_t enrollments, courses; /* records produced (tombstones included) */
} ls_ru_rows_t;

/** One activity change: before or after NULL for a new or removed activity (borrowed). */
typedef struct ls_ru_change {
    const ls_activity_t *before, *after;
} ls_ru_change_t;

/** Where a run reads, what it publishes, and where its records go (all borrowed). */
typedef struct ls_ru_env {
    ls_store_reader_t *reader;
    int partition;
    const ls_event_ctx_t *ec;      /* the connection's envelope */
    ls_producer_t *producer;
    const char *topic_enrollments, *topic_courses;
    ls_batch_t *batch;
    int idle_days;
    int64_t now_ms;
} ls_ru_env_t;

/**
 * Produce the rollup records the changes cause and add their rows to out.
 * reevaluate: also evaluate every other course of the connection (or only
 * course_only when it is non-NULL and non-empty) at env->now_ms and publish
 * those whose values changed (learners_idle moves with time).
 * @return 0; LS_EINVAL with err set for a stored row that does not decode;
 *         LS_EIO / LS_ENOMEM with err set.
 */
int ls_ru_produce(const ls_ru_env_t *env, const ls_ru_change_t *ch, size_t n, int reevaluate,
                  const char *course_only, ls_ru_rows_t *out, char *err, size_t errsz);

/**
 * Publish every rollup of the connection again (resync), or only those of
 * course_only when it is non-NULL and non-empty (a course scope): every
 * stored enrollment as it is, and every course evaluated at env->now_ms
 * (its row added to out, so the store remembers what was published: commit
 * out's rows once the records are acknowledged).
 * @return as ls_ru_produce().
 */
int ls_ru_republish(const ls_ru_env_t *env, const char *course_only, ls_ru_rows_t *out, char *err, size_t errsz);

/** The rows as ls_store_row_t (borrowed from out, valid until it changes); NULL on ENOMEM. */
const ls_store_row_t *ls_ru_rows_view(ls_ru_rows_t *out);
void ls_ru_rows_reset(ls_ru_rows_t *out);
void ls_ru_rows_release(ls_ru_rows_t *out);

#endif
