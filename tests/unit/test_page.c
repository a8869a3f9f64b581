/*
 * test_page.c - ls_page_parse() against the jansson path it replaces.
 *
 * The reference is what the worker did: json_loadb(body, len, 0) +
 * json_is_array() + ls_activity_from_json() per element, and the rejected
 * record's "id" the way the worker's note_rejected() reads it. Every input
 * must give the same verdict: both reject the page, or both accept it with
 * the same per-element results (every field, the id, the reject reason and
 * the raw id). Inputs: a table of edge cases, then deterministic random
 * pages and random byte-level mutations of them. Every input is copied into
 * a buffer of exactly its length so ASan catches a read past the body.
 */
#include "ls_activity.h"
#include "ls_err.h"
#include "ls_page.h"
#include "ls_test.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RANDOM_PAGES 100000
#define MUTATED_PAGES 100000

typedef struct stats {
    unsigned long inputs, bytes, pages_ok, pages_rejected, recs_ok, recs_rejected, mismatches;
} stats_t;

static stats_t st;
static ls_page_t got;       /* ls_page_parse results, reused like the worker would */
static ls_page_t want;      /* reference results (only recs/n/cap used) */

/* ---- the reference: jansson + ls_activity_from_json ---------------------- */

static void ref_raw_id(const json_t *elem, char *out)
{
    const char *id = json_string_value(json_object_get(elem, "id"));
    out[0] = '\0';
    if (id && id[0] && strlen(id) <= LS_STR_MAX)
        strcpy(out, id);
}

static int ref_parse(const char *buf, size_t len)
{
    json_t *arr = json_loadb(buf, len, 0, NULL);
    want.n = 0;
    if (arr == NULL || !json_is_array(arr)) {
        json_decref(arr);
        return LS_EINVAL;
    }
    size_t n = json_array_size(arr);
    if (n > want.cap) {
        want.recs = realloc(want.recs, n * sizeof(*want.recs));
        want.cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        ls_page_rec_t *r = &want.recs[i];
        r->why[0] = '\0';
        r->rc = ls_activity_from_json(json_array_get(arr, i), &r->act, r->why, sizeof(r->why));
        r->raw_id[0] = '\0';
        if (r->rc != LS_OK)
            ref_raw_id(json_array_get(arr, i), r->raw_id);
    }
    want.n = n;
    json_decref(arr);
    return LS_OK;
}

/* ---- comparison ------------------------------------------------------------ */

static void print_input(const char *buf, size_t len)
{
    fprintf(stderr, "  input (%zu bytes): \"", len);
    for (size_t i = 0; i < len && i < 600; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x", c);
    }
    fprintf(stderr, "%s\"\n", len > 600 ? "..." : "");
}

static bool rec_equal(const ls_page_rec_t *a, const ls_page_rec_t *b, char *what, size_t whatsz)
{
    if (a->rc != b->rc || strcmp(a->why, b->why) != 0 || strcmp(a->raw_id, b->raw_id) != 0) {
        snprintf(what, whatsz, "rc %d/%d why \"%s\"/\"%s\" raw_id \"%s\"/\"%s\"", a->rc, b->rc,
                 a->why, b->why, a->raw_id, b->raw_id);
        return false;
    }
    if (strcmp(a->act.id, b->act.id) != 0) {
        snprintf(what, whatsz, "id \"%s\"/\"%s\"", a->act.id, b->act.id);
        return false;
    }
    for (int f = 0; f < LS_F__COUNT; f++) {
        /* bitwise too: numerically equal is not enough (e.g. -0 vs +0) */
        bool same = ls_activity_field_equal(&a->act, &b->act, (ls_field_t)f) &&
                    (f != LS_F_PROGRESS || memcmp(&a->act.progress_percentage, &b->act.progress_percentage, 8) == 0) &&
                    (f != LS_F_DURATION || memcmp(&a->act.duration_minutes, &b->act.duration_minutes, 8) == 0);
        if (!same) {
            snprintf(what, whatsz, "field %s differs", ls_field_name((ls_field_t)f));
            return false;
        }
    }
    return true;
}

