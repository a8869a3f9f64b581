/*
 * wh_conns.h - the connections lmsync polls, as the coordinator's schedule
 * topic (<prefix>.coordinator.schedule, compacted, one record per scope
 * keyed "conn" or "conn/course") says: a webhook for any other connection
 * is refused. The topic is read from its start on every refresh; it holds
 * one small record per scope.
 */
#ifndef WH_CONNS_H
#define WH_CONNS_H

#include "ls_config.h"
#include "ls_kafka.h"
#include "ls_strmap.h"

/**
 * Read the whole schedule topic (at most timeout_ms per partition; producer,
 * borrowed, tells its partition count).
 * @return a new map whose names are the connection ids of its live scopes
 *         (ls_strmap_destroy), or NULL when the topic could not be read
 *         completely (err says why): the caller keeps its previous set.
 */
ls_strmap_t *wh_conns_read(const ls_config_t *cfg, ls_producer_t *producer, int timeout_ms, char *err,
                           size_t errsz);

#endif
