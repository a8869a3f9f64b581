/*
 * ls_sync_rollup.c - rollup records and rows of one batch (ls_sync_rollup.h).
 *
 * Three steps over the batch's changes, all inside the caller's short read
 * transaction (no network wait: records are only handed to the producer):
 *   1. member changes: an activity whose contribution or enrollment changed
 *      deletes its old member row and puts its new one;
 *   2. each touched enrollment: stored members (prefix scan) minus the ones
 *      the batch changed, plus the batch's new ones; compared with the
 *      stored enrollment row, published and stored when it differs;
 *   3. each course of a changed enrollment (and, on reevaluate, every course
 *      of the connection): stored enrollment rows overlaid with step 2's
 *      results, evaluated now; published when its values (the evaluation
 *      instant aside) differ from the stored course row.
 * The arithmetic is order-independent (ls_rollup.h), so this equals a
 * recomputation from every activity of the connection.
 */
#include "ls_sync_rollup.h"
#include "ls_catalog.h"
#include "ls_err.h"
#include "ls_grow.h"
#include "ls_hash.h"
#include "ls_scope.h"
#include "ls_time.h"
#include "ls_worker_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A member change of the batch. */
typedef struct mop {
    uint8_t ekey[LS_RU_ENR_KEY];
    const char *act;               /* borrowed from the change */
    int put;                       /* 1: m is the new member; 0: the member is gone */
    ls_ru_member_t m;
} mop_t;

/* An enrollment the batch touches and its recomputed aggregate. */
typedef struct enr {
    uint8_t ekey[LS_RU_ENR_KEY];
    const char *course, *student;  /* borrowed from the change */
    ls_ru_enr_t agg;
    int changed;
} enr_t;

typedef struct run {
    const ls_ru_env_t *env;
    ls_ru_rows_t *out;
    mop_t *mops;
    size_t nm, cm;
    enr_t *enrs;
    size_t ne, ce;
    int force;                     /* republish: a course is published even when its values did not change */
    char *err;
    size_t errsz;
    char conn[LS_KEY_MAX];         /* the workspace-qualified connection (ls_conn_qualify): store rows and keys */
} run_t;

/* A run of env: r->conn qualified; LS_EINVAL (err set) when it does not fit. */
static int run_init(run_t *r, const ls_ru_env_t *env, ls_ru_rows_t *out, int force, char *err, size_t errsz)
{
    *r = (run_t){.env = env, .out = out, .force = force, .err = err, .errsz = errsz};
    if (ls_conn_qualify(env->ec->workspace, env->ec->connection_id, r->conn, sizeof(r->conn)) < 0) {
        snprintf(err, errsz, "rollups of \"%.200s\": workspace-qualified connection id too long",
                 env->ec->connection_id);
        return LS_EINVAL;
    }
    return LS_OK;
}

/* ---- rows ---- */

static ls_ru_row_t *row_add(ls_ru_rows_t *out, ls_store_ru_t db, const uint8_t *key, size_t klen)
{
    ls_ru_row_t *grown = ls_grow(out->rows, &out->cap, out->n, sizeof(*out->rows), 64);
    if (!grown)
        return NULL;
    out->rows = grown;
    ls_ru_row_t *r = &out->rows[out->n++];
    r->db = db;
    memcpy(r->key, key, klen);
    r->klen = klen;
    r->vlen = 0;
    return r;
}

const ls_store_row_t *ls_ru_rows_view(ls_ru_rows_t *out)
{
    static const ls_store_row_t none[1];
    if (out->n == 0)
        return none;
    if (out->n > out->view_cap) {
        ls_store_row_t *v = realloc(out->view, out->n * sizeof(*v));
        if (!v)
            return NULL;
        out->view = v;
        out->view_cap = out->n;
    }
    for (size_t i = 0; i < out->n; i++) {
        const ls_ru_row_t *r = &out->rows[i];
        out->view[i] = (ls_store_row_t){r->db, r->key, r->klen, r->val, r->vlen};
    }
    return out->view;
}

