/*
 * ls_daemon.c - common start-up of the lmsync programs (thin mains).
 */
#include "ls_daemon.h"
#include "ls_http.h"
#include "ls_err.h"
#include "ls_log.h"
#include "ls_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A loop silent for longer than this fails /healthz (the liveness probe's
 * own period and threshold add to it). The loops beat every 200 ms or so. */
#define OPS_STALE_MS 60000

volatile sig_atomic_t ls_daemon_stop = 0;

static void on_stop(int sig)
{
    (void)sig;
    ls_daemon_stop = ls_daemon_stop + 1;
}

void ls_daemon_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* No reload: settings change by restart (docs/architecture.md, "Changing
     * settings"). Ignored rather than left at its default so a stray HUP
     * neither kills a worker master without its drain nor differs between a
     * shell and PID 1 in a container; forked children inherit SIG_IGN. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
}

static void usage(const char *proc, const ls_daemon_opt_t *opts, int n)
{
    printf("usage: lmsync-%s [--config FILE] [--check-config]", proc);
    for (int i = 0; i < n; i++)
        printf(" [%s%s]", opts[i].name, opts[i].has_value ? " VALUE" : "");
    printf("\n  --config FILE    settings file (key = value); environment LMSYNC_<KEY> overrides\n"
           "  --check-config   validate the settings, print them (secrets masked), exit 0/1\n");
    for (int i = 0; i < n; i++)
        printf("  %-16s %s\n", opts[i].name, opts[i].help);
}

/* Returns index past the option, or -1 on error. */
static int parse_opt(int argc, char **argv, int i, ls_daemon_opt_t *opts, int n)
{
    for (int k = 0; k < n; k++) {
        if (strcmp(argv[i], opts[k].name) != 0)
            continue;
        if (!opts[k].has_value) {
            opts[k].value = "";
            return i + 1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "option %s needs a value\n", argv[i]);
            return -1;
        }
        opts[k].value = argv[i + 1];
        return i + 2;
    }
    fprintf(stderr, "unknown option \"%s\" (see --help)\n", argv[i]);
    return -1;
}

int ls_daemon_init(int argc, char **argv, const char *proc, int require_token,
                   ls_daemon_opt_t *opts, int n_opts, ls_config_t *cfg)
{
    return ls_daemon_init_checked(argc, argv, proc, require_token, opts, n_opts, NULL, cfg);
}

int ls_daemon_init_checked(int argc, char **argv, const char *proc, int require_token,
                           ls_daemon_opt_t *opts, int n_opts, ls_daemon_check_t check_fn, ls_config_t *cfg)
{
    const char *path = getenv("LMSYNC_CONFIG");
    int check = 0;
    for (int i = 1; i < argc;) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(proc, opts, n_opts);
            return 0;
        } else if (strcmp(argv[i], "--check-config") == 0) {
            check = 1;
            i++;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            path = argv[i + 1];
            i += 2;
        } else if ((i = parse_opt(argc, argv, i, opts, n_opts)) < 0) {
            return 1;
        }
    }
    char err[1024];
    if (ls_config_load(path, require_token, cfg, err, sizeof(err)) != LS_OK ||
        (check_fn && check_fn(cfg, err, sizeof(err)) != LS_OK)) {
        fprintf(stderr, "lmsync-%s: invalid configuration: %s\n", proc, err);
        return 1;
    }
    if (check) {
        ls_config_dump(cfg, stdout);
        printf("configuration ok\n");
        return 0;
    }
    ls_log_level_t lvl = LS_LOG_INFO;
    ls_log_level_parse(cfg->log_level, &lvl);
    ls_log_init(proc, lvl, strcmp(cfg->log_format, "json") == 0);
    ls_http_set_max_response((size_t)cfg->max_response_mb << 20, "unified.max_response_mb");
    ls_daemon_install_signals();
    return -1;
}

int ls_daemon_write_port_file(const char *key, const char *path, int port)
{
    if (!path[0])
        return 0;
    FILE *f = fopen(path, "w");
    int ok = f && fprintf(f, "%d\n", port) > 0;
    if (f)
        ok = fclose(f) == 0 && ok;
    if (!ok) {
        ls_error("setting '%s': cannot write \"%s\"", key, path);
        return 1;
    }
    return 0;
}

int ls_daemon_ops_start(const ls_config_t *cfg, size_t first_slot, size_t n_slots, ls_ops_t **ops)
{
    char err[512];
    *ops = NULL;
    if (!cfg->ops_listen[0])
        return 0;
    ls_ops_conf_t oc = {cfg->ops_listen, first_slot, n_slots, OPS_STALE_MS};
    if (!(*ops = ls_ops_start(&oc, err, sizeof(err)))) {
        ls_error("%s", err);
        return 1;
    }
    if (ls_daemon_write_port_file("ops.port_file", cfg->ops_port_file, ls_ops_port(*ops)) != 0) {
        ls_ops_stop(*ops);
        *ops = NULL;
        return 1;
    }
    ls_info("ops endpoint on port %d: /healthz /readyz /metrics", ls_ops_port(*ops));
    return 0;
}

int ls_daemon_single_start(const ls_config_t *cfg, const char *what, const ls_metric_def_t *defs, size_t n_defs,
                           ls_ops_t **ops)
{
    *ops = NULL;
    if (ls_metrics_init(defs, n_defs, 1) != 0) {
        ls_error("%s cannot start: cannot map the metric region", what);
        return LS_ENOMEM;
    }
    if (ls_daemon_ops_start(cfg, 0, 1, ops) != 0) {
        ls_metrics_free();
        return LS_EINVAL;
    }
    ls_metrics_heartbeat(ls_time_mono_ms(), LS_PROC_STARTING);
    return 0;
}
