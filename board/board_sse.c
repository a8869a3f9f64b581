/*
 * board_sse.c - SSE frames and client queues (board_sse.h).
 */
#include "board_sse.h"
#include "ls_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of the frame: each line costs "data: " and "\n". */
static size_t frame_size(const char *name, const char *data)
{
    size_t n = strlen("event: \n") + strlen(name) + 1, lines = 1;
    for (const char *p = data; *p; p++)
        if (*p == '\n' || (*p == '\r' && p[1] != '\n'))
            lines++;
    return n + strlen(data) + lines * strlen("data: \n");
}

char *board_sse_frame(const char *name, const char *data, size_t *len)
{
    char *out = malloc(frame_size(name, data) + 1), *w = out;
    if (!out)
        return NULL;
    w += sprintf(w, "event: %s\ndata: ", name);
    for (const char *p = data; *p; p++) {
        if (*p == '\r' && p[1] == '\n')
            continue; /* CRLF: the LF ends the line */
        if (*p == '\r' || *p == '\n') {
            memcpy(w, "\ndata: ", 7);
            w += 7;
        } else {
            *w++ = *p;
        }
    }
    memcpy(w, "\n\n", 3);
    *len = (size_t)(w + 2 - out);
    return out;
}

void board_sse_queue_init(board_sse_queue_t *q, size_t limit)
{
    memset(q, 0, sizeof(*q));
    q->limit = limit;
}

void board_sse_queue_release(board_sse_queue_t *q)
{
    free(q->buf);
    memset(q, 0, sizeof(*q));
}

int board_sse_queue_push(board_sse_queue_t *q, const char *bytes, size_t n)
{
    if (q->len - q->off + n > q->limit)
        return LS_EFULL;
    if (q->off > 0) { /* compact: the taken bytes are dead */
        memmove(q->buf, q->buf + q->off, q->len - q->off);
        q->len -= q->off;
        q->off = 0;
    }
    if (q->len + n > q->cap) {
        size_t cap = q->cap ? q->cap : 4096;
        while (cap < q->len + n)
            cap *= 2;
        char *nb = realloc(q->buf, cap);
        if (!nb)
            return LS_ENOMEM;
        q->buf = nb;
        q->cap = cap;
    }
    memcpy(q->buf + q->len, bytes, n);
    q->len += n;
    return LS_OK;
}

size_t board_sse_queue_take(board_sse_queue_t *q, char *out, size_t max)
{
    size_t n = q->len - q->off;
    if (n > max)
        n = max;
    if (n == 0)
        return 0;
    memcpy(out, q->buf + q->off, n);
    q->off += n;
    if (q->off == q->len)
        q->off = q->len = 0;
    return n;
}
