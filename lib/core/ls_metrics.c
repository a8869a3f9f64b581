/*
 * ls_metrics.c - the shared metric region (ls_metrics.h).
 *
 * Layout of the one anonymous shared mapping:
 *   header | key table [LS_METRICS_MAX_KEYS] | slot 0 | slot 1 | ...
 * A slot is {pid, heartbeat, ready, cells[n_cells]}. Every series of a
 * metric owns consecutive cells: a counter one, a gauge two ({set, value}),
 * a histogram LS_METRICS_BUCKETS + 2 (bucket counts, sum in microseconds,
 * count). offsets[m] is where metric m's first series starts; series are
 * numbered i0 * card(dim1) + i1.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "ls_metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const double ls_metrics_bucket_bounds[LS_METRICS_BUCKETS - 1] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                                 0.5,   1,    2.5,   5,    10};

enum { KEY_FREE = 0, KEY_CLAIMED = 1, KEY_READY = 2 };

typedef struct key_entry {
    uint32_t state;
    char name[LS_METRICS_KEY_LEN];
} key_entry_t;

typedef struct slot_head {
    int64_t pid, heartbeat_ms, ready, pad; /* ready: an ls_proc_state_t */
} slot_head_t;

static struct {
    const ls_metric_def_t *defs;
    size_t n_defs, n_slots, n_cells, slot_bytes, map_bytes;
    size_t *offsets;
    key_entry_t *keys;
    unsigned char *slots;
    size_t self;
    void *map;
} R;

static size_t card(const ls_mdim_t *d)
{
    size_t n = 0;
    switch (d->kind) {
    case LS_DIM_NONE: return 1;
    case LS_DIM_KEY: return LS_METRICS_MAX_KEYS;
    case LS_DIM_PARTITION: return LS_METRICS_MAX_PARTITIONS;
    case LS_DIM_LIST:
        while (d->values && d->values[n])
            n++;
        return n;
    }
    return 0;
}

static size_t cells_per_series(ls_mtype_t t)
{
    return t == LS_MT_COUNTER ? 1 : t == LS_MT_GAUGE ? 2 : LS_METRICS_BUCKETS + 2;
}

static slot_head_t *slot_head(size_t i) { return (slot_head_t *)(void *)(R.slots + i * R.slot_bytes); }

static uint64_t *slot_cells(size_t i) { return (uint64_t *)(void *)(R.slots + i * R.slot_bytes + sizeof(slot_head_t)); }

int ls_metrics_init(const ls_metric_def_t *defs, size_t n_defs, size_t n_slots)
{
    if (R.map || !defs || n_slots == 0) {
        errno = EINVAL;
        return -1;
    }
    size_t *offsets = calloc(n_defs, sizeof(*offsets)), n_cells = 0;
    if (!offsets)
        return -1;
    for (size_t m = 0; m < n_defs; m++) {
        size_t c0 = card(&defs[m].dim[0]), c1 = card(&defs[m].dim[1]);
        if (c0 == 0 || c1 == 0 || (defs[m].dim[0].kind == LS_DIM_NONE && defs[m].dim[1].kind != LS_DIM_NONE)) {
            free(offsets);
            errno = EINVAL;
            return -1;
        }
        offsets[m] = n_cells;
        n_cells += c0 * c1 * cells_per_series(defs[m].type);
    }
    size_t keys_bytes = LS_METRICS_MAX_KEYS * sizeof(key_entry_t);
    size_t slot_bytes = sizeof(slot_head_t) + n_cells * sizeof(uint64_t);
    size_t map_bytes = keys_bytes + n_slots * slot_bytes;
    void *map = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        free(offsets);
        return -1;
    }
    R.defs = defs;
    R.n_defs = n_defs;
    R.n_slots = n_slots;
    R.n_cells = n_cells;
    R.slot_bytes = slot_bytes;
    R.map_bytes = map_bytes;
    R.offsets = offsets;
    R.map = map;
    R.keys = map;
    R.slots = (unsigned char *)map + keys_bytes;
    snprintf(R.keys[LS_METRICS_OTHER].name, LS_METRICS_KEY_LEN, "other");
    R.keys[LS_METRICS_OTHER].state = KEY_READY;
    ls_metrics_use_slot(0);
    return 0;
}

