/*
 * test_sync_rollup.c - the worker's rollup maintenance (worker/ls_sync_rollup.c) against a real
 * LMDB store and librdkafka's mock cluster: after any sequence of batches, the incrementally
 * maintained member and enrollment rows are byte for byte what a rebuild from the states gives;
 * an unchanged rollup is not published; learners_idle moves with time only when evaluated again;
 * republish sends every rollup of the connection, or of one course; a rollup carries its course's
 * name from the catalog cache.
 */
#include "ls_catalog.h"
#include "ls_err.h"
#include "ls_kafka.h"
#include "ls_state.h"
#include "ls_store.h"
#include "ls_sync_rollup.h"
#include "ls_test.h"

#include <librdkafka/rdkafka.h>
#include <jansson.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NACT 24
#define DAY LS_RU_DAY_MS

static rd_kafka_t *host;
static rd_kafka_mock_cluster_t *mock;
static char bootstrap[256], dir[64];
static ls_store_t *st;
static ls_producer_t *prod;
static ls_activity_t cur[NACT];
static int live[NACT];
static uint64_t rng = 7;
static const ls_event_ctx_t ec = {"c1", "moodle", "t-1", "full", "job", 0, NULL};

static uint32_t below(uint32_t n)
{
    return (uint32_t)(ls_test_rnd(&rng) % n);
}

static int setup(void)
{
    char err[256], cmd[96];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    if (!(host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))) ||
        !(mock = rd_kafka_mock_cluster_new(host, 1)))
        return 1;
    snprintf(bootstrap, sizeof(bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(mock));
    if (rd_kafka_mock_topic_create(mock, "enr", 1, 1) || rd_kafka_mock_topic_create(mock, "crs", 1, 1))
        return 1;
    ls_kafka_conf_t kc = {bootstrap, "none", 0};
    if (!(prod = ls_producer_new(&kc, 5000, err, sizeof(err))))
        return 1;
    snprintf(dir, sizeof(dir), "/tmp/ls-rollup-test-%ld", (long)getpid());
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) != 0 || !(st = ls_store_new(dir, 16, err, sizeof(err)));
}

static int teardown(void)
{
    char cmd[96];
    ls_store_destroy(st);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ls_producer_destroy(prod);
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(host);
    return system(cmd) != 0;
}

/* A random activity i: one of 3 students in one of 2 courses, random optional fields. */
static void random_activity(int i, int64_t now, ls_activity_t *a)
{
    ls_activity_clear(a);
    snprintf(a->id, sizeof(a->id), "act-%02d", i);
    snprintf(a->course_id, sizeof(a->course_id), "crs-%u", below(2));
    snprintf(a->student_id, sizeof(a->student_id), "stu-%u", below(3));
    a->pres[LS_F_COURSE_ID] = a->pres[LS_F_STUDENT_ID] = LS_PRESENT;
    if (below(8) == 0)
        a->pres[LS_F_STUDENT_ID] = LS_NULL;   /* belongs to no enrollment */
    a->pres[LS_F_IS_COMPLETED] = LS_PRESENT;
    a->is_completed = below(2);
    if (below(3)) {
        a->pres[LS_F_PROGRESS] = LS_PRESENT;
        a->progress_percentage = below(10001) / 100.0;
    }
    if (below(2)) {
        a->pres[LS_F_COMPLETED_AT] = LS_PRESENT;
        a->completed_at = now - below(20) * DAY;
    }
    a->pres[LS_F_UPDATED_AT] = LS_PRESENT;
    a->updated_at = now - below(20) * DAY;
}

/* Produce the rollups of changes, await them, commit states and rows. Records produced in *n. */
static void apply(const ls_ru_change_t *ch, size_t n, int reevaluate, int64_t now, uint64_t *records)
{
    char err[256];
    ls_batch_t b;
    ls_ru_rows_t rows = {0};
    ls_batch_init(&b);
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    ls_ru_env_t env = {r, 3, &ec, prod, "enr", "crs", &b, 14, now};
    CU_ASSERT_EQUAL(ls_ru_produce(&env, ch, n, reevaluate, NULL, &rows, err, sizeof(err)), LS_OK);
    ls_store_reader_destroy(r);
    CU_ASSERT_EQUAL(ls_producer_wait(prod, &b, 10000, err, sizeof(err)), LS_OK);
    ls_store_put_t puts[8];
    uint8_t packed[8][LS_STATE_MAX];
    for (size_t i = 0; i < n; i++) {
        const ls_activity_t *a = ch[i].after ? ch[i].after : ch[i].before;
        puts[i] = (ls_store_put_t){a->id, NULL, 0};
        if (ch[i].after)
            CU_ASSERT_EQUAL(ls_state_pack(ch[i].after, packed[i], LS_STATE_MAX, &puts[i].len), LS_OK);
        puts[i].state = ch[i].after ? packed[i] : NULL;
    }
    CU_ASSERT_EQUAL(ls_store_commit_rows(st, 3, "c1", puts, n, NULL, 0, ls_ru_rows_view(&rows), rows.n, -1, NULL,
                                         NULL, err, sizeof(err)), LS_OK);
    *records = rows.enrollments + rows.courses;
    ls_ru_rows_release(&rows);
}

