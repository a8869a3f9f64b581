/*
 * admin_resync.c - `lmsync-admin resync CONNECTION [--wait S]` (admin_run.h).
 *
 * The connection must be known to the coordinator: its schedule topic
 * (<prefix>.coordinator.schedule, compacted, one record per scope) holds a
 * scope of it. The request goes to <prefix>.control (key = connection id);
 * the coordinator leader enqueues one full resync job per scope, job id
 * "scope@resync-REQUEST" (ls_control.h). --wait reads the status topic from
 * its end as it was before the request until every expected scope reported:
 * the course scopes when the schedule has some for the connection (it is
 * polled per course), else the connection itself.
 */
#include "admin_run.h"
#include "ls_control.h"
#include "ls_err.h"
#include "ls_job.h"
#include "ls_scope.h"
#include "ls_strmap.h"
#include "ls_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int reported;          /* its resync job's status record arrived */
    int ok;
} scope_t;

typedef struct {
    const char *conn;
    ls_strmap_t *scopes;   /* scope key -> scope_t: the connection's scopes in the schedule */
    int courses;           /* some of them are course scopes */
} known_t;

/* A schedule record: the latest one per scope counts, a tombstone removes the scope. */
static void add_schedule(const ls_kmsg_t *m, void *ud)
{
    known_t *k = ud;
    char key[LS_KEY_MAX];
    size_t cl = strlen(k->conn);
    if (!m->key || m->key_len >= sizeof(key) || m->key_len < cl || memcmp(m->key, k->conn, cl) != 0 ||
        (m->key_len > cl && m->key[cl] != '/'))
        return;
    memcpy(key, m->key, m->key_len);
    key[m->key_len] = '\0';
    if (m->value)
        ls_strmap_put(k->scopes, key, NULL);
    else
        ls_strmap_del(k->scopes, key);
}

static int note_course(const char *name, void *value, void *ud)
{
    known_t *k = ud;
    (void)value;
    k->courses |= strchr(name, '/') != NULL;
    return 0;
}

/* Expected scopes: the course scopes of a connection polled per course, else the connection. */
static int drop_unexpected(const char *name, void *value, void *ud)
{
    known_t *k = ud;
    (void)value;
    return k->courses && strchr(name, '/') == NULL;
}

static int load_scopes(const ls_config_t *cfg, const admin_opts_t *o, known_t *k)
{
    char topic[192];
    ls_config_topic(cfg, "coordinator.schedule", topic, sizeof(topic));
    int rc = admin_read_topic(cfg, topic, o, add_schedule, k);
    if (rc != LS_OK && rc != LS_ENOTFOUND)
        return rc;
    if (ls_strmap_count(k->scopes) == 0) {
        fprintf(stderr, "lmsync-admin: resync: unknown connection \"%s\": the coordinator's schedule (%s) has no "
                "scope of it (not discovered, or not polled yet)\n", k->conn, topic);
        return LS_ENOTFOUND;
    }
    ls_strmap_sweep(k->scopes, note_course, k);
    ls_strmap_sweep(k->scopes, drop_unexpected, k);
    return LS_OK;
}

/* A request id: wall-clock ms and 32 random bits. */
static void new_request_id(char *buf, size_t sz)
{
    unsigned r = (unsigned)getpid() ^ (unsigned)ls_time_mono_ms();
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(&r, sizeof(r), 1, f) != 1)
            r ^= (unsigned)clock();
        fclose(f);
    }
    snprintf(buf, sz, "%lld-%08x", (long long)ls_time_now_ms(), r);
}

static int send_request(const ls_config_t *cfg, const admin_opts_t *o, const ls_control_t *req)
{
    char topic[192], err[512];
    ls_kafka_conf_t kc = ls_config_kafka(cfg);
    ls_config_topic(cfg, "control", topic, sizeof(topic));
    char *v = ls_control_encode(req);
    ls_producer_t *p = v ? ls_producer_new(&kc, o->timeout_ms, err, sizeof(err)) : NULL;
    int rc = p ? LS_OK : LS_ENOMEM;
    if (p) {
        ls_batch_t b;
        ls_batch_init(&b);
        rc = ls_producer_send(p, topic, -1, req->connection_id, strlen(req->connection_id), v, strlen(v), NULL, 0,
                              &b, LS_SEND_NOW);
        if (rc == LS_OK)
            rc = ls_producer_wait(p, &b, o->timeout_ms, err, sizeof(err));
        else
            snprintf(err, sizeof(err), "%s", b.err);
        ls_producer_close(p, 1000);
    }
    if (rc != LS_OK)
        fprintf(stderr, "lmsync-admin: resync: request not written to %s: %s\n", topic, v ? err : "out of memory");
    free(v);
    return rc;
}

/* ---- --wait ---- */

typedef struct {
    known_t *k;
    const char *request_id;
    FILE *out;
    size_t left;           /* expected scopes that did not report yet */
    int failed;
} waiter_t;

