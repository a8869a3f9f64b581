/* test_rollup.c - progress rollups: order independence (incremental == recompute), absent fields,
 * removal, rounding, packed forms, course idle cutoff. */
#include "ls_err.h"
#include "ls_rollup.h"
#include "ls_test.h"
#include "ls_time.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

static uint32_t below(uint32_t n)
{
    return (uint32_t)(ls_test_rnd(&rng_state) % n);
}

static const ls_event_ctx_t ctx = {"conn-1", "canvas", NULL, "full", "job-1", 0, NULL};

/* An activity of stu-1 in course-1 with random optional fields. */
static void random_activity(ls_activity_t *a, int i)
{
    ls_activity_clear(a);
    snprintf(a->id, sizeof(a->id), "act-%d", i);
    strcpy(a->course_id, "course-1");
    strcpy(a->student_id, "stu-1");
    a->pres[LS_F_COURSE_ID] = a->pres[LS_F_STUDENT_ID] = LS_PRESENT;
    static const double progress[] = {0, 12.5, 33.333, 62.345, 100, 99.995, 0.005};
    a->pres[LS_F_IS_COMPLETED] = (uint8_t)below(3);
    a->is_completed = a->pres[LS_F_IS_COMPLETED] == LS_PRESENT && below(2);
    a->pres[LS_F_PROGRESS] = (uint8_t)below(3);
    a->progress_percentage = a->pres[LS_F_PROGRESS] == LS_PRESENT ? progress[below(7)] : 0;
    a->pres[LS_F_DURATION] = (uint8_t)below(3);
    a->duration_minutes = a->pres[LS_F_DURATION] == LS_PRESENT ? below(10000) / 7.0 : 0;
    ls_field_t times[] = {LS_F_STARTED_AT, LS_F_COMPLETED_AT, LS_F_UPDATED_AT};
    int64_t *vals[] = {&a->started_at, &a->completed_at, &a->updated_at};
    for (int t = 0; t < 3; t++) {
        a->pres[times[t]] = (uint8_t)below(3);
        *vals[t] = a->pres[times[t]] == LS_PRESENT ? INT64_C(1700000000000) + below(1000000) : 0;
    }
}

static void aggregate(const ls_ru_member_t *ms, const int *order, int n, ls_ru_enr_t *e)
{
    ls_ru_enr_init(e);
    for (int i = 0; i < n; i++)
        ls_ru_enr_add(e, &ms[order ? order[i] : i]);
}

static char *enr_json(const ls_ru_enr_t *e)
{
    json_t *o = json_object();
    ls_ru_ident_t id = {&ctx, "course-1", "stu-1"};
    CU_ASSERT_EQUAL(ls_ru_enrollment_fill(o, &id, e), LS_OK);
    char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(o);
    return s;
}

/* A set of members changed one at a time (add, change, remove), each time aggregated in a
 * shuffled order: packed bytes and JSON equal the in-order aggregate. */
static void test_order_independent(void)
{
    rng_state = 42;
    enum { N = 24 };
    ls_ru_member_t ms[N];
    int n = 0;
    for (int step = 0; step < 2000; step++) {
        int op = below(3);
        ls_activity_t a;
        const char *c, *s;
        if (op == 0 && n < N) {
            random_activity(&a, step);
            CU_ASSERT_TRUE(ls_ru_member_from_activity(&a, &ms[n++], &c, &s));
        } else if (op == 1 && n > 0) {
            random_activity(&a, step);
            CU_ASSERT_TRUE(ls_ru_member_from_activity(&a, &ms[below((uint32_t)n)], &c, &s));
        } else if (n > 0) {
            int k = (int)below((uint32_t)n);
            ms[k] = ms[--n];
        }
        int order[N];
        for (int i = 0; i < n; i++)
            order[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int k = below(i + 1), t = order[i];
            order[i] = order[k];
            order[k] = t;
        }
        ls_ru_enr_t a1, a2;
        aggregate(ms, NULL, n, &a1);
        aggregate(ms, order, n, &a2);
        uint8_t p1[LS_RU_ENR_LEN], p2[LS_RU_ENR_LEN];
        ls_ru_enr_pack(&a1, p1);
        ls_ru_enr_pack(&a2, p2);
        CU_ASSERT_EQUAL(memcmp(p1, p2, sizeof(p1)), 0);
        ls_ru_enr_t back;
        CU_ASSERT_EQUAL(ls_ru_enr_unpack(p1, sizeof(p1), &back), LS_OK);
        char *j1 = enr_json(&a1), *j2 = enr_json(&back);
        CU_ASSERT_STRING_EQUAL(j1, j2);
        free(j1);
        free(j2);
    }
}

