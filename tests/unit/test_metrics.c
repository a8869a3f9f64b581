/* test_metrics.c - the shared metric region (ls_metrics) and the ops endpoint (ls_ops). */
#include "ls_metrics.h"
#include "ls_ops.h"
#include "ls_test.h"
#include "ls_time.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const results[] = {"changed", "unchanged", NULL};

enum { M_JOBS, M_INFLIGHT, M_LAG, M_REQS, M_LATENCY, M_OLDEST, M_AGE, M__COUNT };

static const double age_bounds[LS_METRICS_BUCKETS - 1] = {1, 2, 5, 10, 30, 60, 120, 300, 900, 1800, 3600};

static const ls_metric_def_t defs[M__COUNT] = {
    [M_JOBS] = {"t_jobs_total", "Jobs.", LS_MT_COUNTER, LS_AGG_SUM, {{LS_DIM_LIST, "result", results}}},
    [M_INFLIGHT] = {"t_inflight", "In flight.", LS_MT_GAUGE, LS_AGG_SUM, {{0}}},
    [M_LAG] = {"t_lag", "Lag.", LS_MT_GAUGE, LS_AGG_SUM, {{LS_DIM_PARTITION, "partition", NULL}}},
    [M_REQS] = {"t_requests_total", "Requests.", LS_MT_COUNTER, LS_AGG_SUM,
                {{LS_DIM_KEY, "integration", NULL}, {LS_DIM_LIST, "result", results}}},
    [M_LATENCY] = {"t_seconds", "Latency.", LS_MT_HISTOGRAM, LS_AGG_SUM, {{0}}},
    [M_OLDEST] = {"t_oldest_seconds", "Oldest.", LS_MT_GAUGE, LS_AGG_MAX, {{0}}},
    [M_AGE] = {"t_age_seconds", "Age.", LS_MT_HISTOGRAM, LS_AGG_SUM, {{0}}, age_bounds},
};

static char *render(void)
{
    char *out = NULL;
    CU_ASSERT(ls_metrics_render(&out) > 0);
    return out;
}

static void expect_line(const char *text, const char *line)
{
    char want[256];
    snprintf(want, sizeof(want), "\n%s\n", line);
    if (!strstr(text, want))
        fprintf(stderr, "missing line \"%s\" in:\n%s", line, text);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, want));
}

