/*
 * tail_config.h - command line of lmsync-tail.
 */
#ifndef TAIL_CONFIG_H
#define TAIL_CONFIG_H

#include <stddef.h>

#include "ls_log.h"

typedef enum tail_format { TAIL_FMT_LINE = 0, TAIL_FMT_JSON } tail_format_t;

typedef struct tail_config {
    const char *brokers;      /* bootstrap list (borrowed from argv) */
    const char *topic;        /* borrowed from argv */
    int from_end;             /* 0: beginning (default), 1: end */
    tail_format_t format;
    int exit_at_end;          /* stop once every partition reached its end */
    long timeout_ms;          /* stop after this long without a message; 0: never */
    long max;                 /* stop after this many messages; 0: no limit */
    int log_json;
    ls_log_level_t log_level;
    int help;
} tail_config_t;

/**
 * Fill *cfg from argv (borrowed). Accepts "--opt value" and "--opt=value".
 * @return 0, or LS_EINVAL with a one-line reason in err.
 */
int tail_config_parse(tail_config_t *cfg, int argc, char **argv, char *err, size_t errsz);

/** The usage text (static). */
const char *tail_config_usage(void);

#endif
