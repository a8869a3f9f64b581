/*
 * sb_data.c - world model, generator, mutations and ground-truth log.
 *
 * Records are kept per connection in creation order (a plain array; removal
 * shifts). Lookups by id are linear: connections hold hundreds to a few
 * thousand records in tests, and the list endpoint scans anyway. A
 * connection is found by the number in its id.
 *
 * Records are rendered two ways: as jansson trees (sb_record_json: the
 * change log, labelling, the control API, and the reference renderings of
 * the list and single-record endpoints) and as JSON text written straight
 * into a buffer (sb_record_write, with sb_jsonw.c), which is what the server
 * sends for activity pages: the same bytes at a fraction of the CPU.
 *
 * Randomness is one splitmix64 stream seeded from the config; the generator
 * and every mutation draw from it in a fixed order, so the same seed and the
 * same sequence of calls give the same data.
 */
#include "sb_data.h"
#include "ls_grow.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_err.h"
#include "ls_hash.h"
#include "ls_time.h"
#include "sb_jsonw.h"

#define SB_BASE_EPOCH_MS 1767225600000LL   /* 2026-01-01T00:00:00Z */
#define SB_DAY_MS 86400000LL

enum { SB_ABSENT = 0, SB_NULL = 1, SB_PRESENT = 2 };

typedef struct sb_value {
    uint8_t pres;
    union {
        char s[SB_STR_MAX];
        bool b;
        double n;
        int64_t t;
    } u;
} sb_value_t;

typedef struct sb_record {
    sb_value_t v[SB_F__COUNT];
    uint64_t ord;                /* creation order within the connection */
} sb_record_t;

typedef struct sb_conn {
    char id[16];
    char xref[16];
    unsigned num;                /* 1-based */
    const sb_profile_t *prof;
    int64_t created_at;
    sb_record_t *recs;
    size_t n, cap;
    uint64_t next_act;           /* next generated act-CCCC-<seq> */
    uint64_t next_ord;
    uint64_t front_ord;          /* next ord for a record put at the front (shift) */
    char **course_names;         /* renamed courses (POST /_sandbox/course): [k - 1], NULL = "Course k"; lazily made */
} sb_conn_t;

typedef enum sb_change_type {
    SB_CH_CREATED = 0, SB_CH_COMPLETED, SB_CH_REOPENED, SB_CH_PROGRESSED,
    SB_CH_REGRESSED, SB_CH_UPDATED, SB_CH_REMOVED, SB_CH_TOUCHED
} sb_change_type_t;

static const char *const sb_change_names[] = {
    "created", "completed", "reopened", "progressed", "regressed", "updated", "removed", "touched"
};

typedef struct sb_change {
    uint64_t seq;
    int64_t at;
    unsigned conn;               /* index */
    char act_id[SB_STR_MAX];
    uint8_t type;
    char *before, *after;        /* compact JSON, NULL = null */
} sb_change_t;

struct sb_world {
    pthread_mutex_t mu;
    sb_world_config_t cfg;
    int64_t base_ms;
    uint64_t rng;
    sb_conn_t *conns;
    size_t nconns;
    sb_change_t *log;
    size_t nlog, caplog;
    uint64_t next_seq;
};

/* ---- small helpers ---------------------------------------------------- */

