/*
 * main.c - lmsync-sandbox: argument parsing and process lifecycle only.
 *
 * SIGINT/SIGTERM are blocked before any thread starts and taken with
 * sigwait() here, so no signal handler runs at all and every thread can be
 * stopped in order: HTTP server, mutation clock, world.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ls_err.h"
#include "ls_log.h"
#include "sb_clock.h"
#include "sb_data.h"
#include "sb_fault.h"
#include "sb_http.h"
#include "sb_query.h"
#include "sb_rate.h"

typedef struct sb_opts {
    const char *host, *port_file, *token, *token_file, *providers, *log_format, *log_level;
    const char *rate_limit, *unified_rate_limit;     /* "RPS[:BURST]" */
    const char *virtual_tenants;                     /* "TENANTSxSIZE,..." (sb_virtual.h) */
    const char *webhook_secret, *webhook_sig_encoding; /* sb_webhook.h */
    sb_rate_limit_t rl, url;                         /* parsed */
    long port, seed, connections, students, courses, contents, tick_ms, per_tick, latency_ms;
    long virtual_connections, virtual_fanout_pct, virtual_courses;
    long hot_connections, hot_share;                 /* mutation skew (percent) */
} sb_opts_t;

static void sb_usage(FILE *f)
{
    fprintf(f,
            "usage: lmsync-sandbox [--host 127.0.0.1] [--port 0] [--port-file PATH] [--seed 42]\n"
            "         [--connections 4] [--students 5] [--courses 3] [--contents 2]\n"
            "         [--providers coursera,go1,learnupon,d2l,successfactors_lms,udemy,docebo,moodle]\n"
            "           (round-robin over connections; NAME*N repeats a name N times)\n"
            "         [--tick-ms 0] [--mutations-per-tick 5] [--latency-ms 0]\n"
            "         [--hot-connections 0] [--hot-share 90]  (percent: skewed mutations)\n"
            "         [--rate-limit RPS[:BURST]] [--unified-rate-limit RPS[:BURST]]  (0 = off)\n"
            "         [--virtual-connections 0] [--virtual-fanout-pct 10] [--virtual-courses 100]\n"
            "         [--virtual-tenants TENANTSxSIZE,...]  (connections from a formula: docs/sandbox.md)\n"
            "         [--token sandbox-token | --token-file PATH]\n"
            "         [--webhook-secret sandbox-webhook-secret] [--webhook-sig-encoding base64|hex]\n"
            "         [--log-format text|json] [--log-level debug|info|warn|error]\n");
}

static int sb_num(const char *name, const char *v, long *out)
{
    if (sb_parse_nonneg(v, out) != LS_OK) {
        fprintf(stderr, "lmsync-sandbox: %s needs a non-negative integer, got \"%s\"\n", name, v);
        return -1;
    }
    return 0;
}

/* One option; returns 0, or -1 on error. */
static int sb_opt(sb_opts_t *o, const char *name, const char *v)
{
    static const struct { const char *name; size_t off; } strs[] = {
        { "host", offsetof(sb_opts_t, host) }, { "port-file", offsetof(sb_opts_t, port_file) },
        { "token", offsetof(sb_opts_t, token) }, { "token-file", offsetof(sb_opts_t, token_file) },
        { "providers", offsetof(sb_opts_t, providers) }, { "log-format", offsetof(sb_opts_t, log_format) },
        { "log-level", offsetof(sb_opts_t, log_level) },
        { "rate-limit", offsetof(sb_opts_t, rate_limit) },
        { "unified-rate-limit", offsetof(sb_opts_t, unified_rate_limit) },
        { "virtual-tenants", offsetof(sb_opts_t, virtual_tenants) },
        { "webhook-secret", offsetof(sb_opts_t, webhook_secret) },
        { "webhook-sig-encoding", offsetof(sb_opts_t, webhook_sig_encoding) },
    };
    static const struct { const char *name; size_t off; } nums[] = {
        { "port", offsetof(sb_opts_t, port) }, { "seed", offsetof(sb_opts_t, seed) },
        { "connections", offsetof(sb_opts_t, connections) }, { "students", offsetof(sb_opts_t, students) },
        { "courses", offsetof(sb_opts_t, courses) }, { "contents", offsetof(sb_opts_t, contents) },
        { "tick-ms", offsetof(sb_opts_t, tick_ms) }, { "mutations-per-tick", offsetof(sb_opts_t, per_tick) },
        { "latency-ms", offsetof(sb_opts_t, latency_ms) },
        { "virtual-connections", offsetof(sb_opts_t, virtual_connections) },
        { "virtual-fanout-pct", offsetof(sb_opts_t, virtual_fanout_pct) },
        { "virtual-courses", offsetof(sb_opts_t, virtual_courses) },
        { "hot-connections", offsetof(sb_opts_t, hot_connections) }, { "hot-share", offsetof(sb_opts_t, hot_share) },
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (strcmp(name, strs[i].name) == 0) {
            *(const char **)((char *)o + strs[i].off) = v;
            return 0;
        }
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        if (strcmp(name, nums[i].name) == 0)
            return sb_num(name, v, (long *)((char *)o + nums[i].off));
    fprintf(stderr, "lmsync-sandbox: unknown option --%s\n", name);
    return -1;
}

static int sb_parse_args(int argc, char **argv, sb_opts_t *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            sb_usage(stdout);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "lmsync-sandbox: unexpected argument \"%s\"\n", a);
            return -1;
        }
        char name[64];
        const char *eq = strchr(a, '='), *val;
        if (eq) {
            snprintf(name, sizeof(name), "%.*s", (int)(eq - a - 2), a + 2);
            val = eq + 1;
        } else {
            if (i + 1 >= argc) {
                fprintf(stderr, "lmsync-sandbox: option %s needs a value\n", a);
                return -1;
            }
            snprintf(name, sizeof(name), "%s", a + 2);
            val = argv[++i];
        }
        if (sb_opt(o, name, val) != 0)
            return -1;
    }
    return 0;
}

