#!/usr/bin/env bash
# End to end: removal detection (a "removed" event for an activity deleted upstream).
#   start          devbroker, sandbox, tails, worker, coordinator
#   initial-sync   the initial sync equals the ground truth
#   one-deletion   an activity deleted upstream is announced as "removed"
#                  (after: null, before: the last state) only after two complete
#                  full scans missed it
#   failed-scans   scans that fail part way (persistent truncate fault) never
#                  remove: no "removed" while the fault lasts; the event arrives
#                  two complete scans after the fault is cleared
#   shrink-guard   a sudden shrink (80% of a connection deleted at once) removes
#                  nothing: the status record says why (removals_skipped) and no
#                  "removed" event is emitted for the next two rounds
#   shutdown       SIGTERM stops coordinator and worker cleanly
source "$(dirname "$0")/lib.sh"
CONNS=(conn-0001 conn-0002)

case_start() {
  broker_start devbroker 6
  sandbox_start sandbox --seed 9 --connections 2 --students 3 --courses 2 --contents 2 \
    --providers coursera,d2l --tick-ms 0
  write_config "$E2E_DIR/lmsync.conf" sandbox devbroker "coordinator.interval_s = 2" "coordinator.discovery_interval_s = 60" \
    "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 5" "unified.max_retries = 1"
  pipeline_start devbroker "$E2E_DIR/lmsync.conf"
}

# two_rounds CONN SECONDS : two poll rounds of CONN, the second started after the first reported
two_rounds() {
  wait_round status "$(date +%s)" "$2" "$1"
  wait_round status "$(date +%s)" "$2" "$1"
}

case_initial_sync() {
  wait_round status "$((T0 - 1))" 90 "${CONNS[@]}"
  check_truth "initial sync" sandbox events 0 0 || return 1
  N1=$(topic_count events); SEQ1=$(truth_seq sandbox)
}

case_one_deletion() {
  local a1 t1d exp
  a1=$(sb_acts sandbox conn-0001 | jq -r '.[0].id')
  [ -n "$a1" ] || die "seed has no activity in conn-0001"
  t1d=$(( $(date +%s) - 1 ))   # status checks: every job that may have missed it
  sb_delete sandbox conn-0001 "$a1"
  two_rounds conn-0001 60
  # the scan that removed it came after a complete scan that only counted a miss
  jq -e 'sort_by(.started_at) | (map(.outcome == "ok" and .pending_removals >= 1) | index(true)) as $p
         | (map(.outcome == "ok" and .removed == 1 and .removals_skipped == null) | index(true)) as $r
         | $p != null and $r != null and $p < $r' <<<"$(status_since status conn-0001 "$t1d")" >/dev/null \
    || fail "no first miss before the removal: $(status_since status conn-0001 "$t1d")"
  exp=$(truth_since sandbox "$SEQ1")
  [ "$(jq -c '[.[] | {c, a, t, f}]' <<<"$exp")" == "[{\"c\":\"conn-0001\",\"a\":\"$a1\",\"t\":\"removed\",\"f\":null}]" ] \
    || die "unexpected ground truth: $exp"
  check_truth "one deletion" sandbox events "$SEQ1" "$N1" || return 1
  [ "$(type_count events removed "$N1")" -eq 1 ] || fail "expected exactly one removed event"
  N2=$(topic_count events); SEQ2=$(truth_seq sandbox)
}

case_failed_scans() {
  local a2 t2s i
  sb sandbox POST /_sandbox/faults '{"connection_id":"conn-0002","kind":"truncate","count":-1}' >/dev/null
  a2=$(sb_acts sandbox conn-0002 | jq -r '.[1].id')
  [ -n "$a2" ] || die "seed has no second activity in conn-0002"
  sb_delete sandbox conn-0002 "$a2"
  t2s=$(date +%s)   # every conn-0002 job started after this second meets the fault
  for i in 1 2 3; do wait_round status "$(date +%s)" 90 conn-0002; done
  jq -e 'length >= 3 and all(.[]; .outcome == "failed" and .removed == 0 and .pending_removals == 0)' \
    <<<"$(status_since status conn-0002 "$t2s")" >/dev/null \
    || fail "conn-0002 scans did not all fail without removals: $(status_since status conn-0002 "$t2s")"
  [ "$(type_count events removed "$N2")" -eq 0 ] || die "a failed scan led to a removed event: $(events_of_type_since events removed "$N2")"
  log "3 failed scans of conn-0002: no removed event"
  sb sandbox DELETE /_sandbox/faults >/dev/null
  two_rounds conn-0002 90
  check_truth "deletion across failed scans" sandbox events "$SEQ2" "$N2" || return 1
  N3=$(topic_count events)
}

case_shrink_guard() {
  local ids ndel i t4 s
  mapfile -t ids < <(sb_acts sandbox conn-0001 | jq -r '.[].id')
  ndel=$(( (${#ids[@]} * 8 + 9) / 10 ))
  [ "$ndel" -ge 2 ] || die "too few activities in conn-0001 for the shrink case (${#ids[@]})"
  for ((i = 0; i < ndel; i++)); do sb_delete sandbox conn-0001 "${ids[$i]}"; done
  log "deleted $ndel of ${#ids[@]} activities of conn-0001"
  t4=$(date +%s)
  two_rounds conn-0001 60
  s=$(status_since status conn-0001 "$t4")
  jq -e 'length >= 2 and all(.[]; .outcome == "ok" and .removed == 0 and .pending_removals == 0
           and (.removals_skipped | type == "string"))' <<<"$s" >/dev/null \
    || fail "shrink guard not reported: $s"
  [ "$(type_count events removed "$N3")" -eq 0 ] || fail "a guarded shrink emitted removed events"
  log "shrink guarded: $(jq -r '.[0].removals_skipped' <<<"$s")"
  # the guard held because the scan saw under half (worker.removal_min_ratio_pct
  # 50) of what the last complete scan saw (was a check of the worker's log)
  jq -e --argjson n "${#ids[@]}" 'all(.[]; .records * 100 < $n * 50)' <<<"$s" >/dev/null \
    || fail "the skipped removal passes did not see a shrunken scan: $(jq -c 'map(.records)' <<<"$s") of ${#ids[@]}"
}

case_shutdown() {
  proc_stop coordinator
  proc_stop worker
}

test_case start
test_case initial-sync
test_case one-deletion
test_case failed-scans
test_case shrink-guard
test_case shutdown --needs start
run_cases
