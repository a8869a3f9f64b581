/*
 * ls_log.c - single-line logging to stderr.
 *
 * Each line is formatted into a stack buffer and written with one write(2),
 * so lines from threads and forked children never interleave.
 */
#include "ls_log.h"
#include "ls_err.h"
#include "ls_time.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *log_proc = "lmsync";
static ls_log_level_t log_min = LS_LOG_INFO;
static int log_json = 1;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void ls_log_init(const char *proc, ls_log_level_t min_level, int json)
{
    log_proc = proc;
    log_min = min_level;
    log_json = json;
}

int ls_log_level_parse(const char *s, ls_log_level_t *out)
{
    for (int i = 0; i <= LS_LOG_ERROR; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (ls_log_level_t)i;
            return LS_OK;
        }
    }
    return LS_EINVAL;
}

/* Append s to buf as the inside of a JSON string; returns new length. */
static size_t json_escape(char *buf, size_t len, size_t cap, const char *s)
{
    for (; *s && len + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)c;
        } else if (c < 0x20) {
            len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", c);
        } else {
            buf[len++] = (char)c;
        }
    }
    return len;
}

void ls_log(ls_log_level_t level, const char *fmt, ...)
{
    if (level < log_min || level > LS_LOG_ERROR)
        return;
    char msg[2048], line[4608], ts[LS_TIME_BUFSZ];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int64_t now = ls_time_now_ms();
    ls_time_format(now, ts);
    size_t n;
    if (log_json) {
        n = (size_t)snprintf(line, sizeof(line),
                             "{\"ts\":\"%s\",\"level\":\"%s\",\"proc\":\"%s\",\"pid\":%ld,\"msg\":\"",
                             ts, level_names[level], log_proc, (long)getpid());
        n = json_escape(line, n, sizeof(line) - 4, msg);
        memcpy(line + n, "\"}\n", 3);
        n += 3;
    } else {
        n = (size_t)snprintf(line, sizeof(line), "%s %s %s[%ld]: %s\n", ts,
                             level_names[level], log_proc, (long)getpid(), msg);
        if (n >= sizeof(line))
            n = sizeof(line) - 1;
    }
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
