/*
 * board_http.c - the board's page, API and event streams on libmicrohttpd
 * (board_http.h).
 *
 * One lock guards the table and the client list. A stream's content reader
 * runs on libmicrohttpd's thread: it hands over what the client's queue
 * holds, or, when the queue is empty, suspends the connection (under the
 * lock, and flags it) and returns 0. Whoever pushes bytes resumes the
 * flagged connections, under the same lock, so a connection is resumed only
 * while it is suspended, never after it ended. libmicrohttpd frees the
 * response when the connection ends, whatever the reason, and the free
 * callback unlinks and frees the client: no thread and no memory outlive a
 * client that went away.
 */
#include "board_http.h"
#include "board_sse.h"
#include "ls_err.h"
#include "ls_log.h"
#include "ls_ops.h"
#include "ls_time.h"

#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Backlog a stream may have on top of its snapshot before it is disconnected. */
#define CLIENT_BACKLOG (1u << 20)
/* Compact; 15 significant digits, so a share of 0.4 reads 0.4 (17 would show 0.40000000000000002). */
#define BOARD_JSON (JSON_COMPACT | JSON_REAL_PRECISION(15))

typedef struct client {
    struct client *prev, *next;
    board_http_t *h;
    struct MHD_Connection *conn;
    board_sse_queue_t q;
    int suspended;          /* its connection is suspended by the reader */
    int overflowed;         /* backlog passed the limit: end the stream */
    int gone;               /* the client closed its end: end the stream */
    int64_t last_write_ms;
} client_t;

struct board_http {
    struct MHD_Daemon *daemon;
    int port, max_clients, n_clients, caught_up, stopping;
    pthread_mutex_t lock;
    board_table_t *table;
    client_t *clients;
};

/* ---- streams (called with the lock held) ---- */

static void wake(client_t *c)
{
    if (c->suspended) {
        c->suspended = 0;
        MHD_resume_connection(c->conn);
    }
}

static void push(client_t *c, const char *bytes, size_t n)
{
    if (!c->overflowed && board_sse_queue_push(&c->q, bytes, n) != LS_OK) {
        c->overflowed = 1;
        board_sse_queue_release(&c->q); /* its backlog is freed now; the stream ends at its next turn */
        ls_warn("board: an event-stream client fell %u bytes behind; disconnecting it", CLIENT_BACKLOG);
    }
    wake(c);
}

static void push_all(board_http_t *h, const char *name, const json_t *event)
{
    char *data = json_dumps(event, BOARD_JSON), *frame = NULL;
    size_t len = 0;
    if (data)
        frame = board_sse_frame(name, data, &len);
    if (!frame)
        ls_error("board: out of memory rendering a '%s' event; streams miss it", name);
    for (client_t *c = h->clients; frame && c; c = c->next)
        push(c, frame, len);
    free(frame);
    free(data);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    client_t *c = cls;
    pthread_mutex_lock(&c->h->lock);
    ssize_t n = c->gone ? 0 : (ssize_t)board_sse_queue_take(&c->q, buf, max);
    if (n > 0) {
        c->last_write_ms = ls_time_mono_ms();
    } else if (c->overflowed || c->gone) {
        n = MHD_CONTENT_READER_END_WITH_ERROR;
    } else if (c->h->stopping) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        c->suspended = 1;
        MHD_suspend_connection(c->conn);
    }
    pthread_mutex_unlock(&c->h->lock);
    return n;
}