/*
 * --providers: comma list, assigned to connections round-robin. "name*N"
 * repeats a name N times, so "coursera*3,go1*3" with --connections 6 gives
 * each connection its own provider.
 */
static int sb_providers(const char *list, sb_world_config_t *cfg)
{
    char *buf = strdup(list);
    if (!buf)
        return -1;
    cfg->nproviders = 0;
    int rc = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && rc == 0; t = strtok_r(NULL, ",", &save)) {
        long rep = 1;
        char *star = strchr(t, '*');
        if (star) {
            *star = '\0';
            if (sb_parse_nonneg(star + 1, &rep) != LS_OK || rep < 1) {
                fprintf(stderr, "lmsync-sandbox: bad repeat count in provider \"%s*%s\"\n", t, star + 1);
                rc = -1;
                break;
            }
        }
        const sb_profile_t *p = sb_profile_find(t);
        if (!p) {
            fprintf(stderr, "lmsync-sandbox: unknown provider \"%s\"\n", t);
            rc = -1;
            break;
        }
        for (long i = 0; i < rep; i++) {
            if (cfg->nproviders >= SB_MAX_PROVIDERS) {
                fprintf(stderr, "lmsync-sandbox: more than %d providers listed\n", SB_MAX_PROVIDERS);
                rc = -1;
                break;
            }
            cfg->providers[cfg->nproviders++] = p;
        }
    }
    free(buf);
    return rc == 0 && cfg->nproviders ? 0 : -1;
}

/* Read the first line of a token file into a heap string. */
static char *sb_read_token(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "lmsync-sandbox: cannot open token file \"%s\": %s\n", path, strerror(errno));
        return NULL;
    }
    char buf[512] = "";
    if (!fgets(buf, sizeof(buf), f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!buf[0]) {
        fprintf(stderr, "lmsync-sandbox: token file \"%s\" is empty\n", path);
        return NULL;
    }
    return strdup(buf);
}

static int sb_write_port_file(const char *path, unsigned port)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int ok = fprintf(f, "%u\n", port) > 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* The virtual connections the options ask for (sb_virtual.h); tenant groups were checked in main. */
static sb_virtual_t sb_virtual_opts(const sb_opts_t *o)
{
    sb_virtual_t v = { .n = (unsigned long)o->virtual_connections, .fanout_pct = (unsigned long)o->virtual_fanout_pct,
                       .courses = (unsigned long)o->virtual_courses };
    if (o->virtual_tenants)
        sb_virtual_parse_tenants(o->virtual_tenants, &v);
    if (v.n)
        ls_info("%lu virtual connections (%lu %% per course, %lu courses each)", v.n, v.fanout_pct, v.courses);
    return v;
}