void ls_ru_rows_reset(ls_ru_rows_t *out)
{
    out->n = 0;
    out->enrollments = out->courses = 0;
}

void ls_ru_rows_release(ls_ru_rows_t *out)
{
    free(out->rows);
    free(out->view);
    memset(out, 0, sizeof(*out));
}

/* ---- records ---- */

static int fail(run_t *r, int rc, const char *what)
{
    snprintf(r->err, r->errsz, "rollups of \"%s\": %s", r->conn, what);
    return rc;
}

/* ce_id: a hash of topic, key and value, so a record produced again has the same id. */
static void record_id(const char *topic, const char *key, const char *value, char out[33])
{
    uint64_t h1 = ls_hash64_update(LS_HASH_SEED, topic, strlen(topic) + 1);
    h1 = ls_hash64_update(h1, key, strlen(key) + 1);
    uint64_t h2 = ls_hash64_update(ls_hash64_final(h1), value ? value : "", value ? strlen(value) : 0);
    h1 = ls_hash64_update(h1, value ? value : "", value ? strlen(value) : 0);
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)ls_hash64_final(h1),
             (unsigned long long)ls_hash64_final(h2));
}

/* Produce obj (stolen; NULL = tombstone) under key with the CloudEvents headers. */
static int send_record(run_t *r, const char *topic, const char *type, const char *key, json_t *obj)
{
    const ls_ru_env_t *env = r->env;
    /* 15 significant digits: a rounded value (65.7, 0.3333) is written as its decimal, not 65.700000000000003 */
    char *value = obj ? json_dumps(obj, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(obj);
    if (obj && !value)
        return fail(r, LS_ENOMEM, "out of memory");
    char id[33], source[LS_EVENT_SOURCE_MAX], when[LS_TIME_BUFSZ];
    record_id(topic, key, value, id);
    ls_event_source_of(env->ec, source);
    ls_time_format(env->now_ms, when);
    ls_kafka_header_t h[] = {{"ce_specversion", "1.0"}, {"ce_id", id}, {"ce_source", source}, {"ce_type", type},
                             {"ce_time", when}, {"ce_subject", key}, {"content-type", "application/json"}};
    int rc = ls_producer_send(env->producer, topic, -1, key, strlen(key), value, value ? strlen(value) : 0, h,
                              sizeof(h) / sizeof(h[0]), env->batch, LS_SEND_AFTER_EVENTS);
    free(value);
    return rc == LS_OK ? LS_OK : fail(r, LS_EIO, "kafka produce failed");
}

/* The catalog cache's entry of course as env's reader sees it, or NULL (unknown, never fetched, or a
 * failed read): course_name then stays absent. */
static const ls_catalog_entry_t *cached_course(const run_t *r, const char *course, ls_catalog_entry_t *e)
{
    const ls_ru_env_t *env = r->env;
    return ls_store_catalog_get(env->reader, env->partition, r->conn, LS_CATALOG_COURSE, course, e) ==
                   LS_OK
               ? e
               : NULL;
}

/* Produce the rollup of an enrollment (student non-NULL) or a course, with the course's cached name;
 * agg NULL: a tombstone. */
static int send_rollup(run_t *r, const char *course, const char *student, const void *agg)
{
    const ls_ru_env_t *env = r->env;
    char key[LS_WORKSPACE_MAX + 3 * LS_STR_MAX + 4];
    int kl = student ? ls_enrollment_key(r->conn, student, course, key, sizeof(key))
                     : ls_scope_key(r->conn, course, key, sizeof(key));
    if (kl < 0)
        return fail(r, LS_EINVAL, "rollup key too long");
    json_t *obj = NULL;
    if (agg) {
        ls_ru_ident_t id = {env->ec, course, student};
        ls_catalog_entry_t name;
        int frc = !(obj = json_object()) ? LS_ENOMEM
                  : student                ? ls_ru_enrollment_fill(obj, &id, agg)
                                           : ls_ru_course_fill(obj, &id, agg);
        if (frc == LS_OK)
            frc = ls_catalog_add_names(obj, cached_course(r, course, &name), NULL);
        if (frc != LS_OK) {
            json_decref(obj);
            return fail(r, LS_ENOMEM, "out of memory");
        }
    }
    *(student ? &r->out->enrollments : &r->out->courses) += 1;
    int rc = send_record(r, student ? env->topic_enrollments : env->topic_courses,
                         student ? "lmsync.progress.enrollment" : "lmsync.progress.course", key, obj);
    if (rc == LS_OK)   /* counted when produced: a delivery that fails fails the job */
        ls_metric_add(WM_ROLLUPS, student ? WM_ROLLUP_ENROLLMENTS : WM_ROLLUP_COURSES,
                      r->force ? WM_CURRENT_REPUBLISHED : agg ? WM_CURRENT_RECORD : WM_CURRENT_TOMBSTONE, 1);
    return rc;
}

static int send_enrollment(run_t *r, const char *course, const char *student, const ls_ru_enr_t *e)
{
    return send_rollup(r, course, student, e);
}

static int send_course(run_t *r, const char *course, const ls_ru_course_t *c)
{
    return send_rollup(r, course, NULL, c);
}

/* ---- step 1: member changes ---- */

static int mop_add(run_t *r, const uint8_t *ekey, const char *act, int put, const ls_ru_member_t *m)
{
    mop_t *grown = ls_grow(r->mops, &r->cm, r->nm, sizeof(*r->mops), 64);
    if (!grown)
        return fail(r, LS_ENOMEM, "out of memory");
    r->mops = grown;
    mop_t *o = &r->mops[r->nm++];
    memcpy(o->ekey, ekey, LS_RU_ENR_KEY);
    o->act = act;
    o->put = put;
    o->m = *m;
    ls_ru_row_t *row = row_add(r->out, LS_STORE_RU_MEMBERS, ekey, LS_RU_ENR_KEY);
    size_t la = strlen(act);
    if (!row)
        return fail(r, LS_ENOMEM, "out of memory");
    memcpy(row->key + LS_RU_ENR_KEY, act, la);
    row->klen += la;
    if (put) {
        ls_ru_member_pack(m, row->val);
        row->vlen = LS_RU_MEMBER_LEN;
    }
    return LS_OK;
}

/* Remember an enrollment to recompute (once). */
static int enr_touch(run_t *r, const uint8_t *ekey, const char *course, const char *student)
{
    for (size_t i = 0; i < r->ne; i++)
        if (memcmp(r->enrs[i].ekey, ekey, LS_RU_ENR_KEY) == 0)
            return LS_OK;
    enr_t *grown = ls_grow(r->enrs, &r->ce, r->ne, sizeof(*r->enrs), 16);
    if (!grown)
        return fail(r, LS_ENOMEM, "out of memory");
    r->enrs = grown;
    enr_t *e = &r->enrs[r->ne++];
    memset(e, 0, sizeof(*e));
    memcpy(e->ekey, ekey, LS_RU_ENR_KEY);
    e->course = course;
    e->student = student;
    return LS_OK;
}

static int take_change(run_t *r, const ls_ru_change_t *c)
{
    ls_ru_member_t mb, ma;
    const char *cb = NULL, *sb = NULL, *ca = NULL, *sa = NULL;
    bool inb = c->before && ls_ru_member_from_activity(c->before, &mb, &cb, &sb);
    bool ina = c->after && ls_ru_member_from_activity(c->after, &ma, &ca, &sa);
    uint8_t kb[LS_RU_ENR_KEY], ka[LS_RU_ENR_KEY];
    if (inb)
        ls_ru_enr_key(cb, sb, kb);
    if (ina)
        ls_ru_enr_key(ca, sa, ka);
    bool same_enr = inb && ina && memcmp(kb, ka, LS_RU_ENR_KEY) == 0;
    if (same_enr && memcmp(&mb, &ma, sizeof(mb)) == 0)
        return LS_OK;   /* nothing a rollup uses changed */
    const char *act = c->after ? c->after->id : c->before->id;
    int rc = LS_OK;
    if (inb && !same_enr && (rc = mop_add(r, kb, act, 0, &mb)) == LS_OK)
        rc = enr_touch(r, kb, cb, sb);
    if (rc == LS_OK && ina && (rc = mop_add(r, ka, act, 1, &ma)) == LS_OK)
        rc = enr_touch(r, ka, ca, sa);
    return rc;
}

/* ---- step 2: enrollments ---- */

typedef struct enr_scan {
    run_t *r;
    const enr_t *e;
    ls_ru_enr_t *agg;
} enr_scan_t;

/* Whether the batch changed the member act (alen bytes) of enrollment ekey. */
static int batch_has_member(const run_t *r, const uint8_t *ekey, const uint8_t *act, size_t alen)
{
    for (size_t i = 0; i < r->nm; i++)
        if (memcmp(r->mops[i].ekey, ekey, LS_RU_ENR_KEY) == 0 && strlen(r->mops[i].act) == alen &&
            memcmp(r->mops[i].act, act, alen) == 0)
            return 1;
    return 0;
}

static int member_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *ud)
{
    enr_scan_t *s = ud;
    ls_ru_member_t m;
    if (batch_has_member(s->r, key, key + LS_RU_ENR_KEY, klen - LS_RU_ENR_KEY))
        return 0;
    if (ls_ru_member_unpack(val, vlen, &m) != LS_OK)
        return fail(s->r, LS_EINVAL, "a stored member row does not decode (corrupt store: wipe the partition)");
    ls_ru_enr_add(s->agg, &m);
    return 0;
}

