/*
 * ls_http.h - HTTP GET against the Unified API (or the sandbox), via libcurl.
 *
 * One ls_http_t per worker process (created after fork), reused for every
 * request so connections are kept alive. The API token is sent as
 * "authorization: Bearer <token>" and is never logged. Status codes are
 * classified once, here:
 *   2xx -> 0; 401/403 -> LS_EPERM; 404 -> LS_ENOTFOUND;
 *   429, 5xx, timeouts, resets, truncated bodies -> LS_ETRANSIENT;
 *   other 4xx -> LS_EINVAL;
 *   a body larger than the response size bound (raw or decompressed) -> LS_EINVAL.
 * CURLcode never leaves this module.
 *
 * Bounds on what the upstream can make a process do: a body may hold at most
 * ls_http_set_max_response() bytes on the wire and again after
 * Content-Encoding is undone (a 1 MB gzip body that inflates to 1 GiB stops
 * at the bound, within milliseconds); a larger Content-Length fails before
 * the body is read. Retry-After / retry-after-ms saturate at
 * LS_HTTP_RETRY_AFTER_MAX_MS.
 */
#ifndef LS_HTTP_H
#define LS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Response size bound until ls_http_set_max_response() says otherwise. */
#define LS_HTTP_MAX_RESPONSE_DEFAULT ((size_t)64 << 20)
/* Longest wait read from Retry-After / retry-after-ms (one day): any larger
 * value, however many digits it has, is read as this. */
#define LS_HTTP_RETRY_AFTER_MAX_MS (INT64_C(86400) * 1000)

typedef struct ls_http ls_http_t;

typedef struct ls_http_resp {
    long status;          /* HTTP status, 0 when no response arrived */
    const char *body;     /* borrowed: valid until the next ls_http_get on the same handle */
    size_t len;
    int64_t retry_after_ms; /* from retry-after-ms or Retry-After; -1 when absent */
    double seconds;       /* the transfer's total time (0 when none started) */
} ls_http_resp_t;

/**
 * The response size bound (bytes, raw and decoded) of every handle made
 * after this call; name is the setting it comes from, quoted in the error
 * ("response from /lms/conn-1/activity is larger than unified.max_response_mb
 * (64 MiB) once decompressed"). Process-wide: set once at start-up, before
 * any handle is made (ls_daemon_init does it from the config).
 */
void ls_http_set_max_response(size_t bytes, const char *name);

/**
 * Read one response header line (n bytes, "Name: value\r\n") into
 * *retry_after_ms when it is retry-after-ms (milliseconds) or Retry-After
 * (delta-seconds, or an HTTP-date read against now, seconds since the epoch;
 * taken only while *retry_after_ms < 0, so retry-after-ms wins). Values
 * saturate at LS_HTTP_RETRY_AFTER_MAX_MS; a date in the past is 0; anything
 * else (negative, not digits) leaves *retry_after_ms unchanged.
 */
void ls_http_read_retry_after(const char *line, size_t n, time_t now, int64_t *retry_after_ms);

/**
 * Append n bytes to a growing body buffer (*buf of *cap bytes, *len used)
 * and keep a NUL after them: the write callback of lmsync's HTTP clients.
 * @return n, or 0 when out of memory (libcurl then fails the transfer).
 */
size_t ls_http_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n);

/** token is copied; NULL/empty sends no authorization header. */
ls_http_t *ls_http_new(const char *token, int timeout_s, char *errstr, size_t errstr_size);
void ls_http_destroy(ls_http_t *h);

/**
 * GET url. On any return, *resp describes what arrived. err receives a
 * one-line reason on failure ("http 503 from /lms/conn-1/activity",
 * "transfer failed: Transferred a partial file").
 */
int ls_http_get(ls_http_t *h, const char *url, ls_http_resp_t *resp, char *err, size_t errsz);

/* ---- concurrent transfers (curl multi interface) ----
 *
 * ls_http_multi_new() makes a handle whose requests run concurrently over one
 * CURLM: HTTP/2 multiplexing where the server offers it (over TLS), keep-
 * alive connections otherwise, compressed bodies accepted. Each transfer
 * comes from a pool of easy handles, each with its own body buffer, so a
 * long run allocates only while the pool grows to the peak of concurrent
 * transfers. Nothing blocks except ls_http_multi_run().
 */
