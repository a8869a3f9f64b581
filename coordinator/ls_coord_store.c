/* ls_coord_store.c - the persisted schedule record of a scope (ls_coord_store.h). */
#include "ls_coord_store.h"
#include "ls_err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* The record's members: one row each, read by the encoder and the decoder. An optional member is written
 * only when it is not 0 and decodes as 0 when absent. */
static const struct {
    const char *name;
    size_t off;
    int64_t lo;
    int optional;  /* absent = 0, and 0 is not written (added after version 1 was in use) */
} fields[] = {
    {"next_due", offsetof(ls_coord_sched_rec_t, next_due_ms), 0, 0},
    {"last_full", offsetof(ls_coord_sched_rec_t, last_full_ms), 0, 0},
    {"since_full", offsetof(ls_coord_sched_rec_t, since_full), 0, 0},
    {"records", offsetof(ls_coord_sched_rec_t, records), -1, 0},
    {"failures", offsetof(ls_coord_sched_rec_t, failures), 0, 0},
    {"job_due", offsetof(ls_coord_sched_rec_t, job_due_ms), 0, 0},
    {"job_since", offsetof(ls_coord_sched_rec_t, job_since_ms), 0, 0},
    {"last_ok", offsetof(ls_coord_sched_rec_t, last_ok_ms), 0, 0},
    {"epoch", offsetof(ls_coord_sched_rec_t, epoch), 1, 1},
    {"ival", offsetof(ls_coord_sched_rec_t, ival_ms), 0, 1},
    {"requests", offsetof(ls_coord_sched_rec_t, requests), 0, 1},
};
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

static int64_t *field(ls_coord_sched_rec_t *r, size_t i)
{
    return (int64_t *)((char *)r + fields[i].off);
}

int ls_coord_sched_encode(const ls_coord_sched_rec_t *r, char *buf, size_t bufsz)
{
    size_t n = (size_t)snprintf(buf, bufsz, "{\"v\":%d", LS_COORD_SCHED_VERSION);
    for (size_t i = 0; i < N_FIELDS && n < bufsz; i++)
        if (!fields[i].optional || *field((ls_coord_sched_rec_t *)r, i))
            n += (size_t)snprintf(buf + n, bufsz - n, ",\"%s\":%lld", fields[i].name,
                                  (long long)*field((ls_coord_sched_rec_t *)r, i));
    if (n + 1 >= bufsz)
        return -1;
    buf[n++] = '}';
    buf[n] = '\0';
    return (int)n;
}

int ls_coord_sched_decode(const char *value, size_t len, ls_coord_sched_rec_t *r, char *err, size_t errsz)
{
    json_error_t je;
    json_t *o = json_loadb(value, len, 0, &je);
    json_t *v = json_object_get(o, "v");
    int rc = LS_EINVAL;
    memset(r, 0, sizeof(*r));
    if (!json_is_object(o)) {
        snprintf(err, errsz, "not a JSON object%s%s", o ? "" : ": ", o ? "" : je.text);
        ls_err_printable(err);
    } else if (!json_is_integer(v) || json_integer_value(v) != LS_COORD_SCHED_VERSION)
        snprintf(err, errsz, "member \"v\" is not %d", LS_COORD_SCHED_VERSION);
    else
        rc = LS_OK;
    for (size_t i = 0; i < N_FIELDS && rc == LS_OK; i++) {
        json_t *m = json_object_get(o, fields[i].name);
        if (!m && fields[i].optional)
            continue;
        if (!json_is_integer(m) || json_integer_value(m) < fields[i].lo) {
            snprintf(err, errsz, "member \"%s\" is %s", fields[i].name, m ? "not an integer in range" : "missing");
            rc = LS_EINVAL;
        } else {
            *field(r, i) = json_integer_value(m);
        }
    }
    json_decref(o);
    if (rc != LS_OK)
        memset(r, 0, sizeof(*r));
    return rc;
}
