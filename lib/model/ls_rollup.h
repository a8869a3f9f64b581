/*
 * ls_rollup.h - progress rollups: per enrollment (connection, student,
 * course) and per course, computed from the activities' tracked state.
 *
 * Exactness: every aggregate is integer arithmetic on quantized inputs, so
 * its value does not depend on the order the activities are added in, and
 * an aggregate maintained from a changed subset (the worker recomputes an
 * enrollment from its member rows, and a course from its enrollment rows)
 * equals a recomputation from scratch bit for bit:
 *   - progress_percentage and duration_minutes are quantized to hundredths:
 *     q = floor(x * 100 + 0.5) (x * 100 in IEEE double); a value with
 *     |x| > 1e9 is not counted (treated as not reported);
 *   - a mean is sum / n rounded half up in hundredths:
 *     floor((2 * sum + n) / (2 * n)), published as q / 100 (a double);
 *   - a share is completed / total rounded half up in 1/10000 units:
 *     floor((20000 * completed + total) / (2 * total)), published / 10000;
 *   - a duration total is the sum of quantized values, published / 100.
 * Instants are integer ms. Nothing here touches LMDB or Kafka.
 *
 * Membership: an activity belongs to the enrollment of its student_id and
 * course_id when both are present, non-empty and valid key parts
 * (ls_key_part_check: no '/', no control character); an activity without
 * one belongs to no enrollment and counts in no rollup.
 *
 * last_activity_at of an enrollment is the latest started_at, completed_at
 * or updated_at of its activities (created_at is not learner activity: an
 * LMS creates records when it assigns content).
 */
#ifndef LS_ROLLUP_H
#define LS_ROLLUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "ls_activity.h"
#include "ls_event.h"

#define LS_RU_ABS_MAX 1e9           /* |progress| or |duration| above this is not counted */
#define LS_RU_DAY_MS INT64_C(86400000)

/* Presence bits of a member and of an enrollment aggregate. */
enum {
    LS_RU_HAS_PROGRESS = 0x01,
    LS_RU_HAS_DURATION = 0x02,
    LS_RU_HAS_STARTED = 0x04,
    LS_RU_HAS_COMPLETED_AT = 0x08,
    LS_RU_HAS_LAST = 0x10,
};

/* One activity's contribution to its enrollment. */
typedef struct ls_ru_member {
    uint8_t has;                 /* LS_RU_HAS_* */
    uint8_t completed;           /* is_completed present and true */
    int64_t progress;            /* hundredths of a percent */
    int64_t duration;            /* hundredths of a minute */
    int64_t started_at, completed_at, last_at;   /* ms since epoch */
} ls_ru_member_t;

/* An enrollment's aggregate: sums and extremes of its members. */
typedef struct ls_ru_enr {
    uint32_t activities, completed, n_progress, n_duration, n_completed_at;
    uint8_t has;                 /* LS_RU_HAS_STARTED, _COMPLETED_AT (max), _LAST */
    int64_t progress_sum, progress_min, duration_sum;
    int64_t first_started_at, max_completed_at, last_activity_at;
} ls_ru_enr_t;

/* A course's aggregate over its enrollments, evaluated at one instant. */
typedef struct ls_ru_course {
    uint32_t learners, learners_completed, n_progress, learners_idle;
    int64_t progress_sum;        /* sum of the learners' progress means (hundredths) */
    int32_t idle_days;
    int64_t evaluated_at;        /* ms */
} ls_ru_course_t;

/* Fixed packed sizes (LMDB values; little-endian integers). */
#define LS_RU_MEMBER_LEN 42
#define LS_RU_ENR_LEN 69
#define LS_RU_COURSE_LEN 36

/*
 * Row keys of the worker's rollup databases (after the store's partition and
 * connection prefix): fixed-size hashes, so a key never exceeds LMDB's limit
 * whatever the ids' lengths, and a course's enrollments are one key range.
 *   course:     h64(course_id)                        LS_RU_COURSE_KEY bytes
 *   enrollment: h64(course_id) | h64(student_id)      LS_RU_ENR_KEY bytes
 *   member:     enrollment key | activity id
 * (h64 = ls_hash64, big endian.) Two ids with one hash would share rows:
 * about n^2 / 2^65 for n ids of a connection; the ids themselves are in the
 * enrollment and course values.
 */
