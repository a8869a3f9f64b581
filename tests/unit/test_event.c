/* test_event.c - CloudEvents attributes, deterministic ids, JSON payload. */
#include "ls_activity.h"
#include "ls_diff.h"
#include "ls_err.h"
#include "ls_event.h"
#include "ls_hash.h"
#include "ls_state.h"
#include "ls_event_ref.h"
#include "ls_test.h"
#include "ls_test_activity.h"

#include <ctype.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>


static const char *BEFORE = "\"id\":\"act-1\",\"student_id\":\"stu-9\",\"course_id\":\"crs-2\","
                            "\"is_completed\":false,\"progress_percentage\":40,"
                            "\"updated_at\":\"2026-11-27T14:00:00Z\"";
static const char *AFTER = "\"id\":\"act-1\",\"student_id\":\"stu-9\",\"course_id\":\"crs-2\","
                           "\"is_completed\":true,\"progress_percentage\":100.0,"
                           "\"completed_at\":\"2026-11-27T14:09:48.120Z\","
                           "\"updated_at\":\"2026-11-27T14:09:50Z\"";

static ls_event_ctx_t ctx_default(void)
{
    ls_event_ctx_t c = {"conn-7", "moodle", "tenant-42", "full", "job-1", INT64_C(1795788600000), NULL};
    return c;
}

/* Build an event; asserts success and returns the parsed value (new reference). */
static json_t *build(const ls_event_ctx_t *c, const ls_activity_t *b, const ls_activity_t *a,
                     ls_event_t *ev)
{
    ls_diff_t d;
    char err[256] = "";
    ls_diff_compute(b, a, &d);
    int rc = ls_event_build(c, b, a, &d, ev, err, sizeof(err));
    CU_ASSERT_EQUAL(rc, LS_OK);
    if (rc != LS_OK) {
        fprintf(stderr, "\nls_event_build: %s\n", err);
        return NULL;
    }
    CU_ASSERT_EQUAL(ev->value_len, strlen(ev->value));
    json_error_t je;
    json_t *v = json_loads(ev->value, 0, &je);
    CU_ASSERT_PTR_NOT_NULL(v);
    return v;
}

static void id_of(const ls_activity_t *b, const ls_activity_t *a, const char *conn, char *out)
{
    uint8_t pb[LS_STATE_MAX], pa[LS_STATE_MAX];
    size_t lb = 0, la = 0;
    if (b != NULL) {
        CU_ASSERT_EQUAL(ls_state_pack(b, pb, sizeof(pb), &lb), LS_OK);
    }
    if (a != NULL) {
        CU_ASSERT_EQUAL(ls_state_pack(a, pa, sizeof(pa), &la), LS_OK);
    }
    ls_event_id(conn, (a != NULL ? a : b)->id, b ? pb : NULL, lb, a ? pa : NULL, la, out);
}

static void put_part(uint8_t *buf, size_t *n, const void *data, uint32_t len)
{
    for (int i = 0; i < 4; i++)
        buf[(*n)++] = (uint8_t)(len >> (8 * i));
    if (len != UINT32_C(0xFFFFFFFF)) {
        memcpy(buf + *n, data, len);
        *n += len;
    }
}

/* The documented algorithm, recomputed from scratch over a flat buffer. */
static void test_id_algorithm(void)
{
    const uint8_t after[] = {1, 0, 0, 0, 0};
    uint8_t buf[64];
    size_t n = 0;
    put_part(buf, &n, "conn", 4);
    put_part(buf, &n, "a1", 2);
    put_part(buf, &n, NULL, UINT32_C(0xFFFFFFFF));
    put_part(buf, &n, after, sizeof(after));
    char want[40], got[LS_EVENT_ID_LEN + 1];
    snprintf(want, sizeof(want), "%016" PRIx64 "%016" PRIx64, ls_hash64(buf, n, LS_HASH_SEED),
             ls_hash64(buf, n, LS_HASH_SEED ^ UINT64_C(0x9e3779b97f4a7c15)));
    ls_event_id("conn", "a1", NULL, 0, after, sizeof(after), got);
    CU_ASSERT_STRING_EQUAL(got, want);
    CU_ASSERT_EQUAL(strlen(got), LS_EVENT_ID_LEN);
    for (int i = 0; i < LS_EVENT_ID_LEN; i++)
        CU_ASSERT(isxdigit((unsigned char)got[i]) && !isupper((unsigned char)got[i]));
    /* NULL and 0-length both mean "no state" */
    char got2[LS_EVENT_ID_LEN + 1];
    ls_event_id("conn", "a1", after, 0, after, sizeof(after), got2);
    CU_ASSERT_STRING_EQUAL(got, got2);
}

static void test_id_properties(void)
{
    ls_activity_t b = ls_test_rec(BEFORE), a = ls_test_rec(AFTER), b2 = ls_test_rec(BEFORE);
    char i1[LS_EVENT_ID_LEN + 1], i2[LS_EVENT_ID_LEN + 1];
    id_of(&b, &a, "conn-7", i1);
    id_of(&b, &a, "conn-7", i2);
    CU_ASSERT_STRING_EQUAL(i1, i2);
    b2.progress_percentage = 41;
    id_of(&b2, &a, "conn-7", i2);
    CU_ASSERT_STRING_NOT_EQUAL(i1, i2);          /* different before */
    id_of(NULL, &a, "conn-7", i2);
    CU_ASSERT_STRING_NOT_EQUAL(i1, i2);          /* created vs changed */
    id_of(&b, &a, "conn-8", i2);
    CU_ASSERT_STRING_NOT_EQUAL(i1, i2);          /* different connection */
    id_of(&a, &b, "conn-7", i2);
    CU_ASSERT_STRING_NOT_EQUAL(i1, i2);          /* direction matters */
    /* length prefixes keep the parts apart */
    ls_event_id("ab", "c", NULL, 0, NULL, 0, i1);
    ls_event_id("a", "bc", NULL, 0, NULL, 0, i2);
    CU_ASSERT_STRING_NOT_EQUAL(i1, i2);
    const uint8_t s[] = {1, 0, 0, 0, 0};
    ls_event_id("a", "b", s, sizeof(s), NULL, 0, i1);
    ls_event_id("a", "b", NULL, 0, s, sizeof(s), i2);
    CU_ASSERT_STRING_NOT_EQUAL(i1, i2);
}

