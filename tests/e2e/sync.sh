#!/usr/bin/env bash
# End to end: devbroker + sandbox + coordinator + worker as real processes.
# 1. initial sync: every activity becomes exactly one "created" event equal to
#    the sandbox's ground truth;
# 2. scripted changes of every kind through the control API: the events equal
#    the ground truth (type, before, after), an updated_at-only touch emits nothing;
# 3. a poll round with nothing changed emits no event at all;
# 4. bad input: a wrongly typed record is skipped and counted, a 503 and a 429
#    are retried, a truncated body fails the job with a reason and no event,
#    and the change is delivered once the upstream recovers;
# 5. SIGTERM stops coordinator and worker cleanly.
source "$(dirname "$0")/lib.sh"
CONNS=(conn-0001 conn-0002 conn-0003 conn-0004)

start_devbroker 6
start_sandbox --seed 11 --connections 4 --students 3 --courses 2 --contents 2 \
  --providers coursera,go1,learnupon,d2l --tick-ms 0
write_config "$E2E_DIR/lmsync.conf" "coordinator.interval_s = 2" "coordinator.discovery_interval_s = 60" \
  "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 5" "unified.max_retries = 2"
export UNIFIED_API_TOKEN=e2e-token
tail_topic events lmsync.activity.changes
tail_topic status lmsync.sync.status
T0=$(date +%s)
start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf"
start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"

# ---- 1. initial sync
wait_round "$((T0 - 1))" 90 "${CONNS[@]}"
sleep 1
compare_sets "initial sync" "$(truth_since 0)" "$(events_since 0)" || exit 1
N1=$(event_count); SEQ1=$(truth_seq)

# ---- 2. scripted changes of every kind
acts() { sb GET "/_sandbox/activities?connection_id=$1"; }
pick() { acts "$1" | jq -r "[.[] | select($2)][${3:-0}].id // empty"; }
set_act() { sb POST /_sandbox/activity "{\"connection_id\":\"$1\",\"activity_id\":\"$2\",\"set\":$3${4:+,\"unset\":$4}}" >/dev/null || die "control API refused $2"; }
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)

a=$(pick conn-0001 '.is_completed != true and (.progress_percentage // 0) > 0 and (.progress_percentage // 0) < 80')
[ -n "$a" ] || die "seed has no in-progress coursera activity"
set_act conn-0001 "$a" '{"progress_percentage":90}'                                  # progressed
a=$(pick conn-0001 '.is_completed != true')
set_act conn-0001 "$a" "{\"is_completed\":true,\"progress_percentage\":100,\"completed_at\":\"$NOW\"}"  # completed
a=$(pick conn-0002 '.is_completed == true')
[ -n "$a" ] || die "seed has no completed go1 activity"
set_act conn-0002 "$a" '{"is_completed":false,"progress_percentage":60}' '["completed_at"]'  # reopened
a=$(pick conn-0003 '.is_completed != true and (.progress_percentage // 0) > 10')
[ -n "$a" ] || die "seed has no in-progress learnupon activity"
set_act conn-0003 "$a" '{"progress_percentage":5}'                                    # regressed
a=$(pick conn-0004 '.duration_minutes != null')
set_act conn-0004 "$a" '{"duration_minutes":999}'                                     # updated
sb POST /_sandbox/activity '{"connection_id":"conn-0004","activity_id":"act-new-1","set":{"course_id":"crs-1","student_id":"stu-1","content_id":"cnt-1","is_completed":false,"duration_minutes":3}}' >/dev/null || die "create refused"
a=$(pick conn-0002 '.is_completed != true' 1)
set_act conn-0002 "$a" "{\"updated_at\":\"$NOW\"}"                                    # touch: no event
T1=$(date +%s)
wait_round "$T1" 60 "${CONNS[@]}"
sleep 1
EXP=$(truth_since "$SEQ1")
for t in progressed completed reopened regressed updated created; do
  jq -e --arg t "$t" 'any(.[]; .t == $t)' <<<"$EXP" >/dev/null || fail "ground truth lacks a '$t' change"
done
compare_sets "scripted changes" "$EXP" "$(events_since "$N1")" || exit 1
N2=$(event_count); SEQ2=$(truth_seq)

# ---- 3. nothing changed: no event at all
T2=$(date +%s)
wait_round "$T2" 60 "${CONNS[@]}"
sleep 1
[ "$(event_count)" -eq "$N2" ] || die "a poll with nothing changed emitted $(( $(event_count) - N2 )) events"
log "unchanged poll round: 0 events"

# ---- 4. bad input from the upstream (T3S: one second before any fault, so a
#      job that hits a fault has started after it)
T3S=$(( $(date +%s) - 1 ))
sb POST /_sandbox/faults '{"connection_id":"conn-0002","kind":"bad_record","count":-1}' >/dev/null
sb POST /_sandbox/faults '{"connection_id":"conn-0003","kind":"status","status":503,"count":1}' >/dev/null
sb POST /_sandbox/faults '{"connection_id":"conn-0004","kind":"status","status":429,"retry_after":1,"count":1}' >/dev/null
sb POST /_sandbox/faults '{"connection_id":"conn-0001","kind":"truncate","count":-1}' >/dev/null
for c in conn-0001 conn-0002 conn-0003 conn-0004; do
  a=$(pick "$c" '.is_completed != true')
  set_act "$c" "$a" "{\"is_completed\":true,\"completed_at\":\"$NOW\"}"
done
T3=$(date +%s)
wait_round "$T3" 60 conn-0002 conn-0003 conn-0004
wait_round "$T3" 60 conn-0001
st() { jq -s --arg c "$1" --argjson s "$T3S" '[.[] | .value | select(.connection_id == $c and
         ((.started_at | sub("\\.[0-9]+Z$"; "Z") | fromdate) > $s))]' "$E2E_DIR/status.jsonl"; }
jq -e 'any(.[]; .outcome == "ok" and .rejected >= 1)' <<<"$(st conn-0002)" >/dev/null || fail "bad record not skipped and counted: $(st conn-0002)"
jq -e 'any(.[]; .outcome == "ok" and .retries >= 1)' <<<"$(st conn-0003)" >/dev/null || fail "503 not retried: $(st conn-0003)"
jq -e 'any(.[]; .outcome == "ok" and .retries >= 1)' <<<"$(st conn-0004)" >/dev/null || fail "429 not retried: $(st conn-0004)"
jq -e 'any(.[]; .outcome == "failed" and (.error | length > 0) and .events == 0)' <<<"$(st conn-0001)" >/dev/null \
  || fail "truncated body did not fail the job with a reason: $(st conn-0001)"
log "conn-0001 failed as expected: $(jq -r '[.[] | select(.outcome == "failed")][0].error' <<<"$(st conn-0001)")"
sb DELETE /_sandbox/faults >/dev/null
T4=$(date +%s)
wait_round "$T4" 90 "${CONNS[@]}"
sleep 1
compare_sets "changes across upstream faults" "$(truth_since "$SEQ2")" "$(events_since "$N2")" || exit 1
grep -q "record skipped" "$E2E_DIR/worker.log" || fail "worker did not log the skipped record"
grep -q "e2e-token" "$E2E_DIR"/*.log && fail "a log contains the API token"

# ---- 5. clean shutdown
stop_and_check coordinator
stop_and_check worker
[ "$E2E_FAILED" -eq 0 ] || exit 1
log "PASS"
