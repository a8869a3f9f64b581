/*
 * db_config.h - command line of lmsync-devbroker.
 *
 * Parsed once in main() into a read-only struct; every other module gets the
 * values it needs passed in explicitly.
 */
#ifndef DB_CONFIG_H
#define DB_CONFIG_H

#include <stddef.h>

#include "ls_log.h"

#define DB_MAX_BROKERS 16
#define DB_MAX_PARTITIONS 1000

typedef struct db_config {
    int brokers;                   /* mock brokers, ids 1..brokers */
    int partitions;                /* partitions of every lmsync topic but the DLQ */
    const char *prefix;            /* topic prefix, e.g. "lmsync" (borrowed from argv) */
    const char *bootstrap_file;    /* NULL: do not write one (borrowed from argv) */
    int control_port;              /* 0: ephemeral */
    const char *control_port_file; /* NULL: do not write one (borrowed from argv) */
    int log_json;
    ls_log_level_t log_level;
    int help;                      /* --help given: print usage, exit 0 */
} db_config_t;

/**
 * Fill *cfg from argv (borrowed; must outlive cfg). Accepts "--opt value" and
 * "--opt=value".
 * @return 0, or LS_EINVAL with a one-line reason in err.
 */
int db_config_parse(db_config_t *cfg, int argc, char **argv, char *err, size_t errsz);

/** The usage text (static). */
const char *db_config_usage(void);

#endif
