/* Unit tests of lmsync-webhook: signatures, the raw data span, the decision on a delivery. */
#include "ls_err.h"
#include "ls_test.h"
#include "wh_app.h"
#include "wh_conns.h"
#include "wh_sig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t SECRET[] = "workspace-secret";
#define SLEN (sizeof(SECRET) - 1)

/* RFC 2202-style known answer: HMAC-SHA1("key", "The quick brown fox jumps over the lazy dog"). */
static void test_sig_known_answer(void)
{
    char out[WH_SIG_MAX];
    const uint8_t key[] = "key";
    CU_ASSERT_EQUAL_FATAL(wh_sig_compute(key, 3, "The quick brown fox", 19, " jumps over the lazy dog", WH_SIG_HEX, out), 0);
    CU_ASSERT_STRING_EQUAL(out, "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9");
    CU_ASSERT_EQUAL_FATAL(wh_sig_compute(key, 3, "The quick brown fox", 19, " jumps over the lazy dog", WH_SIG_BASE64, out), 0);
    CU_ASSERT_STRING_EQUAL(out, "3nybhbi3iqa8ino29wqQcBydtNk=");
    CU_ASSERT_EQUAL(wh_sig_verify(key, 3, "The quick brown fox", 19, " jumps over the lazy dog", WH_SIG_BASE64,
                                  "3nybhbi3iqa8ino29wqQcBydtNk="), 1);
    CU_ASSERT_EQUAL(wh_sig_verify(key, 3, "The quick brown fox", 19, " jumps over the lazy dog", WH_SIG_BASE64,
                                  "3nybhbi3iqa8ino29wqQcBydtNk"), 0);
    CU_ASSERT_EQUAL(wh_sig_verify(key, 3, "The quick brown fox", 19, " jumps over the lazy cat", WH_SIG_HEX,
                                  "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"), 0);
    wh_sig_enc_t e;
    CU_ASSERT_EQUAL(wh_sig_parse_encoding("hex", &e), 0);
    CU_ASSERT_EQUAL(e, WH_SIG_HEX);
    CU_ASSERT_EQUAL(wh_sig_parse_encoding("HEX", &e), -1);
}

static void expect_span(const char *body, const char *key, const char *want)
{
    size_t off, len;
    int rc = wh_raw_member(body, strlen(body), key, &off, &len);
    if (!want) {
        CU_ASSERT_EQUAL(rc, -1);
        return;
    }
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(len, strlen(want));
    CU_ASSERT_EQUAL(strncmp(body + off, want, len), 0);
}

/* The span is the sender's own text: spacing, escapes and nesting kept. */
static void test_raw_member(void)
{
    expect_span("{\"data\":[1,2]}", "data", "[1,2]");
    expect_span(" { \"nonce\" : \"a\\\"}]\" , \"data\" :\n[ {\"x\":\"]}\"}, {\"y\":[1, {\"z\":2}]} ] }", "data",
                "[ {\"x\":\"]}\"}, {\"y\":[1, {\"z\":2}]} ]");
    expect_span("{\"sig\":\"s\",\"nonce\":\"n\"}", "nonce", "\"n\"");
    expect_span("{\"n\":-1.5e3,\"t\":true,\"data\":null}", "data", "null");
    expect_span("{\"dat\":1}", "data", NULL);
    expect_span("{\"d\\u0061ta\":[2]}", "data", "[2]"); /* an escaped key is the same key */
    expect_span("[1]", "data", NULL);
}

/* ---- the decision ---- */

static wh_app_t *new_app_in(double rate, double burst, const char *workspace)
{
    wh_app_conf_t c = {SECRET, SLEN, WH_SIG_BASE64, 4096, 60000, rate, burst, workspace};
    wh_app_t *a = wh_app_new(&c);
    ls_strmap_t *known = ls_strmap_new(1);
    ls_strmap_put(known, "conn-1", NULL);
    wh_app_set_connections(a, known);
    return a;
}

static wh_app_t *new_app(double rate, double burst)
{
    return new_app_in(rate, burst, NULL);
}

/* A delivery body for conn signed over data + nonce (sig_ok = 0: a wrong signature). */
static char *delivery(const char *conn, const char *data, const char *nonce, int sig_ok)
{
    char sig[WH_SIG_MAX], *body = malloc(strlen(data) + 512);
    wh_sig_compute(SECRET, SLEN, data, strlen(data), nonce, WH_SIG_BASE64, sig);
    if (!sig_ok)
        sig[0] = sig[0] == 'A' ? 'B' : 'A';
    sprintf(body,
            "{\"data\": %s, \"webhook\": {\"connection_id\": \"%s\", \"object_type\": \"lms_activity\", "
            "\"integration_type\": \"successfactors_lms\"}, \"nonce\": \"%s\", \"sig\": \"%s\", \"type\": \"NATIVE\"}",
            data, conn, nonce, sig);
    return body;
}

