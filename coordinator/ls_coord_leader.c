/*
 * ls_coord_leader.c - one active coordinator among replicas, elected
 * through Kafka itself (coordinator.leader_election = 1).
 *
 * Every replica joins the consumer group <prefix>-coordinator-leader on the
 * topic <prefix>.coordinator.leader (nothing is ever produced to it; its
 * partitions stay paused). Exactly one member is assigned partition 0: that
 * member leads. With a session timeout of 6 s, a killed leader is out of
 * the group within 6 s and the next rebalance gives partition 0 to a
 * standby. A leader stops enqueuing at once when the group revokes the
 * partition or librdkafka reports the assignment lost, and also when its own
 * loop stalled for more than half a session (SIGSTOP, a frozen VM): it
 * cannot know whether the group already replaced it, so it gives up,
 * leaves the group and joins again (it leads again only if the group says
 * so). Each leadership term has an epoch (the wall clock in ms when it
 * began), written into every job (leader_epoch), so jobs of two terms can be
 * told apart; the workers' stale and duplicate checks stay the safety net
 * for jobs a deposed leader had already produced.
 */
#include "ls_coord_int.h"
#include "ls_coord_metrics.h"
#include "ls_err.h"
#include "ls_log.h"
#include "ls_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_MS 6000
#define STALL_MS (SESSION_MS / 2)

static void on_rebalance(ls_rebalance_t what, const int *parts, size_t n, int lost, void *ud)
{
    coord_t *c = ud;
    int has0 = 0;
    for (size_t i = 0; i < n; i++)
        has0 |= parts[i] == 0;
    if (what == LS_REBALANCE_ASSIGN)
        c->lead_assigned = has0;
    else if (has0 || lost)
        c->lead_assigned = 0;
    ls_debug("leader group: %s %zu partitions%s", what == LS_REBALANCE_ASSIGN ? "assigned" : "revoked", n,
             lost ? " (lost)" : "");
}

static int election_join(coord_t *c)
{
    char err[512], group[160];
    ls_kafka_conf_t kc = ls_config_kafka(c->cfg);
    kc.session_timeout_ms = SESSION_MS;
    snprintf(group, sizeof(group), "%s-coordinator-leader", c->cfg->topic_prefix);
    c->election = ls_consumer_new_rebalance(&kc, group, c->topic_leader, on_rebalance, c, err, sizeof(err));
    if (!c->election) {
        ls_error("coordinator cannot join the leader election: %s", err);
        return LS_ETRANSIENT;
    }
    return LS_OK;
}

int coord_election_open(coord_t *c)
{
    ls_config_topic(c->cfg, "coordinator.leader", c->topic_leader, sizeof(c->topic_leader));
    if (!c->cfg->leader_election)
        return LS_OK; /* a single coordinator always leads */
    ls_info("leader election: group \"%s-coordinator-leader\" on \"%s\"", c->cfg->topic_prefix, c->topic_leader);
    return election_join(c);
}

void coord_election_close(coord_t *c)
{
    ls_consumer_destroy(c->election);
    c->election = NULL;
}

/* Serve the group's callbacks (waiting up to wait_ms); nothing is ever delivered from the topic. */
static void election_poll(coord_t *c, int wait_ms)
{
    ls_kmsg_t m;
    while (ls_consumer_poll(c->election, wait_ms, &m) == LS_OK) {
        ls_kmsg_release(&m);
        wait_ms = 0;
    }
    if (ls_consumer_assignment_lost(c->election))
        c->lead_assigned = 0;
}

coord_term_t coord_term_verdict(int64_t own, int64_t seen, int64_t due_ms)
{
    if (own <= 0 || seen <= 0 || seen == own)
        return COORD_TERM_OK;
    if (seen > own)
        return COORD_TERM_NEWER;
    return due_ms > own + COORD_SKEW_MS ? COORD_TERM_OLDER_LIVE : COORD_TERM_OK;
}

/* The due time in a job id "key@due" (0 when it has none). */
static int64_t job_due(const char *job_id)
{
    const char *at = strrchr(job_id, '@');
    return at ? strtoll(at + 1, NULL, 10) : 0;
}

int coord_term_seen(coord_t *c, int64_t seen, int64_t due_ms, const char *what, const char *id, const char *verb)
{
    if (!c->cfg->leader_election)
        return 0;
    coord_term_t v = coord_term_verdict(c->epoch, seen, due_ms);
    if (v == COORD_TERM_OK)
        return 0;
    ls_metric_add(CM_SPLIT_BRAIN, 0, 0, 1);
    if (v == COORD_TERM_OLDER_LIVE) {
        ls_error("split brain: %s \"%s\" of leader epoch %lld was due after this replica began leading with "
                 "epoch %lld: the replica of epoch %lld still enqueues (it steps down when it sees this term's jobs)",
                 what, id, (long long)seen, (long long)c->epoch, (long long)seen);
        return 0;
    }
    ls_error("split brain: %s \"%s\" was %s by leader epoch %lld while this replica leads with epoch %lld; "
             "this term is older: stepping down and joining the election again",
             what, id, verb, (long long)seen, (long long)c->epoch);
    c->lead_assigned = 0;
    coord_election_close(c);
    return 1;
}

int coord_term_check(coord_t *c, const ls_job_t *job)
{
    if (!c->leading)
        return 0;
    return coord_term_seen(c, job->leader_epoch, job_due(job->job_id), "job", job->job_id, "enqueued");
}

int coord_may_lead(coord_t *c, int wait_ms)
{
    if (!c->cfg->leader_election)
        return 1;
    int64_t mono = ls_time_mono_ms();
    if (c->leading && c->last_turn_mono && mono - c->last_turn_mono > STALL_MS) {
        ls_warn("the loop stalled for %lld ms while leading: giving up leadership and joining the election again",
                (long long)(mono - c->last_turn_mono));
        c->lead_assigned = 0;
        coord_election_close(c);
    }
    if (!c->election && election_join(c) != LS_OK)
        return 0;
    c->last_turn_mono = mono;
    election_poll(c, wait_ms);
    return c->lead_assigned;
}
