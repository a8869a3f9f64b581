/*
 * test_xapi_map.c - the change-event -> statement mapping as a table: every
 * event type, absent vs null vs present fields, ids, durations, scores,
 * IRIs, undecodable events, and the duplicate comparison.
 */
#include "ls_err.h"
#include "ls_test.h"
#include "ls_xapi_lrs.h"
#include "ls_xapi_map.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define CE "cfd4a6af85a9d64a3f8d2f326a37ac35"
#define VERB "http://adlnet.gov/expapi/verbs/"
#define PROGRESS "https://w3id.org/xapi/cmi5/result/extensions/progress"
#define ENV(type, after) ENVC(type, "", after)
#define ENVC(type, changed, after) \
    "{\"activity_id\":\"act-1001\",\"connection_id\":\"conn-7\",\"integration_type\":\"moodle\"," \
    "\"tenant\":\"tenant-42\",\"type\":\"" type "\",\"before\":null,\"changed\":[" changed "]," \
    "\"observed\":{\"at\":\"2026-11-29T10:00:00Z\",\"job_id\":\"j\",\"mode\":\"full\"},\"after\":" after "}"
#define FULL(extra) \
    "{\"id\":\"act-1001\",\"student_id\":\"stu-42\",\"course_id\":\"crs-7\",\"content_id\":\"mod-3\"," \
    "\"started_at\":\"2026-11-27T08:15:00Z\",\"created_at\":\"2026-11-27T08:10:00Z\"," \
    "\"updated_at\":\"2026-11-27T08:40:12.250Z\"" extra "}"

static const ls_xapi_map_conf_t conf = {"https://lms.example/xapi/", "https://lms.example/", 0};

/* Value at a dot path ("result.duration"); "#p" names the cmi5 progress extension. */
static const json_t *at(const json_t *j, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k && j; k = strtok_r(NULL, ".", &save)) {
        if (strcmp(k, "#p") == 0)
            j = json_object_get(json_object_get(j, "extensions"), PROGRESS);
        else if (json_is_array(j))
            j = json_array_get(j, (size_t)(k[0] - '0'));
        else
            j = json_object_get(j, k);
    }
    return j;
}

static const char *str_at(const json_t *j, const char *path)
{
    return json_string_value(at(j, path));
}

