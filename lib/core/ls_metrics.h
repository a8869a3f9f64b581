/*
 * ls_metrics.h - counters, gauges and histograms that several processes
 * update and one process renders in Prometheus' text format.
 *
 * The prefork worker writes metrics in every child and serves them from the
 * master (nginx's status module works the same way): ls_metrics_init()
 * maps one shared anonymous region before fork, with one slot per process.
 * A process writes only its own slot, with relaxed atomics, so updates cost
 * a few nanoseconds and never take a lock; the renderer sums (or takes the
 * maximum of) the slots. Nothing here blocks: a scrape reads memory.
 *
 * The catalog is a table of ls_metric_def_t rows given at init. Label
 * cardinality is bounded by construction: a label dimension is either a
 * fixed list of values, a partition number below LS_METRICS_MAX_PARTITIONS,
 * or a "key" (an integration type) interned in a table of
 * LS_METRICS_MAX_KEYS names; key LS_METRICS_OTHER ("other") takes every
 * name past the table's end. Connection ids are never labels.
 */
#ifndef LS_METRICS_H
#define LS_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LS_METRICS_MAX_KEYS       64
#define LS_METRICS_KEY_LEN        48
#define LS_METRICS_OTHER          0   /* key index of "other" */
#define LS_METRICS_MAX_PARTITIONS 256
#define LS_METRICS_BUCKETS        12  /* histogram buckets, +Inf included */

typedef enum { LS_MT_COUNTER, LS_MT_GAUGE, LS_MT_HISTOGRAM } ls_mtype_t;

/* How slots combine: counters and histograms always add. */
typedef enum { LS_AGG_SUM, LS_AGG_MAX } ls_magg_t;

typedef enum {
    LS_DIM_NONE = 0,
    LS_DIM_LIST,      /* values: a NULL-terminated list */
    LS_DIM_KEY,       /* interned key (integration type) */
    LS_DIM_PARTITION, /* 0 .. LS_METRICS_MAX_PARTITIONS-1 */
} ls_mdim_kind_t;

typedef struct ls_mdim {
    ls_mdim_kind_t kind;
    const char *label;           /* label name */
    const char *const *values;   /* LS_DIM_LIST */
} ls_mdim_t;

typedef struct ls_metric_def {
    const char *name;  /* full name, e.g. lmsync_worker_jobs_total */
    const char *help;
    ls_mtype_t type;
    ls_magg_t agg;     /* gauges: how the slots combine */
    ls_mdim_t dim[2];
    const double *bounds; /* histograms: LS_METRICS_BUCKETS - 1 upper bounds in seconds, ascending;
                             NULL = ls_metrics_bucket_bounds (request durations) */
} ls_metric_def_t;

/*
 * Map the shared region for n_slots processes over the catalog defs[0..n)
 * (kept by reference: a static table). Call once, before fork. The calling
 * process uses slot 0 until ls_metrics_use_slot().
 * @return 0, or -1 with errno (mmap failed or the catalog is malformed).
 */
int ls_metrics_init(const ls_metric_def_t *defs, size_t n_defs, size_t n_slots);

/** Unmap (tests). */
void ls_metrics_free(void);

/** Make this process write slot i (a forked child) and clear the slot. */
void ls_metrics_use_slot(size_t i);

/** Index of an interned key (integration type): LS_METRICS_OTHER when the table is full or name is empty. */
int ls_metrics_key(const char *name);

/** counter += v. i0/i1 index the metric's dimensions (0 where it has none). */
void ls_metric_add(int metric, int i0, int i1, uint64_t v);

/** gauge = v for this process's slot. */
void ls_metric_set(int metric, int i0, int i1, int64_t v);

/** Remove this process's value of a gauge series (it is no longer rendered from this slot). */
void ls_metric_unset(int metric, int i0, int i1);

/** Histogram observation of seconds (the bounds are the row's, else ls_metrics_bucket_bounds). */
void ls_metric_observe(int metric, int i0, int i1, double seconds);

extern const double ls_metrics_bucket_bounds[LS_METRICS_BUCKETS - 1];

/* ---- process liveness, per slot (the ops endpoint reads them) ---- */

/* What a process says of itself with its heartbeat. */
typedef enum {
    LS_PROC_STARTING = 0, /* not ready yet: connecting, joining the group */
    LS_PROC_READY,        /* serving */
    LS_PROC_RESTORING,    /* an assigned partition is being restored from the changelog */
    LS_PROC_DRAINING,     /* stopping: finishing jobs in flight */
    LS_PROC_NO_KAFKA,     /* the broker does not answer */
} ls_proc_state_t;

/** Name of a process state ("ready", "restoring", ...). */
const char *ls_proc_state_name(ls_proc_state_t s);

/** This process's loop is alive now (monotonic ms), in state st. */
void ls_metrics_heartbeat(int64_t now_ms, ls_proc_state_t st);

/** Slot i's pid (set at ls_metrics_use_slot; 0 = never used), last heartbeat (monotonic ms, 0 = never) and state. */
void ls_metrics_slot_state(size_t i, pid_t *pid, int64_t *heartbeat_ms, ls_proc_state_t *st);

/** Number of slots; 0 before init. */
size_t ls_metrics_slots(void);

/**
 * Render every metric in Prometheus' text format 0.0.4 into a malloc'd
 * NUL-terminated buffer (*out, caller frees), combining the slots.
 * @return its length, or -1 on allocation failure.
 */
long ls_metrics_render(char **out);

#endif
