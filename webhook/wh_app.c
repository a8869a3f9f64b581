/*
 * wh_app.c - the decision on one webhook delivery (see wh_app.h).
 */
#include "wh_app.h"
#include "ls_err.h"
#include "ls_hash.h"
#include "ls_ratelimit.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NONCE_MAX 128
#define SWEEP_EVERY_MS 10000

struct wh_app {
    wh_app_conf_t conf;
    pthread_mutex_t mu;
    ls_strmap_t *known;    /* connection id -> (nothing) */
    ls_strmap_t *nonces;   /* nonce -> int64_t ms it was accepted */
    ls_strmap_t *buckets;  /* connection id -> ls_bucket_t */
    int64_t swept_ms;
};

static const struct {
    const char *name;
    int status;
} results[WH__COUNT] = {
    [WH_ACCEPTED] = {"accepted", 202},
    [WH_NOT_FOUND] = {"not_found", 404},
    [WH_BAD_CONTENT_TYPE] = {"bad_content_type", 415},
    [WH_TOO_LARGE] = {"too_large", 413},
    [WH_BAD_JSON] = {"bad_json", 400},
    [WH_BAD_PAYLOAD] = {"bad_payload", 400},
    [WH_UNKNOWN_CONNECTION] = {"unknown_connection", 404},
    [WH_BAD_SIGNATURE] = {"bad_signature", 401},
    [WH_REPLAYED_NONCE] = {"replayed_nonce", 409},
    [WH_RATE_LIMITED] = {"rate_limited", 429},
    [WH_ENQUEUE_FAILED] = {"enqueue_failed", 503},
};

const char *wh_result_name(wh_result_t r)
{
    return (unsigned)r < WH__COUNT ? results[r].name : "?";
}

int wh_result_status(wh_result_t r)
{
    return (unsigned)r < WH__COUNT ? results[r].status : 500;
}

wh_app_t *wh_app_new(const wh_app_conf_t *conf)
{
    wh_app_t *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->conf = *conf;
    a->known = ls_strmap_new(1);
    a->nonces = ls_strmap_new(sizeof(int64_t));
    a->buckets = ls_strmap_new(sizeof(ls_bucket_t));
    if (!a->known || !a->nonces || !a->buckets || pthread_mutex_init(&a->mu, NULL) != 0) {
        ls_strmap_destroy(a->known);
        ls_strmap_destroy(a->nonces);
        ls_strmap_destroy(a->buckets);
        free(a);
        return NULL;
    }
    return a;
}

