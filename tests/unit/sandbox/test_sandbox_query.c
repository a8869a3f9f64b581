/*
 * test_sandbox_query.c - list query parsing and list logic: limit/offset,
 * filters, fields projection, sort, updated_gte honoured only where the
 * provider supports it, required filters.
 */
#include <stdlib.h>
#include <string.h>

#include "ls_err.h"
#include "ls_test.h"
#include "ls_time.h"
#include "sb_test_util.h"

static int parse(sb_query_t *q, const sb_kv_t *kv, size_t n)
{
    char err[128];
    return sb_query_parse(kv, n, q, err, sizeof(err));
}

static void test_parse(void)
{
    sb_query_t q;
    CU_ASSERT_EQUAL(parse(&q, NULL, 0), LS_OK);
    CU_ASSERT_EQUAL(q.limit, 100);
    CU_ASSERT_EQUAL(q.offset, 0);
    CU_ASSERT_TRUE(q.want_raw && !q.has_fields && q.fields == SB_FIELDS_ALL);
    sb_kv_t a[] = { { "limit", "5000" }, { "offset", "7" }, { "sort", "updated_at" }, { "order", "desc" } };
    CU_ASSERT_EQUAL(parse(&q, a, 4), LS_OK);
    CU_ASSERT_EQUAL(q.limit, 1000);
    CU_ASSERT_EQUAL(q.offset, 7);
    CU_ASSERT_EQUAL(q.sort, SB_SORT_UPDATED_AT);
    CU_ASSERT_TRUE(q.desc);
    sb_kv_t bad1[] = { { "limit", "-1" } }, bad2[] = { { "limit", "ten" } }, bad3[] = { { "offset", "1x" } };
    sb_kv_t bad4[] = { { "updated_gte", "2026-13-01" } }, bad5[] = { { "limit", NULL } };
    CU_ASSERT_EQUAL(parse(&q, bad1, 1), LS_EINVAL);
    CU_ASSERT_EQUAL(parse(&q, bad2, 1), LS_EINVAL);
    CU_ASSERT_EQUAL(parse(&q, bad3, 1), LS_EINVAL);
    CU_ASSERT_EQUAL(parse(&q, bad4, 1), LS_EINVAL);
    CU_ASSERT_EQUAL(parse(&q, bad5, 1), LS_EINVAL);
    sb_kv_t f[] = { { "fields", "id" }, { "fields", "updated_at,is_completed" }, { "fields", "bogus" } };
    CU_ASSERT_EQUAL(parse(&q, f, 3), LS_OK);
    CU_ASSERT_TRUE(q.has_fields && !q.want_raw);
    CU_ASSERT_EQUAL(q.fields, SB_FBIT(SB_F_ID) | SB_FBIT(SB_F_UPDATED_AT) | SB_FBIT(SB_F_IS_COMPLETED));
    sb_kv_t fr[] = { { "fields", "id" }, { "fields", "raw" }, { "raw", "foo%3Dbar" } };
    CU_ASSERT_EQUAL(parse(&q, fr, 3), LS_OK);
    CU_ASSERT_TRUE(q.want_raw);
    sb_kv_t g[] = { { "updated_gte", "2026-01-01T00:00:00 00:00" }, { "course_id", "crs-1" } };
    CU_ASSERT_EQUAL(parse(&q, g, 2), LS_OK);   /* '+' decoded to ' ' is tolerated */
    CU_ASSERT_TRUE(q.has_updated_gte && q.has_course_id);
    CU_ASSERT_EQUAL(q.updated_gte, 1767225600000LL);
    CU_ASSERT_STRING_EQUAL(q.course_id, "crs-1");
}

static json_t *list(sb_world_t *w, const char *conn, const sb_kv_t *kv, size_t n, int *rc)
{
    sb_query_t q;
    char err[128];
    json_t *out = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_query_parse(kv, n, &q, err, sizeof(err)), LS_OK);
    *rc = sb_world_list_activities(w, conn, &q, &out, err, sizeof(err));
    return out;
}

static void test_paging(void)
{
    sb_world_t *w = sb_test_world("coursera", 1, 1);   /* 30 records */
    json_t *all = NULL;
    sb_world_activities(w, "conn-0001", &all);
    json_t *seen = json_array();
    int rc;
    for (int off = 0; off < 40; off += 7) {
        char o[8];
        snprintf(o, sizeof(o), "%d", off);
        sb_kv_t kv[] = { { "limit", "7" }, { "offset", o } };
        json_t *page = list(w, "conn-0001", kv, 2, &rc);
        CU_ASSERT_EQUAL(rc, LS_OK);
        CU_ASSERT_EQUAL(json_array_size(page), off + 7 <= 30 ? 7 : (off < 30 ? 30 - (size_t)off : 0));
        size_t i;
        json_t *r;
        json_array_foreach(page, i, r) {
            CU_ASSERT_PTR_NOT_NULL(json_object_get(r, "raw"));
            json_object_del(r, "raw");
            json_array_append(seen, r);
        }
        json_decref(page);
    }
    CU_ASSERT_TRUE(json_equal(seen, all));   /* creation order, each record once */
    json_t *none = list(w, "conn-0009", NULL, 0, &rc);
    CU_ASSERT_EQUAL(rc, LS_ENOTFOUND);
    CU_ASSERT_PTR_NULL(none);
    json_decref(seen);
    json_decref(all);
    sb_world_destroy(w);
}

