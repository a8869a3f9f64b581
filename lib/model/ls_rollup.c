/*
 * ls_rollup.c - progress rollups (see ls_rollup.h for the arithmetic).
 *
 * Packed forms are fixed-size little-endian records; absent values are
 * stored as 0, so equal aggregates have equal bytes and the worker can tell
 * "changed" by comparing bytes.
 */
#include "ls_rollup.h"
#include "ls_err.h"
#include "ls_hash.h"
#include "ls_scope.h"
#include "ls_time.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

void ls_ru_course_key(const char *course_id, uint8_t out[LS_RU_COURSE_KEY])
{
    put_be64(out, ls_hash64(course_id, strlen(course_id), LS_HASH_SEED));
}

void ls_ru_enr_key(const char *course_id, const char *student_id, uint8_t out[LS_RU_ENR_KEY])
{
    ls_ru_course_key(course_id, out);
    put_be64(out + LS_RU_COURSE_KEY, ls_hash64(student_id, strlen(student_id), LS_HASH_SEED));
}

int64_t ls_ru_round_div(int64_t sum, int64_t n)
{
    int64_t num = 2 * sum + n, den = 2 * n;
    int64_t q = num / den;
    return (num % den != 0 && num < 0) ? q - 1 : q; /* C truncates; we want floor */
}

/* Quantize to hundredths; false when not finite or out of range (not counted). */
static bool quantize(double x, int64_t *q)
{
    if (!(fabs(x) <= LS_RU_ABS_MAX))
        return false;
    *q = (int64_t)floor(x * 100.0 + 0.5);
    return true;
}

static bool key_part_ok(const ls_activity_t *a, ls_field_t f, const char *s)
{
    return a->pres[f] == LS_PRESENT && s[0] && ls_key_part_check(s, NULL, 0) == LS_OK;
}

static void take_last(ls_ru_member_t *m, const ls_activity_t *a, ls_field_t f, int64_t v)
{
    if (a->pres[f] != LS_PRESENT)
        return;
    if (!(m->has & LS_RU_HAS_LAST) || v > m->last_at)
        m->last_at = v;
    m->has |= LS_RU_HAS_LAST;
}

bool ls_ru_member_from_activity(const ls_activity_t *a, ls_ru_member_t *m, const char **course,
                                const char **student)
{
    memset(m, 0, sizeof(*m));
    if (!key_part_ok(a, LS_F_COURSE_ID, a->course_id) || !key_part_ok(a, LS_F_STUDENT_ID, a->student_id))
        return false;
    *course = a->course_id;
    *student = a->student_id;
    m->completed = a->pres[LS_F_IS_COMPLETED] == LS_PRESENT && a->is_completed;
    if (a->pres[LS_F_PROGRESS] == LS_PRESENT && quantize(a->progress_percentage, &m->progress))
        m->has |= LS_RU_HAS_PROGRESS;
    if (a->pres[LS_F_DURATION] == LS_PRESENT && quantize(a->duration_minutes, &m->duration))
        m->has |= LS_RU_HAS_DURATION;
    if (a->pres[LS_F_STARTED_AT] == LS_PRESENT) {
        m->has |= LS_RU_HAS_STARTED;
        m->started_at = a->started_at;
    }
    if (a->pres[LS_F_COMPLETED_AT] == LS_PRESENT) {
        m->has |= LS_RU_HAS_COMPLETED_AT;
        m->completed_at = a->completed_at;
    }
    take_last(m, a, LS_F_STARTED_AT, a->started_at);
    take_last(m, a, LS_F_COMPLETED_AT, a->completed_at);
    take_last(m, a, LS_F_UPDATED_AT, a->updated_at);
    return true;
}

/* ---- little-endian fixed records, one table per record ---- */

/* A member of a record: its offset and size (1, 4 or 8 bytes). */
typedef struct field {
    size_t off;
    size_t size;
} field_t;

#define FIELD(type, m) {offsetof(type, m), sizeof(((type *)0)->m)}
#define NFIELDS(t) (sizeof(t) / sizeof((t)[0]))

