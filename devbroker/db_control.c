/*
 * db_control.c - the control API over libmicrohttpd.
 *
 * Bodies are small JSON objects, so each request body is buffered whole
 * (capped at DB_BODY_MAX) and handled when the last chunk arrives. Bad input
 * is a 4xx with a reason, never an abort.
 */
#include "db_control.h"
#include "ls_err.h"
#include "ls_log.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_BODY_MAX (64 * 1024)
#define DB_MAX_ERRORS 1024

struct db_control {
    struct MHD_Daemon *mhd;
    db_cluster_t *cluster;
    int port;
};

/* Per-request body buffer; lives from the first call to request completion. */
typedef struct req_body {
    char *buf;
    size_t len;
    int too_big;
} req_body_t;

typedef struct reply {
    unsigned status;
    char text[512];   /* body; JSON unless plain is set */
    int plain;
} reply_t;

static void reply_ok(reply_t *r)
{
    r->status = MHD_HTTP_OK;
    snprintf(r->text, sizeof(r->text), "{\"ok\":true}");
}

static void reply_err(reply_t *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reply_err(reply_t *r, unsigned status, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:s}", "error", msg);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    r->status = status;
    snprintf(r->text, sizeof(r->text), "%s", s ? s : "{\"error\":\"internal\"}");
    free(s);
    json_decref(o);
}

/* Map an LS_E* value from db_cluster to a reply. */
static void reply_rc(reply_t *r, int rc, const char *what)
{
    if (rc == LS_OK)
        reply_ok(r);
    else if (rc == LS_ENOTFOUND)
        reply_err(r, MHD_HTTP_NOT_FOUND, "%s: no such broker", what);
    else if (rc == LS_EINVAL)
        reply_err(r, MHD_HTTP_BAD_REQUEST, "%s: invalid argument", what);
    else
        reply_err(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s: %s", what, ls_strerror(rc));
}

/* "all" -> -1, else a positive decimal id. */
static int parse_broker_id(const char *s, size_t n, int32_t *id)
{
    if (n == 3 && strncmp(s, "all", 3) == 0) {
        *id = -1;
        return LS_OK;
    }
    if (n == 0 || n > 6)
        return LS_EINVAL;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return LS_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *id = (int32_t)v;
    return LS_OK;
}

static json_t *parse_body(const req_body_t *b, reply_t *r)
{
    json_error_t jerr;
    json_t *o = b->len ? json_loadb(b->buf, b->len, 0, &jerr) : NULL;
    if (!o) {
        reply_err(r, MHD_HTTP_BAD_REQUEST, "body: expected a JSON object%s%s",
                  b->len ? ": " : "", b->len ? jerr.text : "");
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        reply_err(r, MHD_HTTP_BAD_REQUEST, "body: expected a JSON object");
        return NULL;
    }
    return o;
}

/* Optional integer member: absent leaves *out alone. */
static int get_int(const json_t *o, const char *key, int lo, int hi, int *out, reply_t *r)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return LS_OK;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        reply_err(r, MHD_HTTP_BAD_REQUEST, "field '%s': expected an integer in %d..%d", key, lo, hi);
        return LS_EINVAL;
    }
    *out = (int)json_integer_value(v);
    return LS_OK;
}

static void handle_broker(db_control_t *ctl, int32_t id, const char *verb,
                          const req_body_t *b, reply_t *r)
{
    char who[16];
    if (id < 0)
        snprintf(who, sizeof(who), "all");
    else
        snprintf(who, sizeof(who), "%d", (int)id);
    if (strcmp(verb, "down") == 0) {
        reply_rc(r, db_cluster_broker_down(ctl->cluster, id), "broker down");
    } else if (strcmp(verb, "up") == 0) {
        reply_rc(r, db_cluster_broker_up(ctl->cluster, id), "broker up");
    } else if (strcmp(verb, "rtt") == 0) {
        json_t *o = parse_body(b, r);
        int rtt = -1;
        if (!o)
            return;
        if (get_int(o, "rtt_ms", 0, 600000, &rtt, r) == LS_OK) {
            if (rtt < 0)
                reply_err(r, MHD_HTTP_BAD_REQUEST, "field 'rtt_ms': required");
            else
                reply_rc(r, db_cluster_broker_rtt(ctl->cluster, id, rtt), "broker rtt");
            if (r->status == MHD_HTTP_OK)
                ls_info("control: broker %s rtt %d ms", who, rtt);
        }
        json_decref(o);
    } else {
        reply_err(r, MHD_HTTP_NOT_FOUND, "unknown broker action '%s'", verb);
    }
    if (r->status == MHD_HTTP_OK && strcmp(verb, "rtt") != 0)
        ls_info("control: broker %s %s", who, verb);
}

