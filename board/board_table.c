/*
 * board_table.c - the board's courses, connections and change feed
 * (board_table.h).
 *
 * Courses and connections are arrays kept sorted (binary search, insert by
 * memmove): a snapshot is a walk, and a board shows thousands of courses,
 * not millions. Which fields a record must or may have, and of what type,
 * is one table per record kind (course_fields[], change_fields[]); a check
 * walks it, so the accepted shape is written down once.
 */
#include "board_table.h"
#include "ls_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct course {
    char *conn, *course;
    json_t *rec;            /* the record as received (checked) */
} course_t;

typedef struct conn {
    char *id;
    json_t *itype, *tenant; /* NULL: never seen */
    size_t courses;
    uint64_t changes;
    json_t *last_at;        /* observed.at of the last change; NULL: none */
} conn_t;

struct board_table {
    course_t *courses;
    size_t n_courses, cap_courses;
    conn_t *conns;
    size_t n_conns, cap_conns;
    json_t **ring;          /* feed items; ring[(head - 1 - i) mod max] is the i-th newest */
    size_t max_changes, head, n_changes;
    uint64_t bad_courses, bad_changes;
};

/* ---- record shapes ---- */

typedef enum { K_ID, K_STR, K_STR_NULL, K_COUNT, K_NUM, K_OBJ_NULL, K_STRS, K_OBJ } kind_t;

typedef struct field {
    const char *name;
    kind_t kind;
    int required;
} field_t;

static const field_t course_fields[] = {
    {"connection_id", K_ID, 1},     {"course_id", K_ID, 1},         {"integration_type", K_STR_NULL, 0},
    {"tenant", K_STR_NULL, 0},      {"learners", K_COUNT, 1},       {"learners_completed", K_COUNT, 1},
    {"completion_rate", K_NUM, 0},  {"progress_mean", K_NUM, 0},    {"learners_idle", K_COUNT, 0},
    {"idle_days", K_COUNT, 0},      {"course_name", K_STR, 0},
};

static const field_t change_fields[] = {
    {"connection_id", K_ID, 1}, {"activity_id", K_ID, 1},        {"type", K_ID, 1},
    {"changed", K_STRS, 1},     {"before", K_OBJ_NULL, 0},       {"after", K_OBJ_NULL, 0},
    {"observed", K_OBJ, 0},     {"integration_type", K_STR_NULL, 0}, {"tenant", K_STR_NULL, 0},
};

static const char *const kind_names[] = {
    "a non-empty string", "a string", "a string or null", "an integer >= 0", "a number",
    "an object or null", "an array of strings", "an object",
};

static int strs_ok(const json_t *v)
{
    size_t i;
    json_t *e;
    if (!json_is_array(v))
        return 0;
    json_array_foreach(v, i, e)
        if (!json_is_string(e))
            return 0;
    return 1;
}

static int kind_ok(kind_t k, const json_t *v)
{
    switch (k) {
    case K_ID: return json_is_string(v) && json_string_length(v) > 0;
    case K_STR: return json_is_string(v);
    case K_STR_NULL: return json_is_string(v) || json_is_null(v);
    case K_COUNT: return json_is_integer(v) && json_integer_value(v) >= 0;
    case K_NUM: return json_is_number(v);
    case K_OBJ_NULL: return json_is_object(v) || json_is_null(v);
    case K_STRS: return strs_ok(v);
    case K_OBJ: return json_is_object(v);
    }
    return 0;
}

static int refuse(char *why, size_t whysz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int refuse(char *why, size_t whysz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whysz, fmt, ap);
    va_end(ap);
    return LS_EINVAL;
}

