/*
 * ls_control.c - the control topic's messages (ls_control.h), with jansson.
 * Strict like the job decoder: the topic is input from the network.
 */
#include "ls_control.h"
#include "ls_err.h"
#include "ls_scope.h"
#include "ls_time.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESYNC_TAG "@resync-"

char *ls_control_encode(const ls_control_t *c)
{
    char ts[LS_TIME_BUFSZ];
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s}", "v", LS_CONTROL_VERSION, "type", "resync", "connection_id",
                          c->connection_id, "requested_at", ls_time_format(c->requested_at, ts), "request_id",
                          c->request_id);
    if (!o)
        return NULL;
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

/* A required string member into buf (1..bufsz-1 bytes). */
static int member(json_t *o, const char *key, char *buf, size_t bufsz, char *err, size_t errsz)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) {
        snprintf(err, errsz, "control: %s '%s'", v ? "field must be a string:" : "missing field", key);
        return LS_EINVAL;
    }
    size_t n = json_string_length(v);
    if (n == 0 || n >= bufsz) {
        snprintf(err, errsz, "control: field '%s' is %s", key, n ? "too long" : "empty");
        return LS_EINVAL;
    }
    memcpy(buf, json_string_value(v), n + 1);
    return LS_OK;
}

static int check_request_id(const char *id, char *err, size_t errsz)
{
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_')) {
            snprintf(err, errsz, "control: field 'request_id' may hold only A-Z a-z 0-9 - _");
            return LS_EINVAL;
        }
    return LS_OK;
}

static int decode_obj(json_t *o, ls_control_t *c, char *err, size_t errsz)
{
    char type[16], ts[64], why[64];
    json_t *v = json_object_get(o, "v");
    if (!json_is_integer(v) || json_integer_value(v) != LS_CONTROL_VERSION) {
        snprintf(err, errsz, "control: field 'v' must be %d", LS_CONTROL_VERSION);
        return LS_EINVAL;
    }
    int rc = member(o, "type", type, sizeof(type), err, errsz);
    if (!rc && strcmp(type, "resync") != 0) {
        snprintf(err, errsz, "control: unknown type \"%s\" (known: resync)", type);
        rc = LS_EINVAL;
    }
    if (!rc) rc = member(o, "connection_id", c->connection_id, sizeof(c->connection_id), err, errsz);
    if (!rc) rc = member(o, "requested_at", ts, sizeof(ts), err, errsz);
    if (!rc) rc = member(o, "request_id", c->request_id, sizeof(c->request_id), err, errsz);
    if (!rc) rc = check_request_id(c->request_id, err, errsz);
    if (rc)
        return rc;
    if (ls_key_part_check(c->connection_id, why, sizeof(why)) != LS_OK) {
        snprintf(err, errsz, "control: field 'connection_id' cannot be a key part: %s", why);
        return LS_EINVAL;
    }
    if (ls_time_parse(ts, &c->requested_at) != LS_OK) {
        snprintf(err, errsz, "control: field 'requested_at' is not a timestamp");
        return LS_EINVAL;
    }
    c->type = LS_CONTROL_RESYNC;
    return LS_OK;
}

int ls_control_decode(const char *value, size_t len, ls_control_t *c, char *err, size_t errsz)
{
    memset(c, 0, sizeof(*c));
    if (!value || len == 0) {
        snprintf(err, errsz, "control: empty message");
        return LS_EINVAL;
    }
    json_error_t je;
    json_t *o = json_loadb(value, len, JSON_REJECT_DUPLICATES, &je);
    int rc = LS_EINVAL;
    if (!o)
        snprintf(err, errsz, "control: invalid JSON at byte %d: %s", je.position, je.text);
    else if (!json_is_object(o))
        snprintf(err, errsz, "control: not a JSON object");
    else
        rc = decode_obj(o, c, err, errsz);
    json_decref(o);
    if (rc) {
        memset(c, 0, sizeof(*c));
        ls_err_printable(err);
    }
    return rc;
}

int ls_control_job_id(const char *scope, const char *request_id, char *buf, size_t bufsz)
{
    int n = snprintf(buf, bufsz, "%s" RESYNC_TAG "%s", scope, request_id);
    if (n < 0 || (size_t)n >= bufsz) {
        if (bufsz)
            buf[0] = '\0';
        return -1;
    }
    return n;
}

int ls_control_is_job_of(const char *job_id, const char *request_id)
{
    size_t jl = strlen(job_id), tl = strlen(RESYNC_TAG), rl = strlen(request_id);
    return rl > 0 && jl > tl + rl && strcmp(job_id + jl - rl, request_id) == 0 &&
           memcmp(job_id + jl - rl - tl, RESYNC_TAG, tl) == 0;
}
