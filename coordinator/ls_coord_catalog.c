/*
 * ls_coord_catalog.c - catalog jobs: every enrichment.refresh_s, one job
 * `"kind":"catalog"` per connection, keyed by the (workspace-qualified)
 * connection id on the jobs topic like its poll jobs, and carrying the
 * connection's `workspace` like them (so it reaches the worker that owns the
 * connection's partition and its LMDB). The first one comes soon after the
 * connection is listed: within min(refresh_s, 30 s), at a slot spread by a
 * hash of the id.
 *
 * This schedule is kept apart from the poll schedule: it lives only in
 * memory (a restarted or newly elected coordinator refreshes every
 * connection's names once more, soon after its first listing), it does not
 * wait for the previous catalog job's status (the worker runs one catalog
 * job of a connection at a time, and a failed one is simply retried at the
 * next refresh), and it takes its jobs from the same enqueue token bucket
 * (coordinator.max_enqueue_per_s) as the poll jobs.
 */
#include "ls_coord_int.h"
#include "ls_err.h"
#include "ls_hash.h"
#include "ls_job.h"
#include "ls_log.h"
#include "ls_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_WITHIN_MS 30000 /* the first catalog job of a connection comes within this (or refresh_s) */
#define RETRY_MS 1000         /* a job that could not be produced is tried again after this */

/* One connection's catalog schedule (value of coord_catalog.due, keyed by connection id). */
typedef struct cat_entry {
    ls_coord_timer_t t;      /* next catalog job, in coord_catalog.heap */
} cat_entry_t;

/* A catalog job produced and not yet reported by librdkafka. */
typedef struct cat_send {
    ls_batch_t b;
    struct cat_send *next;
    char id[];
} cat_send_t;

struct coord_catalog {
    ls_strmap_t *due;        /* connection id -> cat_entry_t */
    ls_coord_heap_t heap;
    cat_send_t *sends;
    size_t known;            /* connections seen by the last walk */
    uint32_t gen;            /* discovery generation of the last walk */
    uint64_t enqueued, failed;
};

static int64_t refresh_ms(const coord_t *c)
{
    return (int64_t)c->cfg->enrichment_refresh_s * 1000;
}

/* Add a newly listed connection: its first catalog job soon. */
static int add_conn(const char *id, void *value, void *ud)
{
    coord_t *c = ud;
    int added = 0;
    (void)value;
    cat_entry_t *e = ls_strmap_put(c->catalog->due, id, &added);
    if (!e || !added)
        return 0;
    int64_t within = refresh_ms(c) < FIRST_WITHIN_MS ? refresh_ms(c) : FIRST_WITHIN_MS;
    int64_t first = ls_time_now_ms() + (int64_t)(ls_hash64(id, strlen(id), LS_HASH_SEED) % (uint64_t)within);
    if (ls_coord_heap_set(&c->catalog->heap, &e->t, first) != LS_OK) {
        ls_strmap_del(c->catalog->due, id);
        ls_error("catalog of connection \"%s\" not scheduled: out of memory", id);
    }
    return 0;
}

/* Produce the catalog job of connection id (conn; the workspace-qualified id, also its key on the jobs
 * topic) without waiting for its delivery report. The job names the connection's workspace, whose
 * base URL and token the worker fetches the catalog with, and its id within that workspace. */
static int enqueue(coord_t *c, const char *id, const coord_conn_t *conn, int64_t due)
{
    ls_job_t job;
    memset(&job, 0, sizeof(job));
    job.kind = LS_JOB_CATALOG;
    job.mode = LS_MODE_FULL;
    snprintf(job.connection_id, sizeof(job.connection_id), "%s", coord_conn_raw_id(c, conn));
    snprintf(job.workspace, sizeof(job.workspace), "%s", c->cfg->workspaces[conn->ws].name);
    snprintf(job.integration_type, sizeof(job.integration_type), "%s", conn->integration_type);
    snprintf(job.external_xref, sizeof(job.external_xref), "%s", conn->external_xref);
    snprintf(job.tenant, sizeof(job.tenant), "%s", coord_tenant_of(c, conn));
    snprintf(job.job_id, sizeof(job.job_id), "%s//catalog@%lld", id, (long long)due);
    job.scheduled_at = due;
    job.leader_epoch = c->cfg->leader_election ? c->epoch : 0;
    char *v = ls_job_encode(&job);
    size_t il = strlen(id);
    cat_send_t *snd = v ? malloc(sizeof(*snd) + il + 1) : NULL;
    if (!snd) {
        free(v);
        return LS_ENOMEM;
    }
    ls_batch_init(&snd->b);
    memcpy(snd->id, id, il + 1);
    int rc = ls_producer_send(c->producer, c->topic_jobs, -1, id, il, v, strlen(v), NULL, 0, &snd->b, LS_SEND_NOW);
    free(v);
    if (rc != LS_OK) {
        free(snd);
        return rc;
    }
    snd->next = c->catalog->sends;
    c->catalog->sends = snd;
    ls_debug("enqueued catalog job \"%s\"", job.job_id);
    return LS_OK;
}

