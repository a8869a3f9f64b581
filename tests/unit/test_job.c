/* Unit tests of ls_job (job and status JSON) and the coordinator's pure parts. */
#include "ls_coord.h"
#include "ls_err.h"
#include "ls_job.h"
#include "ls_job_ref.h"
#include "ls_test.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void test_job_roundtrip(void)
{
    ls_job_t j, k;
    char err[256];
    memset(&j, 0, sizeof(j));
    strcpy(j.job_id, "conn-1@1000");
    strcpy(j.connection_id, "conn-1");
    strcpy(j.integration_type, "coursera");
    strcpy(j.external_xref, "tenant-1");
    j.mode = LS_MODE_FULL;
    j.scheduled_at = 1764252588000;
    char *s = ls_job_encode(&j);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_EQUAL(ls_job_decode(s, strlen(s), &k, err, sizeof(err)), LS_OK);
    CU_ASSERT_STRING_EQUAL(k.job_id, j.job_id);
    CU_ASSERT_STRING_EQUAL(k.external_xref, "tenant-1");
    CU_ASSERT_STRING_EQUAL(k.course_id, "");
    CU_ASSERT_EQUAL(k.scheduled_at, j.scheduled_at);
    CU_ASSERT_STRING_EQUAL(k.tenant, "tenant-1"); /* no "tenant" member: the external_xref */
    CU_ASSERT_PTR_NULL(strstr(s, "\"tenant\""));
    free(s);
    strcpy(j.tenant, "acme"); /* a tenant_map name travels as it is */
    s = ls_job_encode(&j);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"tenant\":\"acme\""));
    CU_ASSERT_EQUAL(ls_job_decode(s, strlen(s), &k, err, sizeof(err)), LS_OK);
    CU_ASSERT_STRING_EQUAL(k.tenant, "acme");
    CU_ASSERT_STRING_EQUAL(k.external_xref, "tenant-1");
    free(s);
    static const char old[] = "{\"v\":1,\"job_id\":\"a@1\",\"connection_id\":\"a\",\"mode\":\"full\","
                              "\"scheduled_at\":\"2026-01-01T00:00:00Z\"}"; /* no tenant, no external_xref */
    CU_ASSERT_EQUAL(ls_job_decode(old, strlen(old), &k, err, sizeof(err)), LS_OK);
    CU_ASSERT_STRING_EQUAL(k.tenant, "");
}

/* The workspace travels in the job and the status record and qualifies the scope key. */
static void test_job_workspace(void)
{
    ls_job_t j, k;
    ls_status_t st, d;
    char err[256], scope[LS_KEY_MAX];
    memset(&j, 0, sizeof(j));
    memset(&st, 0, sizeof(st));
    strcpy(j.job_id, "eu:conn-1/c9@1000");
    strcpy(j.connection_id, "conn-1");
    strcpy(j.course_id, "c9");
    strcpy(j.workspace, "eu");
    j.mode = LS_MODE_FULL;
    j.scheduled_at = 1764252588000;
    st.ok = 1;
    ls_job_scope(&j, scope, sizeof(scope));
    CU_ASSERT_STRING_EQUAL(scope, "eu:conn-1/c9");
    char *s = ls_job_encode(&j), *t = ls_status_encode(&j, &st);
    CU_ASSERT_FATAL(s && t);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"workspace\":\"eu\""));
    CU_ASSERT_EQUAL(ls_job_decode(s, strlen(s), &k, err, sizeof(err)), LS_OK);
    CU_ASSERT_STRING_EQUAL(k.workspace, "eu");
    CU_ASSERT_STRING_EQUAL(k.connection_id, "conn-1");
    CU_ASSERT_EQUAL(ls_status_decode(t, strlen(t), &k, &d, err, sizeof(err)), LS_OK);
    CU_ASSERT_STRING_EQUAL(k.workspace, "eu");
    free(s);
    free(t);
    j.workspace[0] = '\0'; /* the default workspace: no member, the plain key */
    s = ls_job_encode(&j);
    CU_ASSERT_PTR_NULL(strstr(s, "workspace"));
    ls_job_scope(&j, scope, sizeof(scope));
    CU_ASSERT_STRING_EQUAL(scope, "conn-1/c9");
    free(s);
}

/* Random bytes for a string member: printable ASCII, the characters JSON escapes, UTF-8, and
 * (when bad) now and then a byte that is not valid UTF-8. */
static unsigned rnd_next(unsigned *x)
{
    *x = *x * 1103515245u + 12345u;
    return (*x >> 16) & 0x7fff;
}

