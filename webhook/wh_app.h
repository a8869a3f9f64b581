/*
 * wh_app.h - the decision on one webhook delivery, without any HTTP: what
 * lmsync-webhook answers and, when it accepts, the job it enqueues.
 *
 * Checks, in order (the first that fails is the answer; nothing is kept):
 * content type application/json (415), body size (413), one JSON object
 * (400 bad_json), the payload's shape: data array, nonce, sig, type
 * INITIAL-PARTIAL | INITIAL-COMPLETE | VIRTUAL | NATIVE, webhook object
 * with connection_id and object_type lms_activity (400 bad_payload),
 * records for one job (413), a known connection (404), the signature (401),
 * a nonce not seen within the window (409), the connection's token bucket
 * (429). Only then is the nonce remembered: a rejected delivery may be sent
 * again. Thread-safe (one mutex): the HTTP thread checks while the main
 * loop replaces the known connections.
 */
#ifndef WH_APP_H
#define WH_APP_H

#include <stddef.h>
#include <stdint.h>
#include "ls_job.h"
#include "ls_strmap.h"
#include "wh_sig.h"

typedef enum {
    WH_ACCEPTED,
    WH_NOT_FOUND,          /* 404: not POST /webhook */
    WH_BAD_CONTENT_TYPE,   /* 415 */
    WH_TOO_LARGE,          /* 413: body over webhook.max_body_kb, or more records than one job holds */
    WH_BAD_JSON,           /* 400 */
    WH_BAD_PAYLOAD,        /* 400: not Unified's webhook shape */
    WH_UNKNOWN_CONNECTION, /* 404 */
    WH_BAD_SIGNATURE,      /* 401 */
    WH_REPLAYED_NONCE,     /* 409 */
    WH_RATE_LIMITED,       /* 429 */
    WH_ENQUEUE_FAILED,     /* 503: Kafka refused the job */
    WH__COUNT
} wh_result_t;

/** Metric label of a result ("accepted", "bad_signature", ...). */
const char *wh_result_name(wh_result_t r);
/** HTTP status answered for a result. */
int wh_result_status(wh_result_t r);

typedef struct wh_app_conf {
    const uint8_t *secret;  /* borrowed, valid for the app's life */
    size_t secret_len;
    wh_sig_enc_t enc;
    size_t max_body;        /* bytes */
    int64_t nonce_window_ms;
    double rate_per_s;      /* per connection; 0 = unlimited */
    double burst;
    const char *workspace;  /* borrowed: the Unified workspace served (webhook.workspace; NULL or "" = the default) */
} wh_app_conf_t;

typedef struct wh_app wh_app_t;

/** NULL when out of memory. */
wh_app_t *wh_app_new(const wh_app_conf_t *conf);
void wh_app_destroy(wh_app_t *a);

/** Replace the known connections (takes known: a map whose names are connection ids). */
void wh_app_set_connections(wh_app_t *a, ls_strmap_t *known);

/** Connections known now. */
size_t wh_app_connections(wh_app_t *a);

/**
 * Decide on one delivery received at now_ms (wall clock). content_type may
 * be NULL. On WH_ACCEPTED, *job is a webhook job for the connection
 * (ls_job_release) of the served workspace (its "workspace"; job id
 * "{qualified connection}@webhook-..."); its records are NULL when data was
 * empty (nothing to enqueue). Otherwise why holds the one-line reason and *job is empty.
 */
wh_result_t wh_app_check(wh_app_t *a, const char *content_type, const char *body, size_t len, int64_t now_ms,
                         ls_job_t *job, char *why, size_t whysz);

#endif
