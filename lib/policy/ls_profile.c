/*
 * ls_profile.c - capability profiles and the polling strategy (see ls_profile.h).
 *
 * Design rule: a capability lmsync cannot see documented is treated as not
 * supported. Sending an unsupported filter to Unified can mean a 400 or,
 * worse, a silently ignored filter whose results lmsync would then trust
 * (an ignored updated_gte looks like "nothing else changed"; an ignored
 * course_id makes every course job see the whole connection). Sending less
 * only costs bandwidth.
 */
#include "ls_profile.h"
#include "ls_activity.h"
#include "ls_err.h"
#include "ls_log.h"

#include <stdlib.h>
#include <string.h>

typedef struct shipped_obj {
    int present;
    const char *methods, *options, *required, *fields;
    int fields_truncated;
    const char *webhooks, *evidence;
} shipped_obj_t;

typedef struct shipped {
    const char *type, *name;
    shipped_obj_t obj[LS_OBJ__COUNT];
} shipped_t;

static const shipped_t shipped_table[] = {
#include "ls_profile_table.inc"
};
#define N_SHIPPED (sizeof(shipped_table) / sizeof(shipped_table[0]))

static const char *const obj_names[LS_OBJ__COUNT] = {"activity", "course", "content", "collection"};
static const char *const opt_names[LS_OPT__COUNT] = {
    "limit", "offset", "updated_gte", "course_id", "student_id", "content_id", "class_id",
    "collection_id", "parent_id", "company_id", "sort_by_updated_at", "sort_by_created_at", "order", "query"};
static const char *const cap_names[] = {"unknown", "not-supported", "supported", "supported-required"};

const char *ls_profile_obj_name(ls_obj_t o) { return o < LS_OBJ__COUNT ? obj_names[o] : "?"; }
const char *ls_profile_opt_name(ls_opt_t o) { return o < LS_OPT__COUNT ? opt_names[o] : "?"; }
const char *ls_profile_cap_name(ls_cap_t c) { return c <= LS_CAP_REQUIRED ? cap_names[c] : "?"; }

/* A capability by its Unified name; LS_CAP_UNKNOWN for any other text. */
static ls_cap_t cap_by_name(const char *name)
{
    for (int c = LS_CAP_NO; c <= LS_CAP_REQUIRED; c++)
        if (strcmp(name, cap_names[c]) == 0)
            return (ls_cap_t)c;
    return LS_CAP_UNKNOWN;
}

const char *ls_profile_source_name(ls_psrc_t s)
{
    return s == LS_PSRC_UNIFIED ? "unified" : s == LS_PSRC_SHIPPED ? "shipped table" : "none (conservative)";
}

size_t ls_profile_shipped_count(void) { return N_SHIPPED; }
const char *ls_profile_shipped_type(size_t i) { return i < N_SHIPPED ? shipped_table[i].type : NULL; }

/* True when name is an element of the comma list. */
static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int opt_by_name(const char *name)
{
    for (int i = 0; i < LS_OPT__COUNT; i++)
        if (strcmp(opt_names[i], name) == 0)
            return i;
    return -1;
}

static void conservative(const char *type, ls_profile_t *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->type, sizeof(out->type), "%s", type ? type : "");
    out->source = LS_PSRC_CONSERVATIVE;
}

static void shipped_obj(const shipped_obj_t *s, ls_obj_profile_t *o)
{
    memset(o, 0, sizeof(*o));
    if (!s->present)
        return;
    o->known = 1;
    if (s->methods) { /* the methods column lists what exists */
        o->list = in_list(s->methods, "list") ? LS_CAP_YES : LS_CAP_NO;
        o->get = in_list(s->methods, "get") ? LS_CAP_YES : LS_CAP_NO;
    }
    if (s->options) /* "List options" lists every supported option */
        for (int i = 0; i < LS_OPT__COUNT; i++)
            o->opt[i] = in_list(s->options, opt_names[i]) ? LS_CAP_YES : LS_CAP_NO;
    if (s->required)
        for (int i = 0; i < LS_OPT__COUNT; i++)
            if (in_list(s->required, opt_names[i]))
                o->opt[i] = LS_CAP_REQUIRED;
    if (s->fields) {
        o->fields_known = s->fields_truncated ? LS_FIELDS_PREFIX : LS_FIELDS_EXACT;
        snprintf(o->fields, sizeof(o->fields), "%s", s->fields);
    }
    if (s->webhooks && strcmp(s->webhooks, "unknown") != 0) {
        o->webhooks_known = 1;
        o->webhooks = (strstr(s->webhooks, "virtual") ? LS_WH_VIRTUAL : 0u) |
                      (strstr(s->webhooks, "native") ? LS_WH_NATIVE : 0u);
    }
}

