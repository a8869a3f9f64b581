/*
 * ls_time.h - instants as int64 milliseconds since the Unix epoch, UTC.
 *
 * Upstream timestamps arrive as ISO-8601 / RFC 3339 strings with or without
 * fractional seconds and with 'Z' or a +hh:mm / -hh:mm offset. They are
 * compared as instants, so "...:00Z" and "...:00.000Z" and "...:00+00:00" are
 * the same value. Precision kept: milliseconds (extra digits are truncated).
 */
#ifndef LS_TIME_H
#define LS_TIME_H

#include <stddef.h>
#include <stdint.h>

#define LS_TIME_BUFSZ 32

/**
 * Parse an RFC 3339 date-time ("2026-11-27T14:09:48Z",
 * "2026-11-27T14:09:48.123456+02:00"). A date-only or offset-less value is
 * rejected (no guessing of time zones). Grammar: YYYY-MM-DD, 'T' or 't',
 * HH:MM:SS, optional '.' and 1-9 digits, then 'Z', 'z' or +hh:mm / -hh:mm;
 * years 0000-9999, nothing after the offset. A leap second
 * ("2016-12-31T23:59:60Z", or the same UTC instant with an offset; any
 * fraction) is read as 23:59:59.999 UTC; ss = 60 at any other UTC time is
 * rejected.
 * @return 0 and *ms_out set, or LS_EINVAL (*ms_out untouched).
 */
int ls_time_parse(const char *s, int64_t *ms_out);

/**
 * Format as UTC: "YYYY-MM-DDTHH:MM:SSZ" when the millisecond part is zero,
 * "YYYY-MM-DDTHH:MM:SS.mmmZ" otherwise. buf must hold LS_TIME_BUFSZ bytes.
 * @return buf
 */
char *ls_time_format(int64_t ms, char *buf);

/**
 * ls_time_format()'s characters for ms written to out without a terminating
 * NUL, for writers that fill a larger buffer in place. Any int64 is
 * accepted: years outside 0000-9999 are written like printf's "%04lld"
 * ("-001", "10000"). out must hold LS_TIME_BUFSZ - 1 bytes.
 * @return the number of bytes written (at most LS_TIME_BUFSZ - 1)
 */
size_t ls_time_write(int64_t ms, char *out);

/** Wall clock now, in ms since the epoch (CLOCK_REALTIME). */
int64_t ls_time_now_ms(void);

/** Monotonic clock in ms, for timeouts and intervals (CLOCK_MONOTONIC). */
int64_t ls_time_mono_ms(void);

#endif
