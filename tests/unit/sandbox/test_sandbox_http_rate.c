/*
 * test_sandbox_http_rate.c - the rate limits through the real HTTP server:
 * sb_http on loopback (ephemeral port) with an injected clock, driven by a
 * tiny blocking HTTP/1.1 client. Checks the 429 status, headers and bodies
 * of the vendor and Unified limits, what they do not cover (/unified,
 * /_sandbox), the control API, the stats counters and their reset, and that
 * nothing is refused without a limit.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ls_err.h"
#include "ls_test.h"
#include "sb_http.h"
#include "sb_test_util.h"

#define TOKEN "test-token"
#define T0 (1000 * SB_RATE_NS)

static _Atomic uint64_t fake_now = T0;

static uint64_t fake_clock(void *cls)
{
    (void)cls;
    return atomic_load(&fake_now);
}

typedef struct server {
    sb_world_t *world;
    sb_faults_t *faults;
    sb_clock_t *clock;
    sb_http_t *http;
    unsigned port;
} server_t;

static void server_start(server_t *s, const char *rate, const char *unified)
{
    memset(s, 0, sizeof(*s));
    atomic_store(&fake_now, T0);
    s->world = sb_test_world("coursera,go1", 42, 2);
    s->faults = sb_faults_new();
    s->clock = sb_clock_new(s->world, 0, 5);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s->world);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s->clock);
    sb_http_config_t cfg = { .host = "127.0.0.1", .port = 0, .token = TOKEN,
                             .rate_clock = fake_clock };
    if (rate)
        CU_ASSERT_EQUAL(sb_rate_parse(rate, &cfg.rate_limit), LS_OK);
    if (unified)
        CU_ASSERT_EQUAL(sb_rate_parse(unified, &cfg.unified_rate_limit), LS_OK);
    char err[128] = "";
    s->http = sb_http_start(&cfg, s->world, s->faults, s->clock, err, sizeof(err));
    if (!s->http)
        fprintf(stderr, "sb_http_start: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s->http);
    s->port = sb_http_port(s->http);
}

static void server_stop(server_t *s)
{
    sb_http_stop(s->http);
    sb_clock_destroy(s->clock);
    sb_faults_destroy(s->faults);
    sb_world_destroy(s->world);
}

typedef struct resp {
    int status;
    char head[4096];             /* status line and headers */
    char *body;                  /* NUL-terminated; free */
} resp_t;

/* One request on its own connection ("Connection: close"); status -1 on a transport error. */
static resp_t http(const server_t *s, const char *method, const char *path, const char *body)
{
    resp_t r = { .status = -1 };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0)
            close(fd);
        return r;
    }
    char req[2048];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TOKEN "\r\n"
                     "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, body ? strlen(body) : 0, body ? body : "");
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (write(fd, req, (size_t)n) == n && buf) {
        ssize_t got;
        while ((got = read(fd, buf + len, cap - len - 1)) > 0) {
            len += (size_t)got;
            if (len + 1 == cap) {
                char *nb = realloc(buf, cap *= 2);
                if (!nb)
                    break;
                buf = nb;
            }
        }
    }
    close(fd);
    if (!buf)
        return r;
    buf[len] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    if (sep && sscanf(buf, "HTTP/1.1 %d", &r.status) == 1) {
        snprintf(r.head, sizeof(r.head), "%.*s", (int)(sep - buf), buf);
        r.body = strdup(sep + 4);
    }
    free(buf);
    return r;
}

/* A header's value (case-insensitive name), copied into out; NULL when absent. */
static const char *header(const resp_t *r, const char *name, char *out, size_t out_size)
{
    size_t nl = strlen(name);
    for (const char *line = strstr(r->head, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            h += nl + 1;
            while (*h == ' ')
                h++;
            snprintf(out, out_size, "%.*s", (int)strcspn(h, "\r\n"), h);
            return out;
        }
    }
    return NULL;
}

/* n GETs of path; returns how many were 200, and leaves the last response in *last (free its body). */
static int get_n(const server_t *s, const char *path, int n, resp_t *last)
{
    int ok = 0;
    last->body = NULL;
    for (int i = 0; i < n; i++) {
        free(last->body);
        *last = http(s, "GET", path, NULL);
        ok += last->status == 200;
    }
    return ok;
}

static json_t *get_json(const server_t *s, const char *method, const char *path, const char *body)
{
    resp_t r = http(s, method, path, body);
    json_t *j = r.body ? json_loads(r.body, 0, NULL) : NULL;
    free(r.body);
    return j;
}

