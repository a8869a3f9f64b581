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
# 5. two leaders detected: a job outcome of a later leader term (a status
#    record with a newer leader_epoch, as another replica that believes it
#    leads would cause) makes the leader log "split brain" naming both
#    epochs, count lmsync_coordinator_split_brain_total, step down, and lead
#    again with a new term (it is the only live replica);
# 6. a third replica joins; the leader is paused with SIGSTOP until the third
#    one leads, then resumed: within one session timeout (6 s) it says it no
#    longer leads, and no job of its term is produced after that.
source "$(dirname "$0")/lib.sh"
CONNS=(conn-0001 conn-0002 conn-0003 conn-0004)

leader_gauge() { curl -fsS "http://127.0.0.1:$(cat "$E2E_DIR/$1.ops")/metrics" | awk '$1 == "lmsync_coordinator_leader" {print $2}'; }
# leads HANDLE : the replica logged that it leads (the term's epoch is in that line only)
leads() { grep -q "leading (epoch" "$(proc_log "$1")"; }
some_leader() { leads coord_a || leads coord_b; }

case_start() {
  broker_start devbroker 6
  sandbox_start sandbox --seed 17 --connections 4 --students 3 --courses 2 --contents 2 \
    --providers coursera,go1,learnupon,d2l --tick-ms 0
  write_config "$E2E_DIR/lmsync.conf" sandbox devbroker "coordinator.interval_s = 2" \
    "coordinator.discovery_interval_s = 60" "coordinator.leader_election = 1" "worker.lmdb_path = $E2E_DIR/lmdb" \
    "ops.listen = 127.0.0.1:0" "unified.max_retries = 1"
  export UNIFIED_API_TOKEN=e2e-token
  tail_topic events devbroker lmsync.activity.changes
  tail_topic status devbroker lmsync.sync.status
  tail_topic jobs devbroker lmsync.poll.jobs
  T0=$(date +%s)
  proc_start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf"
  LMSYNC_OPS_PORT_FILE=$E2E_DIR/coord_a.ops proc_start coord_a "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
  LMSYNC_OPS_PORT_FILE=$E2E_DIR/coord_b.ops proc_start coord_b "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
  wait_until 30 test -s "$E2E_DIR/coord_a.ops" || die "coord_a wrote no ops.port_file"
  wait_until 30 test -s "$E2E_DIR/coord_b.ops" || die "coord_b wrote no ops.port_file"
}

# exactly one leader; every connection syncs
case_one_leader() {
  local t
  wait_until 30 some_leader || die "no replica leads within 30 s"
  if leads coord_a && leads coord_b; then die "both replicas lead"; fi
  if leads coord_a; then LEADER=coord_a; STANDBY=coord_b; else LEADER=coord_b; STANDBY=coord_a; fi
  log "$LEADER leads, $STANDBY stands by"
  wait_round status "$((T0 - 1))" 90 "${CONNS[@]}"
  sb sandbox POST /_sandbox/tick '{"count":4}' >/dev/null || die "tick refused"
  t=$(date +%s); wait_round status "$t" 60 "${CONNS[@]}"
  [ "$(leader_gauge $LEADER)" = 1 ] && [ "$(leader_gauge $STANDBY)" = 0 ] ||
    fail "leader gauges: $LEADER=$(leader_gauge $LEADER) $STANDBY=$(leader_gauge $STANDBY)"
  ! leads "$STANDBY" || fail "$STANDBY led while $LEADER was alive"
}

# kill -9 the leader: the standby leads within 15 s
case_kill_leader() {
  local kill_ms takeover_ms
  kill_ms=$(date +%s%3N)
  kill -KILL "$(proc_pid "$LEADER")"
  sb sandbox POST /_sandbox/tick '{"count":4}' >/dev/null || die "tick refused"
  wait_until 20 leads "$STANDBY" || die "$STANDBY did not take over within 20 s"
  EPOCH=$(sed -n 's/.*leading (epoch \([0-9]*\)).*/\1/p' "$(proc_log "$STANDBY")" | head -1)
  takeover_ms=$((EPOCH - kill_ms))
  [ "$takeover_ms" -le 15000 ] || fail "the standby took over $takeover_ms ms after the kill (limit 15000)"
  log "$STANDBY leads $takeover_ms ms after the kill (epoch $EPOCH)"
}

# no scope lost: every connection has jobs of the new term and ok records after it
case_no_scope_lost() {
  local c
  wait_round status "$(((EPOCH / 1000) + 1))" 60 "${CONNS[@]}"
  topic_caught_up jobs
  for c in "${CONNS[@]}"; do
    jq -e -s --arg c "$c" --argjson e "$EPOCH" 'any(.[]; .value.connection_id == $c and .value.leader_epoch == $e)' \
      "$(topic_file jobs)" >/dev/null || fail "$c has no job of the new term (epoch $EPOCH)"
  done
  [ "$(leader_gauge $STANDBY)" = 1 ] || fail "$STANDBY's leader gauge is not 1 after the takeover"
}

