/*
 * ls_xapi_run.c - the delivery loop of lmsync-xapi (docs/xapi.md).
 *
 * A batch is the consumed messages since the last commit. It is resolved
 * as a whole before any offset moves: its statements are accepted by the
 * LRS (or found there already), the ones the LRS refuses and the events
 * that cannot be read are acknowledged on the dead-letter topic, and only
 * then are the offsets committed. A crash anywhere before the commit
 * re-delivers the batch; its statements have the same ids, so the LRS
 * keeps one copy. The LRS being down, slow or refusing credentials only
 * delays: the same batch is retried with exponential backoff (Retry-After
 * honoured) and nothing is committed meanwhile.
 */
#include "ls_xapi_run.h"
#include "ls_grow.h"
#include "ls_err.h"
#include "ls_kafka.h"
#include "ls_log.h"
#include "ls_daemon.h"
#include "ls_time.h"
#include "ls_xapi_lrs.h"
#include "ls_xapi_map.h"
#include "ls_xapi_metrics.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_FIRST_MS 500
#define RETRY_AFTER_MAX_MS (3600 * 1000)

typedef struct item {
    int partition;
    int64_t offset;
    char *value, *key; /* copies, for the dead-letter topic */
    size_t len, key_len;
    char ce_id[64];
    json_t *stmt;      /* the mapped statement, NULL when none */
    char id[LS_XAPI_UUID_LEN + 1];
    char dlq[400];     /* reason when the item goes to the dead-letter topic, "" otherwise */
} item_t;

typedef struct xapi {
    const ls_config_t *cfg;
    volatile sig_atomic_t *stop;
    ls_xapi_map_conf_t mc;
    ls_consumer_t *cons;
    ls_producer_t *prod;
    ls_xapi_lrs_t *lrs;
    char topic_in[128], topic_dlq[128], group[128];
    item_t *items;
    size_t n, cap;
    int64_t first_ms;   /* monotonic time the batch's first message arrived */
    int64_t backoff_ms; /* next wait after a failure; reset by a success */
    int failures;       /* consecutive failed LRS requests */
    ls_lrs_result_t last_fail;
} xapi_t;

/* ---- settings ---- */

static int check_iri_base(const char *key, const char *v, char *err, size_t errsz)
{
    size_t n = strlen(v);
    if ((strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) || v[n - 1] != '/') {
        snprintf(err, errsz, "setting '%s' must be an http(s) IRI ending with '/', got \"%.60s\"", key, v);
        return LS_EINVAL;
    }
    return LS_OK;
}

int ls_xapi_check_config(const ls_config_t *cfg, char *err, size_t errsz)
{
    const char *u = cfg->xapi_lrs_url;
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
        snprintf(err, errsz, "setting 'xapi.lrs_url' must start with http:// or https://, got \"%.60s\"", u);
        return LS_EINVAL;
    }
    if (check_iri_base("xapi.activity_base", cfg->xapi_activity_base, err, errsz) != LS_OK ||
        check_iri_base("xapi.actor_base", cfg->xapi_actor_base, err, errsz) != LS_OK)
        return LS_EINVAL;
    if (strcmp(cfg->xapi_actor_scope, "connection") != 0 && strcmp(cfg->xapi_actor_scope, "tenant") != 0) {
        snprintf(err, errsz, "setting 'xapi.actor_scope' must be connection or tenant, got \"%.40s\"", cfg->xapi_actor_scope);
        return LS_EINVAL;
    }
    return LS_OK;
}

/* "user:password" from xapi.credentials_file into buf (the content is never logged). */
static int read_credentials(const char *path, char *buf, size_t bufsz, char *err, size_t errsz)
{
    buf[0] = '\0';
    if (!*path)
        return LS_OK;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errsz, "setting 'xapi.credentials_file': cannot open \"%.200s\": %s", path, strerror(errno));
        return LS_EINVAL;
    }
    size_t n = fread(buf, 1, bufsz - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    if (!strchr(buf, ':') || buf[0] == ':') {
        memset(buf, 0, bufsz);
        snprintf(err, errsz, "setting 'xapi.credentials_file': \"%.200s\" must hold one line \"user:password\"", path);
        return LS_EINVAL;
    }
    return LS_OK;
}

