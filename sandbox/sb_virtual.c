/* sb_virtual.c - virtual connections from a formula (sb_virtual.h). */
#include "sb_virtual.h"
#include "ls_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sb_virtual_parse_tenants(const char *spec, sb_virtual_t *v)
{
    v->ngroups = 0;
    v->n = 0;
    for (const char *p = spec; *p;) {
        char *end;
        unsigned long t = strtoul(p, &end, 10), s;
        if (end == p || *end != 'x' || v->ngroups == SB_VIRTUAL_GROUPS)
            return -1;
        p = end + 1;
        s = strtoul(p, &end, 10);
        if (end == p || (*end && *end != ',') || t == 0 || s == 0 || t > 10000000 || s > 10000000)
            return -1;
        v->g_tenants[v->ngroups] = t;
        v->g_size[v->ngroups++] = s;
        v->n += t * s;
        p = *end ? end + 1 : end;
    }
    return v->ngroups ? 0 : -1;
}

static unsigned long tenant_of(const sb_virtual_t *v, unsigned long i)
{
    unsigned long base = 0;
    for (unsigned g = 0; g < v->ngroups; g++) {
        if (i < v->g_tenants[g] * v->g_size[g])
            return base + i / v->g_size[g];
        i -= v->g_tenants[g] * v->g_size[g];
        base += v->g_tenants[g];
    }
    return i / 100;
}

static int fanned(const sb_virtual_t *v, unsigned long i)
{
    return v->fanout_pct > 0 && i % (100 / (v->fanout_pct > 100 ? 100 : v->fanout_pct)) == 0;
}

/* The index of a virtual connection id, or -1. */
static long index_of(const sb_virtual_t *v, const char *id)
{
    unsigned long i;
    char tail;
    if (!id || strncmp(id, "vconn-", 6) != 0 || strlen(id) != 13 || sscanf(id + 6, "%lu%c", &i, &tail) != 1 || i >= v->n)
        return -1;
    return (long)i;
}

static json_t *conn_json(const sb_virtual_t *v, unsigned long i)
{
    char id[32], xref[32];
    snprintf(id, sizeof(id), "vconn-%07lu", i);
    snprintf(xref, sizeof(xref), "vt-%lu", tenant_of(v, i));
    return json_pack("{s:s,s:s,s:[s],s:s,s:b}", "id", id, "integration_type",
                     fanned(v, i) ? "sandbox_course_required" : "coursera", "categories", "lms",
                     "external_xref", xref, "is_paused", 0);
}

json_t *sb_virtual_connections_json(const sb_virtual_t *v, long limit, long offset)
{
    json_t *arr = json_array();
    for (unsigned long i = (unsigned long)offset; i < v->n && (long)json_array_size(arr) < limit; i++)
        json_array_append_new(arr, conn_json(v, i));
    return arr;
}

json_t *sb_virtual_connection_json(const sb_virtual_t *v, const char *id)
{
    long i = index_of(v, id);
    return i < 0 ? NULL : conn_json(v, (unsigned long)i);
}

int sb_virtual_courses_json(const sb_virtual_t *v, const char *id, long limit, long offset, json_t **out)
{
    long i = index_of(v, id);
    if (i < 0)
        return LS_ENOTFOUND;
    char cid[32];
    json_t *arr = json_array();
    for (unsigned long k = (unsigned long)offset + 1; fanned(v, (unsigned long)i) && k <= v->courses &&
                                                     (long)json_array_size(arr) < limit; k++) {
        snprintf(cid, sizeof(cid), "vcrs-%lu", k);
        json_array_append_new(arr, json_pack("{s:s}", "id", cid));
    }
    *out = arr;
    return LS_OK;
}