# several changes of one activity: order the lists by whole entries (events_since sorts by activity only)
sorted() { jq -c -S '.[]' | LC_ALL=C sort | jq -s -S .; }

# no duplicate or missing change across the failover
case_no_duplicate_or_missing() {
  local t dups
  sb sandbox POST /_sandbox/tick '{"count":4}' >/dev/null || die "tick refused"
  t=$(date +%s)
  wait_round status "$t" 60 "${CONNS[@]}"
  topic_caught_up events
  compare_sets "changes across the failover" "$(truth_since sandbox 0 | sorted)" "$(events_since events 0 | sorted)"
  dups=$(jq -s '[.[] | .headers.ce_id] | length - (unique | length)' "$(topic_file events)")
  [ "$dups" -eq 0 ] || fail "$dups change events were produced twice (same ce_id)"
}

split_brain_logged() { grep -q "split brain: job \"conn-0001@$1\" was enqueued by leader epoch $1 while this replica leads with epoch $EPOCH; this term is older: stepping down" "$(proc_log "$STANDBY")"; }
# leads_after HANDLE EPOCH : the replica logged a term with a later epoch
leads_after() { sed -n 's/.*leading (epoch \([0-9]*\)).*/\1/p' "$(proc_log "$1")" | awk -v e="$2" '$1 > e {f=1} END {exit !f}'; }
split_brain_gauge() { curl -fsS "http://127.0.0.1:$(cat "$E2E_DIR/$1.ops")/metrics" | awk '$1 == "lmsync_coordinator_split_brain_total" {print $2}'; }

# another leader's job outcome while leading: detected, counted, the older term steps down
case_split_brain() {
  local other now
  other=$(date +%s%3N)
  [ "$other" -gt "$EPOCH" ] || die "clock: $other is not after epoch $EPOCH"
  now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
  printf '{"job_id":"conn-0001@%s","connection_id":"conn-0001","outcome":"ok","leader_epoch":%s,"started_at":"%s","finished_at":"%s"}\n' \
    "$other" "$other" "$now" "$now" |
    kcat -P -b "$(broker_bootstrap devbroker)" -t lmsync.sync.status -k conn-0001 || die "kcat could not produce the record"
  wait_until 15 split_brain_logged "$other" || die "$STANDBY logged no split brain for epoch $other (its epoch $EPOCH)"
  [ "$(split_brain_gauge "$STANDBY")" -ge 1 ] || fail "lmsync_coordinator_split_brain_total is $(split_brain_gauge "$STANDBY")"
  wait_until 20 leads_after "$STANDBY" "$other" || die "$STANDBY did not lead again after stepping down"
  log "$(grep -m1 -o 'split brain: .*' "$(proc_log "$STANDBY")")"
  EPOCH=$(sed -n 's/.*leading (epoch \([0-9]*\)).*/\1/p' "$(proc_log "$STANDBY")" | tail -1)
  log "$STANDBY leads again (epoch $EPOCH)"
  sb sandbox POST /_sandbox/tick '{"count":2}' >/dev/null || die "tick refused"
  wait_round status "$(((EPOCH / 1000) + 1))" 60 "${CONNS[@]}"
}

stepped_down() { grep -q "not leading any more (epoch $EPOCH)" "$(proc_log "$STANDBY")"; }

# a third replica joins; the leader paused with SIGSTOP until the third one
# leads, then resumed: within one session timeout (6 s) it steps down, and no
# job of its term is produced after that
case_paused_leader() {
  local cont_ms late
  LMSYNC_OPS_PORT_FILE=$E2E_DIR/coord_c.ops proc_start coord_c "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
  wait_until 30 test -s "$E2E_DIR/coord_c.ops" || die "coord_c wrote no ops.port_file"
  kill -STOP "$(proc_pid "$STANDBY")"
  wait_until 25 leads coord_c || { kill -CONT "$(proc_pid "$STANDBY")"; die "coord_c did not lead within 25 s of the pause"; }
  cont_ms=$(date +%s%3N)
  kill -CONT "$(proc_pid "$STANDBY")"
  wait_until 6 stepped_down || fail "$STANDBY did not step down within 6 s of SIGCONT"
  sleep 3 # on purpose: time for a late job of the old term to show up on the topic
  topic_caught_up jobs
  late=$(jq -s --argjson e "$EPOCH" --argjson t "$((cont_ms + 6000))" \
    '[.[] | select(.value.leader_epoch == $e and .timestamp_ms > $t)] | length' "$(topic_file jobs)")
  [ "$late" -eq 0 ] || fail "$late jobs of the paused leader's term (epoch $EPOCH) were produced more than 6 s after it resumed"
  log "paused leader resumed: $(grep -m1 -o "the loop stalled for [0-9]* ms" "$(proc_log "$STANDBY")" || echo "revoked"); no job of its term after that"
  proc_stop coord_c
  proc_stop "$STANDBY"
  proc_stop worker
}

test_case start
test_case one-leader
test_case kill-leader
test_case no-scope-lost
test_case no-duplicate-or-missing
test_case split-brain
test_case paused-leader
run_cases
