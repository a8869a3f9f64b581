/*
 * fuzz_board.c - lmsync-board's course table and change feed
 * (board_table_course, board_table_change) on arbitrary records.
 *
 * Input layout: a sequence of records, each: one flags byte (bit0 = a
 * change event, else a course record; bit1 = tombstone / no value), then
 * the key and the value, each preceded by one length byte and cut at the
 * end of the input. After the sequence: the course view is sorted by
 * (connection_id, course_id) without repeats, agrees with the counters,
 * and the snapshot is one JSON object; the feed holds at most its bound.
 */
#include "fuzz.h"
#include "board_table.h"
#include "ls_err.h"

#include <string.h>

#define MAX_CHANGES 4

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet();
    return 0;
}

/* Next length-prefixed slice of *p..end. */
static const char *slice(const uint8_t **p, const uint8_t *end, size_t *len)
{
    size_t n = *p < end ? *(*p)++ : 0;
    if (n > (size_t)(end - *p))
        n = (size_t)(end - *p);
    const char *s = (const char *)*p;
    *p += n;
    *len = n;
    return s;
}

static void apply(board_table_t *t, uint8_t flags, const char *key, size_t klen, const char *val, size_t vlen)
{
    const char *name = NULL;
    json_t *ev = NULL;
    char why[256];
    const char *v = (flags & 2) ? NULL : val;
    int rc = (flags & 1) ? board_table_change(t, v, vlen, NULL, &name, &ev, why, sizeof(why))
                         : board_table_course(t, key, klen, v, vlen, &name, &ev, why, sizeof(why));
    FUZZ_CHECK(rc == 1 || rc == 0 || rc == LS_EINVAL || rc == LS_ENOMEM, "unexpected return value");
    FUZZ_CHECK((rc == 1) == (ev != NULL), "an event exactly when something changed");
    FUZZ_CHECK(!ev || json_is_object(ev), "the event is a JSON object");
    json_decref(ev);
}

static void check(const board_table_t *t)
{
    board_stats_t st;
    board_table_stats(t, &st);
    json_t *courses = board_table_courses(t);
    FUZZ_CHECK(json_array_size(courses) == st.courses, "the course view agrees with the counter");
    for (size_t i = 1; i < json_array_size(courses); i++) {
        const json_t *a = json_array_get(courses, i - 1), *b = json_array_get(courses, i);
        int c = strcmp(json_string_value(json_object_get(a, "connection_id")),
                       json_string_value(json_object_get(b, "connection_id")));
        if (c == 0)
            c = strcmp(json_string_value(json_object_get(a, "course_id")), json_string_value(json_object_get(b, "course_id")));
        FUZZ_CHECK(c < 0, "courses sorted by (connection_id, course_id), no repeats");
    }
    json_decref(courses);
    FUZZ_CHECK(st.changes <= MAX_CHANGES, "the feed keeps at most its bound");
    json_t *snap = board_table_snapshot(t);
    char *s = json_dumps(snap, JSON_COMPACT);
    json_t *back = s ? json_loads(s, 0, NULL) : NULL;
    FUZZ_CHECK(json_is_object(back), "the snapshot is one JSON object");
    json_decref(back);
    free(s);
    json_decref(snap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    board_table_t *t = board_table_new(MAX_CHANGES);
    if (!t)
        return 0;
    const uint8_t *p = data, *end = data + size;
    while (p < end) {
        uint8_t flags = *p++;
        size_t klen, vlen;
        const char *key = slice(&p, end, &klen), *val = slice(&p, end, &vlen);
        apply(t, flags, key, klen, val, vlen);
    }
    check(t);
    board_table_destroy(t);
    return 0;
}
