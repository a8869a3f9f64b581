/*
 * ls_supervisor.c - prefork master of lmsync-worker.
 *
 * Why a master that does nothing but fork and reap: librdkafka, LMDB and
 * libcurl all forbid using a handle across fork() (their threads, locks and
 * file descriptors do not survive it; LMDB's docs say an MDB_env must not be
 * used by a forked child). So every Kafka client, the MDB_env and the curl
 * handles are created by ls_worker_run() inside each child after fork, and
 * the master never touches them. All children open the same LMDB directory;
 * LMDB locks across processes, and the store opens with MDB_NOTLS.
 *
 * The master's loop sleeps in 100 ms steps; signal handlers only count
 * SIGTERM/SIGINT (ls_daemon_stop), and children are reaped here with
 * waitpid(WNOHANG) rather than in a SIGCHLD handler. A child that dies is
 * restarted at once the first time; if it keeps dying within 10 s of its
 * start, after 1 s, 2 s, 4 s ... up to 30 s; a life of 60 s resets that.
 * A child exiting with status 1 on its very first start is a start-up error
 * (unreachable brokers, unwritable LMDB): restarting cannot fix it, so the
 * pool stops and the master exits 1. No time limit is put on that first
 * start because detecting unreachable brokers itself takes about 10 s.
 */
#include "ls_supervisor.h"
#include "ls_err.h"
#include "ls_log.h"
#include "ls_time.h"
#include "ls_worker.h"
#include "ls_worker_metrics.h"
#include "ls_daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STEP_MS        100
#define QUICK_DEATH_MS 10000
#define STABLE_MS      60000
#define BACKOFF_MAX_MS 30000

typedef struct slot {
    pid_t pid;          /* 0 while not running */
    int64_t started_ms; /* monotonic */
    int64_t next_ms;    /* earliest restart while pid == 0 */
    int starts;         /* times this slot was started */
    int quick_deaths;   /* consecutive deaths within QUICK_DEATH_MS */
} slot_t;

typedef struct pool {
    const ls_config_t *cfg;
    volatile sig_atomic_t *stop;
    slot_t *slots;
    int n, alive;
    int startup_failed;
    int unclean; /* a child exited non-zero or by signal while draining */
    ls_ops_t *ops; /* the pod's /healthz, /readyz, /metrics (NULL: ops.listen unset) */
} pool_t;

static void sleep_step(void)
{
    struct timespec ts = {0, STEP_MS * 1000000L};
    nanosleep(&ts, NULL); /* EINTR is fine: the loop re-checks everything */
}

/* Child side: never returns. The child inherits the master's handlers
 * (flag-only) and its stop counter, which is 0 unless a signal raced the
 * fork, in which case the child stops at once, as it should. */
static void child_main(const ls_config_t *cfg, volatile sig_atomic_t *stop)
{
    signal(SIGCHLD, SIG_DFL);
    int rc = ls_worker_run(cfg, stop);
    exit(rc == LS_OK ? 0 : 1);
}

static int spawn(pool_t *p, slot_t *s)
{
    pid_t pid = fork();
    if (pid < 0) {
        ls_error("cannot fork a worker process: %s", strerror(errno));
        return LS_EIO;
    }
    if (pid == 0) {
        ls_ops_forget_in_child(p->ops);
        ls_metrics_use_slot((size_t)(s - p->slots) + 1);
        child_main(p->cfg, p->stop);
    }
    s->pid = pid;
    s->started_ms = ls_time_mono_ms();
    s->starts++;
    p->alive++;
    ls_info("worker process %ld started (slot %d, start %d)", (long)pid, (int)(s - p->slots),
            s->starts);
    return LS_OK;
}

static void describe(int status, char *buf, size_t n)
{
    if (WIFEXITED(status))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, n, "ended with wait status %d", status);
}

/* Schedule the restart of a slot whose child died while running. */
static void schedule_restart(pool_t *p, slot_t *s, int64_t lived_ms, int status)
{
    if (s->starts == 1 && WIFEXITED(status) && WEXITSTATUS(status) == 1) {
        ls_error("worker process %ld failed to start (exit status 1, reason above): stopping",
                 (long)s->pid);
        p->startup_failed = 1;
        return;
    }
    if (lived_ms >= STABLE_MS)
        s->quick_deaths = 0;
    int64_t delay = 0;
    if (s->quick_deaths > 0) {
        delay = 1000LL << (s->quick_deaths > 6 ? 5 : s->quick_deaths - 1);
        if (delay > BACKOFF_MAX_MS)
            delay = BACKOFF_MAX_MS;
    }
    if (lived_ms < QUICK_DEATH_MS)
        s->quick_deaths++;
    s->next_ms = ls_time_mono_ms() + delay;
    ls_warn("restarting worker slot %d in %lld ms", (int)(s - p->slots), (long long)delay);
}