/* Write row (db, key) as val (vlen 0 = delete) unless the stored row already says so; 1 when changed. */
static int row_update(run_t *r, ls_store_ru_t db, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    const uint8_t *old;
    size_t olen;
    int g = ls_store_reader_get_row(r->env->reader, db, r->env->partition, r->conn, key, klen,
                                    &old, &olen);
    if (g != LS_OK && g != LS_ENOTFOUND)
        return fail(r, LS_EIO, "cannot read a rollup row");
    if (g == LS_ENOTFOUND ? vlen == 0 : (olen == vlen && memcmp(old, val, vlen) == 0))
        return 0;
    ls_ru_row_t *row = row_add(r->out, db, key, klen);
    if (!row)
        return fail(r, LS_ENOMEM, "out of memory");
    memcpy(row->val, val, vlen);
    row->vlen = vlen;
    return 1;
}

static int recompute_enrollment(run_t *r, enr_t *e)
{
    ls_ru_enr_init(&e->agg);
    enr_scan_t s = {r, e, &e->agg};
    int rc = ls_store_reader_scan(r->env->reader, LS_STORE_RU_MEMBERS, r->env->partition, r->conn,
                                  e->ekey, LS_RU_ENR_KEY, member_cb, &s);
    if (rc != LS_OK)
        return rc == LS_EINVAL ? rc : fail(r, LS_EIO, "cannot read the member rows");
    for (size_t i = 0; i < r->nm; i++)
        if (r->mops[i].put && memcmp(r->mops[i].ekey, e->ekey, LS_RU_ENR_KEY) == 0)
            ls_ru_enr_add(&e->agg, &r->mops[i].m);
    uint8_t row[LS_RU_ENR_ROW_MAX];
    size_t len = e->agg.activities ? ls_ru_enr_row_pack(&e->agg, e->course, e->student, row) : 0;
    int changed = row_update(r, LS_STORE_RU_ENROLLMENTS, e->ekey, LS_RU_ENR_KEY, row, len);
    if (changed < 0)
        return changed;
    e->changed = changed;
    return changed ? send_enrollment(r, e->course, e->student, e->agg.activities ? &e->agg : NULL) : LS_OK;
}

