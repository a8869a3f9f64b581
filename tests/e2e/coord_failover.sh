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
# 6. schedule records carry their writer's epoch: the leader's records have
#    its term's epoch; at the start of a term a record of a newer term (one
#    that another replica keeps writing) is a split brain too ("schedule
#    record of ... was written by leader epoch N", counted, step down), and a
#    record of an older epoch than one read before for its scope is ignored;
# 7. a third replica joins; the leader is paused with SIGSTOP until the third
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

# sched_record KEY EPOCH : a schedule record of scope KEY written by leader epoch EPOCH
sched_record() {
  printf '%s:{"v":1,"next_due":%s,"last_full":0,"since_full":0,"records":-1,"failures":0,"job_due":0,"job_since":0,"last_ok":0,"epoch":%s}\n' \
    "$1" "$(($(date +%s%3N) + 60000))" "$2" | kcat -P -b "$(broker_bootstrap devbroker)" -t lmsync.coordinator.schedule -K:
}
sched_split_logged() { grep -q 'split brain: schedule record of "conn-9999" was written by leader epoch [0-9]* while this replica leads with epoch [0-9]*; this term is older: stepping down' "$(proc_log "$STANDBY")"; }

# the schedule records' writer epoch: written, newer one = split brain at the start of a term, older one ignored
case_schedule_epoch() {
  local n writer before other now rc
  n=$(timeout 30 kcat -C -b "$(broker_bootstrap devbroker)" -t lmsync.coordinator.schedule -o beginning -e -q -f '%s\n' |
    jq -s --argjson e "$EPOCH" '[.[] | select(.epoch == $e)] | length')
  [ "$n" -gt 0 ] || fail "no schedule record carries the leader's epoch $EPOCH"
  # conn-9998: a newer term's record, then an older one after it (a deposed leader writing late): the older is ignored
  sched_record conn-9998 "$((EPOCH + 2))" && sched_record conn-9998 "$((EPOCH + 1))" || die "kcat could not produce"
  # conn-9999: another replica that believes it leads keeps writing with an epoch just ahead of the clock
  ( while :; do sched_record conn-9999 "$(($(date +%s%3N) + 1500))"; sleep 0.2; done ) &
  writer=$!
  before=$(split_brain_gauge "$STANDBY")
  # a new term of this replica reads the schedule back: force one as case split-brain does
  other=$(date +%s%3N)
  now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
  printf '{"job_id":"conn-0001@%s","connection_id":"conn-0001","outcome":"ok","leader_epoch":%s,"started_at":"%s","finished_at":"%s"}\n' \
    "$other" "$other" "$now" "$now" |
    kcat -P -b "$(broker_bootstrap devbroker)" -t lmsync.sync.status -k conn-0001 || { kill "$writer"; die "kcat could not produce"; }
  wait_until 30 sched_split_logged; rc=$?
  kill "$writer"; wait "$writer" 2>/dev/null
  [ "$rc" -eq 0 ] || die "$STANDBY logged no split brain for the newer schedule record"
  log "$(grep -m1 -o 'split brain: schedule record .*' "$(proc_log "$STANDBY")")"
  [ "$(split_brain_gauge "$STANDBY")" -ge $((before + 2)) ] ||
    fail "lmsync_coordinator_split_brain_total went from $before to $(split_brain_gauge "$STANDBY") (expected 2 more)"
  grep -q 'schedule restored from .* [1-9][0-9]* of an older leader epoch ignored' "$(proc_log "$STANDBY")" ||
    fail "the older record of conn-9998 was not ignored"
  wait_until 30 leads_after "$STANDBY" "$(($(date +%s%3N) + 1500))" || die "$STANDBY did not lead again after the newer records stopped"
  EPOCH=$(sed -n 's/.*leading (epoch \([0-9]*\)).*/\1/p' "$(proc_log "$STANDBY")" | tail -1)
  log "$STANDBY leads again (epoch $EPOCH)"
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
test_case schedule-epoch
test_case paused-leader
run_cases