static void test_absent_fields(void)
{
    ls_activity_t a;
    ls_activity_clear(&a);
    strcpy(a.id, "a");
    strcpy(a.course_id, "c");
    strcpy(a.student_id, "s");
    a.pres[LS_F_COURSE_ID] = a.pres[LS_F_STUDENT_ID] = LS_PRESENT;
    a.pres[LS_F_PROGRESS] = LS_NULL;   /* null is not reported either */
    ls_ru_member_t m;
    const char *c, *s;
    CU_ASSERT_TRUE(ls_ru_member_from_activity(&a, &m, &c, &s));
    ls_ru_enr_t e;
    aggregate(&m, NULL, 1, &e);
    char *j = enr_json(&e);
    CU_ASSERT_PTR_NULL(strstr(j, "progress"));
    CU_ASSERT_PTR_NULL(strstr(j, "duration"));
    CU_ASSERT_PTR_NULL(strstr(j, "_at"));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"activities\":1,"));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"completed\":0,"));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"tenant\":null"));
    free(j);
    /* no student, a '/' in the course: no enrollment */
    a.pres[LS_F_STUDENT_ID] = LS_ABSENT;
    CU_ASSERT_FALSE(ls_ru_member_from_activity(&a, &m, &c, &s));
    a.pres[LS_F_STUDENT_ID] = LS_PRESENT;
    strcpy(a.course_id, "c/1");
    CU_ASSERT_FALSE(ls_ru_member_from_activity(&a, &m, &c, &s));
}

static ls_ru_member_t member(int completed, int64_t completed_at, double progress)
{
    ls_activity_t a;
    ls_activity_clear(&a);
    strcpy(a.course_id, "c");
    strcpy(a.student_id, "s");
    a.pres[LS_F_COURSE_ID] = a.pres[LS_F_STUDENT_ID] = a.pres[LS_F_IS_COMPLETED] = LS_PRESENT;
    a.is_completed = completed;
    if (completed_at) {
        a.pres[LS_F_COMPLETED_AT] = LS_PRESENT;
        a.completed_at = completed_at;
    }
    if (progress >= 0) {
        a.pres[LS_F_PROGRESS] = LS_PRESENT;
        a.progress_percentage = progress;
    }
    ls_ru_member_t m;
    const char *c, *s;
    CU_ASSERT_TRUE(ls_ru_member_from_activity(&a, &m, &c, &s));
    return m;
}

static void test_all_completed_and_removal(void)
{
    ls_ru_member_t ms[3] = {member(1, 1000, 100), member(1, 3000, 50), member(0, 0, -1)};
    ls_ru_enr_t e;
    aggregate(ms, NULL, 3, &e);
    char *j = enr_json(&e);
    CU_ASSERT_PTR_NULL(strstr(j, "all_completed_at"));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"progress_mean\":75.0,"));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"progress_min\":50.0,"));
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"completion_share\":0.66669999999999996,"));
    free(j);
    aggregate(ms, NULL, 2, &e);   /* the open one removed */
    j = enr_json(&e);
    CU_ASSERT_PTR_NOT_NULL(strstr(j, "\"all_completed_at\":\"1970-01-01T00:00:03Z\""));
    free(j);
    ms[1] = member(1, 0, 50);   /* completed without completed_at */
    aggregate(ms, NULL, 2, &e);
    j = enr_json(&e);
    CU_ASSERT_PTR_NULL(strstr(j, "all_completed_at"));
    free(j);
    aggregate(ms, NULL, 0, &e);   /* every activity removed: the course skips it */
    ls_ru_course_t c;
    ls_ru_course_init(&c, 14, 0);
    ls_ru_course_add(&c, &e);
    CU_ASSERT_EQUAL(c.learners, 0);
}