/* ---- step 3: courses ---- */

typedef struct course_scan {
    run_t *r;
    ls_ru_course_t *c;
    char course[LS_STR_MAX + 1];
} course_scan_t;

static int enr_cmp(const void *a, const void *b)
{
    return memcmp(((const enr_t *)a)->ekey, ((const enr_t *)b)->ekey, LS_RU_ENR_KEY);
}

/* The batch's enrollment ekey (r->enrs is sorted by key once step 1 is done), or NULL. */
static const enr_t *batch_enrollment(const run_t *r, const uint8_t *ekey)
{
    enr_t probe;
    memcpy(probe.ekey, ekey, LS_RU_ENR_KEY);
    return r->ne ? bsearch(&probe, r->enrs, r->ne, sizeof(*r->enrs), enr_cmp) : NULL;
}

static int enrollment_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *ud)
{
    course_scan_t *s = ud;
    ls_ru_enr_t e;
    char student[LS_STR_MAX + 1];
    if (klen != LS_RU_ENR_KEY || ls_ru_enr_row_unpack(val, vlen, &e, s->course, student) != LS_OK)
        return fail(s->r, LS_EINVAL, "a stored enrollment row does not decode (corrupt store: wipe the partition)");
    if (!batch_enrollment(s->r, key))   /* the batch's own result is added after the scan */
        ls_ru_course_add(s->c, &e);
    return 0;
}

