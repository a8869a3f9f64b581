/*
 * test_sandbox_render.c - the activity pages the server sends, written as
 * text by sb_world_list_activities_text / sb_world_get_activity_text, are
 * byte for byte what the reference path makes of the same request: the
 * jansson tree of sb_world_list_activities / sb_world_get_activity, with
 * the bad_record fault applied to the tree as sb_http.c applies it, dumped
 * with SB_JSON_DUMP_FLAGS. Checked over every profile, many
 * limit/offset/filter/sort/fields combinations, and again after each of
 * many mutations (clock ticks, control-API writes with awkward values,
 * deletes, re-creates, shift inserts and deletes). The writer's pieces
 * (timestamps, strings, reals, integers) are also checked against
 * sb_ts_format and jansson on their own.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ls_err.h"
#include "ls_test.h"
#include "sb_jsonw.h"
#include "sb_test_util.h"

#define ALL9 "coursera,go1,learnupon,d2l,successfactors_lms,udemy,docebo,moodle,sandbox_course_required"
#define NCONNS 9

static unsigned long long compared;     /* pages and records compared, for the summary */

static uint64_t rng_state = 0x12345678abcdefULL;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static sb_world_t *render_world(unsigned students, unsigned courses, unsigned contents)
{
    sb_world_config_t cfg;
    sb_world_config_default(&cfg);
    cfg.seed = 77;
    cfg.connections = NCONNS;
    cfg.students = students;
    cfg.courses = courses;
    cfg.contents = contents;
    cfg.nproviders = 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", ALL9);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        cfg.providers[cfg.nproviders++] = sb_profile_find(t);
    char err[128];
    sb_world_t *w = sb_world_new(&cfg, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    return w;
}

/* The reference: what sb_http.c used to send (tree, bad_record on the tree, json_dumps). */
static char *reference_text(json_t *body, bool bad)
{
    if (bad) {
        json_t *rec = json_is_array(body) ? json_array_get(body, 0) : body;
        if (json_is_object(rec))
            json_object_set_new(rec, "progress_percentage", json_string("fifty"));
    }
    char *s = json_dumps(body, SB_JSON_DUMP_FLAGS);
    json_decref(body);
    return s;
}

static void report_mismatch(const char *what, const char *conn, const char *ref, const char *got)
{
    size_t i = 0;
    while (ref[i] && ref[i] == got[i])
        i++;
    size_t from = i > 80 ? i - 80 : 0;
    fprintf(stderr, "\n%s %s: differ at byte %zu\n  ref: %.160s\n  got: %.160s\n", what, conn, i,
            ref + from, got + from);
}

/* One list request through both paths; the answers must be the same bytes (or the same error). */
static void check_list(sb_world_t *w, const char *conn, const sb_query_t *q, bool bad)
{
    json_t *tree = NULL;
    char rerr[160] = "", nerr[160] = "", *text = NULL;
    size_t len = 0;
    int rrc = sb_world_list_activities(w, conn, q, &tree, rerr, sizeof(rerr));
    int nrc = sb_world_list_activities_text(w, conn, q, bad, &text, &len, nerr, sizeof(nerr));
    CU_ASSERT_EQUAL(rrc, nrc);
    if (rrc != LS_OK || nrc != LS_OK) {
        CU_ASSERT_STRING_EQUAL(rerr, nerr);
        json_decref(tree);
        free(text);
        return;
    }
    char *ref = reference_text(tree, bad);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    CU_ASSERT_EQUAL(len, strlen(text));
    if (strcmp(ref, text) != 0) {
        report_mismatch("list", conn, ref, text);
        CU_FAIL("list page differs from the reference rendering");
    }
    compared++;
    free(ref);
    free(text);
}

static void check_get(sb_world_t *w, const char *conn, const char *id, const sb_query_t *q, bool bad)
{
    json_t *tree = NULL;
    char *text = NULL;
    size_t len = 0;
    int rrc = sb_world_get_activity(w, conn, id, q, &tree);
    int nrc = sb_world_get_activity_text(w, conn, id, q, bad, &text, &len);
    CU_ASSERT_EQUAL(rrc, nrc);
    if (rrc != LS_OK || nrc != LS_OK) {
        json_decref(tree);
        free(text);
        return;
    }
    char *ref = reference_text(tree, bad);
    CU_ASSERT_EQUAL(len, strlen(text));
    if (strcmp(ref, text) != 0) {
        report_mismatch("get", id, ref, text);
        CU_FAIL("single record differs from the reference rendering");
    }
    compared++;
    free(ref);
    free(text);
}

/* Parse a query string "k=v&k=v" the way the server hands it over (no URL decoding needed here). */
static int parse_query(const char *qs, sb_query_t *q)
{
    char buf[512], err[160];
    sb_kv_t kv[32];
    size_t n = 0;
    snprintf(buf, sizeof(buf), "%s", qs);
    for (char *save = NULL, *t = strtok_r(buf, "&", &save); t && n < 32; t = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(t, '=');
        if (eq)
            *eq = '\0';
        kv[n].key = t;
        kv[n].value = eq ? eq + 1 : NULL;
        n++;
    }
    return sb_query_parse(kv, n, q, err, sizeof(err));
}

static const char *const filters[] = {
    "", "course_id=crs-1", "course_id=crs-2&student_id=stu-3", "student_id=stu-1",
    "content_id=cnt-2", "course_id=crs-9999", "updated_gte=2026-01-20T00:00:00Z",
    "updated_gte=2026-01-01T00:00:00.000+00:00&course_id=crs-3", "student_id=nobody",
    "updated_gte=2027-01-01T00:00:00Z",
};
static const char *const sorts[] = {
    "", "sort=updated_at", "sort=updated_at&order=desc", "sort=created_at",
    "sort=created_at&order=desc", "sort=name&order=desc",
};
static const char *const fields[] = {
    "", "fields=id", "fields=id,raw", "fields=progress_percentage",
    "fields=updated_at&fields=created_at&fields=raw", "fields=is_completed,completed_at,nope",
    "fields=id,created_at,updated_at,course_id,student_id,content_id,is_completed,duration_minutes,"
    "assigned_grade,started_at,completed_at",
    "fields=raw",
};
static const char *const pages[] = {
    "", "limit=1", "limit=3&offset=1", "limit=10&offset=7", "limit=25&offset=25", "offset=29",
    "limit=1000", "limit=7&offset=1000", "limit=0&offset=2",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Every connection, a sweep of combinations (a random subset of the full product, plus its axes). */
static void check_all(sb_world_t *w, unsigned samples)
{
    for (unsigned c = 1; c <= NCONNS; c++) {
        char conn[16];
        snprintf(conn, sizeof(conn), "conn-%04u", c);
        for (unsigned i = 0; i < samples; i++) {
            char qs[512];
            size_t fi = rnd() % NELEM(filters), si = rnd() % NELEM(sorts);
            size_t pi = rnd() % NELEM(pages), di = rnd() % NELEM(fields);
            if (i < NELEM(pages))          /* the paging axis in full, no other option */
                fi = si = di = 0, pi = i;
            snprintf(qs, sizeof(qs), "%s&%s&%s&%s", filters[fi], sorts[si], pages[pi], fields[di]);
            sb_query_t q;
            CU_ASSERT_EQUAL_FATAL(parse_query(qs, &q), LS_OK);
            check_list(w, conn, &q, false);
            check_list(w, conn, &q, true);
        }
        /* every record alone, with and without a projection, and an unknown one */
        json_t *all = NULL;
        CU_ASSERT_EQUAL(sb_world_activities(w, conn, &all), LS_OK);
        size_t i;
        json_t *r;
        json_array_foreach(all, i, r) {
            sb_query_t q;
            CU_ASSERT_EQUAL(parse_query(fields[i % NELEM(fields)], &q), LS_OK);
            const char *id = json_string_value(json_object_get(r, "id"));
            check_get(w, conn, id, &q, i % 3 == 0);
        }
        json_decref(all);
        sb_query_t q;
        sb_query_init(&q);
        check_get(w, conn, "act-none", &q, false);
    }
    sb_query_t q;
    sb_query_init(&q);
    check_list(w, "conn-9999", &q, false);     /* unknown connection: same error */
}

static void test_pages_match_reference(void)
{
    sb_world_t *w = render_world(7, 4, 3);
    check_all(w, 400);
    sb_world_destroy(w);
}

/* A control-API write through sb_world_apply; the JSON is the request body's "set"/"unset". */
static void apply(sb_world_t *w, const char *conn, const char *id, const char *set, const char *unset,
                  bool force, int64_t now)
{
    json_t *js = set ? json_loads(set, 0, NULL) : NULL, *ju = unset ? json_loads(unset, 0, NULL) : NULL;
    CU_ASSERT_TRUE(!set || js);
    sb_apply_t req = { .connection_id = conn, .activity_id = id, .set = js, .unset = ju, .force = force };
    json_t *change = NULL;
    char err[160];
    sb_world_apply(w, &req, now, &change, err, sizeof(err));
    json_decref(change);
    json_decref(js);
    json_decref(ju);
}

/* Values the generator never makes, each through the control API. */
static const char *const odd_sets[] = {
    "{\"progress_percentage\":33.333333333333336}",
    "{\"progress_percentage\":1e20,\"duration_minutes\":-0.0}",
    "{\"progress_percentage\":1e-7,\"duration_minutes\":12.5}",
    "{\"progress_percentage\":-9007199254740993}",
    "{\"progress_percentage\":8999999999999999}",
    "{\"progress_percentage\":99.99999999999999}",
    "{\"progress_percentage\":null,\"assigned_grade\":null}",
    "{\"assigned_grade\":\"caf\\u00e9 \\\"quoted\\\" back\\\\slash\"}",
    "{\"assigned_grade\":\"tab\\tnl\\ncr\\rbs\\bff\\fone\\u0001del\\u007f\"}",
    "{\"assigned_grade\":\"\\ud83d\\ude00 \\u2028 / </script>\"}",
    "{\"course_id\":\"crs-\\u00e9\",\"student_id\":\"\"}",
    "{\"is_completed\":true,\"completed_at\":\"2026-02-03T04:05:06.789+02:00\"}",
    "{\"started_at\":\"1969-12-31T23:59:59.999Z\"}",
    "{\"started_at\":\"0001-01-01T00:00:00Z\",\"completed_at\":\"1900-02-28T12:00:00.5Z\"}",
    "{\"completed_at\":\"9999-12-31T23:59:59.999Z\",\"started_at\":\"9999-12-31T23:59:59-14:00\"}",
    "{\"created_at\":\"2000-02-29T23:59:59.001Z\",\"updated_at\":\"2100-03-01T00:00:00.010Z\"}",
    "{\"is_completed\":false}",
    "{\"duration_minutes\":7,\"content_id\":\"cnt-1\"}",
};

/* One random mutation of the kinds the sandbox has; returns a short name for failure messages. */
static void mutate_once(sb_world_t *w, unsigned step)
{
    char conn[16], id[64];
    unsigned c = 1 + (unsigned)(rnd() % NCONNS);
    snprintf(conn, sizeof(conn), "conn-%04u", c);
    json_t *all = NULL;
    sb_world_activities(w, conn, &all);
    size_t n = json_array_size(all);
    snprintf(id, sizeof(id), "%s",
             n ? json_string_value(json_object_get(json_array_get(all, rnd() % n), "id")) : "act-x");
    json_decref(all);
    int64_t now = SB_TEST_NOW + (int64_t)step * 1500;
    json_t *change = NULL;
    sb_query_t q;
    switch (rnd() % 7) {
    case 0:
    case 1:
        sb_world_tick(w, 1 + (unsigned)(rnd() % 20), now, NULL);
        break;
    case 2:
        apply(w, conn, id, odd_sets[rnd() % NELEM(odd_sets)], NULL, true, now);
        break;
    case 3:
        apply(w, conn, id, NULL, rnd() % 2 ? "[\"duration_minutes\",\"updated_at\"]" : "[\"progress_percentage\"]",
              false, now);
        break;
    case 4:                                  /* delete, then maybe re-create the same id */
        sb_world_remove(w, conn, id, now, &change);
        json_decref(change);
        if (rnd() % 2)
            apply(w, conn, id, "{\"is_completed\":false,\"course_id\":\"crs-1\"}", NULL, false, now + 1000);
        break;
    case 5:                                  /* shift insert, with filter values from the query */
        CU_ASSERT_EQUAL(parse_query(rnd() % 2 ? "offset=5&course_id=crs-2&student_id=stu-1" : "offset=3", &q),
                        LS_OK);
        sb_world_shift(w, conn, &q, false, now, &change);
        json_decref(change);
        break;
    default:                                 /* shift delete of an already served record */
        CU_ASSERT_EQUAL(parse_query(rnd() % 2 ? "offset=4&sort=created_at&order=desc" : "offset=9", &q), LS_OK);
        sb_world_shift(w, conn, &q, true, now, &change);
        json_decref(change);
        break;
    }
}

static void test_pages_match_across_mutations(void)
{
    sb_world_t *w = render_world(5, 3, 2);
    for (unsigned step = 0; step < 150; step++) {
        mutate_once(w, step);
        check_all(w, 25);
    }
    sb_world_destroy(w);
}

/* Filter values a client sends (and a shift insert copies into a record) that are not valid UTF-8. */
static void test_invalid_utf8_from_a_query(void)
{
    sb_world_t *w = render_world(3, 2, 1);
    static const char *const bad[] = {
        "offset=1&course_id=\xff\xfe", "offset=1&student_id=stu-\xc3",
        /* 46 ASCII bytes then a 2-byte sequence: the record keeps 47 bytes, cutting it in half */
        "offset=1&course_id=crs-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9",
        "offset=1&course_id=\xed\xa0\x80", "offset=1&content_id=\xf4\x90\x80\x80",
    };
    for (size_t i = 0; i < NELEM(bad); i++) {
        sb_query_t q;
        json_t *change = NULL;
        CU_ASSERT_EQUAL_FATAL(parse_query(bad[i], &q), LS_OK);
        for (unsigned c = 1; c <= NCONNS; c++) {
            char conn[16];
            snprintf(conn, sizeof(conn), "conn-%04u", c);
            CU_ASSERT_EQUAL(sb_world_shift(w, conn, &q, false, SB_TEST_NOW, &change), LS_OK);
            json_decref(change);
        }
    }
    check_all(w, 40);
    sb_world_destroy(w);
}

/* A profile whose vendor object jansson refuses: the reference omits "raw", so must the text. */
static void test_profile_with_odd_vendor_object(void)
{
    static sb_profile_t odd;
    odd = *sb_profile_find("d2l");
    odd.vendor_object = "bad\xff";
    sb_world_config_t cfg;
    sb_world_config_default(&cfg);
    cfg.connections = 2;
    cfg.nproviders = 2;
    cfg.providers[0] = &odd;
    static sb_profile_t quoted;
    quoted = *sb_profile_find("go1");
    quoted.vendor_object = "say \"hi\"\n";
    cfg.providers[1] = &quoted;
    char err[128];
    sb_world_t *w = sb_world_new(&cfg, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    for (unsigned c = 1; c <= 2; c++) {
        char conn[16];
        snprintf(conn, sizeof(conn), "conn-%04u", c);
        for (size_t i = 0; i < NELEM(fields); i++) {
            sb_query_t q;
            CU_ASSERT_EQUAL(parse_query(fields[i], &q), LS_OK);
            check_list(w, conn, &q, i % 2 == 0);
        }
    }
    sb_world_destroy(w);
}

/* ---- the writer's pieces on their own --------------------------------- */

static void check_ts(int64_t ms)
{
    for (int st = SB_TS_Z; st <= SB_TS_OFFSET; st++) {
        char ref[SB_TS_BUFSZ], got[SB_TS_BUFSZ];
        sb_ts_format((sb_ts_style_t)st, ms, ref);
        size_t n = sb_jsonw_ts_format((sb_ts_style_t)st, ms, got);
        CU_ASSERT_EQUAL(n, strlen(got));
        if (strcmp(ref, got) != 0) {
            fprintf(stderr, "\nts %lld style %d: ref %s got %s\n", (long long)ms, st, ref, got);
            CU_FAIL("timestamp differs from sb_ts_format");
        }
    }
}

static void test_timestamps_match_sb_ts_format(void)
{
    /* every day of 1970..2110 at its edges, and around the fast range's ends */
    for (int64_t day = 0; day < 366LL * 140; day++)
        for (int64_t d = -1; d <= 1; d++)
            check_ts(day * 86400000LL + d);
    static const int64_t edges[] = {
        0, -1, -999, -1000, -1001, 951782400000LL, 4107542400000LL, 253402300799000LL,
        253402300799999LL, 253402300800000LL, 253402300800001LL, -62135596800000LL, -62135596800001LL,
        -2208988800000LL,
    };
    for (size_t i = 0; i < NELEM(edges); i++)
        check_ts(edges[i]);
    for (int i = 0; i < 300000; i++)          /* random instants, years ~0 .. ~10500 */
        check_ts((int64_t)(rnd() % 393000000000000ULL) - 62200000000000LL);
}

static char *jansson_text(json_t *j)
{
    char *s = j ? json_dumps(j, SB_JSON_DUMP_FLAGS | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return s;
}

static void check_writer(int rc, sb_jsonw_t *jw, char *ref)
{
    size_t len = 0;
    char *got = sb_jsonw_take(jw, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_EQUAL(rc == 0, ref != NULL);
    if (ref) {
        CU_ASSERT_STRING_EQUAL(got, ref);
    } else {
        CU_ASSERT_EQUAL(len, 0);                /* nothing written for a refused value */
    }
    free(got);
    free(ref);
}

static void test_strings_reals_ints_match_jansson(void)
{
    /* strings: random bytes from every class, valid UTF-8 or not */
    static const unsigned char pool[] = { 'a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', 0x01, 0x1f, 0x7f,
                                          0x80, 0xbf, 0xc2, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xed, 0xa0,
                                          0xf0, 0x9f, 0x98, 0x80, 0xf4, 0x90, 0xff, 0xc0 };
    for (int i = 0; i < 200000; i++) {
        char s[24];
        size_t n = rnd() % (sizeof(s) - 1);
        for (size_t k = 0; k < n; k++)
            s[k] = (char)pool[rnd() % sizeof(pool)];
        s[n] = '\0';
        sb_jsonw_t jw;
        sb_jsonw_init(&jw, i % 2 ? 0 : 8);
        int rc = sb_jsonw_str(&jw, s);
        check_writer(rc, &jw, jansson_text(json_string(s)));
    }
    /* reals: random bit patterns, and values near the integer/real boundaries */
    for (int i = 0; i < 200000; i++) {
        uint64_t bits = rnd();
        double v;
        if (i % 3 == 0) {
            memcpy(&v, &bits, sizeof(v));
        } else {
            v = (double)(int64_t)(bits % 2000000) / (double)(1 + rnd() % 1000) * (i % 2 ? 1e-9 : 1e9);
        }
        sb_jsonw_t jw;
        sb_jsonw_init(&jw, 0);
        int rc = sb_jsonw_real(&jw, v);
        check_writer(rc, &jw, jansson_text(json_real(v)));
    }
    static const double specials[] = { 0.0, -0.0, 1e300, -1e-300, 5e-324, 1.7976931348623157e308, 0.1, 100.0 };
    for (size_t i = 0; i < NELEM(specials); i++) {
        sb_jsonw_t jw;
        sb_jsonw_init(&jw, 0);
        int rc = sb_jsonw_real(&jw, specials[i]);
        check_writer(rc, &jw, jansson_text(json_real(specials[i])));
    }
    sb_jsonw_t jw;
    sb_jsonw_init(&jw, 0);
    CU_ASSERT_EQUAL(sb_jsonw_real(&jw, NAN), -1);
    CU_ASSERT_EQUAL(sb_jsonw_real(&jw, INFINITY), -1);
    CU_ASSERT_EQUAL(sb_jsonw_str(&jw, NULL), -1);
    CU_ASSERT_EQUAL(jw.len, 0);
    sb_jsonw_release(&jw);
    /* integers */
    static const int64_t ints[] = { 0, 1, -1, 9, 10, -10, 99999999, INT64_MAX, INT64_MIN, INT64_MIN + 1 };
    for (size_t i = 0; i < NELEM(ints) + 100000; i++) {
        int64_t v = i < NELEM(ints) ? ints[i] : (int64_t)rnd() >> (rnd() % 64);
        sb_jsonw_init(&jw, 0);
        sb_jsonw_int(&jw, v);
        check_writer(0, &jw, jansson_text(json_integer((json_int_t)v)));
    }
}

static void test_summary(void)
{
    fprintf(stderr, "\n%llu pages and records compared byte for byte\n", compared);
    CU_ASSERT_TRUE(compared > 10000);
}

static CU_TestInfo render_tests[] = {
    { "timestamps match sb_ts_format", test_timestamps_match_sb_ts_format },
    { "strings, reals, integers match jansson", test_strings_reals_ints_match_jansson },
    { "pages match the reference rendering", test_pages_match_reference },
    { "pages match across mutations", test_pages_match_across_mutations },
    { "invalid UTF-8 from a query", test_invalid_utf8_from_a_query },
    { "vendor objects jansson refuses or escapes", test_profile_with_odd_vendor_object },
    { "enough was compared", test_summary },
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    { "sandbox page rendering", NULL, NULL, NULL, NULL, render_tests },
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