int ls_profile_shipped(const char *type, ls_profile_t *out)
{
    conservative(type, out);
    for (size_t i = 0; type && i < N_SHIPPED; i++) {
        if (strcmp(shipped_table[i].type, type) != 0)
            continue;
        out->source = LS_PSRC_SHIPPED;
        snprintf(out->name, sizeof(out->name), "%s", shipped_table[i].name ? shipped_table[i].name : "");
        for (int o = 0; o < LS_OBJ__COUNT; o++)
            shipped_obj(&shipped_table[i].obj[o], &out->obj[o]);
        return LS_OK;
    }
    return LS_ENOTFOUND;
}

/* ---- Unified's Integration.support ---- */

static int parse_cap(const json_t *v, ls_cap_t *out)
{
    const char *s = json_string_value(v);
    if (!s)
        return LS_EINVAL;
    *out = cap_by_name(s); /* x-speakeasy-unknown-values: allow; unknown is never read as supported */
    return LS_OK;
}

/* methods: {"list_lms_activity":true,...} (also accepts the short "list"/"get"). */
static int parse_methods(const json_t *m, const char *obj, ls_obj_profile_t *o, char *err, size_t errsz)
{
    const char *k;
    json_t *v;
    char lk[64], gk[64];
    if (!json_is_object(m)) {
        snprintf(err, errsz, "support.lms_%s.methods is not an object", obj);
        return LS_EINVAL;
    }
    snprintf(lk, sizeof(lk), "list_lms_%s", obj);
    snprintf(gk, sizeof(gk), "get_lms_%s", obj);
    o->list = o->get = LS_CAP_NO;
    json_object_foreach((json_t *)m, k, v) {
        if (!json_is_boolean(v)) {
            snprintf(err, errsz, "support.lms_%s.methods.%s is not a boolean", obj, k);
            return LS_EINVAL;
        }
        if (strcmp(k, lk) == 0 || strcmp(k, "list") == 0)
            o->list = json_is_true(v) ? LS_CAP_YES : LS_CAP_NO;
        else if (strcmp(k, gk) == 0 || strcmp(k, "get") == 0)
            o->get = json_is_true(v) ? LS_CAP_YES : LS_CAP_NO;
    }
    return LS_OK;
}

static int parse_fields(const json_t *f, const char *obj, ls_obj_profile_t *o, char *err, size_t errsz)
{
    const char *k;
    json_t *v;
    size_t n = 0;
    if (!json_is_object(f)) {
        snprintf(err, errsz, "support.lms_%s.inbound_fields is not an object", obj);
        return LS_EINVAL;
    }
    o->fields[0] = '\0';
    json_object_foreach((json_t *)f, k, v) {
        if (json_is_string(v) && cap_by_name(json_string_value(v)) == LS_CAP_NO)
            continue;
        int w = snprintf(o->fields + n, sizeof(o->fields) - n, "%s%s", n ? "," : "", k);
        if (w < 0 || (size_t)w >= sizeof(o->fields) - n) {
            snprintf(err, errsz, "support.lms_%s.inbound_fields is too long", obj);
            return LS_EINVAL;
        }
        n += (size_t)w;
    }
    o->fields_known = LS_FIELDS_EXACT;
    return LS_OK;
}

static int parse_webhooks(const json_t *w, ls_obj_profile_t *o)
{
    const char *k;
    json_t *arr, *v;
    size_t i;
    if (!json_is_object(w))
        return LS_EINVAL;
    o->webhooks_known = 1;
    o->webhooks = 0;
    json_object_foreach((json_t *)w, k, arr) {
        if (!json_is_array(arr))
            return LS_EINVAL;
        json_array_foreach(arr, i, v) {
            const char *s = json_string_value(v);
            if (s && strcmp(s, "virtual") == 0)
                o->webhooks |= LS_WH_VIRTUAL;
            else if (s && strcmp(s, "native") == 0)
                o->webhooks |= LS_WH_NATIVE;
        }
    }
    return LS_OK;
}