static void rnd_str(unsigned *x, char *buf, size_t cap, int bad)
{
    static const char *const parts[] = {"a", "Z", "7", "-", "\"", "\\", "/", "\n", "\t", "\x01", "\x1f", "\x7f",
                                        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", " ", "@"};
    size_t n = 0, want = rnd_next(x) % 40;
    buf[0] = '\0';
    for (size_t i = 0; i < want; i++) {
        const char *p = bad && rnd_next(x) % 50 == 0 ? "\xff" : parts[rnd_next(x) % (sizeof(parts) / sizeof(parts[0]))];
        if (n + strlen(p) + 1 >= cap)
            break;
        memcpy(buf + n, p, strlen(p) + 1);
        n += strlen(p);
    }
}

/* A webhook job's records: 1-3 objects of random strings, numbers, reals, booleans and nested members. */
static void rnd_records(unsigned *x, ls_job_t *j)
{
    json_t *arr = json_array();
    char s[128], err[128];
    for (unsigned n = 1 + rnd_next(x) % 3, i = 0; i < n; i++) {
        rnd_str(x, s, sizeof(s), 0);
        json_t *rec = json_pack("{s:s, s:s?, s:I, s:f, s:b, s:{s:s}}", "id", s, "z_status",
                                rnd_next(x) % 2 ? "COMPLETED" : NULL, "a_n", (json_int_t)rnd_next(x) - 9000,
                                "progress", (double)rnd_next(x) / 7.0, "done", (int)(rnd_next(x) % 2), "meta",
                                "k", s);
        json_array_append_new(arr, rec);
    }
    CU_ASSERT_EQUAL(ls_job_set_records(j, arr, err, sizeof(err)), LS_OK);
    json_decref(arr);
}

/* The direct writer against the jansson reference: byte-equal, or NULL from both. Covers the workspace,
 * catalog (kind, no strategy members), resync and webhook (mode, inline records) members. */
static void test_job_encode_differential(void)
{
    static const char *const fields[] = {"", "id", "id,course_id,student_id", "progress_percentage,updated_at"};
    static const char *const sorts[] = {"", "created_at", "updated_at"};
    unsigned x = 20261128, same = 0, refused = 0, catalog = 0, resync = 0, webhook = 0;
    for (int i = 0; i < 20000; i++) {
        ls_job_t j;
        memset(&j, 0, sizeof(j));
        int bad = rnd_next(&x) % 4 == 0;
        rnd_str(&x, j.job_id, sizeof(j.job_id), bad);
        rnd_str(&x, j.connection_id, 64, bad);
        rnd_str(&x, j.integration_type, sizeof(j.integration_type), bad);
        rnd_str(&x, j.external_xref, 64, 0);
        rnd_str(&x, j.course_id, 64, 0);
        rnd_str(&x, j.tenant, 64, bad);
        snprintf(j.workspace, sizeof(j.workspace), "%s", rnd_next(&x) % 3 ? "" : "eu");
        snprintf(j.fields, sizeof(j.fields), "%s", fields[rnd_next(&x) % 4]);
        snprintf(j.sort, sizeof(j.sort), "%s", sorts[rnd_next(&x) % 3]);
        j.order_asc = (int)(rnd_next(&x) % 2);
        j.unpaged = (int)(rnd_next(&x) % 2);
        j.get = (int)(rnd_next(&x) % 2);
        j.gte = (ls_gte_t)(rnd_next(&x) % 3);
        j.mode = rnd_next(&x) % 2 ? LS_MODE_FULL : LS_MODE_INCREMENTAL;
        j.scheduled_at = (int64_t)rnd_next(&x) * 100000000;
        j.leader_epoch = rnd_next(&x) % 2 ? (int64_t)rnd_next(&x) * 1000000 : 0;
        j.kind = rnd_next(&x) % 4 == 0 ? LS_JOB_CATALOG : LS_JOB_ACTIVITY;
        j.resync = rnd_next(&x) % 4 == 0;
        if (rnd_next(&x) % 4 == 0) {
            j.mode = LS_MODE_WEBHOOK;
            rnd_records(&x, &j);
        }
        char *got = ls_job_encode(&j), *want = ref_job_encode(&j);
        if (got && want) {
            catalog += j.kind == LS_JOB_CATALOG && strstr(got, "\"kind\":\"catalog\"") != NULL;
            resync += j.resync && strstr(got, "\"resync\":true") != NULL;
            webhook += j.records && strstr(got, "\"records\":[{") != NULL;
        }
        ls_job_release(&j);
        if (got == NULL || want == NULL) {
            CU_ASSERT(got == NULL && want == NULL);
            refused++;
        } else {
            if (strcmp(got, want) != 0 && same + refused < 5)
                fprintf(stderr, "\n  got  %s\n  want %s\n", got, want);
            CU_ASSERT_STRING_EQUAL(got, want);
            same++;
        }
        free(got);
        free(want);
    }
    fprintf(stderr, "\n  job encoder: %u byte-equal (%u catalog, %u resync, %u webhook), %u refused by both\n",
            same, catalog, resync, webhook, refused);
    CU_ASSERT(same > 10000 && refused > 100);
    CU_ASSERT(catalog > 1000 && resync > 1000 && webhook > 1000);
}

static void expect_bad(const char *v, const char *fragment)
{
    ls_job_t k;
    char err[256] = "";
    CU_ASSERT_EQUAL(ls_job_decode(v, v ? strlen(v) : 0, &k, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, fragment));
}

static void test_job_bad(void)
{
    expect_bad("", "empty");
    expect_bad("{not json", "invalid JSON");
    expect_bad("[1]", "not a JSON object");
    expect_bad("{\"v\":2}", "'v'");
    expect_bad("{\"v\":1,\"job_id\":\"a\",\"mode\":\"full\",\"scheduled_at\":\"2026-01-01T00:00:00Z\"}", "'connection_id'");
    expect_bad("{\"v\":1,\"job_id\":\"a\",\"connection_id\":\"c\",\"mode\":\"full\",\"scheduled_at\":\"2026-01-01T00:00:00Z\",\"workspace\":\"EU x\"}",
               "job: field 'workspace' may hold only [a-z0-9_-]");
    expect_bad("{\"v\":1,\"job_id\":\"a\",\"connection_id\":\"c\",\"mode\":\"full\",\"scheduled_at\":\"2026-01-01T00:00:00Z\",\"tenant\":7}",
               "job: field 'tenant' must be a string");
    expect_bad("{\"v\":1,\"job_id\":\"a\",\"connection_id\":5,\"mode\":\"full\",\"scheduled_at\":\"2026-01-01T00:00:00Z\"}", "must be a string");
    expect_bad("{\"v\":1,\"job_id\":\"a\",\"connection_id\":\"c\",\"mode\":\"sometimes\",\"scheduled_at\":\"2026-01-01T00:00:00Z\"}", "'mode'");
    expect_bad("{\"v\":1,\"job_id\":\"a\",\"connection_id\":\"c\",\"mode\":\"full\",\"scheduled_at\":\"soon\"}", "'scheduled_at'");
    /* ids that become key parts: "a/b" + "x" would restore as "a" + "b/x" */
    expect_bad("{\"v\":1,\"job_id\":\"a\",\"connection_id\":\"a/b\",\"mode\":\"full\",\"scheduled_at\":\"2026-01-01T00:00:00Z\"}",
               "job: field 'connection_id' cannot be a key part: contains '/' at byte 1 (\"a...\")");
    expect_bad("{\"v\":1,\"job_id\":\"a\",\"connection_id\":\"c\",\"course_id\":\"k\\u0007\",\"mode\":\"full\",\"scheduled_at\":\"2026-01-01T00:00:00Z\"}",
               "job: field 'course_id' cannot be a key part: contains control character 0x07 at byte 1");
}

/* A catalog job: "kind" round trips, its scope never names an activity scope, its status says kind. */
static void test_job_catalog(void)
{
    ls_job_t j, k;
    ls_status_t st, st2;
    char err[256], scope[600];
    memset(&j, 0, sizeof(j));
    strcpy(j.job_id, "conn-1//catalog@1000");
    strcpy(j.connection_id, "conn-1");
    strcpy(j.integration_type, "moodle");
    j.mode = LS_MODE_FULL;
    j.kind = LS_JOB_CATALOG;
    j.scheduled_at = 1764252588000;
    char *s = ls_job_encode(&j);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"kind\":\"catalog\""));
    CU_ASSERT_EQUAL(ls_job_decode(s, strlen(s), &k, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(k.kind, LS_JOB_CATALOG);
    ls_job_scope(&k, scope, sizeof(scope));
    CU_ASSERT_STRING_EQUAL(scope, "conn-1//catalog");
    free(s);
    j.kind = LS_JOB_ACTIVITY; /* an activity job writes no "kind" */
    s = ls_job_encode(&j);
    CU_ASSERT_PTR_NULL(strstr(s, "kind"));
    free(s);
    memset(&st, 0, sizeof(st));
    st.ok = 0;
    st.requests = 7;
    strcpy(st.error, "page at offset 0 of \"conn-1\" does not parse");
    j.kind = LS_JOB_CATALOG;
    s = ls_status_encode(&j, &st);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"scope\":\"conn-1//catalog\""));
    CU_ASSERT_EQUAL(ls_status_decode(s, strlen(s), &k, &st2, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(k.kind, LS_JOB_CATALOG);
    CU_ASSERT_EQUAL(st2.requests, 7);
    CU_ASSERT_EQUAL(st2.ok, 0);
    free(s);
}

static void test_job_catalog_bad(void)
{
    expect_bad("{\"v\":1,\"job_id\":\"a\",\"connection_id\":\"c\",\"mode\":\"full\",\"kind\":\"names\",\"scheduled_at\":\"2026-01-01T00:00:00Z\"}",
               "job: field 'kind' must be activity or catalog, got \"names\"");
    expect_bad("{\"v\":1,\"job_id\":\"a\",\"connection_id\":\"c\",\"mode\":\"full\",\"kind\":7,\"scheduled_at\":\"2026-01-01T00:00:00Z\"}",
               "field 'kind' must be a string");
    expect_bad("{\"v\":1,\"job_id\":\"a\",\"connection_id\":\"c\",\"course_id\":\"k\",\"mode\":\"full\",\"kind\":\"catalog\",\"scheduled_at\":\"2026-01-01T00:00:00Z\"}",
               "a catalog job has no 'course_id' and mode full");
    expect_bad("{\"v\":1,\"job_id\":\"a\",\"connection_id\":\"c\",\"mode\":\"full\",\"kind\":\"catalog\",\"sort\":\"created_at\",\"scheduled_at\":\"2026-01-01T00:00:00Z\"}",
               "field 'sort' is not allowed in a catalog job");
    expect_bad("{\"v\":1,\"job_id\":\"a\",\"connection_id\":\"c\",\"mode\":\"full\",\"kind\":\"catalog\",\"resync\":true,\"scheduled_at\":\"2026-01-01T00:00:00Z\"}",
               "a resync job must be a full activity job");
    ls_job_t k;
    char err[256];
    const char *old = "{\"v\":1,\"job_id\":\"a\",\"connection_id\":\"c\",\"mode\":\"full\",\"kind\":\"activity\",\"scheduled_at\":\"2026-01-01T00:00:00Z\"}";
    CU_ASSERT_EQUAL(ls_job_decode(old, strlen(old), &k, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(k.kind, LS_JOB_ACTIVITY);
}

static void test_key_part_check(void)
{
    char why[64] = "";
    CU_ASSERT_EQUAL(ls_key_part_check("conn-1", why, sizeof(why)), LS_OK);
    CU_ASSERT_EQUAL(ls_key_part_check("", why, sizeof(why)), LS_OK); /* no course */
    CU_ASSERT_EQUAL(ls_key_part_check("ab/", why, sizeof(why)), LS_EINVAL);
    CU_ASSERT_STRING_EQUAL(why, "contains '/' at byte 2");
    CU_ASSERT_EQUAL(ls_key_part_check("a\x7f", why, sizeof(why)), LS_EINVAL);
    CU_ASSERT_STRING_EQUAL(why, "contains control character 0x7f at byte 1");
    CU_ASSERT_EQUAL(ls_key_part_check("\n", why, sizeof(why)), LS_EINVAL);
}

static void test_status_json(void)
{
    ls_job_t j;
    ls_status_t st;
    memset(&j, 0, sizeof(j));
    memset(&st, 0, sizeof(st));
    strcpy(j.job_id, "c@1");
    strcpy(j.connection_id, "c");
    strcpy(j.course_id, "crs-1");
    j.mode = LS_MODE_FULL;
    st.ok = 0;
    strcpy(st.error, "http 503 from /lms/c/activity");
    st.rejected = 2;
    char *s = ls_status_encode(&j, &st);
    json_t *o = json_loads(s, 0, NULL);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "scope")), "c/crs-1");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "outcome")), "failed");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "error")), st.error);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "rejected")), 2);
    json_decref(o);
    free(s);
}

