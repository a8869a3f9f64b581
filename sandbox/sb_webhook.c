/*
 * sb_webhook.c - webhook subscriptions and deliveries (see sb_webhook.h).
 *
 * Every 50 ms the sender thread reads the ground-truth change log past each
 * subscription's last seq, keeps the changes of its connection and event
 * (created: a record that was new; updated: a record that existed; removals
 * are not delivered), and when the subscription is due (NATIVE: always;
 * VIRTUAL: every interval) turns them into one delivery: the records'
 * current text (the latest per activity), signed, queued. Queued deliveries
 * are POSTed in order outside the lock; a non-2xx answer or a transport
 * error retries the same body after 250 ms, 500 ms, 1 s ... (at most
 * MAX_ATTEMPTS sends). The body is assembled as text so that the signed
 * bytes of data are exactly the bytes sent.
 */
#include "sb_webhook.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ls_log.h"
#include "sb_profile.h"
#include "ls_time.h"

#define MAX_SUBS 256
#define MAX_ATTEMPTS 8
#define TICK_MS 50

typedef struct sub {
    char id[40], conn[256], integration[64], hook_url[1024], event[16];
    bool native;
    int64_t interval_ms, next_run_ms, created_ms;
    uint64_t seq;            /* next change seq to look at */
    json_t *pending;         /* object activity_id -> record, not yet delivered (VIRTUAL waits for its run) */
} sub_t;

typedef struct delivery {
    char *body, *url;
    int attempt;
    int64_t next_at;
    struct delivery *next;
} delivery_t;

struct sb_webhooks {
    sb_world_t *world;
    char secret[256];
    int hex;
    pthread_mutex_t mu;
    pthread_t thread;
    atomic_int stop;
    sub_t subs[MAX_SUBS];
    size_t n;
    unsigned long next_id;
    delivery_t *head, *tail, *held;   /* queue in send order; held = a reordered delivery */
    long drop, duplicate, reorder;    /* faults left */
    unsigned long long created, sent, delivered, retried, dropped, given_up;
};

/* ---- subscriptions ---- */

static json_t *sub_json(const sub_t *s)
{
    char ts[40];
    time_t t = (time_t)(s->created_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:b}", "id", s->id, "connection_id", s->conn,
                     "integration_type", s->integration, "object_type", "lms_activity", "hook_url", s->hook_url,
                     "event", s->event, "interval", (json_int_t)(s->interval_ms / 60000), "webhook_type",
                     s->native ? "native" : "virtual", "created_at", ts, "is_healthy", 1);
}

static sub_t *find(sb_webhooks_t *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->subs[i].id, id) == 0)
            return &s->subs[i];
    return NULL;
}

/* Read and check the create body into *n (400 with err when it is wrong). */
static int read_sub(const json_t *b, sub_t *n, char *err, size_t errsz)
{
    const char *conn = json_string_value(json_object_get(b, "connection_id"));
    const char *obj = json_string_value(json_object_get(b, "object_type"));
    const char *url = json_string_value(json_object_get(b, "hook_url"));
    const char *event = json_string_value(json_object_get(b, "event"));
    json_t *iv = json_object_get(b, "interval"), *ims = json_object_get(b, "interval_ms");
    if (!conn || !obj || !url || !event) {
        snprintf(err, errsz, "connection_id, object_type, hook_url and event are required");
        return 400;
    }
    if (strcmp(obj, "lms_activity") != 0 || (strcmp(event, "created") && strcmp(event, "updated"))) {
        snprintf(err, errsz, "the sandbox sends lms_activity webhooks for event created or updated");
        return 400;
    }
    if ((strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) || strlen(url) >= sizeof(n->hook_url) ||
        strlen(conn) >= sizeof(n->conn)) {
        snprintf(err, errsz, "hook_url must be an http(s) URL");
        return 400;
    }
    if ((iv && !json_is_number(iv)) || (ims && !json_is_integer(ims))) {
        snprintf(err, errsz, "interval must be a number of minutes, interval_ms an integer");
        return 400;
    }
    snprintf(n->conn, sizeof(n->conn), "%s", conn);
    snprintf(n->hook_url, sizeof(n->hook_url), "%s", url);
    snprintf(n->event, sizeof(n->event), "%s", event);
    n->interval_ms = ims ? (int64_t)json_integer_value(ims) : (int64_t)((iv ? json_number_value(iv) : 60) * 60000);
    if (n->interval_ms < 10)
        n->interval_ms = 10;
    return 200;
}

