/*
 * ls_xapi_map.c - the change-event -> statement mapping (docs/xapi.md).
 *
 * One table row per event type gives the verb and which record instants
 * make the timestamp, so the type rules are read in one place. The result
 * block is built from what the `after` record reports: a field that is
 * absent or null contributes nothing (cmi5 and xAPI treat a missing
 * property as "not known", which is what it is).
 */
#include "ls_xapi_map.h"
#include "ls_err.h"
#include "ls_http.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERB_BASE "http://adlnet.gov/expapi/verbs/"
#define COURSE_TYPE "http://adlnet.gov/expapi/activities/course"
#define PROGRESS_EXT "https://w3id.org/xapi/cmi5/result/extensions/progress"

const char *const ls_xapi_outcome_names[LS_XAPI__OUTCOMES + 1] = {
    "mapped", "removed", "updated", "no_student", "undecodable", NULL};

typedef struct type_rule {
    const char *type;          /* event type */
    ls_xapi_outcome_t outcome; /* LS_XAPI_MAPPED or the skip */
    const char *verb;          /* last segment of the ADL verb IRI */
    int completion;            /* 1: result.completion = true whatever is_completed says */
    const char *instants[3];   /* after's fields tried in order for timestamp, then observed.at */
    int grade_only;            /* a statement only when `changed` has assigned_grade and the new grade is numeric */
} type_rule_t;

static const type_rule_t rules[] = {
    {"created", LS_XAPI_MAPPED, "attempted", 0, {"started_at", "created_at", "updated_at"}, 0},
    {"completed", LS_XAPI_MAPPED, "completed", 1, {"completed_at", "updated_at", NULL}, 0},
    {"progressed", LS_XAPI_MAPPED, "progressed", 0, {"updated_at", NULL, NULL}, 0},
    {"regressed", LS_XAPI_MAPPED, "progressed", 0, {"updated_at", NULL, NULL}, 0},
    {"reopened", LS_XAPI_MAPPED, "progressed", 0, {"updated_at", NULL, NULL}, 0},
    {"updated", LS_XAPI_SKIP_UPDATED, "scored", 0, {"updated_at", NULL, NULL}, 1},
    {"removed", LS_XAPI_SKIP_REMOVED, NULL, 0, {NULL, NULL, NULL}, 0},
};

static const type_rule_t *find_rule(const char *type)
{
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (strcmp(rules[i].type, type) == 0)
            return &rules[i];
    return NULL;
}

/* ---- ids ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int is_ce_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (hexval(s[n]) < 0)
            return 0;
    return n == 32;
}

static void uuid_bytes(const char *uuid, unsigned char out[16])
{
    for (int i = 0, j = 0; i < 16; j += 2) {
        if (uuid[j] == '-')
            j++;
        out[i++] = (unsigned char)(hexval(uuid[j]) << 4 | hexval(uuid[j + 1]));
    }
}

int ls_xapi_statement_id(const char *ce_id, char *out)
{
    if (!ce_id || !is_ce_id(ce_id))
        return LS_EINVAL;
    unsigned char in[16 + 32], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    uuid_bytes(LS_XAPI_NAMESPACE, in);
    memcpy(in + 16, ce_id, 32);
    if (EVP_Digest(in, sizeof(in), md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen < 16)
        return LS_EINVAL;
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50); /* version 5 */
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[md[i] >> 4];
        out[o++] = hex[md[i] & 15];
    }
    out[o] = '\0';
    return LS_OK;
}

/* ---- values ---- */

int ls_xapi_duration(double minutes, char *buf, size_t bufsz)
{
    if (!isfinite(minutes) || minutes < 0 || minutes > 1e12)
        return LS_EINVAL;
    long long cs = llround(minutes * 6000.0); /* centiseconds */
    long long m = cs / 6000, rest = cs % 6000;
    if (rest == 0)
        snprintf(buf, bufsz, "PT%lldM", m);
    else if (m == 0 && rest % 100 == 0)
        snprintf(buf, bufsz, "PT%lldS", rest / 100);
    else if (m == 0)
        snprintf(buf, bufsz, "PT%lld.%02lldS", rest / 100, rest % 100);
    else if (rest % 100 == 0)
        snprintf(buf, bufsz, "PT%lldM%lldS", m, rest / 100);
    else
        snprintf(buf, bufsz, "PT%lldM%lld.%02lldS", m, rest / 100, rest % 100);
    return LS_OK;
}