/* Parse value as a JSON object whose fields fit the table. @return new reference, or NULL with why. */
static json_t *parse_checked(const char *value, size_t len, const field_t *fields, size_t n, char *why,
                             size_t whysz)
{
    json_error_t jerr;
    json_t *o = json_loadb(value, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) {
        refuse(why, whysz, "not JSON: %s at byte %d", jerr.text, jerr.position);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        refuse(why, whysz, "not a JSON object");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(o, fields[i].name);
        if ((!v && fields[i].required) || (v && !kind_ok(fields[i].kind, v))) {
            refuse(why, whysz, "field '%s' %s, must be %s", fields[i].name, v ? "has the wrong type" : "is missing",
                   kind_names[fields[i].kind]);
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static const char *str_of(const json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

/* The record's connection as its keys name it: "{workspace}:{connection_id}" for a named workspace
 * (the record's "workspace"), else connection_id. buf holds QCONN_MAX bytes. */
#define QCONN_MAX 640
static const char *qualified_conn(const json_t *rec, char *buf)
{
    const char *ws = str_of(rec, "workspace"), *conn = str_of(rec, "connection_id");
    if (!ws || !ws[0])
        return conn;
    snprintf(buf, QCONN_MAX, "%.40s:%.590s", ws, conn);
    return buf;
}

static json_int_t int_of(const json_t *o, const char *name)
{
    return json_integer_value(json_object_get(o, name));
}

/* ---- sorted arrays ---- */

typedef int (*cmp_fn)(const void *key, const void *elem);

/* Index of the first element not below key; *found when it equals key. */
static size_t lower_bound(const void *base, size_t n, size_t size, const void *key, cmp_fn cmp, int *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp(key, (const char *)base + mid * size) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < n && cmp(key, (const char *)base + lo * size) == 0;
    return lo;
}

/* Open a zeroed slot at index at of *base (n elements, cap capacity). @return 0 or LS_ENOMEM. */
static int open_slot(void **base, size_t *n, size_t *cap, size_t size, size_t at)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        void *nb = realloc(*base, ncap * size);
        if (!nb)
            return LS_ENOMEM;
        *base = nb;
        *cap = ncap;
    }
    char *b = *base;
    memmove(b + (at + 1) * size, b + at * size, (*n - at) * size);
    memset(b + at * size, 0, size);
    (*n)++;
    return LS_OK;
}

typedef struct course_key {
    const char *conn, *course;
} course_key_t;

static int course_cmp(const void *key, const void *elem)
{
    const course_key_t *k = key;
    const course_t *c = elem;
    int r = strcmp(k->conn, c->conn);
    return r ? r : strcmp(k->course, c->course);
}

static int conn_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const conn_t *)elem)->id);
}

/* The connection id's entry, created when new; NULL on no memory. */
static conn_t *conn_get(board_table_t *t, const char *id)
{
    int found;
    size_t at = lower_bound(t->conns, t->n_conns, sizeof(conn_t), id, conn_cmp, &found);
    if (found)
        return &t->conns[at];
    char *copy = strdup(id);
    if (!copy || open_slot((void **)&t->conns, &t->n_conns, &t->cap_conns, sizeof(conn_t), at) != LS_OK) {
        free(copy);
        return NULL;
    }
    t->conns[at].id = copy;
    return &t->conns[at];
}

/* Keep the connection's integration type and tenant as the latest record says (when it says). */
static void conn_learn(conn_t *c, const json_t *rec)
{
    json_t *v;
    if ((v = json_object_get(rec, "integration_type"))) {
        json_decref(c->itype);
        c->itype = json_incref(v);
    }
    if ((v = json_object_get(rec, "tenant"))) {
        json_decref(c->tenant);
        c->tenant = json_incref(v);
    }
}

/* {"connection_id", "integration_type"?, "tenant"?, "courses", "changes", "last_change_at"?}: absent = never seen. */
static json_t *conn_summary(const conn_t *c)
{
    json_t *o = json_pack("{s:s, s:I, s:I}", "connection_id", c->id, "courses", (json_int_t)c->courses, "changes",
                          (json_int_t)c->changes);
    if (o && c->itype)
        json_object_set(o, "integration_type", c->itype);
    if (o && c->tenant)
        json_object_set(o, "tenant", c->tenant);
    if (o && c->last_at)
        json_object_set(o, "last_change_at", c->last_at);
    return o;
}

/* ---- courses ---- */

static int check_course(const json_t *rec, const char *key, size_t key_len, char *why, size_t whysz)
{
    char qbuf[QCONN_MAX];
    const char *conn = qualified_conn(rec, qbuf), *course = str_of(rec, "course_id");
    size_t lc = strlen(conn);
    if (key_len != lc + 1 + strlen(course) || memcmp(key, conn, lc) != 0 || key[lc] != '/' ||
        memcmp(key + lc + 1, course, key_len - lc - 1) != 0)
        return refuse(why, whysz, "key \"%.*s\" is not {connection_id}/{course_id} of its value", (int)(key_len > 200 ? 200 : key_len),
                      key);
    json_int_t learners = int_of(rec, "learners");
    if (int_of(rec, "learners_completed") > learners)
        return refuse(why, whysz, "learners_completed above learners");
    if (int_of(rec, "learners_idle") > learners)
        return refuse(why, whysz, "learners_idle above learners");
    return LS_OK;
}