static ls_xapi_outcome_t map(const char *text, const ls_xapi_map_conf_t *c, json_t **stmt)
{
    json_error_t e;
    json_t *ev = json_loads(text, 0, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    char why[256] = "";
    ls_xapi_outcome_t o = ls_xapi_map(c, CE, ev, stmt, why, sizeof(why));
    CU_ASSERT(o == LS_XAPI_MAPPED || why[0] != '\0');
    json_decref(ev);
    return o;
}

typedef struct row {
    const char *name, *event;
    ls_xapi_outcome_t outcome;
    const char *verb;      /* last segment */
    int completion;        /* -1 absent, 0 false, 1 true */
    int progress;          /* -1 absent */
    const char *timestamp;
    const char *duration;  /* NULL: absent */
} row_t;

static const row_t rows[] = {
    {"created", ENV("created", FULL(",\"is_completed\":false,\"progress_percentage\":0,\"duration_minutes\":0")),
     LS_XAPI_MAPPED, "attempted", 0, 0, "2026-11-27T08:15:00Z", "PT0M"},
    {"created without started_at: created_at",
     ENV("created", "{\"id\":\"a\",\"student_id\":\"s\",\"created_at\":\"2026-01-02T03:04:05Z\"}"),
     LS_XAPI_MAPPED, "attempted", -1, -1, "2026-01-02T03:04:05Z", NULL},
    {"created with no instant: observation time", ENV("created", "{\"id\":\"a\",\"student_id\":\"s\",\"started_at\":null}"),
     LS_XAPI_MAPPED, "attempted", -1, -1, "2026-11-29T10:00:00Z", NULL},
    {"progressed", ENV("progressed", FULL(",\"is_completed\":false,\"progress_percentage\":35.5,\"duration_minutes\":12")),
     LS_XAPI_MAPPED, "progressed", 0, 36, "2026-11-27T08:40:12.250Z", "PT12M"},
    {"regressed", ENV("regressed", FULL(",\"progress_percentage\":20")),
     LS_XAPI_MAPPED, "progressed", -1, 20, "2026-11-27T08:40:12.250Z", NULL},
    {"completed", ENV("completed", FULL(",\"is_completed\":true,\"progress_percentage\":100,\"duration_minutes\":47.25,"
                                        "\"completed_at\":\"2026-11-27T14:09:48.120Z\"")),
     LS_XAPI_MAPPED, "completed", 1, -1, "2026-11-27T14:09:48.120Z", "PT47M15S"},
    {"completed, completed_at null: updated_at", ENV("completed", FULL(",\"is_completed\":true,\"completed_at\":null")),
     LS_XAPI_MAPPED, "completed", 1, -1, "2026-11-27T08:40:12.250Z", NULL},
    {"reopened", ENV("reopened", FULL(",\"is_completed\":false,\"progress_percentage\":100,\"completed_at\":null")),
     LS_XAPI_MAPPED, "progressed", 0, 100, "2026-11-27T08:40:12.250Z", NULL},
    {"progress absent, null, out of range: no extension",
     ENV("progressed", "{\"id\":\"a\",\"student_id\":\"s\",\"progress_percentage\":null,\"is_completed\":null,\"duration_minutes\":null}"),
     LS_XAPI_MAPPED, "progressed", -1, -1, "2026-11-29T10:00:00Z", NULL},
    {"progress above 100: no extension", ENV("progressed", "{\"id\":\"a\",\"student_id\":\"s\",\"progress_percentage\":130}"),
     LS_XAPI_MAPPED, "progressed", -1, -1, "2026-11-29T10:00:00Z", NULL},
    {"updated, grade B+", ENVC("updated", "\"assigned_grade\"", FULL(",\"assigned_grade\":\"B+\"")),
     LS_XAPI_SKIP_UPDATED, NULL, -1, -1, NULL, NULL},
    {"updated, duration only", ENVC("updated", "\"duration_minutes\"", FULL(",\"assigned_grade\":\"80\",\"duration_minutes\":9")),
     LS_XAPI_SKIP_UPDATED, NULL, -1, -1, NULL, NULL},
    {"updated, numeric grade", ENVC("updated", "\"duration_minutes\",\"assigned_grade\"",
                                    FULL(",\"assigned_grade\":\"80\",\"duration_minutes\":9,\"is_completed\":true")),
     LS_XAPI_MAPPED, "scored", 1, -1, "2026-11-27T08:40:12.250Z", "PT9M"},
    {"removed", ENV("removed", "null"), LS_XAPI_SKIP_REMOVED, NULL, -1, -1, NULL, NULL},
    {"student absent", ENV("completed", "{\"id\":\"a\",\"is_completed\":true}"), LS_XAPI_SKIP_NO_STUDENT, NULL, -1, -1, NULL, NULL},
    {"student null", ENV("completed", "{\"id\":\"a\",\"student_id\":null}"), LS_XAPI_SKIP_NO_STUDENT, NULL, -1, -1, NULL, NULL},
    {"student empty", ENV("created", "{\"id\":\"a\",\"student_id\":\"\"}"), LS_XAPI_SKIP_NO_STUDENT, NULL, -1, -1, NULL, NULL},
    {"unknown type", ENV("moved", "{\"id\":\"a\",\"student_id\":\"s\"}"), LS_XAPI_UNDECODABLE, NULL, -1, -1, NULL, NULL},
    {"after null on completed", ENV("completed", "null"), LS_XAPI_UNDECODABLE, NULL, -1, -1, NULL, NULL},
    {"no connection_id", "{\"type\":\"created\",\"activity_id\":\"a\",\"observed\":{\"at\":\"2026-01-01T00:00:00Z\"},\"after\":{}}",
     LS_XAPI_UNDECODABLE, NULL, -1, -1, NULL, NULL},
    {"not an object", "[1,2]", LS_XAPI_UNDECODABLE, NULL, -1, -1, NULL, NULL},
};

static void check_row(const row_t *r)
{
    json_t *s = NULL;
    ls_xapi_outcome_t o = map(r->event, &conf, &s);
    CU_ASSERT_EQUAL(o, r->outcome);
    if (o != r->outcome)
        fprintf(stderr, "\nrow '%s': outcome %s\n", r->name, ls_xapi_outcome_names[o]);
    if (o != LS_XAPI_MAPPED || r->outcome != LS_XAPI_MAPPED) {
        CU_ASSERT_PTR_NULL(s);
        json_decref(s);
        return;
    }
    char verb[128];
    snprintf(verb, sizeof(verb), VERB "%s", r->verb);
    CU_ASSERT_STRING_EQUAL(str_at(s, "verb.id"), verb);
    CU_ASSERT_STRING_EQUAL(str_at(s, "verb.display.en-US"), r->verb);
    CU_ASSERT_STRING_EQUAL(str_at(s, "id"), "dfce8dae-4bda-56ae-9e36-258288f6be2d");
    const json_t *c = at(s, "result.completion");
    CU_ASSERT(r->completion < 0 ? c == NULL : (json_is_boolean(c) && json_is_true(c) == r->completion));
    const json_t *p = at(s, "result.#p");
    CU_ASSERT(r->progress < 0 ? p == NULL : (json_is_integer(p) && json_integer_value(p) == r->progress));
    CU_ASSERT_STRING_EQUAL(str_at(s, "timestamp"), r->timestamp);
    if (r->duration) {
        CU_ASSERT_STRING_EQUAL(str_at(s, "result.duration"), r->duration);
    } else {
        CU_ASSERT_PTR_NULL(at(s, "result.duration"));
    }
    if (strcmp(r->verb, "scored") == 0) {
        CU_ASSERT(json_is_number(at(s, "result.score.raw")));
    }
    if (strcmp(r->verb, "completed") == 0) { /* cmi5: no progress on completed */
        CU_ASSERT_PTR_NULL(at(s, "result.extensions"));
    }
    if (r->completion < 0 && r->progress < 0 && !r->duration) { /* nothing reported: no empty result */
        CU_ASSERT_PTR_NULL(at(s, "result"));
    }
    json_decref(s);
}

static void test_table(void)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        check_row(&rows[i]);
}