static void stream_free(void *cls)
{
    client_t *c = cls;
    board_http_t *h = c->h;
    pthread_mutex_lock(&h->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        h->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->n_clients--;
    pthread_mutex_unlock(&h->lock);
    board_sse_queue_release(&c->q);
    free(c);
}

/* A new client holding the retry line and the snapshot, linked in; NULL when full (*full) or on no memory. */
static client_t *client_new(board_http_t *h, struct MHD_Connection *conn, int *full)
{
    *full = h->n_clients >= h->max_clients;
    if (*full)
        return NULL;
    json_t *snap = board_table_snapshot(h->table);
    if (snap)
        json_object_set_new(snap, "caught_up", json_boolean(h->caught_up));
    char *data = snap ? json_dumps(snap, BOARD_JSON) : NULL, *frame = NULL;
    json_decref(snap);
    size_t len = 0;
    client_t *c = data ? calloc(1, sizeof(*c)) : NULL;
    if (c && (frame = board_sse_frame("snapshot", data, &len))) {
        board_sse_queue_init(&c->q, len + strlen(BOARD_SSE_RETRY) + CLIENT_BACKLOG);
        if (board_sse_queue_push(&c->q, BOARD_SSE_RETRY, strlen(BOARD_SSE_RETRY)) != LS_OK ||
            board_sse_queue_push(&c->q, frame, len) != LS_OK) {
            board_sse_queue_release(&c->q);
            free(c);
            c = NULL;
        }
    } else {
        free(c);
        c = NULL;
    }
    free(frame);
    free(data);
    if (!c)
        return NULL;
    c->h = h;
    c->conn = conn;
    c->last_write_ms = ls_time_mono_ms();
    c->next = h->clients;
    if (h->clients)
        h->clients->prev = c;
    h->clients = c;
    h->n_clients++;
    return c;
}

/* ---- answers ---- */

static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status, const char *type, struct MHD_Response *r)
{
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result reply_owned(struct MHD_Connection *conn, unsigned status, const char *type, char *body)
{
    if (!body)
        return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(strlen(body), body, free);
    if (!r)
        free(body);
    return queue(conn, status, type, r);
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    return reply_owned(conn, status, "text/plain; charset=utf-8", strdup(text));
}

static enum MHD_Result reply_json(struct MHD_Connection *conn, json_t *v)
{
    char *body = v ? json_dumps(v, BOARD_JSON) : NULL;
    json_decref(v);
    if (!body)
        return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
    return reply_owned(conn, MHD_HTTP_OK, "application/json", body);
}

static enum MHD_Result reply_page(struct MHD_Connection *conn)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(board_page_html_len, (void *)board_page_html,
                                                             MHD_RESPMEM_PERSISTENT);
    if (r) /* everything the page needs is inline; it talks to this server only */
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    return queue(conn, MHD_HTTP_OK, "text/html; charset=utf-8", r);
}

static json_t *health(board_http_t *h)
{
    board_stats_t s;
    board_table_stats(h->table, &s);
    return json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:i, s:i}", "status", "ok", "caught_up", h->caught_up,
                     "courses", (json_int_t)s.courses, "connections", (json_int_t)s.connections, "changes",
                     (json_int_t)s.changes, "bad_course_records", (json_int_t)s.bad_courses, "bad_change_records",
                     (json_int_t)s.bad_changes, "sse_clients", h->n_clients, "sse_max_clients", h->max_clients);
}

static enum MHD_Result reply_stream(board_http_t *h, struct MHD_Connection *conn)
{
    int full;
    pthread_mutex_lock(&h->lock);
    client_t *c = client_new(h, conn, &full);
    pthread_mutex_unlock(&h->lock);
    if (full)
        return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                          "too many event-stream clients (setting 'board.max_clients'); try again later\n");
    if (!c)
        return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, c,
                                                               stream_free);
    if (!r) {
        stream_free(c);
        return MHD_NO;
    }
    MHD_add_response_header(r, "X-Accel-Buffering", "no"); /* a proxy in front must not hold events back */
    return queue(conn, MHD_HTTP_OK, "text/event-stream; charset=utf-8", r);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version, (void)upload_data, (void)upload_size, (void)con_cls;
    board_http_t *h = cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
    if (strcmp(url, "/") == 0)
        return reply_page(conn);
    if (strcmp(url, "/events") == 0)
        return reply_stream(h, conn);
    if (strcmp(url, "/api/courses") == 0 || strcmp(url, "/healthz") == 0) {
        pthread_mutex_lock(&h->lock);
        json_t *v = url[1] == 'a' ? board_table_courses(h->table) : health(h);
        pthread_mutex_unlock(&h->lock);
        return reply_json(conn, v);
    }
    return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /, /api/courses, /events or /healthz\n");
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    ls_warn("board http: %s", msg);
}

