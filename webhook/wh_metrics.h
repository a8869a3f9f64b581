/* wh_metrics.h - lmsync-webhook's metric catalog (ls_metrics.h rows; docs/operations.md lists them). */
#ifndef WH_METRICS_H
#define WH_METRICS_H

#include "ls_metrics.h"

typedef enum {
    WHM_REQUESTS,       /* counter {result}: deliveries answered, by wh_result_t */
    WHM_CONNECTIONS,    /* gauge: connections known (from the schedule topic) */
    WHM_REFRESH_ERRORS, /* counter: schedule reads that failed (the previous set stays) */
    WHM__COUNT
} wh_metric_t;

extern const ls_metric_def_t wh_metrics[WHM__COUNT];

#endif
