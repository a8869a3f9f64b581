/*
 * test_xapi_lrs.c - the LRS client against a scripted HTTP server
 * (libmicrohttpd on 127.0.0.1): the xAPI headers and Basic credentials it
 * sends, and how it classifies what comes back: accepted, refused (400/409:
 * bisect), throttled with Retry-After, server errors, refused credentials,
 * an HTML page instead of JSON, a wrong URL, no server, a slow server.
 */
#include "ls_test.h"
#include "ls_xapi_lrs.h"

#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* What the server answers next, and what it saw. */
static struct {
    unsigned status;
    const char *body, *type, *retry_after;
    int delay_ms;
    char version[32], auth[128], method[8], url[256];
} srv;

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state)
{
    static int started;
    if (*state == NULL) {
        *state = &started;
        return MHD_YES;
    }
    if (*upload_size) { /* the POST body: consumed, not checked here */
        *upload_size = 0;
        return MHD_YES;
    }
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Experience-API-Version");
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    snprintf(srv.version, sizeof(srv.version), "%s", v ? v : "");
    snprintf(srv.auth, sizeof(srv.auth), "%s", a ? a : "");
    snprintf(srv.method, sizeof(srv.method), "%s", method);
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "statementId");
    snprintf(srv.url, sizeof(srv.url), "%s%s%s", url, q ? "?statementId=" : "", q ? q : "");
    if (srv.delay_ms) {
        struct timespec ts = {srv.delay_ms / 1000, (srv.delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(srv.body), (void *)srv.body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", srv.type);
    if (srv.retry_after)
        MHD_add_response_header(r, "Retry-After", srv.retry_after);
    enum MHD_Result rc = MHD_queue_response(c, srv.status, r);
    MHD_destroy_response(r);
    return rc;
}

static struct MHD_Daemon *daemon_;
static char endpoint[128];

static int start(void)
{
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
                               handle, NULL, MHD_OPTION_END);
    if (!daemon_)
        return 1;
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%u/xAPI", (unsigned)i->port);
    return 0;
}

static int stop(void)
{
    MHD_stop_daemon(daemon_);
    return 0;
}

static void answer(unsigned status, const char *type, const char *body, const char *retry_after)
{
    srv.status = status;
    srv.type = type;
    srv.body = body;
    srv.retry_after = retry_after;
    srv.delay_ms = 0;
}

static ls_lrs_result_t post(ls_xapi_lrs_t *l, ls_lrs_answer_t *a)
{
    static const char body[] = "[{\"id\":\"dfce8dae-4bda-56ae-9e36-258288f6be2d\"}]";
    return ls_xapi_lrs_post(l, body, sizeof(body) - 1, a);
}

static void test_post_classes(void)
{
    char err[256];
    ls_xapi_lrs_t *l = ls_xapi_lrs_new(endpoint, "u:p", 5, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    ls_lrs_answer_t a;
    answer(200, "application/json", "[\"dfce8dae-4bda-56ae-9e36-258288f6be2d\"]", NULL);
    CU_ASSERT_EQUAL(post(l, &a), LS_LRS_OK);
    CU_ASSERT_STRING_EQUAL(srv.version, "1.0.3");
    CU_ASSERT_STRING_EQUAL(srv.auth, "Basic dTpw"); /* base64("u:p") */
    CU_ASSERT_STRING_EQUAL(srv.method, "POST");
    CU_ASSERT_STRING_EQUAL(srv.url, "/xAPI/statements");
    static const struct { unsigned status; const char *type, *body, *retry; ls_lrs_result_t want; } cases[] = {
        {200, "text/html", "<html><body>Please log in</body></html>", NULL, LS_LRS_BAD_RESPONSE},
        {204, "application/json", "", NULL, LS_LRS_OK},
        {200, "application/json", "", NULL, LS_LRS_BAD_RESPONSE},
        {400, "application/json", "{\"warnings\":[\"bad\"]}", NULL, LS_LRS_REFUSED},
        {409, "application/json", "{\"message\":\"x is conflicting\"}", NULL, LS_LRS_REFUSED},
        {413, "text/plain", "too large", NULL, LS_LRS_REFUSED},
        {401, "application/json", "{\"message\":\"Unauthorised\"}", NULL, LS_LRS_AUTH},
        {403, "text/plain", "forbidden", NULL, LS_LRS_AUTH},
        {404, "text/html", "<pre>Cannot POST</pre>", NULL, LS_LRS_CLIENT},
        {429, "text/plain", "slow down", "7", LS_LRS_THROTTLED},
        {503, "text/html", "<html>maintenance</html>", NULL, LS_LRS_SERVER},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        answer(cases[i].status, cases[i].type, cases[i].body, cases[i].retry);
        CU_ASSERT_EQUAL(post(l, &a), cases[i].want);
        CU_ASSERT_EQUAL(a.status, (long)cases[i].status);
        CU_ASSERT_EQUAL(a.retry_after_ms, cases[i].retry ? 7000 : -1);
        char head[16];
        snprintf(head, sizeof(head), "http %u: ", cases[i].status);
        CU_ASSERT_EQUAL(strncmp(a.reason, cases[i].want == LS_LRS_OK ? "" : head, cases[i].want == LS_LRS_OK ? 0 : strlen(head)), 0);
        CU_ASSERT_PTR_NULL(strstr(a.reason, "u:p"));
    }
    ls_xapi_lrs_destroy(l);
}

static void test_get(void)
{
    char err[256];
    ls_xapi_lrs_t *l = ls_xapi_lrs_new(endpoint, NULL, 5, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    ls_lrs_answer_t a;
    json_t *s = NULL;
    answer(200, "application/json", "{\"id\":\"abc\",\"stored\":\"2026-11-28T00:00:00Z\"}", NULL);
    CU_ASSERT_EQUAL(ls_xapi_lrs_get(l, "abc", &s, &a), LS_LRS_OK);
    CU_ASSERT_STRING_EQUAL(srv.url, "/xAPI/statements?statementId=abc");
    CU_ASSERT_STRING_EQUAL(srv.method, "GET");
    CU_ASSERT_STRING_EQUAL(srv.auth, ""); /* no credentials configured: none sent */
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(s, "id")), "abc");
    json_decref(s);
    answer(404, "application/json", "{}", NULL);
    CU_ASSERT_EQUAL(ls_xapi_lrs_get(l, "abc", &s, &a), LS_LRS_CLIENT);
    CU_ASSERT_EQUAL(a.status, 404);
    CU_ASSERT_PTR_NULL(s);
    answer(200, "application/json", "[1]", NULL); /* an array where a statement belongs */
    CU_ASSERT_EQUAL(ls_xapi_lrs_get(l, "abc", &s, &a), LS_LRS_BAD_RESPONSE);
    CU_ASSERT_PTR_NULL(s);
    ls_xapi_lrs_destroy(l);
}

static void test_transport(void)
{
    char err[256];
    ls_lrs_answer_t a;
    ls_xapi_lrs_t *slow = ls_xapi_lrs_new(endpoint, NULL, 1, err, sizeof(err));
    answer(200, "application/json", "[]", NULL);
    srv.delay_ms = 1500;
    CU_ASSERT_EQUAL(post(slow, &a), LS_LRS_TRANSPORT);
    CU_ASSERT_PTR_NOT_NULL(strstr(a.reason, "transfer failed"));
    srv.delay_ms = 0;
    ls_xapi_lrs_destroy(slow);
    /* nothing listens on port 1 */
    ls_xapi_lrs_t *none = ls_xapi_lrs_new("http://127.0.0.1:1/xAPI/", NULL, 2, err, sizeof(err));
    CU_ASSERT_EQUAL(post(none, &a), LS_LRS_TRANSPORT);
    CU_ASSERT_EQUAL(a.status, 0);
    ls_xapi_lrs_destroy(none);
}

static CU_TestInfo lrs_tests[] = {
    {"POST: headers, credentials, every answer class", test_post_classes},
    {"GET one statement", test_get},
    {"timeouts and no server", test_transport},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"xapi_lrs", start, stop, NULL, NULL, lrs_tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
