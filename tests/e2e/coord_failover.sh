#!/usr/bin/env bash
# End to end: two coordinator replicas, one active (coordinator.leader_election,
# coordinator/ls_coord_leader.c).
# 1. exactly one replica leads (log line, lmsync_coordinator_leader 1/0) and
#    every connection syncs;
# 2. kill -9 the leader: the standby leads within 15 s;
# 3. no scope is lost: every connection gets ok status records after the
#    takeover, and its jobs carry the new term's leader_epoch;
# 4. no duplicate or missing change: mutations before the kill, while no
#    replica leads and after the takeover; the events equal the sandbox's
#    ground truth, as e2e.sync checks it, and no change event is produced twice;
# 5. a third replica joins; the leader is paused with SIGSTOP until the third
#    one leads, then resumed: within one session timeout (6 s) it says it no
#    longer leads, and no job of its term is produced after that.
source "$(dirname "$0")/lib.sh"
CONNS=(conn-0001 conn-0002 conn-0003 conn-0004)

start_devbroker 6
start_sandbox --seed 17 --connections 4 --students 3 --courses 2 --contents 2 \
  --providers coursera,go1,learnupon,d2l --tick-ms 0
write_config "$E2E_DIR/lmsync.conf" "coordinator.interval_s = 2" "coordinator.discovery_interval_s = 60" \
  "coordinator.leader_election = 1" "worker.lmdb_path = $E2E_DIR/lmdb" "ops.listen = 127.0.0.1:0" \
  "unified.max_retries = 1"
export UNIFIED_API_TOKEN=e2e-token
tail_topic events lmsync.activity.changes
tail_topic status lmsync.sync.status
tail_topic jobs lmsync.poll.jobs
T0=$(date +%s)
start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf"
LMSYNC_OPS_PORT_FILE=$E2E_DIR/a.ops start coord_a "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
LMSYNC_OPS_PORT_FILE=$E2E_DIR/b.ops start coord_b "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
wait_for_file "$E2E_DIR/a.ops" 30; wait_for_file "$E2E_DIR/b.ops" 30
leader_gauge() { curl -fsS "http://127.0.0.1:$(cat "$E2E_DIR/$1.ops")/metrics" | awk '$1 == "lmsync_coordinator_leader" {print $2}'; }

# ---- 1. one leader
for ((i = 0; i < 300; i++)); do
  la=$(grep -c "leading (epoch" "$E2E_DIR/coord_a.log"); lb=$(grep -c "leading (epoch" "$E2E_DIR/coord_b.log")
  [ $((la + lb)) -ge 1 ] && break; sleep 0.1
done
[ $((la + lb)) -eq 1 ] || die "expected exactly one leader, a=$la b=$lb"
if [ "$la" -eq 1 ]; then LEADER=coord_a; STANDBY=coord_b; LO=a; SO=b; else LEADER=coord_b; STANDBY=coord_a; LO=b; SO=a; fi
log "$LEADER leads, $STANDBY stands by"
wait_round "$((T0 - 1))" 90 "${CONNS[@]}"
sb POST /_sandbox/tick '{"count":4}' >/dev/null || die "tick refused"
T9=$(date +%s); wait_round "$T9" 60 "${CONNS[@]}"
sleep 1
[ "$(leader_gauge $LO)" = 1 ] && [ "$(leader_gauge $SO)" = 0 ] || fail "leader gauges: $LO=$(leader_gauge $LO) $SO=$(leader_gauge $SO)"
grep -q "leading (epoch" "$E2E_DIR/$STANDBY.log" && fail "$STANDBY led while $LEADER was alive"

