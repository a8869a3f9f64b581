/*
 * board_table.h - what lmsync-board shows, as plain data (no Kafka, no HTTP):
 *
 *   courses      the latest value per key of lmsync.progress.courses
 *                ({connection_id}/{course_id}; a tombstone deletes), sorted
 *                by (connection_id, course_id);
 *   connections  every connection seen in a course record or a change
 *                event: integration type, tenant, course count, change
 *                events seen since the board started, the last one's
 *                observation instant;
 *   changes      the latest change events (lmsync.activity.changes) as
 *                compact feed items, newest first, at most max_changes.
 *
 * Records are checked before they touch the table: a value that is not a
 * JSON object, or a known field of the wrong type, is refused with a reason
 * and counted; the table is unchanged. Not thread-safe: the caller locks.
 */
#ifndef BOARD_TABLE_H
#define BOARD_TABLE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct board_table board_table_t;

typedef struct board_stats {
    size_t courses, connections, changes;   /* held now */
    uint64_t bad_courses, bad_changes;      /* records refused since start */
} board_stats_t;

/** @return new table (free with board_table_destroy) or NULL (out of memory). */
board_table_t *board_table_new(size_t max_changes);

void board_table_destroy(board_table_t *t);

/**
 * Apply one record of the courses topic: value NULL = tombstone.
 * On a change, *event is the update to push to clients (new reference):
 *   {"course": RECORD, "connection": SUMMARY}                       or
 *   {"removed": {"connection_id", "course_id"}, "connection": SUMMARY}
 * and *name its SSE event name ("course" / "course_removed", static).
 * @return 1 changed; 0 nothing to do (tombstone of an unknown key);
 *         LS_EINVAL refused (reason in why, counted); LS_ENOMEM.
 */
int board_table_course(board_table_t *t, const char *key, size_t key_len, const char *value,
                       size_t value_len, const char **name, json_t **event, char *why, size_t whysz);

/**
 * Apply one change event (ce_id: its ce_id header, NULL if none).
 * *event = {"change": ITEM, "connection": SUMMARY} (new reference), *name
 * "change". ITEM: id, type, connection_id, activity_id, course_id and
 * student_id (after's, else before's; absent when neither has one),
 * changed, before/after restricted to the changed fields, at (observed.at).
 * @return 1; LS_EINVAL refused (reason in why, counted); LS_ENOMEM.
 */
int board_table_change(board_table_t *t, const char *value, size_t value_len, const char *ce_id,
                       const char **name, json_t **event, char *why, size_t whysz);

/** The course records, sorted by (connection_id, course_id). New reference; NULL on no memory. */
json_t *board_table_courses(const board_table_t *t);

/** {"courses": [...], "connections": [...], "changes": [newest first]}. New reference; NULL on no memory. */
json_t *board_table_snapshot(const board_table_t *t);

void board_table_stats(const board_table_t *t, board_stats_t *out);

#endif