static uint64_t sb_rng(sb_world_t *w)
{
    uint64_t z = (w->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned sb_rng_range(sb_world_t *w, unsigned lo, unsigned hi)
{
    return lo + (unsigned)(sb_rng(w) % (uint64_t)(hi - lo + 1));
}

static void sb_set_str(sb_record_t *r, sb_field_t f, const char *s)
{
    size_t n = strnlen(s, SB_STR_MAX - 1); /* truncates like snprintf, without -Wformat-truncation */
    r->v[f].pres = SB_PRESENT;
    memcpy(r->v[f].u.s, s, n);
    r->v[f].u.s[n] = '\0';
}

static void sb_set_bool(sb_record_t *r, sb_field_t f, bool b)
{
    r->v[f].pres = SB_PRESENT;
    r->v[f].u.b = b;
}

static void sb_set_num(sb_record_t *r, sb_field_t f, double n)
{
    r->v[f].pres = SB_PRESENT;
    r->v[f].u.n = n;
}

static void sb_set_time(sb_record_t *r, sb_field_t f, int64_t t)
{
    r->v[f].pres = SB_PRESENT;
    r->v[f].u.t = t;
}

static bool sb_is(const sb_record_t *r, sb_field_t f)
{
    return r->v[f].pres == SB_PRESENT;
}

static bool sb_completed(const sb_record_t *r)
{
    return sb_is(r, SB_F_IS_COMPLETED) && r->v[SB_F_IS_COMPLETED].u.b;
}

static json_t *sb_number_json(double n)
{
    if (n > -9.0e15 && n < 9.0e15 && (double)(json_int_t)n == n)
        return json_integer((json_int_t)n);
    return json_real(n);
}

static const char *sb_status_word(const sb_record_t *r)
{
    if (sb_completed(r))
        return "completed";
    return sb_is(r, SB_F_STARTED_AT) ? "in_progress" : "not_started";
}

/* Render one record. fields: SB_FBIT set to include; raw adds the vendor object. */
static json_t *sb_record_json(const sb_record_t *r, const sb_profile_t *p, unsigned fields, bool raw)
{
    json_t *o = json_object();
    char ts[SB_TS_BUFSZ];
    for (unsigned f = 0; f < SB_F__COUNT; f++) {
        const sb_value_t *v = &r->v[f];
        if (!(fields & SB_FBIT(f)) || v->pres == SB_ABSENT)
            continue;
        json_t *j;
        if (v->pres == SB_NULL)
            j = json_null();
        else switch (sb_field_kind((sb_field_t)f)) {
        case SB_KIND_BOOL: j = json_boolean(v->u.b); break;
        case SB_KIND_NUMBER: j = sb_number_json(v->u.n); break;
        case SB_KIND_TIME: j = json_string(sb_ts_format(p->ts_style, v->u.t, ts)); break;
        default: j = json_string(v->u.s); break;
        }
        json_object_set_new(o, sb_field_name((sb_field_t)f), j);
    }
    if (raw) {
        const char *id = r->v[SB_F_ID].u.s;
        json_int_t vid = (json_int_t)(ls_hash64(id, strlen(id), LS_HASH_SEED) % 100000000ULL);
        json_object_set_new(o, "raw", json_pack("{s:s,s:I,s:s}", "vendor_object", p->vendor_object,
                                                "vendor_id", vid, "status", sb_status_word(r)));
    }
    return o;
}

static json_t *sb_record_full(const sb_record_t *r, const sb_profile_t *p)
{
    return sb_record_json(r, p, SB_FIELDS_ALL, false);
}

/* One member value as sb_record_json() renders it; -1 (nothing written) where it omits the member. */
static int sb_value_write(sb_jsonw_t *jw, const sb_value_t *v, sb_field_t f, const sb_profile_t *p)
{
    if (v->pres == SB_NULL) {
        sb_jsonw_raw(jw, "null", 4);
        return 0;
    }
    switch (sb_field_kind(f)) {
    case SB_KIND_BOOL:
        sb_jsonw_raw(jw, v->u.b ? "true" : "false", v->u.b ? 4 : 5);
        return 0;
    case SB_KIND_NUMBER:
        if (v->u.n > -9.0e15 && v->u.n < 9.0e15 && (double)(json_int_t)v->u.n == v->u.n) {
            sb_jsonw_int(jw, (int64_t)(json_int_t)v->u.n);    /* as sb_number_json() */
            return 0;
        }
        return sb_jsonw_real(jw, v->u.n);
    case SB_KIND_TIME:
        return sb_jsonw_time(jw, p->ts_style, v->u.t);
    default:
        return sb_jsonw_str(jw, v->u.s);
    }
}

/* The key of a member (with its comma unless it is the object's first). */
static void sb_key_write(sb_jsonw_t *jw, bool first, const char *key)
{
    if (!first)
        sb_jsonw_char(jw, ',');
    sb_jsonw_char(jw, '"');
    sb_jsonw_raw(jw, key, strlen(key));   /* field names need no escaping */
    sb_jsonw_raw(jw, "\":", 2);
}

/* The "raw" member of sb_record_json(); false (nothing written) where json_pack() fails. */
static bool sb_raw_write(sb_jsonw_t *jw, const sb_record_t *r, const sb_profile_t *p, bool first)
{
    const char *id = r->v[SB_F_ID].u.s;
    json_int_t vid = (json_int_t)(ls_hash64(id, strlen(id), LS_HASH_SEED) % 100000000ULL);
    size_t mark = jw->len;
    sb_key_write(jw, first, "raw");
    sb_jsonw_raw(jw, "{\"vendor_object\":", 17);
    if (sb_jsonw_str(jw, p->vendor_object) != 0) {
        sb_jsonw_truncate(jw, mark);
        return false;
    }
    sb_jsonw_raw(jw, ",\"vendor_id\":", 13);
    sb_jsonw_int(jw, (int64_t)vid);
    sb_jsonw_raw(jw, ",\"status\":\"", 11);
    const char *word = sb_status_word(r);
    sb_jsonw_raw(jw, word, strlen(word));
    sb_jsonw_raw(jw, "\"}", 2);
    return true;
}

/*
 * Write one record: byte for byte json_dumps(sb_record_json(r, p, fields, raw),
 * SB_JSON_DUMP_FLAGS). bad: then set "progress_percentage" to "fifty" on that
 * object (the bad_record fault): in place when the member is there, else at
 * the end, as json_object_set_new() does.
 */
static void sb_record_write(sb_jsonw_t *jw, const sb_record_t *r, const sb_profile_t *p,
                            unsigned fields, bool raw, bool bad)
{
    bool first = true;
    sb_jsonw_char(jw, '{');
    for (unsigned f = 0; f < SB_F__COUNT; f++) {
        const sb_value_t *v = &r->v[f];
        if (!(fields & SB_FBIT(f)) || v->pres == SB_ABSENT)
            continue;
        size_t mark = jw->len;
        sb_key_write(jw, first, sb_field_name((sb_field_t)f));
        size_t vstart = jw->len;
        if (sb_value_write(jw, v, (sb_field_t)f, p) != 0) {
            sb_jsonw_truncate(jw, mark);
            continue;
        }
        first = false;
        if (bad && f == SB_F_PROGRESS) {
            sb_jsonw_truncate(jw, vstart);
            sb_jsonw_raw(jw, "\"fifty\"", 7);
            bad = false;
        }
    }
    if (raw && sb_raw_write(jw, r, p, first))
        first = false;
    if (bad) {
        sb_key_write(jw, first, "progress_percentage");
        sb_jsonw_raw(jw, "\"fifty\"", 7);
    }
    sb_jsonw_char(jw, '}');
}

static sb_conn_t *sb_conn_find(sb_world_t *w, const char *id)
{
    /* ids are "conn-%04u" of index + 1: look at that slot first */
    if (id && strncmp(id, "conn-", 5) == 0) {
        size_t num = 0, i = 5;
        for (; i < 9 && id[i] >= '0' && id[i] <= '9'; i++)
            num = num * 10 + (size_t)(id[i] - '0');
        if (i == 9 && id[9] == '\0' && num >= 1 && num <= w->nconns &&
            strcmp(w->conns[num - 1].id, id) == 0)
            return &w->conns[num - 1];
    }
    for (size_t i = 0; id && i < w->nconns; i++)
        if (strcmp(w->conns[i].id, id) == 0)
            return &w->conns[i];
    return NULL;
}

static sb_record_t *sb_rec_find(sb_conn_t *c, const char *id)
{
    for (size_t i = 0; id && i < c->n; i++)
        if (strcmp(c->recs[i].v[SB_F_ID].u.s, id) == 0)
            return &c->recs[i];
    return NULL;
}

/* Append a blank record with the given id; returns NULL on allocation failure. */
static sb_record_t *sb_rec_append(sb_conn_t *c, const char *id)
{
    sb_record_t *grown = ls_grow(c->recs, &c->cap, c->n, sizeof(*c->recs), 64);
    if (!grown)
        return NULL;
    c->recs = grown;
    sb_record_t *r = &c->recs[c->n++];
    memset(r, 0, sizeof(*r));
    sb_set_str(r, SB_F_ID, id);
    r->ord = c->next_ord++;
    return r;
}

static void sb_next_act_id(sb_conn_t *c, char *buf, size_t size)
{
    snprintf(buf, size, "act-%04u-%06llu", c->num, (unsigned long long)c->next_act++);
}

/* ---- change log ------------------------------------------------------- */

static char *sb_dump(const json_t *j)
{
    return j ? json_dumps(j, JSON_COMPACT) : NULL;
}

static json_t *sb_change_json(const sb_world_t *w, const sb_change_t *c)
{
    char ts[SB_TS_BUFSZ];
    json_t *before = c->before ? json_loads(c->before, 0, NULL) : json_null();
    json_t *after = c->after ? json_loads(c->after, 0, NULL) : json_null();
    return json_pack("{s:I,s:s,s:s,s:s,s:s,s:o,s:o}", "seq", (json_int_t)c->seq,
                     "at", sb_ts_format(SB_TS_Z, c->at, ts),
                     "connection_id", w->conns[c->conn].id, "activity_id", c->act_id,
                     "type", sb_change_names[c->type],
                     "before", before ? before : json_null(), "after", after ? after : json_null());
}

static sb_change_type_t sb_change_type(const char *label)
{
    for (unsigned i = 0; i < sizeof(sb_change_names) / sizeof(sb_change_names[0]); i++)
        if (strcmp(sb_change_names[i], label) == 0)
            return (sb_change_type_t)i;
    return SB_CH_UPDATED;
}

/*
 * Label and log one change (before/after are renderings, either may be NULL).
 * Returns the log entry or NULL when there was nothing to log.
 */
static const sb_change_t *sb_log(sb_world_t *w, const sb_conn_t *c, const char *act_id,
                                 const json_t *before, const json_t *after, int64_t at)
{
    const char *label = sb_label(before, after);
    if (!label)
        return NULL;
    if (w->nlog == w->caplog) {
        size_t ncap = w->caplog ? w->caplog * 2 : 256;
        sb_change_t *nl = realloc(w->log, ncap * sizeof(*nl));
        if (!nl)
            return NULL;
        w->log = nl;
        w->caplog = ncap;
    }
    sb_change_t *e = &w->log[w->nlog++];
    memset(e, 0, sizeof(*e));
    e->seq = w->next_seq++;
    e->at = at;
    e->conn = (unsigned)(c - w->conns);
    snprintf(e->act_id, sizeof(e->act_id), "%s", act_id);
    e->type = (uint8_t)sb_change_type(label);
    e->before = sb_dump(before);
    e->after = sb_dump(after);
    return e;
}

/* ---- labelling -------------------------------------------------------- */

static bool sb_is_time_key(const char *k)
{
    size_t n = strlen(k);
    return n > 3 && strcmp(k + n - 3, "_at") == 0;
}

static bool sb_value_equal(const char *key, const json_t *a, const json_t *b)
{
    if (!a || !b)
        return a == b;
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_is_string(a) && json_is_string(b) && sb_is_time_key(key)) {
        int64_t ta, tb;
        if (ls_time_parse(json_string_value(a), &ta) == LS_OK &&
            ls_time_parse(json_string_value(b), &tb) == LS_OK)
            return ta == tb;
    }
    return json_equal((json_t *)a, (json_t *)b) != 0;
}

/* Any difference in keys other than updated_at and raw? */
static bool sb_other_fields_differ(const json_t *before, const json_t *after)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)before, k, v) {
        if (strcmp(k, "updated_at") && strcmp(k, "raw") &&
            !sb_value_equal(k, v, json_object_get(after, k)))
            return true;
    }
    json_object_foreach((json_t *)after, k, v) {
        if (strcmp(k, "updated_at") && strcmp(k, "raw") && !json_object_get(before, k))
            return true;
    }
    return false;
}

