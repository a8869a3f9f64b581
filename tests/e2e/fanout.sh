#!/usr/bin/env bash
# End to end: per-course fan-out (issue 3, items 3 and 4a/4c).
# conn-0001 (coursera) is forced to need course_id on the activity list by
# coordinator.profile_overrides; conn-0002 (d2l) polls the whole connection.
# 1. conn-0001 is polled by one job per course (status key/scope conn/course,
#    course_id in the record); the initial sync equals the ground truth;
# 2. an activity moved to another course is an "updated" event, never a
#    false "removed", across several rounds;
# 3. an activity deleted upstream is "removed" after two complete scans of its
#    course, confirmed by a per-record GET answering 404.
source "$(dirname "$0")/lib.sh"
CONNS=(conn-0001 conn-0002)

start_devbroker 6
start_sandbox --seed 21 --connections 2 --students 3 --courses 3 --contents 1 \
  --providers coursera,d2l --tick-ms 0
write_config "$E2E_DIR/lmsync.conf" "coordinator.interval_s = 2" "coordinator.discovery_interval_s = 60" \
  "coordinator.profile_overrides = conn-0001.course_id=required" \
  "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 5" "unified.max_retries = 1"
export UNIFIED_API_TOKEN=e2e-token
tail_topic events lmsync.activity.changes
tail_topic status lmsync.sync.status
T0=$(date +%s)
start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf"
start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
st() { jq -s --arg c "$1" --argjson s "$2" '[.[] | .value | select(.connection_id == $c and
         ((.started_at | sub("\\.[0-9]+Z$"; "Z") | fromdate) > $s))] | sort_by(.started_at)' "$E2E_DIR/status.jsonl"; }
# wait_courses SINCE : every course scope of conn-0001 reported a job started after SINCE
wait_courses() {
  local i
  for ((i = 0; i < 300; i++)); do
    [ "$(st conn-0001 "$1" | jq '[.[] | select(.outcome == "ok") | .course_id] | unique | length')" -ge 3 ] && return 0
    sleep 0.2
  done
  die "not every course of conn-0001 reported after $1: $(st conn-0001 "$1" | jq -c '[.[] | {scope, outcome}]')"
}
removed_since() { tail -n +"$(($1 + 1))" "$E2E_DIR/events.jsonl" | jq -s '[.[] | select(.value.type == "removed")]'; }

# ---- 1. per-course jobs
wait_courses "$((T0 - 1))"
wait_round "$((T0 - 1))" 60 conn-0002
sleep 1
S=$(st conn-0001 "$((T0 - 1))")
jq -e 'all(.[]; .course_id != null and .scope == (.connection_id + "/" + .course_id))' <<<"$S" >/dev/null \
  || fail "conn-0001 has a job that is not course-scoped: $(jq -c '[.[] | .scope]' <<<"$S")"
jq -e 'all(.[]; .course_id == null)' <<<"$(st conn-0002 "$((T0 - 1))")" >/dev/null || fail "conn-0002 was fanned out"
log "conn-0001 scopes: $(jq -c '[.[] | .scope] | unique' <<<"$S")"
compare_sets "initial sync" "$(truth_since 0)" "$(events_since 0)" || exit 1
N1=$(event_count); SEQ1=$(truth_seq)

# ---- 2. a move to another course is not a removal
A=$(sb GET "/_sandbox/activities?connection_id=conn-0001" | jq -r '[.[] | select(.course_id == "crs-1")][0].id')
[ -n "$A" ] && [ "$A" != null ] || die "no activity in crs-1"
sb POST /_sandbox/activity "{\"connection_id\":\"conn-0001\",\"activity_id\":\"$A\",\"set\":{\"course_id\":\"crs-3\"}}" >/dev/null \
  || die "control API refused the move"
for i in 1 2 3; do T=$(date +%s); wait_courses "$T"; done
sleep 1
compare_sets "move between courses" "$(truth_since "$SEQ1")" "$(events_since "$N1")" || exit 1
[ "$(jq length <<<"$(removed_since "$N1")")" -eq 0 ] || fail "a moved activity was announced removed"
N2=$(event_count); SEQ2=$(truth_seq)

# ---- 3. a real deletion: removed after two scans of its course, confirmed by GET 404
D=$(sb GET "/_sandbox/activities?connection_id=conn-0001" | jq -r '[.[] | select(.course_id == "crs-2")][0].id')
TD=$(( $(date +%s) - 1 ))
sb DELETE "/_sandbox/activity?connection_id=conn-0001&activity_id=$D" >/dev/null || die "delete refused"
for i in 1 2 3; do T=$(date +%s); wait_courses "$T"; done
sleep 1
compare_sets "deletion in a course" "$(truth_since "$SEQ2")" "$(events_since "$N2")" || exit 1
jq -e 'any(.[]; .course_id == "crs-2" and .removed == 1 and .rechecked >= 1)' <<<"$(st conn-0001 "$TD")" >/dev/null \
  || fail "the removal was not confirmed by a per-record get: $(st conn-0001 "$TD" | jq -c '[.[] | {scope, removed, rechecked, pending_removals}]')"

stop_and_check coordinator
stop_and_check worker
[ "$E2E_FAILED" -eq 0 ] || exit 1
log "PASS"