typedef struct ls_http_multi ls_http_multi_t;
typedef struct ls_http_xfer ls_http_xfer_t;

/** max_conns sizes CURLMOPT_MAX_HOST_CONNECTIONS (the in-flight limit). */
ls_http_multi_t *ls_http_multi_new(const char *token, int timeout_s, int max_conns, char *errstr, size_t errsz);
void ls_http_multi_destroy(ls_http_multi_t *m);

/**
 * Start GET url; ud is returned with the transfer when it completes.
 * @return the transfer (owned by m; give it back with ls_http_xfer_release),
 *         or NULL (out of memory).
 */
ls_http_xfer_t *ls_http_multi_start(ls_http_multi_t *m, const char *url, void *ud);

/*
 * A credential: a base URL and the token that may be sent to it, and only to
 * it. With more than one Unified workspace every request names the
 * credential of its workspace, and a URL outside that credential's base URL
 * is refused before anything is sent, so a token never reaches another
 * workspace's host.
 */
typedef struct ls_http_cred ls_http_cred_t;

/** base_url and token are copied (token may be NULL/empty: no authorization header). NULL when out of memory. */
ls_http_cred_t *ls_http_cred_new(const char *base_url, const char *token);
void ls_http_cred_destroy(ls_http_cred_t *c);

/**
 * Whether url lies under c's base URL: the same scheme and authority
 * (case-insensitively), and the base path followed by '/', '?' or the end.
 */
int ls_http_cred_covers(const ls_http_cred_t *c, const char *url);

/**
 * As ls_http_multi_start(), with c's token instead of m's.
 * @return NULL, and nothing sent, when c does not cover url (or out of memory).
 */
ls_http_xfer_t *ls_http_multi_start_cred(ls_http_multi_t *m, const char *url, const ls_http_cred_t *c, void *ud);

/**
 * As ls_http_multi_start_cred(), with method ("GET", "POST", "DELETE", ...)
 * and, when body is not NULL, a JSON body (copied; sent with
 * "content-type: application/json"; a body with method "POST" is a plain POST).
 * The answer is classified like a GET's.
 */
ls_http_xfer_t *ls_http_multi_send_cred(ls_http_multi_t *m, const char *method, const char *url, const char *body,
                                        const ls_http_cred_t *c, void *ud);

/**
 * Wait up to timeout_ms for socket activity (or for extra_fd to become
 * readable; -1 = none) and run the transfers. 0 = do not wait.
 */
void ls_http_multi_run(ls_http_multi_t *m, int timeout_ms, int extra_fd);

/**
 * Send what ls_http_multi_start() added since the last run, without waiting
 * (a no-op when nothing was added): call it after starting a request while
 * other work is still due, so the request is on the wire during that work.
 */
void ls_http_multi_kick(ls_http_multi_t *m);

/** A completed transfer (NULL when none is left); *ud as given to start. */
ls_http_xfer_t *ls_http_multi_next_done(ls_http_multi_t *m, void **ud);

/**
 * Outcome of a completed transfer, classified like ls_http_get(); resp->body
 * is borrowed until the transfer is released.
 */
int ls_http_xfer_result(ls_http_xfer_t *x, ls_http_resp_t *resp, char *err, size_t errsz);

/** Return a transfer (completed or not: an unfinished one is cancelled) to the pool. NULL accepted. */
void ls_http_xfer_release(ls_http_multi_t *m, ls_http_xfer_t *x);

/** Transfers started and not yet completed. */
size_t ls_http_multi_running(const ls_http_multi_t *m);

/** Total requests and body bytes received by this handle. */
void ls_http_stats(const ls_http_t *h, uint64_t *requests, uint64_t *bytes);

/** URL-escape s into buf (RFC 3986 unreserved kept). Returns LS_EFULL if it does not fit. */
int ls_http_escape(const char *s, char *buf, size_t bufsz);

#endif
