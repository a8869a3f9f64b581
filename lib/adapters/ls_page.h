/*
 * ls_page.h - one upstream Activity page, straight from response bytes to
 * ls_activity_t records.
 *
 * Replaces json_loadb() + ls_activity_from_json() per element with a single
 * pass that builds no tree and, once its arrays have grown to the page size,
 * allocates nothing. The outcome is the same as the jansson path, byte for
 * byte: the same bodies are rejected (RFC 8259 as jansson 2.14 reads it with
 * flags 0: strict UTF-8, no \u0000, no lone surrogates, integers must fit
 * int64, reals must not overflow, nesting depth <= 2048, last duplicate key
 * wins) plus one more kind, a raw NUL byte right after a number or literal,
 * which jansson skips (ls_page.c); and every element gets the same record or
 * the same reject reason, because the field checks are
 * ls_activity_from_src(), which ls_activity_from_json() also uses.
 *
 * Typical use, replacing `arr = json_loadb(...); for each element ...`:
 *
 *     ls_page_t pg;                      // once per worker, reused per page
 *     ls_page_init(&pg);
 *     if (ls_page_parse(&pg, body, len, err, sizeof(err)) != LS_OK)
 *         ... discard the page (err says why) ...
 *     for (size_t i = 0; i < pg.n; i++) {
 *         const ls_page_rec_t *r = &pg.recs[i];
 *         if (r->rc != LS_OK) { log r->why; if (r->raw_id[0]) count r->raw_id as seen; }
 *         else use r->act;
 *     }
 *     ls_page_release(&pg);
 */
#ifndef LS_PAGE_H
#define LS_PAGE_H

#include "ls_activity.h"

#include <stddef.h>

/* Size of a reject reason buffer (the worker's `char why[256]`). */
#define LS_PAGE_WHY_MAX 256

/* jansson 2.14's JSON_PARSER_MAX_DEPTH: every value counts, the page array is 1. */
#define LS_PAGE_MAX_DEPTH 2048

/** The outcome for one element of the page array, in array order. */
typedef struct ls_page_rec {
    int rc;                          /* LS_OK: act is the record; LS_EINVAL: rejected */
    ls_activity_t act;               /* cleared when rejected (as ls_activity_from_json) */
    char why[LS_PAGE_WHY_MAX];       /* rejected: ls_activity_from_json's reason; else "" */
    /* Rejected only: the element's "id" (the last one) when it is a string of
     * 1..LS_STR_MAX bytes, so the caller can still count the activity as
     * seen; "" otherwise (and always "" for accepted records: use act.id). */
    char raw_id[LS_STR_MAX + 1];
} ls_page_rec_t;

/** A parsed page. Embedded, caller-owned; reuse it for every page. */
typedef struct ls_page {
    ls_page_rec_t *recs;   /* n results, owned by the page, valid until the next parse/release */
    size_t n;
    size_t cap;            /* internal */
    char *scratch;         /* internal: decoded escaped strings of one element */
    size_t scratch_cap;
} ls_page_t;

/** An empty page; allocates nothing. */
void ls_page_init(ls_page_t *pg);

/** Free the page's arrays; pg is empty (and reusable) afterwards. */
void ls_page_release(ls_page_t *pg);

/**
 * Parse a response body (buf, len; need not be NUL-terminated; borrowed, not
 * retained) that should be one JSON array of Activity objects.
 * Grows pg->recs / pg->scratch when this page needs more than any page
 * before it; otherwise allocates nothing.
 * @return 0 with pg->n results (0 for "[]"); LS_EINVAL when the body is not
 *         valid JSON ("invalid JSON at byte N: ...") or not an array ("not a
 *         JSON array: got object") - the bodies json_loadb() +
 *         json_is_array() reject, and a raw NUL after a number or literal
 *         that jansson skips - with pg->n = 0; LS_ENOMEM with pg->n = 0.
 *         err (may be NULL / errsz 0) gets the page-level reason.
 */
int ls_page_parse(ls_page_t *pg, const char *buf, size_t len, char *err, size_t errsz);

#endif