/* Run both parsers on an exact-size copy of text; count and report a mismatch. */
static void check_len(const char *text, size_t len)
{
    char *buf = malloc(len ? len : 1), err[256], what[2048];
    memcpy(buf, text, len);
    int rw = ref_parse(buf, len);
    err[0] = '\0';
    int rg = ls_page_parse(&got, buf, len, err, sizeof(err));
    bool ok = (rw == LS_OK) == (rg == LS_OK) && got.n == want.n;
    what[0] = '\0';
    if (!ok)
        snprintf(what, sizeof(what), "page: jansson %s, ls_page %s (%s); n %zu/%zu",
                 rw == LS_OK ? "accepts" : "rejects", rg == LS_OK ? "accepts" : "rejects", err, want.n, got.n);
    for (size_t i = 0; ok && i < want.n; i++) {
        ok = rec_equal(&want.recs[i], &got.recs[i], what, sizeof(what));
        st.recs_ok += ok && want.recs[i].rc == LS_OK;
        st.recs_rejected += ok && want.recs[i].rc != LS_OK;
    }
    st.inputs++;
    st.bytes += len;
    if (rw == LS_OK)
        st.pages_ok++;
    else
        st.pages_rejected++;
    if (!ok && st.mismatches++ < 10) {
        fprintf(stderr, "\nmismatch (jansson/ls_page): %s\n", what);
        print_input(buf, len);
    }
    free(buf);
}

static void check(const char *text)
{
    check_len(text, strlen(text));
}

/* ---- 1. edge cases ----------------------------------------------------------- */

