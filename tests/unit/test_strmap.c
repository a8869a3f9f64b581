/* test_strmap.c - the name-keyed map (ls_strmap.h). */
#include "ls_strmap.h"
#include "ls_test.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    int64_t a;
    char tag[24];
} val_t;

static void test_put_get_stable(void)
{
    ls_strmap_t *m = ls_strmap_new(sizeof(val_t));
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_PTR_NULL(ls_strmap_get(m, "x"));
    int added = -1;
    val_t *first = ls_strmap_put(m, "conn-0", &added);
    CU_ASSERT_PTR_NOT_NULL_FATAL(first);
    CU_ASSERT_EQUAL(added, 1);
    CU_ASSERT_EQUAL(first->a, 0); /* zeroed */
    CU_ASSERT_EQUAL((uintptr_t)first % 16, 0);
    first->a = 42;
    char name[32];
    /* many inserts (several table growths) keep values where they were */
    for (int i = 1; i < 20000; i++) {
        snprintf(name, sizeof(name), "conn-%d", i);
        val_t *v = ls_strmap_put(m, name, &added);
        CU_ASSERT_PTR_NOT_NULL_FATAL(v);
        CU_ASSERT_EQUAL(added, 1);
        v->a = i;
    }
    CU_ASSERT_EQUAL(ls_strmap_count(m), 20000);
    CU_ASSERT_PTR_EQUAL(ls_strmap_get(m, "conn-0"), first);
    CU_ASSERT_EQUAL(first->a, 42);
    val_t *again = ls_strmap_put(m, "conn-77", &added);
    CU_ASSERT_EQUAL(added, 0);
    CU_ASSERT_EQUAL(again->a, 77);
    CU_ASSERT_PTR_NULL(ls_strmap_get(m, "conn-20000"));
    CU_ASSERT_PTR_NULL(ls_strmap_get(m, ""));
    CU_ASSERT_PTR_NOT_NULL(ls_strmap_put(m, "", NULL)); /* the empty name is a name */
    ls_strmap_destroy(m);
    ls_strmap_destroy(NULL);
}

static int drop_odd(const char *name, void *value, void *ud)
{
    (void)name;
    (*(int *)ud)++;
    return ((val_t *)value)->a % 2 != 0;
}

static void test_sweep(void)
{
    ls_strmap_t *m = ls_strmap_new(sizeof(val_t));
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        ((val_t *)ls_strmap_put(m, name, NULL))->a = i;
    }
    int visited = 0;
    ls_strmap_sweep(m, drop_odd, &visited);
    CU_ASSERT_EQUAL(visited, 1000);
    CU_ASSERT_EQUAL(ls_strmap_count(m), 500);
    CU_ASSERT_PTR_NULL(ls_strmap_get(m, "s1"));
    CU_ASSERT_PTR_NOT_NULL(ls_strmap_get(m, "s2"));
    CU_ASSERT_EQUAL(((val_t *)ls_strmap_get(m, "s998"))->a, 998);
    ls_strmap_destroy(m);
}

static void test_del_and_name(void)
{
    ls_strmap_t *m = ls_strmap_new(sizeof(val_t));
    char name[32];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "conn-%d/course-%d", i, i * 7);
        val_t *v = ls_strmap_put(m, name, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(v);
        CU_ASSERT_STRING_EQUAL(ls_strmap_name(m, v), name); /* the key, from the value's address */
        v->a = i;
    }
    CU_ASSERT_EQUAL(ls_strmap_del(m, "conn-5/course-35"), 1);
    CU_ASSERT_EQUAL(ls_strmap_del(m, "conn-5/course-35"), 0);
    CU_ASSERT_EQUAL(ls_strmap_del(m, "absent"), 0);
    CU_ASSERT_PTR_NULL(ls_strmap_get(m, "conn-5/course-35"));
    CU_ASSERT_EQUAL(ls_strmap_count(m), 299);
    val_t *v = ls_strmap_get(m, "conn-6/course-42");
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_EQUAL(v->a, 6);
    CU_ASSERT_EQUAL(ls_strmap_del(m, ls_strmap_name(m, v)), 1); /* its own name is a valid argument */
    CU_ASSERT_EQUAL(ls_strmap_count(m), 298);
    ls_strmap_destroy(m);
    ls_strmap_t *empty = ls_strmap_new(8);
    CU_ASSERT_EQUAL(ls_strmap_del(empty, "x"), 0);
    ls_strmap_destroy(empty);
}

static CU_TestInfo tests[] = {
    {"del, and the name of a value", test_del_and_name},
    {"put, get, values stay put", test_put_get_stable},
    {"sweep", test_sweep},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_strmap", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
