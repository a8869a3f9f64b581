/*
 * ls_coord.c - schedule and enqueue poll jobs.
 *
 * Connections come from the config (static list) or from Unified's
 * GET /unified/connection?categories=lms, refreshed every
 * discovery_interval. Each connection is due at its own deterministic slot
 * of the interval. A job is never enqueued for a connection whose previous
 * job has not reported on lmsync.sync.status (skip overlap), unless that
 * job is older than job_timeout (lost with a dead worker). A connection
 * whose jobs fail is backed off exponentially (interval x 2^failures, at
 * most one hour).
 */
#include "ls_coord.h"
#include "ls_err.h"
#include "ls_hash.h"
#include "ls_http.h"
#include "ls_job.h"
#include "ls_kafka.h"
#include "ls_log.h"
#include "ls_time.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONNS 100000
#define MAX_BACKOFF_MS (3600 * 1000LL)

typedef struct coord {
    const ls_config_t *cfg;
    ls_producer_t *producer;
    ls_consumer_t *status;
    ls_http_t *http;
    ls_coord_conn_t *conns;
    size_t n;
    char topic_jobs[128], topic_status[128];
    int64_t next_discovery_ms;
    uint64_t enqueued, skipped;
} coord_t;

int64_t ls_coord_first_due(const char *id, int64_t interval_ms, int64_t now_ms)
{
    int64_t off = (int64_t)(ls_hash64(id, strlen(id), LS_HASH_SEED) % (uint64_t)interval_ms);
    int64_t t = now_ms - (now_ms % interval_ms) + off;
    return t < now_ms ? t + interval_ms : t;
}

static int copy_field(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        return LS_EINVAL;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return LS_OK;
}

int ls_coord_parse_static(const char *spec, ls_coord_conn_t *out, size_t cap, char *err, size_t errsz)
{
    size_t n = 0;
    for (const char *p = spec; *p;) {
        size_t len = strcspn(p, ",");
        const char *c1 = memchr(p, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - p)) : NULL;
        size_t idl = c1 ? (size_t)(c1 - p) : len;
        if (n >= cap || idl == 0) {
            snprintf(err, errsz, "setting 'coordinator.connections': %s", n >= cap ? "too many connections" : "empty connection id");
            return LS_EINVAL;
        }
        ls_coord_conn_t *c = &out[n];
        memset(c, 0, sizeof(*c));
        int rc = copy_field(c->id, sizeof(c->id), p, idl);
        if (c1 && rc == LS_OK)
            rc = copy_field(c->integration_type, sizeof(c->integration_type), c1 + 1,
                            (size_t)((c2 ? c2 : p + len) - (c1 + 1)));
        if (c2 && rc == LS_OK)
            rc = copy_field(c->external_xref, sizeof(c->external_xref), c2 + 1, (size_t)(p + len - (c2 + 1)));
        if (rc != LS_OK) {
            snprintf(err, errsz, "setting 'coordinator.connections': entry %zu is too long", n + 1);
            return LS_EINVAL;
        }
        n++;
        p += len;
        if (*p == ',')
            p++;
    }
    return (int)n;
}

static int has_lms(json_t *cats)
{
    size_t i;
    json_t *v;
    if (!json_is_array(cats))
        return 0;
    json_array_foreach(cats, i, v) if (json_is_string(v) && strcmp(json_string_value(v), "lms") == 0) return 1;
    return 0;
}

static void str_member(json_t *o, const char *key, char *dst, size_t cap)
{
    json_t *v = json_object_get(o, key);
    dst[0] = '\0';
    if (json_is_string(v) && json_string_length(v) < cap)
        memcpy(dst, json_string_value(v), json_string_length(v) + 1);
}

int ls_coord_parse_connections(const char *body, size_t len, ls_coord_conn_t *out, size_t cap,
                               size_t *n_seen, char *err, size_t errsz)
{
    json_error_t je;
    json_t *arr = json_loadb(body, len, 0, &je);
    if (!json_is_array(arr)) {
        snprintf(err, errsz, "connection list is not a JSON array%s%s", arr ? "" : ": ", arr ? "" : je.text);
        json_decref(arr);
        return LS_EINVAL;
    }
    size_t i, n = 0;
    json_t *o;
    *n_seen = json_array_size(arr);
    json_array_foreach(arr, i, o) {
        json_t *id = json_object_get(o, "id");
        if (!json_is_object(o) || !json_is_string(id) || json_string_length(id) == 0 ||
            json_string_length(id) > LS_STR_MAX) {
            ls_warn("connection list entry %zu skipped: no usable 'id'", i);
            continue;
        }
        if (!has_lms(json_object_get(o, "categories")) || json_is_true(json_object_get(o, "is_paused")) || n >= cap)
            continue;
        memset(&out[n], 0, sizeof(out[n]));
        str_member(o, "id", out[n].id, sizeof(out[n].id));
        str_member(o, "integration_type", out[n].integration_type, sizeof(out[n].integration_type));
        str_member(o, "external_xref", out[n].external_xref, sizeof(out[n].external_xref));
        n++;
    }
    json_decref(arr);
    return (int)n;
}