static int sb_run(const sb_opts_t *o, const sb_world_config_t *cfg, const char *token)
{
    char err[256] = "";
    sb_world_t *w = sb_world_new(cfg, err, sizeof(err));
    if (!w) {
        ls_error("cannot build the world: %s", err);
        return 1;
    }
    sb_faults_t *faults = sb_faults_new();
    sb_clock_t *clock = faults ? sb_clock_new(w, o->tick_ms, (unsigned)o->per_tick) : NULL;
    sb_http_config_t hc = { .host = o->host, .port = (unsigned)o->port, .token = token,
                            .latency_ms = o->latency_ms, .rate_limit = o->rl,
                            .unified_rate_limit = o->url, .virt = sb_virtual_opts(o),
                            .webhook_secret = o->webhook_secret,
                            .webhook_hex = o->webhook_sig_encoding && strcmp(o->webhook_sig_encoding, "hex") == 0 };
    sb_http_t *h = clock ? sb_http_start(&hc, w, faults, clock, err, sizeof(err)) : NULL;
    int rc = 1;
    if (h) {
        unsigned port = sb_http_port(h);
        printf("lmsync-sandbox listening on http://%s:%u\n", o->host, port);
        fflush(stdout);
        if (o->port_file && sb_write_port_file(o->port_file, port) != 0)
            ls_error("cannot write port file \"%s\": %s", o->port_file, strerror(errno));
        ls_info("listening on \"%s:%u\" with %zu connections, seed %ld, tick %ld ms",
                o->host, port, (size_t)cfg->connections, o->seed, o->tick_ms);
        if (o->rl.rps > 0.0)
            ls_info("rate limit of every connection: %g requests/s, burst %u", o->rl.rps,
                    sb_rate_limit_burst(&o->rl));
        if (o->url.rps > 0.0)
            ls_info("rate limit of \"unified\": %g requests/s, burst %u", o->url.rps,
                    sb_rate_limit_burst(&o->url));
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        int sig = 0;
        sigwait(&set, &sig);
        ls_info("signal %d received, shutting down", sig);
        rc = 0;
    } else {
        ls_error("cannot start: %s", err[0] ? err : "out of memory");
    }
    sb_http_stop(h);
    sb_clock_destroy(clock);
    sb_faults_destroy(faults);
    sb_world_destroy(w);
    return rc;
}

/*
 * The control API (/_sandbox/...) takes no token: anyone who reaches it can
 * rewrite the data and inject faults. Off loopback, say so loudly, on stderr
 * and in the log, before anything listens.
 */
static void warn_if_exposed(const char *host)
{
    if (strncmp(host, "127.", 4) == 0)
        return;
    fprintf(stderr, "lmsync-sandbox: WARNING: --host %s is not loopback: the control API (/_sandbox, no token: "
            "data writes, faults) and the fake LMS API are open to every host that can reach this one\n", host);
    ls_warn("--host \"%s\" is not loopback: the control API (no token) is reachable from other hosts", host);
}

int main(int argc, char **argv)
{
    sb_opts_t o = { .host = "127.0.0.1", .token = "sandbox-token", .log_format = "text",
                    .log_level = "info",
                    .providers = "coursera,go1,learnupon,d2l,successfactors_lms,udemy,docebo,moodle",
                    .seed = 42, .connections = 4, .students = 5, .courses = 3, .contents = 2,
                    .per_tick = 5, .virtual_fanout_pct = 10, .virtual_courses = 100, .hot_share = 90 };
    if (sb_parse_args(argc, argv, &o) != 0) {
        sb_usage(stderr);
        return 2;
    }
    ls_log_level_t lvl;
    if (ls_log_level_parse(o.log_level, &lvl) != LS_OK || o.port > 65535 ||
        (strcmp(o.log_format, "text") && strcmp(o.log_format, "json"))) {
        fprintf(stderr, "lmsync-sandbox: bad --log-level, --log-format or --port\n");
        return 2;
    }
    if ((o.rate_limit && sb_rate_parse(o.rate_limit, &o.rl) != LS_OK) ||
        (o.unified_rate_limit && sb_rate_parse(o.unified_rate_limit, &o.url) != LS_OK)) {
        fprintf(stderr, "lmsync-sandbox: --rate-limit and --unified-rate-limit take RPS[:BURST] "
                "(RPS a number 0..1000000, 0 = off; BURST an integer >= 1)\n");
        return 2;
    }
    sb_virtual_t vt;
    if (o.virtual_tenants && sb_virtual_parse_tenants(o.virtual_tenants, &vt) != 0) {
        fprintf(stderr, "lmsync-sandbox: --virtual-tenants takes TENANTSxSIZE[,TENANTSxSIZE...] (at most %d groups)\n",
                SB_VIRTUAL_GROUPS);
        return 2;
    }
    ls_log_init("sandbox", lvl, strcmp(o.log_format, "json") == 0);
    warn_if_exposed(o.host);
    sb_world_config_t cfg;
    sb_world_config_default(&cfg);
    cfg.seed = (uint64_t)o.seed;
    cfg.connections = (unsigned)o.connections;
    cfg.students = (unsigned)o.students;
    cfg.courses = (unsigned)o.courses;
    cfg.contents = (unsigned)o.contents;
    if (o.hot_connections > 100 || o.hot_share > 100) {
        fprintf(stderr, "lmsync-sandbox: --hot-connections and --hot-share are percentages (0..100)\n");
        return 2;
    }
    cfg.hot_pct = (unsigned)o.hot_connections;
    cfg.hot_share = o.hot_connections ? (unsigned)o.hot_share : 0;
    if (sb_providers(o.providers, &cfg) != 0)
        return 2;
    char *token = o.token_file ? sb_read_token(o.token_file) : strdup(o.token);
    if (!token)
        return 2;
    /* Block the shutdown signals before any thread exists; main takes them with sigwait(). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = sb_run(&o, &cfg, token);
    free(token);
    return rc;
}
