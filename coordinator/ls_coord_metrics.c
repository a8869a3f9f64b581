/* ls_coord_metrics.c - the coordinator's metric catalog. */
#include "ls_coord_metrics.h"
#include "ls_coord_adapt.h"

static const char *const modes[] = {"full", "incremental", NULL}; /* index = ls_mode_t - 1 */
static const char *const outcomes[] = {"ok", "failed", "skipped", NULL};

static const char *const budgets[] = {"deployment", "integration", "tenant", NULL};
static const double interval_bounds[LS_METRICS_BUCKETS - 1] = {10, 30, 60, 120, 240, 300, 600, 900, 1800, 3600, 14400};

static const char *const control_results[] = {"enqueued", "unknown_connection", "not_polled", "malformed", NULL};
static const char *const wh_kinds[] = {"native", "virtual", NULL};
static const char *const wh_actions[] = {"created", "deleted", NULL};

#define G(n, h) {n, h, LS_MT_GAUGE, LS_AGG_SUM, {{0}}}
#define C(n, h) {n, h, LS_MT_COUNTER, LS_AGG_SUM, {{0}}}

const ls_metric_def_t ls_coord_metrics[CM__COUNT] = {
    [CM_CONNECTIONS] = G("lmsync_coordinator_connections", "LMS connections known (discovered or configured)."),
    [CM_SCOPES] = G("lmsync_coordinator_scopes", "Poll scopes: one per connection, or one per course of a fanned-out connection."),
    [CM_SCOPES_DUE] = G("lmsync_coordinator_scopes_due", "Scopes whose next poll is due and whose job is not enqueued yet."),
    [CM_SCOPES_OVERDUE] = G("lmsync_coordinator_scopes_overdue", "Scopes due for longer than one poll interval."),
    [CM_SCOPES_FAILING] = G("lmsync_coordinator_scopes_failing", "Scopes whose last job failed."),
    [CM_OLDEST_UNSYNCED] = G("lmsync_coordinator_oldest_unsynced_seconds",
                             "Freshness: seconds since the least recently synced scope last reported ok (since start when it never did)."),
    [CM_OLDEST_POLL_AGE] = G("lmsync_coordinator_oldest_poll_age_seconds",
                             "Freshness of polling: age of the oldest last successful poll among the scopes polled ok "
                             "since this coordinator started (0 before any)."),
    [CM_JOBS_ENQUEUED] = {"lmsync_coordinator_jobs_enqueued_total", "Poll jobs acknowledged by Kafka, by mode.",
                          LS_MT_COUNTER, LS_AGG_SUM, {{LS_DIM_LIST, "mode", modes}}},
    [CM_ENQUEUE_ERRORS] = C("lmsync_coordinator_enqueue_errors_total", "Poll jobs Kafka did not acknowledge (retried on the next pass)."),
    [CM_JOBS_REPORTED] = {"lmsync_coordinator_jobs_reported_total", "Status records of this coordinator's jobs, by outcome.",
                          LS_MT_COUNTER, LS_AGG_SUM, {{LS_DIM_LIST, "outcome", outcomes}}},
    [CM_LATENESS] = {"lmsync_coordinator_job_lateness_seconds",
                     "How late each poll job was produced, against the scope's due time.", LS_MT_HISTOGRAM, LS_AGG_SUM, {{0}}},
    [CM_LEADER] = G("lmsync_coordinator_leader", "1 while this replica is the active coordinator (enqueues jobs), 0 on a standby."),
    [CM_SCHEDULE_RESTORED] = C("lmsync_coordinator_schedule_restored_total",
                               "Scope schedules read back from the schedule topic at start."),
    [CM_SCHEDULE_SKIPPED] = C("lmsync_coordinator_schedule_skipped_total",
                              "Schedule records that could not be decoded (the scope started fresh)."),
    [CM_SCHEDULE_WRITE_ERRORS] = C("lmsync_coordinator_schedule_write_errors_total",
                                   "Schedule records the producer refused (the schedule on Kafka is older for that scope)."),
    [CM_IDS_REJECTED] = C("lmsync_coordinator_ids_rejected_total",
                          "Listed connection and course ids skipped: they cannot be a key part ('/' or a control character)."),
    [CM_SPLIT_BRAIN] = C("lmsync_coordinator_split_brain_total",
                         "Job outcomes of another leader term seen while this replica leads: two replicas enqueued at once."),
    [CM_CONTROL] = {"lmsync_coordinator_control_requests_total",
                    "Operator requests read from the control topic: enqueued (a resync's jobs acknowledged), "
                    "unknown_connection, not_polled (no scope to poll), malformed (all three rejected).",
                    LS_MT_COUNTER, LS_AGG_SUM, {{LS_DIM_LIST, "result", control_results}}},
    [CM_WEBHOOK_SUBS] = {"lmsync_coordinator_webhook_subscriptions",
                         "Webhook subscriptions in Unified that lmsync owns (hook_url = webhook.hook_url) and keeps, by kind.",
                         LS_MT_GAUGE, LS_AGG_SUM, {{LS_DIM_LIST, "kind", wh_kinds}}},
    [CM_WEBHOOK_SUB_CHANGES] = {"lmsync_coordinator_webhook_subscription_changes_total",
                                "Webhook subscriptions the reconciler created or deleted in Unified.",
                                LS_MT_COUNTER, LS_AGG_SUM, {{LS_DIM_LIST, "action", wh_actions}}},
    [CM_WEBHOOK_SUB_ERRORS] = C("lmsync_coordinator_webhook_subscription_errors_total",
                                "Webhook subscription lists, creates and deletes that failed (nothing is deleted on a failed list; retried next pass)."),
    [CM_SCOPES_BY_WHY] = {"lmsync_coordinator_scopes_by_interval_reason",
                          "Polled scopes by why they have their current interval: fixed, active, quiet, max, "
                          "budget:deployment, budget:integration, budget:tenant, webhook (covered by webhook subscriptions).",
                          LS_MT_GAUGE, LS_AGG_SUM, {{LS_DIM_LIST, "reason", ls_adapt_why_names}}},
    [CM_POLL_INTERVAL] = {"lmsync_coordinator_poll_interval_seconds",
                          "The interval chosen each time a scope's next poll is scheduled.", LS_MT_HISTOGRAM, LS_AGG_SUM,
                          {{0}}, interval_bounds},
    [CM_BUDGET_WAITS] = {"lmsync_coordinator_budget_waits_total",
                         "Due jobs a request budget held back (counted once per job), by budget.", LS_MT_COUNTER,
                         LS_AGG_SUM, {{LS_DIM_LIST, "budget", budgets}}},
    [CM_BUDGET_SHORT] = {"lmsync_coordinator_budget_short",
                         "Budgets that cannot pay for every scope at polling.max_interval_s (deployment: 0 or 1; "
                         "integration, tenant: how many); their scopes wait beyond max.",
                         LS_MT_GAUGE, LS_AGG_SUM, {{LS_DIM_LIST, "budget", budgets}}},
    [CM_DISCOVERY_ERRORS] = C("lmsync_coordinator_discovery_errors_total", "Connection discovery passes that failed (the known set is kept)."),
};
