#!/usr/bin/env bash
# End to end: removal detection (design-brief section 4, "removed").
# 1. initial sync equals the ground truth;
# 2. an activity deleted upstream is announced as "removed" (after: null,
#    before: the last state) only after two complete full scans missed it;
# 3. scans that fail part way (persistent truncate fault) never remove: no
#    "removed" while the fault lasts, the event arrives two complete scans
#    after the fault is cleared;
# 4. a sudden shrink (80% of a connection deleted at once) removes nothing:
#    the status record says why ("removals_skipped") and no "removed" event
#    is emitted for the next two rounds.
source "$(dirname "$0")/lib.sh"
CONNS=(conn-0001 conn-0002)

start_devbroker 6
start_sandbox --seed 9 --connections 2 --students 3 --courses 2 --contents 2 \
  --providers coursera,d2l --tick-ms 0
write_config "$E2E_DIR/lmsync.conf" "coordinator.interval_s = 2" "coordinator.discovery_interval_s = 60" \
  "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 5" "unified.max_retries = 1"
export UNIFIED_API_TOKEN=e2e-token
tail_topic events lmsync.activity.changes
tail_topic status lmsync.sync.status
T0=$(date +%s)
start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf"
start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"

acts() { sb GET "/_sandbox/activities?connection_id=$1"; }
del_act() { sb DELETE "/_sandbox/activity?connection_id=$1&activity_id=$2" >/dev/null || die "control API refused to delete $2"; }
removed_since() { # removed_since N : removed events after the first N event lines
  tail -n +"$(($1 + 1))" "$E2E_DIR/events.jsonl" | jq -s '[.[] | select(.value.type == "removed")] | unique_by(.headers.ce_id)'
}
st() { # st CONN SINCE : status values of jobs of CONN started after SINCE
  jq -s --arg c "$1" --argjson s "$2" '[.[] | .value | select(.connection_id == $c and
     ((.started_at | sub("\\.[0-9]+Z$"; "Z") | fromdate) > $s))]' "$E2E_DIR/status.jsonl"
}

# ---- 1. initial sync
wait_round "$((T0 - 1))" 90 "${CONNS[@]}"
sleep 1
compare_sets "initial sync" "$(truth_since 0)" "$(events_since 0)" || exit 1
N1=$(event_count); SEQ1=$(truth_seq)

# ---- 2. one activity deleted: removed after two complete scans, not after one
A1=$(acts conn-0001 | jq -r '.[0].id')
[ -n "$A1" ] || die "seed has no activity in conn-0001"
T1D=$(( $(date +%s) - 1 ))   # status checks: every job that may have missed it
del_act conn-0001 "$A1"
T1=$(date +%s)
wait_round "$T1" 60 conn-0001
T1B=$(date +%s)
wait_round "$T1B" 60 conn-0001
sleep 1
# the scan that removed it came after a complete scan that only counted a miss
jq -e 'sort_by(.started_at) | (map(.outcome == "ok" and .pending_removals >= 1) | index(true)) as $p
       | (map(.outcome == "ok" and .removed == 1 and .removals_skipped == null) | index(true)) as $r
       | $p != null and $r != null and $p < $r' <<<"$(st conn-0001 "$T1D")" >/dev/null \
  || fail "no first miss before the removal: $(st conn-0001 "$T1D")"
EXP=$(truth_since "$SEQ1")
[ "$(jq -c '[.[] | {c, a, t, f}]' <<<"$EXP")" == "[{\"c\":\"conn-0001\",\"a\":\"$A1\",\"t\":\"removed\",\"f\":null}]" ] \
  || die "unexpected ground truth: $EXP"
compare_sets "one deletion" "$EXP" "$(events_since "$N1")" || exit 1
[ "$(jq length <<<"$(removed_since "$N1")")" -eq 1 ] || fail "expected exactly one removed event"
N2=$(event_count); SEQ2=$(truth_seq)

# ---- 3. failed scans never remove
sb POST /_sandbox/faults '{"connection_id":"conn-0002","kind":"truncate","count":-1}' >/dev/null
A2=$(acts conn-0002 | jq -r '.[1].id')
[ -n "$A2" ] || die "seed has no second activity in conn-0002"
del_act conn-0002 "$A2"
T2S=$(date +%s)   # every conn-0002 job started after this second meets the fault
for i in 1 2 3; do
  T=$(date +%s)
  wait_round "$T" 90 conn-0002
done
jq -e 'length >= 3 and all(.[]; .outcome == "failed" and .removed == 0 and .pending_removals == 0)' \
  <<<"$(st conn-0002 "$T2S")" >/dev/null || fail "conn-0002 scans did not all fail without removals: $(st conn-0002 "$T2S")"
[ "$(jq length <<<"$(removed_since "$N2")")" -eq 0 ] || die "a failed scan led to a removed event: $(removed_since "$N2")"
log "3 failed scans of conn-0002: no removed event"
sb DELETE /_sandbox/faults >/dev/null
T3=$(date +%s)
wait_round "$T3" 90 conn-0002
T3B=$(date +%s)
wait_round "$T3B" 90 conn-0002
sleep 1
compare_sets "deletion across failed scans" "$(truth_since "$SEQ2")" "$(events_since "$N2")" || exit 1
N3=$(event_count); SEQ3=$(truth_seq)

# ---- 4. a sudden shrink removes nothing
mapfile -t IDS < <(acts conn-0001 | jq -r '.[].id')
NDEL=$(( (${#IDS[@]} * 8 + 9) / 10 ))
[ "$NDEL" -ge 2 ] || die "too few activities in conn-0001 for the shrink case (${#IDS[@]})"
for ((i = 0; i < NDEL; i++)); do del_act conn-0001 "${IDS[$i]}"; done
log "deleted $NDEL of ${#IDS[@]} activities of conn-0001"
T4=$(date +%s)
wait_round "$T4" 60 conn-0001
T4B=$(date +%s)
wait_round "$T4B" 60 conn-0001
sleep 1
jq -e 'length >= 2 and all(.[]; .outcome == "ok" and .removed == 0 and .pending_removals == 0
         and (.removals_skipped | type == "string"))' <<<"$(st conn-0001 "$T4")" >/dev/null \
  || fail "shrink guard not reported: $(st conn-0001 "$T4")"
[ "$(jq length <<<"$(removed_since "$N3")")" -eq 0 ] || fail "a guarded shrink emitted removed events"
log "shrink guarded: $(st conn-0001 "$T4" | jq -r '.[0].removals_skipped')"
grep -q "removal detection skipped" "$E2E_DIR/worker.log" || fail "worker did not log the skipped removal pass"

stop_and_check coordinator
stop_and_check worker
[ "$E2E_FAILED" -eq 0 ] || exit 1
log "PASS"