#define LS_RU_COURSE_KEY 8
#define LS_RU_ENR_KEY 16
void ls_ru_course_key(const char *course_id, uint8_t out[LS_RU_COURSE_KEY]);
void ls_ru_enr_key(const char *course_id, const char *student_id, uint8_t out[LS_RU_ENR_KEY]);

/** floor((2 * sum + n) / (2 * n)) for n > 0: sum / n rounded half up. */
int64_t ls_ru_round_div(int64_t sum, int64_t n);

/**
 * The member of a (borrowed); *course and *student point into a.
 * @return true when a belongs to an enrollment (see the top of this file).
 */
bool ls_ru_member_from_activity(const ls_activity_t *a, ls_ru_member_t *m, const char **course,
                                const char **student);

void ls_ru_member_pack(const ls_ru_member_t *m, uint8_t out[LS_RU_MEMBER_LEN]);
/** @return 0, or LS_EINVAL for a buffer pack cannot produce. */
int ls_ru_member_unpack(const uint8_t *buf, size_t len, ls_ru_member_t *m);

/** Start an empty aggregate / add one member (order does not matter). */
void ls_ru_enr_init(ls_ru_enr_t *e);
void ls_ru_enr_add(ls_ru_enr_t *e, const ls_ru_member_t *m);
/** Every activity completed (and at least one). */
bool ls_ru_enr_all_completed(const ls_ru_enr_t *e);
void ls_ru_enr_pack(const ls_ru_enr_t *e, uint8_t out[LS_RU_ENR_LEN]);
int ls_ru_enr_unpack(const uint8_t *buf, size_t len, ls_ru_enr_t *e);

/**
 * Start a course aggregate evaluated at now_ms with idle_days, and add one
 * enrollment (order does not matter). A learner is idle when its
 * last_activity_at is before now_ms - idle_days days; a learner without
 * any instant is not idle.
 */
void ls_ru_course_init(ls_ru_course_t *c, int idle_days, int64_t now_ms);
void ls_ru_course_add(ls_ru_course_t *c, const ls_ru_enr_t *e);
/** Same published values, the evaluation instant aside. */
bool ls_ru_course_same(const ls_ru_course_t *a, const ls_ru_course_t *b);
void ls_ru_course_pack(const ls_ru_course_t *c, uint8_t out[LS_RU_COURSE_LEN]);
int ls_ru_course_unpack(const uint8_t *buf, size_t len, ls_ru_course_t *c);

/*
 * Stored rows: an enrollment row is its packed aggregate then
 * "course_id\0student_id"; a course row its packed aggregate then course_id.
 */
#define LS_RU_ENR_ROW_MAX (LS_RU_ENR_LEN + 2 * LS_STR_MAX + 1)
#define LS_RU_COURSE_ROW_MAX (LS_RU_COURSE_LEN + LS_STR_MAX)
/** @return the row's length (out holds LS_RU_ENR_ROW_MAX bytes). */
size_t ls_ru_enr_row_pack(const ls_ru_enr_t *e, const char *course_id, const char *student_id, uint8_t *out);
/** @return 0, or LS_EINVAL (ids: LS_STR_MAX + 1 bytes each, NUL-terminated). */
int ls_ru_enr_row_unpack(const uint8_t *buf, size_t len, ls_ru_enr_t *e, char *course_id, char *student_id);
size_t ls_ru_course_row_pack(const ls_ru_course_t *c, const char *course_id, uint8_t *out);
int ls_ru_course_row_unpack(const uint8_t *buf, size_t len, ls_ru_course_t *c, char *course_id);

/** The identity every rollup value carries (all borrowed). */
typedef struct ls_ru_ident {
    const ls_event_ctx_t *ctx;   /* connection_id, integration_type, tenant */
    const char *course_id;
    const char *student_id;      /* NULL for a course */
} ls_ru_ident_t;

/**
 * Set the fields of an enrollment rollup on obj (borrowed; a caller may add
 * fields before or after): identity, activities, completed,
 * completion_share, and the optional fields only when reported.
 * @return 0, or LS_ENOMEM.
 */
int ls_ru_enrollment_fill(json_t *obj, const ls_ru_ident_t *id, const ls_ru_enr_t *e);

/** Same for a course rollup: learners, learners_completed, completion_rate, progress_mean (when
 * reported), learners_idle, idle_days, evaluated_at. */
int ls_ru_course_fill(json_t *obj, const ls_ru_ident_t *id, const ls_ru_course_t *c);

#endif
