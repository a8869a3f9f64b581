/*
 * ls_page.c - direct page parser: response bytes -> ls_activity_t records.
 *
 * Why not jansson: json_loadb() builds a tree of small heap objects (a hash
 * table per record, a string per value) that the worker throws away right
 * after copying a dozen fields out of it; that alone cost ~6 us per record,
 * most of the worker's CPU budget. This parser makes one pass over the bytes
 * and keeps, per element, only where each tracked key's last value is.
 *
 * Equivalence with json_loadb(buf, len, 0) + json_is_array() +
 * ls_activity_from_json() is the contract (tests/unit/test_page.c checks it
 * differentially, tests/fuzz/fuzz_page.c on fuzzed bodies): the grammar,
 * UTF-8, escape, number and depth rules below are jansson 2.14's (UTF-8 by
 * ls_utf8, which mirrors jansson's), the tracked keys are the rows of the
 * field table (ls_schema), and the field checks are ls_activity_from_src(),
 * the same code ls_activity_from_json() runs. One deliberate exception:
 * jansson skips a single raw NUL byte right after a number or a
 * true/false/null literal (its lexer ungets the byte, and a NUL in its
 * look-ahead buffer means "refill"), so it accepts "[1\0]"; this parser
 * rejects every raw NUL outside a string, as RFC 8259 does. Every body this
 * parser accepts, jansson accepts with the same result. Strings are
 * validated in place and only decoded when they are tracked values that
 * contain escapes.
 *
 * Every scanner keeps p <= end and reads a byte only after checking p < end:
 * the body is not NUL-terminated.
 */
#include "ls_page.h"
#include "ls_err.h"
#include "ls_schema.h"
#include "ls_utf8.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Slot 0 is "id", slot 1 + f is field f. */
#define N_SLOTS (1 + LS_F__COUNT)
/* No tracked key is longer than LS_FIELD_NAME_MAX bytes; an escaped key
 * longer than this raw cannot decode to one (each escape yields at least 1
 * byte per 6). */
#define KEY_RAW_MAX (6 * LS_FIELD_NAME_MAX)

typedef struct span {
    const char *s;  /* raw bytes between the quotes */
    size_t n;
    bool esc;       /* contains a backslash escape: decode before use */
} span_t;

typedef struct parser {
    const char *buf, *p, *end;
    char *err;
    size_t errsz;
} parser_t;

/* One element's tracked keys: the last value seen for each. */
typedef struct record {
    unsigned seen;              /* bit k: slot k present */
    ls_jval_t val[N_SLOTS];
    span_t str[N_SLOTS];        /* raw string of a LS_JT_STRING slot */
} record_t;

static int syntax(parser_t *ps, const char *at, const char *what)
{
    if (ps->err != NULL && ps->errsz > 0)
        snprintf(ps->err, ps->errsz, "invalid JSON at byte %zu: %s", (size_t)(at - ps->buf), what);
    return LS_EINVAL;
}