static int parse_support(const json_t *s, const char *obj, ls_obj_profile_t *o, char *err, size_t errsz)
{
    char key[64];
    memset(o, 0, sizeof(*o));
    if (!json_is_object(s)) {
        snprintf(err, errsz, "support.lms_%s is not an object", obj);
        return LS_EINVAL;
    }
    o->known = 1;
    json_t *m = json_object_get(s, "methods");
    if (m && parse_methods(m, obj, o, err, errsz) != LS_OK)
        return LS_EINVAL;
    for (int i = 0; i < LS_OPT__COUNT; i++) {
        snprintf(key, sizeof(key), "list_%s", opt_names[i]);
        json_t *v = json_object_get(s, key);
        if (!v) { /* absent from a runtime answer: not offered */
            o->opt[i] = LS_CAP_NO;
        } else if (parse_cap(v, &o->opt[i]) != LS_OK) {
            snprintf(err, errsz, "support.lms_%s.%s is not a string", obj, key);
            return LS_EINVAL;
        }
    }
    json_t *f = json_object_get(s, "inbound_fields");
    if (f && parse_fields(f, obj, o, err, errsz) != LS_OK)
        return LS_EINVAL;
    json_t *w = json_object_get(s, "webhook_events");
    if (w && parse_webhooks(w, o) != LS_OK) {
        snprintf(err, errsz, "support.lms_%s.webhook_events is malformed", obj);
        return LS_EINVAL;
    }
    if (!w) { /* a runtime answer without webhook_events: none */
        o->webhooks_known = 1;
        o->webhooks = 0;
    }
    return LS_OK;
}

int ls_profile_from_integration(const json_t *in, ls_profile_t *out, char *err, size_t errsz)
{
    char key[64];
    const char *type = json_string_value(json_object_get(in, "type"));
    conservative(NULL, out);
    if (!json_is_object(in) || !type || !type[0] || strlen(type) >= sizeof(out->type)) {
        snprintf(err, errsz, "integration without a usable 'type'");
        return LS_EINVAL;
    }
    snprintf(out->type, sizeof(out->type), "%s", type);
    const char *name = json_string_value(json_object_get(in, "name"));
    snprintf(out->name, sizeof(out->name), "%s", name ? name : "");
    json_t *sup = json_object_get(in, "support");
    if (!json_is_object(sup)) {
        snprintf(err, errsz, "integration \"%s\": 'support' is missing or not an object", type);
        return LS_EINVAL;
    }
    for (int o = 0; o < LS_OBJ__COUNT; o++) {
        snprintf(key, sizeof(key), "lms_%s", obj_names[o]);
        json_t *s = json_object_get(sup, key);
        char why[200];
        if (s && parse_support(s, obj_names[o], &out->obj[o], why, sizeof(why)) != LS_OK) {
            snprintf(err, errsz, "integration \"%s\": %s", type, why);
            return LS_EINVAL;
        }
    }
    out->source = LS_PSRC_UNIFIED;
    return LS_OK;
}

int ls_profile_parse_integrations(const char *body, size_t len, ls_profile_t **out, size_t *n,
                                  char *err, size_t errsz)
{
    json_error_t je;
    json_t *arr = json_loadb(body, len, 0, &je);
    *out = NULL;
    *n = 0;
    if (!json_is_array(arr)) {
        snprintf(err, errsz, "integration list is not a JSON array%s%s", arr ? "" : ": ", arr ? "" : je.text);
        ls_err_printable(err);
        json_decref(arr);
        return LS_EINVAL;
    }
    size_t i;
    json_t *o;
    *out = calloc(json_array_size(arr) + 1, sizeof(**out));
    if (!*out) {
        json_decref(arr);
        return LS_ENOMEM;
    }
    json_array_foreach(arr, i, o) {
        char why[256];
        if (ls_profile_from_integration(o, &(*out)[*n], why, sizeof(why)) == LS_OK)
            (*n)++;
        else
            ls_warn("integration list entry %zu ignored: %s", i, why);
    }
    json_decref(arr);
    return LS_OK;
}

