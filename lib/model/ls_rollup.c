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

/* ---- little-endian fixed records ---- */

static uint8_t *put64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(u >> (8 * i));
    return p + 8;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + 4;
}

static const uint8_t *get64(const uint8_t *p, int64_t *v)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)p[i] << (8 * i);
    *v = (int64_t)u;
    return p + 8;
}

static const uint8_t *get32(const uint8_t *p, uint32_t *v)
{
    uint32_t u = 0;
    for (int i = 0; i < 4; i++)
        u |= (uint32_t)p[i] << (8 * i);
    *v = u;
    return p + 4;
}

void ls_ru_member_pack(const ls_ru_member_t *m, uint8_t out[LS_RU_MEMBER_LEN])
{
    uint8_t *p = out;
    *p++ = m->has;
    *p++ = m->completed;
    p = put64(p, m->progress);
    p = put64(p, m->duration);
    p = put64(p, m->started_at);
    p = put64(p, m->completed_at);
    put64(p, m->last_at);
}

int ls_ru_member_unpack(const uint8_t *buf, size_t len, ls_ru_member_t *m)
{
    if (len != LS_RU_MEMBER_LEN || (buf[0] & ~0x1f) || buf[1] > 1)
        return LS_EINVAL;
    const uint8_t *p = buf + 2;
    m->has = buf[0];
    m->completed = buf[1];
    p = get64(p, &m->progress);
    p = get64(p, &m->duration);
    p = get64(p, &m->started_at);
    p = get64(p, &m->completed_at);
    get64(p, &m->last_at);
    uint8_t out[LS_RU_MEMBER_LEN];
    ls_ru_member_pack(m, out);   /* canonical: absent values are 0 */
    if ((!(m->has & LS_RU_HAS_PROGRESS) && m->progress) || (!(m->has & LS_RU_HAS_DURATION) && m->duration) ||
        (!(m->has & LS_RU_HAS_STARTED) && m->started_at) ||
        (!(m->has & LS_RU_HAS_COMPLETED_AT) && m->completed_at) || (!(m->has & LS_RU_HAS_LAST) && m->last_at))
        return LS_EINVAL;
    return memcmp(out, buf, LS_RU_MEMBER_LEN) ? LS_EINVAL : LS_OK;
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
    uint8_t *p = out;
    p = put32(p, e->activities);
    p = put32(p, e->completed);
    p = put32(p, e->n_progress);
    p = put32(p, e->n_duration);
    p = put32(p, e->n_completed_at);
    *p++ = e->has;
    p = put64(p, e->progress_sum);
    p = put64(p, e->progress_min);
    p = put64(p, e->duration_sum);
    p = put64(p, e->first_started_at);
    p = put64(p, e->max_completed_at);
    put64(p, e->last_activity_at);
}

int ls_ru_enr_unpack(const uint8_t *buf, size_t len, ls_ru_enr_t *e)
{
    if (len != LS_RU_ENR_LEN)
        return LS_EINVAL;
    const uint8_t *p = buf;
    p = get32(p, &e->activities);
    p = get32(p, &e->completed);
    p = get32(p, &e->n_progress);
    p = get32(p, &e->n_duration);
    p = get32(p, &e->n_completed_at);
    e->has = *p++;
    p = get64(p, &e->progress_sum);
    p = get64(p, &e->progress_min);
    p = get64(p, &e->duration_sum);
    p = get64(p, &e->first_started_at);
    p = get64(p, &e->max_completed_at);
    get64(p, &e->last_activity_at);
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
    uint8_t *p = out;
    p = put32(p, c->learners);
    p = put32(p, c->learners_completed);
    p = put32(p, c->n_progress);
    p = put32(p, c->learners_idle);
    p = put64(p, c->progress_sum);
    p = put32(p, (uint32_t)c->idle_days);
    put64(p, c->evaluated_at);
}

int ls_ru_course_unpack(const uint8_t *buf, size_t len, ls_ru_course_t *c)
{
    if (len != LS_RU_COURSE_LEN)
        return LS_EINVAL;
    const uint8_t *p = buf;
    uint32_t days;
    p = get32(p, &c->learners);
    p = get32(p, &c->learners_completed);
    p = get32(p, &c->n_progress);
    p = get32(p, &c->learners_idle);
    p = get64(p, &c->progress_sum);
    p = get32(p, &days);
    get64(p, &c->evaluated_at);
    c->idle_days = (int32_t)days;
    bool ok = c->learners_completed <= c->learners && c->n_progress <= c->learners &&
              (c->learners_idle <= c->learners || c->learners_idle == UINT32_MAX) && c->idle_days >= 0 &&
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
