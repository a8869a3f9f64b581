/*
 * ls_ops.h - the operational HTTP endpoint of a pod (setting ops.listen):
 *
 *   GET /healthz  200 "ok" while every watched process's loop has sent a
 *                 heartbeat within the stale bound; 503 naming the first
 *                 stale one. Liveness: a stuck loop gets the pod restarted.
 *   GET /readyz   200 while every watched process is READY; 503 with one
 *                 line per process that is not (starting, restoring,
 *                 draining, kafka unreachable). Readiness.
 *   GET /metrics  Prometheus text format 0.0.4, every slot of the shared
 *                 metric region combined (ls_metrics.h).
 *
 * The server is libmicrohttpd with its own thread; a request reads only
 * the shared metric region, so it never waits for, nor delays, the sync
 * loop. Anything else: 404; a method other than GET/HEAD: 405.
 */
#ifndef LS_OPS_H
#define LS_OPS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ls_ops ls_ops_t;

typedef struct ls_ops_conf {
    const char *listen;    /* "host:port" (IPv4 address or "localhost"; port 0 = any free port) */
    size_t first_slot;     /* watched metric slots: [first_slot, first_slot + n_slots) */
    size_t n_slots;
    int64_t stale_ms;      /* a heartbeat older than this fails /healthz */
} ls_ops_conf_t;

/**
 * Bind and start serving. err names 'ops.listen' on a bad address or a port
 * in use. @return NULL on failure.
 */
ls_ops_t *ls_ops_start(const ls_ops_conf_t *conf, char *err, size_t errsz);

/** The bound port (useful with port 0). */
int ls_ops_port(const ls_ops_t *ops);

/** In a child forked after ls_ops_start(): close the inherited listening socket (the child never serves). */
void ls_ops_forget_in_child(ls_ops_t *ops);

/** Stop serving and free. NULL accepted. */
void ls_ops_stop(ls_ops_t *ops);

/** Validate "host:port" (for ls_config). @return 0, or -1 with a reason in err. */
int ls_ops_parse_listen(const char *listen, char *host, size_t hostsz, int *port, char *err, size_t errsz);

/** The same for any listen setting: err names the setting key (e.g. "board.listen"). */
int ls_ops_parse_listen_key(const char *key, const char *listen, char *host, size_t hostsz, int *port,
                            char *err, size_t errsz);

/**
 * Parse addr ("host:port", as ls_ops_parse_listen_key) and bind a listening
 * TCP socket (close-on-exec) there; err names the setting key and the errno
 * text. @return 0 with *fd (owned by the caller) and the bound *port, or a
 * negative LS_E* value.
 */
int ls_ops_bind(const char *key, const char *addr, int *fd, int *port, char *err, size_t errsz);

#endif