static void test_first_due_spread(void)
{
    const int64_t ival = 60000, now = 1764252588123;
    int buckets[6] = {0};
    char id[32];
    for (int i = 0; i < 6000; i++) {
        snprintf(id, sizeof(id), "conn-%d", i);
        int64_t t = ls_coord_first_due(id, ival, now);
        CU_ASSERT(t >= now && t < now + ival);
        CU_ASSERT_EQUAL(t, ls_coord_first_due(id, ival, now)); /* deterministic */
        CU_ASSERT_EQUAL(t % ival, ls_coord_first_due(id, ival, now + 12345) % ival); /* same slot */
        buckets[(t - now) * 6 / ival]++;
    }
    for (int b = 0; b < 6; b++)
        CU_ASSERT(buckets[b] > 800 && buckets[b] < 1200); /* roughly flat */
}

static void test_parse_static(void)
{
    ls_coord_conn_t *c;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(ls_coord_parse_static("a:coursera:t1,b,c:go1", &c, err, sizeof(err)), 3);
    CU_ASSERT_STRING_EQUAL(c[0].id, "a");
    CU_ASSERT_STRING_EQUAL(c[0].integration_type, "coursera");
    CU_ASSERT_STRING_EQUAL(c[0].external_xref, "t1");
    CU_ASSERT_STRING_EQUAL(c[1].integration_type, "");
    CU_ASSERT_STRING_EQUAL(c[2].integration_type, "go1");
    free(c);
    CU_ASSERT_EQUAL(ls_coord_parse_static("a,,b", &c, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_EQUAL(ls_coord_parse_static("a,:go1", &c, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "entry 2 has an empty connection id"));
    CU_ASSERT_EQUAL(ls_coord_parse_static("a,b/c:go1", &c, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "setting 'coordinator.connections': entry 2: the connection id cannot be a key part: "
                                "contains '/' at byte 1");
    /* no cap on the number of entries (the old parser stopped at 1,024) */
    char spec[2100 * 6];
    size_t off = 0;
    for (int i = 0; i < 2000; i++)
        off += (size_t)snprintf(spec + off, sizeof(spec) - off, "%sc%d", i ? "," : "", i);
    CU_ASSERT_EQUAL_FATAL(ls_coord_parse_static(spec, &c, err, sizeof(err)), 2000);
    CU_ASSERT_STRING_EQUAL(c[1999].id, "c1999");
    free(c);
}

static void test_parse_connections(void)
{
    ls_coord_conn_t c[8];
    char err[256];
    size_t seen;
    const char *body =
        "[{\"id\":\"c1\",\"integration_type\":\"go1\",\"categories\":[\"lms\"],\"external_xref\":\"x\"},"
        " {\"id\":\"c2\",\"categories\":[\"crm\"]},"
        " {\"id\":\"c3\",\"categories\":[\"lms\"],\"is_paused\":true},"
        " {\"categories\":[\"lms\"]}, 7,"
        " {\"id\":\"c4\",\"categories\":[\"hris\",\"lms\"],\"integration_type\":\"d2l\"},"
        " {\"id\":\"c5/x\",\"categories\":[\"lms\"]}, {\"id\":\"c6\\t\",\"categories\":[\"lms\"]}]";
    CU_ASSERT_EQUAL(ls_coord_parse_connections(body, strlen(body), c, 8, &seen, err, sizeof(err)), 2);
    CU_ASSERT_EQUAL(seen, 8);
    CU_ASSERT_STRING_EQUAL(c[0].id, "c1");
    CU_ASSERT_STRING_EQUAL(c[0].external_xref, "x");
    CU_ASSERT_STRING_EQUAL(c[1].id, "c4");
    CU_ASSERT_EQUAL(ls_coord_parse_connections("{\"a\":1}", 7, c, 8, &seen, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_EQUAL(ls_coord_parse_connections("[{", 2, c, 8, &seen, err, sizeof(err)), LS_EINVAL);
}

static void test_job_strategy_roundtrip(void)
{
    ls_job_t j, k;
    char err[256];
    memset(&j, 0, sizeof(j));
    strcpy(j.job_id, "conn-1/crs-1@1000");
    strcpy(j.connection_id, "conn-1");
    strcpy(j.course_id, "crs-1");
    j.mode = LS_MODE_INCREMENTAL;
    strcpy(j.fields, "id,course_id,updated_at");
    strcpy(j.sort, "created_at");
    j.order_asc = 1;
    j.unpaged = 1;
    j.get = 1;
    j.gte = LS_GTE_SUPPORTED;
    j.scheduled_at = 1764252588000;
    j.leader_epoch = 1795896718586;
    char *s = ls_job_encode(&j);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"fields\":[\"id\",\"course_id\",\"updated_at\"]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"leader_epoch\":1795896718586"));
    CU_ASSERT_EQUAL(ls_job_decode(s, strlen(s), &k, err, sizeof(err)), LS_OK);
    CU_ASSERT_STRING_EQUAL(k.fields, j.fields);
    CU_ASSERT_STRING_EQUAL(k.sort, "created_at");
    CU_ASSERT_STRING_EQUAL(k.course_id, "crs-1");
    CU_ASSERT_EQUAL(k.order_asc, 1);
    CU_ASSERT_EQUAL(k.unpaged, 1);
    CU_ASSERT_EQUAL(k.get, 1);
    CU_ASSERT_EQUAL(k.gte, LS_GTE_SUPPORTED);
    CU_ASSERT_EQUAL(k.leader_epoch, 1795896718586);
    CU_ASSERT_EQUAL(k.resync, 0);
    CU_ASSERT_PTR_NULL(strstr(s, "resync"));
    free(s);
    const char *bad_epoch = "{\"v\":1,\"job_id\":\"a@1\",\"connection_id\":\"a\",\"mode\":\"full\","
                            "\"scheduled_at\":\"2026-11-27T14:09:48Z\",\"leader_epoch\":\"x\"}";
    CU_ASSERT_EQUAL(ls_job_decode(bad_epoch, strlen(bad_epoch), &k, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "leader_epoch"));
    /* a job without strategy members decodes with the default behaviour */
    const char *old = "{\"v\":1,\"job_id\":\"a@1\",\"connection_id\":\"a\",\"mode\":\"full\","
                      "\"scheduled_at\":\"2026-11-27T14:09:48Z\"}";
    CU_ASSERT_EQUAL(ls_job_decode(old, strlen(old), &k, err, sizeof(err)), LS_OK);
    CU_ASSERT_STRING_EQUAL(k.fields, "");
    CU_ASSERT_STRING_EQUAL(k.sort, "");
    CU_ASSERT_EQUAL(k.unpaged, 0);
    CU_ASSERT_EQUAL(k.get, 0);
    CU_ASSERT_EQUAL(k.gte, LS_GTE_NONE);
    CU_ASSERT_EQUAL(k.leader_epoch, 0);
}

static void test_job_strategy_bad(void)
{
#define JOB(extra) "{\"v\":1,\"job_id\":\"a@1\",\"connection_id\":\"a\",\"mode\":\"full\"," \
                   "\"scheduled_at\":\"2026-11-27T14:09:48Z\"" extra "}"
    expect_bad(JOB(",\"fields\":\"id\""), "'fields'");
    expect_bad(JOB(",\"fields\":[]"), "'fields'");
    expect_bad(JOB(",\"fields\":[\"id\",\"raw\"]"), "element 1");
    expect_bad(JOB(",\"fields\":[\"id\",7]"), "element 1");
    expect_bad(JOB(",\"sort\":\"name\""), "'sort'");
    expect_bad(JOB(",\"order\":\"asc\""), "'order'");
    expect_bad(JOB(",\"sort\":\"created_at\",\"order\":\"desc\""), "'order'");
    expect_bad(JOB(",\"paged\":\"no\""), "'paged'");
    expect_bad(JOB(",\"get\":1"), "'get'");
    expect_bad(JOB(",\"updated_gte\":\"yes\""), "'updated_gte'");
    const char *inc = "{\"v\":1,\"job_id\":\"a@1\",\"connection_id\":\"a\",\"mode\":\"incremental\","
                      "\"scheduled_at\":\"2026-11-27T14:09:48Z\"}";
    expect_bad(inc, "needs 'updated_gte'");
#undef JOB
}

static void test_job_resync(void)
{
    char err[256];
    ls_job_t j, k;
    memset(&j, 0, sizeof(j));
    strcpy(j.job_id, "conn-1@resync-1764252588000");
    strcpy(j.connection_id, "conn-1");
    j.mode = LS_MODE_FULL;
    j.scheduled_at = 1764252588000;
    j.resync = 1;
    char *s = ls_job_encode(&j);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"resync\":true"));
    CU_ASSERT_EQUAL(ls_job_decode(s, strlen(s), &k, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(k.resync, 1);
    free(s);
#define JOB(mode, extra) "{\"v\":1,\"job_id\":\"a@1\",\"connection_id\":\"a\",\"mode\":\"" mode "\"," \
                         "\"scheduled_at\":\"2026-11-27T14:09:48Z\",\"updated_gte\":\"supported\"" extra "}"
    expect_bad(JOB("full", ",\"resync\":1"), "'resync' must be a boolean");
    expect_bad(JOB("incremental", ",\"resync\":true"), "a resync job must be a full activity job");
    const char *no = JOB("incremental", ",\"resync\":false");
    CU_ASSERT_EQUAL(ls_job_decode(no, strlen(no), &k, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(k.resync, 0);
#undef JOB
}

static void test_scope_names_and_keys(void)
{
    char buf[16];
    for (ls_mode_t m = LS_MODE_FULL; m <= LS_MODE_WEBHOOK; m++)
        CU_ASSERT_EQUAL(ls_mode_parse(ls_mode_name(m)), m);
    CU_ASSERT_EQUAL(ls_mode_parse("poll"), LS_MODE_NONE);
    CU_ASSERT_EQUAL(ls_mode_parse(NULL), LS_MODE_NONE);
    CU_ASSERT_STRING_EQUAL(ls_mode_name(LS_MODE_NONE), "");
    CU_ASSERT_STRING_EQUAL(ls_mode_name((ls_mode_t)99), "");
    CU_ASSERT_EQUAL(ls_scope_key("conn", NULL, buf, sizeof(buf)), 4);
    CU_ASSERT_STRING_EQUAL(buf, "conn");
    CU_ASSERT_EQUAL(ls_scope_key("conn", "", buf, sizeof(buf)), 4);
    CU_ASSERT_EQUAL(ls_scope_key("conn", "c1", buf, sizeof(buf)), 7);
    CU_ASSERT_STRING_EQUAL(buf, "conn/c1");
    CU_ASSERT_EQUAL(ls_activity_key("conn", "a-1", buf, sizeof(buf)), 8);
    CU_ASSERT_STRING_EQUAL(buf, "conn/a-1");
    CU_ASSERT_EQUAL(ls_activity_key("connection-long", "activity", buf, sizeof(buf)), -1);
    CU_ASSERT_STRING_EQUAL(buf, "");
}

static void test_status_mode_watermark(void)
{
    ls_job_t j;
    ls_status_t st;
    memset(&j, 0, sizeof(j));
    memset(&st, 0, sizeof(st));
    strcpy(j.job_id, "c@1");
    strcpy(j.connection_id, "c");
    j.mode = LS_MODE_INCREMENTAL;
    st.mode = LS_MODE_FULL;
    strcpy(st.next_watermark, "2026-11-27T14:07:48Z");
    st.ok = 1;
    st.removals_held = 2;
    char *s = ls_status_encode(&j, &st);
    CU_ASSERT_FATAL(s != NULL);
    json_t *o = json_loads(s, 0, NULL);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "mode")), "full");
    CU_ASSERT(json_is_null(json_object_get(o, "watermark")));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "next_watermark")), "2026-11-27T14:07:48Z");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "removals_held")), 2);
    json_decref(o);
    free(s);
}