/* Fetch every page of the connection list into a fresh array. */
static int discover(coord_t *c, ls_coord_conn_t **found, size_t *n_found)
{
    char url[1024], err[512];
    size_t cap = 256, n = 0, seen = 0;
    ls_coord_conn_t *list = malloc(cap * sizeof(*list));
    for (long offset = 0; list; offset += 100) {
        ls_http_resp_t resp;
        snprintf(url, sizeof(url), "%s/unified/connection?categories=lms&limit=100&offset=%ld",
                 c->cfg->unified_base_url, offset);
        if (ls_http_get(c->http, url, &resp, err, sizeof(err)) != LS_OK) {
            ls_error("connection discovery failed: %s", err);
            break;
        }
        if (n + 100 > cap) {
            ls_coord_conn_t *nl = realloc(list, (cap *= 2) * sizeof(*list));
            if (!nl)
                break;
            list = nl;
        }
        int got = ls_coord_parse_connections(resp.body, resp.len, list + n, cap - n, &seen, err, sizeof(err));
        if (got < 0) {
            ls_error("connection discovery failed: %s", err);
            break;
        }
        n += (size_t)got;
        if (seen < 100) {
            *found = list;
            *n_found = n;
            return LS_OK;
        }
    }
    free(list);
    return LS_ETRANSIENT;
}

static ls_coord_conn_t *find_conn(coord_t *c, const char *id)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->conns[i].id, id) == 0)
            return &c->conns[i];
    return NULL;
}

/* Replace the connection set, keeping the schedule of connections that stay. */
static void merge_connections(coord_t *c, ls_coord_conn_t *fresh, size_t n, int64_t now)
{
    int64_t ival = (int64_t)c->cfg->poll_interval_s * 1000;
    for (size_t i = 0; i < n; i++) {
        ls_coord_conn_t *old = find_conn(c, fresh[i].id);
        if (old) {
            fresh[i].next_due_ms = old->next_due_ms;
            memcpy(fresh[i].outstanding, old->outstanding, sizeof(old->outstanding));
            fresh[i].outstanding_since_ms = old->outstanding_since_ms;
            fresh[i].failures = old->failures;
        } else {
            fresh[i].next_due_ms = ls_coord_first_due(fresh[i].id, ival, now);
        }
    }
    if (n != c->n)
        ls_info("tracking %zu connections (was %zu)", n, c->n);
    free(c->conns);
    c->conns = fresh;
    c->n = n;
}

static int enqueue(coord_t *c, ls_coord_conn_t *conn, int64_t now)
{
    ls_job_t job;
    char err[256];
    memset(&job, 0, sizeof(job));
    snprintf(job.job_id, sizeof(job.job_id), "%s@%lld", conn->id, (long long)conn->next_due_ms);
    memcpy(job.connection_id, conn->id, sizeof(job.connection_id));
    snprintf(job.integration_type, sizeof(job.integration_type), "%s", conn->integration_type);
    memcpy(job.external_xref, conn->external_xref, sizeof(job.external_xref));
    snprintf(job.mode, sizeof(job.mode), "full");
    job.scheduled_at = conn->next_due_ms;
    char *v = ls_job_encode(&job);
    if (!v)
        return LS_ENOMEM;
    ls_batch_t b;
    ls_batch_init(&b);
    int rc = ls_producer_send(c->producer, c->topic_jobs, -1, conn->id, strlen(conn->id), v, strlen(v), NULL, 0, &b, 0);
    free(v);
    if (rc == LS_OK)
        rc = ls_producer_wait(c->producer, &b, 10000, err, sizeof(err));
    if (rc != LS_OK) {
        ls_warn("job for \"%s\" not enqueued, will retry: %s", conn->id, rc == LS_OK ? "" : err);
        return rc;
    }
    memcpy(conn->outstanding, job.job_id, sizeof(conn->outstanding));
    conn->outstanding_since_ms = now;
    c->enqueued++;
    ls_debug("enqueued job \"%s\"", job.job_id);
    return LS_OK;
}

/* Next slot after a job: the normal one, or a backed-off one after failures. */
static int64_t next_slot(const coord_t *c, const ls_coord_conn_t *conn, int64_t now)
{
    int64_t ival = (int64_t)c->cfg->poll_interval_s * 1000;
    int64_t delay = ival;
    for (int i = 0; i < conn->failures && delay < MAX_BACKOFF_MS; i++)
        delay *= 2;
    if (delay > MAX_BACKOFF_MS)
        delay = MAX_BACKOFF_MS;
    return ls_coord_first_due(conn->id, ival, now + delay - ival + 1);
}