/* Upstream pages are compact JSON: the common case is no whitespace at all. */
static inline void skip_ws(parser_t *ps)
{
    const char *p = ps->p;
    if (p < ps->end && (unsigned char)*p > ' ')
        return;
    while (p < ps->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    ps->p = p;
}

/* ---- strings ---------------------------------------------------------- */

static int hex4(const char *p, const char *end, uint32_t *out)
{
    uint32_t v = 0;
    if (end - p < 4)
        return LS_EINVAL;
    for (int i = 0; i < 4; i++) {
        unsigned char c = (unsigned char)p[i];
        int d = c >= '0' && c <= '9' ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return LS_EINVAL;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return LS_OK;
}

/* One escape at *pp (the backslash), jansson's rules: a high surrogate must
 * be followed by a \u low surrogate, a lone low surrogate and \u0000 are
 * errors. Advances *pp past it. */
static int scan_escape(parser_t *ps, const char **pp)
{
    const char *p = *pp, *end = ps->end;
    uint32_t v, v2;
    if (end - p < 2)
        return syntax(ps, p, "premature end of input in a string");
    if (strchr("\"\\/bfnrt", p[1]) != NULL && p[1] != '\0') {
        *pp = p + 2;
        return LS_OK;
    }
    if (p[1] != 'u' || hex4(p + 2, end, &v) != LS_OK)
        return syntax(ps, p, "invalid escape");
    p += 6;
    if (v >= 0xD800 && v <= 0xDBFF) {
        if (end - p < 2 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &v2) != LS_OK ||
            v2 < 0xDC00 || v2 > 0xDFFF)
            return syntax(ps, *pp, "invalid Unicode surrogate");
        p += 6;
    } else if (v >= 0xDC00 && v <= 0xDFFF) {
        return syntax(ps, *pp, "invalid Unicode surrogate");
    } else if (v == 0) {
        return syntax(ps, *pp, "\\u0000 is not allowed");
    }
    *pp = p;
    return LS_OK;
}

/* One multi-byte UTF-8 sequence at *pp (*pp < end): shortest form, no
 * surrogates, <= U+10FFFF (ls_utf8_seq, jansson's rules). */
static int scan_utf8(parser_t *ps, const char **pp)
{
    size_t n = ls_utf8_seq((const unsigned char *)*pp, (size_t)(ps->end - *pp));
    if (n == 0)
        return syntax(ps, *pp, "invalid UTF-8");
    *pp += n;
    return LS_OK;
}

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Skip plain string bytes (printable ASCII other than '"' and '\\') eight
 * at a time: a word stops when a byte is < 0x20, >= 0x80, '"' or '\\'. */
static const char *skip_plain(const char *p, const char *end)
{
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');
        uint64_t stop = (w | ((q - ONES) & ~q) | ((b - ONES) & ~b) | (w - ONES * 0x20)) & HIGHS;
        if (stop != 0)
            break;
        p += 8;
    }
    while (p < end && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80 && *p != '"' && *p != '\\')
        p++;
    return p;
}

/* The string whose opening quote is at ps->p; validated, not decoded. */
static int scan_string(parser_t *ps, span_t *sp)
{
    const char *p = ps->p + 1, *end = ps->end;
    sp->s = p;
    sp->esc = false;
    for (;;) {
        p = skip_plain(p, end);
        if (p >= end)
            return syntax(ps, p, "premature end of input in a string");
        unsigned char c = (unsigned char)*p;
        int rc = LS_OK;
        if (c == '"')
            break;
        if (c == '\\') {
            sp->esc = true;
            rc = scan_escape(ps, &p);
        } else if (c < 0x20) {
            rc = syntax(ps, p, "control character in a string");
        } else {
            rc = scan_utf8(ps, &p);
        }
        if (rc != LS_OK)
            return rc;
    }
    sp->n = (size_t)(p - sp->s);
    ps->p = p + 1;
    return LS_OK;
}

