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
 * is rejected: one log line and lmsync_coordinator_control_requests_total.
 *
 * Requests are served one at a time, in order: the consumer (group
 * <prefix>-coordinator-control, manual commits) is not polled while a
 * request is in progress, and its offset is committed only once its jobs
 * are acknowledged or it was rejected. A leader that stops with a request
 * in progress drops it; the next one reads it again (a job may then be
 * produced twice: the same job id, run twice). Before the first complete
 * connection listing of the term, requests wait: a connection on a page
 * not listed yet is not unknown.
 */
#include "ls_coord_int.h"
#include "ls_coord_metrics.h"
#include "ls_control.h"
#include "ls_err.h"
#include "ls_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTL_RETRY_MS 1000 /* a request whose jobs were not acknowledged is produced again after this */

typedef struct coord_ctl {
    ls_control_t req;
    int partition;
    int64_t offset;
    int sending;          /* its jobs are in flight in b */
    int64_t retry_at;     /* not before (wall clock ms) */
    size_t jobs;
    ls_batch_t b;
} coord_ctl_t;

void coord_control_open(coord_t *c)
{
    char err[512], group[160];
    ls_kafka_conf_t kc = ls_config_kafka(c->cfg);
    ls_config_topic(c->cfg, "control", c->topic_control, sizeof(c->topic_control));
    snprintf(group, sizeof(group), "%s-coordinator-control", c->cfg->topic_prefix);
    c->control = ls_consumer_new(&kc, group, c->topic_control, err, sizeof(err));
    if (!c->control)
        ls_error("control topic \"%s\" not read (no resync requests this term): %s", c->topic_control, err);
}

void coord_control_close(coord_t *c)
{
    if (c->ctl && c->ctl->sending)
        ls_warn("resync of \"%s\" (request %s) interrupted: the next leader serves it again", c->ctl->req.connection_id,
                c->ctl->req.request_id);
    free(c->ctl);
    c->ctl = NULL;
    ls_consumer_destroy(c->control);
    c->control = NULL;
}

/* The request is settled: commit past it and forget it. */
static void settle(coord_t *c, int result)
{
    char err[256];
    ls_metric_add(CM_CONTROL, result, 0, 1);
    if (ls_consumer_commit(c->control, c->topic_control, c->ctl->partition, c->ctl->offset + 1, err, sizeof(err)) !=
        LS_OK)
        ls_warn("control offset %lld not committed (the request may be served again): %s", (long long)c->ctl->offset,
                err);
    free(c->ctl);
    c->ctl = NULL;
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
    if (coord_job_for(c, sc, now, &job) != LS_OK)
        return LS_EINVAL;
    if (ls_control_job_id(coord_scope_key(c, sc), q->req.request_id, job.job_id, sizeof(job.job_id)) < 0)
        return LS_EINVAL;
    job.mode = LS_MODE_FULL;
    job.resync = 1;
    job.scheduled_at = now;
    char *v = ls_job_encode(&job);
    if (!v)
        return LS_ENOMEM;
    const char *id = q->req.connection_id;
    int rc = ls_producer_send(c->producer, c->topic_jobs, -1, id, strlen(id), v, strlen(v), NULL, 0, &q->b,
                              LS_SEND_NOW);
    free(v);
    q->jobs += rc == LS_OK;
    return rc;
}

/* Produce the jobs of every scope of conn; LS_OK when at least one went out. */
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
    q->sending = rc == LS_OK && q->jobs > 0;
    return q->sending ? LS_OK : rc == LS_OK ? LS_EINVAL : rc;
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
        settle(c, CM_CONTROL_UNKNOWN_CONNECTION);
        return;
    }
    if (conn->fanout && conn->courses_busy)
        return; /* its course list is on the way */
    if (produce_jobs(c, conn, now) != LS_OK) {
        ls_warn("resync of \"%s\" (request %s): jobs not produced, trying again", q->req.connection_id,
                q->req.request_id);
        q->retry_at = now + CTL_RETRY_MS;
    }
}

/* The request's jobs in flight: settled when acknowledged, produced again when one failed. */
static void await_jobs(coord_t *c, int64_t now)
{
    char err[256];
    coord_ctl_t *q = c->ctl;
    int rc = ls_producer_poll_batch(c->producer, &q->b, err, sizeof(err));
    if (rc == 1)
        return;
    q->sending = 0;
    if (rc != LS_OK) {
        ls_warn("resync of \"%s\" (request %s): jobs not acknowledged, producing them again: %s",
                q->req.connection_id, q->req.request_id, err);
        q->retry_at = now + CTL_RETRY_MS;
        return;
    }
    ls_info("resync of \"%s\" (request %s): %zu full resync job(s) enqueued", q->req.connection_id,
            q->req.request_id, q->jobs);
    settle(c, CM_CONTROL_ENQUEUED);
}

/* Read the next request; a malformed one is rejected at once. */
static void next_request(coord_t *c)
{
    ls_kmsg_t m;
    char err[256];
    if (ls_consumer_poll(c->control, 0, &m) != LS_OK)
        return;
    coord_ctl_t *q = calloc(1, sizeof(*q));
    if (!q) {
        ls_kmsg_release(&m); /* not committed: read again after a restart */
        return;
    }
    q->partition = m.partition;
    q->offset = m.offset;
    c->ctl = q;
    if (ls_control_decode(m.value, m.len, &q->req, err, sizeof(err)) != LS_OK) {
        ls_warn("control message at %s [%d] offset %lld rejected: %s", m.topic, m.partition, (long long)m.offset, err);
        settle(c, CM_CONTROL_MALFORMED);
    }
    ls_kmsg_release(&m);
}

void coord_control_turn(coord_t *c, int64_t now)
{
    if (!c->control)
        return;
    if (!c->ctl)
        next_request(c);
    if (!c->ctl || now < c->ctl->retry_at)
        return;
    if (c->ctl->sending)
        await_jobs(c, now);
    else
        serve(c, now);
}