static int course_upsert(board_table_t *t, json_t *rec, json_t **event)
{
    char qbuf[QCONN_MAX];
    course_key_t k = {qualified_conn(rec, qbuf), str_of(rec, "course_id")};
    conn_t *c = conn_get(t, k.conn);
    if (!c)
        return LS_ENOMEM;
    int found;
    size_t at = lower_bound(t->courses, t->n_courses, sizeof(course_t), &k, course_cmp, &found);
    if (!found) {
        char *conn = strdup(k.conn), *course = strdup(k.course);
        if (!conn || !course ||
            open_slot((void **)&t->courses, &t->n_courses, &t->cap_courses, sizeof(course_t), at) != LS_OK) {
            free(conn);
            free(course);
            return LS_ENOMEM;
        }
        t->courses[at].conn = conn;
        t->courses[at].course = course;
        c->courses++;
    }
    json_decref(t->courses[at].rec);
    t->courses[at].rec = json_incref(rec);
    conn_learn(c, rec);
    *event = json_pack("{s:O, s:o}", "course", rec, "connection", conn_summary(c));
    return *event ? 1 : LS_ENOMEM;
}

static int course_delete(board_table_t *t, const char *key, size_t key_len, json_t **event, char *why, size_t whysz)
{
    const char *slash = memchr(key, '/', key_len);
    if (!slash || slash == key || memchr(key, '\0', key_len))
        return refuse(why, whysz, "tombstone key \"%.*s\" is not {connection_id}/{course_id}",
                      (int)(key_len > 200 ? 200 : key_len), key);
    char *conn = strndup(key, (size_t)(slash - key)), *course = strndup(slash + 1, key_len - (size_t)(slash - key) - 1);
    int rc = 0, found;
    if (!conn || !course) {
        rc = LS_ENOMEM;
        goto out;
    }
    course_key_t k = {conn, course};
    size_t at = lower_bound(t->courses, t->n_courses, sizeof(course_t), &k, course_cmp, &found);
    if (!found)
        goto out;
    course_t *e = &t->courses[at];
    free(e->conn);
    free(e->course);
    json_decref(e->rec);
    memmove(e, e + 1, (t->n_courses - at - 1) * sizeof(*e));
    t->n_courses--;
    conn_t *c = conn_get(t, conn); /* exists: it has had this course */
    c->courses--;
    *event = json_pack("{s:{s:s, s:s}, s:o}", "removed", "connection_id", conn, "course_id", course, "connection",
                       conn_summary(c));
    rc = *event ? 1 : LS_ENOMEM;
out:
    free(conn);
    free(course);
    return rc;
}

int board_table_course(board_table_t *t, const char *key, size_t key_len, const char *value, size_t value_len,
                       const char **name, json_t **event, char *why, size_t whysz)
{
    *event = NULL;
    int rc;
    if (!key) {
        rc = refuse(why, whysz, "no key");
    } else if (!value) {
        *name = "course_removed";
        rc = course_delete(t, key, key_len, event, why, whysz);
    } else {
        *name = "course";
        json_t *rec = parse_checked(value, value_len, course_fields, sizeof(course_fields) / sizeof(course_fields[0]),
                                    why, whysz);
        rc = rec ? check_course(rec, key, key_len, why, whysz) : LS_EINVAL;
        if (rc == LS_OK)
            rc = course_upsert(t, rec, event);
        json_decref(rec);
    }
    if (rc == LS_EINVAL)
        t->bad_courses++;
    return rc;
}

/* ---- changes ---- */

/* The record's fields named in changed (absent ones stay absent); null for a null record. */
static json_t *changed_part(const json_t *rec, const json_t *changed)
{
    if (!json_is_object(rec))
        return json_null();
    json_t *o = json_object(), *f;
    size_t i;
    json_array_foreach(changed, i, f) {
        json_t *v = json_object_get(rec, json_string_value(f));
        if (o && v)
            json_object_set(o, json_string_value(f), v);
    }
    return o;
}

/* after's field, else before's; NULL when neither has it as a string. */
static json_t *either(const json_t *before, const json_t *after, const char *name)
{
    json_t *v = json_object_get(after, name);
    if (!json_is_string(v))
        v = json_object_get(before, name);
    return json_is_string(v) ? v : NULL;
}

