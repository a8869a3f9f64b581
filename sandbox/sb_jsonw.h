/*
 * sb_jsonw.h - a JSON text writer whose output is byte for byte what
 * jansson's json_dumps(SB_JSON_DUMP_FLAGS) writes for the same values.
 *
 * The sandbox serves activity pages as text written straight into a buffer
 * instead of building a jansson tree per record and dumping it: the tree,
 * its hundreds of small allocations and strftime/snprintf per timestamp were
 * most of the sandbox's CPU per page. Byte identity with the jansson path is
 * kept by doing by hand only what is simple to get exactly right (integers,
 * booleans, null, printable ASCII strings, timestamps in 1970..9999) and by
 * handing everything else (reals, strings that need escaping or UTF-8
 * checks) to jansson itself, one value at a time.
 *
 * A failed allocation makes the writer sticky-failed; sb_jsonw_take() then
 * returns NULL. Values jansson would refuse (invalid UTF-8, non-finite
 * reals) are reported to the caller, which omits the member as
 * json_object_set_new() does when handed NULL.
 */
#ifndef SB_JSONW_H
#define SB_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "sb_profile.h"

/* How every sandbox response body is dumped (sb_http.c) and what the writer reproduces. */
#define SB_JSON_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(12))

typedef struct sb_jsonw {
    char *buf;
    size_t len, cap;
    bool failed;                /* an allocation failed; the text is incomplete */
} sb_jsonw_t;

/** Empty writer, reserving cap_hint bytes (0: none yet). */
void sb_jsonw_init(sb_jsonw_t *jw, size_t cap_hint);

/** Free the buffer (not needed after sb_jsonw_take). */
void sb_jsonw_release(sb_jsonw_t *jw);

/**
 * Hand the text over: a malloc'd NUL-terminated string of *len bytes (caller
 * frees with free()), or NULL when an allocation failed. The writer is empty
 * afterwards.
 */
char *sb_jsonw_take(sb_jsonw_t *jw, size_t *len);

/** Append n raw bytes (punctuation, keys known to need no escaping). */
void sb_jsonw_raw(sb_jsonw_t *jw, const char *s, size_t n);

/** Append one character. */
void sb_jsonw_char(sb_jsonw_t *jw, char c);

/** Append an integer as jansson writes a json_integer. */
void sb_jsonw_int(sb_jsonw_t *jw, int64_t v);

/**
 * Append a number as jansson writes json_real(v) under SB_JSON_DUMP_FLAGS.
 * @return 0, or -1 (nothing written) when json_real() would refuse v (NaN, inf).
 */
int sb_jsonw_real(sb_jsonw_t *jw, double v);

/**
 * Append a string value as jansson writes json_string(s).
 * @return 0, or -1 (nothing written) when json_string() would refuse s
 *         (NULL or not valid UTF-8).
 */
int sb_jsonw_str(sb_jsonw_t *jw, const char *s);

/**
 * Append sb_ts_format(style, ms) as a JSON string, as jansson writes
 * json_string(sb_ts_format(style, ms)).
 * @return 0, or -1 (nothing written) as sb_jsonw_str().
 */
int sb_jsonw_time(sb_jsonw_t *jw, sb_ts_style_t style, int64_t ms);

/** Truncate back to len bytes (a member being abandoned). */
void sb_jsonw_truncate(sb_jsonw_t *jw, size_t len);

/**
 * Format an instant exactly as sb_ts_format() does, into buf (SB_TS_BUFSZ
 * bytes), without gmtime_r/strftime for instants of years 1970..9999 (the
 * others go through sb_ts_format itself).
 * @return the length written.
 */
size_t sb_jsonw_ts_format(sb_ts_style_t style, int64_t ms, char *buf);

#endif
