/* lmsync-xapi: xAPI statements from lmsync's change events, posted to an LRS (docs/xapi.md). */
#include "ls_daemon.h"
#include "ls_xapi_run.h"

int main(int argc, char **argv)
{
    ls_config_t cfg;
    int rc = ls_daemon_init_checked(argc, argv, "xapi", 0, NULL, 0, ls_xapi_check_config, &cfg);
    if (rc >= 0)
        return rc;
    return ls_xapi_run(&cfg, &ls_daemon_stop) == 0 ? 0 : 1;
}
