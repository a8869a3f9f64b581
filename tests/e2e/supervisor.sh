#!/usr/bin/env bash
# End to end: lmsync-worker as a prefork supervisor with 2 worker processes.
# 1. initial sync through both children equals the sandbox's ground truth;
# 2. kill -9 one child: the supervisor logs the death and starts a new one;
#    changes made meanwhile still arrive (re-deliveries de-duplicated by ce_id);
# 3. SIGTERM to the master drains the children: exit 0, no child left.
source "$(dirname "$0")/lib.sh"
CONNS=(conn-0001 conn-0002 conn-0003 conn-0004 conn-0005 conn-0006)

start_devbroker 6
start_sandbox --seed 5 --connections 6 --students 3 --courses 2 --contents 2 \
  --providers coursera,go1,learnupon,d2l --tick-ms 0
write_config "$E2E_DIR/lmsync.conf" "coordinator.interval_s = 2" "coordinator.discovery_interval_s = 60" \
  "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 5"
export UNIFIED_API_TOKEN=e2e-token
tail_topic events lmsync.activity.changes
tail_topic status lmsync.sync.status
T0=$(date +%s)
start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf" --processes 2
start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"

children() { pgrep -P "$worker_PID" | sort; }
wait_children() { # COUNT SECONDS
  local i
  for ((i = 0; i < $2 * 10; i++)); do [ "$(children | wc -l)" -eq "$1" ] && return 0; sleep 0.1; done
  return 1
}
wait_children 2 15 || die "worker master did not fork 2 children: $(children | tr '\n' ' ')"
log "worker master $worker_PID, children: $(children | tr '\n' ' ')"

# ---- 1. initial sync
wait_round "$((T0 - 1))" 90 "${CONNS[@]}"
sleep 1
compare_sets "initial sync" "$(truth_since 0)" "$(events_since 0)" || exit 1
N1=$(event_count); SEQ1=$(truth_seq)

# ---- 2. kill one child, change things meanwhile
VICTIM=$(children | head -n 1)
kill -KILL "$VICTIM" || die "cannot kill child $VICTIM"
log "killed child $VICTIM"
acts() { sb GET "/_sandbox/activities?connection_id=$1"; }
pick() { acts "$1" | jq -r "[.[] | select($2)][${3:-0}].id // empty"; }
set_act() { sb POST /_sandbox/activity "{\"connection_id\":\"$1\",\"activity_id\":\"$2\",\"set\":$3}" >/dev/null || die "control API refused $2"; }
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for c in "${CONNS[@]}"; do
  a=$(pick "$c" '.is_completed != true')
  [ -n "$a" ] || die "seed has no incomplete activity on $c"
  set_act "$c" "$a" "{\"is_completed\":true,\"completed_at\":\"$NOW\"}"
done
T1=$(date +%s)
wait_children 2 15 || die "supervisor did not replace the killed child: $(children | tr '\n' ' ')"
children | grep -qx "$VICTIM" && die "killed child $VICTIM still listed"
log "children after the kill: $(children | tr '\n' ' ')"
grep -q "worker process $VICTIM killed by signal 9" "$E2E_DIR/worker.log" || fail "supervisor did not log the death of $VICTIM"
grep -q "worker process [0-9]* started (slot [0-9]*, start 2)" "$E2E_DIR/worker.log" || fail "supervisor did not log the restart"
wait_round "$T1" 90 "${CONNS[@]}"
sleep 1
EXP=$(truth_since "$SEQ1")
[ "$(jq length <<<"$EXP")" -ge "${#CONNS[@]}" ] || fail "ground truth has fewer changes than made: $EXP"
compare_sets "changes across a killed child" "$EXP" "$(events_since "$N1")" || exit 1

# ---- 3. graceful stop of the pool
KIDS=$(children)
stop_and_check coordinator
stop_and_check worker
for k in $KIDS; do kill -0 "$k" 2>/dev/null && fail "child $k still running after the master stopped"; done
grep -q "stopping 2 worker processes" "$E2E_DIR/worker.log" || fail "supervisor did not log the drain"
[ "$E2E_FAILED" -eq 0 ] || exit 1
log "PASS"