/* Two forked processes write their own slots; the parent sums them. */
static void test_slots_combine_across_fork(void)
{
    CU_ASSERT_EQUAL_FATAL(ls_metrics_init(defs, M__COUNT, 3), 0);
    ls_metric_add(M_JOBS, 0, 0, 1);
    ls_metric_set(M_OLDEST, 0, 0, 5);
    for (int child = 1; child <= 2; child++) {
        pid_t pid = fork();
        if (pid == 0) {
            ls_metrics_use_slot((size_t)child);
            ls_metric_add(M_JOBS, 0, 0, 10);
            ls_metric_add(M_JOBS, 1, 0, 2);
            ls_metric_set(M_INFLIGHT, 0, 0, 4);
            ls_metric_set(M_LAG, child, 0, 100 * child);
            ls_metric_set(M_OLDEST, 0, 0, 7 * child);
            ls_metric_add(M_REQS, ls_metrics_key("moodle"), 1, 3);
            ls_metric_observe(M_LATENCY, 0, 0, 0.003);
            ls_metric_observe(M_LATENCY, 0, 0, 0.3);
            ls_metric_observe(M_LATENCY, 0, 0, 99.0);
            ls_metric_observe(M_AGE, 0, 0, 0.5);
            ls_metric_observe(M_AGE, 0, 0, 45.0);
            ls_metrics_heartbeat(ls_time_mono_ms(), LS_PROC_READY);
            _exit(0);
        }
        int st;
        waitpid(pid, &st, 0);
    }
    char *t = render();
    expect_line(t, "t_jobs_total{result=\"changed\"} 21");
    expect_line(t, "t_jobs_total{result=\"unchanged\"} 4");
    expect_line(t, "t_inflight 8");
    expect_line(t, "t_lag{partition=\"1\"} 100");
    expect_line(t, "t_lag{partition=\"2\"} 200");
    CU_ASSERT_PTR_NULL(strstr(t, "t_lag{partition=\"0\"}")); /* never set: not rendered */
    expect_line(t, "t_oldest_seconds 14");                   /* LS_AGG_MAX */
    expect_line(t, "t_requests_total{integration=\"moodle\",result=\"unchanged\"} 6");
    expect_line(t, "t_requests_total{integration=\"other\",result=\"changed\"} 0");
    expect_line(t, "t_seconds_bucket{le=\"0.005\"} 2");
    expect_line(t, "t_seconds_bucket{le=\"0.5\"} 4");
    expect_line(t, "t_seconds_bucket{le=\"10\"} 4");
    expect_line(t, "t_seconds_bucket{le=\"+Inf\"} 6");
    expect_line(t, "t_seconds_count 6");
    expect_line(t, "t_age_seconds_bucket{le=\"1\"} 2"); /* a row's own bounds */
    expect_line(t, "t_age_seconds_bucket{le=\"30\"} 2");
    expect_line(t, "t_age_seconds_bucket{le=\"60\"} 4");
    expect_line(t, "t_age_seconds_bucket{le=\"3600\"} 4");
    expect_line(t, "t_age_seconds_sum 91.000000");
    expect_line(t, "# TYPE t_seconds histogram");
    CU_ASSERT_EQUAL(strncmp(t, "# HELP t_jobs_total Jobs.\n# TYPE t_jobs_total counter\n", 52), 0);
    free(t);
    pid_t pid;
    int64_t hb;
    ls_proc_state_t ps;
    ls_metrics_slot_state(2, &pid, &hb, &ps);
    CU_ASSERT(pid > 0 && hb > 0 && ps == LS_PROC_READY);
    ls_metrics_slot_state(9, &pid, &hb, &ps); /* out of range */
    CU_ASSERT(pid == 0 && hb == 0);
    ls_metrics_free();
}

static void test_bounds_and_keys(void)
{
    CU_ASSERT_EQUAL_FATAL(ls_metrics_init(defs, M__COUNT, 1), 0);
    ls_metric_add(M_JOBS, 2, 0, 1);   /* past the list: ignored */
    ls_metric_add(M_JOBS, -1, 0, 1);
    ls_metric_set(M_JOBS, 0, 0, 5);   /* wrong type: ignored */
    ls_metric_add(M__COUNT, 0, 0, 1); /* unknown metric */
    ls_metric_set(M_LAG, LS_METRICS_MAX_PARTITIONS, 0, 1);
    CU_ASSERT_EQUAL(ls_metrics_key(""), LS_METRICS_OTHER);
    CU_ASSERT_EQUAL(ls_metrics_key(NULL), LS_METRICS_OTHER);
    int a = ls_metrics_key("coursera");
    CU_ASSERT(a != LS_METRICS_OTHER);
    CU_ASSERT_EQUAL(ls_metrics_key("coursera"), a);
    char name[32];
    int last = a;
    for (int i = 0; i < LS_METRICS_MAX_KEYS; i++) { /* fill the table: the rest become "other" */
        snprintf(name, sizeof(name), "type-%d", i);
        last = ls_metrics_key(name);
    }
    CU_ASSERT_EQUAL(last, LS_METRICS_OTHER);
    ls_metric_add(M_REQS, ls_metrics_key("say \"hi\"\\"), 0, 1); /* table full: "other" */
    ls_metric_set(M_LAG, 3, 0, 7);
    ls_metric_unset(M_LAG, 3, 0);
    char *t = render();
    expect_line(t, "t_jobs_total{result=\"changed\"} 0");
    expect_line(t, "t_requests_total{integration=\"other\",result=\"changed\"} 1");
    CU_ASSERT_PTR_NULL(strstr(t, "t_lag{"));
    free(t);
    ls_metrics_free();
}

static void test_label_escaping(void)
{
    CU_ASSERT_EQUAL_FATAL(ls_metrics_init(defs, M__COUNT, 1), 0);
    ls_metric_add(M_REQS, ls_metrics_key("a\"b\\c"), 0, 2);
    char *t = render();
    expect_line(t, "t_requests_total{integration=\"a\\\"b\\\\c\",result=\"changed\"} 2");
    free(t);
    ls_metrics_free();
}

