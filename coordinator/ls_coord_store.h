/*
 * ls_coord_store.h - the schedule record of one scope, as persisted on the
 * compacted topic <prefix>.coordinator.schedule (key = scope key).
 *
 * Value: compact JSON, versioned:
 *   {"v":1,"next_due":MS,"last_full":MS,"since_full":N,"records":N,
 *    "failures":N,"job_due":MS,"job_since":MS,"last_ok":MS,"epoch":N,"ival":MS,"requests":N}
 * (times in ms since the epoch; 0 = none; records -1 = unknown). "epoch" is
 * the writer's leader epoch (coordinator.leader_election), written only
 * when there is one; absent (records of a single coordinator, or written
 * before it existed) = 0. "ival" (the adaptive interval, 0 = not set) and
 * "requests" (the last job's request count, 0 = unknown) are optional the
 * same way: records written before them decode with 0. A tombstone
 * (no value) says the scope is gone. An unknown version or a member of the
 * wrong type is an error: the record is skipped and the scope starts fresh.
 */
#ifndef LS_COORD_STORE_H
#define LS_COORD_STORE_H

#include <stddef.h>
#include <stdint.h>

#define LS_COORD_SCHED_VERSION 1

typedef struct ls_coord_sched_rec {
    int64_t next_due_ms, last_full_ms, since_full, records, failures, job_due_ms, job_since_ms, last_ok_ms;
    int64_t epoch;  /* the writer's leader epoch (0 = none) */
    int64_t ival_ms, requests; /* polling.adaptive's desired interval, the last job's request count (0 = none) */
} ls_coord_sched_rec_t;

/** Encode into buf (at most 400 bytes are needed). @return the length, or -1 when it does not fit. */
int ls_coord_sched_encode(const ls_coord_sched_rec_t *r, char *buf, size_t bufsz);

/** Decode len bytes (need not be NUL-terminated). @return 0, or LS_EINVAL with a one-line reason in err. */
int ls_coord_sched_decode(const char *value, size_t len, ls_coord_sched_rec_t *r, char *err, size_t errsz);

#endif
