/*
 * ls_coord_metrics.h - the coordinator's metric catalog (ls_metrics.h rows;
 * docs/operations.md lists them with their meaning).
 */
#ifndef LS_COORD_METRICS_H
#define LS_COORD_METRICS_H

#include "ls_metrics.h"

typedef enum {
    CM_CONNECTIONS,      /* gauge */
    CM_SCOPES,           /* gauge */
    CM_SCOPES_DUE,       /* gauge: due now, job not yet enqueued */
    CM_SCOPES_OVERDUE,   /* gauge: due for longer than one interval */
    CM_SCOPES_FAILING,   /* gauge: last job failed */
    CM_OLDEST_UNSYNCED,  /* gauge: seconds since the least recently synced scope's last ok job */
    CM_OLDEST_POLL_AGE,  /* gauge: age of the oldest successful poll among scopes polled ok since start */
    CM_JOBS_ENQUEUED,    /* counter {mode} */
    CM_ENQUEUE_ERRORS,   /* counter */
    CM_JOBS_REPORTED,    /* counter {outcome} */
    CM_DISCOVERY_ERRORS, /* counter */
    CM_LATENESS,         /* histogram: job produced minus its due time */
    CM_LEADER,           /* gauge: 1 while this replica enqueues */
    CM_SCHEDULE_RESTORED, /* counter: scope schedules read back at start */
    CM_SCHEDULE_SKIPPED,  /* counter: schedule records that could not be decoded */
    CM_SCHEDULE_WRITE_ERRORS, /* counter: schedule records not produced */
    CM_IDS_REJECTED,      /* counter: listed connection/course ids that cannot be a key part (skipped) */
    CM_SPLIT_BRAIN,       /* counter: records of another leader term seen while leading */
    CM_CONTROL,           /* counter {result}: operator requests on the control topic (CM_CONTROL_*) */
    CM_WEBHOOK_SUBS,      /* gauge {kind}: owned webhook subscriptions kept (CM_WH_*) */
    CM_WEBHOOK_SUB_CHANGES, /* counter {action}: subscriptions created, deleted (CM_WH_CREATED, CM_WH_DELETED) */
    CM_WEBHOOK_SUB_ERRORS,  /* counter: failed subscription lists, creates, deletes */
    CM_SCOPES_BY_WHY,     /* gauge {reason}: scopes by why they have their interval (ls_ival_why_t) */
    CM_POLL_INTERVAL,     /* histogram: the intervals chosen */
    CM_BUDGET_WAITS,      /* counter {budget}: jobs held by a request budget (CM_BUDGET_*) */
    CM_BUDGET_SHORT,      /* gauge {budget}: budgets that cannot pay for every scope at polling.max_interval_s */
    CM__COUNT
} ls_coord_metric_t;

/* Label values, in the order of the catalog's lists. */
enum { CM_OUTCOME_OK, CM_OUTCOME_FAILED, CM_OUTCOME_SKIPPED };
enum { CM_BUDGET_DEPLOYMENT, CM_BUDGET_INTEGRATION, CM_BUDGET_TENANT };
enum { CM_CONTROL_ENQUEUED, CM_CONTROL_UNKNOWN_CONNECTION, CM_CONTROL_NOT_POLLED, CM_CONTROL_MALFORMED };
enum { CM_WH_NATIVE, CM_WH_VIRTUAL };
enum { CM_WH_CREATED, CM_WH_DELETED };

extern const ls_metric_def_t ls_coord_metrics[CM__COUNT];

#endif
