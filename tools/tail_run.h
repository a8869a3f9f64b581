/*
 * tail_run.h - lmsync-tail's main loop: read, render, print, stop.
 */
#ifndef TAIL_RUN_H
#define TAIL_RUN_H

#include "tail_config.h"

/** Install SIGTERM/SIGINT handlers that request a stop; ignore SIGPIPE. */

/**
 * Print messages of cfg->topic on stdout, one per line, flushed per line,
 * until a signal, --max, --exit-at-end, --timeout-ms, or a closed stdout.
 * @return exit code: 0 on any of those, 1 on an error.
 */
int tail_run(const tail_config_t *cfg);

#endif
