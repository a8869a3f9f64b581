/*
 * event_bench.c - CPU cost of building one change event (ls_event_build).
 *
 * Builds N events from a fixed set of realistic record pairs, as an initial
 * sync (created) and later polls (progressed, completed, updated, removed)
 * produce them, and measures thread CPU time (CLOCK_THREAD_CPUTIME_ID) of:
 *   build_ns    ls_event_build() + ls_event_release(): the whole event
 *               (attributes, id, JSON payload) as the worker builds it;
 *   jansson_ns  the payload alone built the way ls_event_build did before
 *               the direct writer: a json_t tree from ls_activity_to_json()
 *               etc., json_dumps(JSON_SORT_KEYS | JSON_COMPACT), free();
 *   current_ns  ls_current_build() + ls_current_release(): the current
 *               record the worker adds for the same change (the after
 *               state, or a tombstone for removed).
 * Each method runs RUNS times, interleaved, and the median per event is
 * printed. Before timing, every event's value is compared with the jansson
 * payload; a difference fails the bench (exit 1). It uses only the public
 * API, so the same file measures an older ls_event.c for a before/after.
 * Prints one JSON line:
 * {"events":N,"runs":5,"build_ns":X,"jansson_payload_ns":X,"value_bytes":X,
 *  "current_ns":X,"current_bytes":X}.
 *
 * usage: lmsync-event-bench [EVENTS]   (default 200000)
 */
#include "ls_activity.h"
#include "ls_current.h"
#include "ls_diff.h"
#include "ls_err.h"
#include "ls_event.h"
#include "ls_time.h"

#include <jansson.h>
#include "ls_event_ref.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAIRS 4096
#define RUNS 5

typedef struct pair {
    ls_activity_t before, after;
    const ls_activity_t *b, *a; /* NULL for created / removed */
    ls_diff_t d;
} pair_t;

static uint64_t rng = UINT64_C(0x5eed);

static unsigned rnd(unsigned n)
{
    rng = rng * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return (unsigned)((rng >> 33) % n);
}

/* A record as the sandbox's profiles send them: short ASCII ids, a grade
 * sometimes, integral or fractional progress, millisecond instants. */
static void make_record(ls_activity_t *a, unsigned i)
{
    ls_activity_clear(a);
    snprintf(a->id, sizeof(a->id), "act-%08u", i);
    snprintf(a->course_id, sizeof(a->course_id), "crs-%05u", rnd(2000));
    snprintf(a->student_id, sizeof(a->student_id), "stu-%06u", rnd(100000));
    snprintf(a->content_id, sizeof(a->content_id), "cnt-%05u", rnd(50000));
    for (int f = 0; f < LS_F__COUNT; f++)
        a->pres[f] = LS_PRESENT;
    if (rnd(3) == 0)
        snprintf(a->assigned_grade, sizeof(a->assigned_grade), "%s", rnd(2) ? "A" : "B+");
    else
        a->pres[LS_F_ASSIGNED_GRADE] = LS_NULL;
    a->is_completed = false;
    a->progress_percentage = rnd(2) ? (double)rnd(100) : rnd(300) / 3.0;
    a->duration_minutes = rnd(4) ? (double)rnd(600) : rnd(6000) / 7.0;
    int64_t t0 = INT64_C(1790000000000) + (int64_t)rnd(1000000) * 997;
    a->created_at = t0;
    a->started_at = t0 + rnd(86400) * INT64_C(1000);
    a->pres[LS_F_COMPLETED_AT] = LS_NULL;
    a->updated_at = a->started_at + rnd(86400000);
}

static void make_pair(pair_t *p, unsigned i)
{
    make_record(&p->after, i);
    p->before = p->after;
    p->b = &p->before;
    p->a = &p->after;
    switch (rnd(8)) {
    case 0: case 1: case 2: case 3: /* an initial sync creates most events */
        p->b = NULL;
        break;
    case 4:
        p->after.progress_percentage = p->before.progress_percentage + 1.5;
        break;
    case 5:
        p->after.is_completed = true;
        p->after.progress_percentage = 100.0;
        p->after.pres[LS_F_COMPLETED_AT] = LS_PRESENT;
        p->after.completed_at = p->after.updated_at + 1234;
        break;
    case 6:
        snprintf(p->after.assigned_grade, sizeof(p->after.assigned_grade), "C");
        p->after.pres[LS_F_ASSIGNED_GRADE] = LS_PRESENT;
        break;
    default:
        p->a = NULL;
        break;
    }
    p->after.updated_at += 60000;
    ls_diff_compute(p->b, p->a, &p->d);
}

/* The pre-direct-writer payload (tests/unit/ls_event_ref.h). */
static char *jansson_payload(const ls_event_ctx_t *ctx, const pair_t *p, const char *at)
{
    return ref_payload(ctx, p->b, p->a, &p->d, at);
}

static double thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

