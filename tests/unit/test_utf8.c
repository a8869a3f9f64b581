/* test_utf8.c - ls_utf8: the boundaries of RFC 3629, and the same verdict as
 * jansson 2.14's json_stringn() on random byte strings. */
#include "ls_test.h"
#include "ls_utf8.h"

#include <jansson.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const char *bytes;
    size_t len;
    bool valid;
} utf8_case_t;

#define C(lit, ok) {lit, sizeof(lit) - 1, ok}

static const utf8_case_t cases[] = {
    C("", true),
    C("plain ascii", true),
    C("nul\0inside", true),                 /* U+0000 is valid; callers forbid NUL */
    C("\x7f", true),
    C("\xc2\x80", true),                    /* U+0080, shortest 2-byte */
    C("\xdf\xbf", true),
    C("\xc0\x80", false),                   /* overlong NUL */
    C("\xc1\xbf", false),                   /* overlong '?' */
    C("\x80", false),                       /* lone continuation */
    C("\xbf", false),
    C("\xc3", false),                       /* truncated */
    C("\xc3\x28", false),                   /* bad continuation */
    C("\xe0\xa0\x80", true),                /* U+0800 */
    C("\xe0\x9f\xbf", false),               /* overlong 3-byte */
    C("\xed\x9f\xbf", true),                /* U+D7FF */
    C("\xed\xa0\x80", false),               /* U+D800 surrogate */
    C("\xed\xbf\xbf", false),               /* U+DFFF surrogate */
    C("\xee\x80\x80", true),                /* U+E000 */
    C("\xef\xbf\xbf", true),                /* U+FFFF */
    C("\xe2\x82", false),                   /* truncated */
    C("\xf0\x90\x80\x80", true),            /* U+10000 */
    C("\xf0\x8f\xbf\xbf", false),           /* overlong 4-byte */
    C("\xf4\x8f\xbf\xbf", true),            /* U+10FFFF */
    C("\xf4\x90\x80\x80", false),           /* above U+10FFFF */
    C("\xf5\x80\x80\x80", false),
    C("\xf8\x88\x80\x80\x80", false),       /* 5-byte form */
    C("\xff", false),
    C("ok \xf0\x9f\x98\x80 then \xe2\x82\xac", true),
    C("ok then \xf0\x9f\x98", false),       /* truncated at the end */
};

static void test_cases(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool got = ls_utf8_valid(cases[i].bytes, cases[i].len);
        CU_ASSERT_EQUAL(got, cases[i].valid);
        if (got != cases[i].valid)
            fprintf(stderr, "\ncase %zu: got %d, want %d\n", i, got, cases[i].valid);
    }
}

static void test_seq_lengths(void)
{
    CU_ASSERT_EQUAL(ls_utf8_seq((const unsigned char *)"\xc3\xa9x", 3), 2);
    CU_ASSERT_EQUAL(ls_utf8_seq((const unsigned char *)"\xe2\x82\xac", 3), 3);
    CU_ASSERT_EQUAL(ls_utf8_seq((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
    /* never reads past n: a valid sequence cut short is invalid */
    CU_ASSERT_EQUAL(ls_utf8_seq((const unsigned char *)"\xf0\x9f\x98\x80", 3), 0);
    CU_ASSERT_EQUAL(ls_utf8_seq((const unsigned char *)"\x80", 1), 0);
}

/* Deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_state = UINT64_C(0x9e3779b97f4a7c15);

static uint32_t rnd_below(uint32_t n)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * UINT64_C(0x2545F4914F6CDD1D)) >> 32) % n;
}

/* Bytes near the interesting boundaries: lead bytes, continuation bytes
 * around 0x80/0x8F/0x90/0x9F/0xA0/0xBF, ASCII and NUL. */
static unsigned char rnd_byte(void)
{
    static const unsigned char pick[] = {0x00, 'a', 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0,
                                         0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0,
                                         0xf1, 0xf3, 0xf4, 0xf5, 0xf7, 0xf8, 0xfe, 0xff};
    return rnd_below(4) == 0 ? (unsigned char)rnd_below(256) : pick[rnd_below(sizeof(pick))];
}

static void test_same_as_jansson(void)
{
    unsigned char buf[8];
    unsigned mismatches = 0, valid = 0;
    for (int i = 0; i < 400000; i++) {
        size_t n = rnd_below(sizeof(buf) + 1);
        for (size_t k = 0; k < n; k++)
            buf[k] = rnd_byte();
        json_t *j = json_stringn((const char *)buf, n);
        bool ref = j != NULL, got = ls_utf8_valid((const char *)buf, n);
        json_decref(j);
        valid += got;
        if (got != ref && mismatches++ < 5) {
            fprintf(stderr, "\nmismatch (ours %d, jansson %d):", got, ref);
            for (size_t k = 0; k < n; k++)
                fprintf(stderr, " %02x", buf[k]);
        }
    }
    CU_ASSERT_EQUAL(mismatches, 0);
    CU_ASSERT(valid > 10000); /* the generator reaches both verdicts */
}

static CU_TestInfo utf8_tests[] = {
    {"boundary cases", test_cases},
    {"sequence lengths", test_seq_lengths},
    {"same verdict as json_stringn", test_same_as_jansson},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_utf8", NULL, NULL, NULL, NULL, utf8_tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
