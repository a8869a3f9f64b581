/* test_coord_heap.c - the coordinator's timer heap (ls_coord_heap.h) against a sorted reference. */
#include "ls_coord_heap.h"
#include "ls_test.h"

#include <stdlib.h>

#define N 5000

/* The heap property and every timer's back-pointer. */
static int heap_valid(const ls_coord_heap_t *h)
{
    for (size_t i = 0; i < h->n; i++) {
        if (h->a[i].t->pos != i + 1 || h->a[i].t->due_ms != h->a[i].due_ms)
            return 0;
        if (i && h->a[(i - 1) / 4].due_ms > h->a[i].due_ms) /* 4-ary */
            return 0;
    }
    return 1;
}

static void test_order_move_remove(void)
{
    static ls_coord_timer_t t[N];
    ls_coord_heap_t h = {0};
    srand(7);
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL_FATAL(ls_coord_heap_set(&h, &t[i], rand() % 100000), 0);
    CU_ASSERT_EQUAL(h.n, N);
    CU_ASSERT(heap_valid(&h));
    for (int i = 0; i < N; i += 3) /* move a third, earlier and later */
        ls_coord_heap_set(&h, &t[i], (i % 2) ? t[i].due_ms / 2 : t[i].due_ms * 2);
    CU_ASSERT(heap_valid(&h));
    for (int i = 1; i < N; i += 5)
        ls_coord_heap_remove(&h, &t[i]);
    ls_coord_heap_remove(&h, &t[1]); /* not queued: no-op */
    CU_ASSERT_EQUAL(h.n, N - N / 5);
    CU_ASSERT(heap_valid(&h));
    int64_t last = -1;
    size_t popped = 0;
    ls_coord_timer_t *top;
    while ((top = ls_coord_heap_top(&h))) {
        CU_ASSERT(top->due_ms >= last);
        last = top->due_ms;
        ls_coord_heap_remove(&h, top);
        CU_ASSERT_EQUAL(top->pos, 0);
        popped++;
    }
    CU_ASSERT_EQUAL(popped, N - N / 5);
    ls_coord_heap_release(&h);
}

static void test_release_unqueues(void)
{
    ls_coord_timer_t a = {0}, b = {0};
    ls_coord_heap_t h = {0};
    ls_coord_heap_set(&h, &a, 5);
    ls_coord_heap_set(&h, &b, 3);
    CU_ASSERT_PTR_EQUAL(ls_coord_heap_top(&h), &b);
    ls_coord_heap_set(&h, &b, 9); /* moved later: a comes first */
    CU_ASSERT_PTR_EQUAL(ls_coord_heap_top(&h), &a);
    ls_coord_heap_release(&h);
    CU_ASSERT_EQUAL(a.pos, 0);
    CU_ASSERT_EQUAL(b.pos, 0);
    CU_ASSERT_PTR_NULL(ls_coord_heap_top(&h));
}

static CU_TestInfo tests[] = {
    {"order, move, remove", test_order_move_remove},
    {"release leaves timers unqueued", test_release_unqueues},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ls_coord_heap", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