static size_t utf8_put(uint32_t v, char *out)
{
    if (v < 0x80) {
        out[0] = (char)v;
        return 1;
    }
    if (v < 0x800) {
        out[0] = (char)(0xC0 | v >> 6);
        out[1] = (char)(0x80 | (v & 0x3F));
        return 2;
    }
    if (v < 0x10000) {
        out[0] = (char)(0xE0 | v >> 12);
        out[1] = (char)(0x80 | (v >> 6 & 0x3F));
        out[2] = (char)(0x80 | (v & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | v >> 18);
    out[1] = (char)(0x80 | (v >> 12 & 0x3F));
    out[2] = (char)(0x80 | (v >> 6 & 0x3F));
    out[3] = (char)(0x80 | (v & 0x3F));
    return 4;
}

/* Decode a span scan_string() accepted into out (at least sp->n bytes). */
static size_t decode_string(const span_t *sp, char *out)
{
    const char *p = sp->s, *end = sp->s + sp->n;
    size_t n = 0;
    while (p < end) {
        if (*p != '\\') {
            out[n++] = *p++;
            continue;
        }
        char c = p[1];
        uint32_t v = 0, v2 = 0; /* already validated by the scanner; hex4 cannot fail here */
        p += 2;
        switch (c) {
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u':
            hex4(p, end, &v);
            p += 4;
            if (v >= 0xD800 && v <= 0xDBFF) {
                hex4(p + 2, end, &v2);
                p += 6;
                v = ((v - 0xD800) << 10) + (v2 - 0xDC00) + 0x10000;
            }
            n += utf8_put(v, out + n);
            break;
        default: out[n++] = c; break; /* " \ / */
        }
    }
    return n;
}

/* ---- numbers and literals ---------------------------------------------- */

static const double pow10_exact[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* jansson stores integers as int64 (overflow is a parse error) and hands
 * them out as (double)value. */
static int int_value(parser_t *ps, const char *s, const char *digits, const char *end, double *out)
{
    bool neg = *s == '-';
    if (end - digits > 19)
        return syntax(ps, s, "too big integer");
    uint64_t u = 0;
    for (const char *q = digits; q < end; q++)
        u = u * 10 + (uint64_t)(*q - '0');
    if (u > (uint64_t)INT64_MAX + neg)
        return syntax(ps, s, "too big integer");
    int64_t iv = !neg ? (int64_t)u : u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    *out = (double)iv;
    return LS_OK;
}

/* Reals: exact fast path (Clinger) when mantissa and power of ten are both
 * exact doubles, else strtod() like jansson; overflow is a parse error,
 * underflow is not. The token was validated and is followed by a byte
 * inside the buffer, so strtod() stops at its end. strtod() follows
 * LC_NUMERIC (jansson works around it); lmsync never calls setlocale(), and
 * a mismatch would reject the page, never misread a number. */
static int real_value(parser_t *ps, const char *s, const char *tok_end, double *out)
{
    uint64_t m = 0;
    int nd = 0, nfrac = 0, frac = 0;
    long ex = 0;
    bool neg = *s == '-', exneg = false;
    const char *q = s + neg;
    for (; q < tok_end && *q != 'e' && *q != 'E'; q++) {
        if (*q == '.') {
            frac = 1;
            continue;
        }
        m = m * 10 + (uint64_t)(*q - '0');
        nd++;
        nfrac += frac;
    }
    if (q < tok_end) {
        q++;
        exneg = *q == '-';
        q += *q == '-' || *q == '+';
        for (; q < tok_end; q++)
            ex = ex < 100000 ? ex * 10 + (*q - '0') : ex;
    }
    long e10 = (exneg ? -ex : ex) - nfrac;
    if (nd <= 19 && (m == 0 || (m <= (UINT64_C(1) << 53) && e10 >= -22 && e10 <= 22))) {
        double d = (double)m;
        d = m == 0 ? 0.0 : e10 >= 0 ? d * pow10_exact[e10] : d / pow10_exact[-e10];
        *out = neg ? -d : d;
        return LS_OK;
    }
    char *e;
    errno = 0;
    double d = strtod(s, &e);
    if (e != tok_end)
        return syntax(ps, s, "number not convertible (locale?)");
    if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE)
        return syntax(ps, s, "real number overflow");
    *out = d;
    return LS_OK;
}

static bool is_digit(const char *p, const char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* The number at ps->p (RFC 8259 grammar, no leading zeros); *out its value. */
static int scan_number(parser_t *ps, double *out)
{
    const char *s = ps->p, *p = s + (*s == '-'), *end = ps->end, *digits = p;
    bool real = false;
    if (is_digit(p, end) && *p == '0')
        p++;
    else
        while (is_digit(p, end))
            p++;
    if (p == digits || is_digit(p, end))
        return syntax(ps, s, "invalid number");
    if (p < end && *p == '.') {
        const char *f = ++p;
        while (is_digit(p, end))
            p++;
        if (p == f)
            return syntax(ps, s, "invalid number");
        real = true;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        p += p < end && (*p == '+' || *p == '-');
        const char *x = p;
        while (is_digit(p, end))
            p++;
        if (p == x)
            return syntax(ps, s, "invalid number");
        real = true;
    }
    if (p >= end)
        return syntax(ps, p, "premature end of input");
    ps->p = p;
    return real ? real_value(ps, s, p, out) : int_value(ps, s, digits, p, out);
}

static int scan_literal(parser_t *ps, const char *word, size_t n)
{
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return syntax(ps, ps->p, "invalid token");
    ps->p += n;
    return LS_OK;
}

/* ---- generic values ----------------------------------------------------- */

/* A scalar at ps->p (after whitespace); its kind and value in *v. */
static int scan_scalar(parser_t *ps, ls_jval_t *v, span_t *sp)
{
    if (ps->p >= ps->end)
        return syntax(ps, ps->p, "premature end of input");
    switch (*ps->p) {
    case '"':
        v->type = LS_JT_STRING;
        return scan_string(ps, sp);
    case 't':
        v->type = LS_JT_BOOL;
        v->boolean = true;
        return scan_literal(ps, "true", 4);
    case 'f':
        v->type = LS_JT_BOOL;
        v->boolean = false;
        return scan_literal(ps, "false", 5);
    case 'n':
        v->type = LS_JT_NULL;
        return scan_literal(ps, "null", 4);
    default:
        if (*ps->p != '-' && (*ps->p < '0' || *ps->p > '9'))
            return syntax(ps, ps->p, "unexpected character");
        v->type = LS_JT_NUMBER;
        return scan_number(ps, &v->number);
    }
}

/* After an object key's string: whitespace, ':' and whitespace. */
static int scan_colon(parser_t *ps)
{
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != ':')
        return syntax(ps, ps->p, "':' expected");
    ps->p++;
    skip_ws(ps);
    return LS_OK;
}

/* A member key at ps->p: must be a string followed by ':'. */
static int scan_key(parser_t *ps, span_t *key)
{
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != '"')
        return syntax(ps, ps->p, "string or '}' expected");
    int rc = scan_string(ps, key);
    return rc != LS_OK ? rc : scan_colon(ps);
}

/*
 * After a value inside open containers (bit i of objs: level i is an
 * object): consume ',' or closing brackets. Returns 1 when a value follows,
 * 2 when a key follows, 0 when every container opened by skip_value() is
 * closed, or LS_EINVAL.
 */
static int after_value(parser_t *ps, uint8_t *objs, int *top)
{
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end)
            return syntax(ps, ps->p, "premature end of input");
        bool obj = objs[(*top - 1) / 8] >> ((*top - 1) % 8) & 1;
        char c = *ps->p++;
        if (c == ',')
            return obj ? 2 : 1;
        if (c != (obj ? '}' : ']'))
            return syntax(ps, ps->p - 1, obj ? "',' or '}' expected" : "',' or ']' expected");
        if (--*top == 0)
            return 0;
    }
}

