/*
 * db_config.c - argument parsing for lmsync-devbroker.
 *
 * Hand-rolled rather than getopt_long (a GNU extension; the build is strict
 * POSIX). Numbers are parsed with strtol and range-checked so a typo is an
 * error with a message, never a silent zero.
 */
#include "db_config.h"
#include "ls_err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: lmsync-devbroker [--brokers N] [--partitions N] [--prefix P]\n"
    "                        [--bootstrap-file PATH] [--control-port PORT]\n"
    "                        [--control-port-file PATH] [--log-format text|json]\n"
    "                        [--log-level debug|info|warn|error]\n"
    "defaults: --brokers 3 --partitions 24 --prefix lmsync --control-port 0 (ephemeral)\n";

const char *db_config_usage(void)
{
    return usage;
}

static int parse_int(const char *opt, const char *s, int lo, int hi, int *out,
                     char *err, size_t errsz)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        snprintf(err, errsz, "option '%s': expected an integer in %d..%d, got '%s'",
                 opt, lo, hi, s);
        return LS_EINVAL;
    }
    *out = (int)v;
    return LS_OK;
}

/* Topic names allow [A-Za-z0-9._-]; the prefix must keep them valid. */
static int check_prefix(const char *p, char *err, size_t errsz)
{
    size_t n = strlen(p);
    if (n == 0 || n > 200 || strspn(p, "abcdefghijklmnopqrstuvwxyz"
                                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n) {
        snprintf(err, errsz, "option '--prefix': '%s' is not a valid topic prefix "
                 "(1-200 chars of [A-Za-z0-9._-])", p);
        return LS_EINVAL;
    }
    return LS_OK;
}

static void set_defaults(db_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->brokers = 3;
    cfg->partitions = 24;
    cfg->prefix = "lmsync";
    cfg->log_json = 0;
    cfg->log_level = LS_LOG_INFO;
}

/* Apply one option with its value; returns 0 or LS_EINVAL. */
static int apply(db_config_t *cfg, const char *opt, const char *val, char *err, size_t errsz)
{
    if (strcmp(opt, "--brokers") == 0)
        return parse_int(opt, val, 1, DB_MAX_BROKERS, &cfg->brokers, err, errsz);
    if (strcmp(opt, "--partitions") == 0)
        return parse_int(opt, val, 1, DB_MAX_PARTITIONS, &cfg->partitions, err, errsz);
    if (strcmp(opt, "--control-port") == 0)
        return parse_int(opt, val, 0, 65535, &cfg->control_port, err, errsz);
    if (strcmp(opt, "--prefix") == 0) {
        cfg->prefix = val;
        return check_prefix(val, err, errsz);
    }
    if (strcmp(opt, "--bootstrap-file") == 0) {
        cfg->bootstrap_file = val;
        return LS_OK;
    }
    if (strcmp(opt, "--control-port-file") == 0) {
        cfg->control_port_file = val;
        return LS_OK;
    }
    if (strcmp(opt, "--log-format") == 0) {
        if (strcmp(val, "json") != 0 && strcmp(val, "text") != 0) {
            snprintf(err, errsz, "option '--log-format': expected text or json, got '%s'", val);
            return LS_EINVAL;
        }
        cfg->log_json = strcmp(val, "json") == 0;
        return LS_OK;
    }
    if (strcmp(opt, "--log-level") == 0) {
        if (ls_log_level_parse(val, &cfg->log_level) != LS_OK) {
            snprintf(err, errsz, "option '--log-level': unknown level '%s'", val);
            return LS_EINVAL;
        }
        return LS_OK;
    }
    snprintf(err, errsz, "unknown option '%s'", opt);
    return LS_EINVAL;
}

int db_config_parse(db_config_t *cfg, int argc, char **argv, char *err, size_t errsz)
{
    set_defaults(cfg);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cfg->help = 1;
            return LS_OK;
        }
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, errsz, "unexpected argument '%s'", arg);
            return LS_EINVAL;
        }
        char opt[64];
        const char *eq = strchr(arg, '=');
        const char *val;
        size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
        if (n >= sizeof(opt)) {
            snprintf(err, errsz, "unknown option '%s'", arg);
            return LS_EINVAL;
        }
        memcpy(opt, arg, n);
        opt[n] = '\0';
        if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            snprintf(err, errsz, "option '%s' needs a value", opt);
            return LS_EINVAL;
        }
        int rc = apply(cfg, opt, val, err, errsz);
        if (rc != LS_OK)
            return rc;
    }
    return LS_OK;
}
