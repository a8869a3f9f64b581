/*
 * ls_sync_watermark.c - the scope's sync record: which mode a job runs and
 * the watermark it leaves behind.
 *
 * Incremental jobs send the scope's stored watermark as updated_gte and
 * never count misses; an incremental job without a stored watermark runs as
 * a full scan (the status says so). The next watermark (job start minus
 * worker.watermark_overlap_s, whole seconds) is stored only after every page
 * and the removal pass were delivered and committed, and only where the
 * provider supports updated_gte. The record also carries the removal pass's
 * baseline (last_full_count) and the shrink guard's candidate
 * (shrink_count, shrink_scans), written by ls_sync_removal.c.
 */
#include "ls_sync_job.h"
#include "ls_err.h"
#include "ls_log.h"
#include "ls_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *ls_sync_record_dump(const ls_sync_job_t *j)
{
    return json_dumps(j->sync, JSON_COMPACT | JSON_SORT_KEYS);
}

long long ls_sync_record_int(const ls_sync_job_t *j, const char *key, long long dflt)
{
    json_t *v = json_object_get(j->sync, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

/* The scope's sync record (a new JSON object when there is none or it does not decode). */
int ls_sync_record_load(ls_sync_job_t *j)
{
    char err[256], buf[4096];
    ls_store_reader_t *r = ls_store_reader_new(j->ctx->store, err, sizeof(err));
    if (!r) {
        ls_error("%s", err);
        return LS_EIO;
    }
    int g = ls_store_reader_get_sync(r, j->partition, j->scope, buf, sizeof(buf));
    ls_store_reader_destroy(r);
    json_t *o = g == LS_OK ? json_loads(buf, 0, NULL) : NULL;
    if (g == LS_OK && !json_is_object(o))
        ls_warn("sync record of \"%s\" does not decode; starting it afresh", j->scope);
    if (!json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    j->sync = o;
    if (g != LS_OK && g != LS_ENOTFOUND)
        return LS_EIO;
    if (!o)
        return LS_ENOMEM;
    /* the stored record as ls_sync_record_store would write it (NULL: none, or it did not decode) */
    j->stored = g == LS_OK && json_object_size(o) ? ls_sync_record_dump(j) : NULL;
    return LS_OK;
}

/*
 * An incremental job needs the scope's stored watermark; without one (first
 * job, wiped partition) it runs as a full scan. j->gte gets the updated_gte
 * value to send ("" = none).
 */
void ls_sync_choose_mode(ls_sync_job_t *j)
{
    const char *wm = json_string_value(json_object_get(j->sync, "watermark"));
    int64_t t;
    j->gte[0] = '\0';
    if (j->run.mode == LS_MODE_INCREMENTAL && wm && ls_time_parse(wm, &t) == LS_OK) {
        j->st.mode = LS_MODE_INCREMENTAL;
        snprintf(j->gte, sizeof(j->gte), "%s", wm);
        snprintf(j->st.watermark, sizeof(j->st.watermark), "%s", wm);
        return;
    }
    if (j->run.mode == LS_MODE_INCREMENTAL)
        ls_info("job \"%s\": no stored watermark for its scope; running a full scan", j->run.job_id);
    j->st.mode = LS_MODE_FULL;
    if (j->run.gte == LS_GTE_REQUIRED) /* updated_gte is required on every request: the epoch lists everything */
        snprintf(j->gte, sizeof(j->gte), "1970-01-01T00:00:00Z");
}

/*
 * The record is written only when its text differs from what is stored
 * (j->stored, the compact sorted JSON last read or written), so a poll that
 * changed nothing on a full-scan scope writes nothing to LMDB.
 */
int ls_sync_record_store(ls_sync_job_t *j)
{
    char err[256], ts[LS_TIME_BUFSZ];
    ls_status_t *st = &j->st;
    if (j->run.gte != LS_GTE_NONE) {
        int64_t wm = st->started_at - (int64_t)j->ctx->cfg->watermark_overlap_s * 1000;
        snprintf(st->next_watermark, sizeof(st->next_watermark), "%s", ls_time_format(wm - wm % 1000, ts));
        json_object_set_new(j->sync, "watermark", json_string(st->next_watermark));
    } else {
        json_object_del(j->sync, "watermark");
    }
    json_object_set_new(j->sync, "last_mode", json_string(ls_mode_name(st->mode)));
    json_object_del(j->sync, "last_full_at"); /* informational, changed every job: no longer kept */
    char *js = ls_sync_record_dump(j);
    if (js && j->stored && strcmp(js, j->stored) == 0) {
        free(js);
        return LS_OK;
    }
    int rc = js ? ls_store_commit(j->ctx->store, j->partition, j->conn, NULL, 0, NULL, 0, -1, j->scope,
                                  js, err, sizeof(err))
                : LS_ENOMEM;
    if (rc != LS_OK) {
        free(js);
        snprintf(st->error, sizeof(st->error), "cannot store the sync record of \"%.200s\": %.200s", j->scope,
                 rc == LS_ENOMEM ? "out of memory" : err);
        return LS_EIO;
    }
    free(j->stored);
    j->stored = js;
    return LS_OK;
}
