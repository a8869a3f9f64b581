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
#include "ls_schema.h"
#include "ls_utf8.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define HDR_LEN 5
#define HDR_FLAGS 4

typedef struct {
    uint8_t *p;
    size_t cap, len;
    int rc;
} wbuf_t;

typedef struct {
    const uint8_t *p;
    size_t len, pos;
} rbuf_t;

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

/* Strings come from JSON, so anything but NUL-free UTF-8 is corruption
 * (strnlen() leaves no NUL inside the n bytes). */
static int put_field(wbuf_t *w, const ls_activity_t *a, ls_field_t f)
{
    const ls_field_desc_t *d = &ls_schema_fields[f];
    switch (d->pack) {
    case LS_PACK_STR8: {
        const char *s = LS_FIELD_CPTR(a, f, char);
        size_t n = strnlen(s, (size_t)d->max_len + 1);
        if (n > d->max_len || n > UINT8_MAX || !ls_utf8_valid(s, n))
            return LS_EINVAL;
        uint8_t n8 = (uint8_t)n;
        put(w, &n8, 1);
        put(w, s, n);
        return LS_OK;
    }
    case LS_PACK_FLAG:
        return LS_OK; /* value lives in the flags byte */
    case LS_PACK_F64LE:
        if (!isfinite(*LS_FIELD_CPTR(a, f, double)))
            return LS_EINVAL;
        put_double(w, *LS_FIELD_CPTR(a, f, double));
        return LS_OK;
    case LS_PACK_ZIGZAG:
        put_varint(w, *LS_FIELD_CPTR(a, f, int64_t));
        return LS_OK;
    }
    return LS_EINVAL;
}

int ls_state_pack(const ls_activity_t *a, uint8_t *buf, size_t cap, size_t *len)
{
    uint8_t hdr[HDR_LEN] = {LS_STATE_VERSION, 0, 0, 0, 0};
    for (int f = 0; f < LS_F__COUNT; f++) {
        const ls_field_desc_t *d = &ls_schema_fields[f];
        if (a->pres[f] > LS_PRESENT)
            return LS_EINVAL;
        hdr[1 + f / 4] |= (uint8_t)(a->pres[f] << (2 * (f % 4)));
        if (d->pack == LS_PACK_FLAG && a->pres[f] == LS_PRESENT && *LS_FIELD_CPTR(a, f, bool))
            hdr[HDR_FLAGS] |= d->flag;
    }
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

static bool get_string(rbuf_t *r, char *dst, size_t max_len)
{
    uint8_t n;
    if (!get(r, &n, 1) || n > max_len || !get(r, dst, n))
        return false;
    dst[n] = '\0';
    return memchr(dst, '\0', n) == NULL && ls_utf8_valid(dst, n);
}

static bool get_field(rbuf_t *r, ls_activity_t *a, ls_field_t f)
{
    switch (ls_schema_fields[f].pack) {
    case LS_PACK_STR8: return get_string(r, LS_FIELD_PTR(a, f, char), ls_schema_fields[f].max_len);
    case LS_PACK_FLAG: return true;
    case LS_PACK_F64LE: return get_double(r, LS_FIELD_PTR(a, f, double));
    case LS_PACK_ZIGZAG: return get_varint(r, LS_FIELD_PTR(a, f, int64_t));
    }
    return false;
}

/* Version, presence bits and flags; false for anything pack would not write. */
static bool get_header(rbuf_t *r, ls_activity_t *a)
{
    uint8_t hdr[HDR_LEN];
    if (!get(r, hdr, HDR_LEN) || hdr[0] != LS_STATE_VERSION)
        return false;
    for (int b = LS_F__COUNT; b < LS_SCHEMA_PRES_SLOTS; b++)
        if ((hdr[1 + b / 4] >> (2 * (b % 4))) & 3)
            return false;                 /* unused presence slots */
    if (hdr[HDR_FLAGS] & ~ls_schema_index()->flags_mask)
        return false;
    for (int f = 0; f < LS_F__COUNT; f++) {
        const ls_field_desc_t *d = &ls_schema_fields[f];
        uint8_t p = (hdr[1 + f / 4] >> (2 * (f % 4))) & 3;
        if (p > LS_PRESENT)
            return false;
        a->pres[f] = p;
        if (d->pack != LS_PACK_FLAG)
            continue;
        bool set = (hdr[HDR_FLAGS] & d->flag) != 0;
        if (set && p != LS_PRESENT)
            return false;                 /* a flag only for a present field */
        *LS_FIELD_PTR(a, (ls_field_t)f, bool) = set;
    }
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