/* ---- the batch ---- */

static void item_release(item_t *it)
{
    free(it->value);
    free(it->key);
    json_decref(it->stmt);
    memset(it, 0, sizeof(*it));
}

static void batch_clear(xapi_t *x)
{
    for (size_t i = 0; i < x->n; i++)
        item_release(&x->items[i]);
    x->n = 0;
}

static char *dup_bytes(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s && n)
        memcpy(s, p, n);
    if (s)
        s[n] = '\0';
    return s;
}

/* Map one message into a new batch item. */
static int take(xapi_t *x, const ls_kmsg_t *m)
{
    item_t *grown = ls_grow(x->items, &x->cap, x->n, sizeof(*x->items), 64);
    if (!grown)
        return LS_ENOMEM;
    x->items = grown;
    item_t *it = &x->items[x->n];
    memset(it, 0, sizeof(*it));
    it->partition = m->partition;
    it->offset = m->offset;
    it->value = dup_bytes(m->value ? m->value : "", m->value ? m->len : 0);
    it->key = dup_bytes(m->key ? m->key : "", m->key ? m->key_len : 0);
    if (!it->value || !it->key) {
        item_release(it);
        return LS_ENOMEM;
    }
    it->len = m->value ? m->len : 0;
    it->key_len = m->key ? m->key_len : 0;
    size_t idlen = 0;
    const char *ce = ls_kmsg_header(m, "ce_id", &idlen);
    if (ce && idlen < sizeof(it->ce_id))
        memcpy(it->ce_id, ce, idlen);
    if (x->n == 0)
        x->first_ms = ls_time_mono_ms();
    x->n++;
    json_error_t jerr;
    json_t *ev = json_loadb(it->value, it->len, 0, &jerr);
    char why[256];
    ls_xapi_outcome_t o = ls_xapi_map(&x->mc, it->ce_id[0] ? it->ce_id : NULL, ev, &it->stmt, why, sizeof(why));
    if (!ev)
        snprintf(why, sizeof(why), "value is not JSON: %s", jerr.text);
    json_decref(ev);
    ls_metric_add(XM_EVENTS, (int)o, 0, 1);
    if (o == LS_XAPI_UNDECODABLE) {
        snprintf(it->dlq, sizeof(it->dlq), "undecodable: %s", why);
        ls_warn("event at \"%s\" [%d] offset %lld is undecodable, to the dead-letter topic: %s", x->topic_in,
                m->partition, (long long)m->offset, why);
    } else if (o == LS_XAPI_MAPPED) {
        snprintf(it->id, sizeof(it->id), "%s", json_string_value(json_object_get(it->stmt, "id")));
    } else {
        ls_debug("event %s: no statement: %s", it->ce_id, why);
    }
    return LS_OK;
}

/* ---- waiting ---- */

static void heartbeat(xapi_t *x)
{
    ls_metrics_heartbeat(ls_time_mono_ms(), ls_consumer_reachable(x->cons) ? LS_PROC_READY : LS_PROC_NO_KAFKA);
}

/* Sleep ms in short slices (heartbeats go on); LS_ESTOP when a stop was asked for. */
static int pause_ms(xapi_t *x, int64_t ms)
{
    int64_t until = ls_time_mono_ms() + ms;
    while (!*x->stop) {
        heartbeat(x);
        int64_t left = until - ls_time_mono_ms();
        if (left <= 0)
            return LS_OK;
        struct timespec ts = {0, (long)((left < 200 ? left : 200) * 1000000L)};
        nanosleep(&ts, NULL);
    }
    return LS_ESTOP;
}

