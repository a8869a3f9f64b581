/*
 * fuzz_page.c - the worker's page parser (ls_page_parse) and the record
 * normalizer behind it (ls_activity_from_src), on arbitrary response bodies.
 *
 * Properties checked besides "no crash, no sanitizer report":
 *  - a page ls_page accepts, jansson accepts too, with the same element
 *    count and the same accept/reject outcome per element; ls_page may
 *    reject more only for a body holding a raw NUL byte (ls_page.h);
 *  - every accepted record re-encodes (ls_activity_write_json) to JSON that
 *    normalizes back to the same JSON, and packs (ls_state_pack) to bytes
 *    that unpack and re-pack to the identical bytes.
 */
#include "fuzz.h"
#include "ls_activity.h"
#include "ls_err.h"
#include "ls_page.h"
#include "ls_state.h"

#include <jansson.h>
#include <string.h>

static ls_page_t page;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    ls_page_init(&page);
    return 0;
}

static void check_record(const ls_activity_t *a)
{
    static char js[LS_ACTIVITY_JSON_MAX], js2[LS_ACTIVITY_JSON_MAX];
    size_t n = ls_activity_write_json(a, js);
    FUZZ_CHECK(n > 0, "an accepted record does not encode");
    json_t *o = json_loadb(js, n, 0, NULL);
    FUZZ_CHECK(o != NULL, "an encoded record is not JSON");
    ls_activity_t back;
    FUZZ_CHECK(ls_activity_from_json(o, &back, NULL, 0) == LS_OK, "an encoded record is rejected");
    json_decref(o);
    FUZZ_CHECK(ls_activity_write_json(&back, js2) == n && memcmp(js, js2, n) == 0,
               "a record changes through encode + normalize");

    uint8_t st[LS_STATE_MAX], st2[LS_STATE_MAX];
    size_t sn, sn2;
    FUZZ_CHECK(ls_state_pack(a, st, sizeof(st), &sn) == LS_OK, "an accepted record does not pack");
    FUZZ_CHECK(ls_state_unpack(st, sn, &back) == LS_OK, "a packed record does not unpack");
    FUZZ_CHECK(ls_state_pack(&back, st2, sizeof(st2), &sn2) == LS_OK && sn2 == sn && memcmp(st, st2, sn) == 0,
               "a record changes through pack + unpack");
}

/* The jansson reading of the same body: element count and per-element outcome. */
static void check_against_jansson(const uint8_t *data, size_t size, int rc)
{
    json_t *arr = json_loadb((const char *)data, size, 0, NULL);
    int jrc = arr && json_is_array(arr) ? LS_OK : LS_EINVAL;
    if (rc == LS_OK) {
        FUZZ_CHECK(jrc == LS_OK, "ls_page accepts a body jansson rejects");
        FUZZ_CHECK(json_array_size(arr) == page.n, "element counts differ from jansson");
        for (size_t i = 0; i < page.n; i++) {
            ls_activity_t a;
            int erc = ls_activity_from_json(json_array_get(arr, i), &a, NULL, 0);
            FUZZ_CHECK(erc == page.recs[i].rc, "an element's outcome differs from jansson");
        }
    } else if (jrc == LS_OK) {
        FUZZ_CHECK(memchr(data, '\0', size) != NULL, "ls_page rejects a NUL-free body jansson accepts");
    }
    json_decref(arr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    int rc = ls_page_parse(&page, (const char *)data, size, err, sizeof(err));
    if (rc == LS_ENOMEM)
        return 0;
    FUZZ_CHECK(rc == LS_OK || (rc == LS_EINVAL && err[0] && page.n == 0), "a rejected page has no reason");
    check_against_jansson(data, size, rc);
    for (size_t i = 0; i < page.n; i++) {
        const ls_page_rec_t *r = &page.recs[i];
        if (r->rc == LS_OK)
            check_record(&r->act);
        else
            FUZZ_CHECK(r->why[0] != '\0', "a rejected record has no reason");
    }
    return 0;
}
