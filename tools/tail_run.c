/*
 * tail_run.c - lmsync-tail's loop.
 *
 * Polls in short slices so signals, the idle timeout and end-of-topic are all
 * noticed within ~100 ms. A closed stdout (EPIPE, e.g. "| head -1") is a
 * normal way to stop.
 */
#include "tail_run.h"
#include "tail_consumer.h"
#include "tail_fmt.h"
#include "ls_err.h"
#include "ls_log.h"
#include "ls_time.h"

#include "ls_daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* @return 0, LS_ESTOP (stdout closed), LS_EIO, LS_ENOMEM */
static int print_msg(const tail_config_t *cfg, const tail_msg_t *m)
{
    char *line = cfg->format == TAIL_FMT_JSON ? tail_fmt_json(m) : tail_fmt_line(m);
    if (!line) {
        ls_error("cannot render message at '%s' [%d] offset %lld: out of memory",
                 m->topic, (int)m->partition, (long long)m->offset);
        return LS_ENOMEM;
    }
    int ok = fputs(line, stdout) >= 0 && fputc('\n', stdout) != EOF && fflush(stdout) == 0;
    int saved = errno;
    free(line);
    if (ok)
        return LS_OK;
    if (saved == EPIPE)
        return LS_ESTOP;
    ls_error("cannot write to stdout: %s", strerror(saved));
    return LS_EIO;
}

/* Why the loop ended, for the log. */
static const char *loop(const tail_config_t *cfg, tail_consumer_t *c, int *rc)
{
    long count = 0;
    int64_t last = ls_time_mono_ms();
    tail_msg_t m;
    for (;;) {
        if (ls_daemon_stop)
            return "signal";
        if (cfg->exit_at_end && tail_consumer_at_end(c))
            return "end of all partitions";
        if (cfg->timeout_ms > 0 && ls_time_mono_ms() - last >= cfg->timeout_ms)
            return "idle timeout";
        memset(&m, 0, sizeof(m));
        int n = tail_consumer_poll(c, 100, &m);
        if (n < 0) {
            *rc = n;
            return "consumer error";
        }
        if (n == 0)
            continue;
        last = ls_time_mono_ms();
        int prc = print_msg(cfg, &m);
        if (prc == LS_ESTOP)
            return "stdout closed";
        if (prc != LS_OK) {
            *rc = prc;
            return "output error";
        }
        if (cfg->max > 0 && ++count >= cfg->max)
            return "--max reached";
    }
}

int tail_run(const tail_config_t *cfg)
{
    char err[512];
    tail_consumer_t *c = tail_consumer_new(cfg->brokers, cfg->topic, err, sizeof(err));
    if (!c) {
        ls_error("consumer: %s", err);
        return 1;
    }
    /* A missing topic is waited for: forever unless a stop condition bounds it. */
    long wait_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : cfg->exit_at_end ? 10000 : -1;
    int rc = tail_consumer_assign(c, cfg->from_end, wait_ms, &ls_daemon_stop);
    const char *why;
    if (rc == LS_OK) {
        why = loop(cfg, c, &rc);
    } else if (rc == LS_ENOTFOUND && cfg->timeout_ms > 0) {
        why = "idle timeout (topic never appeared)";
        rc = LS_OK;
    } else if (rc == LS_ESTOP) {
        why = "signal";
        rc = LS_OK;
    } else {
        why = "startup failure";
        ls_error("topic '%s': %s", cfg->topic,
                 rc == LS_ENOTFOUND ? "does not exist" : "cannot read metadata");
    }
    ls_info("stopping: %s", why);
    tail_consumer_destroy(c);
    return rc == LS_OK ? 0 : 1;
}
