/*
 * tail_config.c - argument parsing for lmsync-tail (hand-rolled: getopt_long
 * is a GNU extension and the build is strict POSIX).
 */
#include "tail_config.h"
#include "ls_err.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: lmsync-tail --brokers LIST --topic T [--from beginning|end]\n"
    "                   [--format line|json] [--exit-at-end] [--timeout-ms N]\n"
    "                   [--max N] [--log-format text|json]\n"
    "                   [--log-level debug|info|warn|error]\n"
    "defaults: --from beginning --format line --timeout-ms 0 (never) --max 0 (no limit)\n";

const char *tail_config_usage(void)
{
    return usage;
}

static int parse_long(const char *opt, const char *s, long *out, char *err, size_t errsz)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0) {
        snprintf(err, errsz, "option '%s': expected a non-negative integer, got '%s'", opt, s);
        return LS_EINVAL;
    }
    *out = v;
    return LS_OK;
}

/* val must be one of a or b; sets *is_b. */
static int parse_choice(const char *opt, const char *val, const char *a, const char *b,
                        int *is_b, char *err, size_t errsz)
{
    if (strcmp(val, a) != 0 && strcmp(val, b) != 0) {
        snprintf(err, errsz, "option '%s': expected %s or %s, got '%s'", opt, a, b, val);
        return LS_EINVAL;
    }
    *is_b = strcmp(val, b) == 0;
    return LS_OK;
}

static int apply(tail_config_t *cfg, const char *opt, const char *val, char *err, size_t errsz)
{
    int is_b;
    if (strcmp(opt, "--brokers") == 0)
        cfg->brokers = val;
    else if (strcmp(opt, "--topic") == 0)
        cfg->topic = val;
    else if (strcmp(opt, "--from") == 0)
        return parse_choice(opt, val, "beginning", "end", &cfg->from_end, err, errsz);
    else if (strcmp(opt, "--format") == 0) {
        if (parse_choice(opt, val, "line", "json", &is_b, err, errsz) != LS_OK)
            return LS_EINVAL;
        cfg->format = is_b ? TAIL_FMT_JSON : TAIL_FMT_LINE;
    } else if (strcmp(opt, "--timeout-ms") == 0)
        return parse_long(opt, val, &cfg->timeout_ms, err, errsz);
    else if (strcmp(opt, "--max") == 0)
        return parse_long(opt, val, &cfg->max, err, errsz);
    else if (strcmp(opt, "--log-format") == 0)
        return parse_choice(opt, val, "text", "json", &cfg->log_json, err, errsz);
    else if (strcmp(opt, "--log-level") == 0) {
        if (ls_log_level_parse(val, &cfg->log_level) != LS_OK) {
            snprintf(err, errsz, "option '--log-level': unknown level '%s'", val);
            return LS_EINVAL;
        }
    } else {
        snprintf(err, errsz, "unknown option '%s'", opt);
        return LS_EINVAL;
    }
    return LS_OK;
}

static int check(const tail_config_t *cfg, char *err, size_t errsz)
{
    if (!cfg->brokers || !*cfg->brokers) {
        snprintf(err, errsz, "option '--brokers' is required");
        return LS_EINVAL;
    }
    if (!cfg->topic || !*cfg->topic) {
        snprintf(err, errsz, "option '--topic' is required");
        return LS_EINVAL;
    }
    if (cfg->timeout_ms > INT_MAX / 2) {
        snprintf(err, errsz, "option '--timeout-ms': at most %d", INT_MAX / 2);
        return LS_EINVAL;
    }
    return LS_OK;
}

int tail_config_parse(tail_config_t *cfg, int argc, char **argv, char *err, size_t errsz)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->log_level = LS_LOG_WARN;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cfg->help = 1;
            return LS_OK;
        }
        if (strcmp(arg, "--exit-at-end") == 0) {
            cfg->exit_at_end = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, errsz, "unexpected argument '%s'", arg);
            return LS_EINVAL;
        }
        char opt[64];
        const char *eq = strchr(arg, '=');
        size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
        if (n >= sizeof(opt)) {
            snprintf(err, errsz, "unknown option '%s'", arg);
            return LS_EINVAL;
        }
        memcpy(opt, arg, n);
        opt[n] = '\0';
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) {
            snprintf(err, errsz, "option '%s' needs a value", opt);
            return LS_EINVAL;
        }
        if (apply(cfg, opt, val, err, errsz) != LS_OK)
            return LS_EINVAL;
    }
    return check(cfg, err, errsz);
}