/* Open a container at ps->p; returns 0 if it was empty ("[]", "{}"), 1 when
 * a value follows, 2 when a key follows. */
static int open_container(parser_t *ps, uint8_t *objs, int top)
{
    bool obj = *ps->p == '{';
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == (obj ? '}' : ']')) {
        ps->p++;
        return 0;
    }
    objs[top / 8] = (uint8_t)((objs[top / 8] & ~(1u << top % 8)) | (unsigned)obj << top % 8);
    return obj ? 2 : 1;
}

/* Validate and skip any value at ps->p whose nesting depth is depth.
 * Iterative (a bit per open level) so hostile nesting costs no stack. */
static int skip_value(parser_t *ps, int depth)
{
    uint8_t objs[LS_PAGE_MAX_DEPTH / 8 + 1];
    int top = 0, next = 1;
    span_t sp;
    ls_jval_t v;
    while (next > 0) {
        if (next == 2 && scan_key(ps, &sp) != LS_OK)
            return LS_EINVAL;
        skip_ws(ps);
        if (depth + top > LS_PAGE_MAX_DEPTH)
            return syntax(ps, ps->p, "maximum parsing depth reached");
        if (ps->p < ps->end && (*ps->p == '[' || *ps->p == '{')) {
            next = open_container(ps, objs, top);
            if (next > 0) {
                top++;
                continue;
            }
        } else if (scan_scalar(ps, &v, &sp) != LS_OK) {
            return LS_EINVAL;
        }
        next = top == 0 ? 0 : after_value(ps, objs, &top);
        if (next < 0)
            return LS_EINVAL;
    }
    return LS_OK;
}

