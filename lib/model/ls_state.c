/*
 * ls_state.c - canonical packed encoding of an activity's tracked fields.
 *
 * The bytes are hashed into event ids and compared across processes, so the
 * encoding must be canonical in both directions: pack writes one form only
 * (+0.0 for -0.0, zero padding bits, the is_completed flag only when the
 * field is present, shortest varints), and unpack rejects every other form.
 * Hence unpack(x) succeeding implies pack(unpack(x)) == x. Unpack reads data
 * from LMDB and from a Kafka changelog, so every read is bounds-checked and
 * nothing about the input is assumed.
 */
#include "ls_state.h"
#include "ls_err.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define FLAG_COMPLETED 0x01
#define HDR_LEN 5

typedef enum { K_STR, K_BOOL, K_NUM, K_TIME } kind_t;

typedef struct {
    kind_t kind;
    size_t off;
} slot_t;

#define SLOT(k, member) {k, offsetof(ls_activity_t, member)}
static const slot_t slots[LS_F__COUNT] = {
    [LS_F_COURSE_ID] = SLOT(K_STR, course_id),
    [LS_F_STUDENT_ID] = SLOT(K_STR, student_id),
    [LS_F_CONTENT_ID] = SLOT(K_STR, content_id),
    [LS_F_IS_COMPLETED] = SLOT(K_BOOL, is_completed),
    [LS_F_PROGRESS] = SLOT(K_NUM, progress_percentage),
    [LS_F_DURATION] = SLOT(K_NUM, duration_minutes),
    [LS_F_ASSIGNED_GRADE] = SLOT(K_STR, assigned_grade),
    [LS_F_STARTED_AT] = SLOT(K_TIME, started_at),
    [LS_F_COMPLETED_AT] = SLOT(K_TIME, completed_at),
    [LS_F_CREATED_AT] = SLOT(K_TIME, created_at),
    [LS_F_UPDATED_AT] = SLOT(K_TIME, updated_at),
};

#define CSLOT(a, f, type) ((const type *)((const char *)(a) + slots[f].off))
#define WSLOT(a, f, type) ((type *)((char *)(a) + slots[f].off))

typedef struct {
    uint8_t *p;
    size_t cap, len;
    int rc;
} wbuf_t;

typedef struct {
    const uint8_t *p;
    size_t len, pos;
} rbuf_t;

/* Strings come from JSON, so anything but NUL-free UTF-8 (no overlongs,
 * surrogates or code points above U+10FFFF) is corruption. */
static bool valid_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k = c < 0x80 ? 0 : c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2
                 : c >= 0xF0 && c <= 0xF4 ? 3 : 4;
        if (c == 0 || k == 4 || n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
        uint8_t c1 = k > 0 ? s[i + 1] : 0;
        if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) ||
            (c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F))
            return false;
        i += k + 1;
    }
    return true;
}

/* ---- writing ---- */