# ---- 2. kill -9 the leader
pidvar="${LEADER}_PID"
KILL_MS=$(date +%s%3N)
kill -KILL "${!pidvar}"
sb POST /_sandbox/tick '{"count":4}' >/dev/null || die "tick refused"
for ((i = 0; i < 200; i++)); do grep -q "leading (epoch" "$E2E_DIR/$STANDBY.log" && break; sleep 0.1; done
grep -q "leading (epoch" "$E2E_DIR/$STANDBY.log" || die "$STANDBY did not take over within 20 s"
EPOCH=$(sed -n 's/.*leading (epoch \([0-9]*\)).*/\1/p' "$E2E_DIR/$STANDBY.log" | head -1)
TAKEOVER_MS=$((EPOCH - KILL_MS))
[ "$TAKEOVER_MS" -le 15000 ] || fail "the standby took over $TAKEOVER_MS ms after the kill (limit 15000)"
log "$STANDBY leads $TAKEOVER_MS ms after the kill (epoch $EPOCH)"

# ---- 3. no scope lost
T1=$(( (EPOCH / 1000) + 1 ))
wait_round "$T1" 60 "${CONNS[@]}"
for c in "${CONNS[@]}"; do
  jq -e -s --arg c "$c" --argjson e "$EPOCH" 'any(.[]; .value.connection_id == $c and .value.leader_epoch == $e)' \
    "$E2E_DIR/jobs.jsonl" >/dev/null || fail "$c has no job of the new term (epoch $EPOCH)"
done
[ "$(leader_gauge $SO)" = 1 ] || fail "$STANDBY's leader gauge is not 1 after the takeover"

# ---- 4. no duplicate or missing change
sb POST /_sandbox/tick '{"count":4}' >/dev/null || die "tick refused"
T2=$(date +%s)
wait_round "$T2" 60 "${CONNS[@]}"
sleep 1
# several changes of one activity: order the lists by whole entries (events_since sorts by activity only)
sorted() { jq -c -S '.[]' | LC_ALL=C sort | jq -s -S .; }
compare_sets "changes across the failover" "$(truth_since 0 | sorted)" "$(events_since 0 | sorted)"
DUPS=$(jq -s '[.[] | .headers.ce_id] | length - (unique | length)' "$E2E_DIR/events.jsonl")
[ "$DUPS" -eq 0 ] || fail "$DUPS change events were produced twice (same ce_id)"
log "no change event produced twice"

# ---- 5. a paused leader stops enqueuing once resumed
LMSYNC_OPS_PORT_FILE=$E2E_DIR/c.ops start coord_c "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
sleep 4
spid="${STANDBY}_PID"
kill -STOP "${!spid}"
for ((i = 0; i < 250; i++)); do grep -q "leading (epoch" "$E2E_DIR/coord_c.log" && break; sleep 0.1; done
grep -q "leading (epoch" "$E2E_DIR/coord_c.log" || { kill -CONT "${!spid}"; die "coord_c did not lead within 25 s of the pause"; }
CONT_MS=$(date +%s%3N)
kill -CONT "${!spid}"
for ((i = 0; i < 60; i++)); do grep -q "not leading any more (epoch $EPOCH)" "$E2E_DIR/$STANDBY.log" && break; sleep 0.1; done
grep -q "not leading any more (epoch $EPOCH)" "$E2E_DIR/$STANDBY.log" || fail "$STANDBY did not step down within 6 s of SIGCONT"
sleep 3
LATE=$(jq -s --argjson e "$EPOCH" --argjson t "$((CONT_MS + 6000))" '[.[] | select(.value.leader_epoch == $e and .timestamp_ms > $t)] | length' "$E2E_DIR/jobs.jsonl")
[ "$LATE" -eq 0 ] || fail "$LATE jobs of the paused leader's term (epoch $EPOCH) were produced more than 6 s after it resumed"
log "paused leader resumed: $(grep -m1 -o "the loop stalled for [0-9]* ms" "$E2E_DIR/$STANDBY.log" || echo "revoked"); no job of its term after that"
stop_and_check coord_c
stop_and_check "$STANDBY"
stop_and_check worker
[ "$E2E_FAILED" -eq 0 ] && log "PASS coord_failover"
exit "$E2E_FAILED"
