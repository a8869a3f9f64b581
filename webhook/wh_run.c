/*
 * wh_run.c - lmsync-webhook's HTTP server and main loop (see wh_run.h).
 *
 * The HTTP thread only decides and hands the job to librdkafka (which
 * queues it and returns): the answer goes out within milliseconds, the
 * delivery to Kafka happens behind it. A job Kafka does not take at once
 * is answered 503 so that Unified retries the delivery.
 */
#include "wh_run.h"
#include "ls_err.h"
#include "ls_kafka.h"
#include "ls_log.h"
#include "ls_ops.h"
#include "ls_daemon.h"
#include "ls_ratelimit.h"
#include "ls_time.h"
#include "wh_app.h"
#include "wh_conns.h"
#include "wh_metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECRET_MAX 4096
#define REFRESH_TIMEOUT_MS 5000

typedef struct server {
    const ls_config_t *cfg;
    wh_app_t *app;
    ls_producer_t *prod;
    pthread_mutex_t prod_mu;   /* the HTTP thread sends, the main loop polls */
    char topic_jobs[128];
    size_t max_body;
    struct MHD_Daemon *mhd;
} server_t;

/* One request's body, bounded: past max_body it is only counted. */
typedef struct upload {
    char *buf;
    size_t len;
    int too_large;
} upload_t;

/* ---- settings ---- */

static int read_secret(const char *path, uint8_t *buf, size_t bufsz, size_t *len, char *err, size_t errsz)
{
    FILE *f = path[0] ? fopen(path, "rb") : NULL;
    if (!f) {
        snprintf(err, errsz, "setting 'webhook.secret_file': cannot read \"%s\"", path);
        return LS_EINVAL;
    }
    size_t n = fread(buf, 1, bufsz, f);
    int toolong = n == bufsz;
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == 0 || toolong) {
        snprintf(err, errsz, "setting 'webhook.secret_file': \"%s\" is %s", path, n ? "too long" : "empty");
        return LS_EINVAL;
    }
    *len = n;
    return LS_OK;
}

int wh_check_config(const ls_config_t *cfg, char *err, size_t errsz)
{
    char host[64], why[256];
    int port;
    double rate;
    wh_sig_enc_t enc;
    uint8_t secret[SECRET_MAX];
    size_t slen;
    if (ls_ops_parse_listen(cfg->webhook_listen, host, sizeof(host), &port, why, sizeof(why)) != 0) {
        const char *colon = strchr(why, ':');
        snprintf(err, errsz, "setting 'webhook.listen'%s", colon ? colon : ": bad address");
        return LS_EINVAL;
    }
    if (wh_sig_parse_encoding(cfg->webhook_sig_encoding, &enc) != 0) {
        snprintf(err, errsz, "setting 'webhook.sig_encoding' must be base64 or hex, got \"%.20s\"",
                 cfg->webhook_sig_encoding);
        return LS_EINVAL;
    }
    if (ls_rate_parse(cfg->webhook_connection_rate, &rate, why, sizeof(why)) != LS_OK) {
        snprintf(err, errsz, "setting 'webhook.connection_rate': %s", why);
        return LS_EINVAL;
    }
    int rc = read_secret(cfg->webhook_secret_file, secret, sizeof(secret), &slen, err, errsz);
    OPENSSL_cleanse(secret, sizeof(secret));
    return rc;
}

/* ---- HTTP ---- */

/* The answer's body names the result only: the reason goes to the log. */
static enum MHD_Result reply(struct MHD_Connection *c, wh_result_t r)
{
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"result\":\"%s\"}\n", wh_result_name(r));
    struct MHD_Response *resp = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)wh_result_status(r), resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Hand an accepted job to Kafka, keyed by its workspace-qualified connection as the coordinator keys the
 * connection's poll jobs: the same partition, so the worker that holds the connection's state runs it. */
