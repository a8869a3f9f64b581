/*
 * ls_ops.c - /healthz, /readyz and /metrics on libmicrohttpd (ls_ops.h).
 *
 * The listening socket is bound here, not by libmicrohttpd, so that a port
 * in use or a bad address gives the exact reason (errno) naming
 * 'ops.listen'. The daemon runs one internal polling thread; every answer
 * is built from the shared metric region and handed over as a copy.
 */
#include "ls_ops.h"
#include "ls_err.h"
#include "ls_log.h"
#include "ls_metrics.h"
#include "ls_time.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct ls_ops {
    struct MHD_Daemon *daemon;
    int fd, port;
    ls_ops_conf_t conf;
};

int ls_ops_parse_listen(const char *listen, char *host, size_t hostsz, int *port, char *err, size_t errsz)
{
    return ls_ops_parse_listen_key("ops.listen", listen, host, hostsz, port, err, errsz);
}

int ls_ops_parse_listen_key(const char *key, const char *listen, char *host, size_t hostsz, int *port,
                            char *err, size_t errsz)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    char *end;
    if (!colon || colon == listen || (size_t)(colon - listen) >= hostsz) {
        snprintf(err, errsz, "setting '%s' must be HOST:PORT (e.g. 0.0.0.0:9464), got \"%.60s\"", key,
                 listen ? listen : "");
        return -1;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || p < 0 || p > 65535) {
        snprintf(err, errsz, "setting '%s': port must be 0..65535, got \"%.20s\"", key, colon + 1);
        return -1;
    }
    struct in_addr a;
    if (strcmp(host, "localhost") != 0 && inet_pton(AF_INET, host, &a) != 1) {
        snprintf(err, errsz, "setting '%s': \"%.60s\" is not an IPv4 address or localhost", key, host);
        return -1;
    }
    *port = (int)p;
    return 0;
}

int ls_ops_bind(const char *key, const char *addr, int *fd_out, int *port_out, char *err, size_t errsz)
{
    char host[64];
    int port;
    if (ls_ops_parse_listen_key(key, addr, host, sizeof(host), &port, err, errsz) != 0)
        return LS_EINVAL;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) {
        snprintf(err, errsz, "setting '%s': socket: %s", key, strerror(errno));
        return LS_EIO;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0) {
        snprintf(err, errsz, "setting '%s': cannot listen on %s: %s", key, addr, strerror(errno));
        close(fd);
        return LS_EIO;
    }
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *fd_out = fd;
    *port_out = ntohs(sa.sin_port);
    return LS_OK;
}

/* ---- answers ---- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type, char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, body, free);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    char *body = strdup(text);
    return body ? reply(c, status, "text/plain; charset=utf-8", body, strlen(body)) : MHD_NO;
}

/*
 * One line per watched process that fails the check into buf; healthz
 * checks heartbeats, readyz states. @return the number of failing processes.
 * A slot never used (pid 0) or between two lives (heartbeat 0) fails
 * readiness but not liveness: the supervisor, not the probe, deals with a
 * process that cannot start.
 */
static int check(const ls_ops_t *o, int ready, char *buf, size_t bufsz)
{
    int64_t now = ls_time_mono_ms();
    size_t n = 0;
    int bad = 0;
    buf[0] = '\0';
    for (size_t i = o->conf.first_slot; i < o->conf.first_slot + o->conf.n_slots; i++) {
        pid_t pid;
        int64_t hb;
        ls_proc_state_t st;
        ls_metrics_slot_state(i, &pid, &hb, &st);
        const char *why = NULL;
        char age[48];
        if (!ready && hb && now - hb > o->conf.stale_ms) {
            snprintf(age, sizeof(age), "loop silent for %lld ms", (long long)(now - hb));
            why = age;
        } else if (ready && (!pid || !hb)) {
            why = "starting";
        } else if (ready && st != LS_PROC_READY) {
            why = ls_proc_state_name(st);
        }
        if (!why)
            continue;
        bad++;
        int k = snprintf(buf + n, bufsz - n, "process %zu (pid %d): %s\n", i, (int)pid, why);
        if (k > 0 && (size_t)k < bufsz - n)
            n += (size_t)k;
    }
    return bad;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    const ls_ops_t *o = cls;
    char buf[4096];
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
    if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0) {
        int ready = url[1] == 'r';
        if (check(o, ready, buf, sizeof(buf)))
            return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, buf);
        return reply_text(c, MHD_HTTP_OK, ready ? "ready\n" : "ok\n");
    }
    if (strcmp(url, "/metrics") == 0) {
        char *body;
        long len = ls_metrics_render(&body);
        if (len < 0)
            return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
        return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, (size_t)len);
    }
    return reply_text(c, MHD_HTTP_NOT_FOUND, "not found: try /healthz, /readyz or /metrics\n");
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    ls_warn("ops endpoint: %s", msg);
}

ls_ops_t *ls_ops_start(const ls_ops_conf_t *conf, char *err, size_t errsz)
{
    ls_ops_t *o = calloc(1, sizeof(*o));
    if (!o) {
        snprintf(err, errsz, "ops endpoint: out of memory");
        return NULL;
    }
    o->conf = *conf;
    o->conf.listen = NULL; /* not kept */
    if (ls_ops_bind("ops.listen", conf->listen, &o->fd, &o->port, err, errsz) != LS_OK) {
        free(o);
        return NULL;
    }
    o->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                 handle, o, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                                 MHD_OPTION_LISTEN_SOCKET, (MHD_socket)o->fd,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
    if (!o->daemon) {
        snprintf(err, errsz, "setting 'ops.listen': cannot start the HTTP server on %s", conf->listen);
        close(o->fd);
        free(o);
        return NULL;
    }
    return o;
}

int ls_ops_port(const ls_ops_t *ops) { return ops ? ops->port : 0; }

void ls_ops_forget_in_child(ls_ops_t *ops)
{
    if (ops && ops->fd >= 0)
        close(ops->fd); /* the copy of the daemon's memory is never touched in the child */
}

void ls_ops_stop(ls_ops_t *ops)
{
    if (!ops)
        return;
    MHD_stop_daemon(ops->daemon); /* closes the listening socket it was given */
    free(ops);
}
