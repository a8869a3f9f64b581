/*
 * db_control.h - loopback HTTP control API of lmsync-devbroker, for
 * fault-injection tests.
 *
 *   GET    /healthz                  200 "ok"
 *   GET    /info                     {"bootstrap":"...","brokers":N}
 *   POST   /brokers/{id|all}/down    disconnect clients, refuse connections
 *   POST   /brokers/{id|all}/up      accept connections again
 *   POST   /brokers/{id|all}/rtt     {"rtt_ms":N}  delay every response
 *   POST   /errors                   {"api_key":K,"errors":[NAME|CODE,...]
 *                                     [,"broker_id":B[,"rtt_ms":N]]}
 *   DELETE /errors/{api_key}         drop pending cluster-wide errors
 *
 * Replies are JSON: {"ok":true} or {"error":"..."} with 400/404/405/413.
 */
#ifndef DB_CONTROL_H
#define DB_CONTROL_H

#include <stddef.h>

#include "db_cluster.h"

typedef struct db_control db_control_t;

/**
 * Listen on 127.0.0.1:port (0 = ephemeral) and serve requests on
 * libmicrohttpd's own thread. cluster is borrowed and must outlive the server.
 * @return a new server (free with db_control_destroy) or NULL with errstr.
 */
db_control_t *db_control_new(db_cluster_t *cluster, int port, char *errstr, size_t errsz);

/** The port actually bound. */
int db_control_port(const db_control_t *ctl);

/** Stop serving (waits for the server thread) and free. NULL is a no-op. */
void db_control_destroy(db_control_t *ctl);

#endif
