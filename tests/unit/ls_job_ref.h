/*
 * ls_job_ref.h - the reference for the direct job writer: the job as
 * ls_job_encode made it before (with main's kind, resync and webhook
 * records members), a jansson object dumped with
 * JSON_COMPACT | JSON_SORT_KEYS. Used by tests/unit/test_job.c
 * (differential test). Header-only, static functions.
 */
#ifndef LS_JOB_REF_H
#define LS_JOB_REF_H

#include <jansson.h>
#include <string.h>
#include "ls_job.h"
#include "ls_time.h"

/* The optional strategy members (see ls_job.h); only non-defaults are written. */
static inline int ref_encode_strategy(json_t *o, const ls_job_t *job)
{
    if (job->fields[0]) {
        json_t *arr = json_array();
        for (const char *p = job->fields; arr && *p;) {
            size_t len = strcspn(p, ",");
            json_array_append_new(arr, json_stringn(p, len));
            p += len + (p[len] == ',');
        }
        if (!arr || json_object_set_new(o, "fields", arr))
            return LS_ENOMEM;
    }
    if (job->sort[0])
        json_object_set_new(o, "sort", json_string(job->sort));
    if (job->sort[0] && job->order_asc)
        json_object_set_new(o, "order", json_string("asc"));
    if (job->unpaged)
        json_object_set_new(o, "paged", json_false());
    if (job->get)
        json_object_set_new(o, "get", json_true());
    if (job->gte)
        json_object_set_new(o, "updated_gte", json_string(job->gte == LS_GTE_REQUIRED ? "required" : "supported"));
    return LS_OK;
}

static inline char *ref_job_encode(const ls_job_t *job)
{
    char ts[LS_TIME_BUFSZ];
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s}", "v", LS_JOB_VERSION,
                          "job_id", job->job_id, "connection_id", job->connection_id,
                          "integration_type", job->integration_type, "mode", ls_mode_name(job->mode),
                          "scheduled_at", ls_time_format(job->scheduled_at, ts));
    if (!o)
        return NULL;
    if (job->external_xref[0])
        json_object_set_new(o, "external_xref", json_string(job->external_xref));
    if (job->course_id[0])
        json_object_set_new(o, "course_id", json_string(job->course_id));
    if (job->leader_epoch > 0)
        json_object_set_new(o, "leader_epoch", json_integer(job->leader_epoch));
    if (job->workspace[0])
        json_object_set_new(o, "workspace", json_string(job->workspace));
    if (job->kind == LS_JOB_CATALOG)
        json_object_set_new(o, "kind", json_string("catalog"));
    if (job->resync)
        json_object_set_new(o, "resync", json_true());
    if (job->tenant[0] && json_object_set_new(o, "tenant", json_string(job->tenant)) != 0) {
        json_decref(o); /* not valid UTF-8: jansson refuses the string */
        return NULL;
    }
    int bad = 0;
    if (job->records) {
        json_t *arr = json_loadb(job->records, job->records_len, 0, NULL);
        bad = !json_is_array(arr) || json_object_set(o, "records", arr) != 0;
        json_decref(arr);
    }
    if (bad || (job->kind != LS_JOB_CATALOG && ref_encode_strategy(o, job) != 0)) {
        json_decref(o);
        return NULL;
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

#endif