/* Fill codes from the "errors" array (names or integers). */
static int collect_codes(const json_t *arr, int *codes, size_t *cnt, reply_t *r)
{
    size_t i;
    json_t *e;
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > DB_MAX_ERRORS) {
        reply_err(r, MHD_HTTP_BAD_REQUEST, "field 'errors': expected an array of 1..%d names or codes",
                  DB_MAX_ERRORS);
        return LS_EINVAL;
    }
    json_array_foreach(arr, i, e) {
        if (json_is_string(e)) {
            if (db_cluster_error_code(json_string_value(e), &codes[i]) != LS_OK) {
                reply_err(r, MHD_HTTP_BAD_REQUEST, "errors[%zu]: unknown error name '%s'",
                          i, json_string_value(e));
                return LS_EINVAL;
            }
        } else if (json_is_integer(e) && json_integer_value(e) >= -1000 &&
                   json_integer_value(e) <= 10000 &&
                   db_cluster_error_known((int)json_integer_value(e))) {
            codes[i] = (int)json_integer_value(e);
        } else {
            reply_err(r, MHD_HTTP_BAD_REQUEST, "errors[%zu]: expected a known error name or code", i);
            return LS_EINVAL;
        }
    }
    *cnt = json_array_size(arr);
    return LS_OK;
}

