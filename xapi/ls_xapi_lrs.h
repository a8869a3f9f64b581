/*
 * ls_xapi_lrs.h - a Learning Record Store's statements resource over libcurl.
 *
 * POST /statements with a batch and GET /statements?statementId= for one,
 * with "X-Experience-API-Version: 1.0.3" and Basic credentials. Every
 * answer is classified once here, so the delivery loop never sees an HTTP
 * status or a CURLcode: accepted, "the content is refused" (400/409/413:
 * bisect), or "try again later" (429, 5xx, timeouts, refused credentials,
 * an answer that is not xAPI JSON).
 */
#ifndef LS_XAPI_LRS_H
#define LS_XAPI_LRS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ls_xapi_lrs ls_xapi_lrs_t;

/* Why a request did not succeed; names (ls_xapi_fail_names) are metric labels. */
typedef enum {
    LS_LRS_OK = 0,
    LS_LRS_REFUSED,      /* 400, 409, 413: the content (bisect; one statement: dead-letter or duplicate) */
    LS_LRS_THROTTLED,    /* 429 */
    LS_LRS_SERVER,       /* 5xx */
    LS_LRS_AUTH,         /* 401, 403 */
    LS_LRS_CLIENT,       /* any other 4xx (404: a wrong xapi.lrs_url) */
    LS_LRS_BAD_RESPONSE, /* 2xx whose body is not the JSON xAPI promises (an HTML page, a proxy) */
    LS_LRS_TRANSPORT,    /* connection refused, timeout, TLS ... */
    LS_LRS__COUNT
} ls_lrs_result_t;

extern const char *const ls_xapi_fail_names[LS_LRS__COUNT + 1]; /* NULL-terminated, [0] = "ok" */

typedef struct ls_lrs_answer {
    ls_lrs_result_t result;
    long status;            /* HTTP status, 0 without an answer */
    int64_t retry_after_ms; /* Retry-After in ms, -1 when absent */
    char reason[256];       /* one line: "http 503: <first bytes of the body>", never a credential */
} ls_lrs_answer_t;

/**
 * endpoint: xapi.lrs_url (copied; "/statements" is appended); userpwd:
 * "user:password" or NULL (copied, wiped on destroy, never logged).
 * @return NULL with err on failure.
 */
ls_xapi_lrs_t *ls_xapi_lrs_new(const char *endpoint, const char *userpwd, int timeout_s, char *err, size_t errsz);

void ls_xapi_lrs_destroy(ls_xapi_lrs_t *l);

/** POST body (a JSON array of statements). Fills *a. @return a->result. */
ls_lrs_result_t ls_xapi_lrs_post(ls_xapi_lrs_t *l, const char *body, size_t len, ls_lrs_answer_t *a);

/**
 * GET one statement by id. @return LS_LRS_OK with *stmt (new reference);
 * LS_LRS_CLIENT with status 404 when the LRS has none; other results as POST.
 */
ls_lrs_result_t ls_xapi_lrs_get(ls_xapi_lrs_t *l, const char *id, json_t **stmt, ls_lrs_answer_t *a);

/**
 * Whether a stored statement is the one we sent: equal after dropping what
 * an LRS adds or may rewrite (stored, authority, version) and timestamp
 * (the observation-time fallback differs between deliveries, docs/xapi.md).
 */
int ls_xapi_same_statement(const json_t *sent, const json_t *stored);

#endif
