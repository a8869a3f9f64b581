/*
 * ls_xapi_run.h - lmsync-xapi's loop: consume change events, map them,
 * post them to the LRS in batches, dead-letter what the LRS refuses, and
 * commit Kafka offsets only after every event of a batch is resolved.
 */
#ifndef LS_XAPI_RUN_H
#define LS_XAPI_RUN_H

#include <signal.h>
#include <stddef.h>

#include "ls_config.h"

/**
 * Check the xapi.* settings lmsync-xapi needs (xapi.lrs_url, the bases,
 * xapi.actor_scope). @return 0, or LS_EINVAL with err naming the setting.
 */
int ls_xapi_check_config(const ls_config_t *cfg, char *err, size_t errsz);

/**
 * Run until *stop. Start-up errors (bad settings, unreadable credentials,
 * no broker) are logged and returned; the LRS being down is not an error
 * (the loop backs off and keeps the offsets).
 * @return 0 after a stop, or a negative LS_E*.
 */
int ls_xapi_run(const ls_config_t *cfg, volatile sig_atomic_t *stop);

#endif