static const char *edge_cases[] = {
    "[]", " [ ] ", "\t[\n]\r\n", "[]x", "", " ", "{}", "{\"a\":1}", "1", "\"x\"", "null", "[", "]",
    "[1,]", "[,1]", "[1 2]", "[{}]", "[{},]", "[{} {}]", "[{}]]", "[[]", "[{\"a\"}]", "[{\"a\" 1}]",
    "[{\"a\":1,}]", "[{,\"a\":1}]", "[{\"a\":1 \"b\":2}]", "[{1:2}]", "[{null:2}]",
    "[/*c*/]", "[1]//", "[NaN]", "[Infinity]", "[-Infinity]", "[+1]", "[.5]", "[01]", "[-01]", "[1.]",
    "[1.e5]", "[1e]", "[1e+]", "[-]", "[--1]", "[0x10]", "[tru]", "[nulll]", "[True]", "[truefalse]",
    "[true,false,null]", "\xef\xbb\xbf[]", "[\f]", "[\xc2\xa0]", "[]\0", "[\0]",
    /* records */
    "[{\"id\":\"a\"}]", "[{\"id\":1,\"id\":\"a\"}]", "[{\"id\":\"a\",\"id\":1}]", "[{\"id\":\"a\",\"id\":null}]",
    "[{\"\\u0069d\":\"a\"}]", "[{\"i\\u0064\":\"a\",\"id\":\"b\"}]", "[{\"id\":\"a\",\"i\\u0064\":\"\"}]",
    "[{\"course\\u005fid\":7,\"id\":\"x\"}]", "[{\"id \":\"a\"}]", "[{\"ID\":\"a\"}]", "[{\"id\":\"\"}]",
    "[{\"id\":\"a\"},1,\"s\",[],null,{}]", "[{\"course_id\":\"c\"}]",
    "[{\"id\":\"a\",\"progress_percentage\":1e400}]", "[{\"id\":\"a\",\"progress_percentage\":-1e400}]",
    "[{\"id\":\"a\",\"progress_percentage\":1e-400}]", "[{\"id\":\"a\",\"progress_percentage\":-1e-400}]",
    "[{\"id\":\"a\",\"progress_percentage\":-0}]", "[{\"id\":\"a\",\"progress_percentage\":-0.0}]",
    "[{\"id\":\"a\",\"progress_percentage\":-0e5}]", "[{\"id\":\"a\",\"progress_percentage\":0e999999999999999999999}]",
    "[{\"id\":\"a\",\"progress_percentage\":9223372036854775807}]",
    "[{\"id\":\"a\",\"progress_percentage\":9223372036854775808}]",
    "[{\"id\":\"a\",\"progress_percentage\":-9223372036854775808}]",
    "[{\"id\":\"a\",\"progress_percentage\":-9223372036854775809}]",
    "[{\"id\":\"a\",\"progress_percentage\":99999999999999999999}]",
    "[{\"id\":\"a\",\"progress_percentage\":1.7976931348623157e308}]",
    "[{\"id\":\"a\",\"progress_percentage\":1.7976931348623158e308}]",
    "[{\"id\":\"a\",\"progress_percentage\":1.7976931348623159e308}]",
    "[{\"id\":\"a\",\"progress_percentage\":179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791.9}]",
    "[{\"id\":\"a\",\"progress_percentage\":4.9406564584124654e-324}]",
    "[{\"id\":\"a\",\"progress_percentage\":2.4703282292062327e-324}]",
    "[{\"id\":\"a\",\"duration_minutes\":0.1}]", "[{\"id\":\"a\",\"duration_minutes\":1e22}]",
    "[{\"id\":\"a\",\"duration_minutes\":1e23}]", "[{\"id\":\"a\",\"duration_minutes\":9007199254740993}]",
    "[{\"id\":\"a\",\"duration_minutes\":9007199254740993.0}]", "[{\"id\":\"a\",\"duration_minutes\":0.30000000000000004}]",
    "[{\"id\":\"a\",\"duration_minutes\":123456789012345678901234567890.5e-10}]",
    "[{\"id\":\"a\",\"duration_minutes\":1E+2}]", "[{\"id\":\"a\",\"duration_minutes\":1e-2}]",
    "[{\"id\":\"a\",\"raw\":{\"n\":1e400}}]", "[{\"id\":\"a\",\"raw\":[99999999999999999999]}]",
    /* strings */
    "[{\"id\":\"\\ud83d\\ude00\"}]", "[{\"id\":\"\\ud800\"}]", "[{\"id\":\"\\udc00\"}]",
    "[{\"id\":\"\\ud800\\u0041\"}]", "[{\"id\":\"\\ud800\\n\"}]", "[{\"id\":\"\\ud800\\\"}]", "[{\"id\":\"\\u0000\"}]",
    "[{\"id\":\"a\\u0000\"}]", "[{\"id\":\"\\u00\"}]", "[{\"id\":\"\\u00g0\"}]", "[{\"id\":\"\\x\"}]",
    "[{\"id\":\"\\U0041\"}]", "[{\"id\":\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"}]", "[{\"id\":\"a\x01\"}]",
    "[{\"id\":\"a\x1f\"}]", "[{\"id\":\"a\x7f\"}]", "[{\"id\":\"a\tb\"}]", "[{\"id\":\"\xc3\xa9\"}]",
    "[{\"id\":\"\xe2\x82\xac\"}]", "[{\"id\":\"\xf0\x9f\x98\x80\"}]", "[{\"id\":\"\xf4\x8f\xbf\xbf\"}]",
    "[{\"id\":\"\xc0\x80\"}]", "[{\"id\":\"\xc1\xbf\"}]", "[{\"id\":\"\xe0\x80\x80\"}]",
    "[{\"id\":\"\xe0\x9f\xbf\"}]", "[{\"id\":\"\xed\xa0\x80\"}]", "[{\"id\":\"\xed\x9f\xbf\"}]",
    "[{\"id\":\"\xf0\x80\x80\x80\"}]", "[{\"id\":\"\xf4\x90\x80\x80\"}]", "[{\"id\":\"\xf5\x80\x80\x80\"}]",
    "[{\"id\":\"\xff\"}]", "[{\"id\":\"\x80\"}]", "[{\"id\":\"\xc3\"}]", "[{\"id\":\"\xe2\x82\"}]",
    "[{\"id\":\"a\"}\xc3\xa9]", "[{\"id\":\"a\",\"raw\":\"\xc3\"}]",
    /* timestamps */
    "[{\"id\":\"a\",\"started_at\":\"2026-11-27T14:09:48\\u005a\"}]",
    "[{\"id\":\"a\",\"started_at\":\"2026-11-27\\u005414:09:48Z\"}]",
    "[{\"id\":\"a\",\"started_at\":\"2026-11-27t14:09:48.123456789z\"}]",
    "[{\"id\":\"a\",\"started_at\":\"2026-11-27T14:09:48.1234567890Z\"}]",
    "[{\"id\":\"a\",\"started_at\":\"2024-02-29T00:00:00-23:59\"}]",
    "[{\"id\":\"a\",\"started_at\":\"2025-02-29T00:00:00Z\"}]",
    "[{\"id\":\"a\",\"started_at\":\"2026-11-27T14:09:60Z\"}]",
    "[{\"id\":\"a\",\"started_at\":\"0123456789012345678901234567890123456789TAIL\"}]",
    "[{\"id\":\"a\",\"started_at\":\"012345678901234567890123456789012345678\\u00e9Z\"}]",
    "[{\"id\":\"a\",\"started_at\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"}]",
    "[{\"id\":\"a\",\"started_at\":\"a\\\"b\\nc\"}]", "[{\"id\":\"a\",\"started_at\":\"\"}]",
    "[{\"id\":\"a\",\"started_at\":1,\"completed_at\":\"x\"}]",
    "[{\"id\":\"a\",\"updated_at\":\"2026-11-27T14:09:48Z\",\"updated_at\":\"bad\"}]",
    "[{\"id\":\"a\",\"updated_at\":\"bad\",\"updated_at\":\"2026-11-27T14:09:48Z\"}]",
    /* types, order of checks, duplicates */
    "[{\"id\":\"x\",\"is_completed\":1}]", "[{\"id\":\"x\",\"is_completed\":\"true\",\"course_id\":1}]",
    "[{\"course_id\":1,\"id\":2}]", "[{\"id\":\"x\",\"student_id\":{},\"assigned_grade\":[]}]",
    "[{\"id\":\"x\",\"assigned_grade\":[],\"student_id\":{\"a\":[1,{\"b\":null}]}}]",
    "[{\"id\":\"x\",\"is_completed\":true,\"is_completed\":null}]",
    "[{\"id\":\"x\",\"is_completed\":null,\"is_completed\":false}]",
    "[{\"id\":\"x\",\"raw\":{\"id\":5,\"course_id\":6}}]", "[{\"raw\":{\"id\":\"inner\"}}]",
    "[{\"id\":\"x\",\"course_id\":\"c\",\"raw\":{\"a\":[[[]]],\"b\":{}},\"z\":[1,\"2\",true,null,{}]}]",
};