static int enqueue(server_t *s, const ls_job_t *job, char *why, size_t whysz)
{
    char key[LS_KEY_MAX];
    if (ls_conn_qualify(job->workspace, job->connection_id, key, sizeof(key)) < 0) {
        snprintf(why, whysz, "connection id of job \"%.200s\" too long", job->job_id);
        return LS_EINVAL;
    }
    char *v = ls_job_encode(job);
    if (!v) {
        snprintf(why, whysz, "out of memory encoding job \"%.200s\"", job->job_id);
        return LS_ENOMEM;
    }
    pthread_mutex_lock(&s->prod_mu);
    int rc = ls_producer_send(s->prod, s->topic_jobs, -1, key, strlen(key), v, strlen(v), NULL, 0, NULL,
                              LS_SEND_NOW);
    pthread_mutex_unlock(&s->prod_mu);
    free(v);
    if (rc != LS_OK)
        snprintf(why, whysz, "kafka did not take job \"%.200s\" (%s)", job->job_id, ls_strerror(rc));
    return rc;
}

static wh_result_t decide(server_t *s, struct MHD_Connection *c, const char *url, const char *method,
                          const upload_t *u, char *why, size_t whysz, char *job_id, size_t jsz)
{
    ls_job_t job;
    if (strcmp(method, "POST") != 0 || strcmp(url, "/webhook") != 0) {
        snprintf(why, whysz, "%.8s %.100s: only POST /webhook", method, url);
        ls_err_printable(why);
        return WH_NOT_FOUND;
    }
    if (u->too_large) {
        snprintf(why, whysz, "body over %zu bytes (webhook.max_body_kb)", s->max_body);
        return WH_TOO_LARGE;
    }
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    wh_result_t r = wh_app_check(s->app, ct, u->buf ? u->buf : "", u->len, ls_time_now_ms(), &job, why, whysz);
    if (r == WH_ACCEPTED && job.records && enqueue(s, &job, why, whysz) != LS_OK)
        r = WH_ENQUEUE_FAILED;
    snprintf(job_id, jsz, "%s", job.records ? job.job_id : "");
    ls_job_release(&job);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **con_cls)
{
    server_t *s = cls;
    upload_t *u = *con_cls;
    (void)version;
    if (!u) {
        if (!(u = calloc(1, sizeof(*u))))
            return MHD_NO;
        *con_cls = u;
        return MHD_YES;
    }
    if (*size) {
        if (!u->too_large && u->len + *size <= s->max_body) {
            char *nb = realloc(u->buf, u->len + *size + 1);
            if (!nb)
                return MHD_NO;
            memcpy(nb + u->len, data, *size);
            u->buf = nb;
            u->len += *size;
            u->buf[u->len] = '\0';
        } else {
            u->too_large = 1; /* the rest is read and dropped: memory stays bounded */
        }
        *size = 0;
        return MHD_YES;
    }
    char why[512], job_id[LS_KEY_MAX + 40];
    wh_result_t r = decide(s, c, url, method, u, why, sizeof(why), job_id, sizeof(job_id));
    ls_metric_add(WHM_REQUESTS, (int)r, 0, 1);
    if (r == WH_ACCEPTED)
        ls_info("webhook accepted%s%s", job_id[0] ? ": enqueued job " : " (no records)", job_id);
    else
        ls_warn("webhook refused (%d %s): %s", wh_result_status(r), wh_result_name(r), why);
    return reply(c, r);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    upload_t *u = *con_cls;
    (void)cls, (void)c, (void)toe;
    if (u)
        free(u->buf);
    free(u);
    *con_cls = NULL;
}

static int start_http(server_t *s, char *err, size_t errsz)
{
    char host[64];
    int port;
    ls_ops_parse_listen(s->cfg->webhook_listen, host, sizeof(host), &port, err, errsz);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, &sa.sin_addr);
    s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, on_request, s,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_done,
                              NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_CONNECTION_LIMIT,
                              (unsigned)256, MHD_OPTION_END);
    if (!s->mhd) {
        snprintf(err, errsz, "setting 'webhook.listen': cannot listen on %s", s->cfg->webhook_listen);
        return LS_EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    port = info ? info->port : port;
    if (s->cfg->webhook_port_file[0]) {
        FILE *f = fopen(s->cfg->webhook_port_file, "w");
        if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0) {
            snprintf(err, errsz, "setting 'webhook.port_file': cannot write \"%.200s\"", s->cfg->webhook_port_file);
            return LS_EIO;
        }
    }
    ls_info("webhook receiver on port %d: POST /webhook, jobs to \"%s\"", port, s->topic_jobs);
    return LS_OK;
}

