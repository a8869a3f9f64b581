/* Unit tests of ls_catalog: list pages, the stored form, the join of names into a record. */
#include "ls_catalog.h"
#include "ls_err.h"
#include "ls_test.h"

#include <stdlib.h>
#include <string.h>

static void test_parse_page(void)
{
    ls_catalog_page_t p;
    char err[256];
    memset(&p, 0, sizeof(p));
    const char *body = "[{\"id\":\"c1\",\"name\":\"Algebra\"},{\"id\":\"c2\",\"name\":null},{\"id\":\"c3\"},"
                       "{\"id\":\"c4\",\"name\":\"\"},{\"name\":\"no id\"},{\"id\":\"c5\",\"name\":7},5,"
                       "{\"id\":\"q1\",\"name\":\"Quiz\",\"type\":\"QUIZ\"}]";
    CU_ASSERT_EQUAL(ls_catalog_page_parse(&p, LS_CATALOG_CONTENT, body, strlen(body), 42, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(p.n, 5);
    CU_ASSERT_EQUAL(p.rejected, 3);
    CU_ASSERT_STRING_EQUAL(p.items[0].id, "c1");
    CU_ASSERT_STRING_EQUAL(p.items[0].e.name, "Algebra");
    CU_ASSERT_EQUAL(p.items[0].e.has_type, 0);
    CU_ASSERT_EQUAL(p.items[0].e.fetched_at, 42);
    CU_ASSERT_EQUAL(p.items[1].e.has_name, 0); /* null */
    CU_ASSERT_EQUAL(p.items[2].e.has_name, 0); /* absent */
    CU_ASSERT_EQUAL(p.items[3].e.has_name, 0); /* "" is no name */
    CU_ASSERT_STRING_EQUAL(p.items[4].e.type, "QUIZ");
    /* a course list ignores "type" */
    CU_ASSERT_EQUAL(ls_catalog_page_parse(&p, LS_CATALOG_COURSE, body, strlen(body), 42, err, sizeof(err)), LS_OK);
    CU_ASSERT_EQUAL(p.items[4].e.has_type, 0);
    CU_ASSERT_EQUAL(ls_catalog_page_parse(&p, LS_CATALOG_COURSE, "{\"x\":1}", 7, 0, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "course list: not a JSON array");
    CU_ASSERT_EQUAL(ls_catalog_page_parse(&p, LS_CATALOG_CONTENT, "[{\"id\":", 7, 0, err, sizeof(err)), LS_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "content list: invalid JSON at byte"));
    ls_catalog_page_release(&p);
}

static void test_pack_roundtrip(void)
{
    ls_catalog_entry_t e, f;
    uint8_t buf[LS_CATALOG_VALUE_MAX];
    memset(&e, 0, sizeof(e));
    e.has_name = 1;
    memset(e.name, 'n', LS_CATALOG_NAME_MAX);
    e.has_type = 1;
    strcpy(e.type, "VIDEO");
    e.fetched_at = 1764252588123;
    size_t n = ls_catalog_entry_pack(&e, buf);
    CU_ASSERT(n <= sizeof(buf));
    CU_ASSERT_EQUAL(ls_catalog_entry_unpack(buf, n, &f), LS_OK);
    CU_ASSERT_EQUAL(memcmp(&e, &f, sizeof(e)), 0);
    for (size_t cut = 0; cut < n; cut += 97) /* every truncation is refused */
        CU_ASSERT_EQUAL(ls_catalog_entry_unpack(buf, cut, &f), LS_EINVAL);
    memset(&e, 0, sizeof(e));
    n = ls_catalog_entry_pack(&e, buf);
    CU_ASSERT_EQUAL(ls_catalog_entry_unpack(buf, n, &f), LS_OK);
    CU_ASSERT_EQUAL(f.has_name, 0);
    buf[9] = 4; /* unknown flag */
    CU_ASSERT_EQUAL(ls_catalog_entry_unpack(buf, n, &f), LS_EINVAL);
}

static char *dump(json_t *o)
{
    return json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
}

static void test_add_names(void)
{
    ls_catalog_entry_t course, content;
    memset(&course, 0, sizeof(course));
    memset(&content, 0, sizeof(content));
    course.has_name = 1;
    strcpy(course.name, "Algebra");
    content.has_type = 1;
    strcpy(content.type, "QUIZ");
    json_t *o = json_pack("{s:s, s:s}", "activity_id", "a1", "content_name", "stale");
    CU_ASSERT_EQUAL(ls_catalog_add_names(o, &course, &content), LS_OK);
    char *s = dump(o);
    /* the content has no name: the member is absent (the stale one removed), never "" */
    CU_ASSERT_STRING_EQUAL(s, "{\"activity_id\":\"a1\",\"content_type\":\"QUIZ\",\"course_name\":\"Algebra\"}");
    free(s);
    CU_ASSERT_EQUAL(ls_catalog_add_names(o, NULL, NULL), LS_OK); /* nothing known */
    s = dump(o);
    CU_ASSERT_STRING_EQUAL(s, "{\"activity_id\":\"a1\"}");
    free(s);
    json_decref(o);
}

static CU_TestInfo tests[] = {
    {"list page: names, absent/null/empty names, bad records", test_parse_page},
    {"stored form round trip and garbled values", test_pack_roundtrip},
    {"names joined into a record: flat, absent when unknown", test_add_names},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {{"catalog", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

LS_TEST_MAIN(suites)