static void test_edge_cases(void)
{
    unsigned long before = st.mismatches;
    for (size_t i = 0; i < sizeof(edge_cases) / sizeof(edge_cases[0]); i++)
        check(edge_cases[i]);
    check_len("[]\0", 3);
    check_len("[\0]", 3);
    check_len("[{\"id\":\"a\0b\"}]", 15);
    check_len("[{\"id\":\"ab\"}]", 12); /* exact length, no NUL after the body */
    CU_ASSERT_EQUAL(st.mismatches, before);
}

/*
 * The one documented difference from jansson (ls_page.h): jansson 2.14 drops
 * a single raw NUL byte that follows a number or a literal (its lexer ungets
 * the byte, and a NUL in its look-ahead buffer reads as "refill"), so it
 * accepts "[1\0]"; ls_page rejects every raw NUL outside a string.
 */
static void test_nul_after_scalar(void)
{
#define NUL_CASE(lit) {lit, sizeof(lit) - 1}
    static const struct { const char *s; size_t len; } cases[] = {
        NUL_CASE("[1\0]"), NUL_CASE("[true\0]"), NUL_CASE("[null\0]"), NUL_CASE("[-1.5e3\0]"),
        NUL_CASE("[1\0,2]"), NUL_CASE("[{\"id\":\"a\",\"progress_percentage\":1\0}]"),
    };
#undef NUL_CASE
    char err[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = json_loadb(cases[i].s, cases[i].len, 0, NULL);
        CU_ASSERT_PTR_NOT_NULL(j); /* jansson: the NUL is skipped */
        json_decref(j);
        err[0] = '\0';
        CU_ASSERT_EQUAL(ls_page_parse(&got, cases[i].s, cases[i].len, err, sizeof(err)), LS_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "invalid JSON at byte"));
    }
    /* two NULs, or one after a string or bracket: both reject */
    CU_ASSERT_PTR_NULL(json_loadb("[1\0\0]", 5, 0, NULL));
    CU_ASSERT_PTR_NULL(json_loadb("[\"a\"\0]", 6, 0, NULL));
}

