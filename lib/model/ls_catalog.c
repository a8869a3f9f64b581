/*
 * ls_catalog.c - list pages of courses and contents, their stored form,
 * and the join of names into derived records (ls_catalog.h).
 *
 * Pages are small (worker.page_limit records) and read once per refresh, so
 * they are parsed with jansson rather than a hand-written fast path.
 */
#include "ls_catalog.h"
#include "ls_err.h"
#include "ls_grow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ls_catalog_kind_name(ls_catalog_kind_t k)
{
    return k == LS_CATALOG_CONTENT ? "content" : "course";
}

/* Optional string member key into buf: *has = 0 when absent, null or "". LS_EINVAL: wrong type or too long. */
static int opt_text(json_t *rec, const char *key, char *buf, size_t bufsz, int *has)
{
    json_t *v = json_object_get(rec, key);
    *has = 0;
    buf[0] = '\0';
    if (!v || json_is_null(v))
        return LS_OK;
    if (!json_is_string(v) || json_string_length(v) >= bufsz || strlen(json_string_value(v)) != json_string_length(v))
        return LS_EINVAL;  /* an embedded NUL would cut the name: refuse rather than store a shorter one */
    memcpy(buf, json_string_value(v), json_string_length(v) + 1);
    *has = buf[0] != '\0';
    return LS_OK;
}

/* One record into item: LS_OK, or LS_EINVAL when it is to be skipped. */
static int parse_record(json_t *rec, ls_catalog_kind_t kind, ls_catalog_item_t *item)
{
    json_t *id = json_object_get(rec, "id");
    if (!json_is_object(rec) || !json_is_string(id) || json_string_length(id) == 0 ||
        json_string_length(id) > LS_STR_MAX || strlen(json_string_value(id)) != json_string_length(id))
        return LS_EINVAL;
    memcpy(item->id, json_string_value(id), json_string_length(id) + 1);
    if (opt_text(rec, "name", item->e.name, sizeof(item->e.name), &item->e.has_name) != LS_OK)
        return LS_EINVAL;
    if (kind == LS_CATALOG_CONTENT)
        return opt_text(rec, "type", item->e.type, sizeof(item->e.type), &item->e.has_type);
    item->e.has_type = 0;
    item->e.type[0] = '\0';
    return LS_OK;
}

int ls_catalog_page_parse(ls_catalog_page_t *p, ls_catalog_kind_t kind, const char *body, size_t len,
                          int64_t fetched_at, char *err, size_t errsz)
{
    json_error_t je;
    p->n = p->rejected = 0;
    json_t *arr = json_loadb(body ? body : "", len, 0, &je);
    if (!json_is_array(arr)) {
        if (arr)
            snprintf(err, errsz, "%s list: not a JSON array", ls_catalog_kind_name(kind));
        else
            snprintf(err, errsz, "%s list: invalid JSON at byte %d: %s", ls_catalog_kind_name(kind), je.position, je.text);
        ls_err_printable(err);
        json_decref(arr);
        return LS_EINVAL;
    }
    size_t i;
    json_t *rec;
    json_array_foreach(arr, i, rec) {
        ls_catalog_item_t *grown = ls_grow(p->items, &p->cap, p->n, sizeof(*p->items), 64);
        if (!grown) {
            json_decref(arr);
            return LS_ENOMEM;
        }
        p->items = grown;
        ls_catalog_item_t *it = &p->items[p->n];
        if (parse_record(rec, kind, it) != LS_OK) {
            p->rejected++;
            continue;
        }
        it->e.fetched_at = fetched_at;
        p->n++;
    }
    json_decref(arr);
    return LS_OK;
}

void ls_catalog_page_release(ls_catalog_page_t *p)
{
    free(p->items);
    memset(p, 0, sizeof(*p));
}

size_t ls_catalog_entry_pack(const ls_catalog_entry_t *e, uint8_t *buf)
{
    size_t nl = e->has_name ? strlen(e->name) : 0, tl = e->has_type ? strlen(e->type) : 0, n = 0;
    uint64_t t = (uint64_t)e->fetched_at;
    buf[n++] = 1;
    for (int i = 7; i >= 0; i--)
        buf[n++] = (uint8_t)(t >> (8 * i));
    buf[n++] = (uint8_t)((e->has_name ? 1 : 0) | (e->has_type ? 2 : 0));
    buf[n++] = (uint8_t)(nl >> 8);
    buf[n++] = (uint8_t)nl;
    memcpy(buf + n, e->name, nl);
    n += nl;
    buf[n++] = (uint8_t)tl;
    memcpy(buf + n, e->type, tl);
    return n + tl;
}

int ls_catalog_entry_unpack(const uint8_t *v, size_t len, ls_catalog_entry_t *e)
{
    memset(e, 0, sizeof(*e));
    if (len < 12 || v[0] != 1 || (v[9] & ~3u))
        return LS_EINVAL;
    uint64_t t = 0;
    for (int i = 1; i <= 8; i++)
        t = t << 8 | v[i];
    size_t nl = (size_t)v[10] << 8 | v[11];
    if (nl > LS_CATALOG_NAME_MAX || 12 + nl + 1 > len)
        return LS_EINVAL;
    size_t tl = v[12 + nl];
    if (tl > LS_CATALOG_TYPE_MAX || 13 + nl + tl != len)
        return LS_EINVAL;
    e->fetched_at = (int64_t)t;
    e->has_name = (v[9] & 1) != 0;
    e->has_type = (v[9] & 2) != 0;
    if ((!e->has_name && nl) || (!e->has_type && tl))
        return LS_EINVAL;
    memcpy(e->name, v + 12, nl);
    memcpy(e->type, v + 13 + nl, tl);
    return LS_OK;
}

/* Set key to text when known, else make sure key is absent. */
static int set_or_remove(json_t *obj, const char *key, int known, const char *text)
{
    if (!known) {
        json_object_del(obj, key);
        return LS_OK;
    }
    return json_object_set_new(obj, key, json_string(text)) ? LS_ENOMEM : LS_OK;
}

int ls_catalog_add_names(json_t *obj, const ls_catalog_entry_t *course, const ls_catalog_entry_t *content)
{
    int rc = set_or_remove(obj, "course_name", course && course->has_name, course ? course->name : "");
    if (!rc) rc = set_or_remove(obj, "content_name", content && content->has_name, content ? content->name : "");
    if (!rc) rc = set_or_remove(obj, "content_type", content && content->has_type, content ? content->type : "");
    if (rc) {
        json_object_del(obj, "course_name");
        json_object_del(obj, "content_name");
        json_object_del(obj, "content_type");
    }
    return rc;
}
