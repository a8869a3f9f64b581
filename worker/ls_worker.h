/*
 * ls_worker.h - one worker process: consume jobs, run them, report, commit.
 */
#ifndef LS_WORKER_H
#define LS_WORKER_H

#include <signal.h>
#include "ls_config.h"

/**
 * Create this process's clients (Kafka, LMDB, curl: after any fork), then
 * consume lmsync.poll.jobs until *stop is set. Up to worker.max_in_flight
 * jobs run at once in one event loop (never two of one connection); a
 * partition's offset is committed only up to its first job whose status
 * record is not yet delivered.
 * @return 0 on a clean stop; a negative LS_E* with the reason logged when a
 *         client cannot be created (bad brokers, unwritable LMDB path).
 */
int ls_worker_run(const ls_config_t *cfg, volatile sig_atomic_t *stop);

#endif