/* One string of len bytes inside a record (LS_STR_MAX boundary, escapes counted decoded). */
static void check_long_strings(void)
{
    static const char *units[] = {"a", "\\n", "\\u00e9", "\xc3\xa9", "\\ud83d\\ude00"};
    static const size_t decoded[] = {1, 1, 2, 2, 4};
    char page[4096];
    for (size_t u = 0; u < 5; u++) {
        for (size_t target = 240; target <= 262; target++) {
            for (int field = 0; field < 3; field++) {
                int n = snprintf(page, sizeof(page), "[{\"id\":\"%s", field == 0 ? "" : "x\",\"");
                if (field == 2)
                    n += snprintf(page + n, sizeof(page) - (size_t)n, "completed_at\":\"");
                else if (field == 1)
                    n += snprintf(page + n, sizeof(page) - (size_t)n, "course_id\":\"");
                for (size_t len = 0; len + decoded[u] <= target; len += decoded[u])
                    n += snprintf(page + n, sizeof(page) - (size_t)n, "%s", units[u]);
                snprintf(page + n, sizeof(page) - (size_t)n, "\"}]");
                check(page);
            }
        }
    }
}

/* Nesting around jansson's depth limit, inside "raw" and at the top. */
static void check_depth(void)
{
    static char page[8 * LS_PAGE_MAX_DEPTH + 64];
    for (int extra = -2; extra <= 2; extra++) {
        for (int scalar = 0; scalar < 2; scalar++) {
            int d = LS_PAGE_MAX_DEPTH + extra, n = 0;
            for (int i = 0; i < d; i++)
                page[n++] = '[';
            if (scalar)
                page[n++] = '1';
            for (int i = 0; i < d; i++)
                page[n++] = ']';
            check_len(page, (size_t)n);
            /* [{"id":"a","raw": + d-2 nested objects {"k": ... } */
            n = snprintf(page, sizeof(page), "[{\"id\":\"a\",\"raw\":");
            for (int i = 0; i < d - 2; i++)
                n += snprintf(page + n, sizeof(page) - (size_t)n, "{\"k\":");
            page[n++] = scalar ? '1' : 'n', page[n] = '\0';
            if (!scalar)
                n += snprintf(page + n, sizeof(page) - (size_t)n, "ull");
            for (int i = 0; i < d - 2; i++)
                page[n++] = '}';
            n += snprintf(page + n, sizeof(page) - (size_t)n, "}]");
            check_len(page, (size_t)n);
        }
    }
}

static void test_boundaries(void)
{
    unsigned long before = st.mismatches;
    check_long_strings();
    check_depth();
    CU_ASSERT_EQUAL(st.mismatches, before);
}

/* ---- 2. random pages ---------------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1Du;
}

static unsigned rn(unsigned n)
{
    return (unsigned)(((rnd() >> 32) * n) >> 32);
}

static bool chance(unsigned percent_x10)
{
    return rn(1000) < percent_x10;
}

typedef struct sb {
    char p[1 << 16];
    size_t n;
} sb_t;

static void put(sb_t *b, const char *s, size_t n)
{
    if (b->n + n <= sizeof(b->p)) {
        memcpy(b->p + b->n, s, n);
        b->n += n;
    }
}

static void puts_(sb_t *b, const char *s)
{
    put(b, s, strlen(s));
}

static void putf(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(sb_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void gen_ws(sb_t *b)
{
    static const char ws[] = " \t\n\r";
    if (chance(850))
        return;
    for (unsigned i = rn(3) + 1; i > 0; i--)
        put(b, &ws[rn(4)], 1);
}

static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:. "
                            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:. ";

/* One piece of string content (an invalid one when asked); returns its
 * decoded length, roughly (plain runs count fully). */
static unsigned gen_str_piece(sb_t *b, bool invalid)
{
    static const char *good[] = {"\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u00e9",
                                 "\\u0041", "\\u20AC", "\\uFFFF", "\\ud83d\\ude00", "\\uDBFF\\uDFFF",
                                 "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x7f", "\\u005a", "\\u0001"};
    static const char *bad[] = {"\\ud800", "\\udc00", "\\u0000", "\\ud800\\u0041", "\\x", "\\u12", "\x01",
                                "\x1f", "\xc0\x80", "\xed\xa0\x80", "\xff", "\xe2\x82", "\xf4\x90\x80\x80", "\t"};
    if (invalid) {
        puts_(b, bad[rn(sizeof(bad) / sizeof(bad[0]))]);
        return 1;
    }
    if (chance(150)) {
        puts_(b, good[rn(sizeof(good) / sizeof(good[0]))]);
        return 1;
    }
    unsigned n = 1 + rn(chance(200) ? 40 : 3);
    put(b, plain + rn(67), n);
    return n;
}

