/*
 * ls_xapi_metrics.h - lmsync-xapi's metric catalog (ls_metrics.h rows;
 * docs/xapi.md lists them).
 */
#ifndef LS_XAPI_METRICS_H
#define LS_XAPI_METRICS_H

#include "ls_metrics.h"

typedef enum {
    XM_EVENTS,        /* counter {outcome}: ls_xapi_outcome_names */
    XM_STATEMENTS,    /* counter {outcome}: accepted, duplicate, dead_lettered */
    XM_LRS_ERRORS,    /* counter {reason}: ls_xapi_fail_names (failed requests, retried or bisected) */
    XM_POSTS,         /* counter: POSTs the LRS accepted */
    XM_POST_SECONDS,  /* histogram: POST round trips */
    XM_DLQ,           /* counter: messages written to <prefix>.xapi.dlq */
    XM_COMMIT_ERRORS, /* counter */
    XM_LRS_UP,        /* gauge: 1 when the last request got an answer that was not a failure */
    XM__COUNT
} ls_xapi_metric_t;

enum { XM_ST_ACCEPTED, XM_ST_DUPLICATE, XM_ST_DEAD_LETTERED };

extern const ls_metric_def_t ls_xapi_metrics[XM__COUNT];

#endif