/* Count and log a failed LRS request (one line per change of reason), then back off. */
static int lrs_failed(xapi_t *x, const ls_lrs_answer_t *a, const char *what)
{
    ls_metric_add(XM_LRS_ERRORS, (int)a->result, 0, 1);
    ls_metric_set(XM_LRS_UP, 0, 0, 0);
    int64_t wait = x->backoff_ms;
    if (a->retry_after_ms >= 0)
        wait = a->retry_after_ms < RETRY_AFTER_MAX_MS ? a->retry_after_ms : RETRY_AFTER_MAX_MS;
    if (x->failures == 0 || x->last_fail != a->result)
        ls_warn("lrs %s failed (%s), keeping offsets, retrying in %lld ms: %s", what,
                ls_xapi_fail_names[a->result], (long long)wait, a->reason);
    x->failures++;
    x->last_fail = a->result;
    int64_t cap = (int64_t)x->cfg->xapi_max_backoff_s * 1000;
    x->backoff_ms = x->backoff_ms * 2 < cap ? x->backoff_ms * 2 : cap;
    return pause_ms(x, wait);
}

static void lrs_answered(xapi_t *x)
{
    if (x->failures > 0)
        ls_info("lrs answers again after %d failed request(s)", x->failures);
    x->failures = 0;
    x->backoff_ms = BACKOFF_FIRST_MS;
    ls_metric_set(XM_LRS_UP, 0, 0, 1);
}

/* ---- delivery ---- */

/* One statement the LRS refused: a 409 with our content is a duplicate; anything else is dead-lettered. */
static int resolve_refused(xapi_t *x, item_t *it, const ls_lrs_answer_t *post)
{
    if (post->status != 409) {
        snprintf(it->dlq, sizeof(it->dlq), "rejected by the lrs: %s", post->reason);
        return LS_OK;
    }
    for (;;) {
        ls_lrs_answer_t a;
        json_t *stored = NULL;
        if (ls_xapi_lrs_get(x->lrs, it->id, &stored, &a) == LS_LRS_OK) {
            lrs_answered(x);
            int same = ls_xapi_same_statement(it->stmt, stored);
            json_decref(stored);
            if (same)
                ls_metric_add(XM_STATEMENTS, XM_ST_DUPLICATE, 0, 1);
            else
                snprintf(it->dlq, sizeof(it->dlq), "conflict: the lrs holds statement %s with other content (%.200s)",
                         it->id, post->reason);
            return LS_OK;
        }
        if (a.result == LS_LRS_CLIENT && a.status == 404) {
            snprintf(it->dlq, sizeof(it->dlq), "rejected by the lrs: %s", post->reason);
            return LS_OK;
        }
        if (lrs_failed(x, &a, "get") != LS_OK)
            return LS_ESTOP;
    }
}

static char *batch_body(item_t **its, size_t n, size_t *len)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(arr, its[i]->stmt);
    char *body = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    *len = body ? strlen(body) : 0;
    return body;
}

/* Post its[0..n) until accepted; a refused batch is bisected down to the statements at fault. */
static int deliver(xapi_t *x, item_t **its, size_t n)
{
    if (n == 0)
        return LS_OK;
    size_t len;
    char *body = batch_body(its, n, &len);
    if (!body)
        return LS_ENOMEM;
    for (;;) {
        ls_lrs_answer_t a;
        int64_t t0 = ls_time_mono_ms();
        ls_lrs_result_t r = ls_xapi_lrs_post(x->lrs, body, len, &a);
        ls_metric_observe(XM_POST_SECONDS, 0, 0, (double)(ls_time_mono_ms() - t0) / 1000.0);
        if (r == LS_LRS_OK || r == LS_LRS_REFUSED) {
            free(body);
            lrs_answered(x);
            if (r == LS_LRS_OK) {
                ls_metric_add(XM_POSTS, 0, 0, 1);
                ls_metric_add(XM_STATEMENTS, XM_ST_ACCEPTED, 0, n);
                return LS_OK;
            }
            ls_metric_add(XM_LRS_ERRORS, (int)r, 0, 1);
            if (n == 1)
                return resolve_refused(x, its[0], &a);
            int rc = deliver(x, its, n / 2);
            return rc == LS_OK ? deliver(x, its + n / 2, n - n / 2) : rc;
        }
        if (lrs_failed(x, &a, "post") != LS_OK) {
            free(body);
            return LS_ESTOP;
        }
    }
}

