/*
 * ls_activity.c - normalize an upstream LmsActivity JSON object.
 *
 * The field table (ls_schema.c) drives both directions (JSON -> record ->
 * JSON), so wire names, kinds and struct offsets live in one place.
 * Validation is strict and never coerces: a wrong JSON type, a bad timestamp or an
 * over-long string rejects the whole record with a reason that names the
 * field, because a silently "fixed" value would turn into a bogus change
 * event later. Reasons are single-line: quoted input is truncated and
 * control characters are replaced. The checks work on ls_jval_t views, so
 * the jansson path (ls_activity_from_json) and the direct page parser
 * (ls_page) share them and cannot drift apart.
 */
#include "ls_activity.h"
#include "ls_err.h"
#include "ls_schema.h"
#include "ls_time.h"
#include "ls_utf8.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define QUOTE_MAX 40

const char *ls_field_name(ls_field_t f)
{
    if ((unsigned)f >= LS_F__COUNT)
        return NULL;
    return ls_schema_fields[f].name;
}

void ls_activity_clear(ls_activity_t *a)
{
    memset(a, 0, sizeof(*a));
}

static int fail(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errsz, const char *fmt, ...)
{
    if (err != NULL && errsz > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return LS_EINVAL;
}

static const char *jtype_name(ls_jtype_t t)
{
    switch (t) {
    case LS_JT_OBJECT: return "object";
    case LS_JT_ARRAY: return "array";
    case LS_JT_STRING: return "string";
    case LS_JT_NUMBER: return "number";
    case LS_JT_BOOL: return "boolean";
    default: return "null";
    }
}

/* Copy s for quoting in a reason: at most QUOTE_MAX bytes, cut on a UTF-8
 * boundary, control characters and quotes replaced so the reason stays one
 * readable line. */
static void quote_excerpt(const char *s, char *out, size_t outsz)
{
    size_t n = strlen(s), cut = n > QUOTE_MAX ? QUOTE_MAX : n;
    while (cut < n && cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    size_t j = 0;
    for (size_t i = 0; i < cut && j + 1 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];
        out[j++] = (c < 0x20 || c == 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
    }
    if (cut < n && j + 4 < outsz) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j] = '\0';
}

static int read_string(const ls_jval_t *v, const ls_field_desc_t *d, char *dst,
                       char *err, size_t errsz)
{
    const char *name = d->name;
    if (v->type != LS_JT_STRING)
        return fail(err, errsz, "field '%s': expected string, got %s", name, jtype_name(v->type));
    if (memchr(v->str, '\0', v->len) != NULL)
        return fail(err, errsz, "field '%s': contains a NUL byte", name);
    if (v->len > d->max_len)
        return fail(err, errsz, "field '%s': longer than %u bytes", name, (unsigned)d->max_len);
    memcpy(dst, v->str, v->len);
    dst[v->len] = '\0';
    return LS_OK;
}

/*
 * A valid RFC 3339 value is at most 35 bytes, so a NUL-terminated copy of
 * the first TIME_COPY_MAX bytes decides validity and holds everything the
 * quoted excerpt needs (QUOTE_MAX + 1 bytes and whether there is more).
 */
#define TIME_COPY_MAX 63

static int read_time(const ls_jval_t *v, const char *name, int64_t *dst,
                     char *err, size_t errsz)
{
    char tmp[TIME_COPY_MAX + 1], q[QUOTE_MAX + 8];
    if (v->type != LS_JT_STRING)
        return fail(err, errsz, "field '%s': expected string, got %s", name, jtype_name(v->type));
    size_t n = v->len > TIME_COPY_MAX ? TIME_COPY_MAX : v->len;
    memcpy(tmp, v->str, n);
    tmp[n] = '\0';
    if (v->len > TIME_COPY_MAX || memchr(v->str, '\0', v->len) != NULL ||
        ls_time_parse(tmp, dst) != LS_OK) {
        quote_excerpt(tmp, q, sizeof(q));
        return fail(err, errsz, "field '%s': invalid timestamp \"%s\"", name, q);
    }
    return LS_OK;
}

static int read_value(const ls_jval_t *v, ls_field_t f, ls_activity_t *out,
                      char *err, size_t errsz)
{
    const ls_field_desc_t *d = &ls_schema_fields[f];
    const char *name = d->name;
    switch (d->kind) {
    case LS_KIND_STR:
        return read_string(v, d, LS_FIELD_PTR(out, f, char), err, errsz);
    case LS_KIND_BOOL:
        if (v->type != LS_JT_BOOL)
            return fail(err, errsz, "field '%s': expected boolean, got %s", name, jtype_name(v->type));
        *LS_FIELD_PTR(out, f, bool) = v->boolean;
        return LS_OK;
    case LS_KIND_NUM:
        if (v->type != LS_JT_NUMBER)
            return fail(err, errsz, "field '%s': expected number, got %s", name, jtype_name(v->type));
        if (!isfinite(v->number))
            return fail(err, errsz, "field '%s': not a finite number", name);
        *LS_FIELD_PTR(out, f, double) = v->number == 0.0 ? 0.0 : v->number; /* -0 -> +0 */
        return LS_OK;
    case LS_KIND_TIME:
        return read_time(v, name, LS_FIELD_PTR(out, f, int64_t), err, errsz);
    }
    return LS_EINVAL;
}

static int read_id(const ls_jval_t *v, ls_activity_t *out, char *err, size_t errsz)
{
    if (v == NULL)
        return fail(err, errsz, "missing field 'id'");
    int rc = read_string(v, &ls_schema_id, out->id, err, errsz);
    if (rc != LS_OK)
        return rc;
    if (out->id[0] == '\0')
        return fail(err, errsz, "field 'id': empty string");
    return LS_OK;
}

int ls_activity_from_src(const ls_activity_src_t *src, ls_activity_t *out,
                         char *err, size_t errsz)
{
    ls_activity_clear(out);
    if (!src->is_object)
        return fail(err, errsz, "record is not an object");
    int rc = read_id(src->id, out, err, errsz);
    for (int f = 0; rc == LS_OK && f < LS_F__COUNT; f++) {
        const ls_jval_t *v = src->field[f];
        if (v == NULL)
            continue;
        if (v->type == LS_JT_NULL) {
            out->pres[f] = LS_NULL;
            continue;
        }
        rc = read_value(v, (ls_field_t)f, out, err, errsz);
        out->pres[f] = LS_PRESENT;
    }
    if (rc != LS_OK)
        ls_activity_clear(out);
    return rc;
}

/* View a jansson value (borrowed) as an ls_jval_t; NULL stays NULL (absent). */
static const ls_jval_t *jval_of(const json_t *j, ls_jval_t *v)
{
    if (j == NULL)
        return NULL;
    memset(v, 0, sizeof(*v));
    switch (json_typeof(j)) {
    case JSON_OBJECT: v->type = LS_JT_OBJECT; break;
    case JSON_ARRAY: v->type = LS_JT_ARRAY; break;
    case JSON_STRING:
        v->type = LS_JT_STRING;
        v->str = json_string_value(j);
        v->len = json_string_length(j);
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        v->type = LS_JT_NUMBER;
        v->number = json_number_value(j);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        v->type = LS_JT_BOOL;
        v->boolean = json_is_true(j);
        break;
    default: v->type = LS_JT_NULL; break;
    }
    return v;
}

int ls_activity_from_json(const json_t *obj, ls_activity_t *out,
                          char *err, size_t errsz)
{
    ls_jval_t id, vals[LS_F__COUNT];
    ls_activity_src_t src = {.is_object = json_is_object(obj)};
    if (src.is_object) {
        src.id = jval_of(json_object_get(obj, ls_schema_id.name), &id);
        for (int f = 0; f < LS_F__COUNT; f++)
            src.field[f] = jval_of(json_object_get(obj, ls_schema_fields[f].name), &vals[f]);
    }
    return ls_activity_from_src(&src, out, err, errsz);
}

/* Integral values within +-2^53 print as JSON integers (40, not 40.0). */
static json_t *number_json(double d)
{
    if (!isfinite(d))
        return json_null(); /* not producible by from_json/unpack */
    if (d == floor(d) && fabs(d) <= 9007199254740992.0)
        return json_integer((json_int_t)d);
    return json_real(d);
}

static json_t *field_json(const ls_activity_t *a, ls_field_t f)
{
    char buf[LS_TIME_BUFSZ];
    if (a->pres[f] != LS_PRESENT)
        return json_null();
    switch (ls_schema_fields[f].kind) {
    case LS_KIND_STR: return json_string(LS_FIELD_CPTR(a, f, char));
    case LS_KIND_BOOL: return json_boolean(*LS_FIELD_CPTR(a, f, bool));
    case LS_KIND_NUM: return number_json(*LS_FIELD_CPTR(a, f, double));
    case LS_KIND_TIME: return json_string(ls_time_format(*LS_FIELD_CPTR(a, f, int64_t), buf));
    }
    return NULL;
}

json_t *ls_activity_to_json(const ls_activity_t *a)
{
    json_t *o = json_object();
    if (o == NULL || json_object_set_new(o, ls_schema_id.name, json_string(a->id)) != 0)
        goto fail;
    for (int f = 0; f < LS_F__COUNT; f++) {
        if (a->pres[f] == LS_ABSENT)
            continue;
        if (json_object_set_new(o, ls_schema_fields[f].name, field_json(a, (ls_field_t)f)) != 0)
            goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

/*
 * Direct JSON writer: the bytes of json_dumps(ls_activity_to_json(a),
 * JSON_SORT_KEYS | JSON_COMPACT) without the tree, the per-node mallocs and
 * the key sort. It mirrors jansson 2.14 (src/dump.c, src/strconv.c,
 * src/utf.c); the unit tests compare both on random records.
 */

/* Longest output of put_number: "%.17g" is at most 24 bytes ("-1.2345678901234567e-308").
 * LS_ACTIVITY_JSON_MAX is checked against the table by tests/unit/test_schema.c. */
#define NUMBER_MAX 32

static char *put_escape(char *p, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    *p++ = '\\';
    switch (c) {
    case '"': *p++ = '"'; break;
    case '\\': *p++ = '\\'; break;
    case '\b': *p++ = 'b'; break;
    case '\f': *p++ = 'f'; break;
    case '\n': *p++ = 'n'; break;
    case '\r': *p++ = 'r'; break;
    case '\t': *p++ = 't'; break;
    default:
        memcpy(p, "u00", 3);
        p[3] = hex[c >> 4];
        p[4] = hex[c & 0xF];
        p += 5;
        break;
    }
    return p;
}

static bool plain_ascii(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

size_t ls_activity_write_jstring(const char *s, size_t len, char *out)
{
    const unsigned char *u = (const unsigned char *)s;
    char *p = out;
    size_t i = 0;
    *p++ = '"';
    while (i < len) {
        size_t run = i;
        while (run < len && plain_ascii(u[run]))
            run++;
        memcpy(p, s + i, run - i);
        p += run - i;
        i = run;
        if (i == len)
            break;
        if (u[i] < 0x80) {
            p = put_escape(p, u[i++]);
            continue;
        }
        size_t n = ls_utf8_seq(u + i, len - i);
        if (n == 0)
            return 0;
        memcpy(p, s + i, n);
        p += n;
        i += n;
    }
    *p++ = '"';
    return (size_t)(p - out);
}

/* A NUL-terminated string field (at most max_len bytes); NULL when jansson
 * would refuse it. */
static char *put_str_field(char *p, const char *s, size_t max_len)
{
    size_t len = strnlen(s, max_len + 1);
    if (len > max_len)
        return NULL;
    size_t n = ls_activity_write_jstring(s, len, p);
    return n == 0 ? NULL : p + n;
}

/* json_integer: "%lld" (JSON_INTEGER_FORMAT), without printf. */
static char *put_int(char *p, int64_t v)
{
    char tmp[20];
    size_t n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *p++ = '-';
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

/* json_real: jansson's jsonp_dtostr without DTOA: "%.17g", the locale's
 * decimal point back to '.', ".0" when there is neither '.' nor 'e', and
 * the exponent without '+' and leading zeros ("1e+300" -> "1e300",
 * "1e-05" -> "1e-5"). lmsync never calls setlocale(); the mapping costs
 * nothing and keeps the bytes equal if something does. */
static char *put_real(char *p, double d)
{
    char buf[NUMBER_MAX + 8];
    int r = snprintf(buf, sizeof(buf), "%.17g", d);
    if (r < 0 || r > NUMBER_MAX - 2)
        return NULL; /* not reached for a finite double */
    size_t n = (size_t)r;
    char *e = NULL;
    bool point = false;
    for (size_t k = 0; k < n; k++) {
        char c = buf[k];
        if (c == 'e')
            e = buf + k;
        else if (c != '-' && c != '+' && (c < '0' || c > '9')) {
            buf[k] = '.';
            point = true;
        }
    }
    if (!point && e == NULL) {
        memcpy(buf + n, ".0", 2);
        n += 2;
    }
    if (e != NULL) {
        char *start = e + 1, *end = e + 2;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        memmove(start, end, n - (size_t)(end - buf));
        n -= (size_t)(end - start);
    }
    memcpy(p, buf, n);
    return p + n;
}

/* number_json() as bytes: integers within +-2^53, else a real; non-finite is null. */
static char *put_number(char *p, double d)
{
    if (!isfinite(d)) {
        memcpy(p, "null", 4);
        return p + 4;
    }
    if (d == floor(d) && fabs(d) <= 9007199254740992.0)
        return put_int(p, (int64_t)d);
    return put_real(p, d);
}

/* An instant as a JSON string: ls_time_format()'s bytes, written in place
 * (the characters never need escaping). */
static char *put_time(char *p, int64_t ms)
{
    *p++ = '"';
    p += ls_time_write(ms, p);
    *p++ = '"';
    return p;
}

/* field_json() as bytes; NULL when jansson would refuse the value. */
static char *put_field(char *p, const ls_activity_t *a, ls_field_t f)
{
    if (a->pres[f] != LS_PRESENT) {
        memcpy(p, "null", 4);
        return p + 4;
    }
    const ls_field_desc_t *d = &ls_schema_fields[f];
    switch (d->kind) {
    case LS_KIND_STR: return put_str_field(p, LS_FIELD_CPTR(a, f, char), d->max_len);
    case LS_KIND_BOOL:
        if (*LS_FIELD_CPTR(a, f, bool)) {
            memcpy(p, "true", 4);
            return p + 4;
        }
        memcpy(p, "false", 5);
        return p + 5;
    case LS_KIND_NUM: return put_number(p, *LS_FIELD_CPTR(a, f, double));
    case LS_KIND_TIME: return put_time(p, *LS_FIELD_CPTR(a, f, int64_t));
    }
    return NULL;
}

static char *put_key(char *p, const ls_field_desc_t *d, bool first)
{
    if (!first)
        *p++ = ',';
    *p++ = '"';
    memcpy(p, d->name, d->name_len);
    p += d->name_len;
    *p++ = '"';
    *p++ = ':';
    return p;
}

size_t ls_activity_write_json(const ls_activity_t *a, char *out)
{
    const uint8_t *sorted = ls_schema_index()->sorted;
    char *p = out;
    *p++ = '{';
    for (size_t k = 0; p != NULL && k < LS_F__COUNT + 1; k++) {
        unsigned f = sorted[k];
        if (f == LS_SCHEMA_KEY_ID) {
            p = put_str_field(put_key(p, &ls_schema_id, p == out + 1), a->id, ls_schema_id.max_len);
        } else if (a->pres[f] != LS_ABSENT) {
            p = put_key(p, &ls_schema_fields[f], p == out + 1);
            p = put_field(p, a, (ls_field_t)f);
        }
    }
    if (p == NULL)
        return 0;
    *p++ = '}';
    return (size_t)(p - out);
}

bool ls_activity_field_equal(const ls_activity_t *a, const ls_activity_t *b, ls_field_t f)
{
    if ((unsigned)f >= LS_F__COUNT || a->pres[f] != b->pres[f])
        return false;
    if (a->pres[f] != LS_PRESENT)
        return true;
    switch (ls_schema_fields[f].kind) {
    case LS_KIND_STR: return strcmp(LS_FIELD_CPTR(a, f, char), LS_FIELD_CPTR(b, f, char)) == 0;
    case LS_KIND_BOOL: return *LS_FIELD_CPTR(a, f, bool) == *LS_FIELD_CPTR(b, f, bool);
    case LS_KIND_NUM: return *LS_FIELD_CPTR(a, f, double) == *LS_FIELD_CPTR(b, f, double);
    case LS_KIND_TIME: return *LS_FIELD_CPTR(a, f, int64_t) == *LS_FIELD_CPTR(b, f, int64_t);
    }
    return false;
}
