/*
 * tail_fmt.h - rendering of one Kafka message for lmsync-tail.
 *
 * Pure functions over a plain struct (no librdkafka types), so they can be
 * unit-tested without a broker.
 */
#ifndef TAIL_FMT_H
#define TAIL_FMT_H

#include <stddef.h>
#include <stdint.h>

typedef struct tail_header {
    const char *name;     /* NUL-terminated */
    const void *value;    /* NULL for a null header value */
    size_t len;
} tail_header_t;

/* One message; every pointer is borrowed from the caller. */
typedef struct tail_msg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;     /* -1: not available */
    const void *key;          /* NULL: no key */
    size_t key_len;
    const void *value;        /* NULL: tombstone */
    size_t value_len;
    const tail_header_t *headers;
    size_t header_cnt;
} tail_msg_t;

/**
 * One compact JSON object, no trailing newline:
 * {"topic","partition","offset","timestamp_ms","key","headers","value"}.
 * key: string or null; headers: {name: string or null} (a repeated name keeps
 * its last value); value: parsed JSON, else the raw text as a string, or null
 * for a tombstone. Bytes that are not UTF-8 become U+FFFD.
 * @return new string (caller frees with free()), NULL on allocation failure.
 */
char *tail_fmt_json(const tail_msg_t *m);

/**
 * One human-readable line, no trailing newline. With a ce_type header:
 *   "<type> <connection> <activity> <summary> [student=<id>]"
 * with the first three columns padded; summary is built from the value's
 * "changed", "before" and "after" ("field old -> new, ..."; "-" for absent).
 * Without ce_type: "<topic> <key> <value>".
 * @return new string (caller frees with free()), NULL on allocation failure.
 */
char *tail_fmt_line(const tail_msg_t *m);

#endif