/* The packed order of each record (append only: the order is the stored format). */
static const field_t member_fields[] = {
    FIELD(ls_ru_member_t, has), FIELD(ls_ru_member_t, completed), FIELD(ls_ru_member_t, progress),
    FIELD(ls_ru_member_t, duration), FIELD(ls_ru_member_t, started_at), FIELD(ls_ru_member_t, completed_at),
    FIELD(ls_ru_member_t, last_at),
};
static const field_t enr_fields[] = {
    FIELD(ls_ru_enr_t, activities), FIELD(ls_ru_enr_t, completed), FIELD(ls_ru_enr_t, n_progress),
    FIELD(ls_ru_enr_t, n_duration), FIELD(ls_ru_enr_t, n_completed_at), FIELD(ls_ru_enr_t, has),
    FIELD(ls_ru_enr_t, progress_sum), FIELD(ls_ru_enr_t, progress_min), FIELD(ls_ru_enr_t, duration_sum),
    FIELD(ls_ru_enr_t, first_started_at), FIELD(ls_ru_enr_t, max_completed_at), FIELD(ls_ru_enr_t, last_activity_at),
};
static const field_t course_fields[] = {
    FIELD(ls_ru_course_t, learners), FIELD(ls_ru_course_t, learners_completed), FIELD(ls_ru_course_t, n_progress),
    FIELD(ls_ru_course_t, learners_idle), FIELD(ls_ru_course_t, progress_sum), FIELD(ls_ru_course_t, idle_days),
    FIELD(ls_ru_course_t, evaluated_at),
};

/* Write the fields of rec to out, each little endian. */
static void pack_fields(const void *rec, const field_t *f, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 0;
        const uint8_t *src = (const uint8_t *)rec + f[i].off;
        if (f[i].size == 1)
            v = *src;
        else if (f[i].size == 4) {
            uint32_t u;
            memcpy(&u, src, 4);
            v = u;
        } else {
            memcpy(&v, src, 8);
        }
        for (size_t b = 0; b < f[i].size; b++)
            *out++ = (uint8_t)(v >> (8 * b));
    }
}

/* Read the fields of rec from buf (as pack_fields wrote them). */
static void unpack_fields(void *rec, const field_t *f, size_t n, const uint8_t *buf)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 0;
        uint8_t *dst = (uint8_t *)rec + f[i].off;
        for (size_t b = 0; b < f[i].size; b++)
            v |= (uint64_t)*buf++ << (8 * b);
        if (f[i].size == 1) {
            *dst = (uint8_t)v;
        } else if (f[i].size == 4) {
            uint32_t u = (uint32_t)v;
            memcpy(dst, &u, 4);
        } else {
            memcpy(dst, &v, 8);
        }
    }
}

void ls_ru_member_pack(const ls_ru_member_t *m, uint8_t out[LS_RU_MEMBER_LEN])
{
    pack_fields(m, member_fields, NFIELDS(member_fields), out);
}

int ls_ru_member_unpack(const uint8_t *buf, size_t len, ls_ru_member_t *m)
{
    if (len != LS_RU_MEMBER_LEN)
        return LS_EINVAL;
    unpack_fields(m, member_fields, NFIELDS(member_fields), buf);
    bool ok = !(m->has & ~0x1f) && m->completed <= 1 && ((m->has & LS_RU_HAS_PROGRESS) || !m->progress) &&
              ((m->has & LS_RU_HAS_DURATION) || !m->duration) && ((m->has & LS_RU_HAS_STARTED) || !m->started_at) &&
              ((m->has & LS_RU_HAS_COMPLETED_AT) || !m->completed_at) && ((m->has & LS_RU_HAS_LAST) || !m->last_at);
    return ok ? LS_OK : LS_EINVAL;   /* canonical: absent values are 0, so it packs to the same bytes */
}

/* ---- enrollment ---- */

void ls_ru_enr_init(ls_ru_enr_t *e)
{
    memset(e, 0, sizeof(*e));
}

/* *v = min or max of *v and x, the first time x itself. */
static void extreme(uint8_t *has, uint8_t bit, int64_t *v, int64_t x, bool want_min)
{
    if (!(*has & bit) || (want_min ? x < *v : x > *v))
        *v = x;
    *has |= bit;
}

void ls_ru_enr_add(ls_ru_enr_t *e, const ls_ru_member_t *m)
{
    e->activities++;
    e->completed += m->completed;
    if (m->has & LS_RU_HAS_PROGRESS) {
        e->progress_min = e->n_progress == 0 || m->progress < e->progress_min ? m->progress : e->progress_min;
        e->n_progress++;
        e->progress_sum += m->progress;
    }
    if (m->has & LS_RU_HAS_DURATION) {
        e->n_duration++;
        e->duration_sum += m->duration;
    }
    if (m->has & LS_RU_HAS_STARTED)
        extreme(&e->has, LS_RU_HAS_STARTED, &e->first_started_at, m->started_at, true);
    if (m->has & LS_RU_HAS_COMPLETED_AT) {
        e->n_completed_at++;
        extreme(&e->has, LS_RU_HAS_COMPLETED_AT, &e->max_completed_at, m->completed_at, false);
    }
    if (m->has & LS_RU_HAS_LAST)
        extreme(&e->has, LS_RU_HAS_LAST, &e->last_activity_at, m->last_at, false);
}

