/*
 * Unit tests of ls_kafka's staged batch (librdkafka's in-process mock
 * cluster): LS_SEND_NOW messages are produced at once, LS_SEND_AFTER_EVENTS
 * ones only after those are acknowledged, LS_SEND_AFTER_ACKS ones only after
 * both; a failed earlier stage drops every held message and fails the batch.
 */
#define _DEFAULT_SOURCE /* usleep */
#include "ls_err.h"
#include "ls_kafka.h"
#include "ls_test.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static rd_kafka_t *host;
static rd_kafka_mock_cluster_t *mock;
static char bootstrap[256];

static int setup(void)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!host)
        return 1;
    mock = rd_kafka_mock_cluster_new(host, 1);
    if (!mock)
        return 1;
    snprintf(bootstrap, sizeof(bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(mock));
    return rd_kafka_mock_topic_create(mock, "staged", 1, 1) || rd_kafka_mock_topic_create(mock, "failing", 1, 1);
}

static int teardown(void)
{
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(host);
    return 0;
}

static ls_producer_t *producer(void)
{
    char err[256];
    ls_kafka_conf_t kc = {bootstrap, "none", 0};
    ls_producer_t *p = ls_producer_new(&kc, 5000, err, sizeof(err));
    if (!p)
        fprintf(stderr, "producer: %s\n", err);
    return p;
}

static void put(ls_producer_t *p, ls_batch_t *b, const char *topic, const char *v, ls_send_t when)
{
    CU_ASSERT_EQUAL(ls_producer_send(p, topic, 0, v, strlen(v), v, strlen(v), NULL, 0, b, when), LS_OK);
}

/* The values of topic's partition 0 in offset order, joined with ','. */
static void read_back(const char *topic, int64_t end, char *out, size_t outsz)
{
    char err[256];
    ls_kafka_conf_t kc = {bootstrap, "none", 0};
    ls_reader_t *r = ls_reader_new(&kc, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(ls_reader_start(r, topic, 0, LS_OFFSET_BEGINNING), LS_OK);
    out[0] = '\0';
    for (int64_t n = 0, tries = 0; n < end && tries < 100; tries++) {
        ls_kmsg_t m;
        int64_t eof;
        if (ls_reader_poll(r, 100, &m, &eof, err, sizeof(err)) != LS_OK)
            continue;
        size_t l = strlen(out);
        snprintf(out + l, outsz - l, "%s%.*s", l ? "," : "", (int)m.len, (const char *)m.value);
        ls_kmsg_release(&m);
        n++;
    }
    ls_reader_destroy(r);
}

/* Sent in the reverse of their stages, produced in stage order. */
static void test_stage_order(void)
{
    ls_producer_t *p = producer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    ls_batch_t b;
    ls_batch_init(&b);
    put(p, &b, "staged", "changelog1", LS_SEND_AFTER_ACKS);
    put(p, &b, "staged", "current1", LS_SEND_AFTER_EVENTS);
    put(p, &b, "staged", "event1", LS_SEND_NOW);
    put(p, &b, "staged", "changelog2", LS_SEND_AFTER_ACKS);
    put(p, &b, "staged", "current2", LS_SEND_AFTER_EVENTS);
    put(p, &b, "staged", "event2", LS_SEND_NOW);
    CU_ASSERT_EQUAL(b.pending, 6);
    char err[256];
    int rc;
    while ((rc = ls_producer_poll_batch(p, &b, err, sizeof(err))) == 1)
        usleep(1000);
    CU_ASSERT_EQUAL(rc, LS_OK);
    CU_ASSERT_EQUAL(b.delivered, 6);
    CU_ASSERT_EQUAL(b.failed, 0);
    CU_ASSERT_EQUAL(b.after_acks_next_offset, 6); /* the changelog records are the last two */
    CU_ASSERT_PTR_NULL(b.held);
    char got[256];
    read_back("staged", 6, got, sizeof(got));
    CU_ASSERT_STRING_EQUAL(got, "event1,event2,current1,current2,changelog1,changelog2");
    ls_producer_destroy(p);
}

/* ls_producer_wait goes through the same stages. */
static void test_wait(void)
{
    ls_producer_t *p = producer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    ls_batch_t b;
    ls_batch_init(&b);
    put(p, &b, "staged", "c", LS_SEND_AFTER_ACKS);
    put(p, &b, "staged", "b", LS_SEND_AFTER_EVENTS);
    put(p, &b, "staged", "a", LS_SEND_NOW);
    char err[256];
    CU_ASSERT_EQUAL(ls_producer_wait(p, &b, 10000, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(b.delivered, 3);
    CU_ASSERT_EQUAL(b.after_acks_next_offset, 9);
    char got[256];
    read_back("staged", 9, got, sizeof(got));
    CU_ASSERT_PTR_NOT_NULL(strstr(got, ",a,b,c"));
    ls_producer_destroy(p);
}

/* An event that is not delivered: nothing held is produced, the batch fails. */
static void test_failed_event_drops_held(void)
{
    ls_producer_t *p = producer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    rd_kafka_mock_push_request_errors(mock, 0 /* ApiKey Produce */, 1, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    ls_batch_t b;
    ls_batch_init(&b);
    put(p, &b, "failing", "event", LS_SEND_NOW);
    put(p, &b, "failing", "current", LS_SEND_AFTER_EVENTS);
    put(p, &b, "failing", "changelog", LS_SEND_AFTER_ACKS);
    char err[256];
    CU_ASSERT_EQUAL(ls_producer_wait(p, &b, 10000, err, sizeof(err)), LS_ETRANSIENT);
    CU_ASSERT_EQUAL(b.failed, 3);
    CU_ASSERT_EQUAL(b.delivered, 0);
    CU_ASSERT_EQUAL(b.pending, 0);
    CU_ASSERT_EQUAL(b.after_acks_next_offset, -1);
    CU_ASSERT_PTR_NULL(b.held);
    ls_producer_destroy(p);
    ls_kafka_conf_t kc = {bootstrap, "none", 0};
    ls_reader_t *r = ls_reader_new(&kc, err, sizeof(err));
    int64_t lo, hi;
    CU_ASSERT_EQUAL(ls_reader_watermarks(r, "failing", 0, &lo, &hi, 5000, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(hi, 0);
    ls_reader_destroy(r);
}

/* A held message needs a batch. */
static void test_held_needs_batch(void)
{
    ls_producer_t *p = producer();
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(ls_producer_send(p, "staged", 0, "k", 1, "v", 1, NULL, 0, NULL, LS_SEND_AFTER_EVENTS), LS_EINVAL);
    CU_ASSERT_EQUAL(ls_producer_send(p, "staged", 0, "k", 1, "v", 1, NULL, 0, NULL, LS_SEND_AFTER_ACKS), LS_EINVAL);
    ls_producer_destroy(p);
}

static CU_TestInfo tests[] = {
    {"stages are produced in order", test_stage_order},
    {"ls_producer_wait goes stage by stage", test_wait},
    {"a failed event drops the held messages", test_failed_event_drops_held},
    {"held messages need a batch", test_held_needs_batch},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"kafka_batch", setup, teardown, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
