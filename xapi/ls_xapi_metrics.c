/* ls_xapi_metrics.c - lmsync-xapi's metric catalog. */
#include "ls_xapi_metrics.h"
#include "ls_xapi_lrs.h"
#include "ls_xapi_map.h"

static const char *const statement_outcomes[] = {"accepted", "duplicate", "dead_lettered", NULL};

const ls_metric_def_t ls_xapi_metrics[XM__COUNT] = {
    [XM_EVENTS] = {"lmsync_xapi_events_total", "Change events read, by what became of them.",
                   LS_MT_COUNTER, LS_AGG_SUM, {{LS_DIM_LIST, "outcome", ls_xapi_outcome_names}}},
    [XM_STATEMENTS] = {"lmsync_xapi_statements_total",
                       "Statements resolved: accepted by the LRS, known to it already (same id and content), or dead-lettered.",
                       LS_MT_COUNTER, LS_AGG_SUM, {{LS_DIM_LIST, "outcome", statement_outcomes}}},
    [XM_LRS_ERRORS] = {"lmsync_xapi_lrs_errors_total", "LRS requests that failed, by reason (retried with backoff, or bisected when refused).",
                       LS_MT_COUNTER, LS_AGG_SUM, {{LS_DIM_LIST, "reason", ls_xapi_fail_names}}},
    [XM_POSTS] = {"lmsync_xapi_posts_total", "POST /statements the LRS accepted.", LS_MT_COUNTER, LS_AGG_SUM, {{0}}},
    [XM_POST_SECONDS] = {"lmsync_xapi_post_seconds", "POST /statements round trips.", LS_MT_HISTOGRAM, LS_AGG_SUM, {{0}}},
    [XM_DLQ] = {"lmsync_xapi_dlq_total", "Messages written to the dead-letter topic.", LS_MT_COUNTER, LS_AGG_SUM, {{0}}},
    [XM_COMMIT_ERRORS] = {"lmsync_xapi_commit_errors_total", "Offset commits that failed (the events come again; same statement ids).",
                          LS_MT_COUNTER, LS_AGG_SUM, {{0}}},
    [XM_LRS_UP] = {"lmsync_xapi_lrs_up", "1 when the last LRS request was answered without a failure, else 0.",
                   LS_MT_GAUGE, LS_AGG_MAX, {{0}}},
};
