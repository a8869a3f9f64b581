/*
 * sb_jsonw.c - JSON text writer matching jansson's dump (see sb_jsonw.h).
 *
 * Only two things are formatted here by hand, because they are all a page
 * of activities is made of and both are easy to get exactly right:
 * integers ("%lld", what JSON_INTEGER_FORMAT is) and timestamps (a
 * days-to-civil conversion replacing gmtime_r + strftime + snprintf).
 * Strings are copied as they are when every byte is printable ASCII other
 * than '"' and '\\' (jansson escapes nothing else and every such string is
 * valid UTF-8); any other string, and every real, is dumped by jansson.
 */
#include "sb_jsonw.h"

#include <stdlib.h>
#include <string.h>

#define SB_JSONW_MIN_CAP 256
#define SB_TS_FAST_MAX_S 253402300799LL   /* 9999-12-31T23:59:59Z */

static bool sb_jsonw_reserve(sb_jsonw_t *jw, size_t n)
{
    if (jw->failed)
        return false;
    if (jw->len + n + 1 <= jw->cap)
        return true;
    size_t ncap = jw->cap ? jw->cap * 2 : SB_JSONW_MIN_CAP;
    while (ncap < jw->len + n + 1)
        ncap *= 2;
    char *nb = realloc(jw->buf, ncap);
    if (!nb) {
        jw->failed = true;
        return false;
    }
    jw->buf = nb;
    jw->cap = ncap;
    return true;
}

void sb_jsonw_init(sb_jsonw_t *jw, size_t cap_hint)
{
    memset(jw, 0, sizeof(*jw));
    if (cap_hint)
        sb_jsonw_reserve(jw, cap_hint);
}

void sb_jsonw_release(sb_jsonw_t *jw)
{
    free(jw->buf);
    memset(jw, 0, sizeof(*jw));
}

char *sb_jsonw_take(sb_jsonw_t *jw, size_t *len)
{
    char *out = NULL;
    if (sb_jsonw_reserve(jw, 0)) {
        jw->buf[jw->len] = '\0';
        out = jw->buf;
        *len = jw->len;
        jw->buf = NULL;
    }
    sb_jsonw_release(jw);
    return out;
}

void sb_jsonw_raw(sb_jsonw_t *jw, const char *s, size_t n)
{
    if (!sb_jsonw_reserve(jw, n))
        return;
    memcpy(jw->buf + jw->len, s, n);
    jw->len += n;
}

void sb_jsonw_char(sb_jsonw_t *jw, char c)
{
    if (!sb_jsonw_reserve(jw, 1))
        return;
    jw->buf[jw->len++] = c;
}

void sb_jsonw_truncate(sb_jsonw_t *jw, size_t len)
{
    if (len < jw->len)
        jw->len = len;
}

void sb_jsonw_int(sb_jsonw_t *jw, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[sizeof(tmp) - 1 - n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[sizeof(tmp) - 1 - n++] = '-';
    sb_jsonw_raw(jw, tmp + sizeof(tmp) - n, n);
}

/* Dump one value with jansson straight into the buffer; consumes j. */
static int sb_jsonw_dump(sb_jsonw_t *jw, json_t *j)
{
    if (!j)
        return -1;
    size_t flags = SB_JSON_DUMP_FLAGS | JSON_ENCODE_ANY;
    size_t room = jw->cap > jw->len ? jw->cap - jw->len - 1 : 0;
    size_t need = json_dumpb(j, room ? jw->buf + jw->len : NULL, room, flags);
    if (need > room && sb_jsonw_reserve(jw, need))
        need = json_dumpb(j, jw->buf + jw->len, need, flags);
    json_decref(j);
    if (need == 0)
        return -1;
    if (!jw->failed)
        jw->len += need;
    return 0;
}

int sb_jsonw_real(sb_jsonw_t *jw, double v)
{
    return sb_jsonw_dump(jw, json_real(v));
}

int sb_jsonw_str(sb_jsonw_t *jw, const char *s)
{
    if (!s)
        return -1;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
        if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
            return sb_jsonw_dump(jw, json_string(s));
    if (!sb_jsonw_reserve(jw, n + 2))
        return 0;
    jw->buf[jw->len++] = '"';
    memcpy(jw->buf + jw->len, s, n);
    jw->len += n;
    jw->buf[jw->len++] = '"';
    return 0;
}

static char *sb_put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil, inverted). */
static void sb_civil(int64_t days, unsigned *y, unsigned *m, unsigned *d)
{
    int64_t z = days + 719468;
    int64_t era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (unsigned)(yoe + era * 400) + (*m <= 2);
}

size_t sb_jsonw_ts_format(sb_ts_style_t style, int64_t ms, char *buf)
{
    int64_t secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    if (secs < 0 || secs > SB_TS_FAST_MAX_S)
        return strlen(sb_ts_format(style, ms, buf));
    unsigned y, mo, d, sod = (unsigned)(secs % 86400);
    sb_civil(secs / 86400, &y, &mo, &d);
    char *p = sb_put2(sb_put2(buf, y / 100), y % 100);
    *p++ = '-';
    p = sb_put2(p, mo);
    *p++ = '-';
    p = sb_put2(p, d);
    *p++ = 'T';
    p = sb_put2(p, sod / 3600);
    *p++ = ':';
    p = sb_put2(p, sod / 60 % 60);
    *p++ = ':';
    p = sb_put2(p, sod % 60);
    if (style == SB_TS_MILLIS_Z || frac != 0) {
        *p++ = '.';
        *p++ = (char)('0' + frac / 100);
        p = sb_put2(p, (unsigned)(frac % 100));
    }
    if (style == SB_TS_OFFSET) {
        memcpy(p, "+00:00", 6);
        p += 6;
    } else {
        *p++ = 'Z';
    }
    *p = '\0';
    return (size_t)(p - buf);
}

int sb_jsonw_time(sb_jsonw_t *jw, sb_ts_style_t style, int64_t ms)
{
    char ts[SB_TS_BUFSZ];
    sb_jsonw_ts_format(style, ms, ts);
    return sb_jsonw_str(jw, ts);
}