static void put(wbuf_t *w, const void *src, size_t n)
{
    if (w->rc != LS_OK)
        return;
    if (w->cap - w->len < n) {
        w->rc = LS_EFULL;
        return;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void put_double(wbuf_t *w, double d)
{
    uint64_t u;
    uint8_t b[8];
    if (d == 0.0)
        d = 0.0; /* canonical +0 */
    memcpy(&u, &d, sizeof(u));
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(u >> (8 * i));
    put(w, b, 8);
}

static void put_varint(wbuf_t *w, int64_t v)
{
    uint64_t u = v < 0 ? ~((uint64_t)v << 1) : (uint64_t)v << 1; /* zig-zag */
    uint8_t b[10];
    size_t n = 0;
    do {
        b[n] = (uint8_t)(u & 0x7f);
        u >>= 7;
        if (u != 0)
            b[n] |= 0x80;
        n++;
    } while (u != 0);
    put(w, b, n);
}

static int put_field(wbuf_t *w, const ls_activity_t *a, ls_field_t f)
{
    switch (slots[f].kind) {
    case K_STR: {
        const char *s = CSLOT(a, f, char);
        size_t n = strnlen(s, LS_STR_MAX + 1);
        if (n > LS_STR_MAX || !valid_utf8((const uint8_t *)s, n))
            return LS_EINVAL;
        uint8_t n8 = (uint8_t)n;
        put(w, &n8, 1);
        put(w, s, n);
        return LS_OK;
    }
    case K_BOOL:
        return LS_OK; /* value lives in the flags byte */
    case K_NUM:
        if (!isfinite(*CSLOT(a, f, double)))
            return LS_EINVAL;
        put_double(w, *CSLOT(a, f, double));
        return LS_OK;
    case K_TIME:
        put_varint(w, *CSLOT(a, f, int64_t));
        return LS_OK;
    }
    return LS_EINVAL;
}

int ls_state_pack(const ls_activity_t *a, uint8_t *buf, size_t cap, size_t *len)
{
    uint8_t hdr[HDR_LEN] = {LS_STATE_VERSION, 0, 0, 0, 0};
    for (int f = 0; f < LS_F__COUNT; f++) {
        if (a->pres[f] > LS_PRESENT)
            return LS_EINVAL;
        hdr[1 + f / 4] |= (uint8_t)(a->pres[f] << (2 * (f % 4)));
    }
    if (a->pres[LS_F_IS_COMPLETED] == LS_PRESENT && a->is_completed)
        hdr[4] |= FLAG_COMPLETED;
    wbuf_t w = {buf, cap, 0, LS_OK};
    put(&w, hdr, HDR_LEN);
    for (int f = 0; f < LS_F__COUNT && w.rc == LS_OK; f++) {
        if (a->pres[f] != LS_PRESENT)
            continue;
        int rc = put_field(&w, a, (ls_field_t)f);
        if (rc != LS_OK)
            return rc;
    }
    if (w.rc == LS_OK)
        *len = w.len;
    return w.rc;
}

/* ---- reading: every helper returns false on truncated or non-canonical input ---- */

static bool get(rbuf_t *r, void *dst, size_t n)
{
    if (r->len - r->pos < n)
        return false;
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
    return true;
}

static bool get_double(rbuf_t *r, double *out)
{
    uint8_t b[8];
    uint64_t u = 0;
    if (!get(r, b, 8))
        return false;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)b[i] << (8 * i);
    memcpy(out, &u, sizeof(*out));
    /* pack never writes -0.0 or a non-finite value */
    return isfinite(*out) && u != UINT64_C(0x8000000000000000);
}

static bool get_varint(rbuf_t *r, int64_t *out)
{
    uint64_t u = 0;
    for (int i = 0; i < 10; i++) {
        uint8_t b;
        if (!get(r, &b, 1))
            return false;
        if (i == 9 && b > 1)
            return false;                 /* more than 64 bits */
        u |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (b == 0 && i > 0)
                return false;             /* over-long encoding */
            *out = (u & 1) ? -(int64_t)(u >> 1) - 1 : (int64_t)(u >> 1);
            return true;
        }
    }
    return false;
}

static bool get_string(rbuf_t *r, char *dst)
{
    uint8_t n;
    if (!get(r, &n, 1) || !get(r, dst, n))
        return false;
    dst[n] = '\0';
    return valid_utf8((const uint8_t *)dst, n);
}

static bool get_field(rbuf_t *r, ls_activity_t *a, ls_field_t f)
{
    switch (slots[f].kind) {
    case K_STR: return get_string(r, WSLOT(a, f, char));
    case K_BOOL: return true;
    case K_NUM: return get_double(r, WSLOT(a, f, double));
    case K_TIME: return get_varint(r, WSLOT(a, f, int64_t));
    }
    return false;
}

/* Version, presence bits and flags; false for anything pack would not write. */
static bool get_header(rbuf_t *r, ls_activity_t *a)
{
    uint8_t hdr[HDR_LEN];
    if (!get(r, hdr, HDR_LEN) || hdr[0] != LS_STATE_VERSION)
        return false;
    for (int f = 0; f < LS_F__COUNT; f++) {
        uint8_t p = (hdr[1 + f / 4] >> (2 * (f % 4))) & 3;
        if (p > LS_PRESENT)
            return false;
        a->pres[f] = p;
    }
    for (int b = LS_F__COUNT; b < 12; b++)
        if ((hdr[1 + b / 4] >> (2 * (b % 4))) & 3)
            return false;                 /* unused presence slots */
    if (hdr[4] & ~FLAG_COMPLETED)
        return false;
    if ((hdr[4] & FLAG_COMPLETED) && a->pres[LS_F_IS_COMPLETED] != LS_PRESENT)
        return false;
    a->is_completed = (hdr[4] & FLAG_COMPLETED) != 0;
    return true;
}

int ls_state_unpack(const uint8_t *buf, size_t len, ls_activity_t *out)
{
    rbuf_t r = {buf, len, 0};
    ls_activity_clear(out);
    bool ok = buf != NULL && get_header(&r, out);
    for (int f = 0; ok && f < LS_F__COUNT; f++)
        if (out->pres[f] == LS_PRESENT)
            ok = get_field(&r, out, (ls_field_t)f);
    if (ok && r.pos == len)
        return LS_OK;
    ls_activity_clear(out);
    return LS_EINVAL;
}
