/*
 * db_app.h - lmsync-devbroker's lifecycle: start the mock cluster, create the
 * lmsync topics, announce the bootstrap list, serve the control API, and stop
 * cleanly on SIGTERM/SIGINT.
 */
#ifndef DB_APP_H
#define DB_APP_H

#include "db_config.h"

/** Install SIGTERM/SIGINT handlers that request a stop; ignore SIGPIPE. */

/**
 * Run until a stop is requested. Prints exactly one line on stdout,
 * "lmsync-devbroker bootstrap <list>", once the topics exist.
 * @return process exit code: 0 after a clean stop, 1 on a startup failure.
 */
int db_app_run(const db_config_t *cfg);

#endif
