/*
 * sb_query.c - list query parsing (see sb_query.h).
 */
#include "sb_query.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_err.h"
#include "ls_time.h"
#include "sb_profile.h"

void sb_query_init(sb_query_t *q)
{
    memset(q, 0, sizeof(*q));
    q->limit = SB_QUERY_DEFAULT_LIMIT;
    q->want_raw = true;
    q->fields = SB_FIELDS_ALL;
}

int sb_parse_nonneg(const char *s, long *out)
{
    if (!s || *s < '0' || *s > '9')
        return LS_EINVAL;
    errno = 0;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0)
        return LS_EINVAL;
    *out = v;
    return LS_OK;
}

static void sb_copy_val(char *dst, const char *src)
{
    snprintf(dst, SB_QUERY_VAL_MAX, "%s", src ? src : "");
}

/* Add each comma-separated name of one fields= value to the projection. */
static void sb_query_add_fields(sb_query_t *q, const char *v)
{
    char name[64];
    while (v && *v) {
        const char *comma = strchr(v, ',');
        size_t len = comma ? (size_t)(comma - v) : strlen(v);
        if (len > 0 && len < sizeof(name)) {
            memcpy(name, v, len);
            name[len] = '\0';
            sb_field_t f = sb_field_from_name(name);
            if (f != SB_F__COUNT)
                q->fields |= SB_FBIT(f);
            else if (strcmp(name, "raw") == 0)
                q->want_raw = true;
        }
        v = comma ? comma + 1 : NULL;
    }
}

/* Parse an instant; a '+' decoded to ' ' by a lax client is put back. */
static int sb_parse_instant(const char *v, int64_t *out)
{
    char buf[64];
    if (!v || strlen(v) >= sizeof(buf))
        return LS_EINVAL;
    snprintf(buf, sizeof(buf), "%s", v);
    char *sp = strchr(buf, ' ');
    if (sp)
        *sp = '+';
    return ls_time_parse(buf, out);
}

static int sb_query_one(sb_query_t *q, const char *k, const char *v, char *err, size_t err_size)
{
    if (strcmp(k, "limit") == 0) {
        long n;
        if (sb_parse_nonneg(v, &n) != LS_OK) {
            snprintf(err, err_size, "limit must be a non-negative integer");
            return LS_EINVAL;
        }
        q->limit = n == 0 ? SB_QUERY_DEFAULT_LIMIT : (n > SB_QUERY_MAX_LIMIT ? SB_QUERY_MAX_LIMIT : n);
    } else if (strcmp(k, "offset") == 0) {
        if (sb_parse_nonneg(v, &q->offset) != LS_OK) {
            snprintf(err, err_size, "offset must be a non-negative integer");
            return LS_EINVAL;
        }
    } else if (strcmp(k, "sort") == 0) {
        q->sort = v && strcmp(v, "updated_at") == 0 ? SB_SORT_UPDATED_AT
                : v && strcmp(v, "created_at") == 0 ? SB_SORT_CREATED_AT : SB_SORT_NONE;
    } else if (strcmp(k, "order") == 0) {
        q->desc = v && strcmp(v, "desc") == 0;
    } else if (strcmp(k, "course_id") == 0) {
        q->has_course_id = true;
        sb_copy_val(q->course_id, v);
    } else if (strcmp(k, "student_id") == 0) {
        q->has_student_id = true;
        sb_copy_val(q->student_id, v);
    } else if (strcmp(k, "content_id") == 0) {
        q->has_content_id = true;
        sb_copy_val(q->content_id, v);
    } else if (strcmp(k, "updated_gte") == 0) {
        if (sb_parse_instant(v, &q->updated_gte) != LS_OK) {
            snprintf(err, err_size, "updated_gte must be an ISO-8601 date-time");
            return LS_EINVAL;
        }
        q->has_updated_gte = true;
    } else if (strcmp(k, "fields") == 0) {
        if (!q->has_fields) {
            q->has_fields = true;
            q->fields = 0;
            q->want_raw = false;
        }
        sb_query_add_fields(q, v);
    }
    /* raw (vendor pass-through), query and unknown keys: accepted, ignored. */
    return LS_OK;
}

int sb_query_parse(const sb_kv_t *kv, size_t n, sb_query_t *q, char *err, size_t err_size)
{
    sb_query_init(q);
    for (size_t i = 0; i < n; i++) {
        if (!kv[i].key)
            continue;
        int rc = sb_query_one(q, kv[i].key, kv[i].value, err, err_size);
        if (rc != LS_OK)
            return rc;
    }
    return LS_OK;
}