static void schedule_due(coord_t *c, int64_t now)
{
    int64_t timeout = (int64_t)c->cfg->job_timeout_s * 1000;
    for (size_t i = 0; i < c->n; i++) {
        ls_coord_conn_t *conn = &c->conns[i];
        if (now < conn->next_due_ms)
            continue;
        if (conn->outstanding[0] && now - conn->outstanding_since_ms < timeout) {
            c->skipped++;
            ls_debug("skipping \"%s\": job \"%s\" still running", conn->id, conn->outstanding);
        } else if (enqueue(c, conn, now) != LS_OK) {
            continue; /* retried on the next pass */
        }
        conn->next_due_ms = next_slot(c, conn, now);
    }
}

static void on_status(coord_t *c, const ls_kmsg_t *m, int64_t now)
{
    json_t *o = json_loadb(m->value, m->len, 0, NULL);
    const char *conn_id = json_string_value(json_object_get(o, "connection_id"));
    const char *job_id = json_string_value(json_object_get(o, "job_id"));
    const char *outcome = json_string_value(json_object_get(o, "outcome"));
    ls_coord_conn_t *conn = conn_id ? find_conn(c, conn_id) : NULL;
    if (!o || !job_id || !outcome) {
        ls_warn("status record at %s [%d] offset %lld not understood", m->topic, m->partition, (long long)m->offset);
    } else if (conn && strcmp(conn->outstanding, job_id) == 0) {
        conn->outstanding[0] = '\0';
        int failed = strcmp(outcome, "ok") != 0;
        conn->failures = failed ? conn->failures + 1 : 0;
        if (failed) {
            conn->next_due_ms = next_slot(c, conn, now);
            ls_warn("job \"%s\" failed (%d in a row); next attempt in %lld s", job_id, conn->failures,
                    (long long)((conn->next_due_ms - now) / 1000));
        }
    }
    json_decref(o);
}

static int coord_open(coord_t *c)
{
    char err[512], group[160];
    ls_config_topic(c->cfg, "poll.jobs", c->topic_jobs, sizeof(c->topic_jobs));
    ls_config_topic(c->cfg, "sync.status", c->topic_status, sizeof(c->topic_status));
    snprintf(group, sizeof(group), "%s-coordinator", c->cfg->topic_prefix);
    if (!(c->producer = ls_producer_new(c->cfg, 10000, err, sizeof(err))) ||
        !(c->http = ls_http_new(c->cfg->unified_token, c->cfg->http_timeout_s, err, sizeof(err))) ||
        !(c->status = ls_consumer_new(c->cfg, group, c->topic_status, err, sizeof(err)))) {
        ls_error("coordinator cannot start: %s", err);
        return LS_EINVAL;
    }
    if (!c->cfg->connections[0] && !c->cfg->unified_token[0]) {
        ls_error("coordinator cannot start: setting 'coordinator.connections' is empty, and discovery "
                 "needs an API token: set UNIFIED_API_TOKEN or 'unified.token_file'");
        return LS_EINVAL;
    }
    if (c->cfg->connections[0]) {
        ls_coord_conn_t *list = calloc(1024, sizeof(*list));
        int n = list ? ls_coord_parse_static(c->cfg->connections, list, 1024, err, sizeof(err)) : LS_ENOMEM;
        if (n < 0) {
            ls_error("%s", err);
            free(list);
            return LS_EINVAL;
        }
        merge_connections(c, list, (size_t)n, ls_time_now_ms());
    }
    return LS_OK;
}

static void maybe_discover(coord_t *c, int64_t now)
{
    if (c->cfg->connections[0] || now < c->next_discovery_ms)
        return;
    ls_coord_conn_t *fresh;
    size_t n;
    if (discover(c, &fresh, &n) == LS_OK) {
        merge_connections(c, fresh, n, now);
        c->next_discovery_ms = now + (int64_t)c->cfg->discovery_interval_s * 1000;
    } else {
        c->next_discovery_ms = now + 10000; /* retry soon; keep the known set */
    }
}

int ls_coord_run(const ls_config_t *cfg, volatile sig_atomic_t *stop)
{
    coord_t c;
    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = coord_open(&c);
    if (rc == LS_OK)
        ls_info("coordinator ready: interval %d s, jobs to \"%s\"", cfg->poll_interval_s, c.topic_jobs);
    while (rc == LS_OK && !*stop) {
        int64_t now = ls_time_now_ms();
        maybe_discover(&c, now);
        schedule_due(&c, now);
        ls_kmsg_t m;
        if (ls_consumer_poll(c.status, 200, &m) == LS_OK) {
            on_status(&c, &m, ls_time_now_ms());
            ls_kmsg_release(&m);
        }
    }
    if (rc == LS_OK)
        ls_info("coordinator stopping: enqueued=%llu skipped=%llu", (unsigned long long)c.enqueued,
                (unsigned long long)c.skipped);
    ls_consumer_destroy(c.status);
    ls_http_destroy(c.http);
    ls_producer_destroy(c.producer);
    free(c.conns);
    curl_global_cleanup();
    return rc;
}
