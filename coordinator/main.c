/* lmsync-coordinator: discover LMS connections and enqueue their poll jobs. */
#include "ls_coord.h"
#include "ls_daemon.h"
#include "ls_profile.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    /* needs no config: prints docs/providers.md from the shipped table */
    if (argc == 2 && strcmp(argv[1], "--providers-md") == 0) {
        ls_config_t defaults;
        ls_config_defaults(&defaults);
        ls_strategy_cfg_t sc = ls_config_strategy(&defaults);
        ls_profile_providers_md(stdout, &sc);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    ls_config_t cfg;
    ls_daemon_opt_t opts[] = {
        {"--explain", 1, "print CONNECTION's capability profile and polling strategy with reasons, then exit", NULL},
        {"--providers-md", 0, "print docs/providers.md (what lmsync does per provider) and exit", NULL}};
    int rc = ls_daemon_init(argc, argv, "coordinator", 0, opts, 2, &cfg);
    if (rc >= 0)
        return rc;
    if (opts[1].value) {
        ls_strategy_cfg_t sc = ls_config_strategy(&cfg);
        ls_profile_providers_md(stdout, &sc);
        return 0;
    }
    if (opts[0].value)
        return ls_coord_explain(&cfg, opts[0].value, stdout) == 0 ? 0 : 1;
    return ls_coord_run(&cfg, &ls_daemon_stop) == 0 ? 0 : 1;
}
