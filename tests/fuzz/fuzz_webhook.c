/*
 * fuzz_webhook.c - lmsync-webhook's decision on a delivery (wh_app_check) on
 * arbitrary bodies, and the raw span the signature is computed over: for
 * every body that parses as an object, wh_raw_member() finds "data" exactly
 * when jansson does, and its span parses to the same value.
 */
#include "fuzz.h"
#include "ls_err.h"
#include "wh_app.h"
#include "wh_sig.h"

#include <jansson.h>
#include <string.h>

static const uint8_t SECRET[] = "fuzz-secret";
static wh_app_t *app;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    wh_app_conf_t c = {SECRET, sizeof(SECRET) - 1, WH_SIG_BASE64, 1 << 20, 60000, 0, 1};
    app = wh_app_new(&c);
    ls_strmap_t *known = ls_strmap_new(1);
    ls_strmap_put(known, "conn-1", NULL);
    wh_app_set_connections(app, known);
    return 0;
}

static void check_span(const uint8_t *data, size_t size)
{
    json_t *o = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return;
    }
    size_t off = 0, len = 0;
    json_t *d = json_object_get(o, "data");
    int rc = wh_raw_member((const char *)data, size, "data", &off, &len);
    FUZZ_CHECK((rc == 0) == (d != NULL), "wh_raw_member and jansson disagree on whether 'data' is there");
    if (d && rc == 0) {
        json_t *back = json_loadb((const char *)data + off, len, JSON_DECODE_ANY, NULL);
        FUZZ_CHECK(back && json_equal(back, d), "the raw span of 'data' is not its value");
        json_decref(back);
    }
    json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int64_t now = 1000;
    char why[512];
    ls_job_t job;
    check_span(data, size);
    why[0] = '\0';
    wh_result_t r = wh_app_check(app, "application/json", (const char *)data, size, now += 10, &job, why, sizeof(why));
    FUZZ_CHECK(r < WH__COUNT, "an unknown result");
    FUZZ_CHECK(r == WH_ACCEPTED || why[0] != '\0', "a refusal without a reason");
    FUZZ_CHECK(r == WH_ACCEPTED || job.records == NULL, "a refused delivery left records behind");
    ls_job_release(&job);
    return 0;
}
