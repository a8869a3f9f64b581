/* lmsync-coordinator: discover LMS connections and enqueue their poll jobs. */
#include "ls_coord.h"
#include "ls_daemon.h"

int main(int argc, char **argv)
{
    ls_config_t cfg;
    int rc = ls_daemon_init(argc, argv, "coordinator", 0, NULL, 0, &cfg);
    if (rc >= 0)
        return rc;
    return ls_coord_run(&cfg, &ls_daemon_stop) == 0 ? 0 : 1;
}