/* Evaluate the course (key ckey) now; publish and store it when its values changed. */
static int evaluate_course(run_t *r, const uint8_t *ckey, const char *course_hint)
{
    const ls_ru_env_t *env = r->env;
    ls_ru_course_t c, old;
    ls_ru_course_init(&c, env->idle_days, env->now_ms);
    course_scan_t s = {r, &c, ""};
    int rc = ls_store_reader_scan(env->reader, LS_STORE_RU_ENROLLMENTS, env->partition, r->conn, ckey,
                                  LS_RU_COURSE_KEY, enrollment_cb, &s);
    if (rc != LS_OK)
        return rc == LS_EINVAL ? rc : fail(r, LS_EIO, "cannot read the enrollment rows");
    for (size_t i = 0; i < r->ne; i++)
        if (memcmp(r->enrs[i].ekey, ckey, LS_RU_COURSE_KEY) == 0)
            ls_ru_course_add(&c, &r->enrs[i].agg);
    const char *course = course_hint ? course_hint : s.course;
    const uint8_t *v;
    size_t vl;
    char stored_id[LS_STR_MAX + 1];
    int g = ls_store_reader_get_row(env->reader, LS_STORE_RU_COURSES, env->partition, r->conn, ckey,
                                    LS_RU_COURSE_KEY, &v, &vl);
    if (g != LS_OK && g != LS_ENOTFOUND)
        return fail(r, LS_EIO, "cannot read a course row");
    if (g == LS_OK && ls_ru_course_row_unpack(v, vl, &old, stored_id) != LS_OK)
        return fail(r, LS_EINVAL, "a stored course row does not decode (corrupt store: wipe the partition)");
    if (c.learners == 0 ? g == LS_ENOTFOUND : (g == LS_OK && !r->force && ls_ru_course_same(&c, &old)))
        return LS_OK;
    ls_ru_row_t *row = row_add(r->out, LS_STORE_RU_COURSES, ckey, LS_RU_COURSE_KEY);
    if (!row)
        return fail(r, LS_ENOMEM, "out of memory");
    if (c.learners == 0)
        course = stored_id;
    else
        row->vlen = ls_ru_course_row_pack(&c, course, row->val);
    return send_course(r, course, c.learners ? &c : NULL);
}

/* Whether course key ckey was already evaluated (first i enrollments of the batch, or earlier). */
static int course_seen(const run_t *r, size_t upto, const uint8_t *ckey)
{
    for (size_t i = 0; i < upto; i++)
        if (r->enrs[i].changed && memcmp(r->enrs[i].ekey, ckey, LS_RU_COURSE_KEY) == 0)
            return 1;
    return 0;
}

/* Every course of the connection (or of one course) that the batch did not evaluate. */
typedef struct all_scan {
    run_t *r;
    uint8_t last[LS_RU_COURSE_KEY];
    int have_last;
} all_scan_t;