static void handle_errors(db_control_t *ctl, const req_body_t *b, reply_t *r)
{
    json_t *o = parse_body(b, r);
    int api_key = -1, broker_id = -1, rtt = 0;
    if (!o)
        return;
    int *codes = calloc(DB_MAX_ERRORS, sizeof(*codes));
    size_t cnt = 0;
    if (!codes) {
        reply_err(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    } else if (get_int(o, "api_key", 0, INT16_MAX, &api_key, r) == LS_OK &&
               get_int(o, "broker_id", -1, 1000, &broker_id, r) == LS_OK &&
               get_int(o, "rtt_ms", 0, 600000, &rtt, r) == LS_OK) {
        if (api_key < 0) {
            reply_err(r, MHD_HTTP_BAD_REQUEST, "field 'api_key': required");
        } else if (collect_codes(json_object_get(o, "errors"), codes, &cnt, r) == LS_OK) {
            int rc = db_cluster_push_errors(ctl->cluster, broker_id, api_key, cnt, codes, rtt);
            reply_rc(r, rc, "push errors");
            if (rc == LS_OK && broker_id < 0)
                ls_info("control: pushed %zu error(s) for api key %d, cluster-wide", cnt, api_key);
            else if (rc == LS_OK)
                ls_info("control: pushed %zu error(s) for api key %d on broker %d, rtt %d ms",
                        cnt, api_key, broker_id, rtt);
        }
    }
    free(codes);
    json_decref(o);
}

static void route_brokers(db_control_t *ctl, const char *method, const char *url,
                          const req_body_t *b, reply_t *r)
{
    const char *id_s = url + 9, *slash = strchr(id_s, '/');
    int32_t id;
    if (!slash || parse_broker_id(id_s, (size_t)(slash - id_s), &id) != LS_OK)
        reply_err(r, MHD_HTTP_NOT_FOUND, "expected /brokers/{id|all}/{down|up|rtt}");
    else if (strcmp(method, "POST") != 0)
        reply_err(r, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
    else
        handle_broker(ctl, id, slash + 1, b, r);
}

static void route_info(db_control_t *ctl, reply_t *r)
{
    json_t *o = json_pack("{s:s,s:i}", "bootstrap", db_cluster_bootstraps(ctl->cluster),
                          "brokers", db_cluster_broker_count(ctl->cluster));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    r->status = s ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR;
    snprintf(r->text, sizeof(r->text), "%s", s ? s : "{\"error\":\"out of memory\"}");
    free(s);
    json_decref(o);
}

static void route_clear(db_control_t *ctl, const char *url, reply_t *r)
{
    int32_t key;
    if (parse_broker_id(url + 8, strlen(url + 8), &key) != LS_OK || key < 0 || key > INT16_MAX) {
        reply_err(r, MHD_HTTP_BAD_REQUEST, "bad api key in '%s'", url);
        return;
    }
    db_cluster_clear_errors(ctl->cluster, (int)key);
    ls_info("control: cleared errors for api key %d", (int)key);
    reply_ok(r);
}

static void route(db_control_t *ctl, const char *method, const char *url,
                  const req_body_t *b, reply_t *r)
{
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/healthz") == 0 && get) {
        r->status = MHD_HTTP_OK;
        r->plain = 1;
        snprintf(r->text, sizeof(r->text), "ok");
    } else if (strcmp(url, "/info") == 0 && get) {
        route_info(ctl, r);
    } else if (strcmp(url, "/errors") == 0 && post) {
        handle_errors(ctl, b, r);
    } else if (strncmp(url, "/errors/", 8) == 0 && strcmp(method, "DELETE") == 0) {
        route_clear(ctl, url, r);
    } else if (strncmp(url, "/brokers/", 9) == 0) {
        route_brokers(ctl, method, url, b, r);
    } else if (strcmp(url, "/healthz") == 0 || strcmp(url, "/info") == 0 ||
               strncmp(url, "/errors", 7) == 0) {
        reply_err(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed on '%s'", method, url);
    } else {
        reply_err(r, MHD_HTTP_NOT_FOUND, "no such endpoint '%s'", url);
    }
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, const reply_t *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(r->text), (void *)r->text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type",
                            r->plain ? "text/plain" : "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    db_control_t *ctl = cls;
    req_body_t *b = *con_cls;
    if (!b) {
        b = calloc(1, sizeof(*b));
        if (!b)
            return MHD_NO;
        *con_cls = b;
        return MHD_YES;
    }
    if (*upload_size) {
        if (b->len + *upload_size > DB_BODY_MAX) {
            b->too_big = 1;
        } else if (!b->too_big) {
            char *nb = realloc(b->buf, b->len + *upload_size);
            if (!nb)
                return MHD_NO;
            b->buf = nb;
            memcpy(b->buf + b->len, upload_data, *upload_size);
            b->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    reply_t r = {0};
    if (b->too_big)
        reply_err(&r, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than %d bytes", DB_BODY_MAX);
    else
        route(ctl, method, url, b, &r);
    return send_reply(conn, &r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    req_body_t *b = *con_cls;
    if (b) {
        free(b->buf);
        free(b);
        *con_cls = NULL;
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    ls_warn("control http: %s", msg);
}

db_control_t *db_control_new(db_cluster_t *cluster, int port, char *errstr, size_t errsz)
{
    db_control_t *ctl = calloc(1, sizeof(*ctl));
    if (!ctl) {
        snprintf(errstr, errsz, "out of memory");
        return NULL;
    }
    ctl->cluster = cluster;
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ctl->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
                                (uint16_t)port, NULL, NULL, on_request, ctl,
                                MHD_OPTION_EXTERNAL_LOGGER, mhd_log, ctl, /* must be first */
                                MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
                                MHD_OPTION_NOTIFY_COMPLETED, on_completed, ctl,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                                MHD_OPTION_END);
    if (!ctl->mhd) {
        snprintf(errstr, errsz, "cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
        free(ctl);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(ctl->mhd, MHD_DAEMON_INFO_BIND_PORT);
    ctl->port = info ? info->port : port;
    return ctl;
}

int db_control_port(const db_control_t *ctl)
{
    return ctl->port;
}

void db_control_destroy(db_control_t *ctl)
{
    if (!ctl)
        return;
    MHD_stop_daemon(ctl->mhd);
    free(ctl);
}
