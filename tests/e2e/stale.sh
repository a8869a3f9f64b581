#!/usr/bin/env bash
# End to end: stale and duplicate jobs are dropped by the worker (issue 5,
# scheduling). Jobs are put on the jobs topic directly (no coordinator):
# 1. job A runs; the same message again is skipped as stale (A started after it was scheduled);
# 2. a job scheduled before A started is skipped; a job scheduled after runs;
# 3. two jobs of one scope produced together: exactly one runs, the other is skipped;
# 4. a full job is never skipped because an incremental one ran (conn-0002 is
#    successfactors_lms: updated_gte, so its jobs after D run incremental);
# skipped jobs make no request, produce no event, and report outcome "skipped"
# with a reason; the events equal the sandbox's ground truth.
source "$(dirname "$0")/lib.sh"

start_devbroker 6
start_sandbox --seed 11 --connections 2 --students 3 --courses 2 --contents 2 --providers coursera,successfactors_lms --tick-ms 0
write_config "$E2E_DIR/lmsync.conf" "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 5"
export UNIFIED_API_TOKEN=e2e-token
tail_topic events lmsync.activity.changes
tail_topic status lmsync.sync.status
start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf" --processes 1

iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%S.%3NZ; }
now_ms() { date +%s%3N; }
# job CONN ID SCHEDULED_MS [MODE] : one job message line
job() {
  local gte=""
  [ "$1" = conn-0002 ] && gte=',"updated_gte":"supported"'
  printf '%s\t{"v":1,"job_id":"%s","connection_id":"%s","integration_type":"%s","mode":"%s","scheduled_at":"%s"%s}\n' \
    "$1" "$2" "$1" "$([ "$1" = conn-0002 ] && echo successfactors_lms || echo coursera)" "${4:-full}" "$(iso "$(echo "$3 / 1000" | bc -l)")" "$gte"
}
put() { kcat -P -b "$BROKERS" -t lmsync.poll.jobs -K $'\t' || die "kcat produce failed"; }
# status_of JOB_ID : its status records, one JSON value per line
status_of() { jq -c --arg j "$1" 'select(.value.job_id == $j) | .value' "$E2E_DIR/status.jsonl" 2>/dev/null; }
wait_status() { # wait_status JOB_ID N
  local i
  for ((i = 0; i < 600; i++)); do [ "$(status_of "$1" | wc -l)" -ge "$2" ] && return 0; sleep 0.1; done
  die "job $1: fewer than $2 status records after 60 s"
}
requests() { sb GET /_sandbox/stats | jq .requests; }

# ---- 1. a job, then the same message again
A_AT=$(now_ms)
job conn-0001 "A" "$A_AT" | put
wait_status A 1
[ "$(status_of A | jq -r .outcome)" = ok ] || die "job A did not run ok: $(status_of A)"
R0=$(requests)
job conn-0001 "A" "$A_AT" | put
wait_status A 2
second=$(status_of A | tail -1)
[ "$(jq -r .outcome <<<"$second")" = skipped ] || fail "the redelivered job A was not skipped: $second"
jq -r .skip_reason <<<"$second" | grep -q '^stale' || fail "no stale reason: $second"
log "redelivered job: $(jq -r .skip_reason <<<"$second")"

# ---- 2. older than the last run: skipped; newer: runs
job conn-0001 "B-old" "$((A_AT - 3600000))" | put
wait_status B-old 1
[ "$(status_of B-old | jq -r .outcome)" = skipped ] || fail "job B-old (scheduled an hour before A) ran: $(status_of B-old)"
[ "$(requests)" -eq "$R0" ] || fail "skipped jobs made $(($(requests) - R0)) requests"
job conn-0001 "C" "$(now_ms)" | put
wait_status C 1
[ "$(status_of C | jq -r .outcome)" = ok ] || fail "job C (scheduled after A) did not run: $(status_of C)"

# ---- 3. two jobs of one scope produced together
T=$(now_ms)
{ job conn-0002 "D1" "$((T - 1000))"; job conn-0002 "D2" "$T"; } | put
wait_status D1 1
wait_status D2 1
outcomes=$( (status_of D1; status_of D2) | jq -r .outcome | sort | paste -sd, -)
[ "$outcomes" = "ok,skipped" ] || fail "D1/D2: expected one ok and one skipped, got $outcomes"
log "D1: $(status_of D1 | jq -r '.outcome + " " + (.skip_reason // "")')"
log "D2: $(status_of D2 | jq -r '.outcome + " " + (.skip_reason // "")')"

# ---- 4. an incremental run does not cover a full job scheduled before it
T=$(now_ms)
job conn-0002 "E-inc" "$((T + 1))" incremental | put
wait_status E-inc 1
[ "$(status_of E-inc | jq -r .mode)" = incremental ] || fail "E-inc did not run incremental: $(status_of E-inc)"
job conn-0002 "F-full" "$T" full | put
wait_status F-full 1
[ "$(status_of F-full | jq -r .outcome)" = ok ] || fail "full job F was skipped after an incremental run: $(status_of F-full)"

# ---- skipped jobs wrote nothing: the events are exactly the ground truth
sleep 1
compare_sets "stale/duplicate jobs" "$(truth_since 0)" "$(events_since 0)"
n_events=$(event_count)
n_unique=$(jq -r '.headers.ce_id' "$E2E_DIR/events.jsonl" | sort -u | wc -l)
[ "$n_events" -eq "$n_unique" ] || fail "$((n_events - n_unique)) duplicate events"
stop_and_check worker
grep -q "skipped=" "$E2E_DIR/worker.log" || fail "the worker's stop line does not count skipped jobs"
[ "$E2E_FAILED" -eq 0 ] && log "PASS"
exit "$E2E_FAILED"