bool ls_ru_enr_all_completed(const ls_ru_enr_t *e)
{
    return e->activities > 0 && e->completed == e->activities;
}

void ls_ru_enr_pack(const ls_ru_enr_t *e, uint8_t out[LS_RU_ENR_LEN])
{
    pack_fields(e, enr_fields, NFIELDS(enr_fields), out);
}

int ls_ru_enr_unpack(const uint8_t *buf, size_t len, ls_ru_enr_t *e)
{
    if (len != LS_RU_ENR_LEN)
        return LS_EINVAL;
    unpack_fields(e, enr_fields, NFIELDS(enr_fields), buf);
    bool ok = !(e->has & ~(LS_RU_HAS_STARTED | LS_RU_HAS_COMPLETED_AT | LS_RU_HAS_LAST)) &&
              e->completed <= e->activities && e->n_progress <= e->activities &&
              e->n_duration <= e->activities && e->n_completed_at <= e->activities &&
              (e->n_completed_at > 0) == ((e->has & LS_RU_HAS_COMPLETED_AT) != 0) &&
              (e->n_progress || (!e->progress_sum && !e->progress_min)) && (e->n_duration || !e->duration_sum) &&
              ((e->has & LS_RU_HAS_STARTED) || !e->first_started_at) &&
              ((e->has & LS_RU_HAS_COMPLETED_AT) || !e->max_completed_at) &&
              ((e->has & LS_RU_HAS_LAST) || !e->last_activity_at);
    return ok ? LS_OK : LS_EINVAL;
}

/* ---- course ---- */

void ls_ru_course_init(ls_ru_course_t *c, int idle_days, int64_t now_ms)
{
    memset(c, 0, sizeof(*c));
    c->idle_days = idle_days;
    c->evaluated_at = now_ms;
}

void ls_ru_course_add(ls_ru_course_t *c, const ls_ru_enr_t *e)
{
    if (e->activities == 0)
        return;
    c->learners++;
    c->learners_completed += ls_ru_enr_all_completed(e);
    if (e->n_progress) {
        c->n_progress++;
        c->progress_sum += ls_ru_round_div(e->progress_sum, e->n_progress);
    }
    if ((e->has & LS_RU_HAS_LAST) && e->last_activity_at < c->evaluated_at - (int64_t)c->idle_days * LS_RU_DAY_MS)
        c->learners_idle++;
}

bool ls_ru_course_same(const ls_ru_course_t *a, const ls_ru_course_t *b)
{
    return a->learners == b->learners && a->learners_completed == b->learners_completed &&
           a->n_progress == b->n_progress && a->progress_sum == b->progress_sum &&
           a->learners_idle == b->learners_idle && a->idle_days == b->idle_days;
}

void ls_ru_course_pack(const ls_ru_course_t *c, uint8_t out[LS_RU_COURSE_LEN])
{
    pack_fields(c, course_fields, NFIELDS(course_fields), out);
}

int ls_ru_course_unpack(const uint8_t *buf, size_t len, ls_ru_course_t *c)
{
    if (len != LS_RU_COURSE_LEN)
        return LS_EINVAL;
    unpack_fields(c, course_fields, NFIELDS(course_fields), buf);
    bool ok = c->learners_completed <= c->learners && c->n_progress <= c->learners &&
              c->learners_idle <= c->learners && c->idle_days >= 0 &&
              (c->n_progress || !c->progress_sum);
    return ok ? LS_OK : LS_EINVAL;
}

/* ---- stored rows: aggregate then ids ---- */

/* Copy the id of n bytes at p (no NUL inside, 1..LS_STR_MAX bytes) into out. */
static int take_id(const uint8_t *p, size_t n, char *out)
{
    if (n == 0 || n > LS_STR_MAX || memchr(p, 0, n))
        return LS_EINVAL;
    memcpy(out, p, n);
    out[n] = '\0';
    return LS_OK;
}

size_t ls_ru_enr_row_pack(const ls_ru_enr_t *e, const char *course_id, const char *student_id, uint8_t *out)
{
    size_t lc = strlen(course_id), ls = strlen(student_id);
    ls_ru_enr_pack(e, out);
    memcpy(out + LS_RU_ENR_LEN, course_id, lc + 1);
    memcpy(out + LS_RU_ENR_LEN + lc + 1, student_id, ls);
    return LS_RU_ENR_LEN + lc + 1 + ls;
}

