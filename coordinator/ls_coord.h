/*
 * ls_coord.h - the coordinator: which connections exist, when each is due,
 * and the poll jobs that say so.
 */
#ifndef LS_COORD_H
#define LS_COORD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "ls_activity.h"
#include "ls_config.h"

/* A connection as listed (static list, or one element of GET /unified/connection). */
typedef struct ls_coord_conn {
    char id[LS_STR_MAX + 1];
    char integration_type[64];
    char external_xref[LS_STR_MAX + 1];
    int ws;                       /* index in cfg->workspaces of the workspace that listed it */
} ls_coord_conn_t;

/**
 * First instant >= now_ms at which a connection with this id is due: the
 * interval is split into slots and each connection gets the offset
 * hash(id) mod interval (how Prometheus spreads scrapes), so load is flat
 * and a restart keeps every connection's slot.
 */
int64_t ls_coord_first_due(const char *id, int64_t interval_ms, int64_t now_ms);

/**
 * Parse coordinator.connections ("id[:integration[:xref]],...") into *out
 * (malloc'd, caller frees; as many entries as the list has).
 * @return count, or LS_EINVAL with the reason in err (*out NULL), LS_ENOMEM.
 */
int ls_coord_parse_static(const char *spec, ls_coord_conn_t **out, char *err, size_t errsz);

/**
 * Parse one page of GET /unified/connection (a JSON array) into out[],
 * keeping only connections in category "lms" that are not paused.
 * *n_seen gets the page's element count (for paging). @return count or LS_EINVAL.
 */
int ls_coord_parse_connections(const char *body, size_t len, ls_coord_conn_t *out, size_t cap,
                               size_t *n_seen, char *err, size_t errsz);

/**
 * Parse one page of GET /lms/{conn}/course (a JSON array) into ids[] (cap
 * entries, each LS_STR_MAX + 1 bytes). Elements without a usable string id
 * are skipped. *n_seen gets the page's element count. @return count or LS_EINVAL.
 */
int ls_coord_parse_courses(const char *body, size_t len, char (*ids)[LS_STR_MAX + 1], size_t cap,
                           size_t *n_seen, char *err, size_t errsz);

/**
 * Print the capability profile of connection_id and the strategy chosen for
 * it, with the reason for each choice (--explain). Uses the static list or
 * GET /unified/connection/{id}, then GET /unified/integration. No Kafka.
 * @return 0, or LS_ENOTFOUND / LS_EINVAL (message on stderr).
 */
int ls_coord_explain(const ls_config_t *cfg, const char *connection_id, FILE *out);

/** Run until *stop; @return 0, or a negative LS_E* when start-up failed (logged). */
int ls_coord_run(const ls_config_t *cfg, volatile sig_atomic_t *stop);

#endif
