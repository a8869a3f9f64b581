/*
 * ls_coord.h - the coordinator: which connections exist, when each is due,
 * and the poll jobs that say so.
 */
#ifndef LS_COORD_H
#define LS_COORD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include "ls_activity.h"
#include "ls_config.h"

typedef struct ls_coord_conn {
    char id[LS_STR_MAX + 1];
    char integration_type[64];
    char external_xref[LS_STR_MAX + 1];
    int64_t next_due_ms;          /* wall clock */
    char outstanding[LS_STR_MAX + 32]; /* job id enqueued and not yet reported, "" if none */
    int64_t outstanding_since_ms;
    int failures;                 /* consecutive failed jobs */
    int seen;                     /* mark for discovery refresh */
} ls_coord_conn_t;

/**
 * First instant >= now_ms at which a connection with this id is due: the
 * interval is split into slots and each connection gets the offset
 * hash(id) mod interval (how Prometheus spreads scrapes), so load is flat
 * and a restart keeps every connection's slot.
 */
int64_t ls_coord_first_due(const char *id, int64_t interval_ms, int64_t now_ms);

/**
 * Parse coordinator.connections ("id[:integration[:xref]],...") into out[]
 * (cap entries). @return count, or LS_EINVAL with the reason in err.
 */
int ls_coord_parse_static(const char *spec, ls_coord_conn_t *out, size_t cap, char *err, size_t errsz);

/**
 * Parse one page of GET /unified/connection (a JSON array) into out[],
 * keeping only connections in category "lms" that are not paused.
 * *n_seen gets the page's element count (for paging). @return count or LS_EINVAL.
 */
int ls_coord_parse_connections(const char *body, size_t len, ls_coord_conn_t *out, size_t cap,
                               size_t *n_seen, char *err, size_t errsz);

/** Run until *stop; @return 0, or a negative LS_E* when start-up failed (logged). */
int ls_coord_run(const ls_config_t *cfg, volatile sig_atomic_t *stop);

#endif
