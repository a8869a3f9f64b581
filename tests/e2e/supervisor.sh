#!/usr/bin/env bash
# End to end: lmsync-worker as a prefork supervisor with 2 worker processes.
#   start          devbroker, sandbox, tails, worker master (2 children), coordinator
#   initial-sync   the initial sync through both children equals the ground truth
#   kill-child     kill -9 one child: the supervisor logs the death and starts a
#                  new one; changes made meanwhile still arrive (re-deliveries
#                  de-duplicated by ce_id)
#   drain          SIGTERM to the master drains the children: exit 0, no child left
# The supervisor reports to no topic: its deaths, restarts and drain are facts
# of its log only, so those checks match log wording (marked below).
source "$(dirname "$0")/lib.sh"
CONNS=(conn-0001 conn-0002 conn-0003 conn-0004 conn-0005 conn-0006)

children() { proc_children worker; }
child_count_is() { [ "$(children | wc -l)" -eq "$1" ]; }

case_start() {
  broker_start devbroker 6
  sandbox_start sandbox --seed 5 --connections 6 --students 3 --courses 2 --contents 2 \
    --providers coursera,go1,learnupon,d2l --tick-ms 0
  write_config "$E2E_DIR/lmsync.conf" sandbox devbroker "coordinator.interval_s = 2" "coordinator.discovery_interval_s = 60" \
    "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 5"
  pipeline_start devbroker "$E2E_DIR/lmsync.conf" --processes 2
  wait_until 15 child_count_is 2 || die "worker master did not fork 2 children: $(children | tr '\n' ' ')"
  log "worker master $(proc_pid worker), children: $(children | tr '\n' ' ')"
}

case_initial_sync() {
  wait_round status "$((T0 - 1))" 90 "${CONNS[@]}"
  check_truth "initial sync" sandbox events 0 0 || return 1
  N1=$(topic_count events); SEQ1=$(truth_seq sandbox)
}

case_kill_child() {
  local victim c a now exp
  victim=$(children | head -n 1)
  kill -KILL "$victim" || die "cannot kill child $victim"
  log "killed child $victim"
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for c in "${CONNS[@]}"; do
    a=$(sb_pick sandbox "$c" '.is_completed != true')
    [ -n "$a" ] || die "seed has no incomplete activity on $c"
    sb_set sandbox "$c" "$a" "{\"is_completed\":true,\"completed_at\":\"$now\"}"
  done
  T1=$(date +%s)
  wait_until 15 child_count_is 2 || die "supervisor did not replace the killed child: $(children | tr '\n' ' ')"
  ! children | grep -qx "$victim" || die "killed child $victim still listed"
  log "children after the kill: $(children | tr '\n' ' ')"
  # log wording (no status record of the supervisor): the death and the restart
  grep -q "worker process $victim killed by signal 9" "$(proc_log worker)" || fail "supervisor did not log the death of $victim"
  grep -q "worker process [0-9]* started (slot [0-9]*, start 2)" "$(proc_log worker)" || fail "supervisor did not log the restart"
  wait_round status "$T1" 90 "${CONNS[@]}"
  exp=$(truth_since sandbox "$SEQ1")
  [ "$(jq length <<<"$exp")" -ge "${#CONNS[@]}" ] || fail "ground truth has fewer changes than made: $exp"
  check_truth "changes across a killed child" sandbox events "$SEQ1" "$N1"
}

case_drain() {
  local kids k
  kids=$(children)
  proc_stop coordinator
  proc_stop worker
  for k in $kids; do ! kill -0 "$k" 2>/dev/null || fail "child $k still running after the master stopped"; done
  # log wording (no status record of the supervisor): the drain
  grep -q "stopping 2 worker processes" "$(proc_log worker)" || fail "supervisor did not log the drain"
}

test_case start
test_case initial-sync
test_case kill-child
test_case drain --needs start
run_cases