static void test_id_independent_of_observation(void)
{
    ls_activity_t b = ls_test_rec(BEFORE), a = ls_test_rec(AFTER);
    ls_event_ctx_t c1 = ctx_default(), c2 = ctx_default();
    c2.observed_at_ms += 3600000;
    c2.job_id = NULL;
    c2.mode = "webhook";
    c2.integration_type = "canvas";
    c2.external_xref = NULL;
    ls_event_t e1, e2;
    json_t *v1 = build(&c1, &b, &a, &e1), *v2 = build(&c2, &b, &a, &e2);
    CU_ASSERT_STRING_EQUAL(e1.id, e2.id);
    char direct[LS_EVENT_ID_LEN + 1];
    id_of(&b, &a, "conn-7", direct);
    CU_ASSERT_STRING_EQUAL(e1.id, direct);
    CU_ASSERT_STRING_NOT_EQUAL(e1.time, e2.time);
    json_decref(v1);
    json_decref(v2);
    ls_event_release(&e1);
    ls_event_release(&e2);
}

static void check_string(json_t *o, const char *key, const char *want)
{
    json_t *v = json_object_get(o, key);
    CU_ASSERT(json_is_string(v));
    if (json_is_string(v)) {
        CU_ASSERT_STRING_EQUAL(json_string_value(v), want);
    } else {
        fprintf(stderr, "\nkey '%s' is not a string\n", key);
    }
}

static void test_completed_event(void)
{
    ls_activity_t b = ls_test_rec(BEFORE), a = ls_test_rec(AFTER);
    ls_event_ctx_t c = ctx_default();
    ls_event_t ev;
    json_t *v = build(&c, &b, &a, &ev);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_STRING_EQUAL(ev.type, "lms.activity.completed");
    CU_ASSERT_STRING_EQUAL(ev.source, "/connections/conn-7");
    CU_ASSERT_STRING_EQUAL(ev.subject, "activities/act-1");
    CU_ASSERT_STRING_EQUAL(ev.time, "2026-11-27T14:10:00Z");
    CU_ASSERT_STRING_EQUAL(ev.key, "conn-7/stu-9");

    CU_ASSERT_EQUAL(json_object_size(v), 9);
    check_string(v, "connection_id", "conn-7");
    check_string(v, "integration_type", "moodle");
    check_string(v, "tenant", "tenant-42");
    check_string(v, "activity_id", "act-1");
    check_string(v, "type", "completed");
    json_t *jb = json_object_get(v, "before"), *ja = json_object_get(v, "after");
    CU_ASSERT(json_is_object(jb));
    CU_ASSERT(json_is_object(ja));
    CU_ASSERT(json_equal(json_object_get(jb, "is_completed"), json_false()));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(jb, "progress_percentage")), 40);
    CU_ASSERT(json_equal(json_object_get(ja, "is_completed"), json_true()));
    CU_ASSERT(json_is_integer(json_object_get(ja, "progress_percentage"))); /* 100.0 -> 100 */
    check_string(ja, "completed_at", "2026-11-27T14:09:48.120Z");
    check_string(ja, "id", "act-1");
    CU_ASSERT_PTR_NULL(json_object_get(jb, "completed_at")); /* absent stays absent */
    json_t *ch = json_object_get(v, "changed");
    CU_ASSERT_EQUAL_FATAL(json_array_size(ch), 3);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(ch, 0)), "is_completed");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(ch, 1)), "progress_percentage");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(ch, 2)), "completed_at");
    json_t *ob = json_object_get(v, "observed");
    CU_ASSERT_EQUAL(json_object_size(ob), 3);
    check_string(ob, "mode", "full");
    check_string(ob, "at", "2026-11-27T14:10:00Z");
    check_string(ob, "job_id", "job-1");
    json_decref(v);
    ls_event_release(&ev);
    CU_ASSERT_PTR_NULL(ev.value);
    ls_event_release(&ev); /* idempotent */
}

static void test_created_event_nulls(void)
{
    ls_activity_t a = ls_test_rec("\"id\":\"act-2\",\"progress_percentage\":null");
    ls_event_ctx_t c = ctx_default();
    c.integration_type = NULL;
    c.external_xref = NULL;
    c.job_id = NULL;
    c.mode = "incremental";
    ls_event_t ev;
    json_t *v = build(&c, NULL, &a, &ev);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_STRING_EQUAL(ev.type, "lms.activity.created");
    CU_ASSERT_STRING_EQUAL(ev.key, "conn-7/activity/act-2"); /* no student */
    CU_ASSERT(json_is_null(json_object_get(v, "before")));
    CU_ASSERT(json_is_null(json_object_get(v, "integration_type")));
    CU_ASSERT(json_is_null(json_object_get(v, "tenant")));
    check_string(v, "type", "created");
    json_t *ja = json_object_get(v, "after");
    CU_ASSERT(json_is_null(json_object_get(ja, "progress_percentage")));
    json_t *ch = json_object_get(v, "changed");
    CU_ASSERT_EQUAL(json_array_size(ch), 1);
    json_t *ob = json_object_get(v, "observed");
    CU_ASSERT(json_is_null(json_object_get(ob, "job_id")));
    check_string(ob, "mode", "incremental");
    json_decref(v);
    ls_event_release(&ev);
}