/* Statements of the batch, each id once (a re-delivery inside one batch is the same statement). */
static size_t unique_statements(xapi_t *x, item_t **out)
{
    size_t k = 0;
    for (size_t i = 0; i < x->n; i++) {
        item_t *it = &x->items[i];
        int seen = 0;
        for (size_t j = 0; it->stmt && j < k && !seen; j++)
            seen = strcmp(out[j]->id, it->id) == 0;
        if (it->stmt && !seen)
            out[k++] = it;
        else if (it->stmt)
            ls_metric_add(XM_STATEMENTS, XM_ST_DUPLICATE, 0, 1);
    }
    return k;
}

static int dead_letter(xapi_t *x)
{
    ls_batch_t b;
    ls_batch_init(&b);
    size_t sent = 0, statements = 0;
    for (size_t i = 0; i < x->n; i++) {
        item_t *it = &x->items[i];
        if (!it->dlq[0])
            continue;
        char src[200];
        snprintf(src, sizeof(src), "%s/%d/%lld", x->topic_in, it->partition, (long long)it->offset);
        ls_kafka_header_t h[4] = {{"xapi_reason", it->dlq}, {"xapi_source", src}, {"ce_id", it->ce_id},
                                  {"xapi_statement_id", it->id}};
        size_t nh = it->id[0] ? 4 : 3;
        if (ls_producer_send(x->prod, x->topic_dlq, -1, it->key, it->key_len, it->value, it->len, h, nh, &b, LS_SEND_NOW) != LS_OK)
            return LS_ETRANSIENT;
        ls_warn("dead-lettering \"%s\" to \"%s\": %s", src, x->topic_dlq, it->dlq);
        statements += it->stmt != NULL;
        sent++;
    }
    char err[256];
    if (ls_producer_wait(x->prod, &b, 30000, err, sizeof(err)) != LS_OK) {
        ls_error("dead-letter topic \"%s\" did not acknowledge: %s", x->topic_dlq, err);
        return LS_ETRANSIENT;
    }
    ls_metric_add(XM_DLQ, 0, 0, sent);
    ls_metric_add(XM_STATEMENTS, XM_ST_DEAD_LETTERED, 0, statements);
    return LS_OK;
}

/* The next offset of every partition in the batch. */
static void commit(xapi_t *x)
{
    for (size_t i = 0; i < x->n; i++) {
        int p = x->items[i].partition, last = 1;
        int64_t next = x->items[i].offset + 1;
        for (size_t j = i + 1; j < x->n && last; j++)
            last = x->items[j].partition != p;
        char err[256];
        if (last && ls_consumer_commit(x->cons, x->topic_in, p, next, err, sizeof(err)) != LS_OK) {
            ls_metric_add(XM_COMMIT_ERRORS, 0, 0, 1);
            ls_warn("commit of \"%s\" [%d] at %lld failed (its events come again, same statement ids): %s",
                    x->topic_in, p, (long long)next, err);
        }
    }
}

/* Resolve the batch (deliver, dead-letter), then commit. LS_ESTOP leaves it uncommitted. */
static int flush(xapi_t *x)
{
    item_t **its = malloc((x->n ? x->n : 1) * sizeof(*its));
    if (!its)
        return LS_ENOMEM;
    int rc = deliver(x, its, unique_statements(x, its));
    free(its);
    while (rc == LS_OK && dead_letter(x) != LS_OK) {
        /* a half-written dead-letter batch is written again whole: consumers of the DLQ see duplicates at worst */
        if (pause_ms(x, x->backoff_ms) != LS_OK)
            rc = LS_ESTOP;
    }
    if (rc == LS_OK)
        commit(x);
    batch_clear(x);
    return rc;
}

/* ---- start-up and loop ---- */