/* The string value of key in obj when it is a non-empty string, else NULL. */
static const char *str_field(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

/* base + scope + "/" + scope_id [+ "/" + kind + "/" + id], the ids percent-encoded as path segments. */
static char *iri(const char *base, const char *scope, const char *scope_id, const char *kind, const char *id)
{
    size_t cap = strlen(base) + strlen(scope) + (kind ? strlen(kind) : 0) + 3 * strlen(scope_id) +
                 (id ? 3 * strlen(id) : 0) + 8;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    size_t n = (size_t)snprintf(s, cap, "%s%s/", base, scope);
    ls_http_escape(scope_id, s + n, cap - n); /* cap holds 3 bytes per input byte: cannot fail */
    if (id) {
        n = strlen(s);
        n += (size_t)snprintf(s + n, cap - n, "/%s/", kind);
        ls_http_escape(id, s + n, cap - n);
    }
    return s;
}

/* An integral value as a JSON integer (an LRS gives 90.0 back as 90), others as reals. */
static json_t *number(double v)
{
    return v == floor(v) && fabs(v) < 9007199254740992.0 ? json_integer((json_int_t)v) : json_real(v);
}

/* A numeric grade: "87.5" -> raw 87.5; "87.5%" -> scaled 0.875 (0-100 %) and raw 87.5 of 0-100. */
static json_t *score(const char *grade)
{
    char *end;
    double v = strtod(grade, &end);
    if (end == grade || !isfinite(v) || grade[0] == ' ' || grade[0] == '\t')
        return NULL;
    if (*end == '\0')
        return json_pack("{s:o}", "raw", number(v));
    if (strcmp(end, "%") == 0 && v >= 0 && v <= 100)
        return json_pack("{s:o,s:o,s:i,s:i}", "scaled", number(v / 100.0), "raw", number(v), "min", 0, "max", 100);
    return NULL;
}

/* The result block, or NULL when the record reports nothing for it. */
static json_t *result(const type_rule_t *r, const json_t *after)
{
    json_t *res = json_object();
    const json_t *done = json_object_get(after, "is_completed");
    if (r->completion)
        json_object_set_new(res, "completion", json_true());
    else if (json_is_boolean(done))
        json_object_set_new(res, "completion", json_boolean(json_is_true(done)));
    const json_t *prog = json_object_get(after, "progress_percentage");
    if (!r->completion && json_is_number(prog)) {
        double p = json_number_value(prog);
        if (p >= 0 && p <= 100)
            json_object_set_new(res, "extensions", json_pack("{s:I}", PROGRESS_EXT, (json_int_t)llround(p)));
    }
    const json_t *dur = json_object_get(after, "duration_minutes");
    char d[64];
    if (json_is_number(dur) && ls_xapi_duration(json_number_value(dur), d, sizeof(d)) == LS_OK)
        json_object_set_new(res, "duration", json_string(d));
    const char *grade = str_field(after, "assigned_grade");
    json_t *sc = grade ? score(grade) : NULL;
    if (sc)
        json_object_set_new(res, "score", sc);
    if (json_object_size(res) == 0) {
        json_decref(res);
        return NULL;
    }
    return res;
}

static json_t *activity(char *id, const char *type)
{
    if (!id)
        return NULL;
    json_t *a = json_pack("{s:s,s:s}", "objectType", "Activity", "id", id);
    if (type)
        json_object_set_new(a, "definition", json_pack("{s:s}", "type", type));
    free(id);
    return a;
}

/* object (content, else course, else the activity record) and the course parent. */
static int object_and_context(const ls_xapi_map_conf_t *conf, const json_t *ev, const json_t *after,
                              json_t *stmt)
{
    const char *conn = json_string_value(json_object_get(ev, "connection_id"));
    const char *course = str_field(after, "course_id"), *content = str_field(after, "content_id");
    const char *base = conf->activity_base;
    json_t *obj;
    if (content)
        obj = activity(iri(base, "connections", conn, "content", content), NULL);
    else if (course)
        obj = activity(iri(base, "connections", conn, "courses", course), COURSE_TYPE);
    else
        obj = activity(iri(base, "connections", conn, "activities",
                           json_string_value(json_object_get(ev, "activity_id"))), NULL);
    if (!obj)
        return LS_ENOMEM;
    json_object_set_new(stmt, "object", obj);
    json_t *ctx = json_object();
    if (content && course) {
        json_t *parent = activity(iri(base, "connections", conn, "courses", course), COURSE_TYPE);
        json_object_set_new(ctx, "contextActivities", json_pack("{s:[o]}", "parent", parent));
    }
    const char *platform = str_field(ev, "integration_type");
    if (platform)
        json_object_set_new(ctx, "platform", json_string(platform));
    if (json_object_size(ctx) > 0)
        json_object_set_new(stmt, "context", ctx);
    else
        json_decref(ctx);
    return LS_OK;
}

static json_t *actor(const ls_xapi_map_conf_t *conf, const json_t *ev, const char *student)
{
    const char *tenant = str_field(ev, "tenant");
    char *home = conf->actor_by_tenant && tenant
                     ? iri(conf->actor_base, "tenants", tenant, NULL, NULL)
                     : iri(conf->actor_base, "connections",
                           json_string_value(json_object_get(ev, "connection_id")), NULL, NULL);
    if (!home)
        return NULL;
    json_t *a = json_pack("{s:s,s:{s:s,s:s}}", "objectType", "Agent", "account", "homePage", home, "name", student);
    free(home);
    return a;
}

static const char *timestamp(const type_rule_t *r, const json_t *ev, const json_t *after)
{
    for (int i = 0; i < 3 && r->instants[i]; i++) {
        const char *t = str_field(after, r->instants[i]);
        if (t)
            return t;
    }
    return str_field(json_object_get(ev, "observed"), "at");
}

/* `changed` lists assigned_grade and the new grade makes a score. */
static int numeric_grade_changed(const json_t *ev, const json_t *after)
{
    const json_t *changed = json_object_get(ev, "changed");
    size_t i;
    const json_t *f;
    int in = 0;
    json_array_foreach(changed, i, f) in |= json_is_string(f) && strcmp(json_string_value(f), "assigned_grade") == 0;
    const char *grade = str_field(after, "assigned_grade");
    json_t *sc = in && grade ? score(grade) : NULL;
    int numeric = sc != NULL;
    json_decref(sc);
    return numeric;
}

/* The envelope's shape (docs/events.md 4.1) as far as the mapping reads it. */
static const type_rule_t *check_event(const json_t *ev, const char *ce_id, char *why, size_t whysz)
{
    if (!json_is_object(ev)) {
        snprintf(why, whysz, "value is not a JSON object");
        return NULL;
    }
    if (!ce_id || !is_ce_id(ce_id)) {
        snprintf(why, whysz, "header ce_id is missing or not 32 lower-case hex digits");
        return NULL;
    }
    const char *type = json_string_value(json_object_get(ev, "type"));
    const type_rule_t *r = type ? find_rule(type) : NULL;
    if (!r) {
        snprintf(why, whysz, "field 'type' is missing or unknown");
        return NULL;
    }
    static const char *const need[] = {"connection_id", "activity_id"};
    for (size_t i = 0; i < 2; i++)
        if (!str_field(ev, need[i])) {
            snprintf(why, whysz, "field '%s' is missing or not a non-empty string", need[i]);
            return NULL;
        }
    if (!str_field(json_object_get(ev, "observed"), "at")) {
        snprintf(why, whysz, "field 'observed.at' is missing or not a string");
        return NULL;
    }
    if (r->verb && !json_is_object(json_object_get(ev, "after"))) {
        snprintf(why, whysz, "field 'after' of a '%s' event is not an object", type);
        return NULL;
    }
    return r;
}

ls_xapi_outcome_t ls_xapi_map(const ls_xapi_map_conf_t *conf, const char *ce_id, const json_t *ev,
                              json_t **out, char *why, size_t whysz)
{
    *out = NULL;
    const type_rule_t *r = check_event(ev, ce_id, why, whysz);
    if (!r)
        return LS_XAPI_UNDECODABLE;
    const json_t *after = json_object_get(ev, "after");
    if (r->grade_only && !numeric_grade_changed(ev, after)) {
        snprintf(why, whysz, "'%s' event without a new numeric grade makes no statement", r->type);
        return r->outcome;
    }
    if (!r->verb) {
        snprintf(why, whysz, "'%s' events make no statement", r->type);
        return r->outcome;
    }
    const char *student = str_field(after, "student_id");
    if (!student) {
        snprintf(why, whysz, "after.student_id is absent, null or empty: no actor");
        return LS_XAPI_SKIP_NO_STUDENT;
    }
    char id[LS_XAPI_UUID_LEN + 1], verb[128];
    ls_xapi_statement_id(ce_id, id);
    snprintf(verb, sizeof(verb), VERB_BASE "%s", r->verb);
    json_t *stmt = json_pack("{s:s,s:o*,s:{s:s,s:{s:s}},s:s}", "id", id, "actor", actor(conf, ev, student),
                             "verb", "id", verb, "display", "en-US", r->verb, "timestamp", timestamp(r, ev, after));
    if (!stmt || !json_object_get(stmt, "actor")) {
        json_decref(stmt);
        snprintf(why, whysz, "out of memory");
        return LS_XAPI_UNDECODABLE;
    }
    json_t *res = result(r, after);
    if (res)
        json_object_set_new(stmt, "result", res);
    if (object_and_context(conf, ev, after, stmt) != LS_OK) {
        json_decref(stmt);
        snprintf(why, whysz, "out of memory");
        return LS_XAPI_UNDECODABLE;
    }
    *out = stmt;
    return LS_XAPI_MAPPED;
}