/* ---- main loop ---- */

/* Re-read the known connections; on failure the previous set stays. 1 when read. */
static int refresh(server_t *s)
{
    char err[256];
    ls_strmap_t *known = wh_conns_read(s->cfg, s->prod, REFRESH_TIMEOUT_MS, err, sizeof(err));
    if (!known) {
        ls_warn("known connections not refreshed, keeping %zu: %s", wh_app_connections(s->app), err);
        ls_metric_add(WHM_REFRESH_ERRORS, 0, 0, 1);
        return 0;
    }
    size_t n = ls_strmap_count(known);
    if (n != wh_app_connections(s->app))
        ls_info("known connections: %zu", n);
    wh_app_set_connections(s->app, known);
    ls_metric_set(WHM_CONNECTIONS, 0, 0, (int64_t)n);
    return 1;
}

static void loop(server_t *s, volatile sig_atomic_t *stop)
{
    int64_t next_refresh = 0;
    int ready = 0;
    while (!*stop) {
        int64_t now = ls_time_mono_ms();
        if (now >= next_refresh) {
            ready |= refresh(s);
            next_refresh = ls_time_mono_ms() + (ready ? (int64_t)s->cfg->webhook_refresh_s * 1000 : 1000);
        }
        ls_metrics_heartbeat(ls_time_mono_ms(), ready ? LS_PROC_READY : LS_PROC_STARTING);
        pthread_mutex_lock(&s->prod_mu);
        ls_producer_poll(s->prod);
        pthread_mutex_unlock(&s->prod_mu);
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int open_server(server_t *s, const ls_config_t *cfg, const uint8_t *secret, size_t slen, char *err,
                       size_t errsz)
{
    wh_app_conf_t ac = {secret, slen, WH_SIG_BASE64, (size_t)cfg->webhook_max_body_kb * 1024,
                        (int64_t)cfg->webhook_nonce_window_s * 1000, 0, (double)cfg->webhook_connection_burst,
                        cfg->webhook_workspace};
    wh_sig_parse_encoding(cfg->webhook_sig_encoding, &ac.enc);
    ls_rate_parse(cfg->webhook_connection_rate, &ac.rate_per_s, err, errsz);
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->max_body = ac.max_body;
    ls_config_topic(cfg, "poll.jobs", s->topic_jobs, sizeof(s->topic_jobs));
    pthread_mutex_init(&s->prod_mu, NULL);
    ls_kafka_conf_t kc = ls_config_kafka(cfg);
    if (!(s->app = wh_app_new(&ac))) {
        snprintf(err, errsz, "out of memory");
        return LS_ENOMEM;
    }
    if (!(s->prod = ls_producer_new(&kc, 10000, err, errsz)))
        return LS_ETRANSIENT;
    return start_http(s, err, errsz);
}

static void close_server(server_t *s)
{
    if (s->mhd)
        MHD_stop_daemon(s->mhd); /* no request runs after this: the producer may go */
    ls_producer_close(s->prod, 5000);
    wh_app_destroy(s->app);
    pthread_mutex_destroy(&s->prod_mu);
}

int wh_run(const ls_config_t *cfg, volatile sig_atomic_t *stop)
{
    char err[512];
    uint8_t secret[SECRET_MAX];
    size_t slen = 0;
    if (read_secret(cfg->webhook_secret_file, secret, sizeof(secret), &slen, err, sizeof(err)) != LS_OK) {
        ls_error("webhook cannot start: %s", err);
        return LS_EINVAL;
    }
    ls_ops_t *ops = NULL;
    int started = ls_daemon_single_start(cfg, "webhook", wh_metrics, WHM__COUNT, &ops);
    if (started != 0)
        return started;
    server_t s;
    int rc = open_server(&s, cfg, secret, slen, err, sizeof(err));
    if (rc != LS_OK)
        ls_error("webhook cannot start: %s", err);
    else
        loop(&s, stop);
    ls_metrics_heartbeat(ls_time_mono_ms(), LS_PROC_DRAINING);
    close_server(&s);
    OPENSSL_cleanse(secret, sizeof(secret));
    ls_ops_stop(ops);
    ls_metrics_free();
    return rc;
}