/* ns per event of ls_event_build + release; -1 on a build error. */
static double run_build(const ls_event_ctx_t *ctx, const pair_t *pairs, long n, size_t *bytes)
{
    char err[256];
    size_t sum = 0;
    double t0 = thread_cpu_ns();
    for (long i = 0; i < n; i++) {
        const pair_t *p = &pairs[i % PAIRS];
        ls_event_t ev;
        if (ls_event_build(ctx, p->b, p->a, &p->d, &ev, err, sizeof(err)) != LS_OK) {
            fprintf(stderr, "ls_event_build: %s\n", err);
            return -1;
        }
        sum += ev.value_len;
        ls_event_release(&ev);
    }
    double t1 = thread_cpu_ns();
    *bytes = sum;
    return (t1 - t0) / (double)n;
}

/* ns per change of ls_current_build + release (the after state; a tombstone for removed). */
static double run_current(const ls_event_ctx_t *ctx, const pair_t *pairs, long n, size_t *bytes)
{
    char err[256];
    size_t sum = 0;
    double t0 = thread_cpu_ns();
    for (long i = 0; i < n; i++) {
        const pair_t *p = &pairs[i % PAIRS];
        ls_current_t cur;
        if (ls_current_build(ctx, p->a ? p->a->id : p->b->id, p->a, NULL, &cur, err, sizeof(err)) != LS_OK) {
            fprintf(stderr, "ls_current_build: %s\n", err);
            return -1;
        }
        sum += cur.value_len;
        ls_current_release(&cur);
    }
    double t1 = thread_cpu_ns();
    *bytes = sum;
    return (t1 - t0) / (double)n;
}

static double run_jansson(const ls_event_ctx_t *ctx, const pair_t *pairs, long n, const char *at,
                          size_t *bytes)
{
    size_t sum = 0;
    double t0 = thread_cpu_ns();
    for (long i = 0; i < n; i++) {
        char *v = jansson_payload(ctx, &pairs[i % PAIRS], at);
        if (v == NULL)
            return -1;
        sum += strlen(v);
        free(v);
    }
    double t1 = thread_cpu_ns();
    *bytes = sum;
    return (t1 - t0) / (double)n;
}

/* Every pair's event value must equal the jansson payload byte for byte. */
static int verify(const ls_event_ctx_t *ctx, const pair_t *pairs, const char *at)
{
    for (unsigned i = 0; i < PAIRS; i++) {
        ls_event_t ev;
        char err[256];
        char *want = jansson_payload(ctx, &pairs[i], at);
        int rc = ls_event_build(ctx, pairs[i].b, pairs[i].a, &pairs[i].d, &ev, err, sizeof(err));
        int same = rc == LS_OK && want != NULL && strcmp(ev.value, want) == 0;
        if (!same)
            fprintf(stderr, "pair %u differs:\n  event:   %s\n  jansson: %s\n", i,
                    rc == LS_OK ? ev.value : err, want != NULL ? want : "(null)");
        free(want);
        if (rc == LS_OK)
            ls_event_release(&ev);
        if (!same)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    if (n <= 0) {
        fprintf(stderr, "usage: %s [EVENTS]\n", argv[0]);
        return 2;
    }
    pair_t *pairs = calloc(PAIRS, sizeof(*pairs));
    if (pairs == NULL)
        return 1;
    for (unsigned i = 0; i < PAIRS; i++)
        make_pair(&pairs[i], i);
    ls_event_ctx_t ctx = {"6650f3a2b1c4d5e6f7a8b9c0", "moodle", "tenant-42", "full",
                          "job-6650f3a2-0001", INT64_C(1795788600123), NULL};
    char at[LS_TIME_BUFSZ];
    ls_time_format(ctx.observed_at_ms, at);
    if (verify(&ctx, pairs, at) != 0)
        return 1;
    double build[RUNS], jans[RUNS], cur[RUNS];
    size_t bytes_b = 0, bytes_j = 0, bytes_c = 0;
    for (int r = 0; r < RUNS; r++) {
        build[r] = run_build(&ctx, pairs, n, &bytes_b);
        jans[r] = run_jansson(&ctx, pairs, n, at, &bytes_j);
        cur[r] = run_current(&ctx, pairs, n, &bytes_c);
        if (build[r] < 0 || jans[r] < 0 || cur[r] < 0 || bytes_b != bytes_j) {
            fprintf(stderr, "run %d failed (bytes %zu vs %zu)\n", r, bytes_b, bytes_j);
            return 1;
        }
    }
    printf("{\"events\":%ld,\"runs\":%d,\"build_ns\":%.1f,\"jansson_payload_ns\":%.1f,"
           "\"value_bytes\":%.1f,\"current_ns\":%.1f,\"current_bytes\":%.1f}\n",
           n, RUNS, median(build, RUNS), median(jans, RUNS), (double)bytes_b / (double)n, median(cur, RUNS),
           (double)bytes_c / (double)n);
    free(pairs);
    return 0;
}