/* Reap every child that has ended; log it and, unless stopping, plan its restart. */
static void reap(pool_t *p, int stopping)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        slot_t *s = NULL;
        for (int i = 0; i < p->n; i++)
            if (p->slots[i].pid == pid)
                s = &p->slots[i];
        if (!s)
            continue;
        char how[96];
        describe(status, how, sizeof(how));
        int64_t lived = ls_time_mono_ms() - s->started_ms;
        int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (stopping) {
            if (clean)
                ls_info("worker process %ld %s", (long)pid, how);
            else
                ls_warn("worker process %ld %s while stopping", (long)pid, how);
            p->unclean |= !clean;
        } else {
            ls_warn("worker process %ld %s after %lld ms", (long)pid, how, (long long)lived);
            schedule_restart(p, s, lived, status);
            ls_metric_add(WM_RESTARTS, 0, 0, 1);
        }
        s->pid = 0;
        p->alive--;
    }
}

static void signal_all(pool_t *p, int sig)
{
    for (int i = 0; i < p->n; i++)
        if (p->slots[i].pid > 0)
            kill(p->slots[i].pid, sig);
}

/* Forward SIGTERM, wait for the children, SIGKILL after the drain timeout
 * or a second SIGTERM. */
static void drain(pool_t *p)
{
    if (p->alive == 0)
        return;
    ls_info("stopping %d worker processes (drain timeout %d s)", p->alive,
            LS_SUPERVISOR_DRAIN_MS / 1000);
    signal_all(p, SIGTERM);
    int64_t deadline = ls_time_mono_ms() + LS_SUPERVISOR_DRAIN_MS;
    int killed = 0;
    for (;;) {
        reap(p, 1);
        ls_metrics_heartbeat(ls_time_mono_ms(), LS_PROC_DRAINING);
        ls_metric_set(WM_PROCESSES, 0, 0, p->alive);
        if (p->alive == 0)
            return;
        if (!killed && (*p->stop >= 2 || ls_time_mono_ms() >= deadline)) {
            ls_warn("killing %d worker processes: %s", p->alive,
                    *p->stop >= 2 ? "second stop signal" : "drain timeout");
            signal_all(p, SIGKILL);
            killed = 1;
        }
        sleep_step();
    }
}

static void supervise(pool_t *p)
{
    while (!*p->stop && !p->startup_failed) {
        reap(p, 0);
        int64_t now = ls_time_mono_ms();
        ls_metrics_heartbeat(now, LS_PROC_READY);
        ls_metric_set(WM_PROCESSES, 0, 0, p->alive);
        for (int i = 0; i < p->n && !*p->stop && !p->startup_failed; i++) {
            slot_t *s = &p->slots[i];
            if (s->pid == 0 && now >= s->next_ms && spawn(p, s) != LS_OK)
                s->next_ms = now + 1000;
        }
        sleep_step();
    }
}

int ls_supervisor_run(const ls_config_t *cfg, volatile sig_atomic_t *stop)
{
    pool_t p;
    memset(&p, 0, sizeof(p));
    p.cfg = cfg;
    p.stop = stop;
    p.n = cfg->worker_processes;
    if (p.n <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        p.n = cores > 0 ? (int)cores : 1;
    }
    if (!(p.slots = calloc((size_t)p.n, sizeof(*p.slots)))) {
        ls_error("out of memory for %d worker slots", p.n);
        return LS_ENOMEM;
    }
    /* slot 0 is this master, slot i + 1 child i; the endpoint watches them all */
    if (ls_metrics_init(ls_worker_metrics, WM__COUNT, (size_t)p.n + 1) != 0) {
        ls_error("cannot map the metric region for %d worker processes", p.n);
        free(p.slots);
        return LS_ENOMEM;
    }
    if (ls_daemon_ops_start(cfg, 0, (size_t)p.n + 1, &p.ops) != 0) {
        ls_metrics_free();
        free(p.slots);
        return LS_EINVAL;
    }
    ls_metrics_heartbeat(ls_time_mono_ms(), LS_PROC_STARTING);
    ls_info("supervisor starting %d worker processes", p.n);
    int rc = LS_OK;
    for (int i = 0; i < p.n && rc == LS_OK && !*stop; i++)
        rc = spawn(&p, &p.slots[i]);
    if (rc == LS_OK)
        supervise(&p);
    drain(&p);
    ls_ops_stop(p.ops);
    ls_metrics_free();
    free(p.slots);
    if (rc != LS_OK)
        return rc;
    if (p.startup_failed)
        return LS_EINVAL;
    ls_info("supervisor stopped%s", p.unclean ? " (some workers did not exit cleanly)" : "");
    return p.unclean ? LS_EIO : LS_OK;
}
