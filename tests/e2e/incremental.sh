#!/usr/bin/env bash
# End to end: incremental polling with updated_gte watermarks (issue 3).
# successfactors_lms (the sandbox honours updated_gte and profiles it so in
# GET /unified/integration) next to coursera (full scans only):
# 1. initial sync equals the ground truth; the first job of every scope is full;
# 2. later successfactors jobs are incremental, send the stored watermark and
#    fetch in proportion to what changed (0 records when nothing changed),
#    while coursera jobs stay full and fetch everything;
# 3. changes in both connections: events equal the ground truth;
# 4. a full reconciliation scan comes every coordinator.full_every jobs.
source "$(dirname "$0")/lib.sh"
CONNS=(conn-0001 conn-0002)

start_devbroker 6
start_sandbox --seed 5 --connections 2 --students 4 --courses 2 --contents 2 \
  --providers successfactors_lms,coursera --tick-ms 0
write_config "$E2E_DIR/lmsync.conf" "coordinator.interval_s = 2" "coordinator.discovery_interval_s = 60" \
  "coordinator.full_every = 4" "worker.watermark_overlap_s = 1" \
  "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 5" "unified.max_retries = 1"
export UNIFIED_API_TOKEN=e2e-token
tail_topic events lmsync.activity.changes
tail_topic status lmsync.sync.status
T0=$(date +%s)
start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf"
start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
st() { jq -s --arg c "$1" --argjson s "$2" '[.[] | .value | select(.connection_id == $c and
         ((.started_at | sub("\\.[0-9]+Z$"; "Z") | fromdate) > $s))] | sort_by(.started_at)' "$E2E_DIR/status.jsonl"; }

# ---- 1. initial sync, full first
wait_round "$((T0 - 1))" 90 "${CONNS[@]}"
sleep 1
compare_sets "initial sync" "$(truth_since 0)" "$(events_since 0)" || exit 1
jq -e '.[0].mode == "full" and .[0].outcome == "ok" and (.[0].next_watermark | type == "string")' \
  <<<"$(st conn-0001 "$((T0 - 1))")" >/dev/null || fail "first successfactors job was not a full scan: $(st conn-0001 "$((T0 - 1))" | jq -c '.[0]')"
TOTAL=$(sb GET "/_sandbox/activities?connection_id=conn-0001" | jq length)
N1=$(event_count); SEQ1=$(truth_seq)

# ---- 2. incremental jobs fetch what changed (nothing), coursera stays full
T1=$(date +%s)
wait_round "$T1" 60 "${CONNS[@]}"
S=$(st conn-0001 "$T1")
jq -e 'any(.[]; .mode == "incremental" and .outcome == "ok" and .records == 0 and (.watermark | type == "string"))' \
  <<<"$S" >/dev/null || fail "no incremental successfactors job with 0 records: $(jq -c . <<<"$S")"
jq -e --argjson n "$(sb GET "/_sandbox/activities?connection_id=conn-0002" | jq length)" \
  'all(.[]; .mode == "full" and .records == $n)' <<<"$(st conn-0002 "$T1")" >/dev/null \
  || fail "coursera jobs are not full scans of every record: $(st conn-0002 "$T1" | jq -c .)"
log "incremental successfactors job fetched 0 of $TOTAL records; coursera stays full"

# ---- 3. changes in both connections
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for c in conn-0001 conn-0002; do
  a=$(sb GET "/_sandbox/activities?connection_id=$c" | jq -r '[.[] | select(.is_completed != true)][0].id')
  sb POST /_sandbox/activity "{\"connection_id\":\"$c\",\"activity_id\":\"$a\",\"set\":{\"is_completed\":true,\"completed_at\":\"$NOW\"}}" >/dev/null \
    || die "control API refused $a"
done
sb POST /_sandbox/activity '{"connection_id":"conn-0001","activity_id":"act-new-1","set":{"course_id":"crs-1","student_id":"stu-1","is_completed":false}}' >/dev/null \
  || die "create refused"
T2=$(date +%s)
wait_round "$T2" 60 "${CONNS[@]}"
sleep 1
compare_sets "changes" "$(truth_since "$SEQ1")" "$(events_since "$N1")" || exit 1
jq -e --argjson t "$TOTAL" 'any(.[]; .mode == "incremental" and .outcome == "ok" and .records >= 1 and .records < $t)' \
  <<<"$(st conn-0001 "$T2")" >/dev/null || log "note: the change was picked up by a full scan: $(st conn-0001 "$T2" | jq -c '[.[] | {mode, records}]')"

# ---- 4. periodic full reconciliation
for i in 1 2 3 4 5; do
  jq -e 'map(.mode) | index("incremental") as $i | $i != null and (.[$i:] | index("full")) != null' \
    <<<"$(st conn-0001 "$T0")" >/dev/null && break
  T=$(date +%s); wait_round "$T" 60 conn-0001
done
jq -e 'map(.mode) | index("incremental") as $i | $i != null and (.[$i:] | index("full")) != null' \
  <<<"$(st conn-0001 "$T0")" >/dev/null || fail "no full reconciliation after incremental jobs: $(st conn-0001 "$T0" | jq -c 'map(.mode)')"
log "successfactors job modes: $(st conn-0001 "$T0" | jq -c 'map(.mode)')"
[ "$(jq -s '[.[] | select(.value.type == "removed")] | length' "$E2E_DIR/events.jsonl")" -eq 0 ] || fail "a removed event appeared"

stop_and_check coordinator
stop_and_check worker
[ "$E2E_FAILED" -eq 0 ] || exit 1
log "PASS"