static void gen_string(sb_t *b)
{
    unsigned len = chance(20) ? 240 + rn(30) : chance(50) ? 0 : rn(12);
    bool invalid = chance(8); /* at most one invalid piece */
    put(b, "\"", 1);
    for (unsigned i = 0; i < len;) {
        if (invalid && rn(len - i + 1) == 0) {
            gen_str_piece(b, true);
            invalid = false;
        }
        i += gen_str_piece(b, false);
    }
    put(b, "\"", 1);
}

static void gen_time(sb_t *b)
{
    static const char *offs[] = {"Z", "z", "+02:00", "-23:59", "+24:00", "", "+0200", "-00:00"};
    static const char *fracs[] = {"", ".5", ".123", ".123456", ".123456789", ".1234567890", "."};
    if (chance(10)) {
        gen_string(b);
        return;
    }
    unsigned y = chance(50) ? rn(10000) : 1970 + rn(80), mo = chance(10) ? rn(14) : 1 + rn(12);
    unsigned d = chance(10) ? rn(32) : 1 + rn(28 + (chance(100) ? 3 : 0)), h = chance(5) ? rn(25) : rn(24);
    unsigned s = chance(5) ? 60 : rn(60);
    const char *t = chance(50) ? "t" : chance(20) ? "\\u0054" : "T";
    unsigned mi = rn(60);
    const char *frac = fracs[rn(chance(30) ? 7 : 5)];
    const char *off = offs[rn(chance(30) ? 8 : 4)];
    putf(b, "\"%04u-%02u-%02u%s%02u:%02u:%02u%s%s\"", y, mo, d, t, h, mi, s, frac, off);
}

static void gen_number(sb_t *b)
{
    static const char *special[] = {"-0", "-0.0", "0e0", "1e400", "-1e400", "1e-400", "9223372036854775807",
                                    "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
                                    "18446744073709551616", "1.7976931348623157e308", "1.8e308", "4.9e-324",
                                    "123456789012345678901234567890", "0.000000000000000000000000001",
                                    "12345678901234567890.123", "9007199254740993", "1E22", "1e23", "2.5E-3"};
    /* one draw per statement: argument evaluation order is unspecified and
     * the sequence must not depend on the compiler */
    unsigned kind = rn(6), a = rn(1000), c = rn(1000);
    bool x = chance(300), y = chance(500);
    uint64_t r = rnd();
    switch (kind) {
    case 0: putf(b, "%u", a % 101); break;
    case 1: putf(b, "%s%u.%u", x ? "-" : "", a, c); break;
    case 2: putf(b, "%u%s%s%u", a % 100, y ? "e" : "E", x ? "-" : y ? "+" : "", c % 40); break;
    case 3: putf(b, "%lld", (long long)(r >> (a % 64))); break;
    case 4: putf(b, "%.17g", (double)(int64_t)r / (double)(1 + a * 1000 + c)); break;
    default: puts_(b, special[a % (sizeof(special) / sizeof(special[0]))]); break;
    }
}

static void gen_any(sb_t *b, int depth);

static void gen_container(sb_t *b, int depth)
{
    bool obj = chance(500);
    unsigned n = rn(4);
    put(b, obj ? "{" : "[", 1);
    for (unsigned i = 0; i < n; i++) {
        if (i > 0)
            put(b, ",", 1);
        gen_ws(b);
        if (obj) {
            gen_string(b);
            gen_ws(b);
            put(b, ":", 1);
            gen_ws(b);
        }
        gen_any(b, depth + 1);
        gen_ws(b);
    }
    put(b, obj ? "}" : "]", 1);
}

static void gen_any(sb_t *b, int depth)
{
    switch (rn(depth > 3 ? 5 : 7)) {
    case 0: gen_string(b); break;
    case 1: gen_number(b); break;
    case 2: puts_(b, chance(500) ? "true" : "false"); break;
    case 3: puts_(b, "null"); break;
    case 4: gen_time(b); break;
    default: gen_container(b, depth); break;
    }
}

/* A value for field f (or the id, f < 0): mostly right, sometimes null or wrong. */
static void gen_field_value(sb_t *b, int f)
{
    if (chance(60)) {
        puts_(b, "null");
        return;
    }
    if (chance(30)) {
        gen_any(b, 3);
        return;
    }
    if (f < 0 || f == LS_F_COURSE_ID || f == LS_F_STUDENT_ID || f == LS_F_CONTENT_ID || f == LS_F_ASSIGNED_GRADE)
        gen_string(b);
    else if (f == LS_F_IS_COMPLETED)
        puts_(b, chance(500) ? "true" : "false");
    else if (f == LS_F_PROGRESS || f == LS_F_DURATION)
        gen_number(b);
    else
        gen_time(b);
}

