/*
 * sb_virtual.h - virtual connections: a connection list of any size
 * computed from a formula, so the coordinator can be measured against
 * 100,000 connections without the sandbox storing a world for them.
 *
 * Connection i (0-based) is "vconn-<i, 7 digits>". Every (100 / fanout_pct)th
 * one has integration type "sandbox_course_required" (its activity list
 * needs course_id, so the coordinator polls it per course) and `courses`
 * courses "vcrs-1".."vcrs-<courses>"; the others are "coursera". Tenants
 * (external_xref "vt-<n>") come from groups "TENANTSxSIZE,...": "1x20000,100x5"
 * is one tenant of 20,000 connections, then 100 tenants of 5; without
 * groups, connection i belongs to tenant i / 100. Virtual connections have
 * no activities: their activity lists answer 404.
 */
#ifndef SB_VIRTUAL_H
#define SB_VIRTUAL_H

#include <jansson.h>

#define SB_VIRTUAL_GROUPS 8

typedef struct sb_virtual {
    unsigned long n;         /* connections; 0 = off */
    unsigned long fanout_pct;
    unsigned long courses;
    unsigned ngroups;
    unsigned long g_tenants[SB_VIRTUAL_GROUPS], g_size[SB_VIRTUAL_GROUPS];
} sb_virtual_t;

/** Parse "TENANTSxSIZE,..." into v's groups and set v->n to their total. @return 0, or -1 when malformed. */
int sb_virtual_parse_tenants(const char *spec, sb_virtual_t *v);

/** One page of GET /unified/connection (new reference). */
json_t *sb_virtual_connections_json(const sb_virtual_t *v, long limit, long offset);

/** GET /unified/connection/{id} (new reference), or NULL when id is not a virtual connection. */
json_t *sb_virtual_connection_json(const sb_virtual_t *v, const char *id);

/** One page of GET /lms/{id}/course into *out (new reference). @return 0, or LS_ENOTFOUND. */
int sb_virtual_courses_json(const sb_virtual_t *v, const char *id, long limit, long offset, json_t **out);

#endif