static wh_result_t check(wh_app_t *a, const char *ct, const char *body, int64_t now, ls_job_t *job, char *why)
{
    return wh_app_check(a, ct, body, strlen(body), now, job, why, 256);
}

static const char *REC = "[{\"id\": \"act-1\", \"updated_at\": \"2026-11-28T10:00:00Z\", \"progress_percentage\": 40.0}]";

static void test_accept_and_job(void)
{
    wh_app_t *a = new_app(0, 1);
    ls_job_t job;
    char why[256];
    char *b = delivery("conn-1", REC, "n-1", 1);
    CU_ASSERT_EQUAL_FATAL(check(a, "application/json; charset=utf-8", b, 1000, &job, why), WH_ACCEPTED);
    CU_ASSERT_EQUAL(job.mode, LS_MODE_WEBHOOK);
    CU_ASSERT_STRING_EQUAL(job.connection_id, "conn-1");
    CU_ASSERT_STRING_EQUAL(job.integration_type, "successfactors_lms");
    CU_ASSERT_PTR_NOT_NULL(strstr(job.job_id, "conn-1@webhook-1000-"));
    CU_ASSERT_PTR_NOT_NULL(job.records);
    char *enc = ls_job_encode(&job);
    ls_job_t back;
    char err[256];
    CU_ASSERT_EQUAL(ls_job_decode(enc, strlen(enc), &back, err, sizeof(err)), LS_OK);
    CU_ASSERT_STRING_EQUAL(back.records, job.records);
    free(enc);
    ls_job_release(&back);
    ls_job_release(&job);
    free(b);
    /* no records: accepted, nothing to enqueue */
    b = delivery("conn-1", "[]", "n-2", 1);
    CU_ASSERT_EQUAL(check(a, "application/json", b, 1000, &job, why), WH_ACCEPTED);
    CU_ASSERT_PTR_NULL(job.records);
    free(b);
    wh_app_destroy(a);
}

/* A receiver of a named workspace: its job names the workspace and its id uses the qualified connection. */
static void test_workspace_job(void)
{
    wh_app_t *a = new_app_in(0, 1, "eu");
    ls_job_t job, back;
    char why[256], err[256];
    char *b = delivery("conn-1", REC, "n-1", 1);
    CU_ASSERT_EQUAL_FATAL(check(a, "application/json", b, 1000, &job, why), WH_ACCEPTED);
    CU_ASSERT_STRING_EQUAL(job.connection_id, "conn-1");
    CU_ASSERT_STRING_EQUAL(job.workspace, "eu");
    CU_ASSERT_PTR_NOT_NULL(strstr(job.job_id, "eu:conn-1@webhook-1000-"));
    char *enc = ls_job_encode(&job), scope[LS_KEY_MAX];
    CU_ASSERT_EQUAL_FATAL(ls_job_decode(enc, strlen(enc), &back, err, sizeof(err)), LS_OK);
    CU_ASSERT_STRING_EQUAL(back.workspace, "eu");
    ls_job_scope(&back, scope, sizeof(scope));
    CU_ASSERT_STRING_EQUAL(scope, "eu:conn-1");
    free(enc);
    free(b);
    ls_job_release(&back);
    ls_job_release(&job);
    wh_app_destroy(a);
}

/* Schedule keys are workspace-qualified: each receiver keeps its own workspace's connections only. */
static void test_conns_workspace(void)
{
    CU_ASSERT_STRING_EQUAL(wh_conns_in_workspace("conn-1/c9", ""), "conn-1/c9");
    CU_ASSERT_PTR_NULL(wh_conns_in_workspace("eu:conn-1/c9", ""));
    CU_ASSERT_STRING_EQUAL(wh_conns_in_workspace("Odd:conn", ""), "Odd:conn"); /* not a workspace name */
    CU_ASSERT_STRING_EQUAL(wh_conns_in_workspace("eu:conn-1/c9", "eu"), "conn-1/c9");
    CU_ASSERT_PTR_NULL(wh_conns_in_workspace("conn-1", "eu"));
    CU_ASSERT_PTR_NULL(wh_conns_in_workspace("eu2:conn-1", "eu"));
    CU_ASSERT_PTR_NULL(wh_conns_in_workspace("us:conn-1", "eu"));
}

static void expect_refused(wh_app_t *a, const char *ct, const char *body, wh_result_t want, const char *fragment)
{
    ls_job_t job;
    char why[256];
    CU_ASSERT_EQUAL(check(a, ct, body, 5000, &job, why), want);
    CU_ASSERT_PTR_NULL(job.records);
    if (!strstr(why, fragment))
        fprintf(stderr, "reason \"%s\" lacks \"%s\"\n", why, fragment);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, fragment));
}

