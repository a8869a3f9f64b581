#!/usr/bin/env bash
# End to end: incremental polling with updated_gte watermarks.
# successfactors_lms (the sandbox honours updated_gte and profiles it so in
# GET /unified/integration) next to coursera (full scans only):
#   start            devbroker, sandbox, tails, worker, coordinator (full_every 4)
#   initial-sync     equals the ground truth; the first job of every scope is full
#   incremental      later successfactors jobs are incremental, send the stored
#                    watermark and fetch in proportion to what changed (0 records
#                    when nothing changed); coursera jobs stay full and fetch everything
#   changes          changes in both connections: events equal the ground truth
#   reconciliation   a full reconciliation scan comes every coordinator.full_every jobs
#   shutdown         SIGTERM stops coordinator and worker cleanly
source "$(dirname "$0")/lib.sh"
CONNS=(conn-0001 conn-0002)

case_start() {
  broker_start devbroker 6
  sandbox_start sandbox --seed 5 --connections 2 --students 4 --courses 2 --contents 2 \
    --providers successfactors_lms,coursera --tick-ms 0
  write_config "$E2E_DIR/lmsync.conf" sandbox devbroker "coordinator.interval_s = 2" "coordinator.discovery_interval_s = 60" \
    "coordinator.full_every = 4" "worker.watermark_overlap_s = 1" \
    "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 5" "unified.max_retries = 1"
  pipeline_start devbroker "$E2E_DIR/lmsync.conf"
}

case_initial_sync() {
  wait_round status "$((T0 - 1))" 90 "${CONNS[@]}"
  check_truth "initial sync" sandbox events 0 0 || return 1
  jq -e '.[0].mode == "full" and .[0].outcome == "ok" and (.[0].next_watermark | type == "string")' \
    <<<"$(status_since status conn-0001 "$((T0 - 1))")" >/dev/null \
    || fail "first successfactors job was not a full scan: $(status_since status conn-0001 "$((T0 - 1))" | jq -c '.[0]')"
  TOTAL=$(sb_acts sandbox conn-0001 | jq length)
  N1=$(topic_count events); SEQ1=$(truth_seq sandbox)
}

case_incremental() {
  local t1 s
  t1=$(date +%s)
  wait_round status "$t1" 60 "${CONNS[@]}"
  s=$(status_since status conn-0001 "$t1")
  jq -e 'any(.[]; .mode == "incremental" and .outcome == "ok" and .records == 0 and (.watermark | type == "string"))' \
    <<<"$s" >/dev/null || fail "no incremental successfactors job with 0 records: $(jq -c . <<<"$s")"
  jq -e --argjson n "$(sb_acts sandbox conn-0002 | jq length)" \
    'all(.[]; .mode == "full" and .records == $n)' <<<"$(status_since status conn-0002 "$t1")" >/dev/null \
    || fail "coursera jobs are not full scans of every record: $(status_since status conn-0002 "$t1" | jq -c .)"
  log "incremental successfactors job fetched 0 of $TOTAL records; coursera stays full"
}

case_changes() {
  local c a now t2
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for c in "${CONNS[@]}"; do
    a=$(sb_pick sandbox "$c" '.is_completed != true')
    sb_set sandbox "$c" "$a" "{\"is_completed\":true,\"completed_at\":\"$now\"}"
  done
  sb sandbox POST /_sandbox/activity '{"connection_id":"conn-0001","activity_id":"act-new-1","set":{"course_id":"crs-1","student_id":"stu-1","is_completed":false}}' >/dev/null \
    || die "create refused"
  t2=$(date +%s)
  wait_round status "$t2" 60 "${CONNS[@]}"
  check_truth "changes" sandbox events "$SEQ1" "$N1" || return 1
  jq -e --argjson t "$TOTAL" 'any(.[]; .mode == "incremental" and .outcome == "ok" and .records >= 1 and .records < $t)' \
    <<<"$(status_since status conn-0001 "$t2")" >/dev/null \
    || log "note: the change was picked up by a full scan: $(status_since status conn-0001 "$t2" | jq -c '[.[] | {mode, records}]')"
}

# reconciled : conn-0001 ran a full job after an incremental one
reconciled() {
  jq -e 'map(.mode) | index("incremental") as $i | $i != null and (.[$i:] | index("full")) != null' \
    <<<"$(status_since status conn-0001 "$T0")" >/dev/null
}

case_reconciliation() {
  local i
  for i in 1 2 3 4 5; do
    reconciled && break
    wait_round status "$(date +%s)" 60 conn-0001
  done
  reconciled || fail "no full reconciliation after incremental jobs: $(status_since status conn-0001 "$T0" | jq -c 'map(.mode)')"
  log "successfactors job modes: $(status_since status conn-0001 "$T0" | jq -c 'map(.mode)')"
  [ "$(type_count events removed 0)" -eq 0 ] || fail "a removed event appeared"
}

case_shutdown() {
  proc_stop coordinator
  proc_stop worker
}

test_case start
test_case initial-sync
test_case incremental
test_case changes
test_case reconciliation
test_case shutdown --needs start
run_cases