static void test_actor_object_context(void)
{
    json_t *s = NULL;
    CU_ASSERT_EQUAL_FATAL(map(ENV("progressed", FULL(",\"progress_percentage\":5")), &conf, &s), LS_XAPI_MAPPED);
    CU_ASSERT_STRING_EQUAL(str_at(s, "actor.objectType"), "Agent");
    CU_ASSERT_STRING_EQUAL(str_at(s, "actor.account.homePage"), "https://lms.example/connections/conn-7");
    CU_ASSERT_STRING_EQUAL(str_at(s, "actor.account.name"), "stu-42");
    CU_ASSERT_PTR_NULL(at(s, "actor.mbox"));
    CU_ASSERT_STRING_EQUAL(str_at(s, "object.id"), "https://lms.example/xapi/connections/conn-7/content/mod-3");
    CU_ASSERT_PTR_NULL(at(s, "object.definition"));
    CU_ASSERT_STRING_EQUAL(str_at(s, "context.contextActivities.parent.0.id"),
                           "https://lms.example/xapi/connections/conn-7/courses/crs-7");
    CU_ASSERT_STRING_EQUAL(str_at(s, "context.contextActivities.parent.0.definition.type"),
                           "http://adlnet.gov/expapi/activities/course");
    CU_ASSERT_STRING_EQUAL(str_at(s, "context.platform"), "moodle");
    json_decref(s);

    ls_xapi_map_conf_t by_tenant = conf;
    by_tenant.actor_by_tenant = 1;
    CU_ASSERT_EQUAL_FATAL(map(ENV("created", "{\"id\":\"a\",\"student_id\":\"s\",\"course_id\":\"c 1/2\"}"), &by_tenant, &s),
                          LS_XAPI_MAPPED);
    CU_ASSERT_STRING_EQUAL(str_at(s, "actor.account.homePage"), "https://lms.example/tenants/tenant-42");
    /* no content: the course is the object (typed), and no parent */
    CU_ASSERT_STRING_EQUAL(str_at(s, "object.id"), "https://lms.example/xapi/connections/conn-7/courses/c%201%2F2");
    CU_ASSERT_STRING_EQUAL(str_at(s, "object.definition.type"), "http://adlnet.gov/expapi/activities/course");
    CU_ASSERT_PTR_NULL(at(s, "context.contextActivities"));
    json_decref(s);

    /* tenant null: the connection; no course, no content: the activity record; no integration: no context */
    const char *bare = "{\"activity_id\":\"act-77\",\"connection_id\":\"conn-7\",\"integration_type\":null,\"tenant\":null,"
                       "\"type\":\"created\",\"observed\":{\"at\":\"2026-11-29T10:00:00Z\"},\"after\":{\"id\":\"act-77\",\"student_id\":\"s\"}}";
    CU_ASSERT_EQUAL_FATAL(map(bare, &by_tenant, &s), LS_XAPI_MAPPED);
    CU_ASSERT_STRING_EQUAL(str_at(s, "actor.account.homePage"), "https://lms.example/connections/conn-7");
    CU_ASSERT_STRING_EQUAL(str_at(s, "object.id"), "https://lms.example/xapi/connections/conn-7/activities/act-77");
    CU_ASSERT_PTR_NULL(at(s, "context"));
    CU_ASSERT_PTR_NULL(at(s, "result"));
    json_decref(s);
}

static void check_score(const char *grade, double scaled, double raw)
{
    char ev[1024];
    snprintf(ev, sizeof(ev), ENV("completed", "{\"id\":\"a\",\"student_id\":\"s\",\"assigned_grade\":%s}"), grade);
    json_t *s = NULL;
    CU_ASSERT_EQUAL_FATAL(map(ev, &conf, &s), LS_XAPI_MAPPED);
    const json_t *sc = at(s, "result.score");
    if (isnan(raw)) {
        CU_ASSERT_PTR_NULL(sc);
    } else {
        CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(sc, "raw")), raw, 1e-9);
        if (isnan(scaled)) {
            CU_ASSERT_PTR_NULL(json_object_get(sc, "scaled"));
        } else {
            CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(sc, "scaled")), scaled, 1e-9);
        }
    }
    json_decref(s);
}

