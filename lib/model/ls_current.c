/*
 * ls_current.c - build the current record of an activity (ls_current.h).
 *
 * The value is a jansson tree dumped with JSON_SORT_KEYS | JSON_COMPACT, like
 * the change events' reference builder: the record is flat and produced
 * only for activities whose stored state changed, so the tree costs little
 * next to the event, and a tree is what lets other fields join the value
 * later without a second hand-written writer. The record itself comes from
 * ls_activity_to_json and the envelope from ls_event_envelope_set, the
 * same code the change events use, so a current record and the `after` of
 * the event before it hold the same bytes per field.
 */
#include "ls_current.h"
#include "ls_err.h"
#include "ls_state.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t CURRENT_MARKER[] = {'c', 'u', 'r', 'r', 'e', 'n', 't'};

static int fail(char *err, size_t errsz, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errsz, int rc, const char *fmt, ...)
{
    if (err != NULL && errsz > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int ls_current_value_set(json_t *obj, const ls_event_ctx_t *ctx, const ls_activity_t *a)
{
    json_t *rec = ls_activity_to_json(a);
    if (rec == NULL)
        return LS_EINVAL;
    int rc = json_object_update(obj, rec) == 0 ? LS_OK : LS_ENOMEM;
    json_decref(rec);
    return rc == LS_OK ? ls_event_envelope_set(obj, ctx) : rc;
}

void ls_current_id(const char *connection_id, const char *activity_id, const uint8_t *packed, size_t len,
                   char *out)
{
    ls_event_id(connection_id, activity_id, CURRENT_MARKER, sizeof(CURRENT_MARKER), packed, len, out);
}

/* The value as compact JSON with sorted keys into cur (malloc). */
static int build_value(const ls_event_ctx_t *ctx, const ls_activity_t *a, ls_current_t *cur)
{
    json_t *obj = json_object();
    if (obj == NULL)
        return LS_ENOMEM;
    int rc = ls_current_value_set(obj, ctx, a);
    if (rc == LS_OK) {
        cur->value = json_dumps(obj, JSON_SORT_KEYS | JSON_COMPACT);
        rc = cur->value != NULL ? LS_OK : LS_ENOMEM;
        cur->value_len = cur->value != NULL ? strlen(cur->value) : 0;
    }
    json_decref(obj);
    return rc;
}

static int check_args(const ls_event_ctx_t *ctx, const char *activity_id, const ls_activity_t *a,
                      char *err, size_t errsz)
{
    if (ctx == NULL || ctx->connection_id == NULL || ctx->connection_id[0] == '\0')
        return fail(err, errsz, LS_EINVAL, "current record: missing connection id");
    if (activity_id == NULL || activity_id[0] == '\0')
        return fail(err, errsz, LS_EINVAL, "current record: missing activity id");
    if (a != NULL && strcmp(a->id, activity_id) != 0)
        return fail(err, errsz, LS_EINVAL, "current record: record id differs from \"%s\"", activity_id);
    return LS_OK;
}

int ls_current_build(const ls_event_ctx_t *ctx, const char *activity_id, const ls_activity_t *a,
                     ls_current_t *cur, char *err, size_t errsz)
{
    uint8_t packed[LS_STATE_MAX];
    size_t len = 0;
    memset(cur, 0, sizeof(*cur));
    int rc = check_args(ctx, activity_id, a, err, errsz);
    if (rc != LS_OK)
        return rc;
    if (ls_activity_key(ctx->connection_id, activity_id, cur->key, sizeof(cur->key)) < 0)
        return fail(err, errsz, LS_EINVAL, "current record: key of \"%s\" too long", activity_id);
    rc = ls_event_attrs(ctx, activity_id, cur->source, cur->subject, cur->time, err, errsz);
    if (rc != LS_OK)
        return rc;
    if (a != NULL && ls_state_pack(a, packed, sizeof(packed), &len) != LS_OK)
        return fail(err, errsz, LS_EINVAL, "current record: cannot pack the state of \"%s\"", activity_id);
    ls_current_id(ctx->connection_id, activity_id, a != NULL ? packed : NULL, len, cur->id);
    rc = a != NULL ? build_value(ctx, a, cur) : LS_OK;
    if (rc == LS_EINVAL)
        return fail(err, errsz, rc, "current record: cannot encode activity \"%s\" (invalid UTF-8?)", activity_id);
    if (rc != LS_OK)
        return fail(err, errsz, rc, "current record: out of memory encoding activity \"%s\"", activity_id);
    return LS_OK;
}

void ls_current_release(ls_current_t *cur)
{
    if (cur == NULL)
        return;
    free(cur->value);
    cur->value = NULL;
    cur->value_len = 0;
}