/* A status with every member set to a distinct value. */
static void full_status(ls_job_t *j, ls_status_t *st)
{
    memset(j, 0, sizeof(*j));
    memset(st, 0, sizeof(*st));
    strcpy(j->job_id, "conn-1/crs-9@1764252588000");
    strcpy(j->connection_id, "conn-1");
    strcpy(j->integration_type, "docebo");
    strcpy(j->course_id, "crs-9");
    j->mode = LS_MODE_INCREMENTAL;
    st->mode = LS_MODE_INCREMENTAL;
    st->ok = 0;
    strcpy(st->error, "http 503 from /lms/conn-1/activity \"quoted\"");
    st->started_at = 1764252588123;
    st->finished_at = 1764252599000;
    uint64_t *counts[] = {&st->pages, &st->records, &st->rejected, &st->events, &st->state_writes,
                          &st->requests, &st->bytes, &st->retries, &st->removed,
                          &st->pending_removals, &st->removals_held, &st->rechecked, &st->rate_waits,
                          &st->duplicates, &st->republished, &st->rollups_republished};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
        *counts[i] = 1000 + i * 7;
    st->bytes = (uint64_t)1 << 40;
    strcpy(st->removals_skipped, "scan saw 3 of 100 records");
    strcpy(st->watermark, "2026-11-27T14:00:00Z");
    strcpy(st->next_watermark, "2026-11-27T14:07:48Z");
}

