/*
 * ls_test_activity.h - a normalized activity from a JSON object body, for
 * unit tests: ls_test_rec("\"id\":\"a\",\"is_completed\":true").
 */
#ifndef LS_TEST_ACTIVITY_H
#define LS_TEST_ACTIVITY_H

#include "ls_activity.h"
#include "ls_err.h"

#include <CUnit/CUnit.h>
#include <jansson.h>
#include <stdio.h>

static inline ls_activity_t ls_test_rec(const char *body)
{
    char text[1024], err[256];
    ls_activity_t a;
    snprintf(text, sizeof(text), "{%s}", body);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    CU_ASSERT_PTR_NOT_NULL(j);
    CU_ASSERT_EQUAL(ls_activity_from_json(j, &a, err, sizeof(err)), LS_OK);
    json_decref(j);
    return a;
}

#endif
