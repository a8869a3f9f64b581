/*
 * board_run.c - the loop of lmsync-board (board_run.h).
 *
 * Both topics are read by one thread in short slices (50 ms, then what is
 * ready), so a signal is noticed within ~100 ms and neither topic starves
 * the other. A topic that does not exist yet is looked up again every 2 s.
 * A record that fails its check is skipped and counted (/healthz); the
 * first few of each topic are logged with their reason and position.
 */
#include "board_run.h"
#include "board_http.h"
#include "board_table.h"
#include "tail_consumer.h"
#include "ls_daemon.h"
#include "ls_err.h"
#include "ls_log.h"
#include "ls_time.h"

#include <string.h>

#define LOGGED_BAD 5        /* bad records logged per topic; the rest only counted */
#define BATCH 500           /* records applied per topic and slice at most */
#define ASSIGN_RETRY_MS 2000

typedef struct feed {
    char topic[256];
    int from_end, assigned;
    int64_t next_try_ms;
    unsigned bad_logged;
    tail_consumer_t *c;
} feed_t;

typedef struct apply_arg {
    const feed_t *f;
    const tail_msg_t *m;
    char why[256];
} apply_arg_t;

static const char *header(const tail_msg_t *m, const char *name, char *buf, size_t bufsz)
{
    const char *found = NULL;
    for (size_t i = 0; i < m->header_cnt; i++)
        if (strcmp(m->headers[i].name, name) == 0 && m->headers[i].value && m->headers[i].len < bufsz) {
            memcpy(buf, m->headers[i].value, m->headers[i].len);
            buf[m->headers[i].len] = '\0';
            found = buf;
        }
    return found;
}

static int apply(board_table_t *t, void *arg, const char **name, json_t **event)
{
    apply_arg_t *a = arg;
    const tail_msg_t *m = a->m;
    if (!a->f->from_end)
        return board_table_course(t, m->key, m->key_len, m->value, m->value_len, name, event, a->why,
                                  sizeof(a->why));
    char id[128];
    return board_table_change(t, m->value, m->value_len, header(m, "ce_id", id, sizeof(id)), name, event, a->why,
                              sizeof(a->why));
}

/* Apply one record; log the first few refused ones. @return 0 or LS_ENOMEM. */
static int take(board_http_t *h, feed_t *f, const tail_msg_t *m)
{
    apply_arg_t a = {f, m, ""};
    int rc = board_http_update(h, apply, &a);
    if (rc == LS_EINVAL && f->bad_logged < LOGGED_BAD) {
        f->bad_logged++;
        ls_warn("board: skipped a record of '%s' [%d] at offset %lld: %s%s", f->topic, (int)m->partition,
                (long long)m->offset, a.why,
                f->bad_logged == LOGGED_BAD ? " (further bad records of this topic are only counted: /healthz)" : "");
    }
    if (rc == LS_ENOMEM)
        ls_error("board: out of memory applying a record of '%s'", f->topic);
    return rc == LS_ENOMEM ? rc : LS_OK;
}

static int try_assign(feed_t *f)
{
    int64_t now = ls_time_mono_ms();
    if (now < f->next_try_ms)
        return LS_OK;
    int rc = tail_consumer_assign(f->c, f->from_end, 0, &ls_daemon_stop);
    if (rc == LS_OK)
        f->assigned = 1;
    else if (f->next_try_ms == 0)
        ls_warn("board: topic '%s' %s; trying again every %d s", f->topic,
                rc == LS_ENOTFOUND ? "does not exist yet" : "cannot be looked up", ASSIGN_RETRY_MS / 1000);
    f->next_try_ms = now + ASSIGN_RETRY_MS;
    return rc == LS_ENOMEM ? rc : LS_OK;
}

/* One slice of one topic. @return 0, or LS_EIO / LS_ENOMEM (stop). */
static int slice(board_http_t *h, feed_t *f)
{
    if (!f->assigned)
        return try_assign(f);
    tail_msg_t m;
    for (int k = 0; k < BATCH; k++) {
        memset(&m, 0, sizeof(m));
        int n = tail_consumer_poll(f->c, k == 0 ? 50 : 0, &m);
        if (n < 0)
            return n;
        if (n == 0)
            return LS_OK;
        int rc = take(h, f, &m);
        if (rc != LS_OK)
            return rc;
    }
    return LS_OK;
}

static int loop(board_http_t *h, feed_t *feeds, size_t n)
{
    int caught_up = 0;
    while (!ls_daemon_stop) {
        for (size_t i = 0; i < n; i++) {
            int rc = slice(h, &feeds[i]);
            if (rc != LS_OK) {
                ls_error("board: reading '%s' failed (%s); stopping", feeds[i].topic, ls_strerror(rc));
                return 1;
            }
        }
        if (!caught_up && feeds[0].assigned && tail_consumer_at_end(feeds[0].c)) {
            caught_up = 1;
            board_http_set_caught_up(h, 1);
            ls_info("board: read '%s' to its end", feeds[0].topic);
        }
        board_http_tick(h);
    }
    return 0;
}

static int open_feeds(const ls_config_t *cfg, feed_t *feeds, size_t n)
{
    char err[512];
    for (size_t i = 0; i < n; i++) {
        ls_config_topic(cfg, feeds[i].from_end ? "activity.changes" : "progress.courses", feeds[i].topic,
                        sizeof(feeds[i].topic));
        if (!(feeds[i].c = tail_consumer_new(cfg->kafka_brokers, feeds[i].topic, err, sizeof(err)))) {
            ls_error("board: consumer of '%s': %s", feeds[i].topic, err);
            return 1;
        }
    }
    return 0;
}

int board_run(const ls_config_t *cfg)
{
    char err[512];
    feed_t feeds[2] = {{.from_end = 0}, {.from_end = 1}}; /* courses, changes */
    board_table_t *t = board_table_new(BOARD_CHANGES);
    board_http_conf_t hc = {cfg->board_listen, cfg->board_max_clients};
    board_http_t *h = t ? board_http_start(&hc, t, err, sizeof(err)) : NULL;
    int rc = 1;
    if (!h) {
        ls_error("%s", t ? err : "board: out of memory");
    } else if (ls_daemon_write_port_file("board.port_file", cfg->board_port_file, board_http_port(h)) == 0 &&
               open_feeds(cfg, feeds, 2) == 0) {
        ls_info("board on port %d: / /api/courses /events /healthz", board_http_port(h));
        rc = loop(h, feeds, 2);
        ls_info("stopping: %s", rc ? "consumer failure" : "signal");
    }
    for (size_t i = 0; i < 2; i++)
        tail_consumer_destroy(feeds[i].c);
    board_http_stop(h);
    board_table_destroy(t);
    return rc;
}
