/*
 * fuzz_tail.c - lmsync-tail's rendering of one Kafka message (tail_fmt_json,
 * tail_fmt_line) on arbitrary key, value and header bytes.
 *
 * Input layout: byte 0 = flags (bit0 tombstone, bit1 no key, bits 2-3 header
 * count); then key, header names and values, value, each preceded by one
 * length byte and cut at the end of the input. The JSON rendering must be
 * one valid JSON object, the line rendering one line.
 */
#include "fuzz.h"
#include "tail_fmt.h"

#include <jansson.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    return 0;
}

/* Next length-prefixed slice of *p..end. */
static const uint8_t *slice(const uint8_t **p, const uint8_t *end, size_t *len)
{
    size_t n = *p < end ? *(*p)++ : 0;
    if (n > (size_t)(end - *p))
        n = (size_t)(end - *p);
    const uint8_t *s = *p;
    *p += n;
    *len = n;
    return s;
}

static void check(const tail_msg_t *m)
{
    char *js = tail_fmt_json(m);
    if (js) {
        json_t *o = json_loads(js, JSON_ALLOW_NUL, NULL);
        FUZZ_CHECK(json_is_object(o), "tail_fmt_json wrote no JSON object");
        json_decref(o);
    }
    char *line = tail_fmt_line(m);
    if (line)
        FUZZ_CHECK(strchr(line, '\n') == NULL, "tail_fmt_line wrote more than one line");
    free(js);
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t *p = data + 1, *end = data + size;
    unsigned flags = data[0];
    tail_header_t hdr[3];
    char names[3][256];
    size_t key_len, value_len, n_hdr = (flags >> 2) & 3;
    const uint8_t *key = slice(&p, end, &key_len);
    if (n_hdr > 3)
        n_hdr = 3;
    for (size_t i = 0; i < n_hdr; i++) {
        size_t nl, vl;
        const uint8_t *nm = slice(&p, end, &nl);
        memcpy(names[i], nm, nl);
        names[i][nl] = '\0';
        hdr[i].name = names[i];
        hdr[i].value = slice(&p, end, &vl);
        hdr[i].len = vl;
        if (vl == 0 && (flags & 0x10))
            hdr[i].value = NULL;
    }
    const uint8_t *value = slice(&p, end, &value_len);
    if (p < end) { /* the rest of the input extends the value */
        value_len = (size_t)(end - value);
    }
    tail_msg_t m = {
        .topic = "lmsync.activity.changes", .partition = 3, .offset = 42, .timestamp_ms = 1764252588000,
        .key = (flags & 2) ? NULL : key, .key_len = key_len,
        .value = (flags & 1) ? NULL : value, .value_len = value_len,
        .headers = hdr, .header_cnt = n_hdr,
    };
    check(&m);
    return 0;
}