static void test_rounding(void)
{
    CU_ASSERT_EQUAL(ls_ru_round_div(5, 2), 3);
    CU_ASSERT_EQUAL(ls_ru_round_div(-5, 2), -2);
    CU_ASSERT_EQUAL(ls_ru_round_div(-7, 2), -3);
    CU_ASSERT_EQUAL(ls_ru_round_div(1, 3), 0);
    CU_ASSERT_EQUAL(ls_ru_round_div(2, 3), 1);
    CU_ASSERT_EQUAL(ls_ru_round_div(-2, 3), -1);
    CU_ASSERT_EQUAL(ls_ru_round_div(0, 7), 0);
    ls_ru_member_t m = member(0, 0, 62.345);   /* x * 100 is 6234.5 in double: half up */
    CU_ASSERT_EQUAL(m.progress, 6235);
    m = member(0, 0, 1.005);                   /* x * 100 is 100.49999999999999 in double */
    CU_ASSERT_EQUAL(m.progress, 100);
    m = member(0, 0, 0.005);                   /* 0.5 -> 1 */
    CU_ASSERT_EQUAL(m.progress, 1);
    m = member(0, 0, 2e9);                     /* out of range: not reported */
    CU_ASSERT_FALSE(m.has & LS_RU_HAS_PROGRESS);
    ls_ru_member_t ms[2] = {member(0, 0, 0.01), member(0, 0, 0.02)};   /* mean 0.015 -> 0.02 */
    ls_ru_enr_t e;
    aggregate(ms, NULL, 2, &e);
    CU_ASSERT_EQUAL(ls_ru_round_div(e.progress_sum, e.n_progress), 2);
}

static void test_packed_rejects(void)
{
    ls_ru_member_t m = member(1, 5, 10), back;
    uint8_t p[LS_RU_MEMBER_LEN];
    ls_ru_member_pack(&m, p);
    CU_ASSERT_EQUAL(ls_ru_member_unpack(p, sizeof(p), &back), LS_OK);
    CU_ASSERT_EQUAL(memcmp(&back.progress, &m.progress, sizeof(int64_t)), 0);
    CU_ASSERT_EQUAL(ls_ru_member_unpack(p, sizeof(p) - 1, &back), LS_EINVAL);
    p[1] = 2;
    CU_ASSERT_EQUAL(ls_ru_member_unpack(p, sizeof(p), &back), LS_EINVAL);
    ls_ru_member_pack(&m, p);
    p[0] &= (uint8_t)~LS_RU_HAS_PROGRESS;   /* a value without its presence bit */
    CU_ASSERT_EQUAL(ls_ru_member_unpack(p, sizeof(p), &back), LS_EINVAL);
    ls_ru_enr_t e;
    aggregate(&m, NULL, 1, &e);
    uint8_t q[LS_RU_ENR_LEN];
    ls_ru_enr_pack(&e, q);
    q[4] = 9;   /* completed > activities */
    CU_ASSERT_EQUAL(ls_ru_enr_unpack(q, sizeof(q), &e), LS_EINVAL);
    ls_ru_course_t c, cb;
    ls_ru_course_init(&c, 14, 123);
    uint8_t r[LS_RU_COURSE_LEN];
    ls_ru_course_pack(&c, r);
    CU_ASSERT_EQUAL(ls_ru_course_unpack(r, sizeof(r), &cb), LS_OK);
    CU_ASSERT_EQUAL(cb.evaluated_at, 123);
    r[4] = 1;   /* learners_completed > learners */
    CU_ASSERT_EQUAL(ls_ru_course_unpack(r, sizeof(r), &cb), LS_EINVAL);
}