static void on_status(const ls_kmsg_t *m, void *ud)
{
    waiter_t *w = ud;
    ls_job_t job;
    ls_status_t st;
    char err[256], scope[LS_KEY_MAX];
    if (ls_status_decode(m->value, m->len, &job, &st, err, sizeof(err)) != LS_OK ||
        !ls_control_is_job_of(job.job_id, w->request_id))
        return;
    ls_job_scope(&job, scope, sizeof(scope));
    scope_t *s = ls_strmap_get(w->k->scopes, scope);
    if (!s || s->reported)
        return;
    s->reported = 1;
    s->ok = st.ok && !st.skipped;
    w->left--;
    w->failed |= !s->ok;
    if (s->ok)
        fprintf(w->out,
                "%s: ok: full scan of %llu records, %llu events, %llu current records and %llu rollups republished "
                "(job %s)\n",
                scope, (unsigned long long)st.records, (unsigned long long)st.events,
                (unsigned long long)st.republished, (unsigned long long)st.rollups_republished, job.job_id);
    else
        fprintf(w->out, "%s: %s: %s (job %s)\n", scope, st.skipped ? "skipped" : "failed",
                st.skipped ? st.skip_reason : st.error, job.job_id);
}

/* Read every partition of topic from next[p] to its end, once. */
static int read_new(ls_reader_t *r, const char *topic, int64_t *next, int parts, waiter_t *w)
{
    char err[512];
    for (int p = 0; p < parts && w->left; p++) {
        int64_t lo, hi, eof = -1;
        if (ls_reader_watermarks(r, topic, p, &lo, &hi, 5000, err, sizeof(err)) != LS_OK)
            return LS_ETRANSIENT;
        if (next[p] < lo)
            next[p] = lo;
        if (next[p] >= hi || ls_reader_start(r, topic, p, next[p]) != LS_OK)
            continue;
        while (next[p] < hi) {
            ls_kmsg_t m;
            int rc = ls_reader_poll(r, 500, &m, &eof, err, sizeof(err));
            if (rc == LS_OK) {
                next[p] = m.offset + 1;
                on_status(&m, w);
                ls_kmsg_release(&m);
            } else if (eof >= 0 || rc != LS_ENOTFOUND) {
                break;
            }
        }
        ls_reader_stop(r);
    }
    return LS_OK;
}

/* The status topic's end offsets now (before the request), so the wait reads only newer records. */
static int64_t *status_ends(const ls_config_t *cfg, const admin_opts_t *o, const char *topic, int *parts,
                            ls_reader_t **r)
{
    char err[512];
    ls_kafka_conf_t kc = ls_config_kafka(cfg);
    *parts = admin_partition_count(cfg, topic, o);
    if (*parts <= 0 || !(*r = ls_reader_new(&kc, err, sizeof(err))))
        return NULL;
    int64_t *next = calloc((size_t)*parts, sizeof(*next)), lo;
    for (int p = 0; next && p < *parts; p++)
        if (ls_reader_watermarks(*r, topic, p, &lo, &next[p], o->timeout_ms, err, sizeof(err)) != LS_OK)
            next[p] = 0;
    return next;
}

static int wait_reports(ls_reader_t *r, const char *topic, int64_t *next, int parts, waiter_t *w, int wait_s)
{
    int64_t deadline = ls_time_mono_ms() + (int64_t)wait_s * 1000;
    while (w->left && ls_time_mono_ms() < deadline) {
        read_new(r, topic, next, parts, w);
        if (w->left) {
            struct timespec ts = {0, 500 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (w->left)
        fprintf(stderr, "lmsync-admin: resync of \"%s\": %zu scope(s) did not report within %d s\n", w->k->conn,
                w->left, wait_s);
    return w->left || w->failed ? ADMIN_EXIT_DIFF : ADMIN_EXIT_OK;
}

int admin_run_resync(const ls_config_t *cfg, const admin_opts_t *o, const char *connection, FILE *out)
{
    char why[128], topic[192];
    if (ls_key_part_check(connection, why, sizeof(why)) != LS_OK || strlen(connection) > LS_STR_MAX) {
        fprintf(stderr, "lmsync-admin: resync: \"%s\" is not a connection id: %s\n", connection,
                strlen(connection) > LS_STR_MAX ? "too long" : why);
        return ADMIN_EXIT_USAGE;
    }
    known_t k = {connection, ls_strmap_new(sizeof(scope_t)), 0};
    int rc = k.scopes ? load_scopes(cfg, o, &k) : LS_ENOMEM;
    ls_control_t req = {LS_CONTROL_RESYNC, "", ls_time_now_ms(), ""};
    snprintf(req.connection_id, sizeof(req.connection_id), "%s", connection);
    new_request_id(req.request_id, sizeof(req.request_id));
    ls_reader_t *r = NULL;
    int parts = 0;
    int64_t *next = NULL;
    ls_config_topic(cfg, "sync.status", topic, sizeof(topic));
    if (rc == LS_OK && o->wait_s > 0 && !(next = status_ends(cfg, o, topic, &parts, &r)))
        rc = LS_EIO;
    if (rc == LS_OK)
        rc = send_request(cfg, o, &req);
    if (rc == LS_OK)
        fprintf(out, "resync of \"%s\" requested (request %s): %zu scope(s)\n", connection, req.request_id,
                ls_strmap_count(k.scopes));
    int ex = rc == LS_OK ? ADMIN_EXIT_OK : ADMIN_EXIT_DIFF;
    if (rc == LS_OK && o->wait_s > 0) {
        waiter_t w = {&k, req.request_id, out, ls_strmap_count(k.scopes), 0};
        ex = wait_reports(r, topic, next, parts, &w, o->wait_s);
    }
    free(next);
    ls_reader_destroy(r);
    ls_strmap_destroy(k.scopes);
    return ex;
}