void ls_metrics_free(void)
{
    if (R.map)
        munmap(R.map, R.map_bytes);
    free(R.offsets);
    memset(&R, 0, sizeof(R));
}

void ls_metrics_use_slot(size_t i)
{
    if (!R.map || i >= R.n_slots)
        return;
    R.self = i;
    memset(slot_cells(i), 0, R.n_cells * sizeof(uint64_t));
    slot_head_t *h = slot_head(i);
    __atomic_store_n(&h->ready, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&h->heartbeat_ms, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&h->pid, (int64_t)getpid(), __ATOMIC_RELEASE);
}

size_t ls_metrics_slots(void) { return R.n_slots; }

int ls_metrics_key(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (!R.map || len == 0 || len >= LS_METRICS_KEY_LEN)
        return LS_METRICS_OTHER;
    for (int i = 1; i < LS_METRICS_MAX_KEYS; i++) {
        key_entry_t *k = &R.keys[i];
        uint32_t st = __atomic_load_n(&k->state, __ATOMIC_ACQUIRE);
        if (st == KEY_FREE) {
            uint32_t expect = KEY_FREE;
            if (__atomic_compare_exchange_n(&k->state, &expect, KEY_CLAIMED, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                memcpy(k->name, name, len + 1);
                __atomic_store_n(&k->state, KEY_READY, __ATOMIC_RELEASE);
                return i;
            }
            st = expect;
        }
        while (st == KEY_CLAIMED) /* another process is writing this entry's name: a few stores */
            st = __atomic_load_n(&k->state, __ATOMIC_ACQUIRE);
        if (strcmp(k->name, name) == 0)
            return i;
    }
    return LS_METRICS_OTHER;
}

/* The first cell of series (i0, i1) of metric m in this process's slot; NULL when out of range. */
static uint64_t *cell(int m, int i0, int i1)
{
    if (!R.map || m < 0 || (size_t)m >= R.n_defs)
        return NULL;
    const ls_metric_def_t *d = &R.defs[m];
    size_t c0 = card(&d->dim[0]), c1 = card(&d->dim[1]);
    if (i0 < 0 || i1 < 0 || (size_t)i0 >= c0 || (size_t)i1 >= c1)
        return NULL;
    size_t series = (size_t)i0 * c1 + (size_t)i1;
    return slot_cells(R.self) + R.offsets[m] + series * cells_per_series(d->type);
}

void ls_metric_add(int metric, int i0, int i1, uint64_t v)
{
    uint64_t *c = cell(metric, i0, i1);
    if (c && R.defs[metric].type == LS_MT_COUNTER)
        __atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

void ls_metric_set(int metric, int i0, int i1, int64_t v)
{
    uint64_t *c = cell(metric, i0, i1);
    if (!c || R.defs[metric].type != LS_MT_GAUGE)
        return;
    __atomic_store_n(&c[1], (uint64_t)v, __ATOMIC_RELAXED);
    __atomic_store_n(&c[0], 1, __ATOMIC_RELEASE);
}

void ls_metric_unset(int metric, int i0, int i1)
{
    uint64_t *c = cell(metric, i0, i1);
    if (c && R.defs[metric].type == LS_MT_GAUGE)
        __atomic_store_n(&c[0], 0, __ATOMIC_RELEASE);
}

static const double *bounds_of(int metric)
{
    return R.defs[metric].bounds ? R.defs[metric].bounds : ls_metrics_bucket_bounds;
}

void ls_metric_observe(int metric, int i0, int i1, double seconds)
{
    uint64_t *c = cell(metric, i0, i1);
    if (!c || R.defs[metric].type != LS_MT_HISTOGRAM)
        return;
    if (!(seconds >= 0)) /* also NaN */
        seconds = 0;
    int b = 0;
    const double *bounds = bounds_of(metric);
    while (b < LS_METRICS_BUCKETS - 1 && seconds > bounds[b])
        b++;
    double us = seconds * 1e6;
    __atomic_fetch_add(&c[b], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&c[LS_METRICS_BUCKETS], us > 1e18 ? (uint64_t)1e18 : (uint64_t)us, __ATOMIC_RELAXED);
    __atomic_fetch_add(&c[LS_METRICS_BUCKETS + 1], 1, __ATOMIC_RELAXED);
}

const char *ls_proc_state_name(ls_proc_state_t s)
{
    static const char *const names[] = {"starting", "ready", "restoring", "draining", "kafka unreachable"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

void ls_metrics_heartbeat(int64_t now_ms, ls_proc_state_t st)
{
    if (!R.map)
        return;
    slot_head_t *h = slot_head(R.self);
    __atomic_store_n(&h->ready, (int64_t)st, __ATOMIC_RELAXED);
    __atomic_store_n(&h->heartbeat_ms, now_ms, __ATOMIC_RELEASE);
}

void ls_metrics_slot_state(size_t i, pid_t *pid, int64_t *heartbeat_ms, ls_proc_state_t *st)
{
    *pid = 0;
    *heartbeat_ms = 0;
    *st = LS_PROC_STARTING;
    if (!R.map || i >= R.n_slots)
        return;
    slot_head_t *h = slot_head(i);
    *pid = (pid_t)__atomic_load_n(&h->pid, __ATOMIC_ACQUIRE);
    *heartbeat_ms = __atomic_load_n(&h->heartbeat_ms, __ATOMIC_ACQUIRE);
    *st = (ls_proc_state_t)__atomic_load_n(&h->ready, __ATOMIC_RELAXED);
}

/* ---- rendering ---- */

typedef struct outbuf {
    char *p;
    size_t len, cap;
    int oom;
} outbuf_t;

static void out_grow(outbuf_t *o, size_t need)
{
    if (o->oom || o->len + need + 1 <= o->cap)
        return;
    size_t cap = o->cap ? o->cap : 16384;
    while (cap < o->len + need + 1)
        cap *= 2;
    char *p = realloc(o->p, cap);
    if (!p) {
        o->oom = 1;
        return;
    }
    o->p = p;
    o->cap = cap;
}

static void out_raw(outbuf_t *o, const char *s, size_t n)
{
    out_grow(o, n);
    if (o->oom)
        return;
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void out_str(outbuf_t *o, const char *s) { out_raw(o, s, strlen(s)); }

static void out_fmt(outbuf_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_fmt(outbuf_t *o, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0)
        out_raw(o, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* A label value, escaped as the text format requires (\\, \", \n). */
static void out_label_value(outbuf_t *o, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            out_raw(o, "\\", 1);
        if (*v == '\n')
            out_raw(o, "\\n", 2);
        else
            out_raw(o, v, 1);
    }
}

/* Whether index i of dimension d names a series that exists (a key in the table). */
static int dim_value(const ls_mdim_t *d, int i, char *buf, size_t bufsz)
{
    switch (d->kind) {
    case LS_DIM_NONE: return 1;
    case LS_DIM_LIST: snprintf(buf, bufsz, "%s", d->values[i]); return 1;
    case LS_DIM_PARTITION: snprintf(buf, bufsz, "%d", i); return 1;
    case LS_DIM_KEY:
        if (__atomic_load_n(&R.keys[i].state, __ATOMIC_ACQUIRE) != KEY_READY)
            return 0;
        snprintf(buf, bufsz, "%s", R.keys[i].name);
        return 1;
    }
    return 0;
}

/* "{a="x",b="y"" without the closing brace; extra adds one more label (le). */
static void out_labels(outbuf_t *o, const ls_metric_def_t *d, const char *v0, const char *v1, const char *extra_name,
                       const char *extra)
{
    int n = 0;
    const char *vals[2] = {v0, v1};
    for (int k = 0; k < 2; k++) {
        if (d->dim[k].kind == LS_DIM_NONE)
            continue;
        out_str(o, n++ ? "," : "{");
        out_str(o, d->dim[k].label);
        out_str(o, "=\"");
        out_label_value(o, vals[k]);
        out_str(o, "\"");
    }
    if (extra_name) {
        out_str(o, n++ ? "," : "{");
        out_str(o, extra_name);
        out_str(o, "=\"");
        out_str(o, extra);
        out_str(o, "\"");
    }
    if (n)
        out_str(o, "}");
}

static uint64_t load(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

static void render_series(outbuf_t *o, const ls_metric_def_t *d, size_t off, const char *v0, const char *v1)
{
    if (d->type == LS_MT_COUNTER) {
        uint64_t sum = 0;
        for (size_t s = 0; s < R.n_slots; s++)
            sum += load(slot_cells(s) + off);
        if (sum == 0 && d->dim[0].kind == LS_DIM_PARTITION)
            return;
        out_str(o, d->name);
        out_labels(o, d, v0, v1, NULL, NULL);
        out_fmt(o, " %llu\n", (unsigned long long)sum);
    } else if (d->type == LS_MT_GAUGE) {
        int any = 0;
        int64_t acc = 0;
        for (size_t s = 0; s < R.n_slots; s++) {
            const uint64_t *c = slot_cells(s) + off;
            if (!__atomic_load_n(&c[0], __ATOMIC_ACQUIRE))
                continue;
            int64_t v = (int64_t)load(&c[1]);
            acc = !any ? v : d->agg == LS_AGG_MAX ? (v > acc ? v : acc) : acc + v;
            any = 1;
        }
        if (!any)
            return;
        out_str(o, d->name);
        out_labels(o, d, v0, v1, NULL, NULL);
        out_fmt(o, " %lld\n", (long long)acc);
    } else {
        uint64_t b[LS_METRICS_BUCKETS + 2] = {0};
        for (size_t s = 0; s < R.n_slots; s++)
            for (int k = 0; k < LS_METRICS_BUCKETS + 2; k++)
                b[k] += load(slot_cells(s) + off + k);
        uint64_t cum = 0;
        char le[32];
        for (int k = 0; k < LS_METRICS_BUCKETS; k++) {
            cum += b[k];
            if (k < LS_METRICS_BUCKETS - 1)
                snprintf(le, sizeof(le), "%g", (d->bounds ? d->bounds : ls_metrics_bucket_bounds)[k]);
            else
                snprintf(le, sizeof(le), "+Inf");
            out_str(o, d->name);
            out_str(o, "_bucket");
            out_labels(o, d, v0, v1, "le", le);
            out_fmt(o, " %llu\n", (unsigned long long)cum);
        }
        out_str(o, d->name);
        out_str(o, "_sum");
        out_labels(o, d, v0, v1, NULL, NULL);
        out_fmt(o, " %.6f\n", (double)b[LS_METRICS_BUCKETS] / 1e6);
        out_str(o, d->name);
        out_str(o, "_count");
        out_labels(o, d, v0, v1, NULL, NULL);
        out_fmt(o, " %llu\n", (unsigned long long)b[LS_METRICS_BUCKETS + 1]);
    }
}

long ls_metrics_render(char **out)
{
    outbuf_t o = {0};
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    out_grow(&o, 0);
    for (size_t m = 0; R.map && m < R.n_defs; m++) {
        const ls_metric_def_t *d = &R.defs[m];
        out_fmt(&o, "# HELP %s ", d->name);
        out_str(&o, d->help);
        out_fmt(&o, "\n# TYPE %s %s\n", d->name, type_names[d->type]);
        size_t c0 = card(&d->dim[0]), c1 = card(&d->dim[1]), per = cells_per_series(d->type);
        char v0[LS_METRICS_KEY_LEN + 8], v1[LS_METRICS_KEY_LEN + 8];
        for (size_t i = 0; i < c0; i++) {
            if (!dim_value(&d->dim[0], (int)i, v0, sizeof(v0)))
                continue;
            for (size_t k = 0; k < c1; k++)
                if (dim_value(&d->dim[1], (int)k, v1, sizeof(v1)))
                    render_series(&o, d, R.offsets[m] + (i * c1 + k) * per, v0, v1);
        }
    }
    if (o.oom || !o.p) {
        free(o.p);
        *out = NULL;
        return -1;
    }
    *out = o.p;
    return (long)o.len;
}
