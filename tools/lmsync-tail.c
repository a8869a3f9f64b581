/*
 * lmsync-tail - print the messages of one Kafka topic, for `make demo` and
 * end-to-end tests. See docs/devbroker.md.
 */
#include "ls_daemon.h"
#include "ls_err.h"
#include "ls_log.h"
#include "tail_config.h"
#include "tail_run.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    tail_config_t cfg;
    char err[512];
    if (tail_config_parse(&cfg, argc, argv, err, sizeof(err)) != LS_OK) {
        fprintf(stderr, "lmsync-tail: %s\n%s", err, tail_config_usage());
        return 2;
    }
    if (cfg.help) {
        fputs(tail_config_usage(), stdout);
        return 0;
    }
    ls_log_init("tail", cfg.log_level, cfg.log_json);
    ls_daemon_install_signals();
    return tail_run(&cfg);
}