static json_int_t stat_of(const json_t *st, const char *conn, const char *key)
{
    const json_t *o = conn ? json_object_get(json_object_get(st, "connections"), conn) : st;
    return json_integer_value(json_object_get(o, key));
}

static void test_vendor_and_unified_429(void)
{
    server_t s;
    server_start(&s, "2:3", NULL);
    char v[64];
    resp_t r;
    /* the vendor limit of every connection (--rate-limit 2:3): 3 at once, then 429 */
    for (int i = 0; i < 6; i++) {
        r = http(&s, "GET", "/lms/conn-0001/activity?limit=1", NULL);
        CU_ASSERT_EQUAL(r.status, i < 3 ? 200 : 429);
        if (i >= 3) {
            CU_ASSERT_STRING_EQUAL(header(&r, "Retry-After", v, sizeof(v)) ? v : "", "1");
            CU_ASSERT_PTR_NULL(header(&r, "retry-after-ms", v, sizeof(v)));
            CU_ASSERT_STRING_EQUAL(r.body ? r.body : "", "{\"message\":\"rate limited by the LMS (2 requests/s)\"}");
            CU_ASSERT_STRING_EQUAL(header(&r, "Content-Type", v, sizeof(v)) ? v : "", "application/json");
        }
        free(r.body);
    }
    /* discovery and the control API are not limited */
    CU_ASSERT_EQUAL(get_n(&s, "/unified/connection", 10, &r), 10);
    free(r.body);
    CU_ASSERT_EQUAL(get_n(&s, "/_sandbox/health", 10, &r), 10);
    free(r.body);
    /* the Unified-wide limit, set through the control API */
    json_t *lims = get_json(&s, "POST", "/_sandbox/ratelimit", "{\"scope\":\"unified\",\"rps\":1,\"burst\":2}");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(lims, "unified"), "burst")), 2);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(json_object_get(lims, "connections"), "*"), "rps")), 2);
    json_decref(lims);
    CU_ASSERT_EQUAL(get_n(&s, "/lms/conn-0002/course", 3, &r), 2);
    CU_ASSERT_EQUAL(r.status, 429);
    CU_ASSERT_STRING_EQUAL(header(&r, "retry-after-ms", v, sizeof(v)) ? v : "", "1000");
    CU_ASSERT_PTR_NULL(header(&r, "Retry-After", v, sizeof(v)));
    CU_ASSERT_STRING_EQUAL(r.body ? r.body : "", "{\"message\":\"Too many requests to Unified.to\"}");
    free(r.body);
    CU_ASSERT_EQUAL(get_n(&s, "/unified/integration", 3, &r), 3);
    free(r.body);
    /* a second later both have a token again */
    atomic_fetch_add(&fake_now, SB_RATE_NS);
    CU_ASSERT_EQUAL(get_n(&s, "/lms/conn-0002/course", 1, &r), 1);
    free(r.body);

    json_t *st = get_json(&s, "GET", "/_sandbox/stats", NULL);
    CU_ASSERT_EQUAL(stat_of(st, NULL, "rate_limited"), 4);
    CU_ASSERT_EQUAL(stat_of(st, NULL, "rate_limited_unified"), 1);
    CU_ASSERT_EQUAL(stat_of(st, NULL, "max_rps_1s"), 9);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(st, "by_status"), "429")), 4);
    CU_ASSERT_EQUAL(stat_of(st, "conn-0001", "requests"), 6);
    CU_ASSERT_EQUAL(stat_of(st, "conn-0001", "rate_limited"), 3);
    CU_ASSERT_EQUAL(stat_of(st, "conn-0001", "max_rps_1s"), 6);
    CU_ASSERT_EQUAL(stat_of(st, "conn-0002", "requests"), 4);
    CU_ASSERT_EQUAL(stat_of(st, "conn-0002", "rate_limited"), 1);
    CU_ASSERT_EQUAL(stat_of(st, "conn-0002", "rate_limited_unified"), 1);
    CU_ASSERT_EQUAL(stat_of(st, "conn-0002", "max_rps_1s"), 3);
    json_decref(st);

    /* the reset zeroes every counter; the limits stay */
    json_t *rs = get_json(&s, "POST", "/_sandbox/stats/reset", NULL);
    CU_ASSERT_TRUE(json_is_true(json_object_get(rs, "reset")));
    json_decref(rs);
    st = get_json(&s, "GET", "/_sandbox/stats", NULL);
    CU_ASSERT_EQUAL(stat_of(st, NULL, "requests"), 0);
    CU_ASSERT_EQUAL(stat_of(st, NULL, "rate_limited"), 0);
    CU_ASSERT_EQUAL(stat_of(st, NULL, "max_rps_1s"), 0);
    CU_ASSERT_EQUAL(json_object_size(json_object_get(st, "by_status")), 0);
    CU_ASSERT_EQUAL(json_object_size(json_object_get(st, "connections")), 0);
    json_decref(st);
    lims = get_json(&s, "GET", "/_sandbox/ratelimit", NULL);
    CU_ASSERT_TRUE(json_is_object(json_object_get(lims, "unified")));
    json_decref(lims);

    /* bad settings; then DELETE removes every limit */
    r = http(&s, "POST", "/_sandbox/ratelimit", "{\"connection_id\":\"conn-0404\",\"rps\":1}");
    CU_ASSERT_EQUAL(r.status, 404);
    free(r.body);
    r = http(&s, "POST", "/_sandbox/ratelimit", "{\"connection_id\":\"conn-0001\",\"rps\":-1}");
    CU_ASSERT_EQUAL(r.status, 400);
    free(r.body);
    r = http(&s, "DELETE", "/_sandbox/ratelimit", NULL);
    CU_ASSERT_EQUAL(r.status, 200);
    free(r.body);
    CU_ASSERT_EQUAL(get_n(&s, "/lms/conn-0001/activity?limit=1", 20, &r), 20);
    free(r.body);
    server_stop(&s);
}