static void test_score(void)
{
    check_score("\"87.5\"", NAN, 87.5);
    check_score("\"90%\"", 0.9, 90);
    check_score("\"A-\"", NAN, NAN);
    check_score("\"\"", NAN, NAN);
    check_score("null", NAN, NAN);
    check_score("\"120%\"", NAN, NAN);
    check_score("\"7 points\"", NAN, NAN);
}

static void test_ids(void)
{
    char id[LS_XAPI_UUID_LEN + 1];
    CU_ASSERT_EQUAL(ls_xapi_statement_id(CE, id), LS_OK);
    CU_ASSERT_STRING_EQUAL(id, "dfce8dae-4bda-56ae-9e36-258288f6be2d"); /* Python uuid.uuid5 */
    CU_ASSERT_EQUAL(ls_xapi_statement_id("b75dd26787151f7738d6beb16af82d20", id), LS_OK);
    CU_ASSERT_EQUAL(id[14], '5');
    CU_ASSERT(strchr("89ab", id[19]) != NULL);
    CU_ASSERT_EQUAL(ls_xapi_statement_id("CFD4A6AF85A9D64A3F8D2F326A37AC35", id), LS_EINVAL);
    CU_ASSERT_EQUAL(ls_xapi_statement_id("cfd4", id), LS_EINVAL);
    json_t *ev = json_loads(ENV("created", "{\"id\":\"a\",\"student_id\":\"s\"}"), 0, NULL), *s = NULL;
    char why[200];
    CU_ASSERT_EQUAL(ls_xapi_map(&conf, NULL, ev, &s, why, sizeof(why)), LS_XAPI_UNDECODABLE);
    CU_ASSERT_EQUAL(ls_xapi_map(&conf, "not-hex", ev, &s, why, sizeof(why)), LS_XAPI_UNDECODABLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "ce_id"));
    json_decref(ev);
}

static void test_duration(void)
{
    static const struct { double min; const char *iso; } d[] = {
        {45, "PT45M"}, {47.25, "PT47M15S"}, {0, "PT0M"}, {0.5, "PT30S"}, {0.001, "PT0.06S"}, {90, "PT90M"},
        {1.0 / 3.0, "PT20S"}, {12.3456, "PT12M20.74S"}};
    char buf[64];
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
        CU_ASSERT_EQUAL(ls_xapi_duration(d[i].min, buf, sizeof(buf)), LS_OK);
        CU_ASSERT_STRING_EQUAL(buf, d[i].iso);
    }
    CU_ASSERT_EQUAL(ls_xapi_duration(-1, buf, sizeof(buf)), LS_EINVAL);
    CU_ASSERT_EQUAL(ls_xapi_duration(NAN, buf, sizeof(buf)), LS_EINVAL);
}

static void test_same_statement(void)
{
    json_t *sent = NULL;
    CU_ASSERT_EQUAL_FATAL(map(ENV("completed", FULL(",\"is_completed\":true,\"assigned_grade\":\"90\"")), &conf, &sent),
                          LS_XAPI_MAPPED);
    /* what an LRS gives back: stored, authority, version added; a re-delivery's timestamp may differ */
    json_t *stored = json_deep_copy(sent);
    json_object_set_new(stored, "stored", json_string("2026-11-29T11:00:00Z"));
    json_object_set_new(stored, "version", json_string("1.0.0"));
    json_object_set_new(stored, "timestamp", json_string("2026-11-30T00:00:00Z"));
    json_object_set_new(stored, "authority", json_pack("{s:s}", "mbox", "mailto:a@example.org"));
    char *text = json_dumps(stored, 0);
    json_t *reparsed = json_loads(text, 0, NULL); /* integral numbers come back as integers */
    free(text);
    CU_ASSERT(ls_xapi_same_statement(sent, reparsed));
    json_object_set_new(json_object_get(stored, "result"), "completion", json_false());
    CU_ASSERT(!ls_xapi_same_statement(sent, stored));
    json_decref(sent);
    json_decref(stored);
    json_decref(reparsed);
}

static CU_TestInfo map_tests[] = {
    {"every event type, absent vs null vs present", test_table},
    {"actor, object, course parent, IRIs", test_actor_object_context},
    {"numeric grades only become a score", test_score},
    {"UUID v5 statement ids", test_ids},
    {"ISO 8601 durations", test_duration},
    {"duplicate vs conflict comparison", test_same_statement},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"xapi_map", NULL, NULL, NULL, NULL, map_tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
