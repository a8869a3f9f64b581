/* test_state.c - packed state: layout, canonical round trips, hostile input. */
#include "ls_activity.h"
#include "ls_err.h"
#include "ls_state.h"
#include "ls_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
    return ls_test_rnd(&rng_state);
}

static uint32_t rnd_below(uint32_t n)
{
    return (uint32_t)(rnd() % n);
}

static void rnd_string(char *dst)
{
    static const char *pieces[] = {"a", "Z", "0", "-", "_", " ", "\xc3\xa9", "\xe2\x82\xac",
                                   "\xf0\x9f\x98\x80", "/", "\""};
    size_t want = rnd_below(4) == 0 ? rnd_below(LS_STR_MAX + 1) : rnd_below(30), n = 0;
    while (n < want) {
        const char *p = pieces[rnd_below(sizeof(pieces) / sizeof(pieces[0]))];
        size_t l = strlen(p);
        if (n + l > want)
            break;
        memcpy(dst + n, p, l);
        n += l;
    }
    dst[n] = '\0';
}

static double rnd_double(void)
{
    switch (rnd_below(5)) {
    case 0: return (double)rnd_below(101);
    case 1: return (double)rnd_below(10000) / 100.0;
    case 2: return -(double)rnd_below(1000) / 7.0;
    case 3: return 0.0;
    default: return ldexp((double)(rnd() >> 11), (int)rnd_below(200) - 100);
    }
}

static int64_t rnd_instant(void)
{
    switch (rnd_below(4)) {
    case 0: return (int64_t)rnd();
    case 1: return -(int64_t)rnd_below(1000000);
    default: return INT64_C(1700000000000) + (int64_t)(rnd() % INT64_C(100000000000));
    }
}

static void rnd_activity(ls_activity_t *a)
{
    ls_activity_clear(a);
    char *strs[LS_F__COUNT] = {a->course_id, a->student_id, a->content_id, NULL, NULL, NULL,
                               a->assigned_grade};
    int64_t *times[LS_F__COUNT] = {[LS_F_STARTED_AT] = &a->started_at,
                                   [LS_F_COMPLETED_AT] = &a->completed_at,
                                   [LS_F_CREATED_AT] = &a->created_at,
                                   [LS_F_UPDATED_AT] = &a->updated_at};
    for (int f = 0; f < LS_F__COUNT; f++) {
        a->pres[f] = (uint8_t)rnd_below(3);
        if (a->pres[f] != LS_PRESENT)
            continue;
        if (strs[f] != NULL)
            rnd_string(strs[f]);
        else if (times[f] != NULL)
            *times[f] = rnd_instant();
    }
    if (a->pres[LS_F_IS_COMPLETED] == LS_PRESENT)
        a->is_completed = rnd_below(2);
    if (a->pres[LS_F_PROGRESS] == LS_PRESENT)
        a->progress_percentage = rnd_double();
    if (a->pres[LS_F_DURATION] == LS_PRESENT)
        a->duration_minutes = rnd_double();
}

static bool records_equal(const ls_activity_t *a, const ls_activity_t *b)
{
    for (int f = 0; f < LS_F__COUNT; f++)
        if (!ls_activity_field_equal(a, b, (ls_field_t)f))
            return false;
    return true;
}