static void expect_status_equal(const ls_job_t *j, const ls_status_t *st)
{
    char err[256] = "";
    ls_job_t k;
    ls_status_t d;
    char *s = ls_status_encode(j, st);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_EQUAL_FATAL(ls_status_decode(s, strlen(s), &k, &d, err, sizeof(err)), LS_OK);
    CU_ASSERT_STRING_EQUAL(k.job_id, j->job_id);
    CU_ASSERT_STRING_EQUAL(k.connection_id, j->connection_id);
    CU_ASSERT_STRING_EQUAL(k.integration_type, j->integration_type);
    CU_ASSERT_STRING_EQUAL(k.course_id, j->course_id);
    CU_ASSERT_EQUAL(k.mode, st->mode);
    /* both structs start zeroed (padding and text tails included), so
     * memcmp compares every member */
    CU_ASSERT(memcmp(&d, st, sizeof(d)) == 0);
    free(s);
}

static void test_status_roundtrip(void)
{
    ls_job_t j;
    ls_status_t st;
    full_status(&j, &st);
    expect_status_equal(&j, &st); /* failed, every member set */
    st.ok = 1;
    memset(st.error, 0, sizeof(st.error));
    j.course_id[0] = '\0';
    strcpy(j.job_id, "conn-1@1");
    st.mode = LS_MODE_FULL;
    expect_status_equal(&j, &st); /* ok, connection scope */
    st.skipped = 1;
    strcpy(st.skip_reason, "stale: conn-1 was scanned after this job was scheduled");
    memset(st.watermark, 0, sizeof(st.watermark));
    memset(st.next_watermark, 0, sizeof(st.next_watermark));
    memset(st.removals_skipped, 0, sizeof(st.removals_skipped));
    expect_status_equal(&j, &st); /* skipped, null texts */
}

