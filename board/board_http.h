/*
 * board_http.h - lmsync-board's HTTP server (libmicrohttpd, one internal
 * thread) over a board_table_t:
 *
 *   GET /             the page (HTML, CSS and JS embedded in the binary)
 *   GET /api/courses  the course records, sorted, as a JSON array
 *   GET /events       Server-Sent Events: "snapshot" first, then "course",
 *                     "course_removed" and "change" as records arrive,
 *                     "status" when the courses topic was read to its end
 *   GET /healthz      200 and a JSON object of counters
 *
 * An event-stream client costs one queue and no thread: while it has
 * nothing to send, its connection is suspended; an update or the heartbeat
 * (every BOARD_HEARTBEAT_MS) resumes it. A client that closed its end is
 * seen by board_http_tick (its socket turns readable) and one that vanished
 * silently by a failing write; either way the connection ends and the
 * client is freed. At most max_clients
 * streams at once; one more gets 503. A client whose backlog passes its
 * limit (it does not read) is disconnected.
 */
#ifndef BOARD_HTTP_H
#define BOARD_HTTP_H

#include "board_table.h"

#define BOARD_HEARTBEAT_MS 2000

typedef struct board_http board_http_t;

typedef struct board_http_conf {
    const char *listen;      /* "host:port" (board.listen) */
    int max_clients;         /* board.max_clients */
} board_http_conf_t;

/**
 * Bind and start serving table (borrowed; from now on touched only through
 * board_http_update). err names 'board.listen'. @return NULL on failure.
 */
board_http_t *board_http_start(const board_http_conf_t *conf, board_table_t *table, char *err, size_t errsz);

int board_http_port(const board_http_t *h);

/* Changes the table; on a change sets *name (static) and *event (new reference) to push to the clients. */
typedef int (*board_update_fn)(board_table_t *t, void *arg, const char **name, json_t **event);

/** Run fn under the server's lock and push the event it made to every stream. @return fn's value. */
int board_http_update(board_http_t *h, board_update_fn fn, void *arg);

/** Mark whether the courses topic has been read to its end once (/healthz; a "status" event to the streams). */
void board_http_set_caught_up(board_http_t *h, int caught_up);

/** End the streams whose client closed; heartbeat to every stream idle for BOARD_HEARTBEAT_MS. Call often (every 100 ms or so). */
void board_http_tick(board_http_t *h);

/** End every stream, stop serving, free. NULL accepted. */
void board_http_stop(board_http_t *h);

/* The embedded page (board_page.c, generated from board/page.html). */
extern const unsigned char board_page_html[];
extern const unsigned long board_page_html_len;

#endif