/* A key, sometimes spelled with escapes or a near miss of a tracked name. */
static void gen_key(sb_t *b, const char *name)
{
    if (chance(30) && name[0] != '\0') {
        putf(b, "\"\\u%04x%s\"", (unsigned char)name[0], name + 1);
        return;
    }
    if (chance(10)) {
        putf(b, "\"%s%s\"", name, chance(500) ? " " : "x");
        return;
    }
    put(b, "\"", 1);
    puts_(b, name);
    put(b, "\"", 1);
}

static void gen_member(sb_t *b, int slot, bool *first)
{
    static const char *unknown[] = {"raw", "name", "x", "", "Id", "ids", "course", "progress"};
    if (!*first)
        put(b, ",", 1);
    *first = false;
    gen_ws(b);
    if (slot < 0) {
        gen_key(b, unknown[rn(sizeof(unknown) / sizeof(unknown[0]))]);
        gen_ws(b);
        put(b, ":", 1);
        gen_ws(b);
        gen_any(b, 3);
    } else {
        gen_key(b, slot == 0 ? "id" : ls_field_name((ls_field_t)(slot - 1)));
        gen_ws(b);
        put(b, ":", 1);
        gen_ws(b);
        gen_field_value(b, slot - 1);
    }
    gen_ws(b);
}