#define STATUS_OK_HEAD "{\"job_id\":\"c@1\",\"connection_id\":\"c\",\"outcome\":\"ok\""

static void test_status_bad(void)
{
    static const struct {
        const char *value, *fragment;
    } bad[] = {
        {"", "status: empty message"},
        {"{\"job_id\":", "status: invalid JSON at byte"},
        {"[]", "not a JSON object"},
        {"\"ok\"", "status: invalid JSON"},
        {"{\"connection_id\":\"c\",\"outcome\":\"ok\"}", "missing field 'job_id'"},
        {"{\"job_id\":\"c@1\",\"outcome\":\"ok\"}", "missing field 'connection_id'"},
        {"{\"job_id\":\"c@1\",\"connection_id\":\"c\"}", "missing field 'outcome'"},
        {"{\"job_id\":\"c@1\",\"connection_id\":\"\",\"outcome\":\"ok\"}", "'connection_id' is empty"},
        {"{\"job_id\":7,\"connection_id\":\"c\",\"outcome\":\"ok\"}", "'job_id' must be a string"},
        {"{\"job_id\":\"c@1\",\"connection_id\":\"c\",\"outcome\":\"maybe\"}", "'outcome' must be ok, failed or skipped"},
        {STATUS_OK_HEAD ",\"mode\":\"sometimes\"}", "'mode' must be full"},
        {STATUS_OK_HEAD ",\"records\":-1}", "'records' must be a non-negative integer"},
        {STATUS_OK_HEAD ",\"pages\":1.5}", "'pages' must be a non-negative integer"},
        {STATUS_OK_HEAD ",\"rate_waits\":\"3\"}", "'rate_waits' must be a non-negative integer"},
        {STATUS_OK_HEAD ",\"started_at\":\"yesterday\"}", "'started_at' is not a timestamp"},
        {STATUS_OK_HEAD ",\"finished_at\":12}", "'finished_at' must be a string"},
        {STATUS_OK_HEAD ",\"watermark\":[]}", "'watermark' must be a string"},
        {STATUS_OK_HEAD ",\"scope\":\"other\"}", "'scope' is not [workspace:]connection_id[/course_id]"},
        {STATUS_OK_HEAD ",\"course_id\":\"k\",\"scope\":\"c\"}", "'scope' is not [workspace:]connection_id[/course_id]"},
        {STATUS_OK_HEAD ",\"outcome\":\"ok\"}", "status: invalid JSON"}, /* duplicate key */
        {STATUS_OK_HEAD ",\"course_id\":\"k/1\"}", "status: field 'course_id' cannot be a key part: contains '/'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ls_job_t k;
        ls_status_t d;
        char err[256] = "";
        int rc = ls_status_decode(bad[i].value, strlen(bad[i].value), &k, &d, err, sizeof(err));
        CU_ASSERT_EQUAL(rc, LS_EINVAL);
        if (!strstr(err, bad[i].fragment))
            fprintf(stderr, "bad status %zu: got \"%s\", want \"%s\"\n", i, err, bad[i].fragment);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].fragment));
        CU_ASSERT_STRING_EQUAL(k.job_id, ""); /* nothing half-used */
    }
    ls_job_t k;
    ls_status_t d;
    char err[64];
    CU_ASSERT_EQUAL(ls_status_decode(NULL, 0, &k, &d, err, sizeof(err)), LS_EINVAL);
}

