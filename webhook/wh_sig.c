/*
 * wh_sig.c - HMAC-SHA1 signatures of webhook deliveries (OpenSSL libcrypto),
 * and the raw span of a body member they are computed over.
 *
 * The span is taken from the bytes received, not from a re-serialization:
 * a JSON library writes numbers, escapes and spacing its own way, so only
 * the sender's own text reproduces the sender's digest.
 */
#include "wh_sig.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int wh_sig_parse_encoding(const char *s, wh_sig_enc_t *out)
{
    if (strcmp(s, "base64") == 0)
        *out = WH_SIG_BASE64;
    else if (strcmp(s, "hex") == 0)
        *out = WH_SIG_HEX;
    else
        return -1;
    return 0;
}

/* ---- spans in a body that already parsed (so every token is well formed) ---- */

static size_t skip_ws(const char *b, size_t i, size_t n)
{
    while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
        i++;
    return i;
}

/* b[i] is the opening quote: the index after the closing one. */
static size_t skip_string(const char *b, size_t i, size_t n)
{
    for (i++; i < n && b[i] != '"'; i++)
        if (b[i] == '\\')
            i++;
    return i + 1;
}

static size_t skip_value(const char *b, size_t i, size_t n)
{
    if (i < n && b[i] == '"')
        return skip_string(b, i, n);
    if (i < n && (b[i] == '{' || b[i] == '[')) {
        int depth = 0;
        while (i < n) {
            if (b[i] == '"') {
                i = skip_string(b, i, n);
                continue;
            }
            depth += (b[i] == '{' || b[i] == '[') - (b[i] == '}' || b[i] == ']');
            i++;
            if (depth == 0)
                break;
        }
        return i;
    }
    while (i < n && !strchr(",}] \t\r\n", b[i]))
        i++;
    return i;
}

/* Whether the quoted key text q (qlen bytes, quotes included) names key; escapes are decoded. */
static int key_is(const char *q, size_t qlen, const char *key, size_t klen)
{
    if (!memchr(q, '\\', qlen))
        return qlen - 2 == klen && memcmp(q + 1, key, klen) == 0;
    json_t *k = json_loadb(q, qlen, JSON_DECODE_ANY, NULL);
    int eq = json_is_string(k) && json_string_length(k) == klen && memcmp(json_string_value(k), key, klen) == 0;
    json_decref(k);
    return eq;
}

int wh_raw_member(const char *body, size_t len, const char *key, size_t *off, size_t *vlen)
{
    size_t klen = strlen(key), i = skip_ws(body, 0, len);
    if (i >= len || body[i] != '{')
        return -1;
    for (i++;;) {
        i = skip_ws(body, i, len);
        if (i >= len || body[i] != '"')
            return -1;
        size_t ks = i + 1, ke = skip_string(body, i, len) - 1;
        i = skip_ws(body, ke + 1, len);
        if (i >= len || body[i] != ':')
            return -1;
        size_t vs = skip_ws(body, i + 1, len);
        i = skip_value(body, vs, len);
        if (key_is(body + ks - 1, ke - ks + 2, key, klen)) {
            *off = vs;
            *vlen = i - vs;
            return 0;
        }
        i = skip_ws(body, i, len);
        if (i >= len || body[i] != ',')
            return -1;
        i++;
    }
}

/* ---- HMAC ---- */

int wh_sig_compute(const uint8_t *secret, size_t slen, const char *data, size_t dlen, const char *nonce,
                   wh_sig_enc_t enc, char out[WH_SIG_MAX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t mdlen = 0, nlen = strlen(nonce);
    unsigned char *msg = malloc(dlen + nlen + 1);
    if (!msg)
        return -1;
    memcpy(msg, data, dlen);
    memcpy(msg + dlen, nonce, nlen);
    int ok = EVP_Q_mac(NULL, "HMAC", NULL, "SHA1", NULL, secret, slen, msg, dlen + nlen, md, sizeof(md), &mdlen) != NULL;
    free(msg);
    if (!ok || mdlen == 0 || mdlen * 2 >= WH_SIG_MAX)
        return -1;
    if (enc == WH_SIG_HEX) {
        for (size_t k = 0; k < mdlen; k++)
            snprintf(out + 2 * k, 3, "%02x", md[k]);
    } else {
        EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
    }
    return 0;
}

int wh_sig_verify(const uint8_t *secret, size_t slen, const char *data, size_t dlen, const char *nonce,
                  wh_sig_enc_t enc, const char *sig)
{
    char want[WH_SIG_MAX];
    if (wh_sig_compute(secret, slen, data, dlen, nonce, enc, want) != 0)
        return 0;
    size_t n = strlen(want);
    /* the length of the expected text is public (fixed per encoding); the bytes are compared in constant time */
    int eq = strlen(sig) == n && CRYPTO_memcmp(want, sig, n) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    return eq;
}
