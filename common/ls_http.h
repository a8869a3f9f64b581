/*
 * ls_http.h - HTTP GET against the Unified API (or the sandbox), via libcurl.
 *
 * One ls_http_t per worker process (created after fork), reused for every
 * request so connections are kept alive. The API token is sent as
 * "authorization: Bearer <token>" and is never logged. Status codes are
 * classified once, here:
 *   2xx -> 0; 401/403 -> LS_EPERM; 404 -> LS_ENOTFOUND;
 *   429, 5xx, timeouts, resets, truncated bodies -> LS_ETRANSIENT;
 *   other 4xx -> LS_EINVAL.
 * CURLcode never leaves this module.
 */
#ifndef LS_HTTP_H
#define LS_HTTP_H

#include <stddef.h>
#include <stdint.h>

typedef struct ls_http ls_http_t;

typedef struct ls_http_resp {
    long status;          /* HTTP status, 0 when no response arrived */
    const char *body;     /* borrowed: valid until the next ls_http_get on the same handle */
    size_t len;
    int64_t retry_after_ms; /* from retry-after-ms or Retry-After; -1 when absent */
} ls_http_resp_t;

/** token is copied; NULL/empty sends no authorization header. */
ls_http_t *ls_http_new(const char *token, int timeout_s, char *errstr, size_t errstr_size);
void ls_http_destroy(ls_http_t *h);

/**
 * GET url. On any return, *resp describes what arrived. err receives a
 * one-line reason on failure ("http 503 from /lms/conn-1/activity",
 * "transfer failed: Transferred a partial file").
 */
int ls_http_get(ls_http_t *h, const char *url, ls_http_resp_t *resp, char *err, size_t errsz);

/** Total requests and body bytes received by this handle. */
void ls_http_stats(const ls_http_t *h, uint64_t *requests, uint64_t *bytes);

/** URL-escape s into buf (RFC 3986 unreserved kept). Returns LS_EFULL if it does not fit. */
int ls_http_escape(const char *s, char *buf, size_t bufsz);

#endif