int sb_webhooks_create(sb_webhooks_t *s, const json_t *body, json_t **out, char *err, size_t errsz)
{
    sub_t n;
    memset(&n, 0, sizeof(n));
    int st = read_sub(body, &n, err, errsz);
    if (st != 200)
        return st;
    json_t *c = sb_world_connection_json(s->world, n.conn);
    if (!c) {
        snprintf(err, errsz, "connection not found");
        return 404;
    }
    snprintf(n.integration, sizeof(n.integration), "%s", json_string_value(json_object_get(c, "integration_type")));
    json_decref(c);
    const sb_profile_t *p = sb_profile_find(n.integration);
    const char *type = json_string_value(json_object_get(body, "webhook_type"));
    n.native = p && (p->webhooks & SB_WH_NATIVE) && !(type && strcmp(type, "virtual") == 0);
    if (type && strcmp(type, n.native ? "native" : "virtual") != 0) {
        snprintf(err, errsz, "%s has no %s webhooks for lms_activity", n.integration, type);
        return 400;
    }
    n.created_ms = ls_time_now_ms();
    n.next_run_ms = ls_time_mono_ms() + n.interval_ms;
    n.seq = sb_world_next_seq(s->world);
    n.pending = json_object();
    pthread_mutex_lock(&s->mu);
    if (s->n == MAX_SUBS) {
        pthread_mutex_unlock(&s->mu);
        json_decref(n.pending);
        snprintf(err, errsz, "too many webhooks (%d)", MAX_SUBS);
        return 400;
    }
    snprintf(n.id, sizeof(n.id), "wh-%06lu", ++s->next_id);
    s->subs[s->n++] = n;
    *out = sub_json(&n);
    pthread_mutex_unlock(&s->mu);
    ls_info("webhook %s: %s %s of \"%s\" to %s", n.id, n.native ? "native" : "virtual", n.event, n.conn, n.hook_url);
    return 200;
}

json_t *sb_webhooks_list(sb_webhooks_t *s, const char *connection_id, size_t limit, size_t offset)
{
    json_t *arr = json_array();
    size_t seen = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n && json_array_size(arr) < limit; i++)
        if ((!connection_id || strcmp(connection_id, s->subs[i].conn) == 0) && seen++ >= offset)
            json_array_append_new(arr, sub_json(&s->subs[i]));
    pthread_mutex_unlock(&s->mu);
    return arr;
}

int sb_webhooks_get(sb_webhooks_t *s, const char *id, json_t **out)
{
    pthread_mutex_lock(&s->mu);
    sub_t *w = find(s, id);
    *out = w ? sub_json(w) : NULL;
    pthread_mutex_unlock(&s->mu);
    return w ? 200 : 404;
}

int sb_webhooks_delete(sb_webhooks_t *s, const char *id, json_t **out)
{
    pthread_mutex_lock(&s->mu);
    sub_t *w = find(s, id);
    if (w) {
        *out = sub_json(w);
        json_decref(w->pending);
        memmove(w, w + 1, (size_t)(s->subs + --s->n - w) * sizeof(*w)); /* the list keeps its order */
    }
    pthread_mutex_unlock(&s->mu);
    return w ? 200 : 404;
}

int sb_webhooks_faults(sb_webhooks_t *s, const char *method, const json_t *body, json_t **out, char *err,
                       size_t errsz)
{
    const char *keys[] = {"drop", "duplicate", "reorder"};
    pthread_mutex_lock(&s->mu);
    long *slots[] = {&s->drop, &s->duplicate, &s->reorder};
    for (int i = 0; i < 3; i++) {
        json_t *v = body ? json_object_get(body, keys[i]) : NULL;
        if (v && (!json_is_integer(v) || json_integer_value(v) < 0)) {
            pthread_mutex_unlock(&s->mu);
            snprintf(err, errsz, "%s must be a non-negative integer", keys[i]);
            return 400;
        }
        if (strcmp(method, "DELETE") == 0)
            *slots[i] = 0;
        else if (v)
            *slots[i] = (long)json_integer_value(v);
    }
    *out = json_pack("{s:I,s:I,s:I}", "drop", (json_int_t)s->drop, "duplicate", (json_int_t)s->duplicate,
                     "reorder", (json_int_t)s->reorder);
    pthread_mutex_unlock(&s->mu);
    return 200;
}