/* ---- lifecycle and the loop's calls ---- */

board_http_t *board_http_start(const board_http_conf_t *conf, board_table_t *table, char *err, size_t errsz)
{
    board_http_t *h = calloc(1, sizeof(*h));
    int fd;
    if (!h) {
        snprintf(err, errsz, "board: out of memory");
        return NULL;
    }
    h->table = table;
    h->max_clients = conf->max_clients;
    pthread_mutex_init(&h->lock, NULL);
    if (ls_ops_bind("board.listen", conf->listen, &fd, &h->port, err, errsz) != LS_OK) {
        pthread_mutex_destroy(&h->lock);
        free(h);
        return NULL;
    }
    /* streams plus room for the page and API requests beside them */
    unsigned limit = (unsigned)conf->max_clients + 32;
    h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME |
                                     MHD_USE_ERROR_LOG,
                                 0, NULL, NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                                 MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errsz, "setting 'board.listen': cannot start the HTTP server on %s", conf->listen);
        close(fd);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return NULL;
    }
    return h;
}

int board_http_port(const board_http_t *h) { return h->port; }

int board_http_update(board_http_t *h, board_update_fn fn, void *arg)
{
    const char *name = NULL;
    json_t *event = NULL;
    pthread_mutex_lock(&h->lock);
    int rc = fn(h->table, arg, &name, &event);
    if (event)
        push_all(h, name, event);
    pthread_mutex_unlock(&h->lock);
    json_decref(event);
    return rc;
}

void board_http_set_caught_up(board_http_t *h, int caught_up)
{
    json_t *event = json_pack("{s:b}", "caught_up", caught_up);
    pthread_mutex_lock(&h->lock);
    h->caught_up = caught_up;
    if (event)
        push_all(h, "status", event);
    pthread_mutex_unlock(&h->lock);
    json_decref(event);
}

/*
 * A suspended connection is not polled by libmicrohttpd, so a client that
 * closed it would be noticed only at the next write. An event-stream client
 * sends nothing after its request: a readable socket means it closed (EOF),
 * reset or sent junk; either way the stream ends now. Polling reads
 * nothing, and the connection cannot end while it is suspended.
 */
static int peer_gone(client_t *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return 0;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1; /* POLLIN, POLLHUP, POLLERR: nothing a live stream client causes */
}

void board_http_tick(board_http_t *h)
{
    int64_t now = ls_time_mono_ms();
    pthread_mutex_lock(&h->lock);
    for (client_t *c = h->clients; c; c = c->next) {
        if (!c->suspended)
            continue;
        if (peer_gone(c)) {
            c->gone = 1;
            wake(c);
        } else if (now - c->last_write_ms >= BOARD_HEARTBEAT_MS) {
            c->last_write_ms = now;
            push(c, BOARD_SSE_HEARTBEAT, strlen(BOARD_SSE_HEARTBEAT));
        }
    }
    pthread_mutex_unlock(&h->lock);
}

void board_http_stop(board_http_t *h)
{
    if (!h)
        return;
    /* libmicrohttpd must not be stopped with a suspended connection: wake
     * them all; their reader then ends the stream */
    pthread_mutex_lock(&h->lock);
    h->stopping = 1;
    for (client_t *c = h->clients; c; c = c->next)
        wake(c);
    pthread_mutex_unlock(&h->lock);
    MHD_stop_daemon(h->daemon);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