/* GET path on 127.0.0.1:port; the status code, body into buf. */
static int http_get(int port, const char *path, char *buf, size_t bufsz)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return -1;
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t len = 0;
    ssize_t r;
    while (len + 1 < bufsz && (r = read(fd, buf + len, bufsz - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(fd);
    int code = -1;
    sscanf(buf, "HTTP/1.%*d %d", &code);
    return code;
}

static void test_ops_endpoint(void)
{
    char err[256], buf[65536];
    CU_ASSERT_EQUAL_FATAL(ls_metrics_init(defs, M__COUNT, 2), 0);
    ls_ops_conf_t oc = {"127.0.0.1:0", 0, 2, 500};
    ls_ops_t *ops = ls_ops_start(&oc, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(ops);
    int port = ls_ops_port(ops);
    CU_ASSERT(port > 0);
    /* slot 1 never started: live, not ready */
    ls_metrics_heartbeat(ls_time_mono_ms(), LS_PROC_READY);
    CU_ASSERT_EQUAL(http_get(port, "/healthz", buf, sizeof(buf)), 200);
    CU_ASSERT_EQUAL(http_get(port, "/readyz", buf, sizeof(buf)), 503);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "process 1 (pid 0): starting"));
    ls_metrics_use_slot(1); /* this process plays the child too */
    ls_metrics_heartbeat(ls_time_mono_ms(), LS_PROC_RESTORING);
    CU_ASSERT_EQUAL(http_get(port, "/readyz", buf, sizeof(buf)), 503);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, ": restoring"));
    ls_metrics_heartbeat(ls_time_mono_ms(), LS_PROC_READY);
    CU_ASSERT_EQUAL(http_get(port, "/readyz", buf, sizeof(buf)), 200);
    ls_metric_add(M_JOBS, 1, 0, 3);
    CU_ASSERT_EQUAL(http_get(port, "/metrics", buf, sizeof(buf)), 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "Content-Type: text/plain; version=0.0.4"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\nt_jobs_total{result=\"unchanged\"} 3\n"));
    CU_ASSERT_EQUAL(http_get(port, "/nope", buf, sizeof(buf)), 404);
    struct timespec pause = {0, 700 * 1000000L};
    nanosleep(&pause, NULL); /* past the 500 ms stale bound on purpose */
    CU_ASSERT_EQUAL(http_get(port, "/healthz", buf, sizeof(buf)), 503);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "loop silent for"));
    /* the same port again: a precise error naming the setting */
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    ls_ops_conf_t dup = {addr, 0, 1, 500};
    CU_ASSERT_PTR_NULL(ls_ops_start(&dup, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "'ops.listen'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "in use"));
    ls_ops_stop(ops);
    ls_metrics_free();
}

static void test_parse_listen(void)
{
    char host[64], err[256];
    int port;
    CU_ASSERT_EQUAL(ls_ops_parse_listen("0.0.0.0:9464", host, sizeof(host), &port, err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(host, "0.0.0.0");
    CU_ASSERT_EQUAL(port, 9464);
    CU_ASSERT_EQUAL(ls_ops_parse_listen("localhost:0", host, sizeof(host), &port, err, sizeof(err)), 0);
    const char *bad[] = {"9464", ":9464", "0.0.0.0:", "0.0.0.0:65536", "0.0.0.0:-1", "example.com:80", "1.2.3:80",
                         "0.0.0.0:80x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        CU_ASSERT_EQUAL(ls_ops_parse_listen(bad[i], host, sizeof(host), &port, err, sizeof(err)), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "'ops.listen'"));
    }
}

static CU_TestInfo tests[] = {
    {"slots written by forked processes combine", test_slots_combine_across_fork},
    {"out-of-range indexes ignored, key table bounded", test_bounds_and_keys},
    {"label values escaped", test_label_escaping},
    {"ops endpoint: healthz, readyz, metrics, port in use", test_ops_endpoint},
    {"ops.listen parsing", test_parse_listen},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"metrics", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
