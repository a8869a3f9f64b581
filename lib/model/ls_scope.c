/* ls_scope.c - mode names and the keys built from identifiers (ls_scope.h). */
#include "ls_scope.h"

#include "ls_err.h"

#include <stdio.h>
#include <string.h>

static const char *const mode_names[] = {"", "full", "incremental", "webhook"};

const char *ls_mode_name(ls_mode_t m)
{
    return (unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "";
}

ls_mode_t ls_mode_parse(const char *s)
{
    for (size_t i = 1; s && i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
        if (strcmp(s, mode_names[i]) == 0)
            return (ls_mode_t)i;
    return LS_MODE_NONE;
}

static int join(const char *a, const char *b, char *buf, size_t bufsz)
{
    int n = b && b[0] ? snprintf(buf, bufsz, "%s/%s", a, b) : snprintf(buf, bufsz, "%s", a);
    if (n < 0 || (size_t)n >= bufsz) {
        if (bufsz)
            buf[0] = '\0';
        return -1;
    }
    return n;
}

int ls_key_part_check(const char *id, char *why, size_t whysz)
{
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        if (*p == '/' || *p < 0x20 || *p == 0x7f) {
            if (*p == '/')
                snprintf(why, whysz, "contains '/' at byte %zu", (size_t)(p - (const unsigned char *)id));
            else
                snprintf(why, whysz, "contains control character 0x%02x at byte %zu", *p,
                         (size_t)(p - (const unsigned char *)id));
            return LS_EINVAL;
        }
    }
    return LS_OK;
}

int ls_scope_key(const char *connection_id, const char *course_id, char *buf, size_t bufsz)
{
    return join(connection_id, course_id, buf, bufsz);
}

int ls_activity_key(const char *connection_id, const char *activity_id, char *buf, size_t bufsz)
{
    return join(connection_id, activity_id, buf, bufsz);
}

/* n from snprintf into buf: n, or -1 with buf "" when it did not fit. */
static int fitted(int n, char *buf, size_t bufsz)
{
    if (n < 0 || (size_t)n >= bufsz) {
        if (bufsz)
            buf[0] = '\0';
        return -1;
    }
    return n;
}

int ls_workspace_check(const char *name, char *why, size_t whysz)
{
    size_t n = strlen(name);
    if (n == 0 || n >= LS_WORKSPACE_MAX) {
        snprintf(why, whysz, "must be 1 to %d bytes long", LS_WORKSPACE_MAX - 1);
        return LS_EINVAL;
    }
    size_t bad = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-");
    if (bad < n) {
        snprintf(why, whysz, "may hold only [a-z0-9_-], got byte 0x%02x at %zu", (unsigned char)name[bad], bad);
        return LS_EINVAL;
    }
    return LS_OK;
}

int ls_conn_qualify(const char *workspace, const char *connection_id, char *buf, size_t bufsz)
{
    int n = workspace && workspace[0] ? snprintf(buf, bufsz, "%s:%s", workspace, connection_id)
                                      : snprintf(buf, bufsz, "%s", connection_id);
    return fitted(n, buf, bufsz);
}

int ls_enrollment_key(const char *connection_id, const char *student_id, const char *course_id, char *buf,
                      size_t bufsz)
{
    return fitted(snprintf(buf, bufsz, "%s/%s/%s", connection_id, student_id, course_id), buf, bufsz);
}
