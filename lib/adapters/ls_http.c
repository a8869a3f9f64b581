/*
 * ls_http.c - libcurl easy-handle wrapper with a reusable body buffer.
 *
 * The response body grows into one buffer owned by the handle, so a poll of
 * thousands of pages allocates only when a page is larger than any before.
 * The buffer never grows past the response size bound: the write callback
 * sees decoded bytes and the progress callback raw ones, and either stops the
 * transfer at the bound (ls_http.h).
 */
#include "ls_http.h"
#include "ls_err.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Response size bound (ls_http_set_max_response): process-wide, read when a handle is made. */
static size_t max_response = LS_HTTP_MAX_RESPONSE_DEFAULT;
static char max_response_name[64] = "the response size limit";

typedef enum { FIT = 0, OVER_RAW, OVER_DECODED } body_fit_t;

/* A response body growing into one reusable buffer, bounded before and after decoding. */
typedef struct body {
    char *buf;
    size_t len, cap;
    size_t max;               /* bound on raw and decoded bytes */
    body_fit_t over;          /* why the transfer was stopped */
    int64_t retry_after_ms;
} body_t;

struct ls_http {
    CURL *curl;
    struct curl_slist *headers;
    body_t b;
    uint64_t requests, bytes;
};

size_t ls_http_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 65536;
        while (c < *len + n + 1)
            c *= 2;
        char *nb = realloc(*buf, c);
        if (!nb)
            return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
        *buf = nb;
        *cap = c;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
    return n;
}

void ls_http_set_max_response(size_t bytes, const char *name)
{
    max_response = bytes;
    snprintf(max_response_name, sizeof(max_response_name), "%s", name);
}

static void body_reset(body_t *b)
{
    b->len = 0;
    if (b->buf)
        b->buf[0] = '\0';
    b->over = FIT;
    b->retry_after_ms = -1;
}

/* Decoded bytes (after Content-Encoding): past the bound, stop (CURLE_WRITE_ERROR). */
static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    body_t *b = ud;
    size_t n = size * nmemb;
    if (n > b->max - b->len) {
        b->over = OVER_DECODED;
        return 0;
    }
    return ls_http_append(&b->buf, &b->len, &b->cap, data, n);
}

/* Raw bytes on the wire (before decoding): past the bound, stop (CURLE_ABORTED_BY_CALLBACK). */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    body_t *b = ud;
    if (dlnow > 0 && (uint64_t)dlnow > b->max) {
        b->over = OVER_RAW;
        return 1;
    }
    return 0;
}

/* Digits only, saturating at max; -1 when s is not 1*DIGIT. */
static int64_t parse_delay(const char *s, int64_t unit_ms, int64_t max)
{
    int64_t v = 0;
    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v <= max)
            v = v * 10 + (*s - '0');
    }
    return v > max / unit_ms ? max : v * unit_ms;
}

void ls_http_read_retry_after(const char *data, size_t n, time_t now, int64_t *retry_after_ms)
{
    char line[256];
    if (n >= sizeof(line))
        return;
    memcpy(line, data, n);
    line[n] = '\0';
    char *colon = strchr(line, ':');
    if (!colon)
        return;
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    char *e = v + strlen(v);
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    int64_t ms = -1;
    if (strcasecmp(line, "retry-after-ms") == 0) {
        ms = parse_delay(v, 1, LS_HTTP_RETRY_AFTER_MAX_MS);
    } else if (strcasecmp(line, "retry-after") == 0 && *retry_after_ms < 0) {
        ms = parse_delay(v, 1000, LS_HTTP_RETRY_AFTER_MAX_MS);
        time_t t = ms < 0 ? curl_getdate(v, NULL) : -1;
        if (t > 0) /* an HTTP-date; in the past = now */
            ms = t <= now ? 0 : (int64_t)(t - now) > LS_HTTP_RETRY_AFTER_MAX_MS / 1000
                                   ? LS_HTTP_RETRY_AFTER_MAX_MS : (int64_t)(t - now) * 1000;
    }
    if (ms >= 0)
        *retry_after_ms = ms;
}

/* Retry-After: delta-seconds or HTTP-date; retry-after-ms: milliseconds. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    body_t *b = ud;
    size_t n = size * nmemb;
    ls_http_read_retry_after(data, n, time(NULL), &b->retry_after_ms);
    return n;
}

/* The callbacks and limits every easy handle gets; b receives body and headers. */
static void setup_easy(CURL *c, struct curl_slist *headers, int timeout_s, body_t *b)
{
    b->max = max_response;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, b);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, b);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)b->max); /* a larger Content-Length fails at once */
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)timeout_s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "lmsync/0.1");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
}