static void test_removed_event(void)
{
    ls_activity_t b = ls_test_rec(BEFORE);
    ls_event_ctx_t c = ctx_default();
    ls_diff_t d = {LS_CHANGE_REMOVED, 0, 0};
    ls_event_t ev;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(ls_event_build(&c, &b, NULL, &d, &ev, err, sizeof(err)), LS_OK);
    CU_ASSERT_STRING_EQUAL(ev.type, "lms.activity.removed");
    CU_ASSERT_STRING_EQUAL(ev.subject, "activities/act-1");
    CU_ASSERT_STRING_EQUAL(ev.key, "conn-7/stu-9"); /* student from before */
    json_t *v = json_loads(ev.value, 0, NULL);
    CU_ASSERT(json_is_object(json_object_get(v, "before")));
    CU_ASSERT(json_is_null(json_object_get(v, "after")));
    CU_ASSERT_EQUAL(json_array_size(json_object_get(v, "changed")), 0);
    check_string(v, "activity_id", "act-1");
    char direct[LS_EVENT_ID_LEN + 1];
    id_of(&b, NULL, "conn-7", direct);
    CU_ASSERT_STRING_EQUAL(ev.id, direct);
    json_decref(v);
    ls_event_release(&ev);
}

static void test_deterministic_bytes(void)
{
    ls_activity_t b = ls_test_rec(BEFORE), a = ls_test_rec(AFTER);
    ls_event_ctx_t c = ctx_default();
    ls_event_t e1, e2;
    json_t *v1 = build(&c, &b, &a, &e1), *v2 = build(&c, &b, &a, &e2);
    CU_ASSERT_STRING_EQUAL(e1.value, e2.value);
    CU_ASSERT_STRING_EQUAL(e1.key, e2.key);
    /* compact and key-sorted */
    CU_ASSERT_PTR_NULL(strchr(e1.value, '\n'));
    const char *head = "{\"activity_id\":\"act-1\",\"after\":{";
    CU_ASSERT(strncmp(e1.value, head, strlen(head)) == 0);
    json_decref(v1);
    json_decref(v2);
    ls_event_release(&e1);
    ls_event_release(&e2);
}

static void expect_build_fails(const ls_event_ctx_t *c, const ls_activity_t *b,
                               const ls_activity_t *a, ls_change_type_t t, const char *substr)
{
    ls_diff_t d = {t, 0, 0};
    ls_event_t ev;
    char err[256] = "";
    int rc = ls_event_build(c, b, a, &d, &ev, err, sizeof(err));
    CU_ASSERT_EQUAL(rc, LS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, substr));
    CU_ASSERT_PTR_NULL(ev.value);
    if (rc != LS_EINVAL || strstr(err, substr) == NULL)
        fprintf(stderr, "\nrc=%d err=\"%s\", wanted \"%s\"\n", rc, err, substr);
}

static void test_build_errors(void)
{
    ls_activity_t b = ls_test_rec(BEFORE), a = ls_test_rec(AFTER), other = ls_test_rec("\"id\":\"act-X\"");
    ls_event_ctx_t c = ctx_default();
    expect_build_fails(&c, &b, &a, LS_CHANGE_NONE, "no change");
    expect_build_fails(&c, &b, NULL, LS_CHANGE_UPDATED, "missing after");
    expect_build_fails(&c, NULL, NULL, LS_CHANGE_REMOVED, "missing after");
    expect_build_fails(&c, &b, &other, LS_CHANGE_UPDATED, "ids differ");
    c.mode = "poll";
    expect_build_fails(&c, &b, &a, LS_CHANGE_UPDATED, "mode");
    c = ctx_default();
    c.connection_id = NULL;
    expect_build_fails(&c, &b, &a, LS_CHANGE_UPDATED, "connection");
    c.connection_id = "";
    expect_build_fails(&c, &b, &a, LS_CHANGE_UPDATED, "connection");

    char longconn[400];
    memset(longconn, 'c', sizeof(longconn) - 1);
    longconn[sizeof(longconn) - 1] = '\0';
    c = ctx_default();
    c.connection_id = longconn;
    expect_build_fails(&c, &b, &a, LS_CHANGE_UPDATED, "source longer than");
    c.integration_type = "bad\xff utf8";
    c.connection_id = "conn-7";
    expect_build_fails(&c, &b, &a, LS_CHANGE_UPDATED, "cannot encode");
}

static void test_long_ids_fit(void)
{
    /* maximum-length activity and student ids with a realistic connection id */
    char body[900], id[LS_STR_MAX + 1], stu[LS_STR_MAX + 1];
    memset(id, 'i', LS_STR_MAX);
    id[LS_STR_MAX] = '\0';
    memset(stu, 's', LS_STR_MAX);
    stu[LS_STR_MAX] = '\0';
    snprintf(body, sizeof(body), "\"id\":\"%s\",\"student_id\":\"%s\"", id, stu);
    ls_activity_t a = ls_test_rec(body);
    ls_event_ctx_t c = ctx_default();
    c.connection_id = "6650f3a2b1c4d5e6f7a8b9c0";
    ls_event_t ev;
    json_t *v = build(&c, NULL, &a, &ev);
    CU_ASSERT_EQUAL(strlen(ev.subject), 11 + LS_STR_MAX);
    CU_ASSERT_EQUAL(strlen(ev.key), 24 + 1 + LS_STR_MAX);
    json_decref(v);
    ls_event_release(&ev);
}

