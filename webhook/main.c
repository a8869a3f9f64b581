/* lmsync-webhook: Unified's webhook deliveries -> webhook jobs on the jobs topic (docs/webhooks.md). */
#include "ls_daemon.h"
#include "wh_run.h"

int main(int argc, char **argv)
{
    ls_config_t cfg;
    int rc = ls_daemon_init_checked(argc, argv, "webhook", 0, NULL, 0, wh_check_config, &cfg);
    if (rc >= 0)
        return rc;
    return wh_run(&cfg, &ls_daemon_stop) == 0 ? 0 : 1;
}
