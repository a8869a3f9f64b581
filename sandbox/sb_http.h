/*
 * sb_http.h - the sandbox's HTTP server (libmicrohttpd): authenticated
 * Unified-shaped API under /unified and /lms, and the unauthenticated control
 * API under /_sandbox. One thread per connection, so latency and stall faults
 * simply sleep in the handler thread (never while holding a data mutex).
 */
#ifndef SB_HTTP_H
#define SB_HTTP_H

#include <stddef.h>

#include "sb_clock.h"
#include "sb_data.h"
#include "sb_fault.h"
#include "sb_rate.h"
#include "sb_virtual.h"

typedef struct sb_http_config {
    const char *host;        /* IPv4 literal to bind, e.g. "127.0.0.1" */
    unsigned port;           /* 0 = ephemeral */
    const char *token;       /* API token (copied; never logged) */
    long latency_ms;         /* added to every /lms request */
    sb_rate_limit_t rate_limit;          /* every connection's vendor limit ("*"); rps 0 = none */
    sb_rate_limit_t unified_rate_limit;  /* Unified-wide limit over all /lms requests; rps 0 = none */
    sb_rate_clock_fn rate_clock;         /* NULL = CLOCK_MONOTONIC (tests inject one) */
    sb_virtual_t virt;                   /* virtual connections (n 0 = none): they replace the connection list */
    void *rate_clock_cls;
    const char *webhook_secret;          /* signs webhook deliveries (sb_webhook.h; copied, never logged) */
    int webhook_hex;                     /* 1 = the digest in hex, else base64 */
} sb_http_config_t;

typedef struct sb_http sb_http_t;

/**
 * Bind and start serving. world, faults and clock are borrowed and must
 * outlive the server. Returns NULL with errstr filled on failure.
 */
sb_http_t *sb_http_start(const sb_http_config_t *cfg, sb_world_t *world, sb_faults_t *faults,
                         sb_clock_t *clock, char *errstr, size_t errstr_size);

/** The bound port (useful with port 0). */
unsigned sb_http_port(const sb_http_t *h);

/** Wake sleeping handlers, stop the daemon (joins its threads) and free. */
void sb_http_stop(sb_http_t *h);

#endif
