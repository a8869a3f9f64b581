/*
 * sb_profile.c - the provider profile table.
 *
 * Facts come from reference/lms-providers.json and the Unified docs:
 * progress_percentage only from coursera, go1 and learnupon; duration_minutes
 * from coursera, d2l and successfactors_lms; assigned_grade from d2l and
 * moodle; updated_gte only on successfactors_lms; learnupon and udemy track
 * at course level (no content_id; udemy's vendor object is
 * user_course_activity), docebo has no content_id; moodle has no updated_at.
 * Where the docs are silent (sorts, which id filters) the choices below are
 * deliberate variety for tests, not claims about the vendors.
 */
#include "sb_profile.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Every provider has these. */
#define SB_BASE_FIELDS (SB_FBIT(SB_F_ID) | SB_FBIT(SB_F_CREATED_AT) | SB_FBIT(SB_F_COURSE_ID) | \
                        SB_FBIT(SB_F_STUDENT_ID) | SB_FBIT(SB_F_IS_COMPLETED) | \
                        SB_FBIT(SB_F_STARTED_AT) | SB_FBIT(SB_F_COMPLETED_AT))
#define UPD SB_FBIT(SB_F_UPDATED_AT)
#define CNT SB_FBIT(SB_F_CONTENT_ID)
#define PRG SB_FBIT(SB_F_PROGRESS)
#define DUR SB_FBIT(SB_F_DURATION)
#define GRD SB_FBIT(SB_F_ASSIGNED_GRADE)

#define S SB_SUPPORTED
#define N SB_NOT_SUPPORTED
#define R SB_SUPPORTED_REQUIRED

/* opt order: limit, offset, updated_gte, course_id, student_id, content_id, sort_updated_at, sort_created_at */
static const sb_profile_t sb_profiles[] = {
    { "coursera", "Coursera", "enrollment_progress",
      SB_BASE_FIELDS | UPD | CNT | PRG | DUR,
      { S, S, N, S, S, N, N, N }, SB_TS_Z, 0, false },
    { "go1", "Go1", "enrollment",
      SB_BASE_FIELDS | UPD | CNT | PRG,
      { S, S, N, S, S, S, N, S }, SB_TS_MILLIS_Z, 0, false },
    { "learnupon", "LearnUpon", "enrollment",
      SB_BASE_FIELDS | UPD | PRG,
      { S, S, N, S, S, N, N, N }, SB_TS_Z, 0, false },
    { "d2l", "D2L Brightspace", "userprogress",
      SB_BASE_FIELDS | UPD | CNT | DUR | GRD,
      { S, S, N, S, S, S, N, N }, SB_TS_OFFSET, 0, false },
    { "successfactors_lms", "SAP SuccessFactors (LMS)", "learninghistory",
      SB_BASE_FIELDS | UPD | CNT | DUR,
      { S, S, S, S, S, N, S, S }, SB_TS_Z, SB_WH_VIRTUAL | SB_WH_NATIVE, false }, /* the sandbox sends it NATIVE deliveries */
    { "udemy", "Udemy Business", "user_course_activity",
      SB_BASE_FIELDS | UPD,
      { S, S, N, S, S, N, N, N }, SB_TS_Z, SB_WH_VIRTUAL, false },
    { "docebo", "Docebo", "enrollment",
      SB_BASE_FIELDS | UPD,
      { S, S, N, S, S, N, S, N }, SB_TS_Z, SB_WH_VIRTUAL | SB_WH_NATIVE, false },
    { "moodle", "Moodle", "activity_completion",
      SB_BASE_FIELDS | CNT | GRD,
      { S, S, N, S, S, S, N, N }, SB_TS_Z, 0, false },
    /* Test-only (not a vendor): the activity list requires course_id, so
     * per-course fan-out can be exercised. Never in the default --providers. */
    { "sandbox_course_required", "Sandbox (course_id required)", "enrollment",
      SB_BASE_FIELDS | UPD | PRG,
      { S, S, N, R, S, N, N, N }, SB_TS_Z, 0, true },
};

#undef S
#undef N
#undef R

static const struct {
    const char *name;
    sb_field_kind_t kind;
} sb_fields[SB_F__COUNT] = {
    [SB_F_ID] = { "id", SB_KIND_STRING },
    [SB_F_CREATED_AT] = { "created_at", SB_KIND_TIME },
    [SB_F_UPDATED_AT] = { "updated_at", SB_KIND_TIME },
    [SB_F_COURSE_ID] = { "course_id", SB_KIND_STRING },
    [SB_F_STUDENT_ID] = { "student_id", SB_KIND_STRING },
    [SB_F_CONTENT_ID] = { "content_id", SB_KIND_STRING },
    [SB_F_IS_COMPLETED] = { "is_completed", SB_KIND_BOOL },
    [SB_F_PROGRESS] = { "progress_percentage", SB_KIND_NUMBER },
    [SB_F_DURATION] = { "duration_minutes", SB_KIND_NUMBER },
    [SB_F_ASSIGNED_GRADE] = { "assigned_grade", SB_KIND_STRING },
    [SB_F_STARTED_AT] = { "started_at", SB_KIND_TIME },
    [SB_F_COMPLETED_AT] = { "completed_at", SB_KIND_TIME },
};

