/*
 * lmsync-export - compliance export from lmsync's compacted topics: one row
 * per learner x course (lmsync.progress.enrollments, the default) or per
 * activity (lmsync.activity.current), as CSV (RFC 4180, UTF-8, header row)
 * or JSON lines, filtered by connection, tenant and course. See
 * docs/operations.md "Exports".
 */
#include "export_run.h"
#include "ls_daemon.h"
#include "ls_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_PER, OPT_FORMAT, OPT_CONNECTION, OPT_TENANT, OPT_COURSE, OPT_OUTPUT, OPT_TIMEOUT, N_OPTS };

static int parse_opts(const ls_daemon_opt_t *opts, export_opts_t *o)
{
    const char *per = opts[OPT_PER].value, *fmt = opts[OPT_FORMAT].value, *t = opts[OPT_TIMEOUT].value;
    if (per && strcmp(per, "enrollment") && strcmp(per, "activity")) {
        fprintf(stderr, "lmsync-export: --per must be enrollment or activity, got \"%s\"\n", per);
        return LS_EINVAL;
    }
    if (fmt && strcmp(fmt, "csv") && strcmp(fmt, "jsonl")) {
        fprintf(stderr, "lmsync-export: --format must be csv or jsonl, got \"%s\"\n", fmt);
        return LS_EINVAL;
    }
    char *end = NULL;
    long secs = t ? strtol(t, &end, 10) : 60;
    if (t && (!*t || *end || secs < 1 || secs > 3600)) {
        fprintf(stderr, "lmsync-export: --timeout must be an integer 1..3600 (seconds), got \"%s\"\n", t);
        return LS_EINVAL;
    }
    o->kind = per && strcmp(per, "activity") == 0 ? EXPORT_ACTIVITY : EXPORT_ENROLLMENT;
    o->format = fmt && strcmp(fmt, "jsonl") == 0 ? EXPORT_JSONL : EXPORT_CSV;
    o->filter = (export_filter_t){opts[OPT_CONNECTION].value, opts[OPT_TENANT].value, opts[OPT_COURSE].value};
    o->timeout_ms = (int)secs * 1000;
    return LS_OK;
}

int main(int argc, char **argv)
{
    ls_daemon_opt_t opts[N_OPTS] = {
        {"--per", 1, "enrollment (one row per learner x course, default) or activity", NULL},
        {"--format", 1, "csv (default) or jsonl", NULL},
        {"--connection", 1, "only this connection", NULL},
        {"--tenant", 1, "only this tenant (the connection's external_xref)", NULL},
        {"--course", 1, "only this course id", NULL},
        {"--output", 1, "write to this file instead of standard output", NULL},
        {"--timeout", 1, "seconds allowed for each read of a partition (default 60)", NULL},
    };
    ls_config_t cfg;
    int rc = ls_daemon_init(argc, argv, "export", 0, opts, N_OPTS, &cfg);
    if (rc >= 0)
        return rc == 0 ? EXPORT_EXIT_OK : EXPORT_EXIT_USAGE;
    export_opts_t o;
    if (parse_opts(opts, &o) != LS_OK)
        return EXPORT_EXIT_USAGE;
    const char *path = opts[OPT_OUTPUT].value;
    FILE *out = path ? fopen(path, "w") : stdout;
    if (!out) {
        fprintf(stderr, "lmsync-export: --output: cannot open \"%s\" for writing\n", path);
        return EXPORT_EXIT_FAIL;
    }
    rc = export_run(&cfg, &o, out);
    if (path && fclose(out) && rc == EXPORT_EXIT_OK) {
        fprintf(stderr, "lmsync-export: --output: cannot write \"%s\"\n", path);
        rc = EXPORT_EXIT_FAIL;
    }
    return rc;
}
