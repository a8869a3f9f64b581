/*
 * ls_xapi_lrs.c - POST/GET on an LRS's statements resource (one curl easy
 * handle, kept alive). CURLcode and HTTP statuses stay in this file.
 */
#include "ls_xapi_lrs.h"
#include "ls_err.h"
#include "ls_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const ls_xapi_fail_names[LS_LRS__COUNT + 1] = {
    "ok", "refused", "throttled", "server_error", "auth", "client_error", "bad_response", "transport", NULL};

struct ls_xapi_lrs {
    CURL *curl;
    struct curl_slist *headers;
    char *url;     /* .../statements */
    char *userpwd; /* secret */
    char *buf;     /* response body */
    size_t len, cap;
    int64_t retry_after_ms;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    ls_xapi_lrs_t *l = ud;
    return ls_http_append(&l->buf, &l->len, &l->cap, data, size * nmemb);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    ls_xapi_lrs_t *l = ud;
    ls_http_read_retry_after(data, size * nmemb, time(NULL), &l->retry_after_ms);
    return size * nmemb;
}

ls_xapi_lrs_t *ls_xapi_lrs_new(const char *endpoint, const char *userpwd, int timeout_s, char *err, size_t errsz)
{
    ls_xapi_lrs_t *l = calloc(1, sizeof(*l));
    size_t n = strlen(endpoint);
    if (l)
        l->url = malloc(n + 16);
    if (!l || !l->url || !(l->curl = curl_easy_init())) {
        snprintf(err, errsz, "cannot create the LRS client: out of memory");
        ls_xapi_lrs_destroy(l);
        return NULL;
    }
    snprintf(l->url, n + 16, "%s%sstatements", endpoint, n > 0 && endpoint[n - 1] == '/' ? "" : "/");
    l->headers = curl_slist_append(NULL, "X-Experience-API-Version: 1.0.3");
    l->headers = curl_slist_append(l->headers, "Content-Type: application/json");
    l->headers = curl_slist_append(l->headers, "Accept: application/json");
    if (userpwd && *userpwd) {
        l->userpwd = strdup(userpwd);
        curl_easy_setopt(l->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(l->curl, CURLOPT_USERPWD, l->userpwd);
    }
    curl_easy_setopt(l->curl, CURLOPT_HTTPHEADER, l->headers);
    curl_easy_setopt(l->curl, CURLOPT_TIMEOUT, (long)timeout_s);
    curl_easy_setopt(l->curl, CURLOPT_CONNECTTIMEOUT, (long)(timeout_s < 10 ? timeout_s : 10));
    curl_easy_setopt(l->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(l->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(l->curl, CURLOPT_WRITEDATA, l);
    curl_easy_setopt(l->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(l->curl, CURLOPT_HEADERDATA, l);
    return l;
}

void ls_xapi_lrs_destroy(ls_xapi_lrs_t *l)
{
    if (!l)
        return;
    if (l->curl)
        curl_easy_cleanup(l->curl);
    curl_slist_free_all(l->headers);
    if (l->userpwd) {
        memset(l->userpwd, 0, strlen(l->userpwd));
        free(l->userpwd);
    }
    free(l->url);
    free(l->buf);
    free(l);
}

static ls_lrs_result_t classify(long status)
{
    if (status >= 200 && status < 300)
        return LS_LRS_OK;
    if (status == 400 || status == 409 || status == 413)
        return LS_LRS_REFUSED;
    if (status == 429)
        return LS_LRS_THROTTLED;
    if (status == 401 || status == 403)
        return LS_LRS_AUTH;
    if (status >= 500)
        return LS_LRS_SERVER;
    return LS_LRS_CLIENT;
}

/* "http 503: <first 120 printable bytes of the body>" */
static void http_reason(const ls_xapi_lrs_t *l, long status, char *out, size_t outsz)
{
    char body[121];
    size_t n = 0;
    for (size_t i = 0; i < l->len && n < sizeof(body) - 1; i++)
        body[n++] = (l->buf[i] >= 0x20 && l->buf[i] < 0x7f) ? l->buf[i] : ' ';
    body[n] = '\0';
    snprintf(out, outsz, "http %ld: %s", status, n ? body : "(empty body)");
}

/* Run the prepared request; classify the transfer and the status. */
static ls_lrs_result_t perform(ls_xapi_lrs_t *l, ls_lrs_answer_t *a)
{
    l->len = 0;
    l->retry_after_ms = -1;
    memset(a, 0, sizeof(*a));
    CURLcode rc = curl_easy_perform(l->curl);
    a->retry_after_ms = l->retry_after_ms;
    if (rc != CURLE_OK) {
        a->result = LS_LRS_TRANSPORT;
        snprintf(a->reason, sizeof(a->reason), "transfer failed: %s", curl_easy_strerror(rc));
        return a->result;
    }
    curl_easy_getinfo(l->curl, CURLINFO_RESPONSE_CODE, &a->status);
    a->result = classify(a->status);
    if (a->result != LS_LRS_OK)
        http_reason(l, a->status, a->reason, sizeof(a->reason));
    return a->result;
}

/* A 2xx whose body is not JSON of the expected kind (an HTML login page, a proxy's page). */
static json_t *expect_json(ls_xapi_lrs_t *l, ls_lrs_answer_t *a, int want_array)
{
    json_t *j = l->len ? json_loadb(l->buf, l->len, 0, NULL) : NULL;
    if (j && (want_array ? json_is_array(j) : json_is_object(j)))
        return j;
    json_decref(j);
    a->result = LS_LRS_BAD_RESPONSE;
    http_reason(l, a->status, a->reason, sizeof(a->reason));
    size_t n = strlen(a->reason);
    snprintf(a->reason + n, sizeof(a->reason) - n, " (not a JSON %s)", want_array ? "array of ids" : "statement");
    return NULL;
}

ls_lrs_result_t ls_xapi_lrs_post(ls_xapi_lrs_t *l, const char *body, size_t len, ls_lrs_answer_t *a)
{
    curl_easy_setopt(l->curl, CURLOPT_URL, l->url);
    curl_easy_setopt(l->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(l->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(l->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    if (perform(l, a) == LS_LRS_OK && a->status != 204) /* 204: an LRS that answers a re-post like a PUT */
        json_decref(expect_json(l, a, 1));
    return a->result;
}

ls_lrs_result_t ls_xapi_lrs_get(ls_xapi_lrs_t *l, const char *id, json_t **stmt, ls_lrs_answer_t *a)
{
    char url[2200];
    char *esc = curl_easy_escape(l->curl, id, 0);
    snprintf(url, sizeof(url), "%s?statementId=%s", l->url, esc ? esc : "");
    curl_free(esc);
    *stmt = NULL;
    curl_easy_setopt(l->curl, CURLOPT_URL, url);
    curl_easy_setopt(l->curl, CURLOPT_HTTPGET, 1L);
    if (perform(l, a) == LS_LRS_OK)
        *stmt = expect_json(l, a, 0);
    return a->result;
}

static json_t *comparable(const json_t *s)
{
    json_t *c = json_deep_copy(s);
    static const char *const drop[] = {"stored", "authority", "version", "timestamp"};
    for (size_t i = 0; c && i < sizeof(drop) / sizeof(drop[0]); i++)
        json_object_del(c, drop[i]);
    return c;
}

int ls_xapi_same_statement(const json_t *sent, const json_t *stored)
{
    json_t *a = comparable(sent), *b = comparable(stored);
    int same = a && b && json_equal(a, b);
    json_decref(a);
    json_decref(b);
    return same;
}
