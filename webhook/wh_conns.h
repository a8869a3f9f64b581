/*
 * wh_conns.h - the connections lmsync polls, as the coordinator's schedule
 * topic (<prefix>.coordinator.schedule, compacted, one record per scope
 * keyed "conn" or "conn/course" of the workspace-qualified connection)
 * says: a webhook for any other connection, or for a connection of another
 * workspace than webhook.workspace, is refused. The topic is read from its start on every refresh; it holds
 * one small record per scope.
 */
#ifndef WH_CONNS_H
#define WH_CONNS_H

#include "ls_config.h"
#include "ls_kafka.h"
#include "ls_strmap.h"

/**
 * The scope key within workspace ("" = the default) of a schedule key, or
 * NULL when the key belongs to another workspace: "eu:conn-1/c" is
 * "conn-1/c" in "eu"; in the default workspace a key "NAME:..." whose NAME
 * is a valid workspace name is a named workspace's.
 */
const char *wh_conns_in_workspace(const char *scope, const char *workspace);

/**
 * Read the whole schedule topic (at most timeout_ms per partition; producer,
 * borrowed, tells its partition count).
 * @return a new map whose names are the connection ids (within
 *         cfg->webhook_workspace) of its live scopes of that workspace
 *         (ls_strmap_destroy), or NULL when the topic could not be read
 *         completely (err says why): the caller keeps its previous set.
 */
ls_strmap_t *wh_conns_read(const ls_config_t *cfg, ls_producer_t *producer, int timeout_ms, char *err,
                           size_t errsz);

#endif