int ls_ru_enr_row_unpack(const uint8_t *buf, size_t len, ls_ru_enr_t *e, char *course_id, char *student_id)
{
    if (len <= LS_RU_ENR_LEN || ls_ru_enr_unpack(buf, LS_RU_ENR_LEN, e) != LS_OK)
        return LS_EINVAL;
    const uint8_t *ids = buf + LS_RU_ENR_LEN, *nul = memchr(ids, 0, len - LS_RU_ENR_LEN);
    if (!nul || take_id(ids, (size_t)(nul - ids), course_id) != LS_OK)
        return LS_EINVAL;
    return take_id(nul + 1, len - LS_RU_ENR_LEN - (size_t)(nul - ids) - 1, student_id);
}

size_t ls_ru_course_row_pack(const ls_ru_course_t *c, const char *course_id, uint8_t *out)
{
    size_t lc = strlen(course_id);
    ls_ru_course_pack(c, out);
    memcpy(out + LS_RU_COURSE_LEN, course_id, lc);
    return LS_RU_COURSE_LEN + lc;
}

int ls_ru_course_row_unpack(const uint8_t *buf, size_t len, ls_ru_course_t *c, char *course_id)
{
    if (len <= LS_RU_COURSE_LEN || ls_ru_course_unpack(buf, LS_RU_COURSE_LEN, c) != LS_OK)
        return LS_EINVAL;
    return take_id(buf + LS_RU_COURSE_LEN, len - LS_RU_COURSE_LEN, course_id);
}

/* ---- JSON ---- */

/* Set key to a new value (stolen); false when it is NULL or cannot be set. */
static bool set(json_t *obj, const char *key, json_t *v)
{
    return v && json_object_set_new(obj, key, v) == 0;
}

static bool set_time(json_t *obj, const char *key, int64_t ms)
{
    char buf[LS_TIME_BUFSZ];
    return set(obj, key, json_string(ls_time_format(ms, buf)));
}

static bool set_ident(json_t *obj, const ls_ru_ident_t *id)
{
    return ls_event_envelope_set(obj, id->ctx) == LS_OK && set(obj, "course_id", json_string(id->course_id)) &&
           (!id->student_id || set(obj, "student_id", json_string(id->student_id)));
}

/* q hundredths as a number; shares use 1/10000. */
static json_t *hundredths(int64_t q)
{
    return json_real((double)q / 100.0);
}

static json_t *share(uint32_t part, uint32_t whole)
{
    return json_real((double)ls_ru_round_div((int64_t)part * 10000, whole) / 10000.0);
}

int ls_ru_enrollment_fill(json_t *obj, const ls_ru_ident_t *id, const ls_ru_enr_t *e)
{
    bool ok = set_ident(obj, id) && set(obj, "activities", json_integer(e->activities)) &&
              set(obj, "completed", json_integer(e->completed)) &&
              (!e->activities || set(obj, "completion_share", share(e->completed, e->activities)));
    if (ok && e->n_progress)
        ok = set(obj, "progress_mean", hundredths(ls_ru_round_div(e->progress_sum, e->n_progress))) &&
             set(obj, "progress_min", hundredths(e->progress_min));
    if (ok && e->n_duration)
        ok = set(obj, "duration_minutes", hundredths(e->duration_sum));
    if (ok && (e->has & LS_RU_HAS_STARTED))
        ok = set_time(obj, "first_started_at", e->first_started_at);
    if (ok && (e->has & LS_RU_HAS_LAST))
        ok = set_time(obj, "last_activity_at", e->last_activity_at);
    if (ok && ls_ru_enr_all_completed(e) && e->n_completed_at == e->activities)
        ok = set_time(obj, "all_completed_at", e->max_completed_at);
    return ok ? LS_OK : LS_ENOMEM;
}

int ls_ru_course_fill(json_t *obj, const ls_ru_ident_t *id, const ls_ru_course_t *c)
{
    bool ok = set_ident(obj, id) && set(obj, "learners", json_integer(c->learners)) &&
              set(obj, "learners_completed", json_integer(c->learners_completed)) &&
              (!c->learners || set(obj, "completion_rate", share(c->learners_completed, c->learners))) &&
              set(obj, "learners_idle", json_integer(c->learners_idle)) &&
              set(obj, "idle_days", json_integer(c->idle_days)) && set_time(obj, "evaluated_at", c->evaluated_at);
    if (ok && c->n_progress)
        ok = set(obj, "progress_mean", hundredths(ls_ru_round_div(c->progress_sum, c->n_progress)));
    return ok ? LS_OK : LS_ENOMEM;
}
