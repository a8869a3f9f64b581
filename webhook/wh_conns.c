/*
 * wh_conns.c - the known connections from the coordinator's schedule topic.
 *
 * Scopes are replayed in offset order per partition (a tombstone removes
 * its scope; the topic may not be compacted yet), then each live scope key
 * gives its connection, the part before '/'. Scope keys hold the
 * workspace-qualified connection ("eu:conn-1" in workspace "eu",
 * ls_conn_qualify): only the connections of the served workspace
 * (webhook.workspace) are kept, with their id within it. In the default
 * workspace a key whose part before ':' is a workspace name
 * ([a-z0-9_-]{1,31}) belongs to a named workspace and is not kept.
 */
#include "wh_conns.h"
#include "ls_err.h"
#include "ls_activity.h"
#include "ls_kafka.h"
#include "ls_time.h"

#include <stdio.h>
#include <string.h>

/* Replay one partition into scopes, from its start to the high watermark seen now. */
static int read_partition(ls_reader_t *rd, const char *topic, int p, ls_strmap_t *scopes, int timeout_ms, char *err,
                          size_t errsz)
{
    int64_t lo, hi, next = 0, deadline = ls_time_mono_ms() + timeout_ms;
    if (ls_reader_watermarks(rd, topic, p, &lo, &hi, timeout_ms, err, errsz) != LS_OK)
        return LS_ETRANSIENT;
    if (hi <= lo)
        return LS_OK;
    if (ls_reader_start(rd, topic, p, LS_OFFSET_BEGINNING) != LS_OK) {
        snprintf(err, errsz, "cannot read %s [%d]", topic, p);
        return LS_ETRANSIENT;
    }
    while (next < hi && ls_time_mono_ms() < deadline) {
        ls_kmsg_t m;
        int64_t eof = -1;
        char key[LS_KEY_MAX];
        if (ls_reader_poll(rd, 200, &m, &eof, err, errsz) != LS_OK) {
            next = eof >= 0 ? eof : next;
            continue;
        }
        next = m.offset + 1;
        if (m.key && m.key_len > 0 && m.key_len < sizeof(key)) {
            memcpy(key, m.key, m.key_len);
            key[m.key_len] = '\0';
            if (m.value)
                ls_strmap_put(scopes, key, NULL);
            else
                ls_strmap_del(scopes, key);
        }
        ls_kmsg_release(&m);
    }
    ls_reader_stop(rd);
    if (next < hi)
        snprintf(err, errsz, "%s [%d] not read to its end within %d ms", topic, p, timeout_ms);
    return next >= hi ? LS_OK : LS_ETRANSIENT;
}

typedef struct {
    ls_strmap_t *conns;
    const char *workspace; /* served: "" = the default */
    int failed;
} collect_t;

const char *wh_conns_in_workspace(const char *scope, const char *workspace)
{
    size_t wl = strlen(workspace), colon = strcspn(scope, ":/");
    if (wl)
        return strncmp(scope, workspace, wl) == 0 && scope[wl] == ':' ? scope + wl + 1 : NULL;
    char name[LS_WORKSPACE_MAX], why[8];
    if (scope[colon] != ':' || colon >= sizeof(name))
        return scope;
    memcpy(name, scope, colon);
    name[colon] = '\0';
    return ls_workspace_check(name, why, sizeof(why)) == LS_OK ? NULL : scope;
}

/* Sweep callback that drops nothing: it adds each scope's connection of the served workspace to the result. */
static int collect(const char *qualified, void *value, void *ud)
{
    collect_t *c = ud;
    char conn[LS_STR_MAX + 1];
    const char *scope = wh_conns_in_workspace(qualified, c->workspace);
    (void)value;
    if (!scope)
        return 0;
    size_t n = strcspn(scope, "/");
    if (n < sizeof(conn)) {
        memcpy(conn, scope, n);
        conn[n] = '\0';
        c->failed |= ls_strmap_put(c->conns, conn, NULL) == NULL;
    }
    return 0;
}

ls_strmap_t *wh_conns_read(const ls_config_t *cfg, ls_producer_t *producer, int timeout_ms, char *err,
                           size_t errsz)
{
    char topic[128];
    ls_kafka_conf_t kc = ls_config_kafka(cfg);
    ls_config_topic(cfg, "coordinator.schedule", topic, sizeof(topic));
    int np = ls_producer_partition_count(producer, topic, timeout_ms);
    if (np <= 0) {
        snprintf(err, errsz, "topic \"%s\" has no partitions (yet)", topic);
        return NULL;
    }
    ls_reader_t *rd = ls_reader_new(&kc, err, errsz);
    ls_strmap_t *scopes = ls_strmap_new(1);
    collect_t c = {ls_strmap_new(1), cfg->webhook_workspace, 0};
    int rc = rd && scopes && c.conns ? LS_OK : LS_ENOMEM;
    for (int p = 0; p < np && rc == LS_OK; p++)
        rc = read_partition(rd, topic, p, scopes, timeout_ms, err, errsz);
    if (rc == LS_OK)
        ls_strmap_sweep(scopes, collect, &c);
    if (rc == LS_ENOMEM || (rc == LS_OK && c.failed)) {
        snprintf(err, errsz, "out of memory reading %s", topic);
        rc = LS_ENOMEM;
    }
    ls_strmap_destroy(scopes);
    ls_reader_destroy(rd);
    if (rc != LS_OK) {
        ls_strmap_destroy(c.conns);
        return NULL;
    }
    return c.conns;
}