/* Delivery reports: a job that was not delivered is tried again shortly. */
static void reap_sends(coord_t *c, int64_t now)
{
    struct coord_catalog *cat = c->catalog;
    if (!cat->sends)
        return;
    ls_producer_poll(c->producer);
    for (cat_send_t **pp = &cat->sends; *pp;) {
        cat_send_t *s = *pp;
        if (s->b.pending > 0) {
            pp = &s->next;
            continue;
        }
        cat_entry_t *e = ls_strmap_get(cat->due, s->id);
        if (s->b.failed) {
            cat->failed++;
            ls_warn("catalog job of \"%s\" not enqueued, will retry: %s", s->id, s->b.err);
            if (e)
                ls_coord_heap_set(&cat->heap, &e->t, now + RETRY_MS);
        } else {
            cat->enqueued++;
        }
        *pp = s->next;
        free(s);
    }
}

/* Due connections get their catalog job (as far as the enqueue token bucket allows). */
static void serve_due(coord_t *c, int64_t now)
{
    struct coord_catalog *cat = c->catalog;
    ls_coord_timer_t *t;
    while ((t = ls_coord_heap_top(&cat->heap)) && t->due_ms <= now && c->enqueue_tokens >= 1.0) {
        cat_entry_t *e = (cat_entry_t *)t;
        const char *id = ls_strmap_name(cat->due, e);
        const coord_conn_t *conn = ls_strmap_get(c->conns, id);
        if (!conn) { /* no longer listed */
            ls_coord_heap_remove(&cat->heap, t);
            ls_strmap_del(cat->due, id);
            continue;
        }
        int64_t due = t->due_ms;
        if (enqueue(c, id, conn, due) != LS_OK) {
            ls_coord_heap_set(&cat->heap, t, now + RETRY_MS);
            return;
        }
        c->enqueue_tokens -= 1.0;
        ls_coord_heap_set(&cat->heap, t, due + refresh_ms(c) > now ? due + refresh_ms(c) : now + refresh_ms(c));
    }
}

void coord_catalog_turn(coord_t *c, int64_t now)
{
    if (!c->cfg->enrichment_enabled || !c->conns)
        return;
    if (!c->catalog && (!(c->catalog = calloc(1, sizeof(*c->catalog))) ||
                        !(c->catalog->due = ls_strmap_new(sizeof(cat_entry_t))))) {
        free(c->catalog);
        c->catalog = NULL;
        ls_error("catalog jobs not scheduled: out of memory");
        return;
    }
    struct coord_catalog *cat = c->catalog;
    reap_sends(c, now);
    if (ls_strmap_count(c->conns) != cat->known || c->disco.gen != cat->gen) { /* a listing changed the set */
        ls_strmap_sweep(c->conns, add_conn, c);
        cat->known = ls_strmap_count(c->conns);
        cat->gen = c->disco.gen;
    }
    serve_due(c, now);
}

void coord_catalog_release(coord_t *c)
{
    struct coord_catalog *cat = c->catalog;
    if (!cat)
        return;
    while (cat->sends) { /* the producer is closed: no delivery report points at them any more */
        cat_send_t *s = cat->sends;
        cat->sends = s->next;
        free(s);
    }
    ls_coord_heap_release(&cat->heap);
    ls_strmap_destroy(cat->due);
    free(cat);
    c->catalog = NULL;
}
