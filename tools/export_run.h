/*
 * export_run.h - lmsync-export's reading: a consistent snapshot of a
 * compacted topic (the latest record of every key up to the high watermarks
 * seen at start), streamed as rows.
 */
#ifndef EXPORT_RUN_H
#define EXPORT_RUN_H

#include "export_row.h"
#include "ls_config.h"

#include <stdio.h>

enum {
    EXPORT_EXIT_OK = 0,      /* rows written */
    EXPORT_EXIT_FAIL = 1,    /* broker, topic or write failure */
    EXPORT_EXIT_USAGE = 2,
    EXPORT_EXIT_EMPTY = 3    /* nothing matched: an empty topic or an unknown connection, course or tenant */
};

typedef struct export_opts {
    export_kind_t kind;
    export_format_t format;
    export_filter_t filter;
    int timeout_ms;          /* per partition pass */
} export_opts_t;

/**
 * Two passes per partition, so memory is 16 bytes per distinct key of one
 * partition, not the records: the first notes the offset of each key's last
 * record (a 64-bit key hash), the second writes the records that are their
 * key's last and not a tombstone. Rows come in partition, then offset order.
 * A value that is not a JSON object is skipped with a warning and counted.
 * @return an EXPORT_EXIT_* code; the summary line goes to the log.
 */
int export_run(const ls_config_t *cfg, const export_opts_t *o, FILE *out);

#endif
