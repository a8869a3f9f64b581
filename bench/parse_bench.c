/*
 * parse_bench.c - the baseline for benchmark (b): jansson alone.
 *
 * Fetches every page of the given connections exactly as the worker does
 * (same limit, same fields), and measures only the CPU time spent in
 * json_loadb() + json_decref() (CLOCK_THREAD_CPUTIME_ID), so the worker's
 * CPU per activity can be set next to the cost of merely parsing the same
 * bytes. Prints one JSON line: {"records":N,"pages":N,"bytes":N,"parse_cpu_s":X}.
 *
 * usage: lmsync-parse-bench BASE_URL TOKEN PAGE_LIMIT CONNECTION...
 */
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
    double cpu = 0;
    for (int i = 4; i < argc; i++) {
        for (long off = 0;; off += limit) {
            snprintf(url, sizeof(url), "%s/lms/%s/activity?limit=%ld&offset=%ld%s", argv[1], argv[i], limit, off, fields);
            b.len = 0;
            curl_easy_setopt(c, CURLOPT_URL, url);
            if (curl_easy_perform(c) != CURLE_OK) {
                fprintf(stderr, "fetch failed: %s\n", url);
                return 1;
            }
            double t0 = thread_cpu_s();
            json_t *arr = json_loadb(b.p, b.len, 0, NULL);
            size_t n = json_array_size(arr);
            json_decref(arr);
            cpu += thread_cpu_s() - t0;
            records += n;
            pages++;
            bytes += b.len;
            if (n < (size_t)limit)
                break;
        }
    }
    printf("{\"records\":%llu,\"pages\":%llu,\"bytes\":%llu,\"parse_cpu_s\":%.6f}\n", records, pages, bytes, cpu);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(b.p);
    return 0;
}