static const char *const sb_opt_names[SB_OPT__COUNT] = {
    [SB_OPT_LIMIT] = "list_limit",
    [SB_OPT_OFFSET] = "list_offset",
    [SB_OPT_UPDATED_GTE] = "list_updated_gte",
    [SB_OPT_COURSE_ID] = "list_course_id",
    [SB_OPT_STUDENT_ID] = "list_student_id",
    [SB_OPT_CONTENT_ID] = "list_content_id",
    [SB_OPT_SORT_UPDATED_AT] = "list_sort_by_updated_at",
    [SB_OPT_SORT_CREATED_AT] = "list_sort_by_created_at",
};

size_t sb_profile_count(void)
{
    return sizeof(sb_profiles) / sizeof(sb_profiles[0]);
}

const sb_profile_t *sb_profile_at(size_t i)
{
    return i < sb_profile_count() ? &sb_profiles[i] : NULL;
}

const sb_profile_t *sb_profile_find(const char *type)
{
    for (size_t i = 0; type && i < sb_profile_count(); i++)
        if (strcmp(sb_profiles[i].type, type) == 0)
            return &sb_profiles[i];
    return NULL;
}

bool sb_profile_has(const sb_profile_t *p, sb_field_t f)
{
    return (unsigned)f < SB_F__COUNT && (p->fields & SB_FBIT(f)) != 0;
}

const char *sb_field_name(sb_field_t f)
{
    return (unsigned)f < SB_F__COUNT ? sb_fields[f].name : NULL;
}

sb_field_t sb_field_from_name(const char *name)
{
    for (unsigned f = 0; name && f < SB_F__COUNT; f++)
        if (strcmp(sb_fields[f].name, name) == 0)
            return (sb_field_t)f;
    return SB_F__COUNT;
}

sb_field_kind_t sb_field_kind(sb_field_t f)
{
    return (unsigned)f < SB_F__COUNT ? sb_fields[f].kind : SB_KIND_STRING;
}

const char *sb_opt_name(sb_opt_t o)
{
    return (unsigned)o < SB_OPT__COUNT ? sb_opt_names[o] : NULL;
}

const char *sb_support_name(sb_support_t s)
{
    switch (s) {
    case SB_SUPPORTED: return "supported";
    case SB_SUPPORTED_REQUIRED: return "supported-required";
    default: return "not-supported";
    }
}

char *sb_ts_format(sb_ts_style_t style, int64_t ms, char *buf)
{
    int64_t secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, SB_TS_BUFSZ, "1970-01-01T00:00:00Z");
        return buf;
    }
    char base[24];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    char fr[8] = "";
    if (style == SB_TS_MILLIS_Z || frac != 0)
        snprintf(fr, sizeof(fr), ".%03d", (int)frac);
    snprintf(buf, SB_TS_BUFSZ, "%s%s%s", base, fr, style == SB_TS_OFFSET ? "+00:00" : "Z");
    return buf;
}

static json_t *sb_webhook_events_json(unsigned wh)
{
    json_t *ev = json_object();
    static const char *const kinds[] = { "created", "updated", "deleted" };
    for (size_t i = 0; i < 3; i++) {
        json_t *arr = json_array();
        if (wh & SB_WH_VIRTUAL)
            json_array_append_new(arr, json_string("virtual"));
        if (wh & SB_WH_NATIVE)
            json_array_append_new(arr, json_string("native"));
        json_object_set_new(ev, kinds[i], arr);
    }
    return ev;
}

static json_t *sb_activity_support_json(const sb_profile_t *p)
{
    json_t *s = json_object();
    json_object_set_new(s, "methods", json_pack("{s:b,s:b}", "list_lms_activity", 1,
                                                "get_lms_activity", 1));
    for (unsigned o = 0; o < SB_OPT__COUNT; o++)
        json_object_set_new(s, sb_opt_names[o], json_string(sb_support_name(p->opt[o])));
    json_t *in = json_object();
    for (unsigned f = 0; f < SB_F__COUNT; f++)
        if (sb_profile_has(p, (sb_field_t)f))
            json_object_set_new(in, sb_fields[f].name, json_string("supported"));
    json_object_set_new(in, "raw", json_string("supported"));
    json_object_set_new(s, "inbound_fields", in);
    json_object_set_new(s, "raw_objects", json_pack("[s]", p->vendor_object));
    if (p->webhooks)
        json_object_set_new(s, "webhook_events", sb_webhook_events_json(p->webhooks));
    return s;
}

static json_t *sb_course_support_json(void)
{
    json_t *s = json_object();
    json_object_set_new(s, "methods", json_pack("{s:b,s:b}", "list_lms_course", 1,
                                                "get_lms_course", 1));
    json_object_set_new(s, "list_limit", json_string("supported"));
    json_object_set_new(s, "list_offset", json_string("supported"));
    json_t *in = json_object();
    static const char *const names[] = { "id", "name", "is_active", "created_at", "updated_at", "raw" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        json_object_set_new(in, names[i], json_string("supported"));
    json_object_set_new(s, "inbound_fields", in);
    return s;
}

json_t *sb_profile_integration_json(const sb_profile_t *p)
{
    json_t *support = json_object();
    json_object_set_new(support, "lms_activity", sb_activity_support_json(p));
    json_object_set_new(support, "lms_course", sb_course_support_json());
    return json_pack("{s:s,s:s,s:[s],s:b,s:o}", "type", p->type, "name", p->name,
                     "categories", "lms", "is_active", 1, "support", support);
}
