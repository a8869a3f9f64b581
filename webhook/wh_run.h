/*
 * wh_run.h - lmsync-webhook: receives Unified's webhook deliveries over
 * HTTP (libmicrohttpd, its own thread), decides on each (wh_app.h) within
 * milliseconds and enqueues an accepted one as a webhook job on
 * <prefix>.poll.jobs, keyed by its connection id like the coordinator's
 * jobs (same partition, same worker). The main loop serves the producer's
 * delivery reports, heartbeats, and re-reads the known connections.
 */
#ifndef WH_RUN_H
#define WH_RUN_H

#include <signal.h>
#include <stddef.h>
#include "ls_config.h"

/** Validate the webhook.* settings (ls_daemon_init_checked). 0, or non-zero with a reason naming the setting. */
int wh_check_config(const ls_config_t *cfg, char *err, size_t errsz);

/** Run until *stop. @return 0 after a clean stop, else a negative LS_E*. */
int wh_run(const ls_config_t *cfg, volatile sig_atomic_t *stop);

#endif