/* The fixed layouts: little endian, the last field ends at the record's length. */
static void test_packed_layout(void)
{
    uint8_t out[LS_RU_ENR_LEN + 1];
    ls_ru_member_t m = {LS_RU_HAS_LAST | LS_RU_HAS_PROGRESS, 1, 0x0201, 0, 0, 0, INT64_C(0x0102030405060708)};
    memset(out, 0xee, sizeof(out));
    ls_ru_member_pack(&m, out);
    const uint8_t head[] = {0x11, 1, 0x01, 0x02, 0};
    CU_ASSERT_EQUAL(memcmp(out, head, sizeof(head)), 0);
    CU_ASSERT_EQUAL(out[LS_RU_MEMBER_LEN - 8], 0x08);
    CU_ASSERT_EQUAL(out[LS_RU_MEMBER_LEN - 1], 0x01);
    CU_ASSERT_EQUAL(out[LS_RU_MEMBER_LEN], 0xee);
    ls_ru_enr_t e;
    ls_ru_enr_init(&e);
    ls_ru_enr_add(&e, &m);
    memset(out, 0xee, sizeof(out));
    ls_ru_enr_pack(&e, out);
    CU_ASSERT_EQUAL(out[0], 1);    /* activities, u32 */
    CU_ASSERT_EQUAL(out[20], LS_RU_HAS_LAST);
    CU_ASSERT_EQUAL(out[LS_RU_ENR_LEN - 1], 0x01);
    CU_ASSERT_EQUAL(out[LS_RU_ENR_LEN], 0xee);
    ls_ru_course_t c;
    ls_ru_course_init(&c, 14, INT64_C(0x0102030405060708));
    memset(out, 0xee, sizeof(out));
    ls_ru_course_pack(&c, out);
    CU_ASSERT_EQUAL(out[24], 14);  /* idle_days, after 4 counts and the progress sum */
    CU_ASSERT_EQUAL(out[LS_RU_COURSE_LEN - 1], 0x01);
    CU_ASSERT_EQUAL(out[LS_RU_COURSE_LEN], 0xee);
}

static void test_course_idle(void)
{
    int64_t now = 100 * LS_RU_DAY_MS;
    ls_ru_enr_t fresh, stale, timeless;
    ls_ru_enr_init(&fresh);
    ls_ru_enr_init(&stale);
    ls_ru_enr_init(&timeless);
    ls_ru_member_t m = member(1, now - 14 * LS_RU_DAY_MS, 40);   /* exactly at the cutoff: not idle */
    ls_ru_enr_add(&fresh, &m);
    m = member(0, now - 14 * LS_RU_DAY_MS - 1, 81);
    ls_ru_enr_add(&stale, &m);
    m = member(0, 0, -1);
    ls_ru_enr_add(&timeless, &m);
    ls_ru_course_t c;
    ls_ru_course_init(&c, 14, now);
    ls_ru_course_add(&c, &fresh);
    ls_ru_course_add(&c, &stale);
    ls_ru_course_add(&c, &timeless);
    CU_ASSERT_EQUAL(c.learners, 3);
    CU_ASSERT_EQUAL(c.learners_completed, 1);
    CU_ASSERT_EQUAL(c.learners_idle, 1);
    CU_ASSERT_EQUAL(ls_ru_round_div(c.progress_sum, c.n_progress), 6050);   /* (40 + 81) / 2 */
    json_t *o = json_object();
    ls_ru_ident_t id = {&ctx, "course-1", NULL};
    CU_ASSERT_EQUAL(ls_ru_course_fill(o, &id, &c), LS_OK);
    char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
    CU_ASSERT_STRING_EQUAL(s, "{\"completion_rate\":0.33329999999999999,\"connection_id\":\"conn-1\","
                              "\"course_id\":\"course-1\",\"evaluated_at\":\"1970-04-11T00:00:00Z\",\"idle_days\":14,"
                              "\"integration_type\":\"canvas\",\"learners\":3,\"learners_completed\":1,"
                              "\"learners_idle\":1,\"progress_mean\":60.5,\"tenant\":null}");
    free(s);
    json_decref(o);
    ls_ru_course_t later = c;
    later.evaluated_at++;
    CU_ASSERT_TRUE(ls_ru_course_same(&c, &later));
    later.learners_idle++;
    CU_ASSERT_FALSE(ls_ru_course_same(&c, &later));
}

static CU_TestInfo rollup_tests[] = {
    {"incremental equals recompute (any order, byte for byte)", test_order_independent},
    {"fields nobody reports stay absent", test_absent_fields},
    {"all_completed_at and removal", test_all_completed_and_removal},
    {"rounding half up in hundredths", test_rounding},
    {"packed forms reject what pack cannot produce", test_packed_rejects},
    {"packed layouts", test_packed_layout},
    {"course: idle cutoff, mean of means, JSON", test_course_idle},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_rollup", NULL, NULL, NULL, NULL, rollup_tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