const char *sb_label(const json_t *before, const json_t *after)
{
    if (!before && !after)
        return NULL;
    if (!before)
        return "created";
    if (!after)
        return "removed";
    const json_t *bc = json_object_get(before, "is_completed");
    const json_t *ac = json_object_get(after, "is_completed");
    if (json_is_true(ac) && !json_is_true(bc))
        return "completed";
    if (json_is_true(bc) && json_is_false(ac))
        return "reopened";
    const json_t *bp = json_object_get(before, "progress_percentage");
    const json_t *ap = json_object_get(after, "progress_percentage");
    if (json_is_number(bp) && json_is_number(ap)) {
        if (json_number_value(ap) > json_number_value(bp))
            return "progressed";
        if (json_number_value(ap) < json_number_value(bp))
            return "regressed";
    }
    if (sb_other_fields_differ(before, after))
        return "updated";
    if (!sb_value_equal("updated_at", json_object_get(before, "updated_at"),
                        json_object_get(after, "updated_at")))
        return "touched";
    return NULL;
}

/* ---- generator -------------------------------------------------------- */

void sb_world_config_default(sb_world_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->seed = 42;
    cfg->connections = 4;
    cfg->students = 5;
    cfg->courses = 3;
    cfg->contents = 2;
    for (size_t i = 0; i < sb_profile_count() && i < SB_MAX_PROVIDERS; i++)
        if (!sb_profile_at(i)->test_only)
            cfg->providers[cfg->nproviders++] = sb_profile_at(i);
}

static void sb_seed_grade(sb_world_t *w, const sb_profile_t *p, sb_record_t *r)
{
    static const char *const grades[] = { "A", "B", "C", "Pass", "92", "78" };
    if (sb_profile_has(p, SB_F_ASSIGNED_GRADE))
        sb_set_str(r, SB_F_ASSIGNED_GRADE, grades[sb_rng(w) % 6]);
}

/* Fill one seeded record: ~30% not started, ~40% in progress, ~30% completed. */
static void sb_seed_state(sb_world_t *w, const sb_profile_t *p, sb_record_t *r, int64_t created)
{
    unsigned roll = (unsigned)(sb_rng(w) % 100);
    int64_t last = created;
    sb_set_time(r, SB_F_CREATED_AT, created);
    sb_set_bool(r, SB_F_IS_COMPLETED, roll >= 70);
    if (roll < 30) {
        if (sb_profile_has(p, SB_F_PROGRESS))
            sb_set_num(r, SB_F_PROGRESS, 0);
    } else {
        int64_t started = created + (int64_t)sb_rng_range(w, 60, 5 * 86400) * 1000;
        sb_set_time(r, SB_F_STARTED_AT, started);
        last = started;
        if (sb_profile_has(p, SB_F_DURATION))
            sb_set_num(r, SB_F_DURATION, sb_rng_range(w, 1, 240));
        if (roll < 70) {
            if (sb_profile_has(p, SB_F_PROGRESS))
                sb_set_num(r, SB_F_PROGRESS, sb_rng_range(w, 5, 95));
        } else {
            int64_t done = started + (int64_t)sb_rng_range(w, 600, 10 * 86400) * 1000;
            sb_set_time(r, SB_F_COMPLETED_AT, done);
            last = done;
            if (sb_profile_has(p, SB_F_PROGRESS))
                sb_set_num(r, SB_F_PROGRESS, 100);
            sb_seed_grade(w, p, r);
        }
    }
    if (sb_profile_has(p, SB_F_UPDATED_AT))
        sb_set_time(r, SB_F_UPDATED_AT, last + (int64_t)sb_rng_range(w, 0, 600) * 1000);
}

static int sb_seed_conn(sb_world_t *w, sb_conn_t *c)
{
    const sb_profile_t *p = c->prof;
    unsigned ncontent = sb_profile_has(p, SB_F_CONTENT_ID) ? w->cfg.contents : 1;
    if (ncontent == 0)
        ncontent = 1;
    char id[SB_STR_MAX], buf[32];
    for (unsigned s = 1; s <= w->cfg.students; s++)
        for (unsigned k = 1; k <= w->cfg.courses; k++)
            for (unsigned j = 1; j <= ncontent; j++) {
                sb_next_act_id(c, id, sizeof(id));
                sb_record_t *r = sb_rec_append(c, id);
                if (!r)
                    return LS_ENOMEM;
                snprintf(buf, sizeof(buf), "crs-%u", k);
                sb_set_str(r, SB_F_COURSE_ID, buf);
                snprintf(buf, sizeof(buf), "stu-%u", s);
                sb_set_str(r, SB_F_STUDENT_ID, buf);
                if (sb_profile_has(p, SB_F_CONTENT_ID)) {
                    snprintf(buf, sizeof(buf), "cnt-%u", (k - 1) * w->cfg.contents + j);
                    sb_set_str(r, SB_F_CONTENT_ID, buf);
                }
                int64_t created = w->base_ms + (int64_t)(sb_rng(w) % (30 * 86400ULL)) * 1000;
                sb_seed_state(w, p, r, created);
                json_t *after = sb_record_full(r, p);
                const sb_change_t *e = sb_log(w, c, id, NULL, after, created);
                json_decref(after);
                if (!e)
                    return LS_ENOMEM;
            }
    return LS_OK;
}

