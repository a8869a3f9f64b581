/*
 * ls_coord_control.c - operator requests on <prefix>.control (ls_control.h),
 * served by the leader only.
 *
 * resync (lmsync-admin resync CONNECTION): for a connection the coordinator
 * tracks, one full job with "resync":true per scope (the connection, or each
 * of its courses when it is polled per course), job id
 * "scope@resync-REQUEST" (ls_control_job_id), produced outside the
 * schedule: the scope's next regular job is not moved and a job it still
 * waits for is not replaced. An unknown connection or a malformed message
 * is rejected, and so is a connection with nothing to poll (its strategy
 * says not polled, or it is polled per course and no course is known): one
 * log line and lmsync_coordinator_control_requests_total{result}.
 *
 * Requests are served one at a time, in order: the consumer (group
 * <prefix>-coordinator-control, manual commits) is not polled while a
 * request is in progress, and its offset is committed only once its jobs
 * are acknowledged or it was rejected. The jobs go through a producer of
 * this module's own, closed (flushed) before the request's batch is freed,
 * so no delivery report can reach a freed batch when a term ends. A leader
 * that stops with a request in progress drops it; the next one reads it
 * again (a job may then be produced twice: the same job id, run twice).
 * Before the first complete connection listing of the term, requests wait:
 * a connection on a page not listed yet is not unknown.
 */
#include "ls_coord_int.h"
#include "ls_coord_metrics.h"
#include "ls_control.h"
#include "ls_err.h"
#include "ls_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTL_RETRY_MS 1000   /* a request whose jobs were not all acknowledged is produced again after this */
#define CTL_FLUSH_MS 2000   /* a stopping term waits this long for jobs in flight */
#define CTL_OPEN_TIMEOUT_MS 2000
#define CTL_OPEN_RETRY_MS 10000

typedef struct coord_ctl {
    ls_consumer_t *consumer;
    ls_producer_t *producer;
    char topic[160];
    int held;             /* a request is in progress (req, partition, offset) */
    ls_control_t req;
    int partition;
    int64_t offset;
    int sending;          /* its jobs are in flight in b */
    int incomplete;       /* a job could not be produced: all are produced again once b settled */
    int64_t retry_at;     /* not before (wall clock ms) */
    int64_t open_at;      /* clients_ready: next try (wall clock ms) */
    size_t jobs;
    ls_batch_t b;
} coord_ctl_t;

void coord_control_open(coord_t *c)
{
    coord_ctl_t *q = calloc(1, sizeof(*q));
    if (!q) {
        ls_error("control topic not read this term (no resync requests): out of memory");
        return;
    }
    ls_config_topic(c->cfg, "control", q->topic, sizeof(q->topic));
    c->ctl = q; /* the clients are made by the first turn (clients_ready) */
}

/* The consumer and producer of the term, made on first use and again every CTL_OPEN_RETRY_MS after a
 * failure (a broker outage at the start of a term does not cost the term its requests). */
static int clients_ready(coord_t *c, int64_t now)
{
    char err[512], group[160];
    coord_ctl_t *q = c->ctl;
    if (q->producer)
        return 1;
    if (now < q->open_at)
        return 0;
    ls_kafka_conf_t kc = ls_config_kafka(c->cfg);
    snprintf(group, sizeof(group), "%s-coordinator-control", c->cfg->topic_prefix);
    if (!q->consumer)
        q->consumer = ls_consumer_new(&kc, group, q->topic, err, sizeof(err));
    if (q->consumer)
        q->producer = ls_producer_new(&kc, CTL_OPEN_TIMEOUT_MS, err, sizeof(err));
    if (!q->producer) {
        ls_warn("control topic \"%s\" not read yet (resync requests wait), trying again in %d s: %s", q->topic,
                CTL_OPEN_RETRY_MS / 1000, err);
        q->open_at = now + CTL_OPEN_RETRY_MS;
        return 0;
    }
    return 1;
}

void coord_control_close(coord_t *c)
{
    coord_ctl_t *q = c->ctl;
    if (!q)
        return;
    if (q->held)
        ls_warn("resync of \"%s\" (request %s) interrupted: the next leader serves it again", q->req.connection_id,
                q->req.request_id);
    ls_producer_close(q->producer, CTL_FLUSH_MS); /* no delivery report after this: b may go (NULL-safe) */
    ls_consumer_destroy(q->consumer);
    free(q);
    c->ctl = NULL;
}

/* The request is settled: commit past it and forget it. */
static void settle(coord_ctl_t *q, int result)
{
    char err[256];
    ls_metric_add(CM_CONTROL, result, 0, 1);
    if (ls_consumer_commit(q->consumer, q->topic, q->partition, q->offset + 1, err, sizeof(err)) != LS_OK)
        ls_warn("control offset %lld not committed (the request may be served again): %s", (long long)q->offset, err);
    q->held = q->sending = q->incomplete = 0;
    q->retry_at = 0;
}

/* Connections are known once a listing pass of this term completed (or the list is static). */
static int conns_known(const coord_t *c)
{
    return c->cfg->connections[0] || c->disco.gen > 1 || (c->disco.gen == 1 && !c->disco.active);
}

