/*
 * lmsync-admin - operator commands: create and check the Kafka topics,
 * summarise the sync status per connection. See docs/operations.md.
 *
 *   lmsync-admin topics create [--partitions N] [--replication R] [--config FILE]
 *   lmsync-admin topics check  [--partitions N] [--replication R] [--config FILE]
 *   lmsync-admin status [--json] [--config FILE]
 *   lmsync-admin catalog CONNECTION [--config FILE]
 *   lmsync-admin resync CONNECTION [--wait S] [--config FILE]
 */
#include "admin_run.h"
#include "ls_daemon.h"
#include "ls_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: lmsync-admin topics create [--partitions N] [--replication R] [--config FILE] [--timeout S]\n"
    "       lmsync-admin topics check  [--partitions N] [--replication R] [--config FILE] [--timeout S]\n"
    "       lmsync-admin status [--json] [--config FILE] [--timeout S]\n"
    "       lmsync-admin catalog CONNECTION [--config FILE]   (cached course/content names, worker.lmdb_path)\n"
    "       lmsync-admin resync CONNECTION [--wait S] [--config FILE] [--timeout S]\n"
    "settings as for the daemons (kafka.brokers, kafka.topic_prefix, worker.state_tombstone_retention_s)\n"
    "exit: 0 verified, 1 difference or failure, 2 usage, 3 configs not verifiable (broker lacks the admin call)\n";

enum { CMD_NONE, CMD_CREATE, CMD_CHECK, CMD_STATUS, CMD_CATALOG, CMD_RESYNC };

/* The command named by argv[1..]; *words = how many argv entries it took. */
static int command_of(int argc, char **argv, int *words)
{
    if (argc >= 3 && strcmp(argv[1], "topics") == 0) {
        *words = 2;
        return strcmp(argv[2], "create") == 0 ? CMD_CREATE : strcmp(argv[2], "check") == 0 ? CMD_CHECK : CMD_NONE;
    }
    if (argc >= 3 && strcmp(argv[1], "catalog") == 0 && argv[2][0] != '-') {
        *words = 2;
        return CMD_CATALOG;
    }
    if (argc >= 3 && strcmp(argv[1], "resync") == 0 && argv[2][0] != '-') {
        *words = 2; /* the connection id */
        return CMD_RESYNC;
    }
    *words = 1;
    return argc >= 2 && strcmp(argv[1], "status") == 0 ? CMD_STATUS : CMD_NONE;
}

static int parse_count(const char *opt, const char *v, int max, int *out)
{
    char *end = NULL;
    long n = v ? strtol(v, &end, 10) : 0;
    if (!v)
        return LS_OK;
    if (!*v || *end || n < 1 || n > max) {
        fprintf(stderr, "lmsync-admin: %s must be an integer 1..%d, got \"%s\"\n", opt, max, v);
        return LS_EINVAL;
    }
    *out = (int)n;
    return LS_OK;
}

int main(int argc, char **argv)
{
    int words = 0, cmd = command_of(argc, argv, &words);
    if (cmd == CMD_NONE) {
        int help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        fputs(usage, help ? stdout : stderr);
        return help ? ADMIN_EXIT_OK : ADMIN_EXIT_USAGE;
    }
    ls_daemon_opt_t opts[] = {
        {"--partitions", 1, "partitions of every topic but the DLQ (create: default 24; check: compared when given)", NULL},
        {"--replication", 1, "replication factor (create: broker default; check: compared when given)", NULL},
        {"--json", 0, "status: one JSON object per scope and line", NULL},
        {"--timeout", 1, "seconds to wait for each cluster request (default 15)", NULL},
        {"--wait", 1, "resync: seconds to wait for the status record of every resync job and print them", NULL},
    };
    /* ls_daemon_init sees argv[0] followed by the options after the command words. */
    /* the connection id of catalog/resync, before argv[words] is overwritten */
    const char *connection = cmd == CMD_CATALOG || cmd == CMD_RESYNC ? argv[2] : NULL;
    argv[words] = argv[0];
    ls_config_t cfg;
    int rc = ls_daemon_init(argc - words, argv + words, "admin", 0, opts, 5, &cfg);
    if (rc >= 0)
        return rc == 0 ? ADMIN_EXIT_OK : ADMIN_EXIT_USAGE;
    if (cmd == CMD_CATALOG)
        return admin_run_catalog(&cfg, connection, stdout);
    admin_opts_t o = {.timeout_ms = 15000};
    int timeout_s = 15;
    if (parse_count("--partitions", opts[0].value, 100000, &o.partitions) != LS_OK ||
        parse_count("--replication", opts[1].value, 32767, &o.replication) != LS_OK ||
        parse_count("--timeout", opts[3].value, 3600, &timeout_s) != LS_OK ||
        parse_count("--wait", opts[4].value, 86400, &o.wait_s) != LS_OK)
        return ADMIN_EXIT_USAGE;
    o.json = opts[2].value != NULL;
    o.timeout_ms = timeout_s * 1000;
    if (cmd == CMD_STATUS)
        return admin_run_status(&cfg, &o, stdout);
    if (cmd == CMD_RESYNC)
        return admin_run_resync(&cfg, &o, connection, stdout);
    return cmd == CMD_CREATE ? admin_run_topics_create(&cfg, &o, stdout) : admin_run_topics_check(&cfg, &o, stdout);
}
