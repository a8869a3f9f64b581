/*
 * ls_event_ref.h - the reference for the direct event writer: the payload as
 * ls_event_build made it before (a jansson tree dumped with JSON_SORT_KEYS |
 * JSON_COMPACT). Used by tests/unit/test_event.c (differential test) and
 * bench/event_bench.c (the "jansson" column). Header-only, static functions.
 */
#ifndef LS_EVENT_REF_H
#define LS_EVENT_REF_H

#include <jansson.h>
#include "ls_activity.h"
#include "ls_diff.h"
#include "ls_event.h"

/*
 * Reference: the payload as ls_event_build made it before the direct writer,
 * a jansson tree dumped with JSON_SORT_KEYS | JSON_COMPACT. NULL where that
 * code failed (json_string() refusing invalid UTF-8). Free with free().
 */
static inline json_t *ref_string_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static inline json_t *ref_activity_or_null(const ls_activity_t *a)
{
    return a != NULL ? ls_activity_to_json(a) : json_null();
}

static inline json_t *ref_changed(uint32_t mask)
{
    json_t *arr = json_array();
    for (int f = 0; arr != NULL && f < LS_F__COUNT; f++) {
        if (!(mask & (1u << f)))
            continue;
        if (json_array_append_new(arr, json_string(ls_field_name((ls_field_t)f))) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

static inline json_t *ref_observed(const ls_event_ctx_t *ctx, const char *at)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = json_object_set_new(o, "mode", json_string(ctx->mode));
    bad |= json_object_set_new(o, "at", json_string(at));
    bad |= json_object_set_new(o, "job_id", ref_string_or_null(ctx->job_id));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static inline char *ref_payload(const ls_event_ctx_t *ctx, const ls_activity_t *before,
                         const ls_activity_t *after, const ls_diff_t *d, const char *time)
{
    const ls_activity_t *cur = after != NULL ? after : before;
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = json_object_set_new(o, "connection_id", json_string(ctx->connection_id));
    bad |= json_object_set_new(o, "integration_type", ref_string_or_null(ctx->integration_type));
    bad |= json_object_set_new(o, "tenant", ref_string_or_null(ctx->external_xref));
    bad |= json_object_set_new(o, "activity_id", json_string(cur->id));
    bad |= json_object_set_new(o, "type", json_string(ls_change_type_name(d->type)));
    bad |= json_object_set_new(o, "before", ref_activity_or_null(before));
    bad |= json_object_set_new(o, "after", ref_activity_or_null(after));
    bad |= json_object_set_new(o, "changed", ref_changed(d->changed_mask));
    bad |= json_object_set_new(o, "observed", ref_observed(ctx, time));
    if (ctx->workspace != NULL && ctx->workspace[0] != '\0')
        bad |= json_object_set_new(o, "workspace", json_string(ctx->workspace));
    char *out = bad ? NULL : json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(o);
    return out;
}

#endif
