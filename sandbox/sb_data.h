/*
 * sb_data.h - the sandbox's world: connections, courses, activity records,
 * the deterministic generator, mutations and the ground-truth change log.
 *
 * All state lives in one sb_world_t guarded by one mutex; every public
 * function takes it for the duration of the data access only (callers never
 * sleep while holding it). Initial data depends only on the config (seed,
 * sizes, providers): timestamps start from a base instant derived from the
 * seed, never from the wall clock. Mutations use the wall-clock instant the
 * caller passes in (tests pass fixed values).
 *
 * Records are typed values with a presence state (absent / null / present)
 * and are rendered to JSON per provider profile. Every change is labelled
 * from the rendered before/after by sb_label() and appended to the log.
 */
#ifndef SB_DATA_H
#define SB_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "sb_profile.h"
#include "sb_query.h"

#define SB_STR_MAX 48            /* max string length + 1 of record values */
#define SB_MAX_PROVIDERS 10000   /* one per connection at most */

typedef struct sb_world sb_world_t;

typedef struct sb_world_config {
    uint64_t seed;
    unsigned connections;        /* conn-0001 .. */
    unsigned students;           /* stu-1 .. per connection */
    unsigned courses;            /* crs-1 .. per connection */
    unsigned contents;           /* contents per course (providers with content_id) */
    const sb_profile_t *providers[SB_MAX_PROVIDERS];  /* round-robin over connections */
    size_t nproviders;
    unsigned hot_pct;            /* skew: the first hot_pct % of connections (at least one) ... */
    unsigned hot_share;          /* ... get hot_share % of the random mutations (0 = every connection alike) */
} sb_world_config_t;

/** Fill cfg with the CLI defaults (seed 42, 4 connections, 5/3/2, the 8 profiles). */
void sb_world_config_default(sb_world_config_t *cfg);

/**
 * Generate the initial world and log every seeded record as "created".
 * @return new world (free with sb_world_destroy), or NULL with errstr filled.
 */
sb_world_t *sb_world_new(const sb_world_config_t *cfg, char *errstr, size_t errstr_size);

void sb_world_destroy(sb_world_t *w);

/** Base instant (ms) of the seeded data: 2026-01-01T00:00:00Z + seed-derived offset. */
int64_t sb_world_base_ms(const sb_world_t *w);

/**
 * GET /unified/connection. categories/external_xref filter when non-NULL.
 * @return new reference to an array.
 */
json_t *sb_world_connections_json(sb_world_t *w, const char *categories,
                                  const char *external_xref, long limit, long offset);

/** GET /unified/connection/{id}: new reference, or NULL when unknown. */
json_t *sb_world_connection_json(sb_world_t *w, const char *id);

/**
 * GET /lms/{conn}/activity with a parsed query, honouring only what the
 * connection's profile supports.
 * @return 0 and *out (new reference), LS_ENOTFOUND (unknown connection) or
 *         LS_EINVAL (a required filter is missing; message in err).
 */
int sb_world_list_activities(sb_world_t *w, const char *conn_id, const sb_query_t *q,
                             json_t **out, char *err, size_t err_size);

/** GET /lms/{conn}/activity/{id}; q gives the projection. 0 or LS_ENOTFOUND. */
int sb_world_get_activity(sb_world_t *w, const char *conn_id, const char *act_id,
                          const sb_query_t *q, json_t **out);

/*
 * The same two answers as JSON text, written directly (what the server
 * sends): byte for byte json_dumps(SB_JSON_DUMP_FLAGS) of what the two
 * functions above return, without building the tree. The tree versions stay
 * as the reference renderings the unit tests compare these with.
 *
 * bad_first / bad: the bad_record fault, applied as sb_http.c applies it to
 * a tree: "progress_percentage":"fifty" on the first record of the page (on
 * the record), in place when the member is there, else as its last member.
 */

/**
 * GET /lms/{conn}/activity as text.
 * @return 0 and *out (malloc'd, NUL-terminated, caller frees) of *out_len
 *         bytes; LS_ENOTFOUND, LS_EINVAL (err) as sb_world_list_activities;
 *         LS_ENOMEM.
 */
int sb_world_list_activities_text(sb_world_t *w, const char *conn_id, const sb_query_t *q,
                                  bool bad_first, char **out, size_t *out_len,
                                  char *err, size_t err_size);

