/*
 * board_sse.h - Server-Sent Events framing and the per-client byte queue of
 * lmsync-board (pure: no sockets, no threads).
 *
 * A frame is "event: NAME\n" then one "data: LINE\n" per line of the data
 * (a CR, LF or CRLF ends a line, as the EventSource parser reads them), then
 * an empty line. A heartbeat is a comment line, ignored by EventSource.
 */
#ifndef BOARD_SSE_H
#define BOARD_SSE_H

#include <stddef.h>

/* What a client is sent first: how long EventSource waits before reconnecting. */
#define BOARD_SSE_RETRY "retry: 2000\n\n"
/* Sent to an idle client, so that a client that went away is noticed at the next write. */
#define BOARD_SSE_HEARTBEAT ":\n\n"

/**
 * The frame of event name (no CR/LF in it) carrying data.
 * @return new string (free()), its length in *len; NULL on no memory.
 */
char *board_sse_frame(const char *name, const char *data, size_t *len);

/* Bytes waiting for one client, bounded by limit. */
typedef struct board_sse_queue {
    char *buf;
    size_t off, len, cap, limit;   /* pending bytes: buf[off, len) */
} board_sse_queue_t;

void board_sse_queue_init(board_sse_queue_t *q, size_t limit);
void board_sse_queue_release(board_sse_queue_t *q);

/** Append n bytes. @return 0; LS_EFULL when the pending bytes would exceed limit (nothing appended); LS_ENOMEM. */
int board_sse_queue_push(board_sse_queue_t *q, const char *bytes, size_t n);

/** Move up to max pending bytes to out. @return how many (0: none pending). */
size_t board_sse_queue_take(board_sse_queue_t *q, char *out, size_t max);

#endif