static void test_own_limit_over_star(void)
{
    server_t s;
    server_start(&s, NULL, NULL);
    resp_t r;
    json_t *j = get_json(&s, "POST", "/_sandbox/ratelimit", "{\"connection_id\":\"*\",\"rps\":1,\"burst\":1}");
    json_decref(j);
    j = get_json(&s, "POST", "/_sandbox/ratelimit", "{\"connection_id\":\"conn-0002\",\"rps\":5,\"burst\":4}");
    json_decref(j);
    CU_ASSERT_EQUAL(get_n(&s, "/lms/conn-0001/activity", 5, &r), 1);
    free(r.body);
    CU_ASSERT_EQUAL(get_n(&s, "/lms/conn-0002/activity", 8, &r), 4);
    CU_ASSERT_EQUAL(r.status, 429);
    CU_ASSERT_STRING_EQUAL(r.body ? r.body : "", "{\"message\":\"rate limited by the LMS (5 requests/s)\"}");
    free(r.body);
    /* an unknown connection is a 404, not limited by "*" and not counted per connection */
    CU_ASSERT_EQUAL(get_n(&s, "/lms/conn-0404/activity", 3, &r), 0);
    CU_ASSERT_EQUAL(r.status, 404);
    free(r.body);
    json_t *st = get_json(&s, "GET", "/_sandbox/stats", NULL);
    CU_ASSERT_EQUAL(stat_of(st, NULL, "rate_limited"), 8);
    CU_ASSERT_EQUAL(stat_of(st, NULL, "max_rps_1s"), 16);
    CU_ASSERT_PTR_NULL(json_object_get(json_object_get(st, "connections"), "conn-0404"));
    json_decref(st);
    server_stop(&s);
}

static void test_no_limit_no_429(void)
{
    server_t s;
    server_start(&s, NULL, NULL);
    resp_t r;
    CU_ASSERT_EQUAL(get_n(&s, "/lms/conn-0001/activity?limit=1", 40, &r), 40);
    CU_ASSERT_PTR_NULL(header(&r, "Retry-After", (char[8]){ 0 }, 8));
    free(r.body);
    json_t *st = get_json(&s, "GET", "/_sandbox/stats", NULL);
    CU_ASSERT_EQUAL(stat_of(st, NULL, "requests"), 40);
    CU_ASSERT_EQUAL(stat_of(st, NULL, "rate_limited"), 0);
    CU_ASSERT_EQUAL(stat_of(st, "conn-0001", "requests"), 40);
    CU_ASSERT_EQUAL(stat_of(st, "conn-0001", "max_rps_1s"), 40);   /* the clock stood still */
    json_decref(st);
    json_t *lims = get_json(&s, "GET", "/_sandbox/ratelimit", NULL);
    char *d = sb_test_dump(lims);
    CU_ASSERT_STRING_EQUAL(d, "{\"unified\":null,\"connections\":{}}");
    free(d);
    json_decref(lims);
    server_stop(&s);
}

static CU_TestInfo http_rate_tests[] = {
    { "vendor and Unified 429s over HTTP, stats and reset", test_vendor_and_unified_429 },
    { "a connection's own limit wins over \"*\"", test_own_limit_over_star },
    { "without a limit nothing is refused", test_no_limit_no_429 },
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    { "sandbox rate limits over HTTP", NULL, NULL, NULL, NULL, http_rate_tests },
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