/* ---- records ------------------------------------------------------------ */

static bool key_is(const ls_field_desc_t *d, const char *s, size_t n)
{
    return d->name_len == n && d->name[0] == s[0] && memcmp(d->name, s, n) == 0;
}

/* Slot of a member key, or -1 for an untracked key. */
static int key_slot(const span_t *key)
{
    char buf[KEY_RAW_MAX];
    const char *s = key->s;
    size_t n = key->n;
    if (key->esc) {
        if (n > sizeof(buf))
            return -1;
        n = decode_string(key, buf);
        s = buf;
    }
    if (key_is(&ls_schema_id, s, n))
        return 0;
    for (int f = 0; f < LS_F__COUNT; f++)
        if (key_is(&ls_schema_fields[f], s, n))
            return 1 + f;
    return -1;
}

/* A tracked member's value at ps->p (depth 3): the last one wins. */
static int read_slot(parser_t *ps, record_t *r, int k)
{
    r->seen |= 1u << k;
    if (ps->p < ps->end && (*ps->p == '{' || *ps->p == '[')) {
        r->val[k].type = *ps->p == '{' ? LS_JT_OBJECT : LS_JT_ARRAY;
        return skip_value(ps, 3);
    }
    return scan_scalar(ps, &r->val[k], &r->str[k]);
}

/* The members of the object at ps->p (an array element) into *r. */
static int scan_record(parser_t *ps, record_t *r)
{
    span_t key;
    r->seen = 0;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return LS_OK;
    }
    for (;;) {
        if (scan_key(ps, &key) != LS_OK)
            return LS_EINVAL;
        int k = key_slot(&key);
        if ((k < 0 ? skip_value(ps, 3) : read_slot(ps, r, k)) != LS_OK)
            return LS_EINVAL;
        skip_ws(ps);
        if (ps->p >= ps->end)
            return syntax(ps, ps->p, "premature end of input");
        char c = *ps->p++;
        if (c == '}')
            return LS_OK;
        if (c != ',')
            return syntax(ps, ps->p - 1, "',' or '}' expected");
    }
}

static int grow(void **p, size_t *cap, size_t need, size_t elem, size_t first)
{
    if (need <= *cap)
        return LS_OK;
    size_t n = *cap ? *cap : first;
    while (n < need)
        n *= 2;
    void *np = realloc(*p, n * elem);
    if (np == NULL)
        return LS_ENOMEM;
    *p = np;
    *cap = n;
    return LS_OK;
}

/* Point every tracked string at its decoded bytes: in the body when it has
 * no escapes, else in pg->scratch (decoding never lengthens a string). */
static int decode_slots(ls_page_t *pg, record_t *r)
{
    size_t need = 0, off = 0;
    for (int k = 0; k < N_SLOTS; k++)
        if ((r->seen >> k & 1) && r->val[k].type == LS_JT_STRING && r->str[k].esc)
            need += r->str[k].n;
    if (need > 0 && grow((void **)&pg->scratch, &pg->scratch_cap, need, 1, 4096) != LS_OK)
        return LS_ENOMEM;
    for (int k = 0; k < N_SLOTS; k++) {
        if (!(r->seen >> k & 1) || r->val[k].type != LS_JT_STRING)
            continue;
        if (!r->str[k].esc) {
            r->val[k].str = r->str[k].s;
            r->val[k].len = r->str[k].n;
            continue;
        }
        r->val[k].str = pg->scratch + off;
        r->val[k].len = decode_string(&r->str[k], pg->scratch + off);
        off += r->val[k].len;
    }
    return LS_OK;
}

