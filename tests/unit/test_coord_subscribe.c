/*
 * test_coord_subscribe.c - the webhook subscription plan
 * (coordinator/ls_coord_subscribe.c): wanted vs listed -> what to create,
 * keep and delete; ownership; duplicates; kind and interval changes; and
 * which kind webhook.subscribe wants for a profile.
 */
#include "ls_coord_int.h"
#include "ls_test.h"

#include <string.h>

#define N 0  /* native */
#define V 1  /* virtual */

static coord_sub_want_t want(const char *conn, unsigned event, int virt)
{
    return (coord_sub_want_t){conn, (uint8_t)event, (uint8_t)(virt ? COORD_SUB_VIRTUAL : COORD_SUB_NATIVE), 7};
}

static coord_sub_have_t have(const char *id, const char *conn, unsigned event, int virt, int owned, int healthy,
                             int interval)
{
    return (coord_sub_have_t){id, conn, (uint8_t)event, (uint8_t)(virt ? COORD_SUB_VIRTUAL : COORD_SUB_NATIVE),
                              (uint8_t)owned, (uint8_t)healthy, interval, 99};
}

/* The action planned for the listed subscription called id. */
static int action_of(const coord_sub_have_t *h, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].id, id) == 0)
            return h[i].action;
    return -1;
}

/* The id kept for want w (NULL = to create). */
static const char *kept(const coord_sub_want_t *w, const coord_sub_have_t *h)
{
    return w->have >= 0 ? h[w->have].id : NULL;
}

static void test_nothing_listed(void)
{
    coord_sub_want_t w[] = {want("c1", 0, N), want("c1", 1, N)};
    coord_sub_plan(w, 2, NULL, 0, 60);
    CU_ASSERT_EQUAL(w[0].have, -1);
    CU_ASSERT_EQUAL(w[1].have, -1);
}

