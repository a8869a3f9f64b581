/* lmsync-worker: consume poll jobs and turn upstream activity into change events. */
#include "ls_daemon.h"
#include "ls_supervisor.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    ls_config_t cfg;
    ls_daemon_opt_t opts[] = {
        {"--processes", 1, "worker processes to fork (overrides worker.processes; 0 = one per core)", NULL},
    };
    int rc = ls_daemon_init(argc, argv, "worker", 1, opts, 1, &cfg);
    if (rc >= 0)
        return rc;
    if (opts[0].value) {
        char *end;
        long n = strtol(opts[0].value, &end, 10);
        if (*opts[0].value == '\0' || *end != '\0' || n < 0 || n > 256) {
            fprintf(stderr, "lmsync-worker: --processes must be an integer in 0..256, got \"%s\"\n",
                    opts[0].value);
            return 1;
        }
        cfg.worker_processes = (int)n;
    }
    return ls_supervisor_run(&cfg, &ls_daemon_stop) == 0 ? 0 : 1;
}
