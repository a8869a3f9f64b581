/*
 * wh_sig.h - the signature of a Unified webhook delivery:
 * sig = HMAC-SHA1(workspace secret, data + nonce), where data is the text of
 * the body's "data" member exactly as it was sent (what JSON.stringify(data)
 * gives a JavaScript sender) and the digest is written in base64 or hex
 * (webhook.sig_encoding; docs/webhooks.md says why both exist).
 */
#ifndef WH_SIG_H
#define WH_SIG_H

#include <stddef.h>
#include <stdint.h>

typedef enum { WH_SIG_BASE64, WH_SIG_HEX } wh_sig_enc_t;

#define WH_SIG_MAX 64 /* longest digest text (hex of SHA-1 is 40), NUL included */

/** "base64" or "hex". @return 0, or -1 for anything else. */
int wh_sig_parse_encoding(const char *s, wh_sig_enc_t *out);

/**
 * The raw text of member `key` of the top-level object of body (len bytes),
 * which must already have parsed as one JSON object without duplicate keys.
 * @return 0 with *off / *vlen (the value's span in body), or -1 when absent.
 */
int wh_raw_member(const char *body, size_t len, const char *key, size_t *off, size_t *vlen);

/** The signature text of data (dlen bytes) + nonce into out (WH_SIG_MAX). @return 0, or -1 (libcrypto failed). */
int wh_sig_compute(const uint8_t *secret, size_t slen, const char *data, size_t dlen, const char *nonce,
                   wh_sig_enc_t enc, char out[WH_SIG_MAX]);

/** 1 when sig is the signature of data + nonce; compared in constant time. */
int wh_sig_verify(const uint8_t *secret, size_t slen, const char *data, size_t dlen, const char *nonce,
                  wh_sig_enc_t enc, const char *sig);

#endif
