/*
 * ls_daemon.h - what every lmsync main() does first: parse the common
 * options, load and validate the config, set up logging and signals.
 *
 *   --config FILE     config file (also LMSYNC_CONFIG)
 *   --check-config    validate, print the effective settings (secrets
 *                     masked), exit 0 if valid, 1 with the reason if not
 *   --help
 */
#ifndef LS_DAEMON_H
#define LS_DAEMON_H

#include <signal.h>
#include "ls_config.h"
#include "ls_metrics.h"
#include "ls_ops.h"

/* Count of SIGTERM/SIGINT received (the only signal flag). */
extern volatile sig_atomic_t ls_daemon_stop;

/* Extra options a program adds: "--name" with or without a value. */
typedef struct ls_daemon_opt {
    const char *name;       /* "--explain" */
    int has_value;
    const char *help;
    const char *value;      /* out: value, or "" for a flag that was given; NULL if not given */
} ls_daemon_opt_t;

/** Install the flag-only handlers: SIGTERM/SIGINT count into ls_daemon_stop;
 *  SIGHUP and SIGPIPE are ignored (there is no reload: settings change by a
 *  restart, docs/architecture.md "Changing settings"). */
void ls_daemon_install_signals(void);

/**
 * Parse argv (common options plus opts[0..n_opts)), load the config, init
 * the logger as proc, install signal handlers (which only set flags).
 * @return -1 to continue running; otherwise the exit code main() should
 *         return (0 after --help or a valid --check-config, 1 on error).
 */
int ls_daemon_init(int argc, char **argv, const char *proc, int require_token,
                   ls_daemon_opt_t *opts, int n_opts, ls_config_t *cfg);

/* A program's own validation of settings only it reads: 0, or non-zero with a reason naming the setting. */
typedef int (*ls_daemon_check_t)(const ls_config_t *cfg, char *err, size_t errsz);

/**
 * ls_daemon_init() plus check_fn (may be NULL) run after the config loaded:
 * its failure is an invalid configuration (exit 1, also for --check-config).
 */
int ls_daemon_init_checked(int argc, char **argv, const char *proc, int require_token,
                           ls_daemon_opt_t *opts, int n_opts, ls_daemon_check_t check_fn, ls_config_t *cfg);

/**
 * Write port as one line to path (a port-file setting such as ops.port_file;
 * "" = none, nothing written). @return 0, or 1 after logging an error naming key.
 */
int ls_daemon_write_port_file(const char *key, const char *path, int port);

/**
 * Start the operational endpoint when ops.listen is set (ls_ops.h),
 * watching metric slots [first_slot, first_slot + n_slots); write the bound
 * port to ops.port_file when set; log where it listens.
 * @return 0 with *ops (NULL when ops.listen is empty), or 1 after logging
 *         a start-up error that names 'ops.listen'.
 */
int ls_daemon_ops_start(const ls_config_t *cfg, size_t first_slot, size_t n_slots, ls_ops_t **ops);

/**
 * What a single-process program (coordinator, lmsync-xapi, lmsync-webhook)
 * does before its loop: map its metric region (defs, one slot), start the
 * operational endpoint (ls_daemon_ops_start) and report the heartbeat
 * "starting". what names the program in the error line ("xapi cannot
 * start: ..."). @return 0 with *ops; LS_ENOMEM or LS_EINVAL after logging,
 * with nothing left to free.
 */
int ls_daemon_single_start(const ls_config_t *cfg, const char *what, const ls_metric_def_t *defs, size_t n_defs,
                           ls_ops_t **ops);

#endif