static void test_filters_where_supported(void)
{
    /* conn-0001 coursera (no content_id filter), conn-0002 d2l (content_id filter) */
    sb_world_t *w = sb_test_world("coursera,d2l", 3, 2);
    int rc;
    sb_kv_t kc[] = { { "content_id", "cnt-1" }, { "limit", "1000" } };
    json_t *a = list(w, "conn-0001", kc, 2, &rc);
    CU_ASSERT_EQUAL(json_array_size(a), 30);    /* ignored */
    json_decref(a);
    a = list(w, "conn-0002", kc, 2, &rc);
    CU_ASSERT_EQUAL(json_array_size(a), 5);     /* one per student */
    json_decref(a);
    sb_kv_t ks[] = { { "student_id", "stu-2" }, { "course_id", "crs-3" } };
    a = list(w, "conn-0001", ks, 2, &rc);
    CU_ASSERT_EQUAL(json_array_size(a), 2);     /* 2 contents */
    size_t i;
    json_t *r;
    json_array_foreach(a, i, r) {
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "student_id")), "stu-2");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "course_id")), "crs-3");
    }
    json_decref(a);
    sb_kv_t kf[] = { { "fields", "id" }, { "fields", "progress_percentage" }, { "limit", "3" } };
    a = list(w, "conn-0001", kf, 3, &rc);
    json_array_foreach(a, i, r) {
        CU_ASSERT_EQUAL(json_object_size(r), 2);
        CU_ASSERT_PTR_NOT_NULL(json_object_get(r, "progress_percentage"));
    }
    json_decref(a);
    sb_world_destroy(w);
}

/* updated_gte: honoured by successfactors_lms, ignored by coursera. */
static void test_updated_gte_only_where_supported(void)
{
    sb_world_t *w = sb_test_world("successfactors_lms,coursera", 9, 2);
    int rc;
    sb_world_tick(w, 10, SB_TEST_NOW, NULL);
    char ts[SB_TS_BUFSZ];
    sb_kv_t kv[] = { { "updated_gte", sb_ts_format(SB_TS_Z, SB_TEST_NOW, ts) }, { "limit", "1000" } };
    json_t *sf = list(w, "conn-0001", kv, 2, &rc);
    json_t *cr = list(w, "conn-0002", kv, 2, &rc);
    CU_ASSERT_TRUE(json_array_size(sf) < 30);
    CU_ASSERT_EQUAL(json_array_size(cr), 30);
    /* exactly the sf records with updated_at >= now */
    json_t *all = NULL;
    sb_world_activities(w, "conn-0001", &all);
    size_t i, want = 0;
    json_t *r;
    json_array_foreach(all, i, r) {
        int64_t t;
        ls_time_parse(json_string_value(json_object_get(r, "updated_at")), &t);
        want += t >= SB_TEST_NOW;
    }
    CU_ASSERT_EQUAL(json_array_size(sf), want);
    json_decref(all);
    json_decref(sf);
    json_decref(cr);
    sb_world_destroy(w);
}

static void test_sort(void)
{
    sb_world_t *w = sb_test_world("successfactors_lms,coursera", 11, 2);
    int rc;
    sb_kv_t kv[] = { { "sort", "updated_at" }, { "order", "desc" }, { "limit", "1000" } };
    json_t *sf = list(w, "conn-0001", kv, 3, &rc);
    int64_t prev = INT64_MAX;
    size_t i;
    json_t *r;
    json_array_foreach(sf, i, r) {
        int64_t t;
        ls_time_parse(json_string_value(json_object_get(r, "updated_at")), &t);
        CU_ASSERT_TRUE(t <= prev);
        prev = t;
    }
    json_decref(sf);
    /* coursera has no sort: creation order */
    json_t *cr = list(w, "conn-0002", kv, 3, &rc);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(cr, 0), "id")), "act-0002-000001");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(cr, 29), "id")), "act-0002-000030");
    json_decref(cr);
    sb_world_destroy(w);
}

/* A profile that marks course_id required answers "course_id is required" without it. */
static void test_required_filter(void)
{
    sb_profile_t req = *sb_profile_find("udemy");
    req.type = "udemy_required";
    req.opt[SB_OPT_COURSE_ID] = SB_SUPPORTED_REQUIRED;
    sb_world_config_t cfg;
    sb_world_config_default(&cfg);
    cfg.connections = 1;
    cfg.nproviders = 1;
    cfg.providers[0] = &req;
    char err[128] = "";
    sb_world_t *w = sb_world_new(&cfg, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    sb_query_t q;
    json_t *out = NULL;
    sb_query_init(&q);
    CU_ASSERT_EQUAL(sb_world_list_activities(w, "conn-0001", &q, &out, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "course_id is required");
    sb_kv_t kv[] = { { "course_id", "crs-2" } };
    int rc;
    out = list(w, "conn-0001", kv, 1, &rc);
    CU_ASSERT_EQUAL(rc, LS_OK);
    CU_ASSERT_EQUAL(json_array_size(out), 5);
    json_decref(out);
    sb_world_destroy(w);
}

static CU_TestInfo query_tests[] = {
    { "query parsing", test_parse },
    { "limit/offset paging in creation order", test_paging },
    { "id filters and fields projection", test_filters_where_supported },
    { "updated_gte only where supported", test_updated_gte_only_where_supported },
    { "sort only where supported", test_sort },
    { "required filter", test_required_filter },
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    { "sandbox list queries", NULL, NULL, NULL, NULL, query_tests },
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