static void test_golden_layout(void)
{
    ls_activity_t a;
    ls_activity_clear(&a);
    strcpy(a.id, "not-packed");
    a.pres[LS_F_COURSE_ID] = LS_PRESENT;
    strcpy(a.course_id, "ab");
    a.pres[LS_F_STUDENT_ID] = LS_NULL;
    a.pres[LS_F_IS_COMPLETED] = LS_PRESENT;
    a.is_completed = true;
    a.pres[LS_F_PROGRESS] = LS_PRESENT;
    a.progress_percentage = 40.0;
    a.pres[LS_F_STARTED_AT] = LS_PRESENT;
    a.started_at = -1;
    a.pres[LS_F_UPDATED_AT] = LS_PRESENT;
    a.updated_at = 300;
    static const uint8_t want[] = {
        0x01,                   /* version */
        0x86, 0x82, 0x20,       /* presence: f0=2 f1=1 f3=2 | f4=2 f7=2 | f10=2 */
        0x01,                   /* flags: completed */
        0x02, 'a', 'b',         /* course_id */
        0, 0, 0, 0, 0, 0, 0x44, 0x40, /* 40.0 little endian */
        0x01,                   /* started_at -1 -> zig-zag 1 */
        0xd8, 0x04,             /* updated_at 300 -> zig-zag 600 */
    };
    uint8_t buf[LS_STATE_MAX];
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(ls_state_pack(&a, buf, sizeof(buf), &len), LS_OK);
    CU_ASSERT_EQUAL_FATAL(len, sizeof(want));
    CU_ASSERT(memcmp(buf, want, len) == 0);

    ls_activity_t b;
    memset(&b, 0x5a, sizeof(b));
    CU_ASSERT_EQUAL_FATAL(ls_state_unpack(buf, len, &b), LS_OK);
    CU_ASSERT_EQUAL(b.id[0], '\0');
    CU_ASSERT(records_equal(&a, &b));
}

static void test_empty_record(void)
{
    ls_activity_t a, b;
    ls_activity_clear(&a);
    uint8_t buf[8];
    size_t len = 0;
    CU_ASSERT_EQUAL(ls_state_pack(&a, buf, sizeof(buf), &len), LS_OK);
    CU_ASSERT_EQUAL(len, 5);
    CU_ASSERT_EQUAL(ls_state_unpack(buf, len, &b), LS_OK);
    CU_ASSERT(records_equal(&a, &b));
}

