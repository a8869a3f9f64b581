/*
 * lmsync-devbroker - a local, in-memory Kafka cluster (librdkafka's mock
 * cluster) for development and tests. See docs/devbroker.md.
 */
#include "db_app.h"
#include "db_config.h"
#include "ls_daemon.h"
#include "ls_err.h"
#include "ls_log.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    db_config_t cfg;
    char err[512];
    if (db_config_parse(&cfg, argc, argv, err, sizeof(err)) != LS_OK) {
        fprintf(stderr, "lmsync-devbroker: %s\n%s", err, db_config_usage());
        return 2;
    }
    if (cfg.help) {
        fputs(db_config_usage(), stdout);
        return 0;
    }
    ls_log_init("devbroker", cfg.log_level, cfg.log_json);
    ls_daemon_install_signals();
    return db_app_run(&cfg);
}
