/*
 * ls_time.c - RFC 3339 parsing and formatting without timegm().
 *
 * timegm() is not POSIX and mktime() depends on TZ, so UTC conversion is
 * done with Howard Hinnant's days_from_civil / civil_from_days algorithms,
 * which are exact over the whole proleptic Gregorian calendar. The parser is
 * strict: fixed-width fields, 'T' or 't' separator, 1-9 fraction digits
 * (truncated to milliseconds), a mandatory 'Z'/'z' or +hh:mm/-hh:mm offset,
 * and nothing after the offset. A leap second (ss = 60, where the UTC time is
 * 23:59:60, as RFC 3339 allows) is read as 23:59:59.999: instants here are
 * POSIX time, which has no 61st second, and the last millisecond of the
 * minute keeps the order of events around it.
 *
 * Formatting writes the digits itself instead of calling snprintf: it is on
 * the change-event hot path (up to nine instants an event), where printf's
 * format parsing cost several times the arithmetic. The bytes are those of
 * "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d" plus ".%03dZ" or "Z", for every
 * int64; only years outside 0000-9999 still go through snprintf
 * (tests/unit/test_time.c keeps the all-snprintf version as a reference).
 */
#include "ls_time.h"
#include "ls_err.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MS_PER_DAY INT64_C(86400000)

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1-12, d 1-31). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = era * 400 + yoe + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Read exactly n decimal digits at *p; advances *p. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* Optional ".f{1,9}": milliseconds, extra digits truncated. */
static bool parse_fraction(const char **p, int *ms)
{
    *ms = 0;
    if (**p != '.')
        return true;
    (*p)++;
    int n = 0;
    while ((*p)[n] >= '0' && (*p)[n] <= '9') {
        if (n < 3)
            *ms = *ms * 10 + ((*p)[n] - '0');
        n++;
    }
    if (n < 1 || n > 9)
        return false;
    for (int i = n; i < 3; i++)
        *ms *= 10;
    *p += n;
    return true;
}

/* "Z" / "z" / "+hh:mm" / "-hh:mm" -> offset east of UTC, in minutes. */
static bool parse_offset(const char **p, int *off_min)
{
    int hh, mm;
    char sign = **p;
    if (sign == 'Z' || sign == 'z') {
        (*p)++;
        *off_min = 0;
        return true;
    }
    if (sign != '+' && sign != '-')
        return false;
    (*p)++;
    if (!digits(p, 2, &hh) || !expect(p, ':') || !digits(p, 2, &mm))
        return false;
    if (hh > 23 || mm > 59)
        return false;
    *off_min = (sign == '-' ? -1 : 1) * (hh * 60 + mm);
    return true;
}

int ls_time_parse(const char *s, int64_t *ms_out)
{
    int y, mo, d, h, mi, sec, frac, off;
    const char *p = s;
    if (s == NULL)
        return LS_EINVAL;
    if (!digits(&p, 4, &y) || !expect(&p, '-') || !digits(&p, 2, &mo) ||
        !expect(&p, '-') || !digits(&p, 2, &d))
        return LS_EINVAL;
    if (*p != 'T' && *p != 't')
        return LS_EINVAL;
    p++;
    if (!digits(&p, 2, &h) || !expect(&p, ':') || !digits(&p, 2, &mi) ||
        !expect(&p, ':') || !digits(&p, 2, &sec))
        return LS_EINVAL;
    if (!parse_fraction(&p, &frac) || !parse_offset(&p, &off) || *p != '\0')
        return LS_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
        h > 23 || mi > 59 || sec > 60)
        return LS_EINVAL;
    int leap = sec == 60;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + (leap ? 59 : sec);
    secs -= (int64_t)off * 60;
    if (leap && (secs % 86400 + 86400) % 86400 != 86399)
        return LS_EINVAL; /* a leap second is 23:59:60 UTC, nothing else */
    *ms_out = secs * 1000 + (leap ? 999 : frac);
    return LS_OK;
}

/* v in exactly width decimal digits, zero-padded (v < 10^width). */
static char *put_digits(char *p, unsigned v, int width)
{
    for (int k = width - 1; k >= 0; k--) {
        p[k] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

/* The year as printf's "%04" PRId64 writes it: four digits for 0000-9999
 * (every year ls_time_parse accepts), else snprintf's "-001", "10000",
 * "-292275055" for instants only a corrupt or hand-made value can hold. */
static char *put_year(char *p, int64_t y)
{
    if (y >= 0 && y <= 9999)
        return put_digits(p, (unsigned)y, 4);
    char tmp[24]; /* an int64 is at most 20 characters */
    int n = snprintf(tmp, sizeof(tmp), "%04" PRId64, y);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        n = 0; /* not reached */
    memcpy(p, tmp, (size_t)n);
    return p + n;
}

size_t ls_time_write(int64_t ms, char *out)
{
    /* Floor division so instants before 1970 format correctly. */
    int64_t days = ms / MS_PER_DAY;
    int64_t rem = ms % MS_PER_DAY;
    if (rem < 0) {
        rem += MS_PER_DAY;
        days--;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    unsigned msec = (unsigned)(rem % 1000), secs = (unsigned)(rem / 1000);
    char *p = put_year(out, y);
    *p++ = '-';
    p = put_digits(p, (unsigned)m, 2);
    *p++ = '-';
    p = put_digits(p, (unsigned)d, 2);
    *p++ = 'T';
    p = put_digits(p, secs / 3600, 2);
    *p++ = ':';
    p = put_digits(p, secs / 60 % 60, 2);
    *p++ = ':';
    p = put_digits(p, secs % 60, 2);
    if (msec != 0) {
        *p++ = '.';
        p = put_digits(p, msec, 3);
    }
    *p++ = 'Z';
    return (size_t)(p - out);
}

char *ls_time_format(int64_t ms, char *buf)
{
    buf[ls_time_write(ms, buf)] = '\0';
    return buf;
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ls_time_now_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

int64_t ls_time_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}