static void test_roundtrip_random(void)
{
    rng_state = UINT64_C(0x1234567887654321);
    int bad = 0, samebytes = 0;
    for (int i = 0; i < 20000; i++) {
        ls_activity_t a, b;
        uint8_t p1[LS_STATE_MAX], p2[LS_STATE_MAX];
        size_t l1 = 0, l2 = 0;
        rnd_activity(&a);
        if (ls_state_pack(&a, p1, sizeof(p1), &l1) != LS_OK ||
            ls_state_unpack(p1, l1, &b) != LS_OK || !records_equal(&a, &b)) {
            bad++;
            continue;
        }
        /* canonical: re-packing the unpacked record gives the same bytes */
        if (ls_state_pack(&b, p2, sizeof(p2), &l2) == LS_OK && l1 == l2 && memcmp(p1, p2, l1) == 0)
            samebytes++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(samebytes, 20000);
}

static void test_max_size(void)
{
    ls_activity_t a;
    ls_activity_clear(&a);
    memset(a.pres, LS_PRESENT, sizeof(a.pres));
    memset(a.course_id, 'c', LS_STR_MAX);
    memset(a.student_id, 's', LS_STR_MAX);
    memset(a.content_id, 'k', LS_STR_MAX);
    memset(a.assigned_grade, 'g', LS_STR_MAX);
    a.started_at = INT64_MIN;
    a.completed_at = INT64_MAX;
    a.created_at = INT64_MIN + 1;
    a.updated_at = INT64_MAX - 1;
    a.progress_percentage = NAN;
    uint8_t buf[LS_STATE_MAX];
    size_t len = 0;
    CU_ASSERT_EQUAL(ls_state_pack(&a, buf, sizeof(buf), &len), LS_EINVAL); /* NaN */
    a.progress_percentage = -1e-300;
    CU_ASSERT_EQUAL_FATAL(ls_state_pack(&a, buf, sizeof(buf), &len), LS_OK);
    CU_ASSERT_EQUAL(len, LS_STATE_MAX);
    ls_activity_t b;
    CU_ASSERT_EQUAL(ls_state_unpack(buf, len, &b), LS_OK);
    CU_ASSERT(records_equal(&a, &b));
}

static void test_pack_full_and_invalid(void)
{
    ls_activity_t a;
    rng_state = 42;
    rnd_activity(&a);
    a.pres[LS_F_COURSE_ID] = LS_PRESENT;
    strcpy(a.course_id, "course");
    uint8_t buf[LS_STATE_MAX];
    size_t len = 0, l2 = 777;
    CU_ASSERT_EQUAL_FATAL(ls_state_pack(&a, buf, sizeof(buf), &len), LS_OK);
    for (size_t cap = 0; cap < len; cap++)
        CU_ASSERT_EQUAL(ls_state_pack(&a, buf, cap, &l2), LS_EFULL);
    CU_ASSERT_EQUAL(l2, 777); /* untouched on failure */

    ls_activity_t bad = a;
    bad.pres[LS_F_DURATION] = 3;
    CU_ASSERT_EQUAL(ls_state_pack(&bad, buf, sizeof(buf), &len), LS_EINVAL);
    bad = a;
    memset(bad.course_id, 'x', sizeof(bad.course_id)); /* unterminated */
    CU_ASSERT_EQUAL(ls_state_pack(&bad, buf, sizeof(buf), &len), LS_EINVAL);
    bad = a;
    strcpy(bad.course_id, "\xff\xfe");
    CU_ASSERT_EQUAL(ls_state_pack(&bad, buf, sizeof(buf), &len), LS_EINVAL);
    bad = a;
    bad.pres[LS_F_PROGRESS] = LS_PRESENT;
    bad.progress_percentage = INFINITY;
    CU_ASSERT_EQUAL(ls_state_pack(&bad, buf, sizeof(buf), &len), LS_EINVAL);
}

static void test_negative_zero_canonical(void)
{
    ls_activity_t a, b;
    ls_activity_clear(&a);
    ls_activity_clear(&b);
    a.pres[LS_F_PROGRESS] = b.pres[LS_F_PROGRESS] = LS_PRESENT;
    a.progress_percentage = 0.0;
    b.progress_percentage = -0.0;
    uint8_t pa[32], pb[32];
    size_t la, lb;
    CU_ASSERT_EQUAL(ls_state_pack(&a, pa, sizeof(pa), &la), LS_OK);
    CU_ASSERT_EQUAL(ls_state_pack(&b, pb, sizeof(pb), &lb), LS_OK);
    CU_ASSERT(la == lb && memcmp(pa, pb, la) == 0);
    /* and the non-canonical bytes are refused */
    pb[5 + 7] = 0x80;
    CU_ASSERT_EQUAL(ls_state_unpack(pb, lb, &b), LS_EINVAL);
}

/* A typical record: 3 ids of ~20 chars, completed, progress, duration, 4 timestamps. */
static void test_typical_size(void)
{
    json_error_t je;
    json_t *j = json_loads("{\"id\":\"act_6650f3a2b1c4d5e6f7a8\",\"course_id\":\"crs_6650f3a2b1c4d5e6f7a9\","
                           "\"student_id\":\"usr_6650f3a2b1c4d5e6f7b0\",\"content_id\":\"cnt_6650f3a2b1c4d5e6f7b1\","
                           "\"is_completed\":true,\"progress_percentage\":100,\"duration_minutes\":37.5,"
                           "\"assigned_grade\":null,\"started_at\":\"2026-11-27T14:09:48.123Z\","
                           "\"completed_at\":\"2026-11-27T14:47:18.456Z\",\"created_at\":\"2026-11-20T08:00:00Z\","
                           "\"updated_at\":\"2026-11-27T14:47:19.001Z\"}", 0, &je);
    ls_activity_t a;
    char err[128];
    CU_ASSERT_EQUAL_FATAL(ls_activity_from_json(j, &a, err, sizeof(err)), LS_OK);
    json_decref(j);
    uint8_t buf[LS_STATE_MAX];
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(ls_state_pack(&a, buf, sizeof(buf), &len), LS_OK);
    CU_ASSERT(len < 150);
    fprintf(stderr, "\ntypical packed record: %zu bytes\n", len);
}

static void expect_unpack_fails(const uint8_t *buf, size_t len, const char *what)
{
    ls_activity_t a;
    int rc = ls_state_unpack(buf, len, &a);
    CU_ASSERT_EQUAL(rc, LS_EINVAL);
    if (rc != LS_EINVAL)
        fprintf(stderr, "\naccepted malformed state: %s\n", what);
    CU_ASSERT_EQUAL(a.pres[0], LS_ABSENT); /* cleared on failure */
}

static void test_unpack_rejects(void)
{
    /* course_id "ab" present; 1 = version, presence 0x02 */
    const uint8_t ok[] = {1, 0x02, 0, 0, 0, 2, 'a', 'b'};
    ls_activity_t a;
    CU_ASSERT_EQUAL(ls_state_unpack(ok, sizeof(ok), &a), LS_OK);
    CU_ASSERT_EQUAL(ls_state_unpack(NULL, 0, &a), LS_EINVAL);
    expect_unpack_fails(ok, 0, "empty");
    expect_unpack_fails((const uint8_t[]){2, 0, 0, 0, 0}, 5, "version 2");
    expect_unpack_fails((const uint8_t[]){0, 0, 0, 0, 0}, 5, "version 0");
    expect_unpack_fails((const uint8_t[]){1, 0x03, 0, 0, 0}, 5, "presence value 3");
    expect_unpack_fails((const uint8_t[]){1, 0, 0, 0xc0, 0}, 5, "presence 3 in unused slot");
    expect_unpack_fails((const uint8_t[]){1, 0, 0, 0x40, 0}, 5, "unused presence slot set");
    expect_unpack_fails((const uint8_t[]){1, 0, 0, 0, 0x01}, 5, "completed flag without field");
    expect_unpack_fails((const uint8_t[]){1, 0x40, 0, 0, 0x01}, 5, "completed flag with null field");
    expect_unpack_fails((const uint8_t[]){1, 0x80, 0, 0, 0x02}, 5, "unknown flag bit");
    expect_unpack_fails((const uint8_t[]){1, 0x02, 0, 0, 0, 2, 'a', 'b', 0}, 9, "trailing byte");
    expect_unpack_fails((const uint8_t[]){1, 0x02, 0, 0, 0, 3, 'a', 'b'}, 8, "string past end");
    expect_unpack_fails((const uint8_t[]){1, 0x02, 0, 0, 0, 2, 'a', 0}, 8, "NUL in string");
    expect_unpack_fails((const uint8_t[]){1, 0x02, 0, 0, 0, 1, 0xff}, 7, "invalid UTF-8");
    expect_unpack_fails((const uint8_t[]){1, 0x02, 0, 0, 0, 2, 0xc0, 0x80}, 8, "overlong UTF-8");
    expect_unpack_fails((const uint8_t[]){1, 0x02, 0, 0, 0, 3, 0xed, 0xa0, 0x80}, 9, "UTF-8 surrogate");
    expect_unpack_fails((const uint8_t[]){1, 0x02, 0, 0, 0, 1, 0xc3}, 7, "cut UTF-8 sequence");
    /* progress (f4 -> byte 2, bits 0-1) */
    expect_unpack_fails((const uint8_t[]){1, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f}, 13, "NaN");
    expect_unpack_fails((const uint8_t[]){1, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f}, 13, "infinity");
    expect_unpack_fails((const uint8_t[]){1, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0x44}, 12, "short double");
    /* updated_at (f10 -> byte 3, bits 4-5) */
    const uint8_t vok[] = {1, 0, 0, 0x20, 0, 0xd8, 0x04};
    CU_ASSERT_EQUAL(ls_state_unpack(vok, sizeof(vok), &a), LS_OK);
    CU_ASSERT_EQUAL(a.updated_at, 300);
    expect_unpack_fails((const uint8_t[]){1, 0, 0, 0x20, 0, 0xd8}, 6, "varint past end");
    expect_unpack_fails((const uint8_t[]){1, 0, 0, 0x20, 0, 0x80, 0x00}, 7, "overlong varint");
    expect_unpack_fails((const uint8_t[]){1, 0, 0, 0x20, 0, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0x02}, 15, "varint over 64 bits");
    expect_unpack_fails((const uint8_t[]){1, 0, 0, 0x20, 0, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 16, "varint over 10 bytes");
    const uint8_t vmax[] = {1, 0, 0, 0x20, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    CU_ASSERT_EQUAL(ls_state_unpack(vmax, sizeof(vmax), &a), LS_OK);
    CU_ASSERT_EQUAL(a.updated_at, INT64_MIN);
}

static void test_unpack_truncations(void)
{
    rng_state = 99;
    int bad = 0;
    for (int i = 0; i < 500; i++) {
        ls_activity_t a, b;
        uint8_t buf[LS_STATE_MAX];
        size_t len;
        rnd_activity(&a);
        if (ls_state_pack(&a, buf, sizeof(buf), &len) != LS_OK) {
            bad++;
            continue;
        }
        for (size_t cut = 0; cut < len; cut++)
            if (ls_state_unpack(buf, cut, &b) != LS_EINVAL)
                bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* Unpack an exact-size heap copy so ASan catches any read past len; when it
 * accepts, the bytes must be canonical (re-pack gives the same bytes). */
static int fuzz_one(const uint8_t *data, size_t len, int *noncanonical)
{
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, data, len);
    ls_activity_t a;
    int rc = ls_state_unpack(copy, len, &a);
    if (rc == LS_OK) {
        uint8_t re[LS_STATE_MAX];
        size_t rl = 0;
        if (ls_state_pack(&a, re, sizeof(re), &rl) != LS_OK || rl != len || memcmp(re, data, len) != 0)
            (*noncanonical)++;
    }
    free(copy);
    return rc;
}

static void test_unpack_fuzz(void)
{
    rng_state = UINT64_C(0xfeedfacecafebeef);
    int accepted = 0, noncanonical = 0, odd_rc = 0;
    uint8_t buf[LS_STATE_MAX + 16];
    for (int i = 0; i < 100000; i++) {
        size_t len;
        if (i % 2 == 0) {             /* pure noise, usually with a valid version byte */
            len = rnd_below(64);
            for (size_t k = 0; k < len; k++)
                buf[k] = (uint8_t)rnd();
            if (len > 0 && rnd_below(4) != 0)
                buf[0] = 1;
        } else {                      /* a valid record with a few mutations */
            ls_activity_t a;
            rnd_activity(&a);
            ls_state_pack(&a, buf, LS_STATE_MAX, &len);
            for (uint32_t m = rnd_below(4); m > 0; m--) {
                switch (rnd_below(4)) {
                case 0: buf[rnd_below((uint32_t)len)] ^= (uint8_t)(1u << rnd_below(8)); break;
                case 1: len = rnd_below((uint32_t)len + 1); break;
                case 2: if (len < sizeof(buf)) buf[len++] = (uint8_t)rnd(); break;
                default: if (len > 0) buf[rnd_below((uint32_t)len)] = (uint8_t)rnd(); break;
                }
                if (len == 0)
                    break;
            }
        }
        int rc = fuzz_one(buf, len, &noncanonical);
        accepted += rc == LS_OK;
        odd_rc += rc != LS_OK && rc != LS_EINVAL;
    }
    CU_ASSERT_EQUAL(noncanonical, 0);
    CU_ASSERT_EQUAL(odd_rc, 0);
    CU_ASSERT(accepted > 1000); /* the fuzzer really reached the field decoders */
    fprintf(stderr, "\nfuzz: %d of 100000 inputs accepted\n", accepted);
}

static CU_TestInfo state_tests[] = {
    {"golden byte layout", test_golden_layout},
    {"empty record", test_empty_record},
    {"random round trips are canonical", test_roundtrip_random},
    {"maximum size", test_max_size},
    {"pack: full buffer and invalid records", test_pack_full_and_invalid},
    {"-0.0 is canonical +0.0", test_negative_zero_canonical},
    {"typical record under 150 bytes", test_typical_size},
    {"unpack rejects malformed input", test_unpack_rejects},
    {"unpack rejects every truncation", test_unpack_truncations},
    {"unpack fuzz", test_unpack_fuzz},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_state", NULL, NULL, NULL, NULL, state_tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
