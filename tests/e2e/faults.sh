#!/usr/bin/env bash
# ctest-labels: faults,e2e
# ctest-args: 1 2 3
# Fault-injection suite (issue #4): real processes, faults at moments drawn
# from SEED. Usage: faults.sh SEED
#
# One sandbox with 100 connections, one devbroker, one coordinator, worker
# "pods" (lmsync-worker masters with their own LMDB directory, one group).
# Each phase changes distinct activities through the sandbox's control API
# (one change per activity per phase, so the ground truth is exact), injects
# a fault, waits until every connection completed an ok poll started after
# the last change, and compares the change events (de-duplicated by ce_id)
# with the sandbox's ground truth:
#   kill9      kill -9 of worker processes, 10 times at random moments
#   broker     broker 1 down for 10 s, plus request errors through rdkafka_mock
#   pods       pods scaled 1 -> 3 -> 1 (new pods restore from the changelog)
#   sandbox    sandbox answering 503/429, truncating bodies, stalling
#   mapfull    a worker whose LMDB map is too small (own broker + sandbox),
#              restarted with a larger map
# Every phase must end with lost = 0, invented = 0, false_created = 0. The
# table prints duplicates (same ce_id delivered again) and recovery time
# (end of the fault until every connection completed an ok round).
source "$(dirname "$0")/lib.sh"
SEED=${1:-1}
RANDOM=$SEED
NCONN=100
ROUND_WAIT=150
TABLE=()
row() { TABLE+=("$(printf '%-8s %7s %7s %10s %5s %8s %13s %10s' "$@")"); }
row fault changes events duplicates lost invented false_created recovery_s

start_devbroker_ctl devbroker 6 3
start_sandbox --seed "$SEED" --connections "$NCONN" --students 4 --courses 2 --contents 1 --tick-ms 0
write_config "$E2E_DIR/lmsync.conf" "coordinator.interval_s = 4" "coordinator.discovery_interval_s = 60" \
  "coordinator.job_timeout_s = 60" "worker.page_limit = 3" "worker.group_id = lmsync-faults" \
  "unified.max_retries = 3" "unified.http_timeout_s = 4"
export UNIFIED_API_TOKEN=e2e-token
tail_topic events lmsync.activity.changes
tail_topic status lmsync.sync.status
EV=$E2E_DIR/events.jsonl
STATUS=$E2E_DIR/status.jsonl

# start_pod NAME PROCESSES : a worker master with its own LMDB directory
start_pod() {
  start "$1" env LMSYNC_WORKER_LMDB_PATH="$E2E_DIR/lmdb-$1" "$LS_WORKER" --config "$E2E_DIR/lmsync.conf" \
    --processes "$2"
}
children() { pgrep -P "$1" | sort; }

T0=$(date +%s)
start_pod podA 2
start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"