/* A record of an older worker (no newer counters, no scope) still decodes. */
static void test_status_old_record(void)
{
    const char *v = "{\"job_id\":\"c@1\",\"connection_id\":\"c\",\"course_id\":\"k\",\"outcome\":\"ok\","
                    "\"mode\":\"full\",\"records\":42,\"error\":null}";
    ls_job_t k;
    ls_status_t d;
    char err[256] = "";
    CU_ASSERT_EQUAL_FATAL(ls_status_decode(v, strlen(v), &k, &d, err, sizeof(err)), LS_OK);
    CU_ASSERT(d.ok && !d.skipped && d.mode == LS_MODE_FULL && d.records == 42 && d.rate_waits == 0);
    CU_ASSERT_STRING_EQUAL(k.course_id, "k");
    CU_ASSERT_EQUAL(d.started_at, 0);
}

/* Random bytes and every prefix of a real record: no crash, a reason on error. */
static void test_status_garbage(void)
{
    ls_job_t j, k;
    ls_status_t st, d;
    char err[256];
    full_status(&j, &st);
    char *s = ls_status_encode(&j, &st);
    CU_ASSERT_FATAL(s != NULL);
    size_t n = strlen(s), fails = 0;
    for (size_t len = 0; len < n; len++) {
        err[0] = '\0';
        fails += ls_status_decode(s, len, &k, &d, err, sizeof(err)) == LS_EINVAL && err[0];
    }
    CU_ASSERT_EQUAL(fails, n); /* every proper prefix is invalid JSON */
    unsigned seed = 7;
    char buf[256];
    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t)(rand_r(&seed) % sizeof(buf));
        for (size_t b = 0; b < len; b++)
            buf[b] = i % 2 ? s[rand_r(&seed) % n] : (char)rand_r(&seed);
        ls_status_decode(buf, len, &k, &d, err, sizeof(err));
    }
    free(s);
}

static void test_parse_courses(void)
{
    char ids[4][LS_STR_MAX + 1], err[256];
    size_t seen;
    const char *body = "[{\"id\":\"crs-1\",\"name\":\"A\"},{\"name\":\"no id\"},{\"id\":7},{\"id\":\"crs/9\"},"
                       "{\"id\":\"crs-2\"}]";
    CU_ASSERT_EQUAL(ls_coord_parse_courses(body, strlen(body), ids, 4, &seen, err, sizeof(err)), 2);
    CU_ASSERT_EQUAL(seen, 5);
    CU_ASSERT_STRING_EQUAL(ids[0], "crs-1");
    CU_ASSERT_STRING_EQUAL(ids[1], "crs-2");
    CU_ASSERT_EQUAL(ls_coord_parse_courses("{}", 2, ids, 4, &seen, err, sizeof(err)), LS_EINVAL);
}

