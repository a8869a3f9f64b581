/*
 * Unit tests of ls_http's bounds on what an upstream can send: the response
 * size bound (raw and decompressed; a gzip bomb fails fast, on the single
 * handle and on the multi handle), and Retry-After / retry-after-ms read
 * with saturation. A loopback libmicrohttpd server plays the upstream.
 */
#include "ls_err.h"
#include "ls_http.h"
#include "ls_test.h"
#include "ls_time.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MIB ((size_t)1 << 20)

static struct MHD_Daemon *srv;
static unsigned short port;
static unsigned char *bomb;     /* gzip of 1 GiB of zeros */
static size_t bomb_len;
static char *big;               /* 2 MiB of JSON-ish bytes */

/*
 * gzip of 1 GiB of zeros, about 1 MB, built in milliseconds: after a full
 * flush deflate starts afresh, so every further MiB of zeros compresses to
 * the same block; the trailer gets the CRC and size of the whole GiB.
 */
static unsigned char *make_bomb(size_t *len)
{
    static const unsigned char zeros[1 << 20];
    size_t cap = 4 * MIB, n = 0, blk_at, blk_len;
    unsigned char *out = malloc(cap);
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (!out || deflateInit2(&z, 9, Z_DEFLATED, 16 + 15, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    for (int i = 0; i < 3; i++) { /* header + MiB 1, then MiB 2 and 3: the repeating block */
        z.next_in = (unsigned char *)zeros;
        z.avail_in = sizeof(zeros);
        z.next_out = out + n;
        z.avail_out = (uInt)(cap - n);
        deflate(&z, Z_FULL_FLUSH);
        blk_at = n;
        n = cap - z.avail_out;
    }
    blk_len = n - blk_at;
    if (memcmp(out + blk_at - blk_len, out + blk_at, blk_len) != 0) { /* the premise above */
        free(out);
        return NULL;
    }
    for (int i = 3; i < 1024; i++, n += blk_len)
        memcpy(out + n, out + blk_at, blk_len);
    z.next_out = out + n;
    z.avail_out = (uInt)(cap - n);
    deflate(&z, Z_FINISH); /* last (empty) block + trailer of the 3 MiB deflate saw */
    n = cap - z.avail_out;
    deflateEnd(&z);
    uLong crc1 = crc32(0, zeros, sizeof(zeros)), crc = crc32(0, NULL, 0);
    for (int i = 0; i < 1024; i++)
        crc = crc32_combine(crc, crc1, sizeof(zeros));
    unsigned char trailer[8] = {crc, crc >> 8, crc >> 16, crc >> 24, 0, 0, 0, 0x40}; /* ISIZE 2^30 */
    memcpy(out + n - 8, trailer, 8);
    *len = n;
    return out;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *data_len, void **state)
{
    struct MHD_Response *r;
    unsigned status = 200;
    if (strcmp(url, "/bomb") == 0) {
        r = MHD_create_response_from_buffer(bomb_len, bomb, MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    } else if (strcmp(url, "/big") == 0) {
        r = MHD_create_response_from_buffer(2 * MIB, big, MHD_RESPMEM_PERSISTENT);
    } else if (strcmp(url, "/retry") == 0) {
        r = MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "99999999999999999999");
        status = 429;
    } else if (strcmp(url, "/method") == 0) { /* echo "METHOD content-type body" once the body is in */
        char *got = *state, echo[512];
        if (!got) {
            *state = calloc(1, 256);
            return *state ? MHD_YES : MHD_NO;
        }
        if (*data_len) {
            strncat(got, data, *data_len < 255 - strlen(got) ? *data_len : 255 - strlen(got));
            *data_len = 0;
            return MHD_YES;
        }
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        snprintf(echo, sizeof(echo), "%s %s %s", method, ct ? ct : "-", got);
        free(got);
        *state = NULL;
        r = MHD_create_response_from_buffer(strlen(echo), echo, MHD_RESPMEM_MUST_COPY);
    } else if (strcmp(url, "/auth") == 0) { /* echo the authorization header */
        const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        r = MHD_create_response_from_buffer(a ? strlen(a) : 0, (void *)(a ? a : ""), MHD_RESPMEM_MUST_COPY);
    } else {
        r = MHD_create_response_from_buffer(2, (void *)"[]", MHD_RESPMEM_PERSISTENT);
    }
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static int suite_init(void)
{
    if (!(bomb = make_bomb(&bomb_len)) || !(big = malloc(2 * MIB)))
        return 1;
    memset(big, ' ', 2 * MIB);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    srv = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, answer, NULL,
                           MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
    const union MHD_DaemonInfo *di = srv ? MHD_get_daemon_info(srv, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    port = di ? di->port : 0;
    return port == 0;
}

static int suite_clean(void)
{
    if (srv)
        MHD_stop_daemon(srv);
    free(bomb);
    free(big);
    return 0;
}

static void url_of(const char *path, char *buf, size_t bufsz)
{
    snprintf(buf, bufsz, "http://127.0.0.1:%u%s", port, path);
}

/* GET path on a single handle made under a bound of max bytes; err gets the reason. */
static int get(const char *path, size_t max, ls_http_resp_t *resp, char *err, size_t errsz)
{
    char url[128], e[256];
    url_of(path, url, sizeof(url));
    ls_http_set_max_response(max, "unified.max_response_mb");
    ls_http_t *h = ls_http_new(NULL, 30, e, sizeof(e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    err[0] = '\0';
    int rc = ls_http_get(h, url, resp, err, errsz);
    ls_http_destroy(h);
    return rc;
}

static void test_gzip_bomb_fails_fast(void)
{
    CU_ASSERT(bomb_len > 900 * 1024 && bomb_len < 1200 * 1024); /* the 1 MB body of the task */
    ls_http_resp_t resp;
    char err[256];
    int64_t t0 = ls_time_mono_ms();
    int rc = get("/bomb", LS_HTTP_MAX_RESPONSE_DEFAULT, &resp, err, sizeof(err));
    int64_t took = ls_time_mono_ms() - t0;
    CU_ASSERT_EQUAL(rc, LS_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "response from /bomb is larger than unified.max_response_mb (64 MiB) once decompressed");
    CU_ASSERT(resp.len <= LS_HTTP_MAX_RESPONSE_DEFAULT);
    CU_ASSERT(took < 10000);
    fprintf(stderr, "\n  gzip bomb (%zu bytes -> 1 GiB) stopped after %lld ms\n", bomb_len, (long long)took);
}

static void test_gzip_bomb_multi(void)
{
    char url[128], err[256] = "";
    url_of("/bomb", url, sizeof(url));
    ls_http_set_max_response(8 * MIB, "unified.max_response_mb");
    ls_http_multi_t *m = ls_http_multi_new(NULL, 30, 4, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    int tag = 7;
    void *ud = NULL;
    ls_http_xfer_t *x = ls_http_multi_start(m, url, &tag), *done = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    for (int i = 0; i < 300 && !(done = ls_http_multi_next_done(m, &ud)); i++)
        ls_http_multi_run(m, 100, -1);
    CU_ASSERT_PTR_EQUAL_FATAL(done, x);
    CU_ASSERT_PTR_EQUAL(ud, &tag);
    ls_http_resp_t resp;
    CU_ASSERT_EQUAL(ls_http_xfer_result(x, &resp, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "response from /bomb is larger than unified.max_response_mb (8 MiB) once decompressed");
    ls_http_xfer_release(m, x);
    ls_http_multi_destroy(m);
}

static void test_raw_bound(void)
{
    ls_http_resp_t resp;
    char err[256];
    CU_ASSERT_EQUAL(get("/big", MIB, &resp, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "response from /big is larger than unified.max_response_mb (1 MiB)");
    CU_ASSERT_EQUAL(get("/big", 4 * MIB, &resp, err, sizeof(err)), LS_OK); /* within the bound */
    CU_ASSERT_EQUAL(resp.len, 2 * MIB);
    CU_ASSERT_EQUAL(get("/small", 4 * MIB, &resp, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(resp.len, 2);
}

static void test_retry_after_header_saturates(void)
{
    ls_http_resp_t resp;
    char err[256];
    CU_ASSERT_EQUAL(get("/retry", MIB, &resp, err, sizeof(err)), LS_ETRANSIENT);
    CU_ASSERT_EQUAL(resp.status, 429);
    CU_ASSERT_EQUAL(resp.retry_after_ms, LS_HTTP_RETRY_AFTER_MAX_MS);
}

/* v after reading "name: value\r\n" into a fresh -1 (or into *prev when given). */
static int64_t ra(const char *line, int64_t prev)
{
    int64_t v = prev;
    ls_http_read_retry_after(line, strlen(line), 1764252588, &v);
    return v;
}

static void test_retry_after_parse(void)
{
    const int64_t MAX = LS_HTTP_RETRY_AFTER_MAX_MS;
    CU_ASSERT_EQUAL(ra("Retry-After: 2\r\n", -1), 2000);
    CU_ASSERT_EQUAL(ra("retry-after:0\r\n", -1), 0);
    CU_ASSERT_EQUAL(ra("Retry-After: 86400\r\n", -1), MAX);
    CU_ASSERT_EQUAL(ra("Retry-After: 86401\r\n", -1), MAX);
    CU_ASSERT_EQUAL(ra("Retry-After: 9223372036854775807\r\n", -1), MAX);
    CU_ASSERT_EQUAL(ra("Retry-After: 99999999999999999999\r\n", -1), MAX);
    CU_ASSERT_EQUAL(ra("Retry-After: 99999999999999999999999999999999999999999999\r\n", -1), MAX);
    CU_ASSERT_EQUAL(ra("retry-after-ms: 250\r\n", -1), 250);
    CU_ASSERT_EQUAL(ra("retry-after-ms: 99999999999999999999\r\n", -1), MAX);
    CU_ASSERT_EQUAL(ra("retry-after-ms: 250\r\n", 4000), 250);   /* -ms wins over an earlier Retry-After */
    CU_ASSERT_EQUAL(ra("Retry-After: 9\r\n", 250), 250);          /* ... and over a later one */
    CU_ASSERT_EQUAL(ra("Retry-After: -5\r\n", -1), -1);           /* not a delay: ignored */
    CU_ASSERT_EQUAL(ra("retry-after-ms: -5\r\n", -1), -1);
    CU_ASSERT_EQUAL(ra("Retry-After: 1.5\r\n", -1), -1);
    CU_ASSERT_EQUAL(ra("Retry-After: \r\n", -1), -1);
    CU_ASSERT_EQUAL(ra("Content-Length: 5\r\n", -1), -1);
    /* HTTP-dates, against now = Thu, 27 Nov 2025 14:09:48 GMT */
    CU_ASSERT_EQUAL(ra("Retry-After: Thu, 27 Nov 2025 14:10:48 GMT\r\n", -1), 60000);
    CU_ASSERT_EQUAL(ra("Retry-After: Thu, 27 Nov 2025 14:00:00 GMT\r\n", -1), 0);
    CU_ASSERT_EQUAL(ra("Retry-After: Fri, 31 Dec 9999 23:59:59 GMT\r\n", -1), MAX);
}

static void test_cred_covers(void)
{
    ls_http_cred_t *c = ls_http_cred_new("https://api-eu.unified.to/", "t");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT(ls_http_cred_covers(c, "https://api-eu.unified.to/lms/c1/activity?limit=1"));
    CU_ASSERT(ls_http_cred_covers(c, "HTTPS://API-EU.unified.to/lms"));
    CU_ASSERT(ls_http_cred_covers(c, "https://api-eu.unified.to"));
    CU_ASSERT_FALSE(ls_http_cred_covers(c, "https://api.unified.to/lms/c1/activity"));
    CU_ASSERT_FALSE(ls_http_cred_covers(c, "https://api-eu.unified.to.evil.example/lms"));
    CU_ASSERT_FALSE(ls_http_cred_covers(c, "https://api-eu.unified.to:8443/lms"));
    CU_ASSERT_FALSE(ls_http_cred_covers(c, "http://api-eu.unified.to/lms"));
    CU_ASSERT_FALSE(ls_http_cred_covers(c, "https://api-eu.unified.to@evil.example/lms"));
    ls_http_cred_destroy(c);
    c = ls_http_cred_new("http://127.0.0.1:8080/base", "t");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT(ls_http_cred_covers(c, "http://127.0.0.1:8080/base/lms/x"));
    CU_ASSERT(ls_http_cred_covers(c, "http://127.0.0.1:8080/base?x=1"));
    CU_ASSERT_FALSE(ls_http_cred_covers(c, "http://127.0.0.1:8080/basement/lms"));
    CU_ASSERT_FALSE(ls_http_cred_covers(c, "http://127.0.0.1:8081/base/lms"));
    CU_ASSERT_FALSE(ls_http_cred_covers(c, "http://127.0.0.1:80/base/lms"));
    ls_http_cred_destroy(c);
}

/* One transfer of m to completion: the body (the echoed authorization header) into out. */
static void run_one(ls_http_multi_t *m, char *out, size_t outsz)
{
    void *ud;
    ls_http_xfer_t *x = NULL;
    for (int i = 0; i < 500 && !x; i++) {
        ls_http_multi_run(m, 10, -1);
        x = ls_http_multi_next_done(m, &ud);
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    ls_http_resp_t resp;
    char err[256];
    CU_ASSERT_EQUAL(ls_http_xfer_result(x, &resp, err, sizeof(err)), LS_OK);
    snprintf(out, outsz, "%.*s", (int)resp.len, resp.body);
    ls_http_xfer_release(m, x);
}

/* Each workspace's token goes with its own host only; a URL of another host is refused unsent. */
static void test_cred_pairs_host_and_token(void)
{
    char a_base[64], b_base[64], url[128], body[128], err[256];
    snprintf(a_base, sizeof(a_base), "http://127.0.0.1:%u", port);
    snprintf(b_base, sizeof(b_base), "http://localhost:%u", port);
    ls_http_set_max_response(MIB, "unified.max_response_mb");
    ls_http_multi_t *m = ls_http_multi_new("default-token", 5, 4, err, sizeof(err));
    ls_http_cred_t *a = ls_http_cred_new(a_base, "token-a"), *b = ls_http_cred_new(b_base, "token-b");
    CU_ASSERT_FATAL(m && a && b);
    snprintf(url, sizeof(url), "%s/auth", a_base);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ls_http_multi_start_cred(m, url, a, NULL));
    run_one(m, body, sizeof(body));
    CU_ASSERT_STRING_EQUAL(body, "Bearer token-a");
    CU_ASSERT_PTR_NULL(ls_http_multi_start_cred(m, url, b, NULL)); /* b's token never reaches a's host */
    CU_ASSERT_EQUAL(ls_http_multi_running(m), 0);
    snprintf(url, sizeof(url), "%s/auth", b_base);
    CU_ASSERT_PTR_NULL(ls_http_multi_start_cred(m, url, a, NULL));
    CU_ASSERT_PTR_NOT_NULL_FATAL(ls_http_multi_start_cred(m, url, b, NULL));
    run_one(m, body, sizeof(body));
    CU_ASSERT_STRING_EQUAL(body, "Bearer token-b");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ls_http_multi_start(m, url, NULL)); /* a pooled handle: the default header again */
    run_one(m, body, sizeof(body));
    CU_ASSERT_STRING_EQUAL(body, "Bearer default-token");
    ls_http_cred_destroy(a);
    ls_http_cred_destroy(b);
    ls_http_multi_destroy(m);
}

/* POST with a JSON body, DELETE, then GET again on the same pooled handle: each goes out as asked. */
static void test_send_methods(void)
{
    char base[64], url[128], body[256], err[256];
    snprintf(base, sizeof(base), "http://127.0.0.1:%u", port);
    snprintf(url, sizeof(url), "%s/method", base);
    ls_http_set_max_response(MIB, "unified.max_response_mb");
    ls_http_multi_t *m = ls_http_multi_new(NULL, 5, 1, err, sizeof(err));
    ls_http_cred_t *a = ls_http_cred_new(base, "token-a");
    CU_ASSERT_FATAL(m && a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ls_http_multi_send_cred(m, "POST", url, "{\"event\":\"updated\"}", a, NULL));
    run_one(m, body, sizeof(body));
    CU_ASSERT_STRING_EQUAL(body, "POST application/json {\"event\":\"updated\"}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ls_http_multi_send_cred(m, "DELETE", url, NULL, a, NULL));
    run_one(m, body, sizeof(body));
    CU_ASSERT_STRING_EQUAL(body, "DELETE - ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ls_http_multi_start_cred(m, url, a, NULL));
    run_one(m, body, sizeof(body));
    CU_ASSERT_STRING_EQUAL(body, "GET - ");
    CU_ASSERT_PTR_NULL(ls_http_multi_send_cred(m, "POST", "http://localhost:1/method", "{}", a, NULL)); /* not a's host */
    ls_http_cred_destroy(a);
    ls_http_multi_destroy(m);
}

static CU_TestInfo http_tests[] = {
    {"POST, DELETE, GET on one pooled handle", test_send_methods},
    {"credential: which URLs it covers", test_cred_covers},
    {"credential: host and token travel together", test_cred_pairs_host_and_token},
    {"a gzip bomb stops at the bound, fast", test_gzip_bomb_fails_fast},
    {"a gzip bomb on the multi handle", test_gzip_bomb_multi},
    {"raw size bound", test_raw_bound},
    {"Retry-After from a server saturates", test_retry_after_header_saturates},
    {"Retry-After / retry-after-ms parsing", test_retry_after_parse},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_http bounds", suite_init, suite_clean, NULL, NULL, http_tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
