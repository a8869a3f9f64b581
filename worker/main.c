/* lmsync-worker: consume poll jobs and turn upstream activity into change events. */
#include "ls_daemon.h"
#include "ls_worker.h"

int main(int argc, char **argv)
{
    ls_config_t cfg;
    int rc = ls_daemon_init(argc, argv, "worker", 1, NULL, 0, &cfg);
    if (rc >= 0)
        return rc;
    return ls_worker_run(&cfg, &ls_daemon_stop) == 0 ? 0 : 1;
}