void wh_app_destroy(wh_app_t *a)
{
    if (!a)
        return;
    ls_strmap_destroy(a->known);
    ls_strmap_destroy(a->nonces);
    ls_strmap_destroy(a->buckets);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

void wh_app_set_connections(wh_app_t *a, ls_strmap_t *known)
{
    pthread_mutex_lock(&a->mu);
    ls_strmap_destroy(a->known);
    a->known = known;
    pthread_mutex_unlock(&a->mu);
}

size_t wh_app_connections(wh_app_t *a)
{
    pthread_mutex_lock(&a->mu);
    size_t n = ls_strmap_count(a->known);
    pthread_mutex_unlock(&a->mu);
    return n;
}

static int json_content_type(const char *ct)
{
    size_t n = strlen("application/json");
    return ct && strncasecmp(ct, "application/json", n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* The members a delivery must have (borrowed from o). */
typedef struct delivery {
    json_t *data;
    const char *nonce, *sig, *conn, *integration;
} delivery_t;

static int one_of(const char *s, const char *const *set)
{
    for (; s && *set; set++)
        if (strcmp(s, *set) == 0)
            return 1;
    return 0;
}

static wh_result_t read_delivery(json_t *o, delivery_t *d, char *why, size_t whysz)
{
    static const char *const types[] = {"INITIAL-PARTIAL", "INITIAL-COMPLETE", "VIRTUAL", "NATIVE", NULL};
    json_t *wh = json_object_get(o, "webhook");
    char kp[64];
    d->data = json_object_get(o, "data");
    d->nonce = json_string_value(json_object_get(o, "nonce"));
    d->sig = json_string_value(json_object_get(o, "sig"));
    d->conn = json_string_value(json_object_get(wh, "connection_id"));
    d->integration = json_string_value(json_object_get(wh, "integration_type"));
    const char *type = json_string_value(json_object_get(o, "type"));
    const char *object = json_string_value(json_object_get(wh, "object_type"));
    if (!json_is_array(d->data))
        snprintf(why, whysz, "member 'data' is not an array");
    else if (!d->nonce || !d->nonce[0] || strlen(d->nonce) > NONCE_MAX)
        snprintf(why, whysz, "member 'nonce' is not a string of 1..%d bytes", NONCE_MAX);
    else if (!d->sig)
        snprintf(why, whysz, "member 'sig' is not a string");
    else if (!one_of(type, types))
        snprintf(why, whysz, "member 'type' is not INITIAL-PARTIAL, INITIAL-COMPLETE, VIRTUAL or NATIVE");
    else if (!json_is_object(wh) || !d->conn || ls_key_part_check(d->conn, kp, sizeof(kp)) != LS_OK ||
             !d->conn[0] || strlen(d->conn) > LS_STR_MAX)
        snprintf(why, whysz, "member 'webhook.connection_id' is not a usable connection id");
    else if (!object || strcmp(object, "lms_activity") != 0)
        snprintf(why, whysz, "member 'webhook.object_type' is not lms_activity");
    else if (d->integration && strlen(d->integration) >= sizeof(((ls_job_t *)0)->integration_type))
        snprintf(why, whysz, "member 'webhook.integration_type' is too long");
    else
        return WH_ACCEPTED;
    return WH_BAD_PAYLOAD;
}

/* Forget nonces older than the window (every SWEEP_EVERY_MS at most). */
static int expired(const char *name, void *value, void *ud)
{
    (void)name;
    return *(const int64_t *)value < *(const int64_t *)ud;
}

static void sweep_nonces(wh_app_t *a, int64_t now_ms)
{
    if (now_ms - a->swept_ms < SWEEP_EVERY_MS)
        return;
    int64_t cutoff = now_ms - a->conf.nonce_window_ms;
    ls_strmap_sweep(a->nonces, expired, &cutoff);
    a->swept_ms = now_ms;
}

/* Replayed nonce, then the connection's bucket; on success the nonce is remembered. */
static wh_result_t admit(wh_app_t *a, const delivery_t *d, int64_t now_ms, char *why, size_t whysz)
{
    sweep_nonces(a, now_ms);
    const int64_t *seen = ls_strmap_get(a->nonces, d->nonce);
    if (seen && now_ms - *seen < a->conf.nonce_window_ms) {
        snprintf(why, whysz, "nonce already accepted %lld ms ago", (long long)(now_ms - *seen));
        return WH_REPLAYED_NONCE;
    }
    int added = 0;
    ls_bucket_t *b = ls_strmap_put(a->buckets, d->conn, &added);
    if (!b) {
        snprintf(why, whysz, "out of memory");
        return WH_ENQUEUE_FAILED;
    }
    if (added)
        ls_bucket_init(b, a->conf.rate_per_s, a->conf.burst, now_ms);
    int64_t wait = ls_bucket_wait(b, now_ms);
    if (wait > 0) {
        snprintf(why, whysz, "deliveries of this connection over webhook.connection_rate; next in %lld ms",
                 (long long)wait);
        return WH_RATE_LIMITED;
    }
    int64_t *slot = ls_strmap_put(a->nonces, d->nonce, NULL);
    if (!slot) {
        snprintf(why, whysz, "out of memory");
        return WH_ENQUEUE_FAILED;
    }
    ls_bucket_take(b, now_ms);
    *slot = now_ms;
    return WH_ACCEPTED;
}

static void build_job(const wh_app_t *a, const delivery_t *d, int64_t now_ms, ls_job_t *job)
{
    uint64_t h = ls_hash64(d->nonce, strlen(d->nonce), LS_HASH_SEED);
    char conn[LS_KEY_MAX];
    snprintf(job->connection_id, sizeof(job->connection_id), "%s", d->conn);
    snprintf(job->workspace, sizeof(job->workspace), "%s", a->conf.workspace ? a->conf.workspace : "");
    ls_conn_qualify(job->workspace, d->conn, conn, sizeof(conn));
    snprintf(job->job_id, sizeof(job->job_id), "%s@webhook-%lld-%08x", conn, (long long)now_ms,
             (unsigned)(h & 0xffffffffu));
    snprintf(job->integration_type, sizeof(job->integration_type), "%s", d->integration ? d->integration : "");
    job->mode = LS_MODE_WEBHOOK;
    job->scheduled_at = now_ms;
}

/* After the payload parsed: size for one job, connection, signature, then admission. */
static wh_result_t check_delivery(wh_app_t *a, json_t *o, const char *body, size_t len, int64_t now_ms,
                                  ls_job_t *job, char *why, size_t whysz)
{
    delivery_t d;
    size_t off, dlen;
    char err[256];
    wh_result_t r = read_delivery(o, &d, why, whysz);
    if (r != WH_ACCEPTED)
        return r;
    if (json_array_size(d.data) && ls_job_set_records(job, d.data, err, sizeof(err)) != LS_OK) {
        snprintf(why, whysz, "data does not fit one job: %s", err);
        return WH_TOO_LARGE;
    }
    if (!ls_strmap_get(a->known, d.conn)) {
        snprintf(why, whysz, "connection \"%s\" is not one lmsync polls", d.conn);
        return WH_UNKNOWN_CONNECTION;
    }
    if (wh_raw_member(body, len, "data", &off, &dlen) != 0 ||
        !wh_sig_verify(a->conf.secret, a->conf.secret_len, body + off, dlen, d.nonce, a->conf.enc, d.sig)) {
        snprintf(why, whysz, "signature does not match (connection \"%s\")", d.conn);
        return WH_BAD_SIGNATURE;
    }
    r = admit(a, &d, now_ms, why, whysz);
    if (r == WH_ACCEPTED)
        build_job(a, &d, now_ms, job);
    return r;
}

wh_result_t wh_app_check(wh_app_t *a, const char *content_type, const char *body, size_t len, int64_t now_ms,
                         ls_job_t *job, char *why, size_t whysz)
{
    json_error_t je;
    memset(job, 0, sizeof(*job));
    why[0] = '\0';
    if (!json_content_type(content_type)) {
        snprintf(why, whysz, "content type \"%.60s\" is not application/json", content_type ? content_type : "");
        ls_err_printable(why);
        return WH_BAD_CONTENT_TYPE;
    }
    if (len > a->conf.max_body) {
        snprintf(why, whysz, "body over %zu bytes (webhook.max_body_kb)", a->conf.max_body);
        return WH_TOO_LARGE;
    }
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(o)) {
        if (o)
            snprintf(why, whysz, "body is not a JSON object");
        else
            snprintf(why, whysz, "invalid JSON at byte %d: %s", je.position, je.text);
        ls_err_printable(why);
        json_decref(o);
        return WH_BAD_JSON;
    }
    pthread_mutex_lock(&a->mu);
    wh_result_t r = check_delivery(a, o, body, len, now_ms, job, why, whysz);
    pthread_mutex_unlock(&a->mu);
    json_decref(o);
    if (r != WH_ACCEPTED)
        ls_job_release(job);
    return r;
}
