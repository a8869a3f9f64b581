/*
 * ls_http.c - libcurl easy-handle wrapper with a reusable body buffer.
 *
 * The response body grows into one buffer owned by the handle, so a poll of
 * thousands of pages allocates only when a page is larger than any before.
 */
#include "ls_http.h"
#include "ls_err.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ls_http {
    CURL *curl;
    struct curl_slist *headers;
    char *buf;
    size_t len, cap;
    int64_t retry_after_ms;
    uint64_t requests, bytes;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    ls_http_t *h = ud;
    size_t n = size * nmemb;
    if (h->len + n + 1 > h->cap) {
        size_t cap = h->cap ? h->cap : 65536;
        while (cap < h->len + n + 1)
            cap *= 2;
        char *nb = realloc(h->buf, cap);
        if (!nb)
            return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
        h->buf = nb;
        h->cap = cap;
    }
    memcpy(h->buf + h->len, data, n);
    h->len += n;
    h->buf[h->len] = '\0';
    return n;
}

/* Retry-After: delta-seconds or HTTP-date; retry-after-ms: milliseconds. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    ls_http_t *h = ud;
    size_t n = size * nmemb;
    char line[256];
    if (n >= sizeof(line))
        return n;
    memcpy(line, data, n);
    line[n] = '\0';
    char *colon = strchr(line, ':');
    if (!colon)
        return n;
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    v[strcspn(v, "\r\n")] = '\0';
    if (strcasecmp(line, "retry-after-ms") == 0) {
        h->retry_after_ms = strtoll(v, NULL, 10);
    } else if (strcasecmp(line, "retry-after") == 0 && h->retry_after_ms < 0) {
        char *end;
        long long s = strtoll(v, &end, 10);
        if (end != v && *end == '\0') {
            h->retry_after_ms = s * 1000;
        } else {
            time_t t = curl_getdate(v, NULL);
            if (t > 0) {
                long long d = (long long)(t - time(NULL));
                h->retry_after_ms = d > 0 ? d * 1000 : 0;
            }
        }
    }
    return n;
}

ls_http_t *ls_http_new(const char *token, int timeout_s, char *errstr, size_t errsz)
{
    ls_http_t *h = calloc(1, sizeof(*h));
    if (!h || !(h->curl = curl_easy_init())) {
        snprintf(errstr, errsz, "cannot create http handle");
        free(h);
        return NULL;
    }
    h->headers = curl_slist_append(NULL, "accept: application/json");
    if (token && *token) {
        size_t n = strlen(token) + 32;
        char *hdr = malloc(n);
        if (hdr) {
            snprintf(hdr, n, "authorization: Bearer %s", token);
            h->headers = curl_slist_append(h->headers, hdr);
            memset(hdr, 0, n);
            free(hdr);
        }
    }
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, (long)timeout_s);
    curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->curl, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "lmsync/0.1");
    curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    return h;
}

void ls_http_destroy(ls_http_t *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers);
    free(h->buf);
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

int ls_http_get(ls_http_t *h, const char *url, ls_http_resp_t *resp, char *err, size_t errsz)
{
    char path[256];
    h->len = 0;
    if (h->buf)
        h->buf[0] = '\0';
    h->retry_after_ms = -1;
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    CURLcode cc = curl_easy_perform(h->curl);
    h->requests++;
    h->bytes += h->len;
    memset(resp, 0, sizeof(*resp));
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->body = h->buf ? h->buf : "";
    resp->len = h->len;
    resp->retry_after_ms = h->retry_after_ms;
    resp->seconds = 0;
    curl_easy_getinfo(h->curl, CURLINFO_TOTAL_TIME, &resp->seconds);
    if (cc != CURLE_OK) {
        snprintf(err, errsz, "transfer of %s failed: %s", url_path(url, path, sizeof(path)),
                 curl_easy_strerror(cc));
        return cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL ? LS_EINVAL : LS_ETRANSIENT;
    }
    int rc = classify(resp->status);
    if (rc != LS_OK)
        snprintf(err, errsz, "http %ld from %s", resp->status, url_path(url, path, sizeof(path)));
    return rc;
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
    char *buf;
    size_t len, cap;
    int64_t retry_after_ms;
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

static size_t on_xfer_body(char *data, size_t size, size_t nmemb, void *ud)
{
    ls_http_xfer_t *x = ud;
    size_t n = size * nmemb;
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 65536;
        while (cap < x->len + n + 1)
            cap *= 2;
        char *nb = realloc(x->buf, cap);
        if (!nb)
            return 0;
        x->buf = nb;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, data, n);
    x->len += n;
    x->buf[x->len] = '\0';
    return n;
}

static size_t on_xfer_header(char *data, size_t size, size_t nmemb, void *ud)
{
    ls_http_xfer_t *x = ud;
    ls_http_t tmp; /* reuse the single-handle parser on a scratch struct */
    tmp.retry_after_ms = x->retry_after_ms;
    size_t n = on_header(data, size, nmemb, &tmp);
    x->retry_after_ms = tmp.retry_after_ms;
    return n;
}