void ls_profile_resolve(const char *type, const ls_profile_t *runtime, size_t n, const char *why_no_runtime,
                        ls_profile_t *out)
{
    for (size_t i = 0; type && type[0] && i < n; i++) {
        if (strcmp(runtime[i].type, type) == 0 && runtime[i].obj[LS_OBJ_ACTIVITY].known) {
            *out = runtime[i];
            out->note[0] = '\0';
            return;
        }
    }
    const char *why = why_no_runtime && why_no_runtime[0] ? why_no_runtime
                      : "Unified's integration list has no lms_activity support for this type";
    if (ls_profile_shipped(type, out) == LS_OK) {
        snprintf(out->note, sizeof(out->note), "%s; using the shipped table", why);
        ls_warn("profile of \"%s\": %s", type, out->note);
    } else {
        snprintf(out->note, sizeof(out->note), "%s; type not in the shipped table: conservative profile", why);
        ls_warn("profile of \"%s\": %s", type && type[0] ? type : "(no type)", out->note);
    }
}

/* ---- overrides ---- */

/* Apply one "KEY=VALUE" to p (p may be NULL: validation only). */
static int apply_one(ls_profile_t *p, const char *key, const char *val, char *err, size_t errsz)
{
    ls_obj_profile_t *a = p ? &p->obj[LS_OBJ_ACTIVITY] : NULL;
    if (strcmp(key, "get") == 0 || strcmp(key, "list") == 0) {
        if (strcmp(val, "yes") && strcmp(val, "no"))
            goto bad;
        if (a) {
            *(key[0] == 'g' ? &a->get : &a->list) = val[0] == 'y' ? LS_CAP_YES : LS_CAP_NO;
            a->known = 1;
        }
        return LS_OK;
    }
    if (strcmp(key, "fields") == 0) {
        char buf[640];
        if (strlen(val) >= sizeof(buf))
            goto bad;
        snprintf(buf, sizeof(buf), "%s", val);
        for (char *c = buf; *c; c++)
            if (*c == '+')
                *c = ',';
        if (a) {
            snprintf(a->fields, sizeof(a->fields), "%s", buf);
            a->fields_known = LS_FIELDS_EXACT;
            a->known = 1;
        }
        return LS_OK;
    }
    int o = opt_by_name(key);
    ls_cap_t c;
    if (o < 0) {
        snprintf(err, errsz, "setting 'coordinator.profile_overrides': unknown key \"%s\"", key);
        return LS_EINVAL;
    }
    c = strcmp(val, "required") == 0 ? LS_CAP_REQUIRED : cap_by_name(val); /* short alias */
    if (c == LS_CAP_UNKNOWN)
        goto bad;
    if (a) {
        a->opt[o] = c;
        a->known = 1;
    }
    return LS_OK;
bad:
    snprintf(err, errsz, "setting 'coordinator.profile_overrides': bad value \"%s\" for \"%s\"", val, key);
    return LS_EINVAL;
}

static int walk_overrides(ls_profile_t *p, const char *conn, const char *spec, char *err, size_t errsz)
{
    char entry[768];
    for (const char *s = spec; s && *s;) {
        size_t len = strcspn(s, ",");
        if (len >= sizeof(entry)) {
            snprintf(err, errsz, "setting 'coordinator.profile_overrides': entry too long");
            return LS_EINVAL;
        }
        memcpy(entry, s, len);
        entry[len] = '\0';
        s += len + (s[len] == ',');
        if (!entry[0])
            continue;
        char *eq = strchr(entry, '='), *dot = eq ? memchr(entry, '.', (size_t)(eq - entry)) : NULL;
        if (!eq || !dot || dot == entry) {
            snprintf(err, errsz, "setting 'coordinator.profile_overrides': \"%s\" is not TARGET.KEY=VALUE", entry);
            return LS_EINVAL;
        }
        /* the target may itself contain dots: the key is after the last dot before '=' */
        for (char *d = dot; d && d < eq; d = memchr(d + 1, '.', (size_t)(eq - d - 1)))
            dot = d;
        *eq = *dot = '\0';
        int match = p && (strcmp(entry, "*") == 0 || strcmp(entry, p->type) == 0 || (conn && strcmp(entry, conn) == 0));
        if (apply_one(match ? p : NULL, dot + 1, eq + 1, err, errsz) != LS_OK)
            return LS_EINVAL;
        if (match) {
            size_t n = strlen(p->overrides);
            snprintf(p->overrides + n, sizeof(p->overrides) - n, "%s%s=%s", n ? ", " : "", dot + 1, eq + 1);
        }
    }
    return LS_OK;
}

