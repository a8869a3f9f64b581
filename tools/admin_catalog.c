/*
 * admin_catalog.c - `lmsync-admin catalog CONNECTION`: a read-only dump of
 * the course and content names a worker pod cached for one connection (its
 * LMDB at worker.lmdb_path; run it in the worker's pod). One JSON object a
 * line: partition, kind, id, name and type (each absent when the provider
 * reported none), fetched_at.
 *
 * LMDB lets several processes share an environment, and the store's
 * deferred-sync marker is checked on disk by every writer, so this reader
 * may run next to a live worker; it writes nothing.
 */
#include "admin_run.h"
#include "ls_err.h"
#include "ls_store.h"
#include "ls_time.h"

#include <jansson.h>
#include <string.h>

static int print_entry(int partition, ls_catalog_kind_t kind, const char *id, const ls_catalog_entry_t *e, void *ud)
{
    char at[LS_TIME_BUFSZ];
    json_t *o = json_pack("{s:i, s:s, s:s, s:s}", "partition", partition, "kind", ls_catalog_kind_name(kind), "id", id,
                          "fetched_at", ls_time_format(e->fetched_at, at));
    if (o && e->has_name)
        json_object_set_new(o, "name", json_string(e->name));
    if (o && e->has_type)
        json_object_set_new(o, "type", json_string(e->type));
    if (!o) {
        json_decref(o);
        return LS_ENOMEM;
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!s)
        return LS_ENOMEM;
    fprintf(ud, "%s\n", s);
    free(s);
    return 0;
}

int admin_run_catalog(const ls_config_t *cfg, const char *connection_id, FILE *out)
{
    char err[512];
    ls_store_t *st = ls_store_open(cfg->lmdb_path, (size_t)cfg->lmdb_map_mb, 0, err, sizeof(err));
    if (!st) {
        fprintf(stderr, "lmsync-admin: %s\n", err);
        return ADMIN_EXIT_DIFF;
    }
    ls_store_reader_t *r = ls_store_reader_new(st, err, sizeof(err));
    int rc = r ? ls_store_catalog_foreach(r, connection_id, print_entry, out) : LS_EIO;
    ls_store_reader_destroy(r);
    ls_store_destroy(st);
    if (rc != LS_OK) {
        fprintf(stderr, "lmsync-admin: catalog of \"%s\" not read: %s\n", connection_id, r ? ls_strerror(rc) : err);
        return ADMIN_EXIT_DIFF;
    }
    return ADMIN_EXIT_OK;
}
