/*
 * parse_bench.c - the parsing baseline for benchmark (b).
 *
 * Fetches every page of the given connections exactly as the worker does
 * (same limit, same fields) and measures, on the same bytes, the CPU time
 * (CLOCK_THREAD_CPUTIME_ID) of:
 *   parse_cpu_s      json_loadb() + json_decref(): jansson alone;
 *   normalize_cpu_s  json_loadb() + ls_activity_from_json() per element +
 *                    json_decref(): the normalizer the worker used;
 *   page_parse_cpu_s ls_page_parse(): bytes straight to records.
 * so the worker's CPU per activity can be set next to the cost of merely
 * parsing the same bytes. Each page is parsed BENCH_REPEAT times per method
 * (times are divided back) to lift short pages above clock resolution.
 * The two normalizers must agree on every page's record and reject counts,
 * else the bench fails. Prints one JSON line:
 * {"records":N,"pages":N,"bytes":N,"parse_cpu_s":X,"normalize_cpu_s":X,"page_parse_cpu_s":X}.
 *
 * usage: lmsync-parse-bench BASE_URL TOKEN PAGE_LIMIT CONNECTION...
 */
#include "ls_activity.h"
#include "ls_err.h"
#include "ls_page.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct buf {
    char *p;
    size_t len, cap;
} buf_t;

static size_t on_body(char *d, size_t sz, size_t n, void *ud)
{
    buf_t *b = ud;
    size_t k = sz * n;
    if (b->len + k + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1 << 20;
        while (cap < b->len + k + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
            return 0;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, k);
    b->len += k;
    return k;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define BENCH_REPEAT 5

typedef struct timing {
    double jansson, normalize, page;
} timing_t;

/* jansson + ls_activity_from_json, as the worker did; returns the rejects. */
static size_t normalize_jansson(const buf_t *b, size_t *n)
{
    size_t rejected = 0;
    ls_activity_t act;
    char why[256];
    json_t *arr = json_loadb(b->p, b->len, 0, NULL);
    *n = json_array_size(arr);
    for (size_t i = 0; i < *n; i++)
        rejected += ls_activity_from_json(json_array_get(arr, i), &act, why, sizeof(why)) != LS_OK;
    json_decref(arr);
    return rejected;
}

/* Time the three methods on one page; -1 when they disagree. */
static long time_page(const buf_t *b, ls_page_t *pg, timing_t *t)
{
    size_t n = 0, rej_j = 0, rej_p = 0;
    double t0 = thread_cpu_s();
    for (int r = 0; r < BENCH_REPEAT; r++) {
        json_t *arr = json_loadb(b->p, b->len, 0, NULL);
        n = json_array_size(arr);
        json_decref(arr);
    }
    double t1 = thread_cpu_s();
    for (int r = 0; r < BENCH_REPEAT; r++)
        rej_j = normalize_jansson(b, &n);
    double t2 = thread_cpu_s();
    for (int r = 0; r < BENCH_REPEAT; r++)
        ls_page_parse(pg, b->p, b->len, NULL, 0);
    double t3 = thread_cpu_s();
    t->jansson += (t1 - t0) / BENCH_REPEAT;
    t->normalize += (t2 - t1) / BENCH_REPEAT;
    t->page += (t3 - t2) / BENCH_REPEAT;
    for (size_t i = 0; i < pg->n; i++)
        rej_p += pg->recs[i].rc != LS_OK;
    if (pg->n != n || rej_p != rej_j) {
        fprintf(stderr, "ls_page and jansson disagree: %zu/%zu records, %zu/%zu rejected\n", pg->n, n, rej_p, rej_j);
        return -1;
    }
    return (long)n;
}

static const char *fields =
    "&fields=id&fields=course_id&fields=student_id&fields=content_id&fields=is_completed"
    "&fields=progress_percentage&fields=duration_minutes&fields=assigned_grade&fields=started_at"
    "&fields=completed_at&fields=created_at&fields=updated_at";

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s BASE_URL TOKEN PAGE_LIMIT CONNECTION...\n", argv[0]);
        return 2;
    }
    long limit = atol(argv[3]);
    char auth[512], url[2048];
    snprintf(auth, sizeof(auth), "authorization: Bearer %s", argv[2]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, auth);
    buf_t b = {0};
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    unsigned long long records = 0, pages = 0, bytes = 0;
    timing_t t = {0, 0, 0};
    ls_page_t pg;
    ls_page_init(&pg);
    for (int i = 4; i < argc; i++) {
        for (long off = 0;; off += limit) {
            snprintf(url, sizeof(url), "%s/lms/%s/activity?limit=%ld&offset=%ld%s", argv[1], argv[i], limit, off, fields);
            b.len = 0;
            curl_easy_setopt(c, CURLOPT_URL, url);
            if (curl_easy_perform(c) != CURLE_OK) {
                fprintf(stderr, "fetch failed: %s\n", url);
                return 1;
            }
            long n = time_page(&b, &pg, &t);
            if (n < 0) {
                fprintf(stderr, "page: %s\n", url);
                return 1;
            }
            records += (unsigned long long)n;
            pages++;
            bytes += b.len;
            if (n < limit)
                break;
        }
    }
    printf("{\"records\":%llu,\"pages\":%llu,\"bytes\":%llu,\"parse_cpu_s\":%.6f,\"normalize_cpu_s\":%.6f,"
           "\"page_parse_cpu_s\":%.6f}\n", records, pages, bytes, t.jansson, t.normalize, t.page);
    ls_page_release(&pg);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(b.p);
    return 0;
}