int ls_profile_check_overrides(const char *spec, char *err, size_t errsz)
{
    return walk_overrides(NULL, NULL, spec, err, errsz);
}

int ls_profile_apply_overrides(ls_profile_t *p, const char *connection_id, const char *spec, char *err,
                               size_t errsz)
{
    if (ls_profile_check_overrides(spec, err, errsz) != LS_OK)
        return LS_EINVAL;
    return walk_overrides(p, connection_id, spec, err, errsz);
}

/* ---- strategy ---- */

static int supported(ls_cap_t c) { return c == LS_CAP_YES || c == LS_CAP_REQUIRED; }

static void choose_fields(const ls_obj_profile_t *a, ls_strategy_t *s)
{
    size_t n = (size_t)snprintf(s->fields, sizeof(s->fields), "id");
    int kept = 0, dropped = 0;
    for (int f = 0; f < LS_F__COUNT; f++) {
        const char *name = ls_field_name((ls_field_t)f);
        if (a->fields_known == LS_FIELDS_EXACT && !in_list(a->fields, name)) {
            dropped++;
            continue;
        }
        kept++;
        n += (size_t)snprintf(s->fields + n, sizeof(s->fields) - n, ",%s", name);
    }
    if (a->fields_known == LS_FIELDS_EXACT)
        snprintf(s->why[LS_WHY_FIELDS], sizeof(s->why[0]),
                 "the readable fields are known: request id and the %d tracked fields among them (%d tracked fields are not readable and stay absent)", kept, dropped);
    else
        snprintf(s->why[LS_WHY_FIELDS], sizeof(s->why[0]),
                 "readable fields %s: request id and every tracked field; unreadable ones are simply absent",
                 a->fields_known == LS_FIELDS_PREFIX ? "known only in part (docs cut)" : "unknown");
}

static void choose_mode(const ls_obj_profile_t *a, const ls_strategy_cfg_t *sc, ls_strategy_t *s)
{
    int gte = supported(a->opt[LS_OPT_UPDATED_GTE]);
    int upd = a->fields_known != LS_FIELDS_UNKNOWN && in_list(a->fields, "updated_at");
    s->incremental = gte && upd;
    s->gte = a->opt[LS_OPT_UPDATED_GTE] == LS_CAP_REQUIRED ? LS_GTE_REQUIRED
             : s->incremental ? LS_GTE_SUPPORTED : LS_GTE_NONE;
    if (s->incremental)
        snprintf(s->why[LS_WHY_MODE], sizeof(s->why[0]),
                 "incremental: updated_gte is %s and updated_at is readable; watermark = job start - %d s overlap, stored after delivery",
                 ls_profile_cap_name(a->opt[LS_OPT_UPDATED_GTE]), sc->overlap_s);
    else
        snprintf(s->why[LS_WHY_MODE], sizeof(s->why[0]), "full scans only: %s",
                 !gte ? (a->opt[LS_OPT_UPDATED_GTE] == LS_CAP_NO ? "updated_gte is not supported"
                                                                  : "updated_gte support is not known")
                      : "updated_at is not a readable field, so no watermark can be trusted");
    if (s->incremental)
        snprintf(s->why[LS_WHY_FULL], sizeof(s->why[0]),
                 "full reconciliation every %d jobs of a scope and at least every %d s (removals need complete full scans)",
                 sc->full_every, sc->full_max_age_s);
    else
        snprintf(s->why[LS_WHY_FULL], sizeof(s->why[0]), "every job is a full scan");
}