static void gen_record(sb_t *b)
{
    int order[64], n = 0;
    bool first = true;
    if (chance(950))
        order[n++] = 0;
    for (int f = 0; f < LS_F__COUNT; f++)
        if (chance(650))
            order[n++] = 1 + f;
    for (unsigned i = rn(3); i > 0; i--)
        order[n++] = -1;
    for (int i = n - 1; i > 0; i--) { /* shuffle */
        int j = (int)rn((unsigned)i + 1), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    put(b, "{", 1);
    for (int i = 0; i < n; i++) {
        gen_member(b, order[i], &first);
        if (chance(40)) /* duplicate key, later value wins */
            gen_member(b, order[rn((unsigned)n)], &first);
    }
    put(b, "}", 1);
}

static void gen_page(sb_t *b)
{
    b->n = 0;
    gen_ws(b);
    if (chance(10)) {
        gen_any(b, 1);
        return;
    }
    unsigned n = rn(7);
    put(b, "[", 1);
    for (unsigned i = 0; i < n; i++) {
        if (i > 0)
            put(b, ",", 1);
        gen_ws(b);
        if (chance(940))
            gen_record(b);
        else
            gen_any(b, 2);
        gen_ws(b);
    }
    put(b, "]", 1);
    gen_ws(b);
}

static void test_random_pages(void)
{
    static sb_t b;
    unsigned long before = st.mismatches, ok0 = st.pages_ok;
    for (int i = 0; i < RANDOM_PAGES; i++) {
        gen_page(&b);
        if (getenv("LS_PAGE_DUMP") && i < 5) /* to eyeball the generator */
            fprintf(stderr, "%.*s\n", (int)b.n, b.p);
        check_len(b.p, b.n);
    }
    fprintf(stderr, "\n  random pages: %d, %lu accepted by both\n", RANDOM_PAGES, st.pages_ok - ok0);
    CU_ASSERT_EQUAL(st.mismatches, before);
    CU_ASSERT(st.pages_ok - ok0 > RANDOM_PAGES / 2); /* the generator mostly makes valid pages */
}

/* ---- 3. mutations ------------------------------------------------------------- */

static void mutate(sb_t *b)
{
    static const char alphabet[] = ",:[]{}\"\\ 0-.eE+tnu\x01\x80\xc3\xff";
    for (unsigned k = rn(3) + 1; k > 0 && b->n > 0; k--) {
        size_t at = rn((unsigned)b->n);
        unsigned op = rn(6);
        switch (op) {
        case 0: b->n = at; break;                                          /* truncate */
        case 1: b->p[at] = (char)rn(256); break;                           /* flip a byte */
        case 2: b->p[at] = alphabet[rn(sizeof(alphabet) - 1)]; break;      /* JSON-ish byte */
        case 3:                                                            /* insert a comma */
        case 4:                                                            /* insert a byte */
            if (b->n < sizeof(b->p)) {
                memmove(b->p + at + 1, b->p + at, b->n - at);
                b->p[at] = op == 3 ? ',' : alphabet[rn(sizeof(alphabet) - 1)];
                b->n++;
            }
            break;
        default:                                                           /* delete a byte */
            memmove(b->p + at, b->p + at + 1, b->n - at - 1);
            b->n--;
            break;
        }
    }
}

static void test_mutations(void)
{
    static sb_t b;
    unsigned long before = st.mismatches, ok0 = st.pages_ok;
    for (int i = 0; i < MUTATED_PAGES; i++) {
        gen_page(&b);
        mutate(&b);
        check_len(b.p, b.n);
    }
    fprintf(stderr, "  mutated pages: %d, %lu still accepted by both\n", MUTATED_PAGES, st.pages_ok - ok0);
    CU_ASSERT_EQUAL(st.mismatches, before);
}

/* ---- API contract ---------------------------------------------------------------- */

static void test_api(void)
{
    ls_page_t pg;
    char err[256];
    ls_page_init(&pg);
    const char *body = "[{\"id\":\"a\",\"course_id\":\"c\"},{\"id\":\"b\",\"is_completed\":1},7,{\"id\":\"\"}]";
    CU_ASSERT_EQUAL_FATAL(ls_page_parse(&pg, body, strlen(body), err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL_FATAL(pg.n, 4);
    CU_ASSERT_EQUAL(pg.recs[0].rc, LS_OK);
    CU_ASSERT_STRING_EQUAL(pg.recs[0].act.id, "a");
    CU_ASSERT_STRING_EQUAL(pg.recs[0].act.course_id, "c");
    CU_ASSERT_STRING_EQUAL(pg.recs[0].why, "");
    CU_ASSERT_EQUAL(pg.recs[1].rc, LS_EINVAL);
    CU_ASSERT_STRING_EQUAL(pg.recs[1].why, "field 'is_completed': expected boolean, got number");
    CU_ASSERT_STRING_EQUAL(pg.recs[1].raw_id, "b");
    CU_ASSERT_STRING_EQUAL(pg.recs[2].why, "record is not an object");
    CU_ASSERT_STRING_EQUAL(pg.recs[2].raw_id, "");
    CU_ASSERT_STRING_EQUAL(pg.recs[3].why, "field 'id': empty string");

    CU_ASSERT_EQUAL(ls_page_parse(&pg, "[1,]", 4, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_EQUAL(pg.n, 0);
    CU_ASSERT_STRING_EQUAL(err, "invalid JSON at byte 3: unexpected character");
    CU_ASSERT_EQUAL(ls_page_parse(&pg, "{\"a\":[]}", 8, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "not a JSON array: got object");
    CU_ASSERT_EQUAL(ls_page_parse(&pg, "[{\"id\":\"a\"}", 11, NULL, 0), LS_EINVAL);
    CU_ASSERT_EQUAL(ls_page_parse(&pg, " [ ] ", 5, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(pg.n, 0);
    ls_page_release(&pg);
    CU_ASSERT_PTR_NULL(pg.recs);
    ls_page_release(&pg); /* idempotent */
}

static void test_totals(void)
{
    fprintf(stderr, "  totals: %lu inputs of %lu bytes (%lu pages accepted, %lu rejected), %lu records accepted, "
            "%lu rejected, %lu mismatches\n", st.inputs, st.bytes, st.pages_ok, st.pages_rejected, st.recs_ok,
            st.recs_rejected, st.mismatches);
    CU_ASSERT(st.inputs >= 200000);
    CU_ASSERT(st.recs_ok > 10000 && st.recs_rejected > 10000);
    CU_ASSERT_EQUAL(st.mismatches, 0);
    ls_page_release(&got);
    free(want.recs);
}

static CU_TestInfo page_tests[] = {
    {"api contract", test_api},
    {"edge cases", test_edge_cases},
    {"a raw NUL after a number or literal: stricter than jansson", test_nul_after_scalar},
    {"string length and depth boundaries", test_boundaries},
    {"random pages", test_random_pages},
    {"mutated pages", test_mutations},
    {"totals", test_totals},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_page", NULL, NULL, NULL, NULL, page_tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