typedef struct snap {
    char buf[65536];
    size_t len;
} snap_t;

static int snap_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *ud)
{
    snap_t *s = ud;
    CU_ASSERT_FATAL(s->len + klen + vlen + 2 < sizeof(s->buf));
    memcpy(s->buf + s->len, key, klen);
    s->len += klen;
    s->buf[s->len++] = '=';
    memcpy(s->buf + s->len, val, vlen);
    s->len += vlen;
    s->buf[s->len++] = ';';
    return 0;
}

/* Every member and enrollment row of the connection, in key order. */
static void snapshot(snap_t *s)
{
    char err[256];
    s->len = 0;
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    CU_ASSERT_EQUAL(ls_store_reader_scan(r, LS_STORE_RU_MEMBERS, 3, "c1", NULL, 0, snap_cb, s), LS_OK);
    CU_ASSERT_EQUAL(ls_store_reader_scan(r, LS_STORE_RU_ENROLLMENTS, 3, "c1", NULL, 0, snap_cb, s), LS_OK);
    ls_store_reader_destroy(r);
}

static void test_incremental_equals_rebuild(void)
{
    static snap_t inc, rebuilt;
    int64_t now = 400 * DAY;
    for (int step = 0; step < 150; step++) {
        ls_ru_change_t ch[8];
        ls_activity_t next[8];
        int used[NACT] = {0};
        size_t n = 1 + below(6);
        for (size_t k = 0; k < n; k++) {
            int i;
            do
                i = (int)below(NACT);
            while (used[i]);
            used[i] = 1;
            int remove = live[i] && below(4) == 0;
            random_activity(i, now, &next[k]);
            ch[k] = (ls_ru_change_t){live[i] ? &cur[i] : NULL, remove ? NULL : &next[k]};
        }
        uint64_t records;
        apply(ch, n, 0, now, &records);
        for (size_t k = 0; k < n; k++) {
            int i = atoi((ch[k].after ? ch[k].after : ch[k].before)->id + 4);
            live[i] = ch[k].after != NULL;
            if (ch[k].after)
                cur[i] = *ch[k].after;
        }
        if (step % 10 == 9) {
            snapshot(&inc);
            char err[256];
            CU_ASSERT_EQUAL(ls_store_rebuild_rollups(st, 3, NULL, err, sizeof(err)), LS_OK);
            snapshot(&rebuilt);
            CU_ASSERT_EQUAL_FATAL(inc.len, rebuilt.len);
            CU_ASSERT_EQUAL(memcmp(inc.buf, rebuilt.buf, inc.len), 0);
        }
    }
}

/* The same states again publish nothing; time alone moves learners_idle, seen only when evaluated. */
static void test_publish_only_changes(void)
{
    int64_t now = 400 * DAY;
    uint64_t records;
    ls_ru_change_t ch[NACT];
    size_t n = 0;
    for (int i = 0; i < NACT && n < 8; i++)
        if (live[i])
            ch[n++] = (ls_ru_change_t){&cur[i], &cur[i]};
    apply(ch, n, 0, now, &records);
    CU_ASSERT_EQUAL(records, 0);
    apply(NULL, 0, 1, now, &records);   /* courses first evaluated after the rebuild: published once */
    apply(NULL, 0, 1, now, &records);
    CU_ASSERT_EQUAL(records, 0);        /* same instant, same values */
    apply(NULL, 0, 1, now + 60 * DAY, &records);
    CU_ASSERT_TRUE(records > 0);        /* every learner is idle now: courses change */
    apply(NULL, 0, 1, now + 61 * DAY, &records);
    CU_ASSERT_EQUAL(records, 0);
}

static int count_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *ud)
{
    (void)key, (void)klen, (void)val, (void)vlen;
    (*(uint64_t *)ud)++;
    return 0;
}