static int open_clients(xapi_t *x, char *err, size_t errsz)
{
    const ls_config_t *cfg = x->cfg;
    char cred[LS_CFG_STR];
    if (read_credentials(cfg->xapi_credentials_file, cred, sizeof(cred), err, errsz) != LS_OK)
        return LS_EINVAL;
    x->lrs = ls_xapi_lrs_new(cfg->xapi_lrs_url, cred, cfg->xapi_timeout_s, err, errsz);
    memset(cred, 0, sizeof(cred));
    if (!x->lrs)
        return LS_EINVAL;
    ls_kafka_conf_t kc = ls_config_kafka(cfg);
    x->prod = ls_producer_new(&kc, 10000, err, errsz);
    if (!x->prod)
        return LS_ETRANSIENT;
    x->cons = ls_consumer_new(&kc, x->group, x->topic_in, err, errsz);
    return x->cons ? LS_OK : LS_ETRANSIENT;
}

static void close_clients(xapi_t *x)
{
    batch_clear(x);
    free(x->items);
    ls_consumer_destroy(x->cons);
    ls_producer_destroy(x->prod);
    ls_xapi_lrs_destroy(x->lrs);
}

static void init_state(xapi_t *x, const ls_config_t *cfg, volatile sig_atomic_t *stop)
{
    memset(x, 0, sizeof(*x));
    x->cfg = cfg;
    x->stop = stop;
    x->backoff_ms = BACKOFF_FIRST_MS;
    x->mc = (ls_xapi_map_conf_t){cfg->xapi_activity_base, cfg->xapi_actor_base,
                                 strcmp(cfg->xapi_actor_scope, "tenant") == 0};
    ls_config_topic(cfg, "activity.changes", x->topic_in, sizeof(x->topic_in));
    ls_config_topic(cfg, "xapi.dlq", x->topic_dlq, sizeof(x->topic_dlq));
    if (cfg->xapi_group_id[0])
        snprintf(x->group, sizeof(x->group), "%s", cfg->xapi_group_id);
    else
        snprintf(x->group, sizeof(x->group), "%s-xapi", cfg->topic_prefix);
}

static int loop(xapi_t *x)
{
    int rc = LS_OK;
    while (rc == LS_OK && !*x->stop) {
        heartbeat(x);
        int64_t due = x->first_ms + x->cfg->xapi_batch_ms - ls_time_mono_ms();
        int wait = x->n == 0 ? 200 : (int)(due < 0 ? 0 : due < 200 ? due : 200);
        ls_kmsg_t m;
        if (ls_consumer_poll(x->cons, wait, &m) == LS_OK) {
            rc = take(x, &m);
            ls_kmsg_release(&m);
        }
        if (rc == LS_OK && x->n > 0 &&
            (x->n >= (size_t)x->cfg->xapi_batch || ls_time_mono_ms() >= x->first_ms + x->cfg->xapi_batch_ms))
            rc = flush(x);
    }
    if (rc == LS_OK && x->n > 0)
        rc = flush(x); /* stop asked: one try, no backoff (pause_ms sees the stop) */
    return rc == LS_ESTOP ? LS_OK : rc;
}

int ls_xapi_run(const ls_config_t *cfg, volatile sig_atomic_t *stop)
{
    char err[512];
    if (ls_xapi_check_config(cfg, err, sizeof(err)) != LS_OK) {
        ls_error("xapi cannot start: %s", err);
        return LS_EINVAL;
    }
    ls_ops_t *ops = NULL;
    int started = ls_daemon_single_start(cfg, "xapi", ls_xapi_metrics, XM__COUNT, &ops);
    if (started != 0)
        return started;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    xapi_t x;
    init_state(&x, cfg, stop);
    int rc = open_clients(&x, err, sizeof(err));
    if (rc != LS_OK) {
        ls_error("xapi cannot start: %s", err);
    } else {
        ls_info("xapi ready: \"%s\" (group \"%s\") to %s, dead letters to \"%s\"", x.topic_in, x.group,
                cfg->xapi_lrs_url, x.topic_dlq);
        rc = loop(&x);
    }
    ls_metrics_heartbeat(ls_time_mono_ms(), LS_PROC_DRAINING);
    close_clients(&x);
    curl_global_cleanup();
    ls_ops_stop(ops);
    ls_metrics_free();
    return rc;
}