# ---- changes through the control API: distinct activities, one change each
# current_states : "conn act is_completed" for every live activity (from the ground truth)
current_states() {
  sb GET "/_sandbox/changes?since=1&limit=1000000" | jq -r '
    reduce .changes[] as $c ({}; .[$c.connection_id + " " + $c.activity_id] = $c.after)
    | to_entries[] | select(.value != null) | "\(.key) \(.value.is_completed == true)"'
}
USED=" "   # activities already changed in the current phase
# mutate K : flip is_completed of K random distinct activities, and create K/10 new ones
mutate() {
  local k=$1 i n pick c a done now try
  mapfile -t STATES < <(current_states)
  n=${#STATES[@]}
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for ((i = 0; i < k; i++)); do
    for ((try = 0; try < 50; try++)); do
      pick=${STATES[$(( (RANDOM * 32768 + RANDOM) % n ))]}
      read -r c a done <<<"$pick"
      [[ "$USED" == *" $a "* ]] || break
    done
    USED+="$a "
    if [ "$done" == "true" ]; then
      sb POST /_sandbox/activity "{\"connection_id\":\"$c\",\"activity_id\":\"$a\",\"set\":{\"is_completed\":false},\"unset\":[\"completed_at\"]}" >/dev/null
    else
      sb POST /_sandbox/activity "{\"connection_id\":\"$c\",\"activity_id\":\"$a\",\"set\":{\"is_completed\":true,\"completed_at\":\"$now\"}}" >/dev/null
    fi || die "control API refused a change of $a"
  done
  for ((i = 0; i < k / 10; i++)); do
    c=$(printf 'conn-%04d' $(( RANDOM % NCONN + 1 )))
    a=$(sb POST /_sandbox/activity "{\"connection_id\":\"$c\",\"set\":{\"course_id\":\"crs-1\",\"student_id\":\"stu-new-$RANDOM\",\"is_completed\":false}}" \
      | jq -r '.change.activity_id') || die "control API refused a new activity in $c"
    USED+="$a "
  done
}

# phase_begin : remember where the ground truth and the event stream stand
phase_begin() { PH_SEQ=$(truth_seq); PH_N=$(wc -l <"$EV" | tr -d ' '); USED=" "; }
# phase_end NAME SINCE RECOVERY_FROM : wait for the round, score, add a table row
phase_end() {
  local name=$1 since=$2 from=$3 rec exp act s
  wait_all_ok "$STATUS" "$since" "$NCONN" "$ROUND_WAIT" || fail "$name: no complete ok round after the fault"
  rec=$(( $(date +%s) - from ))
  sleep 2 # let the tail catch up with the last events
  exp=$(truth_since "$PH_SEQ")
  act=$(phase_events "$EV" "$PH_N")
  s=$(score "$exp" "$act")
  local lost inv fc dup
  lost=$(jq .lost <<<"$s"); inv=$(jq .invented <<<"$s"); fc=$(jq .false_created <<<"$s")
  dup=$(phase_duplicates "$EV" "$PH_N")
  row "$name" "$(jq length <<<"$exp")" "$(jq length <<<"$act")" "$dup" "$lost" "$inv" "$fc" "$rec"
  log "$name: $(jq -c . <<<"$s"), duplicates $dup, recovery ${rec}s"
  if [ "$lost" -ne 0 ] || [ "$inv" -ne 0 ] || [ "$fc" -ne 0 ]; then
    fail "$name: events differ from the ground truth"
    diff <(jq -S -c '.[]' <<<"$exp") <(jq -S -c '.[]' <<<"$act") | head -n 20
  fi
}

# ---- 0. initial sync of every connection
PH_SEQ=0; PH_N=0
wait_all_ok "$STATUS" "$((T0 - 1))" "$NCONN" "$ROUND_WAIT" || die "initial sync did not complete"
phase_end initial "$((T0 - 1))" "$T0"

# ---- 1. kill -9 of worker processes at random moments, 10 times
phase_begin
mutate 60
T1=$(date +%s)
kills=0
while [ "$kills" -lt 10 ]; do
  sleep "$(( RANDOM % 25 / 10 )).$(( RANDOM % 10 ))"
  mapfile -t KIDS < <(children "$podA_PID")
  [ "${#KIDS[@]}" -gt 0 ] || continue
  victim=${KIDS[$(( RANDOM % ${#KIDS[@]} ))]}
  kill -KILL "$victim" 2>/dev/null && kills=$((kills + 1))
  [ "$kills" -eq 5 ] && mutate 40   # more changes while the pool is being killed
done
TK=$(date +%s)
log "kill9: 10 worker processes killed between $T1 and $TK"
for ((i = 0; i < 50; i++)); do   # the master reaps every 100 ms
  NK=$(grep -c "killed by signal 9" "$E2E_DIR/podA.log")
  [ "$NK" -ge 10 ] && break
  sleep 0.1
done
[ "$NK" -ge 10 ] || fail "supervisor logged $NK kills, expected 10"
phase_end kill9 "$TK" "$TK"

# ---- 2. broker 1 down for 10 s, request errors injected through rdkafka_mock
phase_begin
mutate 60
T2=$(date +%s)
dbctl /errors '{"api_key":0,"errors":["NOT_LEADER_FOR_PARTITION","REQUEST_TIMED_OUT","NOT_ENOUGH_REPLICAS"]}' \
  || die "devbroker refused produce errors"
dbctl /errors '{"api_key":8,"errors":["REBALANCE_IN_PROGRESS","REQUEST_TIMED_OUT"]}' || die "devbroker refused commit errors"
dbctl /errors '{"api_key":1,"errors":["NOT_LEADER_FOR_PARTITION"]}' || die "devbroker refused fetch errors"
dbctl /errors '{"api_key":2,"errors":["NOT_LEADER_FOR_PARTITION"]}' || die "devbroker refused list-offsets errors"
sleep "$(( RANDOM % 3 )).$(( RANDOM % 10 ))"
dbctl /brokers/1/down || die "devbroker refused broker down"
log "broker: broker 1 down"
sleep 10
dbctl /brokers/1/up || die "devbroker refused broker up"
TB=$(date +%s)
log "broker: broker 1 up again"
phase_end broker "$TB" "$TB"

# ---- 3. pods 1 -> 3 -> 1 (separate LMDB directories, one group)
phase_begin
mutate 30
T3=$(date +%s)
start_pod podB 1
start_pod podC 1
sleep "$(( RANDOM % 4 + 6 ))"
mutate 30
T3B=$(date +%s)
wait_all_ok "$STATUS" "$T3B" "$NCONN" "$ROUND_WAIT" || fail "pods: no complete round with 3 pods"
for p in podB podC; do
  grep -q "restored in" "$E2E_DIR/$p.log" || fail "$p restored no partition"
done
log "pods: 3 pods; podB restored $(grep -c 'restored in' "$E2E_DIR/podB.log"), podC $(grep -c 'restored in' "$E2E_DIR/podC.log") partitions"
stop_and_check podB
stop_and_check podC
mutate 30
TP=$(date +%s)
phase_end pods "$TP" "$TP"

# ---- 4. the sandbox failing requests, truncating bodies and stalling
phase_begin
mutate 60
sb POST /_sandbox/faults '{"kind":"status","status":503,"count":40,"path":"activity"}' >/dev/null || die "fault refused"
sb POST /_sandbox/faults '{"kind":"status","status":429,"retry_after":1,"count":20,"path":"activity"}' >/dev/null || die "fault refused"
sb POST /_sandbox/faults '{"kind":"truncate","count":30,"path":"activity"}' >/dev/null || die "fault refused"
sb POST /_sandbox/faults '{"kind":"stall","stall_ms":5000,"count":2,"path":"activity"}' >/dev/null || die "fault refused"
sleep "$(( RANDOM % 5 + 12 ))"
sb DELETE /_sandbox/faults >/dev/null
TS=$(date +%s)
log "sandbox: faults cleared; requests by status: $(sb GET /_sandbox/stats | jq -c .by_status)"
phase_end sandbox "$TS" "$TS"
stop_and_check coordinator
stop_and_check podA

# ---- 5. LMDB map full: own broker and sandbox, one connection with 20000 activities
# (about 2 MB of LMDB: 10000 fit in the 1 MB map once keys held connection numbers)
start_devbroker_ctl devbroker2 2 1
start_sandbox_named sandbox2 --seed "$SEED" --connections 1 --students 200 --courses 100 --contents 1 \
  --providers coursera --tick-ms 0
write_config "$E2E_DIR/mapfull.conf" "coordinator.interval_s = 3" "coordinator.discovery_interval_s = 60" \
  "coordinator.job_timeout_s = 60" "worker.page_limit = 500" "worker.group_id = lmsync-mapfull" \
  "worker.lmdb_path = $E2E_DIR/lmdb-mapfull" "worker.lmdb_map_mb = 1"
"$LS_TAIL" --brokers "$BROKERS" --topic lmsync.activity.changes --from beginning --format json \
  >"$E2E_DIR/events2.jsonl" 2>"$E2E_DIR/events2-tail.log" &
E2E_PIDS+=("$!")
"$LS_TAIL" --brokers "$BROKERS" --topic lmsync.sync.status --from beginning --format json \
  >"$E2E_DIR/status2.jsonl" 2>"$E2E_DIR/status2-tail.log" &
E2E_PIDS+=("$!")
TM=$(date +%s)
start small "$LS_WORKER" --config "$E2E_DIR/mapfull.conf" --processes 1
start coordinator2 "$LS_COORDINATOR" --config "$E2E_DIR/mapfull.conf"
for ((i = 0; i < 120; i++)); do grep -q "worker.lmdb_map_mb" "$E2E_DIR/small.log" && break; sleep 0.5; done
grep -m1 "worker.lmdb_map_mb" "$E2E_DIR/small.log" | sed 's/^/    /' || fail "mapfull: no error naming worker.lmdb_map_mb"
grep -q "will run again" "$E2E_DIR/small.log" || fail "mapfull: the job was not kept for a re-run"
stop_and_check small
TF=$(date +%s)
start large env LMSYNC_WORKER_LMDB_MAP_MB=64 "$LS_WORKER" --config "$E2E_DIR/mapfull.conf" --processes 1
wait_all_ok "$E2E_DIR/status2.jsonl" "$TF" 1 "$ROUND_WAIT" || fail "mapfull: no ok round after the restart"
REC=$(( $(date +%s) - TF ))
sleep 2
EXP=$(truth_since 0)
ACT=$(phase_events "$E2E_DIR/events2.jsonl" 0)
S=$(score "$EXP" "$ACT")
DUP=$(phase_duplicates "$E2E_DIR/events2.jsonl" 0)
row mapfull "$(jq length <<<"$EXP")" "$(jq length <<<"$ACT")" "$DUP" "$(jq .lost <<<"$S")" "$(jq .invented <<<"$S")" \
  "$(jq .false_created <<<"$S")" "$REC"
[ "$(jq '.lost + .invented + .false_created' <<<"$S")" -eq 0 ] || fail "mapfull: events differ from the ground truth: $S"
stop_and_check coordinator2
stop_and_check large

echo
echo "fault table (seed $SEED)"
printf '  %s\n' "${TABLE[@]}"
echo
[ "$E2E_FAILED" -eq 0 ] || exit 1
log "PASS"