/* ---- random inputs for the differential test (fixed seed) ---- */

static uint64_t rng_state;

static uint64_t rnd(void) /* splitmix64 */
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static unsigned rnd_below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* Pieces strings are made of: plain text, every escape jansson knows, other
 * control characters, '/', DEL and 2-, 3- and 4-byte UTF-8. */
static const char *const PIECES[] = {
    "a", "Z", "0", " ", "act-", "-", "_", ":", "/", "\"", "\\", "\b", "\f", "\n", "\r",
    "\t", "\x01", "\x1f", "\x1b", "\x7f", "\xc3\xa9", "\xc2\x80", "\xdf\xbf", "\xe2\x82\xac",
    "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x9f\x98\x80",
    "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "u00", "\\u0041",
};

/* Byte sequences json_string() refuses: stray continuation, C0/C1, F5+,
 * truncated, overlong, surrogate, above U+10FFFF. */
static const char *const INVALID[] = {
    "\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xf5\x80\x80\x80", "\xff", "\xc3", "\xe2\x82",
    "\xf0\x9f\x98", "\xe0\x80\x80", "\xf0\x80\x80\x80", "\xed\xa0\x80", "\xed\xbf\xbf",
    "\xf4\x90\x80\x80", "\xc3\x41",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A random string of at most max bytes (never cut inside a piece); invalid
 * UTF-8 is spliced in with probability 1/bad_one_in (0: never). */
static void rnd_string(char *out, size_t max, unsigned bad_one_in)
{
    size_t n = 0, target = rnd_below(4) == 0 ? max : rnd_below((unsigned)max + 1);
    bool bad = bad_one_in != 0 && rnd_below(bad_one_in) == 0;
    size_t bad_at = bad ? rnd_below((unsigned)target + 1) : SIZE_MAX;
    for (;;) {
        const char *piece = PIECES[rnd_below(NELEM(PIECES))];
        if (n >= bad_at) {
            piece = INVALID[rnd_below(NELEM(INVALID))];
            bad_at = SIZE_MAX;
        }
        size_t len = strlen(piece);
        if (n + len > target)
            break;
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
}

static const double SPECIAL_NUMBERS[] = {
    0.0, -0.0, 1.0, -1.0, 0.1, 0.5, -1.5, 100.0, 40.0, 33.333333333333336, 66.66666666666667,
    99.99999999999999, 1e300, -1e300, 1e-5, 1e-7, 1.5e-10, 5e-324, DBL_MIN, -DBL_MIN, DBL_MAX,
    -DBL_MAX, 1e16, 1e17, 1e21, 123456789012345678.0, 9007199254740992.0, -9007199254740992.0,
    9007199254740994.0, -9007199254740994.0, 9007199254740991.0, 4503599627370495.5, 1e15 + 0.3,
    0.30000000000000004, 2.5e-5, 1.0000000000000002, 12345.678,
};

static double rnd_number(void)
{
    switch (rnd_below(6)) {
    case 0: return SPECIAL_NUMBERS[rnd_below(NELEM(SPECIAL_NUMBERS))];
    case 1: return (double)rnd_below(101);                       /* 0..100 */
    case 2: return (double)rnd_below(100001) / 1000.0;           /* 3 decimals */
    case 3: return (double)(int64_t)(rnd() >> 10) * (rnd_below(2) ? 1 : -1);
    case 4: {                                                    /* any finite bits */
        double d;
        do {
            uint64_t bits = rnd();
            memcpy(&d, &bits, sizeof(d));
        } while (!isfinite(d));
        return d;
    }
    default: return (double)rnd_below(1000) / 3.0;
    }
}

static int64_t rnd_instant(void)
{
    switch (rnd_below(6)) {
    case 0: return INT64_C(1700000000000) + (int64_t)rnd_below(100000000) * 1000; /* whole seconds */
    case 5: /* years 0000-9999 */
        return INT64_C(-62167219200000) + (int64_t)(rnd() % UINT64_C(315569520000000));
    case 1: return INT64_C(1700000000000) + (int64_t)(rnd() % UINT64_C(100000000000));
    case 2: return (int64_t)rnd();                                               /* any int64 */
    case 3: {
        static const int64_t edges[] = {0, -1, 1, 999, -1000, INT64_MAX, INT64_MIN, INT64_MIN + 1,
                                        INT64_C(253402300799999), INT64_C(253402300800000),
                                        INT64_C(-62135596800000), INT64_C(-62167219200000),
                                        INT64_C(-62167219200001), INT64_C(951782400000),
                                        INT64_C(-2203891200000), INT64_C(-86400001)};
        return edges[rnd_below(NELEM(edges))];
    }
    default: return -(int64_t)(rnd() % UINT64_C(100000000000000));
    }
}

/* Every presence state for every field, random values underneath (a null or
 * absent field keeps garbage, even invalid UTF-8, which must not leak). */
static void rnd_activity(ls_activity_t *a, const char *id, unsigned bad_one_in)
{
    ls_activity_clear(a);
    snprintf(a->id, sizeof(a->id), "%s", id);
    for (int f = 0; f < LS_F__COUNT; f++)
        a->pres[f] = (uint8_t)rnd_below(3);
    char *strs[] = {a->course_id, a->student_id, a->content_id, a->assigned_grade};
    for (size_t i = 0; i < NELEM(strs); i++)
        rnd_string(strs[i], rnd_below(8) == 0 ? LS_STR_MAX : 24, bad_one_in);
    a->is_completed = rnd_below(2) != 0;
    a->progress_percentage = rnd_number();
    a->duration_minutes = rnd_number();
    a->started_at = rnd_instant();
    a->completed_at = rnd_instant();
    a->created_at = rnd_instant();
    a->updated_at = rnd_instant();
}

/* A context string: NULL, short, or (rarely) long enough to move the payload
 * off the writer's stack array. */
static const char *rnd_ctx_string(char *buf, size_t cap, bool nullable, unsigned bad_one_in)
{
    if (nullable && rnd_below(3) == 0)
        return NULL;
    rnd_string(buf, rnd_below(500) == 0 ? cap - 1 : 16, bad_one_in);
    return buf;
}

#define DIFF_CASES 200000
#define LONG_CTX 40000

typedef struct {
    unsigned mismatches, rejected, accepted, early;
} diff_stats_t;

/* The attributes as the snprintf-based code before the direct writer made
 * them; 0 when ev matches. */
static int attrs_differ(const ls_event_ctx_t *c, const ls_activity_t *b, const ls_activity_t *a,
                        const ls_diff_t *d, const ls_event_t *ev)
{
    const ls_activity_t *cur = a != NULL ? a : b, *stu = NULL;
    char want[2048], id[LS_EVENT_ID_LEN + 1], conn[512];
    int bad = 0;
    const char *ws = c->workspace != NULL ? c->workspace : "";
    snprintf(conn, sizeof(conn), "%s%s%s", ws, ws[0] ? ":" : "", c->connection_id);
    snprintf(want, sizeof(want), "lms.activity.%s", ls_change_type_name(d->type));
    bad |= strcmp(ev->type, want) != 0;
    if (ws[0])
        snprintf(want, sizeof(want), "/workspaces/%s/connections/%s", ws, c->connection_id);
    else
        snprintf(want, sizeof(want), "/connections/%s", c->connection_id);
    bad |= strcmp(ev->source, want) != 0;
    snprintf(want, sizeof(want), "activities/%s", cur->id);
    bad |= strcmp(ev->subject, want) != 0;
    if (a != NULL && a->pres[LS_F_STUDENT_ID] == LS_PRESENT && a->student_id[0] != '\0')
        stu = a;
    else if (b != NULL && b->pres[LS_F_STUDENT_ID] == LS_PRESENT && b->student_id[0] != '\0')
        stu = b;
    if (stu != NULL)
        snprintf(want, sizeof(want), "%s/%s", conn, stu->student_id);
    else
        snprintf(want, sizeof(want), "%s/activity/%s", conn, cur->id);
    bad |= strcmp(ev->key, want) != 0;
    id_of(b, a, conn, id);
    bad |= strcmp(ev->id, id) != 0;
    return bad;
}

static void diff_one(const ls_event_ctx_t *c, const ls_activity_t *b, const ls_activity_t *a,
                     const ls_diff_t *d, unsigned i, diff_stats_t *st)
{
    ls_event_t ev;
    char err[512] = "";
    int rc = ls_event_build(c, b, a, d, &ev, err, sizeof(err));
    if (rc != LS_OK && strstr(err, "cannot encode") == NULL) {
        /* refused before the payload by code this change did not touch
         * (ls_state_pack refuses a present string that is not UTF-8) */
        CU_ASSERT_EQUAL(rc, LS_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot pack"));
        st->early++;
        return;
    }
    char time[LS_TIME_BUFSZ];
    char *want = ref_payload(c, b, a, d, ls_time_format(c->observed_at_ms, time));
    bool same = want == NULL
                    ? rc == LS_EINVAL && ev.value == NULL && strstr(err, "cannot encode") != NULL
                    : rc == LS_OK && ev.value_len == strlen(want) &&
                          memcmp(ev.value, want, ev.value_len + 1) == 0 &&
                          attrs_differ(c, b, a, d, &ev) == 0;
    if (!same && st->mismatches++ < 5)
        fprintf(stderr, "\ncase %u: rc=%d err=\"%s\"\n  new: %s\n  ref: %s\n", i, rc, err,
                ev.value != NULL ? ev.value : "(null)", want != NULL ? want : "(null)");
    if (want == NULL)
        st->rejected++;
    else
        st->accepted++;
    free(want);
    ls_event_release(&ev);
}

/* The direct writer against the jansson reference on DIFF_CASES random events:
 * byte-equal output, or LS_EINVAL exactly where the reference fails. */
static void test_differential(void)
{
    static char conn[200], integ[LONG_CTX], xref[LONG_CTX], job[LONG_CTX], id[LS_STR_MAX + 1];
    static ls_activity_t before, after;
    static const char *const modes[] = {"full", "incremental", "webhook"};
    diff_stats_t st = {0, 0, 0, 0};
    rng_state = UINT64_C(20261127);
    for (unsigned i = 0; i < DIFF_CASES; i++) {
        unsigned bad = rnd_below(4) == 0 ? 20 : 0; /* a quarter of cases may carry bad UTF-8 */
        rnd_string(id, rnd_below(10) == 0 ? LS_STR_MAX : 20, bad);
        if (id[0] == '\0')
            snprintf(id, sizeof(id), "act-%u", i);
        ls_event_ctx_t c;
        do
            c.connection_id = rnd_ctx_string(conn, sizeof(conn), false, bad);
        while (c.connection_id[0] == '\0');
        c.integration_type = rnd_ctx_string(integ, sizeof(integ), true, bad);
        c.external_xref = rnd_ctx_string(xref, sizeof(xref), true, bad);
        c.job_id = rnd_ctx_string(job, sizeof(job), true, bad);
        c.mode = modes[rnd_below(3)];
        c.observed_at_ms = rnd_instant();
        c.workspace = rnd_below(4) == 0 ? "eu" : rnd_below(2) ? "" : NULL;
        rnd_activity(&before, id, bad);
        rnd_activity(&after, id, bad);
        ls_diff_t d = {(ls_change_type_t)(1 + rnd_below(LS_CHANGE_REMOVED)), (uint32_t)rnd(), 0};
        if (rnd_below(2))
            d.changed_mask &= (1u << LS_F__COUNT) - 1;
        switch (rnd_below(4)) {
        case 0: /* created */
            diff_one(&c, NULL, &after, &d, i, &st);
            break;
        case 1: /* removed */
            d.type = LS_CHANGE_REMOVED;
            diff_one(&c, &before, NULL, &d, i, &st);
            break;
        default:
            diff_one(&c, &before, &after, &d, i, &st);
            break;
        }
    }
    fprintf(stderr, "\n  differential: %u cases, %u byte-equal, %u rejected by both, "
            "%u refused before the payload, %u mismatches\n",
            DIFF_CASES, st.accepted, st.rejected, st.early, st.mismatches);
    CU_ASSERT_EQUAL(st.mismatches, 0);
    CU_ASSERT_EQUAL(st.accepted + st.rejected + st.early, DIFF_CASES);
    CU_ASSERT(st.early <= DIFF_CASES / 20);
    CU_ASSERT(st.accepted >= DIFF_CASES / 2);  /* the comparison is mostly of bytes */
    CU_ASSERT(st.rejected >= DIFF_CASES / 100); /* and the rejection path is exercised */
}

/* ls_activity_write_json against json_dumps(ls_activity_to_json()) on random
 * records, including what ls_event_build never passes it (strings that are
 * not UTF-8, non-finite numbers): equal bytes, or 0 exactly where
 * ls_activity_to_json fails. */
static void test_activity_differential(void)
{
    static ls_activity_t a;
    static char out[LS_ACTIVITY_JSON_MAX];
    unsigned mismatches = 0, refused = 0;
    rng_state = UINT64_C(19700101);
    for (unsigned i = 0; i < DIFF_CASES / 2; i++) {
        char id[LS_STR_MAX + 1];
        rnd_string(id, rnd_below(10) == 0 ? LS_STR_MAX : 20, 50);
        rnd_activity(&a, id, 10);
        if (rnd_below(50) == 0)
            a.progress_percentage = rnd_below(2) ? NAN : -INFINITY;
        size_t n = ls_activity_write_json(&a, out);
        json_t *j = ls_activity_to_json(&a);
        char *want = j != NULL ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
        bool same = want == NULL ? n == 0 : n == strlen(want) && memcmp(out, want, n) == 0;
        if (!same && mismatches++ < 5)
            fprintf(stderr, "\ncase %u:\n  new: %.*s\n  ref: %s\n", i, (int)n, out,
                    want != NULL ? want : "(null)");
        refused += want == NULL;
        free(want);
        json_decref(j);
    }
    fprintf(stderr, "\n  activity differential: %u cases, %u refused by both, %u mismatches\n",
            DIFF_CASES / 2, refused, mismatches);
    CU_ASSERT_EQUAL(mismatches, 0);
    CU_ASSERT(refused >= DIFF_CASES / 100 && refused <= DIFF_CASES / 4);
}

static ls_activity_t rec_all_fields(void)
{
    return ls_test_rec("\"id\":\"act-5\",\"course_id\":\"c\",\"student_id\":\"s\",\"content_id\":\"k\","
               "\"is_completed\":true,\"progress_percentage\":0.1,\"duration_minutes\":1e300,"
               "\"assigned_grade\":\"A\",\"started_at\":\"2026-01-02T03:04:05Z\","
               "\"completed_at\":\"2026-01-02T03:04:05.006Z\",\"created_at\":null,"
               "\"updated_at\":\"1969-12-31T23:59:59.999Z\"");
}

/* Exact bytes of one event, written out by hand: key order, separators,
 * number forms (%.17g, exponent without '+'), escapes (upper-case \u00XX,
 * '/' and DEL and UTF-8 as they are). */
static void test_golden_bytes(void)
{
    ls_activity_t a = rec_all_fields();
    snprintf(a.course_id, sizeof(a.course_id), "%s", "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f\xc3\xa9\xf0\x9f\x98\x80");
    ls_event_ctx_t c = ctx_default();
    c.job_id = NULL;
    ls_diff_t d = {LS_CHANGE_CREATED, (1u << LS_F_COURSE_ID) | (1u << LS_F_UPDATED_AT) | (1u << 31), 0};
    ls_event_t ev;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(ls_event_build(&c, NULL, &a, &d, &ev, err, sizeof(err)), LS_OK);
    const char *want =
        "{\"activity_id\":\"act-5\",\"after\":{\"assigned_grade\":\"A\","
        "\"completed_at\":\"2026-01-02T03:04:05.006Z\",\"content_id\":\"k\","
        "\"course_id\":\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001F\x7f\xc3\xa9\xf0\x9f\x98\x80\","
        "\"created_at\":null,\"duration_minutes\":1.0000000000000001e300,\"id\":\"act-5\","
        "\"is_completed\":true,\"progress_percentage\":0.10000000000000001,"
        "\"started_at\":\"2026-01-02T03:04:05Z\",\"student_id\":\"s\","
        "\"updated_at\":\"1969-12-31T23:59:59.999Z\"},\"before\":null,"
        "\"changed\":[\"course_id\",\"updated_at\"],\"connection_id\":\"conn-7\","
        "\"integration_type\":\"moodle\",\"observed\":{\"at\":\"2026-11-27T14:10:00Z\","
        "\"job_id\":null,\"mode\":\"full\"},\"tenant\":\"tenant-42\",\"type\":\"created\"}";
    CU_ASSERT_STRING_EQUAL(ev.value, want);
    CU_ASSERT_EQUAL(ev.value_len, strlen(want));
    ls_event_release(&ev);
}

/* Numbers as jansson prints them: integers within +-2^53 without ".0", other
 * values "%.17g" with ".0" added when integral, exponents shortened. */
static void test_number_forms(void)
{
    static const struct {
        double v;
        const char *json;
    } cases[] = {
        {0.0, "0"}, {-0.0, "0"}, {100.0, "100"}, {-7.0, "-7"}, {9007199254740992.0, "9007199254740992"},
        {-9007199254740992.0, "-9007199254740992"}, {9007199254740994.0, "9007199254740994.0"},
        {1e16, "10000000000000000.0"}, {1e17, "1e17"}, {33.333333333333336, "33.333333333333336"},
        {1e-5, "1.0000000000000001e-5"}, {-2.5e-300, "-2.5e-300"}, {0.5, "0.5"},
        {1e300, "1.0000000000000001e300"}, {5e-324, "4.9406564584124654e-324"},
    };
    for (size_t i = 0; i < NELEM(cases); i++) {
        ls_activity_t a = ls_test_rec("\"id\":\"n\"");
        a.pres[LS_F_PROGRESS] = LS_PRESENT;
        a.progress_percentage = cases[i].v;
        char out[LS_ACTIVITY_JSON_MAX], want[128];
        size_t n = ls_activity_write_json(&a, out);
        snprintf(want, sizeof(want), "{\"id\":\"n\",\"progress_percentage\":%s}", cases[i].json);
        CU_ASSERT_EQUAL(n, strlen(want));
        CU_ASSERT(n == strlen(want) && memcmp(out, want, n) == 0);
        if (n != strlen(want) || memcmp(out, want, n) != 0)
            fprintf(stderr, "\n%.17g: got %.*s, want %s\n", cases[i].v, (int)n, out, want);
    }
}

static void expect_bad_utf8(const ls_event_ctx_t *c, const ls_activity_t *b, const ls_activity_t *a,
                            const char *why)
{
    ls_diff_t d = {b == NULL ? LS_CHANGE_CREATED : a == NULL ? LS_CHANGE_REMOVED : LS_CHANGE_UPDATED,
                   1u << LS_F_COURSE_ID, 0};
    ls_event_t ev;
    char err[256] = "";
    int rc = ls_event_build(c, b, a, &d, &ev, err, sizeof(err));
    CU_ASSERT_EQUAL(rc, LS_EINVAL);
    CU_ASSERT_PTR_NULL(ev.value);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, why));
    if (rc != LS_EINVAL || strstr(err, why) == NULL)
        fprintf(stderr, "\nrc=%d err=\"%s\", wanted \"%s\"\n", rc, err, why);
    ls_event_release(&ev);
}

/* Invalid UTF-8 anywhere that is written is LS_EINVAL, as json_string()
 * refused it. A present string field of a record is refused earlier, by
 * ls_state_pack (for the event id); the id and the context strings by the
 * payload writer. */
static void test_invalid_utf8(void)
{
    ls_activity_t b = ls_test_rec(BEFORE), a = ls_test_rec(AFTER);
    const char *enc = "cannot encode payload of activity";
    for (size_t i = 0; i < NELEM(INVALID); i++) {
        char bad[32];
        snprintf(bad, sizeof(bad), "x%sy", INVALID[i]);
        ls_event_ctx_t c = ctx_default();
        c.connection_id = bad;
        expect_bad_utf8(&c, &b, &a, enc);
        c = ctx_default();
        c.integration_type = bad;
        expect_bad_utf8(&c, &b, &a, enc);
        c = ctx_default();
        c.external_xref = bad;
        expect_bad_utf8(&c, &b, &a, enc);
        c = ctx_default();
        c.job_id = bad;
        expect_bad_utf8(&c, &b, &a, enc);
        c = ctx_default();
        ls_activity_t bb = b, ab = a;
        snprintf(ab.id, sizeof(ab.id), "%s", bad);
        expect_bad_utf8(&c, NULL, &ab, enc);           /* the id of after */
        snprintf(bb.id, sizeof(bb.id), "%s", bad);
        expect_bad_utf8(&c, &bb, NULL, enc);           /* the id of before */
        ab = a;
        snprintf(ab.course_id, sizeof(ab.course_id), "%s", bad);
        expect_bad_utf8(&c, &b, &ab, "cannot pack");   /* a present field of after */
        bb = b;
        snprintf(bb.student_id, sizeof(bb.student_id), "%s", bad);
        expect_bad_utf8(&c, &bb, NULL, "cannot pack"); /* a present field of before */
        /* the writer refuses such a field itself, as ls_activity_to_json does */
        char out[LS_ACTIVITY_JSON_MAX];
        CU_ASSERT_EQUAL(ls_activity_write_json(&ab, out), 0);
        json_t *j = ls_activity_to_json(&ab);
        CU_ASSERT_PTR_NULL(j);
        json_decref(j);
    }
    /* a null field's leftover bytes are never written, so never checked */
    ls_activity_t n = a;
    snprintf(n.content_id, sizeof(n.content_id), "\xff");
    n.pres[LS_F_CONTENT_ID] = LS_NULL;
    ls_event_ctx_t c = ctx_default();
    ls_event_t ev;
    json_t *v = build(&c, NULL, &n, &ev);
    CU_ASSERT(json_is_null(json_object_get(json_object_get(v, "after"), "content_id")));
    json_decref(v);
    ls_event_release(&ev);
}

/* Context strings far larger than the writer's stack array: the heap path. */
static void test_large_payload(void)
{
    ls_activity_t b = ls_test_rec(BEFORE), a = ls_test_rec(AFTER);
    size_t n = 100000;
    char *big = malloc(n + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i % 3 == 0 ? '\x01' : 'a' + (int)(i % 26));
    big[n] = '\0';
    ls_event_ctx_t c = ctx_default();
    c.integration_type = big;
    c.job_id = big;
    ls_diff_t d;
    ls_diff_compute(&b, &a, &d);
    ls_event_t ev;
    char err[256], time[LS_TIME_BUFSZ];
    CU_ASSERT_EQUAL_FATAL(ls_event_build(&c, &b, &a, &d, &ev, err, sizeof(err)), LS_OK);
    char *want = ref_payload(&c, &b, &a, &d, ls_time_format(c.observed_at_ms, time));
    CU_ASSERT_PTR_NOT_NULL_FATAL(want);
    CU_ASSERT_EQUAL(ev.value_len, strlen(want));
    CU_ASSERT_STRING_EQUAL(ev.value, want);
    free(want);
    ls_event_release(&ev);
    free(big);
}

/* Worst-case records (every string LS_STR_MAX control characters, which
 * escape to 6 bytes each) fit LS_ACTIVITY_JSON_MAX and match the reference. */
static void test_worst_case_record(void)
{
    ls_activity_t a = rec_all_fields();
    char *strs[] = {a.id, a.course_id, a.student_id, a.content_id, a.assigned_grade};
    for (size_t i = 0; i < NELEM(strs); i++) {
        memset(strs[i], '\x01', LS_STR_MAX);
        strs[i][LS_STR_MAX] = '\0';
    }
    for (int f = 0; f < LS_F__COUNT; f++)
        a.pres[f] = LS_PRESENT;
    a.progress_percentage = -1.2345678901234567e-308;
    a.duration_minutes = -DBL_MAX;
    a.started_at = a.completed_at = a.created_at = a.updated_at = INT64_MIN;
    char *out = malloc(LS_ACTIVITY_JSON_MAX);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    size_t n = ls_activity_write_json(&a, out);
    json_t *j = ls_activity_to_json(&a);
    char *want = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    CU_ASSERT(n > 5 * 6 * LS_STR_MAX && n <= LS_ACTIVITY_JSON_MAX);
    CU_ASSERT(want != NULL && n == strlen(want) && memcmp(out, want, n) == 0);
    /* an id that fills its array without a NUL is refused, not over-read */
    memset(a.id, 'x', sizeof(a.id));
    CU_ASSERT_EQUAL(ls_activity_write_json(&a, out), 0);
    free(want);
    json_decref(j);
    free(out);
}

/* The same connection id in two workspaces: distinct id, key and source; "workspace" in the payload. */
static void test_workspace_event(void)
{
    ls_activity_t a = ls_test_rec("\"id\":\"act-2\",\"progress_percentage\":10");
    ls_event_ctx_t c = ctx_default();
    ls_event_t e1, e2;
    json_t *v1 = build(&c, NULL, &a, &e1);
    c.workspace = "eu";
    json_t *v2 = build(&c, NULL, &a, &e2);
    CU_ASSERT_FATAL(v1 && v2);
    CU_ASSERT_PTR_NULL(json_object_get(v1, "workspace"));
    check_string(v2, "workspace", "eu");
    check_string(v2, "connection_id", "conn-7");
    CU_ASSERT_STRING_EQUAL(e1.source, "/connections/conn-7");
    CU_ASSERT_STRING_EQUAL(e2.source, "/workspaces/eu/connections/conn-7");
    CU_ASSERT_STRING_EQUAL(e2.key, "eu:conn-7/activity/act-2");
    CU_ASSERT_STRING_NOT_EQUAL(e1.id, e2.id);
    json_decref(v1);
    json_decref(v2);
    ls_event_release(&e1);
    ls_event_release(&e2);
}

static CU_TestInfo event_tests[] = {
    {"workspace: id, key, source and payload", test_workspace_event},
    {"id algorithm", test_id_algorithm},
    {"id properties", test_id_properties},
    {"id independent of observation", test_id_independent_of_observation},
    {"completed event shape", test_completed_event},
    {"created event with nulls", test_created_event_nulls},
    {"removed event", test_removed_event},
    {"deterministic bytes", test_deterministic_bytes},
    {"build errors", test_build_errors},
    {"maximum-length ids fit", test_long_ids_fit},
    {"golden payload bytes", test_golden_bytes},
    {"number forms", test_number_forms},
    {"invalid UTF-8 is rejected", test_invalid_utf8},
    {"payload larger than the stack buffer", test_large_payload},
    {"worst-case record", test_worst_case_record},
    {"record writer vs jansson", test_activity_differential},
    {"differential vs jansson reference", test_differential},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_event", NULL, NULL, NULL, NULL, event_tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