static void test_refusals(void)
{
    wh_app_t *a = new_app(0, 1);
    char *good = delivery("conn-1", REC, "n-9", 1), *bad = delivery("conn-1", REC, "n-9", 0);
    char *unknown = delivery("conn-2", REC, "n-9", 1);
    expect_refused(a, "text/plain", good, WH_BAD_CONTENT_TYPE, "not application/json");
    expect_refused(a, NULL, good, WH_BAD_CONTENT_TYPE, "not application/json");
    expect_refused(a, "application/jsonx", good, WH_BAD_CONTENT_TYPE, "not application/json");
    expect_refused(a, "application/json", "{\"data\":[", WH_BAD_JSON, "invalid JSON");
    expect_refused(a, "application/json", "[1]", WH_BAD_JSON, "not a JSON object");
    expect_refused(a, "application/json", "{\"data\":{}}", WH_BAD_PAYLOAD, "'data'");
    expect_refused(a, "application/json", "{\"data\":[],\"nonce\":\"n\",\"sig\":\"s\",\"type\":\"LATER\"}",
                   WH_BAD_PAYLOAD, "'type'");
    expect_refused(a, "application/json",
                   "{\"data\":[],\"nonce\":\"n\",\"sig\":\"s\",\"type\":\"VIRTUAL\",\"webhook\":{\"connection_id\":\"a/b\","
                   "\"object_type\":\"lms_activity\"}}", WH_BAD_PAYLOAD, "connection_id");
    expect_refused(a, "application/json",
                   "{\"data\":[],\"nonce\":\"n\",\"sig\":\"s\",\"type\":\"VIRTUAL\",\"webhook\":{\"connection_id\":\"conn-1\","
                   "\"object_type\":\"lms_course\"}}", WH_BAD_PAYLOAD, "lms_activity");
    char big[5000];
    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[0] = '{';
    big[sizeof(big) - 2] = '}';
    expect_refused(a, "application/json", big, WH_TOO_LARGE, "webhook.max_body_kb");
    expect_refused(a, "application/json", unknown, WH_UNKNOWN_CONNECTION, "conn-2");
    expect_refused(a, "application/json", bad, WH_BAD_SIGNATURE, "signature");
    /* a refused delivery left no nonce behind: the good one is accepted, then its replay refused */
    ls_job_t job;
    char why[256];
    CU_ASSERT_EQUAL(check(a, "application/json", good, 5000, &job, why), WH_ACCEPTED);
    ls_job_release(&job);
    expect_refused(a, "application/json", good, WH_REPLAYED_NONCE, "nonce already accepted");
    CU_ASSERT_EQUAL(check(a, "application/json", good, 5000 + 60000 + 10001, &job, why), WH_ACCEPTED); /* window passed */
    ls_job_release(&job);
    free(good);
    free(bad);
    free(unknown);
    wh_app_destroy(a);
}

/* A flood of one connection is limited; the limit is per connection. */
static void test_rate_limit(void)
{
    wh_app_t *a = new_app(1.0, 2);
    ls_strmap_t *known = ls_strmap_new(1);
    ls_strmap_put(known, "conn-1", NULL);
    ls_strmap_put(known, "conn-3", NULL);
    wh_app_set_connections(a, known);
    CU_ASSERT_EQUAL(wh_app_connections(a), 2);
    ls_job_t job;
    char why[256], nonce[16];
    int accepted = 0, limited = 0;
    for (int i = 0; i < 5; i++) {
        snprintf(nonce, sizeof(nonce), "f-%d", i);
        char *b = delivery("conn-1", REC, nonce, 1);
        wh_result_t r = check(a, "application/json", b, 100, &job, why);
        accepted += r == WH_ACCEPTED;
        limited += r == WH_RATE_LIMITED;
        ls_job_release(&job);
        free(b);
    }
    CU_ASSERT_EQUAL(accepted, 2);
    CU_ASSERT_EQUAL(limited, 3);
    char *other = delivery("conn-3", REC, "o-1", 1);
    CU_ASSERT_EQUAL(check(a, "application/json", other, 100, &job, why), WH_ACCEPTED);
    ls_job_release(&job);
    free(other);
    char *later = delivery("conn-1", REC, "f-2", 1); /* refused before: its nonce was not kept */
    CU_ASSERT_EQUAL(check(a, "application/json", later, 1200, &job, why), WH_ACCEPTED);
    ls_job_release(&job);
    free(later);
    CU_ASSERT_STRING_EQUAL(wh_result_name(WH_REPLAYED_NONCE), "replayed_nonce");
    CU_ASSERT_EQUAL(wh_result_status(WH_ACCEPTED), 202);
    CU_ASSERT_EQUAL(wh_result_status(WH_BAD_SIGNATURE), 401);
    wh_app_destroy(a);
}

static CU_TestInfo tests[] = {
    {"HMAC-SHA1 known answer, hex and base64", test_sig_known_answer},
    {"raw span of a body member", test_raw_member},
    {"an accepted delivery becomes one webhook job", test_accept_and_job},
    {"named workspace: the job carries it, qualified job id and scope", test_workspace_job},
    {"known connections: the served workspace's only", test_conns_workspace},
    {"every refusal has its result and reason, keeps no nonce", test_refusals},
    {"per-connection token bucket", test_rate_limit},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"webhook", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
