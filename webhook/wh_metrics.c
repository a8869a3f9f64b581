/* wh_metrics.c - lmsync-webhook's metric catalog. */
#include "wh_metrics.h"

/* Index = wh_result_t (wh_app.h). */
static const char *const results[] = {"accepted",      "not_found",          "bad_content_type", "too_large",
                                      "bad_json",      "bad_payload",        "unknown_connection", "bad_signature",
                                      "replayed_nonce", "rate_limited",      "enqueue_failed",   NULL};

const ls_metric_def_t wh_metrics[WHM__COUNT] = {
    [WHM_REQUESTS] = {"lmsync_webhook_requests_total",
                      "Webhook deliveries answered, by result: accepted (202) or why refused (4xx, 503).",
                      LS_MT_COUNTER, LS_AGG_SUM, {{LS_DIM_LIST, "result", results}}, NULL},
    [WHM_CONNECTIONS] = {"lmsync_webhook_known_connections",
                         "Connections whose webhooks are accepted (read from the coordinator's schedule topic).",
                         LS_MT_GAUGE, LS_AGG_SUM, {{0}}, NULL},
    [WHM_REFRESH_ERRORS] = {"lmsync_webhook_refresh_errors_total",
                            "Reads of the schedule topic that failed (the previous set of connections stays).",
                            LS_MT_COUNTER, LS_AGG_SUM, {{0}}, NULL},
};
