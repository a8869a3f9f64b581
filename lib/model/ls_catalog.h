/*
 * ls_catalog.h - course and content names (the "catalog" of a connection):
 * the entries a catalog job reads from GET /lms/{conn}/course and
 * GET /lms/{conn}/content, their stored form, and the one function that
 * joins them into a derived JSON record.
 *
 * A name is only ever what the provider reported: a provider that reports
 * no name (member absent, null or "") gives an entry without one, and the
 * joined record then has no name member at all - never "" and never an
 * invented one. LmsContent's `type` is read the same way when a provider
 * sends it (Unified's published LmsContent schema lists no `type`, so on
 * real connections it is usually absent).
 */
#ifndef LS_CATALOG_H
#define LS_CATALOG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "ls_activity.h"

#define LS_CATALOG_NAME_MAX 1024   /* bytes of a name kept; a longer one is rejected (the stored one stays) */
#define LS_CATALOG_TYPE_MAX 64     /* bytes of a content type kept; a longer one is rejected likewise */
#define LS_CATALOG_VALUE_MAX (16 + LS_CATALOG_NAME_MAX + LS_CATALOG_TYPE_MAX)

typedef enum {
    LS_CATALOG_COURSE = 0,   /* LmsCourse: id, name */
    LS_CATALOG_CONTENT,      /* LmsContent: id, name, type */
    LS_CATALOG_N_KINDS
} ls_catalog_kind_t;

/** "course", "content" (the middle part of the store key and of the list path). */
const char *ls_catalog_kind_name(ls_catalog_kind_t k);

/** One cached entry. has_* = 0: the provider did not report it (the string is then ""). */
typedef struct ls_catalog_entry {
    int has_name, has_type;
    char name[LS_CATALOG_NAME_MAX + 1];
    char type[LS_CATALOG_TYPE_MAX + 1];
    int64_t fetched_at;              /* ms since epoch: when the page holding it was fetched */
} ls_catalog_entry_t;

/** One record of a list page: its id and entry. */
typedef struct ls_catalog_item {
    char id[LS_STR_MAX + 1];
    ls_catalog_entry_t e;
} ls_catalog_item_t;

/** A parsed list page (reused across pages: ls_catalog_page_release frees it). */
typedef struct ls_catalog_page {
    ls_catalog_item_t *items;
    size_t n, cap;
    size_t rejected;                 /* records skipped: not an object, no usable id, a name/type of the wrong type or too long */
} ls_catalog_page_t;

/**
 * Parse a list answer (a JSON array of LmsCourse or LmsContent objects) of
 * len bytes into p (previous contents dropped), fetched_at stamped on every
 * entry. Bad records are counted in p->rejected and skipped.
 * @return 0; LS_EINVAL (not a JSON array: why in err, one printable line);
 *         LS_ENOMEM.
 */
int ls_catalog_page_parse(ls_catalog_page_t *p, ls_catalog_kind_t kind, const char *body, size_t len,
                          int64_t fetched_at, char *err, size_t errsz);

void ls_catalog_page_release(ls_catalog_page_t *p);

/**
 * Stored value of e into buf (at least LS_CATALOG_VALUE_MAX bytes):
 * u8 version 1 | i64 fetched_at (big endian) | u8 flags (1 = name, 2 = type)
 * | u16 name length | name | u8 type length | type.
 * @return its length.
 */
size_t ls_catalog_entry_pack(const ls_catalog_entry_t *e, uint8_t *buf);

/** The inverse of ls_catalog_entry_pack(). @return 0 or LS_EINVAL (garbled value). */
int ls_catalog_entry_unpack(const uint8_t *v, size_t len, ls_catalog_entry_t *e);

/**
 * Add the names to a derived record (the writers of current records and
 * rollups call this after merging), flat members:
 *   "course_name"  (course's name)      - absent when course is NULL or has none
 *   "content_name" (content's name)     - absent when content is NULL or has none
 *   "content_type" (content's type)     - absent when content is NULL or has none
 * Members already in obj with these names are removed first when the entry
 * does not know them (an unknown name is never left stale or "").
 * obj is borrowed. @return 0 or LS_ENOMEM (obj then holds no name member).
 */
int ls_catalog_add_names(json_t *obj, const ls_catalog_entry_t *course, const ls_catalog_entry_t *content);

#endif