/* One resync job of scope sc into the request's batch. */
static int produce_job(coord_t *c, coord_scope_t *sc, int64_t now)
{
    coord_ctl_t *q = c->ctl;
    ls_job_t job;
    int rc = coord_job_for(c, sc, now, &job);
    if (rc != LS_OK)
        return rc;
    if (ls_control_job_id(coord_scope_key(c, sc), q->req.request_id, job.job_id, sizeof(job.job_id)) < 0)
        return LS_EINVAL;
    job.mode = LS_MODE_FULL;
    job.resync = 1;
    job.scheduled_at = now;
    char *v = ls_job_encode(&job);
    if (!v)
        return LS_ENOMEM;
    const char *id = q->req.connection_id;
    rc = ls_producer_send(q->producer, c->topic_jobs, -1, id, strlen(id), v, strlen(v), NULL, 0, &q->b,
                          LS_SEND_NOW);
    free(v);
    q->jobs += rc == LS_OK;
    return rc;
}

/*
 * Produce the jobs of every scope of conn: what went out is awaited (sending), a failure part way
 * marks the request incomplete. @return LS_EINVAL when nothing was produced because there is
 * nothing to poll, else LS_OK (also when incomplete).
 */
static int produce_jobs(coord_t *c, coord_conn_t *conn, int64_t now)
{
    coord_ctl_t *q = c->ctl;
    int rc = LS_OK;
    ls_batch_init(&q->b);
    q->jobs = 0;
    if (conn->fanout)
        for (uint32_t i = 0; i < conn->n_courses && rc == LS_OK; i++)
            rc = produce_job(c, conn->courses[i], now);
    else
        rc = produce_job(c, conn->scope, now);
    q->sending = q->jobs > 0;
    q->incomplete = rc != LS_OK;
    if (!q->sending && (rc == LS_EINVAL || rc == LS_OK))
        return LS_EINVAL;
    if (!q->sending)
        q->retry_at = now + CTL_RETRY_MS;
    return LS_OK;
}

/* A request just read (or waiting): reject it, wait, or produce its jobs. */
static void serve(coord_t *c, int64_t now)
{
    coord_ctl_t *q = c->ctl;
    if (!conns_known(c))
        return;
    coord_conn_t *conn = ls_strmap_get(c->conns, q->req.connection_id);
    if (!conn) {
        ls_warn("resync of \"%s\" (request %s) rejected: the coordinator does not track this connection",
                q->req.connection_id, q->req.request_id);
        settle(q, CM_CONTROL_UNKNOWN_CONNECTION);
        return;
    }
    if (conn->fanout && conn->courses_busy)
        return; /* its course list is on the way */
    if (produce_jobs(c, conn, now) == LS_EINVAL) {
        ls_warn("resync of \"%s\" (request %s) rejected: nothing to poll (%s)", q->req.connection_id,
                q->req.request_id, conn->fanout ? "polled per course, no course known" : "its strategy: not polled");
        settle(q, CM_CONTROL_NOT_POLLED);
    } else if (q->incomplete) {
        ls_warn("resync of \"%s\" (request %s): not every job could be produced, trying again", q->req.connection_id,
                q->req.request_id);
    }
}

/* The request's jobs in flight: settled when all were acknowledged, produced again otherwise. */
static void await_jobs(coord_t *c, int64_t now)
{
    char err[256];
    coord_ctl_t *q = c->ctl;
    int rc = ls_producer_poll_batch(q->producer, &q->b, err, sizeof(err));
    if (rc == 1)
        return;
    q->sending = 0;
    if (rc != LS_OK || q->incomplete) {
        if (rc != LS_OK)
            ls_warn("resync of \"%s\" (request %s): jobs not acknowledged, producing them again: %s",
                    q->req.connection_id, q->req.request_id, err);
        q->retry_at = now + CTL_RETRY_MS;
        return;
    }
    ls_info("resync of \"%s\" (request %s): %zu full resync job(s) enqueued", q->req.connection_id, q->req.request_id,
            q->jobs);
    settle(q, CM_CONTROL_ENQUEUED);
}

/* Read the next request; a malformed one is rejected at once. */
static void next_request(coord_ctl_t *q)
{
    ls_kmsg_t m;
    char err[256];
    if (ls_consumer_poll(q->consumer, 0, &m) != LS_OK)
        return;
    q->held = 1;
    q->partition = m.partition;
    q->offset = m.offset;
    if (ls_control_decode(m.value, m.len, &q->req, err, sizeof(err)) != LS_OK) {
        ls_warn("control message at %s [%d] offset %lld rejected: %s", m.topic, m.partition, (long long)m.offset, err);
        settle(q, CM_CONTROL_MALFORMED);
    }
    ls_kmsg_release(&m);
}

void coord_control_turn(coord_t *c, int64_t now)
{
    coord_ctl_t *q = c->ctl;
    if (!q || !clients_ready(c, now))
        return;
    if (!q->held)
        next_request(q);
    if (!q->held || now < q->retry_at)
        return;
    if (q->sending)
        await_jobs(c, now);
    else
        serve(c, now);
}
