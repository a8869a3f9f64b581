/*
 * ls_supervisor.h - the lmsync-worker master: fork N worker processes,
 * restart the ones that die, drain them on SIGTERM (nginx-style prefork).
 */
#ifndef LS_SUPERVISOR_H
#define LS_SUPERVISOR_H

#include <signal.h>
#include "ls_config.h"

/* How long the master waits for its children after forwarding SIGTERM
 * before it SIGKILLs the stragglers. A job interrupted this way is not
 * committed, so it is consumed again. */
#define LS_SUPERVISOR_DRAIN_MS 30000

/**
 * Fork cfg->worker_processes children (0 = one per online core), each
 * running ls_worker_run(cfg, stop) and exiting with its result; it never
 * returns in a child. The master creates no Kafka, LMDB or curl handle.
 * Until *stop is set it reaps children and restarts them with backoff.
 * On *stop it forwards SIGTERM, waits up to LS_SUPERVISOR_DRAIN_MS, then
 * SIGKILLs; *stop >= 2 (a second SIGTERM) SIGKILLs at once.
 * A child that exits with status 1 on its first start (a start-up error,
 * already logged by the child) stops the whole pool.
 * @param cfg  borrowed; must outlive the call (children inherit a copy).
 * @param stop set by the signal handlers only; read here.
 * @return LS_OK when every child exited cleanly after a stop; LS_EINVAL
 *         after a start-up failure; LS_EIO when fork failed or a child had
 *         to be killed or exited uncleanly while draining.
 */
int ls_supervisor_run(const ls_config_t *cfg, volatile sig_atomic_t *stop);

#endif