/* A webhook job carries its records inline; they round trip byte for byte. */
static void test_job_webhook_roundtrip(void)
{
    ls_job_t j, k;
    char err[256];
    memset(&j, 0, sizeof(j));
    strcpy(j.job_id, "conn-1@wh-1764252588000-abc");
    strcpy(j.connection_id, "conn-1");
    strcpy(j.integration_type, "successfactors_lms");
    j.mode = LS_MODE_WEBHOOK;
    j.scheduled_at = 1764252588000;
    json_t *arr = json_loads("[{\"id\":\"a1\",\"updated_at\":\"2026-11-27T14:09:48Z\",\"status\":\"COMPLETED\"}]", 0, NULL);
    CU_ASSERT_EQUAL_FATAL(ls_job_set_records(&j, arr, err, sizeof(err)), LS_OK);
    json_decref(arr);
    CU_ASSERT_STRING_EQUAL(j.records, "[{\"id\":\"a1\",\"status\":\"COMPLETED\",\"updated_at\":\"2026-11-27T14:09:48Z\"}]");
    char *s = ls_job_encode(&j);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\"mode\":\"webhook\""));
    CU_ASSERT_EQUAL_FATAL(ls_job_decode(s, strlen(s), &k, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(k.mode, LS_MODE_WEBHOOK);
    CU_ASSERT_EQUAL(k.records_len, j.records_len);
    CU_ASSERT_STRING_EQUAL(k.records, j.records);
    char *s2 = ls_job_encode(&k);
    CU_ASSERT_STRING_EQUAL(s2, s);
    free(s);
    free(s2);
    ls_job_release(&j);
    ls_job_release(&k);
    CU_ASSERT_PTR_NULL(k.records);
    ls_job_release(NULL);
}

/* Records only in webhook jobs, and bounded in count and size. */
static void test_job_webhook_bad(void)
{
#define WH(extra) "{\"v\":1,\"job_id\":\"a@1\",\"connection_id\":\"a\",\"mode\":\"webhook\"," \
                  "\"scheduled_at\":\"2026-11-27T14:09:48Z\"" extra "}"
    expect_bad(WH(""), "needs 'records'");
    expect_bad(WH(",\"records\":[]"), "'records' must be an array of 1..");
    expect_bad(WH(",\"records\":{}"), "'records' must be an array");
    expect_bad(WH(",\"records\":[{\"id\":\"x\"},7]"), "element 1 is not an object");
    expect_bad(WH(",\"course_id\":\"k\",\"records\":[{\"id\":\"x\"}]"), "no 'course_id'");
    expect_bad("{\"v\":1,\"job_id\":\"a@1\",\"connection_id\":\"a\",\"mode\":\"full\","
               "\"scheduled_at\":\"2026-11-27T14:09:48Z\",\"records\":[{\"id\":\"x\"}]}",
               "belongs only to a webhook job");
#undef WH
    ls_job_t j;
    char err[256] = "";
    memset(&j, 0, sizeof(j));
    json_t *many = json_array();
    for (int i = 0; i <= LS_JOB_RECORDS_MAX_N; i++)
        json_array_append_new(many, json_pack("{s:i}", "id", i));
    CU_ASSERT_EQUAL(ls_job_set_records(&j, many, err, sizeof(err)), LS_EINVAL);
    json_decref(many);
    json_t *big = json_array();
    char *pad = malloc(LS_JOB_RECORDS_MAX);
    memset(pad, 'x', LS_JOB_RECORDS_MAX - 1);
    pad[LS_JOB_RECORDS_MAX - 1] = '\0';
    json_array_append_new(big, json_pack("{s:s}", "id", pad));
    CU_ASSERT_EQUAL(ls_job_set_records(&j, big, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bytes, more than"));
    CU_ASSERT_PTR_NULL(j.records);
    json_decref(big);
    free(pad);
}

static CU_TestInfo job_tests[] = {
    {"job writer vs jansson", test_job_encode_differential},
    {"workspace: job, status and scope key", test_job_workspace},
    {"webhook job: inline records round trip", test_job_webhook_roundtrip},
    {"webhook job: records bounded, only in webhook jobs", test_job_webhook_bad},
    {"key parts: no '/', no control character", test_key_part_check},
    {"strategy members round trip; old jobs still decode", test_job_strategy_roundtrip},
    {"malformed strategy members are rejected", test_job_strategy_bad},
    {"resync member", test_job_resync},
    {"mode names and scope/activity keys", test_scope_names_and_keys},
    {"status record: mode run and watermarks", test_status_mode_watermark},
    {"job round trip", test_job_roundtrip},
    {"catalog job: kind, scope and status", test_job_catalog},
    {"malformed catalog jobs are rejected with a reason", test_job_catalog_bad},
    {"malformed jobs are rejected with a reason", test_job_bad},
    {"status record", test_status_json},
    {"status record round trip: encode -> decode -> equal", test_status_roundtrip},
    {"malformed status records are rejected with a reason", test_status_bad},
    {"status record of an older worker decodes", test_status_old_record},
    {"status decode survives garbage and truncation", test_status_garbage},
    CU_TEST_INFO_NULL,
};
static CU_TestInfo coord_tests[] = {
    {"deterministic spread over the interval", test_first_due_spread},
    {"static connection list", test_parse_static},
    {"discovered connection list", test_parse_connections},
    {"course list", test_parse_courses},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {
    {"job", NULL, NULL, NULL, NULL, job_tests},
    {"coordinator", NULL, NULL, NULL, NULL, coord_tests},
    CU_SUITE_INFO_NULL,
};
LS_TEST_MAIN(suites)