/* "accept" plus, with a token, "authorization: Bearer <token>" (the copy is wiped). */
static struct curl_slist *make_headers(const char *token)
{
    struct curl_slist *headers = curl_slist_append(NULL, "accept: application/json");
    if (token && *token) {
        size_t n = strlen(token) + 32;
        char *hdr = malloc(n);
        if (hdr) {
            snprintf(hdr, n, "authorization: Bearer %s", token);
            headers = curl_slist_append(headers, hdr);
            memset(hdr, 0, n);
            free(hdr);
        }
    }
    return headers;
}

ls_http_t *ls_http_new(const char *token, int timeout_s, char *errstr, size_t errsz)
{
    ls_http_t *h = calloc(1, sizeof(*h));
    if (!h || !(h->curl = curl_easy_init())) {
        snprintf(errstr, errsz, "cannot create http handle");
        free(h);
        return NULL;
    }
    h->headers = make_headers(token);
    setup_easy(h->curl, h->headers, timeout_s, &h->b);
    return h;
}

void ls_http_destroy(ls_http_t *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers);
    free(h->b.buf);
    free(h);
}

/* Path part of url for messages: no host, no query (queries hold ids, never secrets, but stay short). */
static const char *url_path(const char *url, char *buf, size_t bufsz)
{
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : url;
    if (!p)
        p = "/";
    snprintf(buf, bufsz, "%.*s", (int)strcspn(p, "?"), p);
    return buf;
}

static int classify(long status)
{
    if (status >= 200 && status < 300)
        return LS_OK;
    if (status == 401 || status == 403)
        return LS_EPERM;
    if (status == 404)
        return LS_ENOTFOUND;
    if (status == 429 || status == 408 || status >= 500)
        return LS_ETRANSIENT;
    return LS_EINVAL;
}

/* The outcome of a finished transfer on c (shared by ls_http_get and ls_http_xfer_result). */
static int outcome(CURL *c, CURLcode cc, const body_t *b, const char *path, ls_http_resp_t *resp,
                   char *err, size_t errsz)
{
    memset(resp, 0, sizeof(*resp));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->body = b->buf ? b->buf : "";
    resp->len = b->len;
    resp->retry_after_ms = b->retry_after_ms;
    resp->seconds = 0;
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &resp->seconds);
    if (cc == CURLE_FILESIZE_EXCEEDED || b->over != FIT) { /* not retried: the same answer would come back */
        snprintf(err, errsz, "response from %s is larger than %s (%zu MiB)%s", path, max_response_name,
                 b->max >> 20, b->over == OVER_DECODED ? " once decompressed" : "");
        return LS_EINVAL;
    }
    if (cc != CURLE_OK) {
        snprintf(err, errsz, "transfer of %s failed: %s", path, curl_easy_strerror(cc));
        return cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL ? LS_EINVAL : LS_ETRANSIENT;
    }
    int rc = classify(resp->status);
    if (rc != LS_OK)
        snprintf(err, errsz, "http %ld from %s", resp->status, path);
    return rc;
}

int ls_http_get(ls_http_t *h, const char *url, ls_http_resp_t *resp, char *err, size_t errsz)
{
    char path[256];
    body_reset(&h->b);
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    CURLcode cc = curl_easy_perform(h->curl);
    h->requests++;
    h->bytes += h->b.len;
    return outcome(h->curl, cc, &h->b, url_path(url, path, sizeof(path)), resp, err, errsz);
}

void ls_http_stats(const ls_http_t *h, uint64_t *requests, uint64_t *bytes)
{
    *requests = h->requests;
    *bytes = h->bytes;
}

int ls_http_escape(const char *s, char *buf, size_t bufsz)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '.' || c == '_' || c == '~';
        if (n + (keep ? 1 : 3) >= bufsz)
            return LS_EFULL;
        if (keep) {
            buf[n++] = (char)c;
        } else {
            buf[n++] = '%';
            buf[n++] = hex[c >> 4];
            buf[n++] = hex[c & 15];
        }
    }
    buf[n] = '\0';
    return LS_OK;
}

/* ---- concurrent transfers ---- */

struct ls_http_xfer {
    CURL *curl;
    body_t b;
    CURLcode cc;
    int done;                 /* 1 = completed, waiting in the done list */
    int active;               /* 1 = added to the multi handle */
    void *ud;
    char url_path[256];
    ls_http_xfer_t *next;     /* free list or done list */
};