json_t *sb_webhooks_stats(sb_webhooks_t *s)
{
    pthread_mutex_lock(&s->mu);
    json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "created", (json_int_t)s->created, "sent",
                          (json_int_t)s->sent, "delivered", (json_int_t)s->delivered, "retried",
                          (json_int_t)s->retried, "dropped", (json_int_t)s->dropped, "given_up",
                          (json_int_t)s->given_up);
    pthread_mutex_unlock(&s->mu);
    return j;
}

/* ---- deliveries ---- */

static void random_hex(char *out, size_t n)
{
    static const char hexd[] = "0123456789abcdef";
    FILE *f = fopen("/dev/urandom", "rb");
    for (size_t i = 0; i + 1 < n; i++) {
        int c = f ? fgetc(f) : rand();
        out[i] = hexd[(unsigned)c & 15u];
    }
    out[n - 1] = '\0';
    if (f)
        fclose(f);
}

/* The signed body: {"data":<data>,"webhook":{...},"nonce":"...","sig":"...","type":"..."} (malloc'd). */
static char *build_body(const sb_webhooks_t *s, const sub_t *w, const char *data)
{
    char nonce[33], sig[64];
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t mdlen = 0, dlen = strlen(data);
    random_hex(nonce, sizeof(nonce));
    char *msg = malloc(dlen + sizeof(nonce));
    if (!msg)
        return NULL;
    memcpy(msg, data, dlen);
    memcpy(msg + dlen, nonce, sizeof(nonce));
    void *ok = EVP_Q_mac(NULL, "HMAC", NULL, "SHA1", NULL, s->secret, strlen(s->secret), (unsigned char *)msg,
                         dlen + strlen(nonce), md, sizeof(md), &mdlen);
    free(msg);
    if (!ok)
        return NULL;
    if (s->hex)
        for (size_t k = 0; k < mdlen; k++)
            snprintf(sig + 2 * k, 3, "%02x", md[k]);
    else
        EVP_EncodeBlock((unsigned char *)sig, md, (int)mdlen);
    json_t *wj = sub_json(w);
    char *wtext = json_dumps(wj, JSON_COMPACT);
    json_decref(wj);
    size_t cap = dlen + (wtext ? strlen(wtext) : 0) + 256;
    char *body = wtext ? malloc(cap) : NULL;
    if (body)
        snprintf(body, cap, "{\"data\":%s,\"webhook\":%s,\"nonce\":\"%s\",\"sig\":\"%s\",\"type\":\"%s\"}", data,
                 wtext, nonce, sig, w->native ? "NATIVE" : "VIRTUAL");
    free(wtext);
    return body;
}

static void enqueue(sb_webhooks_t *s, delivery_t *d)
{
    d->next = NULL;
    if (s->tail)
        s->tail->next = d;
    else
        s->head = d;
    s->tail = d;
}

static delivery_t *new_delivery(sb_webhooks_t *s, const sub_t *w, const char *data)
{
    delivery_t *d = calloc(1, sizeof(*d));
    if (d && (!(d->body = build_body(s, w, data)) || !(d->url = strdup(w->hook_url)))) {
        free(d->body);
        free(d);
        d = NULL;
    }
    return d;
}

/* A subscription's pending records become a delivery, through the faults (under the lock). */
static void emit(sb_webhooks_t *s, sub_t *w)
{
    json_t *arr = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(w->pending, k, v) json_array_append(arr, v);
    json_object_clear(w->pending);
    char *data = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    delivery_t *d = data ? new_delivery(s, w, data) : NULL;
    s->created += d != NULL;
    if (d && s->drop > 0) {
        s->drop--;
        s->dropped++;
        ls_info("webhook %s: delivery dropped (fault)", w->id);
        free(d->body), free(d->url), free(d);
        d = NULL;
    }
    if (d && s->reorder > 0 && !s->held) {
        s->reorder--;
        s->held = d; /* goes out after the next delivery */
        d = NULL;
    }
    if (d) {
        enqueue(s, d);
        if (s->held) {
            enqueue(s, s->held);
            s->held = NULL;
        }
        if (s->duplicate > 0) {
            delivery_t *again = new_delivery(s, w, data);
            s->duplicate--;
            if (again)
                enqueue(s, again);
        }
    }
    free(data);
}