static json_t *feed_item(const json_t *ev, const char *ce_id)
{
    const json_t *before = json_object_get(ev, "before"), *after = json_object_get(ev, "after");
    const json_t *changed = json_object_get(ev, "changed");
    json_t *item = json_pack("{s:O, s:O, s:O, s:O, s:o, s:o}", "type", json_object_get(ev, "type"), "connection_id",
                             json_object_get(ev, "connection_id"), "activity_id", json_object_get(ev, "activity_id"),
                             "changed", changed, "before", changed_part(before, changed), "after",
                             changed_part(after, changed));
    const json_t *at = json_object_get(json_object_get(ev, "observed"), "at");
    json_t *v;
    if (item && json_is_string(at))
        json_object_set(item, "at", (json_t *)at);
    if (item && ce_id)
        json_object_set_new(item, "id", json_string(ce_id));
    if (item && (v = either(before, after, "course_id")))
        json_object_set(item, "course_id", v);
    if (item && (v = either(before, after, "student_id")))
        json_object_set(item, "student_id", v);
    return item;
}

static void ring_push(board_table_t *t, json_t *item)
{
    json_decref(t->ring[t->head]); /* NULL until the ring is full */
    t->ring[t->head] = item;
    t->head = (t->head + 1) % t->max_changes;
    if (t->n_changes < t->max_changes)
        t->n_changes++;
}

int board_table_change(board_table_t *t, const char *value, size_t value_len, const char *ce_id, const char **name,
                       json_t **event, char *why, size_t whysz)
{
    *event = NULL;
    *name = "change";
    json_t *ev = value ? parse_checked(value, value_len, change_fields, sizeof(change_fields) / sizeof(change_fields[0]),
                                       why, whysz)
                       : NULL;
    if (!ev) {
        if (!value)
            refuse(why, whysz, "no value");
        t->bad_changes++;
        return LS_EINVAL;
    }
    json_t *item = feed_item(ev, ce_id);
    char qbuf[QCONN_MAX];
    conn_t *c = item ? conn_get(t, qualified_conn(ev, qbuf)) : NULL;
    int rc = LS_ENOMEM;
    if (c) {
        conn_learn(c, ev);
        c->changes++;
        if (json_object_get(item, "at")) {
            json_decref(c->last_at);
            c->last_at = json_incref(json_object_get(item, "at"));
        }
        *event = json_pack("{s:O, s:o}", "change", item, "connection", conn_summary(c));
        ring_push(t, json_incref(item));
        rc = *event ? 1 : LS_ENOMEM;
    }
    json_decref(item);
    json_decref(ev);
    return rc;
}

/* ---- views ---- */

/* The i-th element of a view, as a new reference. */
typedef json_t *(*item_fn)(const board_table_t *t, size_t i);

static json_t *array_of(const board_table_t *t, size_t n, item_fn item)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, item(t, i)) != 0) { /* NULL item (no memory) included */
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *course_at(const board_table_t *t, size_t i) { return json_incref(t->courses[i].rec); }
static json_t *conn_at(const board_table_t *t, size_t i) { return conn_summary(&t->conns[i]); }

/* newest first */
static json_t *change_at(const board_table_t *t, size_t i)
{
    return json_incref(t->ring[(t->head + t->max_changes - 1 - i) % t->max_changes]);
}

json_t *board_table_courses(const board_table_t *t)
{
    return array_of(t, t->n_courses, course_at);
}

json_t *board_table_snapshot(const board_table_t *t)
{
    return json_pack("{s:o, s:o, s:o}", "courses", board_table_courses(t), "connections",
                     array_of(t, t->n_conns, conn_at), "changes", array_of(t, t->n_changes, change_at));
}

void board_table_stats(const board_table_t *t, board_stats_t *out)
{
    *out = (board_stats_t){t->n_courses, t->n_conns, t->n_changes, t->bad_courses, t->bad_changes};
}

/* ---- lifecycle ---- */

board_table_t *board_table_new(size_t max_changes)
{
    board_table_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->max_changes = max_changes ? max_changes : 1;
    if (!(t->ring = calloc(t->max_changes, sizeof(*t->ring)))) {
        free(t);
        return NULL;
    }
    return t;
}

void board_table_destroy(board_table_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_courses; i++) {
        free(t->courses[i].conn);
        free(t->courses[i].course);
        json_decref(t->courses[i].rec);
    }
    for (size_t i = 0; i < t->n_conns; i++) {
        free(t->conns[i].id);
        json_decref(t->conns[i].itype);
        json_decref(t->conns[i].tenant);
        json_decref(t->conns[i].last_at);
    }
    for (size_t i = 0; i < t->max_changes; i++)
        json_decref(t->ring[i]);
    free(t->courses);
    free(t->conns);
    free(t->ring);
    free(t);
}
