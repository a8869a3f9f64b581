/*
 * lmsync-board - a live web page of course progress and the latest change
 * events, for demos and operators (docs/board.md).
 */
#include "board_run.h"
#include "ls_daemon.h"

int main(int argc, char **argv)
{
    ls_config_t cfg;
    int rc = ls_daemon_init(argc, argv, "board", 0, NULL, 0, &cfg);
    if (rc >= 0)
        return rc;
    return board_run(&cfg);
}