static void test_republish(void)
{
    char err[256];
    uint64_t enrollments = 0;
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    CU_ASSERT_EQUAL(ls_store_reader_scan(r, LS_STORE_RU_ENROLLMENTS, 3, "c1", NULL, 0, count_cb, &enrollments), LS_OK);
    ls_batch_t b;
    ls_batch_init(&b);
    ls_ru_rows_t rows = {0};
    ls_ru_env_t env = {r, 3, &ec, prod, "enr", "crs", &b, 14, 461 * DAY};
    CU_ASSERT_EQUAL(ls_ru_republish(&env, NULL, &rows, err, sizeof(err)), LS_OK);
    ls_store_reader_destroy(r);
    CU_ASSERT_EQUAL(ls_producer_wait(prod, &b, 10000, err, sizeof(err)), LS_OK);
    CU_ASSERT_TRUE(enrollments > 0);
    CU_ASSERT_EQUAL(rows.enrollments, enrollments);
    CU_ASSERT_EQUAL(rows.courses, 2);   /* both courses, although their values did not change */
    ls_ru_rows_release(&rows);
}

/* The last value on the mock's topic under key (malloc'd; NULL: none, or the last one is a tombstone). */
static char *last_value(const char *topic, const char *key)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "test-sync-rollup", err, sizeof(err));
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tp, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    CU_ASSERT_EQUAL(rd_kafka_assign(c, tp), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(tp);
    int64_t lo = 0, hi = 0, next = 0;
    CU_ASSERT_EQUAL(rd_kafka_query_watermark_offsets(c, topic, 0, &lo, &hi, 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
    char *out = NULL;
    for (int idle = 0; next < hi && idle < 100;) {   /* 10 s without a message at most */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m) {
            idle++;
            continue;
        }
        if (!m->err)
            next = m->offset + 1;
        if (!m->err && m->key_len == strlen(key) && memcmp(m->key, key, m->key_len) == 0) {
            free(out);
            out = m->payload ? strndup(m->payload, m->len) : NULL;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return out;
}

/* A value's string member name, or "" when absent. */
static void member_of(const char *value, const char *name, char *buf, size_t sz)
{
    json_t *v = json_loads(value ? value : "null", 0, NULL);
    const char *s = json_string_value(json_object_get(v, name));
    snprintf(buf, sz, "%s", s ? s : "");
    json_decref(v);
}

/* A course scope republishes its course only; the course's cached catalog name is in its rollups,
 * absent for a course the cache does not know. */
static void test_republish_course_names(void)
{
    char err[256], name[64];
    ls_catalog_item_t named = {.id = "crs-1", .e = {.has_name = 1, .name = "Algebra I", .fetched_at = 1}};
    CU_ASSERT_EQUAL_FATAL(ls_store_catalog_commit(st, 3, "c1", LS_CATALOG_COURSE, &named, 1, err, sizeof(err)), LS_OK);
    uint8_t ck[LS_RU_COURSE_KEY];
    uint64_t enrollments = 0;
    ls_ru_course_key("crs-1", ck);
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    CU_ASSERT_EQUAL(ls_store_reader_scan(r, LS_STORE_RU_ENROLLMENTS, 3, "c1", ck, sizeof(ck), count_cb, &enrollments),
                    LS_OK);
    ls_batch_t b;
    ls_batch_init(&b);
    ls_ru_rows_t rows = {0};
    ls_ru_env_t env = {r, 3, &ec, prod, "enr", "crs", &b, 14, 462 * DAY};
    CU_ASSERT_EQUAL(ls_ru_republish(&env, "crs-1", &rows, err, sizeof(err)), LS_OK);
    ls_store_reader_destroy(r);
    CU_ASSERT_EQUAL(ls_producer_wait(prod, &b, 10000, err, sizeof(err)), LS_OK);
    CU_ASSERT_TRUE(enrollments > 0);
    CU_ASSERT_EQUAL(rows.enrollments, enrollments);
    CU_ASSERT_EQUAL(rows.courses, 1);
    ls_ru_rows_release(&rows);
    char *course = last_value("crs", "c1/crs-1"), *other = last_value("crs", "c1/crs-0");
    CU_ASSERT_PTR_NOT_NULL_FATAL(course);
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    member_of(course, "course_name", name, sizeof(name));
    CU_ASSERT_STRING_EQUAL(name, "Algebra I");
    member_of(other, "course_name", name, sizeof(name));
    CU_ASSERT_STRING_EQUAL(name, "");   /* not in the cache: absent */
    member_of(other, "course_id", name, sizeof(name));
    CU_ASSERT_STRING_EQUAL(name, "crs-0");
    free(course);
    free(other);
}

static CU_TestInfo tests[] = {
    {"incremental rows equal a rebuild from the states", test_incremental_equals_rebuild},
    {"only changed rollups are published; idle moves with time", test_publish_only_changes},
    {"republish sends every rollup of the connection", test_republish},
    {"republish of a course scope; the catalog's course name", test_republish_course_names},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_sync_rollup", setup, teardown, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