/* Normalize one scanned element into the next result slot. */
static int emit(ls_page_t *pg, record_t *r, bool is_object)
{
    if (grow((void **)&pg->recs, &pg->cap, pg->n + 1, sizeof(*pg->recs), 64) != LS_OK)
        return LS_ENOMEM;
    ls_page_rec_t *out = &pg->recs[pg->n++];
    ls_activity_src_t src = {.is_object = is_object};
    if (is_object) {
        if (decode_slots(pg, r) != LS_OK)
            return LS_ENOMEM;
        src.id = r->seen & 1 ? &r->val[0] : NULL;
        for (int f = 0; f < LS_F__COUNT; f++)
            src.field[f] = r->seen >> (1 + f) & 1 ? &r->val[1 + f] : NULL;
    }
    out->why[0] = '\0';
    out->raw_id[0] = '\0';
    out->rc = ls_activity_from_src(&src, &out->act, out->why, sizeof(out->why));
    const ls_jval_t *id = src.id;
    if (out->rc != LS_OK && id != NULL && id->type == LS_JT_STRING && id->len > 0 &&
        id->len <= LS_STR_MAX && memchr(id->str, '\0', id->len) == NULL) {
        memcpy(out->raw_id, id->str, id->len);
        out->raw_id[id->len] = '\0';
    }
    return LS_OK;
}

/* One array element at ps->p (depth 2). */
static int parse_element(parser_t *ps, ls_page_t *pg, record_t *r)
{
    if (ps->p < ps->end && *ps->p == '{') {
        if (scan_record(ps, r) != LS_OK)
            return LS_EINVAL;
        return emit(pg, r, true);
    }
    if (skip_value(ps, 2) != LS_OK)
        return LS_EINVAL;
    return emit(pg, r, false);
}

/* The elements of the page array; ps->p just after '['. */
static int parse_elements(parser_t *ps, ls_page_t *pg)
{
    record_t r;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return LS_OK;
    }
    for (;;) {
        int rc = parse_element(ps, pg, &r);
        if (rc != LS_OK)
            return rc;
        skip_ws(ps);
        if (ps->p >= ps->end)
            return syntax(ps, ps->p, "premature end of input");
        char c = *ps->p++;
        if (c == ']')
            return LS_OK;
        if (c != ',')
            return syntax(ps, ps->p - 1, "',' or ']' expected");
        skip_ws(ps);
    }
}

/* A body that does not start with '[': say whether it is JSON at all. */
static int not_array(parser_t *ps)
{
    const char *what = *ps->p == '{' ? "object" : "a scalar";
    if (skip_value(ps, 1) != LS_OK)
        return LS_EINVAL;
    skip_ws(ps);
    if (ps->p < ps->end)
        return syntax(ps, ps->p, "end of input expected");
    if (ps->err != NULL && ps->errsz > 0)
        snprintf(ps->err, ps->errsz, "not a JSON array: got %s", what);
    return LS_EINVAL;
}

void ls_page_init(ls_page_t *pg)
{
    memset(pg, 0, sizeof(*pg));
}

void ls_page_release(ls_page_t *pg)
{
    free(pg->recs);
    free(pg->scratch);
    ls_page_init(pg);
}

int ls_page_parse(ls_page_t *pg, const char *buf, size_t len, char *err, size_t errsz)
{
    parser_t ps = {.buf = buf, .p = buf, .end = buf + len, .err = err, .errsz = errsz};
    pg->n = 0;
    skip_ws(&ps);
    if (ps.p >= ps.end)
        return syntax(&ps, ps.p, "empty body");
    int rc;
    if (*ps.p != '[') {
        rc = not_array(&ps);
    } else {
        ps.p++;
        rc = parse_elements(&ps, pg);
        skip_ws(&ps);
        if (rc == LS_OK && ps.p < ps.end)
            rc = syntax(&ps, ps.p, "end of input expected");
    }
    if (rc == LS_ENOMEM && err != NULL && errsz > 0)
        snprintf(err, errsz, "out of memory");
    if (rc != LS_OK)
        pg->n = 0;
    return rc;
}