static int all_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *ud)
{
    all_scan_t *a = ud;
    (void)val, (void)vlen;
    if (klen != LS_RU_ENR_KEY || (a->have_last && memcmp(a->last, key, LS_RU_COURSE_KEY) == 0))
        return 0;
    memcpy(a->last, key, LS_RU_COURSE_KEY);
    a->have_last = 1;
    return course_seen(a->r, a->r->ne, key) ? 0 : evaluate_course(a->r, key, NULL);
}

/* The key prefix of course_only's rows into ck: its length, 0 (every course) when course_only is NULL or "". */
static size_t course_prefix(const char *course_only, uint8_t ck[LS_RU_COURSE_KEY])
{
    if (!course_only || !course_only[0])
        return 0;
    ls_ru_course_key(course_only, ck);
    return LS_RU_COURSE_KEY;
}

static int reevaluate_all(run_t *r, const char *course_only)
{
    uint8_t ck[LS_RU_COURSE_KEY];
    size_t pl = course_prefix(course_only, ck);
    all_scan_t a = {r, {0}, 0};
    /* courses are evaluated from inside the walk: reads only, in the same read transaction */
    int rc = ls_store_reader_scan(r->env->reader, LS_STORE_RU_ENROLLMENTS, r->env->partition,
                                  r->conn, pl ? ck : NULL, pl, all_cb, &a);
    return rc == LS_OK || rc == LS_EINVAL || rc == LS_ENOMEM ? rc : fail(r, LS_EIO, "cannot walk the enrollments");
}

static void run_release(run_t *r)
{
    free(r->mops);
    free(r->enrs);
}

int ls_ru_produce(const ls_ru_env_t *env, const ls_ru_change_t *ch, size_t n, int reevaluate,
                  const char *course_only, ls_ru_rows_t *out, char *err, size_t errsz)
{
    run_t r;
    int rc = run_init(&r, env, out, 0, err, errsz);
    for (size_t i = 0; rc == LS_OK && i < n; i++)
        rc = take_change(&r, &ch[i]);
    if (r.ne > 1)   /* a course's enrollments are then contiguous, and found by bsearch */
        qsort(r.enrs, r.ne, sizeof(*r.enrs), enr_cmp);
    for (size_t i = 0; rc == LS_OK && i < r.ne; i++)
        rc = recompute_enrollment(&r, &r.enrs[i]);
    for (size_t i = 0; rc == LS_OK && i < r.ne; i++)
        if (r.enrs[i].changed && !course_seen(&r, i, r.enrs[i].ekey)) {
            uint8_t ck[LS_RU_COURSE_KEY];
            memcpy(ck, r.enrs[i].ekey, sizeof(ck));
            rc = evaluate_course(&r, ck, r.enrs[i].course);
        }
    if (rc == LS_OK && reevaluate)
        rc = reevaluate_all(&r, course_only);
    run_release(&r);
    return rc;
}

/* ---- republish ---- */

static int republish_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *ud)
{
    run_t *r = ud;
    ls_ru_enr_t e;
    char course[LS_STR_MAX + 1], student[LS_STR_MAX + 1];
    if (klen != LS_RU_ENR_KEY || ls_ru_enr_row_unpack(val, vlen, &e, course, student) != LS_OK)
        return fail(r, LS_EINVAL, "a stored enrollment row does not decode (corrupt store: wipe the partition)");
    return send_enrollment(r, course, student, &e);
}

int ls_ru_republish(const ls_ru_env_t *env, const char *course_only, ls_ru_rows_t *out, char *err, size_t errsz)
{
    run_t r;
    if (run_init(&r, env, out, 1, err, errsz) != LS_OK)
        return LS_EINVAL;
    uint8_t ck[LS_RU_COURSE_KEY];
    size_t pl = course_prefix(course_only, ck);
    int rc = ls_store_reader_scan(env->reader, LS_STORE_RU_ENROLLMENTS, env->partition, r.conn,
                                  pl ? ck : NULL, pl, republish_cb, &r);
    if (rc == LS_OK)
        rc = reevaluate_all(&r, course_only);   /* force: every course, changed or not */
    run_release(&r);
    return rc;
}
