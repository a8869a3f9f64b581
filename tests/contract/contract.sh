#!/usr/bin/env bash
# End to end: lmsync's public topics read by an independent client from
# another ecosystem. The pipeline (devbroker + sandbox + coordinator + worker)
# produces change events and status records; then kafkajs (Node) with the
# official CloudEvents SDK's Kafka binding reads every message of both topics
# and validates it against docs/schemas (ajv, draft 2020-12): the message
# counts must equal what lmsync-tail (librdkafka) reads, and no message may
# fail. Needs tests/contract/setup.sh to have installed the npm packages.
source "$(dirname "$0")/../e2e/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
[ -d "$HERE/node_modules/kafkajs" ] || die "npm packages missing: run tests/contract/setup.sh"

start_devbroker 4
start_sandbox --seed 9 --connections 4 --students 4 --courses 3 --contents 2 --tick-ms 400 --mutations-per-tick 3 \
  --providers coursera,moodle,successfactors_lms,docebo
write_config "$E2E_DIR/lmsync.conf" "worker.lmdb_path = $E2E_DIR/lmdb" "coordinator.interval_s = 2"
export UNIFIED_API_TOKEN=e2e-token
start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf" --processes 1
start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
tail_topic events lmsync.activity.changes
tail_topic status lmsync.sync.status
# a few rounds with changes in them (initial sync, then updates, a removal)
wait_round "$(date +%s)" 60 conn-0001 conn-0002 conn-0003 conn-0004
sleep 4 # on purpose: let the sandbox's ticks make changes for the next rounds
wait_round "$(date +%s)" 60 conn-0001 conn-0002 conn-0003 conn-0004
stop_and_check coordinator
stop_and_check worker
n_events=$("$LS_TAIL" --brokers "$BROKERS" --topic lmsync.activity.changes --format json --exit-at-end 2>/dev/null | wc -l)
n_status=$("$LS_TAIL" --brokers "$BROKERS" --topic lmsync.sync.status --format json --exit-at-end 2>/dev/null | wc -l)
log "librdkafka reads $n_events change events and $n_status status records"
[ "$n_events" -gt 0 ] && [ "$n_status" -gt 0 ] || die "nothing was produced"
types=$(jq -r '.value.type' "$E2E_DIR/events.jsonl" | sort -u | tr '\n' ' ')
log "event types seen: $types"
node "$HERE/consume.js" "$BROKERS" "$HERE/../../docs/schemas" \
  "lmsync.activity.changes=$n_events" "lmsync.sync.status=$n_status" >"$E2E_DIR/consume.out" 2>&1
rc=$?
cat "$E2E_DIR/consume.out"
[ $rc -eq 0 ] || fail "kafkajs + cloudevents + ajv: $(tail -5 "$E2E_DIR/consume.out")"
[ "$E2E_FAILED" -eq 0 ] && log "PASS" || exit 1