static void choose_list_params(const ls_obj_profile_t *a, ls_strategy_t *s)
{
    s->paged = a->opt[LS_OPT_LIMIT] != LS_CAP_NO && a->opt[LS_OPT_OFFSET] != LS_CAP_NO;
    snprintf(s->why[LS_WHY_PAGING], sizeof(s->why[0]), "%s",
             s->paged ? (supported(a->opt[LS_OPT_LIMIT]) && supported(a->opt[LS_OPT_OFFSET])
                             ? "limit/offset pages (supported)"
                             : "limit/offset pages (Unified's default paging; support not listed)")
                      : "one request, no limit/offset: the provider does not page this list");
    s->sort[0] = '\0';
    if (supported(a->opt[LS_OPT_SORT_CREATED_AT])) {
        snprintf(s->sort, sizeof(s->sort), "created_at");
        s->order_asc = supported(a->opt[LS_OPT_ORDER]);
        snprintf(s->why[LS_WHY_SORT], sizeof(s->why[0]),
                 "sort=created_at%s: creation order does not move when records are updated, so offset pages skip nothing under updates",
                 s->order_asc ? "&order=asc" : "");
    } else {
        snprintf(s->why[LS_WHY_SORT], sizeof(s->why[0]), "no sort: %s; the provider's order is used",
                 supported(a->opt[LS_OPT_SORT_UPDATED_AT])
                     ? "only updated_at is sortable, and updated_at order moves updated records to the end, which makes offset pages skip records"
                     : "sort by created_at is not supported");
    }
}

static void choose_fanout(const ls_profile_t *p, const ls_strategy_cfg_t *sc, long known, ls_strategy_t *s)
{
    const ls_obj_profile_t *a = &p->obj[LS_OBJ_ACTIVITY], *c = &p->obj[LS_OBJ_COURSE];
    int creq = a->opt[LS_OPT_COURSE_ID] == LS_CAP_REQUIRED;
    int big = sc->fanout_records > 0 && known > sc->fanout_records && supported(a->opt[LS_OPT_COURSE_ID]);
    s->fanout = creq || big;
    s->course_paged = c->opt[LS_OPT_LIMIT] != LS_CAP_NO && c->opt[LS_OPT_OFFSET] != LS_CAP_NO;
    if (creq)
        snprintf(s->why[LS_WHY_FANOUT], sizeof(s->why[0]),
                 "per course: course_id is required on the activity list; courses from GET /lms/{conn}/course%s",
                 c->list == LS_CAP_NO ? " (listed as unsupported: tried anyway, nothing else can work)" : "");
    else if (big)
        snprintf(s->why[LS_WHY_FANOUT], sizeof(s->why[0]),
                 "per course: the last full scan saw %ld records, more than coordinator.fanout_records (%ld)", known,
                 sc->fanout_records);
    else
        snprintf(s->why[LS_WHY_FANOUT], sizeof(s->why[0]), "one job for the whole connection: %s",
                 !supported(a->opt[LS_OPT_COURSE_ID]) ? "course_id is not a supported filter"
                 : sc->fanout_records <= 0 ? "fan-out by size is off (coordinator.fanout_records = 0)"
                 : known < 0 ? "size not known yet"
                             : "below coordinator.fanout_records");
    s->why[LS_WHY_FILTERS][0] = '\0';
    snprintf(s->why[LS_WHY_FILTERS], sizeof(s->why[0]), "%s%s",
             s->fanout ? "course_id per course job" : "none",
             s->gte == LS_GTE_REQUIRED ? "; updated_gte on every request (required; full scans send 1970-01-01T00:00:00Z)"
             : s->gte == LS_GTE_SUPPORTED ? "; updated_gte on incremental jobs" : "");
}

static void choose_removals(const ls_profile_t *p, ls_strategy_t *s)
{
    s->get = p->obj[LS_OBJ_ACTIVITY].get == LS_CAP_YES;
    if (s->get)
        snprintf(s->why[LS_WHY_REMOVALS], sizeof(s->why[0]),
                 "after two consecutive complete full scans of the scope missed it, confirmed by GET /lms/{conn}/activity/{id}: 404 removes, 200 updates instead%s",
                 s->fanout ? " (so a record that moved to another course is never removed)" : "");
    else if (s->fanout)
        snprintf(s->why[LS_WHY_REMOVALS], sizeof(s->why[0]),
                 "held: per-course scans cannot tell a removal from a move to another course and no per-record get is known, so missed records are marked but never removed automatically");
    else
        snprintf(s->why[LS_WHY_REMOVALS], sizeof(s->why[0]),
                 "after two consecutive complete full scans of the connection missed it (no per-record get known)");
}