/** GET /lms/{conn}/activity/{id} as text: 0 with *out (caller frees), LS_ENOTFOUND or LS_ENOMEM. */
int sb_world_get_activity_text(sb_world_t *w, const char *conn_id, const char *act_id,
                               const sb_query_t *q, bool bad, char **out, size_t *out_len);

/** GET /lms/{conn}/course (paged). 0 or LS_ENOTFOUND. */
int sb_world_list_courses(sb_world_t *w, const char *conn_id, long limit, long offset,
                          json_t **out);

/** GET /lms/{conn}/content (paged): cnt-1 .. cnt-(courses x contents), names per sb_data.c. 0 or LS_ENOTFOUND. */
int sb_world_list_contents(sb_world_t *w, const char *conn_id, long limit, long offset, json_t **out);

/** POST /_sandbox/course: course_id of conn_id is called name from now on. 0, LS_ENOTFOUND or LS_ENOMEM. */
int sb_world_rename_course(sb_world_t *w, const char *conn_id, const char *course_id, const char *name);

/** GET /lms/{conn}/course/{id}. 0 or LS_ENOTFOUND. */
int sb_world_get_course(sb_world_t *w, const char *conn_id, const char *course_id,
                        json_t **out);

/**
 * Apply count random mutations (deterministic PRNG stream) at now_ms
 * (truncated to whole seconds). Each resulting log entry is appended to
 * changes_out when it is non-NULL (borrowed array).
 * @return number of changes logged.
 */
unsigned sb_world_tick(sb_world_t *w, unsigned count, int64_t now_ms, json_t *changes_out);

/** A control-API write (POST /_sandbox/activity). All pointers borrowed. */
typedef struct sb_apply {
    const char *connection_id;
    const char *activity_id;     /* NULL: create with a generated id */
    const json_t *set;           /* object field -> value|null, or NULL */
    const json_t *unset;         /* array of field names, or NULL */
    bool force;                  /* allow fields the provider does not have */
} sb_apply_t;

/**
 * Create or modify one activity. updated_at is set to now_ms automatically
 * unless set/unset names it or the provider has no updated_at; a request
 * that changes nothing writes nothing.
 * @return 0 with *change_out = new reference to the log entry or NULL when
 *         nothing changed; LS_ENOTFOUND (connection) or LS_EINVAL (err).
 */
int sb_world_apply(sb_world_t *w, const sb_apply_t *req, int64_t now_ms,
                   json_t **change_out, char *err, size_t err_size);

/** Delete an activity. 0 with *change_out (new reference) or LS_ENOTFOUND. */
int sb_world_remove(sb_world_t *w, const char *conn_id, const char *act_id,
                    int64_t now_ms, json_t **change_out);

/**
 * A "shift" in the middle of a paginated scan (fault kind "shift"), applied
 * just before the page of q is served. insert: a new record (course_id and
 * student_id from q's filters when given, else random) goes to the front of
 * the creation order, so the page repeats the last record of the previous
 * page. delete: the record at position offset-1 of q's listing (already
 * served) is deleted, so the page skips one record. Both are logged
 * (created / removed) like any change.
 * @return 0 with *change_out (new reference, or NULL when nothing fitted),
 *         or LS_ENOTFOUND (connection).
 */
int sb_world_shift(sb_world_t *w, const char *conn_id, const sb_query_t *q, bool delete_one,
                   int64_t now_ms, json_t **change_out);

/** GET /_sandbox/changes: {"next":N,"changes":[...]} with seq >= since. New reference. */
json_t *sb_world_changes(sb_world_t *w, uint64_t since, size_t limit);

/** Sequence number the next change will get. */
uint64_t sb_world_next_seq(sb_world_t *w);

/** GET /_sandbox/activities: full records without raw. 0 or LS_ENOTFOUND. */
int sb_world_activities(sb_world_t *w, const char *conn_id, json_t **out);

/**
 * Label a change from two renderings of one record (NULL = does not exist):
 * created, removed, completed, reopened, progressed, regressed, updated,
 * touched (only updated_at differs) or NULL (no difference). Timestamps are
 * compared as instants. Returns a static string.
 */
const char *sb_label(const json_t *before, const json_t *after);

#endif
