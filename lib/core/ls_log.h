/*
 * ls_log.h - the one logger.
 *
 * One line per message on stderr. Format "json" (default in production):
 *   {"ts":"2026-11-27T14:09:48.123Z","level":"info","proc":"worker","pid":12,"msg":"..."}
 * Format "text": "2026-11-27T14:09:48.123Z info worker[12]: ...".
 * Messages are lower-case, quote their subject, append errno text where
 * relevant, and never contain secrets (tokens are never passed to ls_log).
 */
#ifndef LS_LOG_H
#define LS_LOG_H

typedef enum ls_log_level {
    LS_LOG_DEBUG = 0,
    LS_LOG_INFO,
    LS_LOG_WARN,
    LS_LOG_ERROR
} ls_log_level_t;

/** Set process name, minimum level and format ("json" or "text"). Call once at start. */
void ls_log_init(const char *proc, ls_log_level_t min_level, int json);

/** Parse "debug" / "info" / "warn" / "error"; returns 0 or LS_EINVAL. */
int ls_log_level_parse(const char *s, ls_log_level_t *out);

/** Log one line. Thread-safe (one write(2) per line). */
void ls_log(ls_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define ls_debug(...) ls_log(LS_LOG_DEBUG, __VA_ARGS__)
#define ls_info(...)  ls_log(LS_LOG_INFO, __VA_ARGS__)
#define ls_warn(...)  ls_log(LS_LOG_WARN, __VA_ARGS__)
#define ls_error(...) ls_log(LS_LOG_ERROR, __VA_ARGS__)

#endif