struct ls_http_multi {
    CURLM *multi;
    struct curl_slist *headers;
    int timeout_s;
    ls_http_xfer_t *free_list;
    ls_http_xfer_t *done_head, *done_tail;
    size_t running;
    int unsent;        /* a transfer was added since the last curl_multi_perform */
};

ls_http_multi_t *ls_http_multi_new(const char *token, int timeout_s, int max_conns, char *errstr, size_t errsz)
{
    ls_http_multi_t *m = calloc(1, sizeof(*m));
    if (!m || !(m->multi = curl_multi_init())) {
        snprintf(errstr, errsz, "cannot create http multi handle");
        free(m);
        return NULL;
    }
    m->timeout_s = timeout_s;
    m->headers = make_headers(token);
    curl_multi_setopt(m->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(m->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)(max_conns > 0 ? max_conns : 64));
    curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, (long)(max_conns > 0 ? max_conns : 64));
    return m;
}

static void xfer_free(ls_http_xfer_t *x)
{
    curl_easy_cleanup(x->curl);
    free(x->b.buf);
    free(x);
}

void ls_http_multi_destroy(ls_http_multi_t *m)
{
    if (!m)
        return;
    while (m->done_head) {
        ls_http_xfer_t *x = m->done_head;
        m->done_head = x->next;
        xfer_free(x);
    }
    while (m->free_list) {
        ls_http_xfer_t *x = m->free_list;
        m->free_list = x->next;
        xfer_free(x);
    }
    curl_multi_cleanup(m->multi);
    curl_slist_free_all(m->headers);
    free(m);
}

static ls_http_xfer_t *xfer_get(ls_http_multi_t *m)
{
    ls_http_xfer_t *x = m->free_list;
    if (x) {
        m->free_list = x->next;
        return x;
    }
    if (!(x = calloc(1, sizeof(*x))) || !(x->curl = curl_easy_init())) {
        free(x);
        return NULL;
    }
    setup_easy(x->curl, m->headers, m->timeout_s, &x->b);
    curl_easy_setopt(x->curl, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    return x;
}

struct ls_http_cred {
    char *base;                   /* base URL without a trailing '/' */
    struct curl_slist *headers;
    struct curl_slist *json_headers; /* headers plus "content-type: application/json" (requests with a body) */
};

ls_http_cred_t *ls_http_cred_new(const char *base_url, const char *token)
{
    ls_http_cred_t *c = calloc(1, sizeof(*c));
    size_t n = strlen(base_url);
    while (n && base_url[n - 1] == '/')
        n--;
    if (!c || !(c->base = strndup(base_url, n)) || !(c->headers = make_headers(token)) ||
        !(c->json_headers = make_headers(token)) ||
        !(c->json_headers = curl_slist_append(c->json_headers, "content-type: application/json"))) {
        ls_http_cred_destroy(c);
        return NULL;
    }
    return c;
}

void ls_http_cred_destroy(ls_http_cred_t *c)
{
    if (!c)
        return;
    free(c->base);
    curl_slist_free_all(c->headers);
    curl_slist_free_all(c->json_headers);
    free(c);
}

int ls_http_cred_covers(const ls_http_cred_t *c, const char *url)
{
    const char *sep = strstr(c->base, "://");
    size_t auth_end = sep ? (size_t)(sep + 3 - c->base) + strcspn(sep + 3, "/?#") : 0;
    size_t n = strlen(c->base);
    if (!sep || strncasecmp(url, c->base, auth_end) != 0 || strncmp(url + auth_end, c->base + auth_end,
                                                                    n - auth_end) != 0)
        return 0;
    return url[n] == '\0' || url[n] == '/' || url[n] == '?';
}

/* The request's method on a pooled handle: GET (the default), POST with a copied body, or another without one. */
static void set_method(CURL *curl, const char *method, const char *body)
{
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, (char *)NULL);
    if (body)
        curl_easy_setopt(curl, CURLOPT_COPYPOSTFIELDS, body);
    if (strcmp(method, body ? "POST" : "GET") != 0)
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
}