void ls_profile_strategy(const ls_profile_t *p, const ls_strategy_cfg_t *sc, long known_records, ls_strategy_t *s)
{
    const ls_obj_profile_t *a = &p->obj[LS_OBJ_ACTIVITY];
    memset(s, 0, sizeof(*s));
    s->poll = a->list != LS_CAP_NO && a->opt[LS_OPT_STUDENT_ID] != LS_CAP_REQUIRED &&
              a->opt[LS_OPT_CONTENT_ID] != LS_CAP_REQUIRED;
    snprintf(s->why[LS_WHY_POLL], sizeof(s->why[0]), "%s",
             a->list == LS_CAP_NO ? "not polled: the activity list method is not supported"
             : !s->poll ? "not polled: student_id/content_id is required on the activity list (fan-out by student is not built)"
             : a->list == LS_CAP_YES ? "polled: the activity list is supported"
                                     : "polled: list support not confirmed, tried (conservative strategy)");
    choose_fields(a, s);
    choose_mode(a, sc, s);
    choose_list_params(a, s);
    choose_fanout(p, sc, known_records, s);
    choose_removals(p, s);
    const ls_obj_profile_t *w = a;
    snprintf(s->why[LS_WHY_WEBHOOKS], sizeof(s->why[0]), "%s (webhook jobs are not built; polling covers every provider)",
             !w->webhooks_known ? "webhook kinds unknown"
             : w->webhooks == (LS_WH_VIRTUAL | LS_WH_NATIVE) ? "virtual + native webhooks"
             : w->webhooks & LS_WH_VIRTUAL ? "virtual webhooks"
             : w->webhooks & LS_WH_NATIVE ? "native webhooks" : "no webhooks");
}

/* ---- output ---- */

static const char *const why_names[LS_WHY__COUNT] = {"poll", "mode", "reconcile", "fields", "filters",
                                                     "sort", "paging", "fan-out", "removals", "webhooks"};

static void explain_obj(FILE *f, const ls_obj_profile_t *o, ls_obj_t which)
{
    fprintf(f, "  %s:", obj_names[which]);
    if (!o->known) {
        fprintf(f, " not known\n");
        return;
    }
    fprintf(f, " list=%s get=%s\n", ls_profile_cap_name(o->list), ls_profile_cap_name(o->get));
    fprintf(f, "    list options:");
    int any = 0;
    for (int i = 0; i < LS_OPT__COUNT; i++)
        if (supported(o->opt[i])) {
            fprintf(f, " %s%s", opt_names[i], o->opt[i] == LS_CAP_REQUIRED ? "(required)" : "");
            any = 1;
        }
    fprintf(f, "%s\n", any ? "" : " none known");
    fprintf(f, "    readable fields: %s%s\n",
            o->fields_known == LS_FIELDS_UNKNOWN ? "unknown" : o->fields,
            o->fields_known == LS_FIELDS_PREFIX ? " ... (docs cut)" : "");
    fprintf(f, "    webhooks: %s\n", !o->webhooks_known ? "unknown"
            : o->webhooks == 3u ? "virtual, native" : o->webhooks == 1u ? "virtual"
            : o->webhooks == 2u ? "native" : "none");
}

void ls_profile_explain(FILE *f, const char *conn, const ls_profile_t *p, const ls_strategy_t *s)
{
    fprintf(f, "connection %s\n", conn);
    fprintf(f, "integration_type: %s%s%s%s\n", p->type[0] ? p->type : "(none)", p->name[0] ? " (" : "",
            p->name, p->name[0] ? ")" : "");
    fprintf(f, "profile source: %s%s%s\n", ls_profile_source_name(p->source), p->note[0] ? " - " : "", p->note);
    fprintf(f, "overrides: %s\n", p->overrides[0] ? p->overrides : "none");
    fprintf(f, "profile:\n");
    for (int o = 0; o < LS_OBJ__COUNT; o++)
        explain_obj(f, &p->obj[o], (ls_obj_t)o);
    fprintf(f, "strategy:\n");
    fprintf(f, "  request: fields=%s%s%s%s%s\n", s->fields, s->sort[0] ? " sort=" : "", s->sort,
            s->order_asc ? " order=asc" : "", s->paged ? " limit/offset" : "");
    for (int i = 0; i < LS_WHY__COUNT; i++)
        fprintf(f, "  %-10s %s\n", why_names[i], s->why[i]);
}