/* Take the new changes of every subscription; emit those that are due (under the lock). */
static void collect(sb_webhooks_t *s, int64_t now)
{
    for (size_t i = 0; i < s->n; i++) {
        sub_t *w = &s->subs[i];
        json_t *ch = sb_world_changes(s->world, w->seq, 10000);
        json_t *arr = json_object_get(ch, "changes"), *c;
        size_t j;
        json_array_foreach(arr, j, c) {
            json_t *after = json_object_get(c, "after");
            const char *conn = json_string_value(json_object_get(c, "connection_id"));
            const char *act = json_string_value(json_object_get(c, "activity_id"));
            int created = json_is_null(json_object_get(c, "before"));
            if (!conn || !act || strcmp(conn, w->conn) != 0)
                continue;
            if (json_is_null(after) && !w->native) /* a virtual run sees only records that still exist */
                json_object_del(w->pending, act);
            else if (json_is_object(after) && created == (strcmp(w->event, "created") == 0))
                json_object_set(w->pending, act, after);
        }
        w->seq = (uint64_t)json_integer_value(json_object_get(ch, "next"));
        json_decref(ch);
        if (!w->native && now < w->next_run_ms)
            continue;
        if (!w->native)
            w->next_run_ms = now + w->interval_ms;
        if (json_object_size(w->pending))
            emit(s, w);
    }
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p, (void)ud;
    return size * n;
}

/* POST one delivery; the HTTP status (0 = transport error). */
static long post(CURL *c, const delivery_t *d)
{
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    long status = 0;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, d->url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, d->body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    return status;
}

/* Send the head of the queue if it is due; 1 when one was sent. */
static int send_one(sb_webhooks_t *s, CURL *c, int64_t now)
{
    pthread_mutex_lock(&s->mu);
    delivery_t *d = s->head;
    if (!d || d->next_at > now) {
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    s->head = d->next;
    if (!s->head)
        s->tail = NULL;
    pthread_mutex_unlock(&s->mu);
    long status = post(c, d);
    pthread_mutex_lock(&s->mu);
    s->sent++;
    int ok = status >= 200 && status < 300;
    if (ok || ++d->attempt >= MAX_ATTEMPTS) {
        s->delivered += ok;
        s->given_up += !ok;
        if (!ok)
            ls_warn("webhook delivery to %s given up after %d attempts (last status %ld)", d->url, d->attempt, status);
        free(d->body), free(d->url), free(d);
    } else {
        s->retried++;
        d->next_at = ls_time_mono_ms() + (250LL << (d->attempt - 1));
        enqueue(s, d); /* the retry goes to the back: later deliveries are not held up */
    }
    pthread_mutex_unlock(&s->mu);
    return 1;
}

static void *run(void *arg)
{
    sb_webhooks_t *s = arg;
    CURL *c = curl_easy_init();
    while (!atomic_load(&s->stop)) {
        int64_t now = ls_time_mono_ms();
        pthread_mutex_lock(&s->mu);
        collect(s, now);
        pthread_mutex_unlock(&s->mu);
        int sent = 0;
        while (c && !atomic_load(&s->stop) && send_one(s, c, ls_time_mono_ms()))
            sent++;
        if (!sent) {
            struct timespec ts = {0, TICK_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    curl_easy_cleanup(c);
    return NULL;
}

sb_webhooks_t *sb_webhooks_new(sb_world_t *world, const char *secret, int hex)
{
    sb_webhooks_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->world = world;
    s->hex = hex;
    snprintf(s->secret, sizeof(s->secret), "%s", secret);
    pthread_mutex_init(&s->mu, NULL);
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        return NULL;
    }
    return s;
}

void sb_webhooks_destroy(sb_webhooks_t *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    for (size_t i = 0; i < s->n; i++)
        json_decref(s->subs[i].pending);
    for (delivery_t *d = s->head, *n; d; d = n) {
        n = d->next;
        free(d->body), free(d->url), free(d);
    }
    if (s->held)
        free(s->held->body), free(s->held->url), free(s->held);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