ls_http_multi_t *ls_http_multi_new(const char *token, int timeout_s, int max_conns, char *errstr, size_t errsz)
{
    ls_http_multi_t *m = calloc(1, sizeof(*m));
    if (!m || !(m->multi = curl_multi_init())) {
        snprintf(errstr, errsz, "cannot create http multi handle");
        free(m);
        return NULL;
    }
    m->timeout_s = timeout_s;
    m->headers = curl_slist_append(NULL, "accept: application/json");
    if (token && *token) {
        size_t n = strlen(token) + 32;
        char *hdr = malloc(n);
        if (hdr) {
            snprintf(hdr, n, "authorization: Bearer %s", token);
            m->headers = curl_slist_append(m->headers, hdr);
            memset(hdr, 0, n);
            free(hdr);
        }
    }
    curl_multi_setopt(m->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(m->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)(max_conns > 0 ? max_conns : 64));
    curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, (long)(max_conns > 0 ? max_conns : 64));
    return m;
}

static void xfer_free(ls_http_xfer_t *x)
{
    curl_easy_cleanup(x->curl);
    free(x->buf);
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
    curl_easy_setopt(x->curl, CURLOPT_HTTPHEADER, m->headers);
    curl_easy_setopt(x->curl, CURLOPT_WRITEFUNCTION, on_xfer_body);
    curl_easy_setopt(x->curl, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->curl, CURLOPT_HEADERFUNCTION, on_xfer_header);
    curl_easy_setopt(x->curl, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->curl, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->curl, CURLOPT_TIMEOUT, (long)m->timeout_s);
    curl_easy_setopt(x->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(x->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->curl, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(x->curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(x->curl, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(x->curl, CURLOPT_USERAGENT, "lmsync/0.1");
    curl_easy_setopt(x->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    return x;
}

ls_http_xfer_t *ls_http_multi_start(ls_http_multi_t *m, const char *url, void *ud)
{
    ls_http_xfer_t *x = xfer_get(m);
    if (!x)
        return NULL;
    x->len = 0;
    if (x->buf)
        x->buf[0] = '\0';
    x->retry_after_ms = -1;
    x->cc = CURLE_OK;
    x->done = 0;
    x->ud = ud;
    x->next = NULL;
    url_path(url, x->url_path, sizeof(x->url_path));
    curl_easy_setopt(x->curl, CURLOPT_URL, url);
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
    memset(resp, 0, sizeof(*resp));
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->body = x->buf ? x->buf : "";
    resp->len = x->len;
    resp->retry_after_ms = x->retry_after_ms;
    resp->seconds = 0;
    curl_easy_getinfo(x->curl, CURLINFO_TOTAL_TIME, &resp->seconds);
    if (x->cc != CURLE_OK) {
        snprintf(err, errsz, "transfer of %s failed: %s", x->url_path, curl_easy_strerror(x->cc));
        return x->cc == CURLE_URL_MALFORMAT || x->cc == CURLE_UNSUPPORTED_PROTOCOL ? LS_EINVAL : LS_ETRANSIENT;
    }
    int rc = classify(resp->status);
    if (rc != LS_OK)
        snprintf(err, errsz, "http %ld from %s", resp->status, x->url_path);
    return rc;
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
    if (x->cap > (1u << 22)) { /* do not keep a huge buffer per pooled handle */
        free(x->buf);
        x->buf = NULL;
        x->cap = 0;
    }
    x->next = m->free_list;
    m->free_list = x;
}

size_t ls_http_multi_running(const ls_http_multi_t *m)
{
    return m->running;
}