static void test_idempotent(void)
{
    coord_sub_want_t w[] = {want("c1", 0, N), want("c1", 1, N), want("c2", 1, V)};
    coord_sub_have_t h[] = {have("wh-3", "c2", 1, V, 1, 1, 60), have("wh-1", "c1", 0, N, 1, 1, 0),
                            have("wh-2", "c1", 1, N, 1, 1, 0)};
    coord_sub_plan(w, 3, h, 3, 60);
    CU_ASSERT_STRING_EQUAL(kept(&w[0], h), "wh-1");
    CU_ASSERT_STRING_EQUAL(kept(&w[1], h), "wh-2");
    CU_ASSERT_STRING_EQUAL(kept(&w[2], h), "wh-3");
    for (size_t i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(h[i].action, COORD_SUB_KEEP);
}

static void test_foreign_untouched(void)
{
    /* a foreign subscription of a wanted connection, event and kind neither counts nor is deleted */
    coord_sub_want_t w[] = {want("c1", 1, N)};
    coord_sub_have_t h[] = {have("wh-f", "c1", 1, N, 0, 1, 0), have("wh-g", "gone", 1, N, 0, 1, 0)};
    coord_sub_plan(w, 1, h, 2, 60);
    CU_ASSERT_EQUAL(w[0].have, -1);
    CU_ASSERT_EQUAL(action_of(h, 2, "wh-f"), COORD_SUB_FOREIGN);
    CU_ASSERT_EQUAL(action_of(h, 2, "wh-g"), COORD_SUB_FOREIGN);
}

static void test_gone_and_duplicates(void)
{
    coord_sub_want_t w[] = {want("c1", 1, N)};
    coord_sub_have_t h[] = {have("wh-9", "c1", 1, N, 1, 0, 0), have("wh-5", "c1", 1, N, 1, 1, 0),
                            have("wh-7", "c1", 1, N, 1, 1, 0), have("wh-2", "gone", 1, N, 1, 1, 0),
                            have("wh-4", "c1", COORD_SUB_EVENT_OTHER, N, 1, 1, 0)};
    coord_sub_plan(w, 1, h, 5, 60);
    CU_ASSERT_STRING_EQUAL(kept(&w[0], h), "wh-5"); /* healthy first, then the lowest id */
    CU_ASSERT_EQUAL(action_of(h, 5, "wh-7"), COORD_SUB_DELETE);
    CU_ASSERT_EQUAL(action_of(h, 5, "wh-9"), COORD_SUB_DELETE);
    CU_ASSERT_EQUAL(action_of(h, 5, "wh-2"), COORD_SUB_DELETE); /* connection gone */
    CU_ASSERT_EQUAL(action_of(h, 5, "wh-4"), COORD_SUB_DELETE); /* another object or event */
}

static void test_listed_twice(void)
{
    /* overlapping pages list one subscription twice: it is kept, never deleted as its own duplicate */
    coord_sub_want_t w[] = {want("c1", 1, N)};
    coord_sub_have_t h[] = {have("wh-1", "c1", 1, N, 1, 1, 0), have("wh-1", "c1", 1, N, 1, 1, 0)};
    coord_sub_plan(w, 1, h, 2, 60);
    CU_ASSERT_STRING_EQUAL(kept(&w[0], h), "wh-1");
    CU_ASSERT_NOT_EQUAL(h[0].action, COORD_SUB_DELETE);
    CU_ASSERT_NOT_EQUAL(h[1].action, COORD_SUB_DELETE);
}

static void test_kind_and_interval_changes(void)
{
    /* native+virtual -> native: the virtual one of c2 is not wanted; c3's interval changed */
    coord_sub_want_t w[] = {want("c1", 1, N), want("c3", 1, V)};
    coord_sub_have_t h[] = {have("wh-1", "c1", 1, V, 1, 1, 60), have("wh-2", "c2", 1, V, 1, 1, 60),
                            have("wh-3", "c3", 1, V, 1, 1, 60)};
    coord_sub_plan(w, 2, h, 3, 15);
    CU_ASSERT_EQUAL(w[0].have, -1);
    CU_ASSERT_EQUAL(w[1].have, -1);
    for (size_t i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(h[i].action, COORD_SUB_DELETE);
}

static void test_unlisted_kind_fits(void)
{
    /* a listing without webhook_type or interval must not make lmsync delete and create again at every pass */
    coord_sub_want_t w[] = {want("c1", 1, N), want("c2", 1, V)};
    coord_sub_have_t h[] = {have("wh-1", "c1", 1, N, 1, 1, 0), have("wh-2", "c2", 1, V, 1, 1, 0)};
    h[0].kind = COORD_SUB_NONE;
    h[1].kind = COORD_SUB_NONE;
    coord_sub_plan(w, 2, h, 2, 60);
    CU_ASSERT_STRING_EQUAL(kept(&w[0], h), "wh-1");
    CU_ASSERT_STRING_EQUAL(kept(&w[1], h), "wh-2");
}

static void test_many(void)
{
    enum { M = 2000 };
    static char ids[M][16], conns[M][16];
    static coord_sub_want_t w[M];
    static coord_sub_have_t h[M];
    for (int i = 0; i < M; i++) {
        snprintf(conns[i], sizeof(conns[i]), "conn-%05d", (i * 7919) % M);
        snprintf(ids[i], sizeof(ids[i]), "wh-%05d", i);
        w[i] = want(conns[i], 1, N);
        h[i] = have(ids[i], conns[M - 1 - i], 1, N, 1, 1, 0); /* listed in another order */
    }
    coord_sub_plan(w, M, h, M, 60);
    int creates = 0, deletes = 0;
    for (int i = 0; i < M; i++) {
        creates += w[i].have < 0;
        deletes += h[i].action == COORD_SUB_DELETE;
        if (w[i].have >= 0)
            CU_ASSERT_STRING_EQUAL(h[w[i].have].conn, w[i].conn);
    }
    CU_ASSERT_EQUAL(creates, 0);
    CU_ASSERT_EQUAL(deletes, 0);
}

static void test_kind_for(void)
{
    char why[160];
    ls_obj_profile_t a;
    memset(&a, 0, sizeof(a));
    CU_ASSERT_EQUAL(coord_sub_kind_for("native", &a, why, sizeof(why)), COORD_SUB_NONE);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "unknown"));
    a.webhooks_known = 1;
    a.webhooks = LS_WH_VIRTUAL;
    CU_ASSERT_EQUAL(coord_sub_kind_for("native", &a, why, sizeof(why)), COORD_SUB_NONE);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "no native lms_activity webhooks"));
    CU_ASSERT_EQUAL(coord_sub_kind_for("native+virtual", &a, why, sizeof(why)), COORD_SUB_VIRTUAL);
    a.webhooks = LS_WH_VIRTUAL | LS_WH_NATIVE;
    CU_ASSERT_EQUAL(coord_sub_kind_for("native", &a, why, sizeof(why)), COORD_SUB_NATIVE);
    CU_ASSERT_EQUAL(coord_sub_kind_for("native+virtual", &a, why, sizeof(why)), COORD_SUB_NATIVE);
    CU_ASSERT_EQUAL(coord_sub_kind_for("off", &a, why, sizeof(why)), COORD_SUB_NONE);
    CU_ASSERT_STRING_EQUAL(why, "webhook.subscribe = off");
    a.webhooks = 0;
    CU_ASSERT_EQUAL(coord_sub_kind_for("native+virtual", &a, why, sizeof(why)), COORD_SUB_NONE);
}

static CU_TestInfo tests[] = {
    {"nothing listed: every want is created", test_nothing_listed},
    {"everything listed: nothing to change", test_idempotent},
    {"foreign subscriptions: never kept, never deleted", test_foreign_untouched},
    {"owned: gone connection, duplicates, other events deleted", test_gone_and_duplicates},
    {"owned of another kind or interval: replaced", test_kind_and_interval_changes},
    {"one subscription listed twice: not deleted", test_listed_twice},
    {"listed without webhook_type or interval: kept", test_unlisted_kind_fits},
    {"2000 subscriptions listed in another order: all kept", test_many},
    {"webhook.subscribe and the profile: the kind wanted", test_kind_for},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"coord_subscribe", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

LS_TEST_MAIN(suites)