static ls_http_xfer_t *multi_start(ls_http_multi_t *m, const char *method, const char *url, const char *body,
                                   struct curl_slist *headers, void *ud)
{
    ls_http_xfer_t *x = xfer_get(m);
    if (!x)
        return NULL;
    curl_easy_setopt(x->curl, CURLOPT_HTTPHEADER, headers);
    set_method(x->curl, method, body);
    body_reset(&x->b);
    x->cc = CURLE_OK;
    x->done = 0;
    x->ud = ud;
    x->next = NULL;
    url_path(url, x->url_path, sizeof(x->url_path));
    curl_easy_setopt(x->curl, CURLOPT_URL, url);
    /* Wait for a connection that may multiplex only over TLS, where ALPN says so at the handshake. Over plain
     * HTTP (HTTP/1.1: CURL_HTTP_VERSION_2TLS) curl learns it only from the first response, so every new request
     * would wait behind the first one: one slow upstream answer held the other jobs' requests (e2e.tenants). */
    curl_easy_setopt(x->curl, CURLOPT_PIPEWAIT, strncasecmp(url, "https://", 8) == 0 ? 1L : 0L);
    if (curl_multi_add_handle(m->multi, x->curl) != CURLM_OK) {
        x->next = m->free_list;
        m->free_list = x;
        return NULL;
    }
    x->active = 1;
    m->running++;
    m->unsent = 1;
    return x;
}

ls_http_xfer_t *ls_http_multi_start(ls_http_multi_t *m, const char *url, void *ud)
{
    return multi_start(m, "GET", url, NULL, m->headers, ud);
}

ls_http_xfer_t *ls_http_multi_start_cred(ls_http_multi_t *m, const char *url, const ls_http_cred_t *c, void *ud)
{
    return ls_http_cred_covers(c, url) ? multi_start(m, "GET", url, NULL, c->headers, ud) : NULL;
}

ls_http_xfer_t *ls_http_multi_send_cred(ls_http_multi_t *m, const char *method, const char *url, const char *body,
                                        const ls_http_cred_t *c, void *ud)
{
    if (!ls_http_cred_covers(c, url))
        return NULL;
    return multi_start(m, method, url, body, body ? c->json_headers : c->headers, ud);
}

void ls_http_multi_kick(ls_http_multi_t *m)
{
    if (m->unsent)
        ls_http_multi_run(m, 0, -1);
}

void ls_http_multi_run(ls_http_multi_t *m, int timeout_ms, int extra_fd)
{
    int still;
    struct curl_waitfd wfd = {extra_fd, CURL_WAIT_POLLIN, 0};
    if (timeout_ms > 0)
        curl_multi_poll(m->multi, extra_fd >= 0 ? &wfd : NULL, extra_fd >= 0 ? 1u : 0u, timeout_ms, NULL);
    curl_multi_perform(m->multi, &still);
    m->unsent = 0;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        ls_http_xfer_t *x = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        x->cc = msg->data.result;
        curl_multi_remove_handle(m->multi, x->curl);
        x->active = 0;
        x->done = 1;
        m->running--;
        x->next = NULL;
        if (m->done_tail)
            m->done_tail->next = x;
        else
            m->done_head = x;
        m->done_tail = x;
    }
}

ls_http_xfer_t *ls_http_multi_next_done(ls_http_multi_t *m, void **ud)
{
    ls_http_xfer_t *x = m->done_head;
    if (!x)
        return NULL;
    m->done_head = x->next;
    if (!m->done_head)
        m->done_tail = NULL;
    x->next = NULL;
    x->done = 2; /* handed out */
    *ud = x->ud;
    return x;
}

int ls_http_xfer_result(ls_http_xfer_t *x, ls_http_resp_t *resp, char *err, size_t errsz)
{
    return outcome(x->curl, x->cc, &x->b, x->url_path, resp, err, errsz);
}

void ls_http_xfer_release(ls_http_multi_t *m, ls_http_xfer_t *x)
{
    if (!x)
        return;
    if (x->active) {
        curl_multi_remove_handle(m->multi, x->curl);
        x->active = 0;
        m->running--;
    } else if (x->done == 1) { /* completed but not handed out: unlink from the done list */
        ls_http_xfer_t **pp = &m->done_head, *prev = NULL;
        while (*pp && *pp != x) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        if (*pp) {
            *pp = x->next;
            if (m->done_tail == x)
                m->done_tail = prev;
        }
    }
    x->done = 0;
    x->ud = NULL;
    if (x->b.cap > (1u << 22)) { /* do not keep a huge buffer per pooled handle */
        free(x->b.buf);
        x->b.buf = NULL;
        x->b.cap = 0;
    }
    x->next = m->free_list;
    m->free_list = x;
}

size_t ls_http_multi_running(const ls_http_multi_t *m)
{
    return m->running;
}