/* A capability in the providers.md table: "?" unless the object is known. */
static const char *md_c(const ls_obj_profile_t *o, ls_cap_t c)
{
    static const char *const md_names[] = {"?", "no", "yes", "required"}; /* by ls_cap_t */
    return o->known && c <= LS_CAP_REQUIRED ? md_names[c] : "?";
}

static const char *md_cap(const ls_obj_profile_t *o, ls_opt_t i) { return md_c(o, o->opt[i]); }

void ls_profile_providers_md(FILE *f, const ls_strategy_cfg_t *scp)
{
    ls_strategy_cfg_t sc = *scp;
    fprintf(f, "# Providers: what lmsync does for each, and why\n\n"
               "<!-- GENERATED by `lmsync-coordinator --providers-md` from the shipped table\n"
               "     (lib/policy/ls_profile_table.inc, generated from lib/policy/lms-providers.json).\n"
               "     Do not edit; ctest docs.providers_md fails when this file drifts. -->\n\n"
               "This is the strategy lmsync chooses from the **shipped table** alone, i.e.\n"
               "when Unified's `GET /unified/integration` does not answer for a type. At run\n"
               "time the coordinator uses Unified's answer first, then this table, then\n"
               "`coordinator.profile_overrides`; `lmsync-coordinator --explain CONNECTION`\n"
               "prints the profile and strategy actually in force, with the reasons.\n\n"
               "Rules: a capability the documentation does not show is treated as not\n"
               "supported. Incremental polling needs `updated_gte` support *and* a readable\n"
               "`updated_at`. Fan-out per course happens where `course_id` is required on the\n"
               "activity list, or by size (`coordinator.fanout_records`). An integration type\n"
               "that is in neither source gets the conservative strategy: full scans, no\n"
               "filters, no sort, removals only after two complete scans.\n\n"
               "Legend: `?` = not visible in the stored docs (treated as not supported).\n\n"
               "| type | name | activity list/get | updated_gte | course_id | readable fields | mode | fan-out | removals |\n"
               "|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < N_SHIPPED; i++) {
        ls_profile_t p;
        ls_strategy_t s;
        ls_profile_shipped(shipped_table[i].type, &p);
        ls_profile_strategy(&p, &sc, -1, &s);
        const ls_obj_profile_t *a = &p.obj[LS_OBJ_ACTIVITY];
        fprintf(f, "| %s | %s | %s/%s | %s | %s | %s%s | %s | %s | %s |\n", p.type, p.name,
                md_c(a, a->list), md_c(a, a->get),
                md_cap(a, LS_OPT_UPDATED_GTE), md_cap(a, LS_OPT_COURSE_ID),
                a->fields_known == LS_FIELDS_UNKNOWN ? "?" : a->fields,
                a->fields_known == LS_FIELDS_PREFIX ? " ..." : "",
                !s.poll ? "not polled" : s.incremental ? "incremental + full" : "full",
                s.fanout ? "per course" : "no", s.get ? "2 scans + get 404" : s.fanout ? "held" : "2 scans");
    }
    ls_profile_t c;
    ls_strategy_t s;
    ls_profile_shipped("(unknown)", &c);
    fprintf(f, "\n## Reasons, per provider\n\n");
    for (size_t i = 0; i <= N_SHIPPED; i++) {
        ls_profile_t p;
        if (i < N_SHIPPED) {
            ls_profile_shipped(shipped_table[i].type, &p);
            ls_profile_strategy(&p, &sc, -1, &s);
            fprintf(f, "### %s (%s)\n\n", p.type, p.name);
        } else {
            ls_profile_strategy(&c, &sc, -1, &s);
            fprintf(f, "### any other integration type (conservative)\n\n");
        }
        for (int w = 0; w < LS_WHY__COUNT; w++)
            fprintf(f, "- %s: %s\n", why_names[w], s.why[w]);
        fprintf(f, "\n");
    }
}