sb_world_t *sb_world_new(const sb_world_config_t *cfg, char *errstr, size_t errstr_size)
{
    if (cfg->nproviders == 0 || cfg->connections == 0 || cfg->connections > 9999) {
        snprintf(errstr, errstr_size, "need 1..9999 connections and at least one provider");
        return NULL;
    }
    sb_world_t *w = calloc(1, sizeof(*w));
    if (!w || !(w->conns = calloc(cfg->connections, sizeof(*w->conns)))) {
        free(w);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    w->cfg = *cfg;
    w->rng = cfg->seed;
    w->next_seq = 1;
    w->base_ms = SB_BASE_EPOCH_MS + (int64_t)(sb_rng(w) % (30 * 86400ULL)) * 1000;
    w->nconns = cfg->connections;
    for (size_t i = 0; i < w->nconns; i++) {
        sb_conn_t *c = &w->conns[i];
        c->num = (unsigned)i + 1;
        snprintf(c->id, sizeof(c->id), "conn-%04u", c->num);
        snprintf(c->xref, sizeof(c->xref), "tenant-%04u", c->num);
        c->prof = cfg->providers[i % cfg->nproviders];
        c->created_at = w->base_ms - 90 * SB_DAY_MS + (int64_t)i * 3600000;
        c->next_act = 1;
        c->next_ord = 1ULL << 40;        /* room below for front inserts */
        c->front_ord = (1ULL << 40) - 1;
    }
    for (size_t i = 0; i < w->nconns; i++)
        if (sb_seed_conn(w, &w->conns[i]) != LS_OK) {
            snprintf(errstr, errstr_size, "out of memory");
            sb_world_destroy(w);
            return NULL;
        }
    return w;
}

void sb_world_destroy(sb_world_t *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->nconns; i++) {
        free(w->conns[i].recs);
        for (unsigned k = 0; w->conns[i].course_names && k < w->cfg.courses; k++)
            free(w->conns[i].course_names[k]);
        free(w->conns[i].course_names);
    }
    for (size_t i = 0; i < w->nlog; i++) {
        free(w->log[i].before);
        free(w->log[i].after);
    }
    free(w->log);
    free(w->conns);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

int64_t sb_world_base_ms(const sb_world_t *w)
{
    return w->base_ms;
}

/* ---- connections and courses ------------------------------------------ */

static json_t *sb_conn_json(const sb_conn_t *c)
{
    char cr[SB_TS_BUFSZ], up[SB_TS_BUFSZ];
    sb_ts_format(SB_TS_Z, c->created_at, cr);
    sb_ts_format(SB_TS_Z, c->created_at + SB_DAY_MS, up);
    return json_pack("{s:s,s:s,s:s,s:[s],s:[s,s],s:s,s:s,s:b,s:s,s:s,s:s}",
                     "id", c->id, "integration_type", c->prof->type,
                     "integration_name", c->prof->name, "categories", "lms",
                     "permissions", "lms_activity_read", "lms_course_read",
                     "external_xref", c->xref, "environment", "Production",
                     "is_paused", 0, "last_healthy_at", up, "created_at", cr, "updated_at", up);
}

json_t *sb_world_connections_json(sb_world_t *w, const char *categories,
                                  const char *external_xref, long limit, long offset)
{
    json_t *arr = json_array();
    if (categories && !strstr(categories, "lms"))
        return arr;
    pthread_mutex_lock(&w->mu);
    long seen = 0;
    for (size_t i = 0; i < w->nconns && (long)json_array_size(arr) < limit; i++) {
        if (external_xref && strcmp(external_xref, w->conns[i].xref) != 0)
            continue;
        if (seen++ >= offset)
            json_array_append_new(arr, sb_conn_json(&w->conns[i]));
    }
    pthread_mutex_unlock(&w->mu);
    return arr;
}

json_t *sb_world_connection_json(sb_world_t *w, const char *id)
{
    pthread_mutex_lock(&w->mu);
    const sb_conn_t *c = sb_conn_find(w, id);
    json_t *j = c ? sb_conn_json(c) : NULL;
    pthread_mutex_unlock(&w->mu);
    return j;
}

static json_t *sb_course_json(const sb_world_t *w, const sb_conn_t *c, unsigned k)
{
    char id[24], name[32], cr[SB_TS_BUFSZ], up[SB_TS_BUFSZ];
    int64_t created = w->base_ms - 60 * SB_DAY_MS + (int64_t)k * SB_DAY_MS;
    snprintf(id, sizeof(id), "crs-%u", k);
    snprintf(name, sizeof(name), "Course %u", k);
    const char *renamed = c->course_names ? c->course_names[k - 1] : NULL;
    return json_pack("{s:s,s:s,s:b,s:s,s:s,s:{s:s,s:I}}", "id", id, "name", renamed ? renamed : name,
                     "is_active", k % 5 != 0,
                     "created_at", sb_ts_format(c->prof->ts_style, created, cr),
                     "updated_at", sb_ts_format(c->prof->ts_style, created + 7 * SB_DAY_MS, up),
                     "raw", "vendor_object", "course", "vendor_id", (json_int_t)(1000 + k));
}

int sb_world_list_courses(sb_world_t *w, const char *conn_id, long limit, long offset,
                          json_t **out)
{
    pthread_mutex_lock(&w->mu);
    const sb_conn_t *c = sb_conn_find(w, conn_id);
    if (!c) {
        pthread_mutex_unlock(&w->mu);
        return LS_ENOTFOUND;
    }
    json_t *arr = json_array();
    for (long k = offset + 1; k <= (long)w->cfg.courses && (long)json_array_size(arr) < limit; k++)
        json_array_append_new(arr, sb_course_json(w, c, (unsigned)k));
    pthread_mutex_unlock(&w->mu);
    *out = arr;
    return LS_OK;
}

int sb_world_get_course(sb_world_t *w, const char *conn_id, const char *course_id, json_t **out)
{
    unsigned k = 0;
    char tail;
    if (!course_id || sscanf(course_id, "crs-%u%c", &k, &tail) != 1)
        return LS_ENOTFOUND;
    pthread_mutex_lock(&w->mu);
    const sb_conn_t *c = sb_conn_find(w, conn_id);
    int rc = LS_ENOTFOUND;
    if (c && k >= 1 && k <= w->cfg.courses) {
        *out = sb_course_json(w, c, k);
        rc = LS_OK;
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int sb_world_rename_course(sb_world_t *w, const char *conn_id, const char *course_id, const char *name)
{
    unsigned k = 0;
    char tail, *copy = strdup(name);
    if (!copy)
        return LS_ENOMEM;
    pthread_mutex_lock(&w->mu);
    sb_conn_t *c = (sb_conn_t *)sb_conn_find(w, conn_id);
    int rc = !c || sscanf(course_id, "crs-%u%c", &k, &tail) != 1 || k < 1 || k > w->cfg.courses ? LS_ENOTFOUND : LS_OK;
    if (rc == LS_OK && !c->course_names && !(c->course_names = calloc(w->cfg.courses, sizeof(char *))))
        rc = LS_ENOMEM;
    if (rc == LS_OK) {
        free(c->course_names[k - 1]);
        c->course_names[k - 1] = copy;
        copy = NULL;
    }
    pthread_mutex_unlock(&w->mu);
    free(copy);
    return rc;
}

/*
 * Content cnt-N belongs to course (N - 1) / contents + 1. Names and types are
 * deterministic: a provider whose activities carry content_id names its
 * contents "Content N" with a type (VIDEO, DOCUMENT, QUIZ; none for every
 * fourth); any other reports no name (null on even connections, absent on
 * odd ones) and no type.
 */
static json_t *sb_content_json(const sb_world_t *w, const sb_conn_t *c, unsigned n)
{
    static const char *const types[] = {"VIDEO", "DOCUMENT", "QUIZ"};
    unsigned per = w->cfg.contents ? w->cfg.contents : 1;
    char id[24], course[24], name[32];
    snprintf(id, sizeof(id), "cnt-%u", n);
    snprintf(course, sizeof(course), "crs-%u", (n - 1) / per + 1);
    json_t *o = json_pack("{s:s,s:[s],s:b}", "id", id, "course_ids", course, "is_active", 1);
    if (!sb_profile_has(c->prof, SB_F_CONTENT_ID)) {
        if (c->num % 2 == 0)
            json_object_set_new(o, "name", json_null());
        return o;
    }
    snprintf(name, sizeof(name), "Content %u", n);
    json_object_set_new(o, "name", json_string(name));
    if (n % 4 != 0)
        json_object_set_new(o, "type", json_string(types[n % 3]));
    return o;
}

int sb_world_list_contents(sb_world_t *w, const char *conn_id, long limit, long offset, json_t **out)
{
    pthread_mutex_lock(&w->mu);
    const sb_conn_t *c = sb_conn_find(w, conn_id);
    if (!c) {
        pthread_mutex_unlock(&w->mu);
        return LS_ENOTFOUND;
    }
    long total = (long)w->cfg.courses * (long)(w->cfg.contents ? w->cfg.contents : 1);
    json_t *arr = json_array();
    for (long n = offset + 1; n <= total && (long)json_array_size(arr) < limit; n++)
        json_array_append_new(arr, sb_content_json(w, c, (unsigned)n));
    pthread_mutex_unlock(&w->mu);
    *out = arr;
    return LS_OK;
}

/* ---- activity list ---------------------------------------------------- */

typedef struct sb_sortkey {
    int has;
    int64_t key;
    uint64_t ord;
    const sb_record_t *r;
} sb_sortkey_t;

static int sb_sortkey_cmp(const void *a, const void *b)
{
    const sb_sortkey_t *x = a, *y = b;
    if (x->has != y->has)
        return x->has - y->has;            /* records without the key first */
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->ord < y->ord ? -1 : (x->ord > y->ord);
}

static bool sb_opt_on(const sb_profile_t *p, sb_opt_t o)
{
    return p->opt[o] != SB_NOT_SUPPORTED;
}

static bool sb_match_str(const sb_record_t *r, sb_field_t f, const char *want)
{
    return sb_is(r, f) && strcmp(r->v[f].u.s, want) == 0;
}

static bool sb_record_matches(const sb_profile_t *p, const sb_record_t *r, const sb_query_t *q)
{
    if (q->has_course_id && sb_opt_on(p, SB_OPT_COURSE_ID) && !sb_match_str(r, SB_F_COURSE_ID, q->course_id))
        return false;
    if (q->has_student_id && sb_opt_on(p, SB_OPT_STUDENT_ID) && !sb_match_str(r, SB_F_STUDENT_ID, q->student_id))
        return false;
    if (q->has_content_id && sb_opt_on(p, SB_OPT_CONTENT_ID) && !sb_match_str(r, SB_F_CONTENT_ID, q->content_id))
        return false;
    if (q->has_updated_gte && sb_opt_on(p, SB_OPT_UPDATED_GTE) &&
        !(sb_is(r, SB_F_UPDATED_AT) && r->v[SB_F_UPDATED_AT].u.t >= q->updated_gte))
        return false;
    return true;
}

static int sb_check_required(const sb_profile_t *p, const sb_query_t *q, char *err, size_t err_size)
{
    static const struct { sb_opt_t opt; const char *name; } req[] = {
        { SB_OPT_COURSE_ID, "course_id" }, { SB_OPT_STUDENT_ID, "student_id" },
        { SB_OPT_CONTENT_ID, "content_id" }, { SB_OPT_UPDATED_GTE, "updated_gte" },
    };
    for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
        if (p->opt[req[i].opt] != SB_SUPPORTED_REQUIRED)
            continue;
        bool given = req[i].opt == SB_OPT_COURSE_ID ? q->has_course_id
                   : req[i].opt == SB_OPT_STUDENT_ID ? q->has_student_id
                   : req[i].opt == SB_OPT_CONTENT_ID ? q->has_content_id : q->has_updated_gte;
        if (!given) {
            snprintf(err, err_size, "%s is required", req[i].name);
            return LS_EINVAL;
        }
    }
    return LS_OK;
}

/* Which sort field applies, or SB_F__COUNT when none is honoured. */
static sb_field_t sb_sort_field(const sb_profile_t *p, const sb_query_t *q)
{
    if (q->sort == SB_SORT_UPDATED_AT && sb_opt_on(p, SB_OPT_SORT_UPDATED_AT))
        return SB_F_UPDATED_AT;
    if (q->sort == SB_SORT_CREATED_AT && sb_opt_on(p, SB_OPT_SORT_CREATED_AT))
        return SB_F_CREATED_AT;
    return SB_F__COUNT;
}

/* The records q lists, in the order served (honoured sort or creation order). Caller frees. */
static sb_sortkey_t *sb_list_keys(const sb_conn_t *c, const sb_query_t *q, size_t *nout)
{
    const sb_profile_t *p = c->prof;
    sb_sortkey_t *keys = malloc((c->n ? c->n : 1) * sizeof(*keys));
    if (!keys)
        return NULL;
    size_t n = 0;
    sb_field_t sf = sb_sort_field(p, q);
    for (size_t i = 0; i < c->n; i++) {
        const sb_record_t *r = &c->recs[i];
        if (!sb_record_matches(p, r, q))
            continue;
        sb_sortkey_t *k = &keys[n++];
        k->r = r;
        k->ord = r->ord;
        k->has = sf != SB_F__COUNT && sb_is(r, sf);
        k->key = k->has ? (q->desc ? -r->v[sf].u.t : r->v[sf].u.t) : 0;
    }
    if (sf != SB_F__COUNT)
        qsort(keys, n, sizeof(*keys), sb_sortkey_cmp);
    *nout = n;
    return keys;
}

static json_t *sb_list_locked(const sb_conn_t *c, const sb_query_t *q)
{
    const sb_profile_t *p = c->prof;
    size_t n = 0;
    sb_sortkey_t *keys = sb_list_keys(c, q, &n);
    if (!keys)
        return NULL;
    size_t off = sb_opt_on(p, SB_OPT_OFFSET) ? (size_t)q->offset : 0;
    size_t lim = sb_opt_on(p, SB_OPT_LIMIT) ? (size_t)q->limit : n;
    json_t *arr = json_array();
    for (size_t i = off; i < n && i - off < lim; i++)
        json_array_append_new(arr, sb_record_json(keys[i].r, p, q->fields, q->want_raw));
    free(keys);
    return arr;
}

int sb_world_list_activities(sb_world_t *w, const char *conn_id, const sb_query_t *q,
                             json_t **out, char *err, size_t err_size)
{
    pthread_mutex_lock(&w->mu);
    const sb_conn_t *c = sb_conn_find(w, conn_id);
    int rc = LS_ENOTFOUND;
    if (c) {
        rc = sb_check_required(c->prof, q, err, err_size);
        if (rc == LS_OK) {
            *out = sb_list_locked(c, q);
            rc = *out ? LS_OK : LS_ENOMEM;
        }
    } else {
        snprintf(err, err_size, "connection not found");
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* Is any filter of q honoured by the profile (so that records must be tested one by one)? */
static bool sb_filters_on(const sb_profile_t *p, const sb_query_t *q)
{
    return (q->has_course_id && sb_opt_on(p, SB_OPT_COURSE_ID)) ||
           (q->has_student_id && sb_opt_on(p, SB_OPT_STUDENT_ID)) ||
           (q->has_content_id && sb_opt_on(p, SB_OPT_CONTENT_ID)) ||
           (q->has_updated_gte && sb_opt_on(p, SB_OPT_UPDATED_GTE));
}

/*
 * The page of q as text: the records sb_list_locked() selects, written in
 * the same order. Without an honoured sort the order is the array's
 * (creation order), so no key array is built: records are walked in place,
 * and without a filter the page starts at index offset directly.
 */
static void sb_list_write(sb_jsonw_t *jw, const sb_conn_t *c, const sb_query_t *q, bool bad_first)
{
    const sb_profile_t *p = c->prof;
    size_t off = sb_opt_on(p, SB_OPT_OFFSET) ? (size_t)q->offset : 0;
    size_t lim = sb_opt_on(p, SB_OPT_LIMIT) ? (size_t)q->limit : c->n;
    size_t written = 0;
    sb_jsonw_char(jw, '[');
    if (sb_sort_field(p, q) != SB_F__COUNT) {
        size_t n = 0;
        sb_sortkey_t *keys = sb_list_keys(c, q, &n);
        if (!keys)
            jw->failed = true;
        for (size_t i = off; keys && i < n && written < lim; i++, written++) {
            if (written)
                sb_jsonw_char(jw, ',');
            sb_record_write(jw, keys[i].r, p, q->fields, q->want_raw, bad_first && !written);
        }
        free(keys);
    } else {
        bool filtered = sb_filters_on(p, q);
        size_t seen = filtered ? 0 : off;
        for (size_t i = filtered ? 0 : off; i < c->n && written < lim; i++) {
            if (filtered && (!sb_record_matches(p, &c->recs[i], q) || seen++ < off))
                continue;
            if (written)
                sb_jsonw_char(jw, ',');
            sb_record_write(jw, &c->recs[i], p, q->fields, q->want_raw, bad_first && !written);
            written++;
        }
    }
    sb_jsonw_char(jw, ']');
}

int sb_world_list_activities_text(sb_world_t *w, const char *conn_id, const sb_query_t *q,
                                  bool bad_first, char **out, size_t *out_len,
                                  char *err, size_t err_size)
{
    sb_jsonw_t jw;
    sb_jsonw_init(&jw, (size_t)(q->limit < 100 ? q->limit : 100) * 384);
    pthread_mutex_lock(&w->mu);
    const sb_conn_t *c = sb_conn_find(w, conn_id);
    int rc = LS_ENOTFOUND;
    if (c) {
        rc = sb_check_required(c->prof, q, err, err_size);
        if (rc == LS_OK)
            sb_list_write(&jw, c, q, bad_first);
    } else {
        snprintf(err, err_size, "connection not found");
    }
    pthread_mutex_unlock(&w->mu);
    if (rc == LS_OK && !(*out = sb_jsonw_take(&jw, out_len)))
        rc = LS_ENOMEM;
    sb_jsonw_release(&jw);
    return rc;
}

/* Delete record index idx of c and log it; returns the log entry. */
static const sb_change_t *sb_remove_locked(sb_world_t *w, sb_conn_t *c, size_t idx, int64_t now)
{
    sb_record_t *r = &c->recs[idx];
    json_t *before = sb_record_full(r, c->prof);
    char id[SB_STR_MAX];
    snprintf(id, sizeof(id), "%s", r->v[SB_F_ID].u.s);
    memmove(r, r + 1, (c->n - idx - 1) * sizeof(*r));
    c->n--;
    const sb_change_t *e = sb_log(w, c, id, before, NULL, now);
    json_decref(before);
    return e;
}

/* A new not-started/started record at the front of the creation order. */
static const sb_change_t *sb_insert_front_locked(sb_world_t *w, sb_conn_t *c, const sb_query_t *q,
                                                 int64_t now)
{
    const sb_profile_t *p = c->prof;
    char id[SB_STR_MAX], buf[SB_QUERY_VAL_MAX + 8];
    do
        sb_next_act_id(c, id, sizeof(id));
    while (sb_rec_find(c, id));
    if (!sb_rec_append(c, id))
        return NULL;
    sb_record_t r = c->recs[c->n - 1];
    memmove(&c->recs[1], &c->recs[0], (c->n - 1) * sizeof(r));
    r.ord = c->front_ord--;
    unsigned s = sb_rng_range(w, 1, w->cfg.students ? w->cfg.students : 1);
    unsigned k = sb_rng_range(w, 1, w->cfg.courses ? w->cfg.courses : 1);
    snprintf(buf, sizeof(buf), "crs-%u", k);
    sb_set_str(&r, SB_F_COURSE_ID, q && q->has_course_id ? q->course_id : buf);
    snprintf(buf, sizeof(buf), "stu-%u", s);
    sb_set_str(&r, SB_F_STUDENT_ID, q && q->has_student_id ? q->student_id : buf);
    if (sb_profile_has(p, SB_F_CONTENT_ID)) {
        if (q && q->has_content_id)
            sb_set_str(&r, SB_F_CONTENT_ID, q->content_id);
        else {
            snprintf(buf, sizeof(buf), "cnt-%u", (k - 1) * (w->cfg.contents ? w->cfg.contents : 1) + 1);
            sb_set_str(&r, SB_F_CONTENT_ID, buf);
        }
    }
    sb_set_time(&r, SB_F_CREATED_AT, now);
    sb_set_bool(&r, SB_F_IS_COMPLETED, false);
    if (sb_profile_has(p, SB_F_PROGRESS))
        sb_set_num(&r, SB_F_PROGRESS, 0);
    if (sb_profile_has(p, SB_F_UPDATED_AT))
        sb_set_time(&r, SB_F_UPDATED_AT, now);
    c->recs[0] = r;
    json_t *after = sb_record_full(&c->recs[0], p);
    const sb_change_t *e = sb_log(w, c, id, NULL, after, now);
    json_decref(after);
    return e;
}

int sb_world_shift(sb_world_t *w, const char *conn_id, const sb_query_t *q, bool delete_one,
                   int64_t now_ms, json_t **change_out)
{
    int64_t now = now_ms - now_ms % 1000;
    *change_out = NULL;
    pthread_mutex_lock(&w->mu);
    sb_conn_t *c = sb_conn_find(w, conn_id);
    if (!c) {
        pthread_mutex_unlock(&w->mu);
        return LS_ENOTFOUND;
    }
    const sb_change_t *e = NULL;
    if (!delete_one) {
        e = sb_insert_front_locked(w, c, q, now);
    } else if (q->offset > 0) {
        size_t n = 0;
        sb_sortkey_t *keys = sb_list_keys(c, q, &n);
        size_t off = sb_opt_on(c->prof, SB_OPT_OFFSET) ? (size_t)q->offset : 0;
        if (keys && off > 0 && off - 1 < n)
            e = sb_remove_locked(w, c, (size_t)(keys[off - 1].r - c->recs), now);
        free(keys);
    }
    if (e)
        *change_out = sb_change_json(w, e);
    pthread_mutex_unlock(&w->mu);
    return LS_OK;
}

int sb_world_get_activity(sb_world_t *w, const char *conn_id, const char *act_id,
                          const sb_query_t *q, json_t **out)
{
    pthread_mutex_lock(&w->mu);
    sb_conn_t *c = sb_conn_find(w, conn_id);
    const sb_record_t *r = c ? sb_rec_find(c, act_id) : NULL;
    if (r)
        *out = sb_record_json(r, c->prof, q->fields, q->want_raw);
    pthread_mutex_unlock(&w->mu);
    return r ? LS_OK : LS_ENOTFOUND;
}

int sb_world_get_activity_text(sb_world_t *w, const char *conn_id, const char *act_id,
                               const sb_query_t *q, bool bad, char **out, size_t *out_len)
{
    sb_jsonw_t jw;
    sb_jsonw_init(&jw, 512);
    pthread_mutex_lock(&w->mu);
    sb_conn_t *c = sb_conn_find(w, conn_id);
    const sb_record_t *r = c ? sb_rec_find(c, act_id) : NULL;
    if (r)
        sb_record_write(&jw, r, c->prof, q->fields, q->want_raw, bad);
    pthread_mutex_unlock(&w->mu);
    int rc = LS_ENOTFOUND;
    if (r)
        rc = (*out = sb_jsonw_take(&jw, out_len)) ? LS_OK : LS_ENOMEM;
    sb_jsonw_release(&jw);
    return rc;
}

int sb_world_activities(sb_world_t *w, const char *conn_id, json_t **out)
{
    pthread_mutex_lock(&w->mu);
    const sb_conn_t *c = sb_conn_find(w, conn_id);
    if (c) {
        *out = json_array();
        for (size_t i = 0; i < c->n; i++)
            json_array_append_new(*out, sb_record_full(&c->recs[i], c->prof));
    }
    pthread_mutex_unlock(&w->mu);
    return c ? LS_OK : LS_ENOTFOUND;
}

/* ---- mutations -------------------------------------------------------- */

typedef enum sb_mut {
    SB_MUT_PROGRESS = 0, SB_MUT_COMPLETE, SB_MUT_START, SB_MUT_DURATION,
    SB_MUT_CREATE, SB_MUT_REOPEN, SB_MUT__COUNT
} sb_mut_t;

/* Cumulative weights out of 100, in sb_mut_t order. */
static const unsigned sb_mut_cumw[SB_MUT__COUNT] = { 38, 58, 73, 85, 95, 100 };

static bool sb_mut_fits(const sb_profile_t *p, const sb_record_t *r, sb_mut_t m)
{
    bool started = sb_is(r, SB_F_STARTED_AT), done = sb_completed(r);
    switch (m) {
    case SB_MUT_PROGRESS:
        return sb_profile_has(p, SB_F_PROGRESS) && started && !done &&
               sb_is(r, SB_F_PROGRESS) && r->v[SB_F_PROGRESS].u.n < 99;
    case SB_MUT_COMPLETE: return !done;
    case SB_MUT_START: return !started && !done;
    case SB_MUT_DURATION:
        return sb_profile_has(p, SB_F_DURATION) && started && sb_is(r, SB_F_DURATION);
    case SB_MUT_REOPEN: return done;
    default: return false;
    }
}

/* A record index the mutation applies to, or -1: a few random probes, then a scan. */
static long sb_mut_pick(sb_world_t *w, const sb_conn_t *c, sb_mut_t m)
{
    if (c->n == 0)
        return -1;
    for (int i = 0; i < 8; i++) {
        size_t idx = (size_t)(sb_rng(w) % c->n);
        if (sb_mut_fits(c->prof, &c->recs[idx], m))
            return (long)idx;
    }
    size_t start = (size_t)(sb_rng(w) % c->n);
    for (size_t i = 0; i < c->n; i++) {
        size_t idx = (start + i) % c->n;
        if (sb_mut_fits(c->prof, &c->recs[idx], m))
            return (long)idx;
    }
    return -1;
}

static void sb_mut_apply(sb_world_t *w, const sb_profile_t *p, sb_record_t *r, sb_mut_t m, int64_t now)
{
    bool prog = sb_profile_has(p, SB_F_PROGRESS);
    switch (m) {
    case SB_MUT_PROGRESS: {
        double v = r->v[SB_F_PROGRESS].u.n + sb_rng_range(w, 5, 30);
        sb_set_num(r, SB_F_PROGRESS, v > 99 ? 99 : v);
        if (sb_profile_has(p, SB_F_DURATION) && sb_is(r, SB_F_DURATION))
            sb_set_num(r, SB_F_DURATION, r->v[SB_F_DURATION].u.n + sb_rng_range(w, 1, 20));
        break;
    }
    case SB_MUT_COMPLETE:
        if (!sb_is(r, SB_F_STARTED_AT))
            sb_set_time(r, SB_F_STARTED_AT, now);
        sb_set_bool(r, SB_F_IS_COMPLETED, true);
        sb_set_time(r, SB_F_COMPLETED_AT, now);
        if (prog)
            sb_set_num(r, SB_F_PROGRESS, 100);
        sb_seed_grade(w, p, r);
        break;
    case SB_MUT_START:
        sb_set_time(r, SB_F_STARTED_AT, now);
        if (prog)
            sb_set_num(r, SB_F_PROGRESS, sb_rng_range(w, 5, 30));
        break;
    case SB_MUT_DURATION:
        sb_set_num(r, SB_F_DURATION, r->v[SB_F_DURATION].u.n + sb_rng_range(w, 1, 30));
        break;
    case SB_MUT_REOPEN:
        sb_set_bool(r, SB_F_IS_COMPLETED, false);
        r->v[SB_F_COMPLETED_AT].pres = SB_ABSENT;
        if (prog)
            sb_set_num(r, SB_F_PROGRESS, sb_rng_range(w, 50, 95));
        break;
    default:
        break;
    }
    if (sb_profile_has(p, SB_F_UPDATED_AT))
        sb_set_time(r, SB_F_UPDATED_AT, now);
}

/* A new activity for a random student x course (x content); returns the log entry. */
static const sb_change_t *sb_mut_create(sb_world_t *w, sb_conn_t *c, int64_t now)
{
    const sb_profile_t *p = c->prof;
    char id[SB_STR_MAX], buf[32];
    unsigned s = sb_rng_range(w, 1, w->cfg.students ? w->cfg.students : 1);
    unsigned k = sb_rng_range(w, 1, w->cfg.courses ? w->cfg.courses : 1);
    unsigned j = sb_rng_range(w, 1, w->cfg.contents ? w->cfg.contents : 1);
    bool started = sb_rng(w) % 2;
    sb_next_act_id(c, id, sizeof(id));
    sb_record_t *r = sb_rec_append(c, id);
    if (!r)
        return NULL;
    snprintf(buf, sizeof(buf), "crs-%u", k);
    sb_set_str(r, SB_F_COURSE_ID, buf);
    snprintf(buf, sizeof(buf), "stu-%u", s);
    sb_set_str(r, SB_F_STUDENT_ID, buf);
    if (sb_profile_has(p, SB_F_CONTENT_ID)) {
        snprintf(buf, sizeof(buf), "cnt-%u", (k - 1) * w->cfg.contents + j);
        sb_set_str(r, SB_F_CONTENT_ID, buf);
    }
    sb_set_time(r, SB_F_CREATED_AT, now);
    sb_set_bool(r, SB_F_IS_COMPLETED, false);
    if (sb_profile_has(p, SB_F_PROGRESS))
        sb_set_num(r, SB_F_PROGRESS, started ? sb_rng_range(w, 1, 20) : 0);
    if (started) {
        sb_set_time(r, SB_F_STARTED_AT, now);
        if (sb_profile_has(p, SB_F_DURATION))
            sb_set_num(r, SB_F_DURATION, sb_rng_range(w, 1, 15));
    }
    if (sb_profile_has(p, SB_F_UPDATED_AT))
        sb_set_time(r, SB_F_UPDATED_AT, now);
    json_t *after = sb_record_full(r, p);
    const sb_change_t *e = sb_log(w, c, id, NULL, after, now);
    json_decref(after);
    return e;
}

/*
 * The connection a random mutation touches: any, uniformly; or, with a skew
 * (hot_pct, hot_share), one of the first hot_pct % of the connections (at
 * least one) hot_share % of the time and one of the others otherwise.
 * Drawn from the world's generator, so a seed replays the same choices.
 */
static sb_conn_t *sb_pick_conn(sb_world_t *w)
{
    size_t hot = (size_t)w->cfg.hot_pct * w->nconns / 100;
    if (w->cfg.hot_share == 0 || w->nconns < 2)
        return &w->conns[sb_rng(w) % w->nconns];
    if (hot == 0)
        hot = 1;
    if (hot >= w->nconns || sb_rng(w) % 100 < w->cfg.hot_share)
        return &w->conns[sb_rng(w) % hot];
    return &w->conns[hot + sb_rng(w) % (w->nconns - hot)];
}

static const sb_change_t *sb_mutate_one(sb_world_t *w, int64_t now)
{
    sb_conn_t *c = sb_pick_conn(w);
    unsigned roll = (unsigned)(sb_rng(w) % 100);
    unsigned first = 0;
    while (roll >= sb_mut_cumw[first])
        first++;
    for (unsigned t = 0; t < SB_MUT__COUNT; t++) {
        sb_mut_t m = (sb_mut_t)((first + t) % SB_MUT__COUNT);
        if (m == SB_MUT_CREATE)
            return sb_mut_create(w, c, now);
        long idx = sb_mut_pick(w, c, m);
        if (idx < 0)
            continue;
        sb_record_t *r = &c->recs[idx];
        json_t *before = sb_record_full(r, c->prof);
        sb_mut_apply(w, c->prof, r, m, now);
        json_t *after = sb_record_full(r, c->prof);
        const sb_change_t *e = sb_log(w, c, r->v[SB_F_ID].u.s, before, after, now);
        json_decref(before);
        json_decref(after);
        return e;
    }
    return NULL;
}

unsigned sb_world_tick(sb_world_t *w, unsigned count, int64_t now_ms, json_t *changes_out)
{
    int64_t now = now_ms - now_ms % 1000;
    unsigned logged = 0;
    pthread_mutex_lock(&w->mu);
    for (unsigned i = 0; i < count; i++) {
        const sb_change_t *e = sb_mutate_one(w, now);
        if (!e)
            continue;
        logged++;
        if (changes_out)
            json_array_append_new(changes_out, sb_change_json(w, e));
    }
    pthread_mutex_unlock(&w->mu);
    return logged;
}

/* ---- control API writes ----------------------------------------------- */

static int sb_value_from_json(sb_record_t *r, sb_field_t f, const json_t *v, char *err, size_t err_size)
{
    const char *name = sb_field_name(f);
    if (json_is_null(v)) {
        r->v[f].pres = SB_NULL;
        return LS_OK;
    }
    switch (sb_field_kind(f)) {
    case SB_KIND_BOOL:
        if (!json_is_boolean(v))
            break;
        sb_set_bool(r, f, json_is_true(v));
        return LS_OK;
    case SB_KIND_NUMBER:
        if (!json_is_number(v))
            break;
        sb_set_num(r, f, json_number_value(v));
        return LS_OK;
    case SB_KIND_TIME: {
        int64_t t;
        if (!json_is_string(v) || ls_time_parse(json_string_value(v), &t) != LS_OK)
            break;
        sb_set_time(r, f, t);
        return LS_OK;
    }
    default:
        if (!json_is_string(v) || json_string_length(v) >= SB_STR_MAX)
            break;
        sb_set_str(r, f, json_string_value(v));
        return LS_OK;
    }
    snprintf(err, err_size, "field '%s' has a wrong type or value", name);
    return LS_EINVAL;
}

/* Apply set/unset to r. *explicit_upd tells whether updated_at was named. */
static int sb_apply_fields(const sb_profile_t *p, const sb_apply_t *req, sb_record_t *r,
                           bool *explicit_upd, char *err, size_t err_size)
{
    const char *k;
    json_t *v;
    size_t i;
    *explicit_upd = false;
    if ((req->set && !json_is_object(req->set)) || (req->unset && !json_is_array(req->unset))) {
        snprintf(err, err_size, "'set' must be an object and 'unset' an array");
        return LS_EINVAL;
    }
    json_object_foreach((json_t *)req->set, k, v) {
        sb_field_t f = sb_field_from_name(k);
        if (f == SB_F__COUNT || f == SB_F_ID) {
            snprintf(err, err_size, "field '%s' cannot be set", k);
            return LS_EINVAL;
        }
        if (!req->force && !sb_profile_has(p, f)) {
            snprintf(err, err_size, "field '%s' is not supported by %s", k, p->type);
            return LS_EINVAL;
        }
        if (sb_value_from_json(r, f, v, err, err_size) != LS_OK)
            return LS_EINVAL;
        *explicit_upd |= f == SB_F_UPDATED_AT;
    }
    json_array_foreach((json_t *)req->unset, i, v) {
        sb_field_t f = sb_field_from_name(json_string_value(v));
        if (f == SB_F__COUNT || f == SB_F_ID) {
            snprintf(err, err_size, "field '%s' cannot be unset",
                     json_is_string(v) ? json_string_value(v) : "?");
            return LS_EINVAL;
        }
        r->v[f].pres = SB_ABSENT;
        *explicit_upd |= f == SB_F_UPDATED_AT;
    }
    return LS_OK;
}

static int sb_apply_create(sb_world_t *w, sb_conn_t *c, const sb_apply_t *req, int64_t now,
                           json_t **change_out, char *err, size_t err_size)
{
    char id[SB_STR_MAX];
    if (req->activity_id) {
        if (!*req->activity_id || strlen(req->activity_id) >= SB_STR_MAX) {
            snprintf(err, err_size, "activity_id must be 1..%d characters", SB_STR_MAX - 1);
            return LS_EINVAL;
        }
        snprintf(id, sizeof(id), "%s", req->activity_id);
    } else {
        do
            sb_next_act_id(c, id, sizeof(id));
        while (sb_rec_find(c, id));
    }
    sb_record_t tmp;
    memset(&tmp, 0, sizeof(tmp));
    sb_set_time(&tmp, SB_F_CREATED_AT, now);
    if (sb_profile_has(c->prof, SB_F_UPDATED_AT))
        sb_set_time(&tmp, SB_F_UPDATED_AT, now);
    bool explicit_upd;
    if (sb_apply_fields(c->prof, req, &tmp, &explicit_upd, err, err_size) != LS_OK)
        return LS_EINVAL;
    sb_record_t *r = sb_rec_append(c, id);
    if (!r)
        return LS_ENOMEM;
    uint64_t ord = r->ord;
    tmp.v[SB_F_ID] = r->v[SB_F_ID];
    *r = tmp;
    r->ord = ord;
    json_t *after = sb_record_full(r, c->prof);
    const sb_change_t *e = sb_log(w, c, id, NULL, after, now);
    json_decref(after);
    *change_out = e ? sb_change_json(w, e) : NULL;
    return e ? LS_OK : LS_ENOMEM;
}

static int sb_apply_modify(sb_world_t *w, sb_conn_t *c, sb_record_t *r, const sb_apply_t *req,
                           int64_t now, json_t **change_out, char *err, size_t err_size)
{
    sb_record_t work = *r;
    bool explicit_upd;
    if (sb_apply_fields(c->prof, req, &work, &explicit_upd, err, err_size) != LS_OK)
        return LS_EINVAL;
    json_t *before = sb_record_full(r, c->prof);
    json_t *after = sb_record_full(&work, c->prof);
    if (!sb_label(before, after)) {          /* nothing changes: write nothing */
        json_decref(before);
        json_decref(after);
        *change_out = NULL;
        return LS_OK;
    }
    if (!explicit_upd && sb_profile_has(c->prof, SB_F_UPDATED_AT)) {
        sb_set_time(&work, SB_F_UPDATED_AT, now);
        json_decref(after);
        after = sb_record_full(&work, c->prof);
    }
    *r = work;
    const sb_change_t *e = sb_log(w, c, r->v[SB_F_ID].u.s, before, after, now);
    json_decref(before);
    json_decref(after);
    *change_out = e ? sb_change_json(w, e) : NULL;
    return LS_OK;
}

int sb_world_apply(sb_world_t *w, const sb_apply_t *req, int64_t now_ms,
                   json_t **change_out, char *err, size_t err_size)
{
    int64_t now = now_ms - now_ms % 1000;
    *change_out = NULL;
    pthread_mutex_lock(&w->mu);
    sb_conn_t *c = sb_conn_find(w, req->connection_id);
    int rc;
    if (!c) {
        snprintf(err, err_size, "connection not found");
        rc = LS_ENOTFOUND;
    } else {
        sb_record_t *r = req->activity_id ? sb_rec_find(c, req->activity_id) : NULL;
        rc = r ? sb_apply_modify(w, c, r, req, now, change_out, err, err_size)
               : sb_apply_create(w, c, req, now, change_out, err, err_size);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int sb_world_remove(sb_world_t *w, const char *conn_id, const char *act_id,
                    int64_t now_ms, json_t **change_out)
{
    int64_t now = now_ms - now_ms % 1000;
    pthread_mutex_lock(&w->mu);
    sb_conn_t *c = sb_conn_find(w, conn_id);
    sb_record_t *r = c ? sb_rec_find(c, act_id) : NULL;
    if (!r) {
        pthread_mutex_unlock(&w->mu);
        return LS_ENOTFOUND;
    }
    const sb_change_t *e = sb_remove_locked(w, c, (size_t)(r - c->recs), now);
    *change_out = e ? sb_change_json(w, e) : json_null();
    pthread_mutex_unlock(&w->mu);
    return LS_OK;
}

/* ---- log queries ------------------------------------------------------ */

json_t *sb_world_changes(sb_world_t *w, uint64_t since, size_t limit)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&w->mu);
    if (since < 1)
        since = 1;
    uint64_t next = since;
    /* seq numbers are dense from 1, so entry seq s sits at index s-1 */
    for (size_t i = (size_t)(since - 1); i < w->nlog && json_array_size(arr) < limit; i++) {
        json_array_append_new(arr, sb_change_json(w, &w->log[i]));
        next = w->log[i].seq + 1;
    }
    pthread_mutex_unlock(&w->mu);
    return json_pack("{s:I,s:o}", "next", (json_int_t)next, "changes", arr);
}

uint64_t sb_world_next_seq(sb_world_t *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t s = w->next_seq;
    pthread_mutex_unlock(&w->mu);
    return s;
}
