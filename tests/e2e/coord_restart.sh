#!/usr/bin/env bash
# End to end: the coordinator's schedule survives kill -9
# (<prefix>.coordinator.schedule, coordinator/ls_coord_persist.c).
# Six successfactors_lms connections (incremental) and two coursera (full).
# 1. steady state: every connection has had several ok jobs (first full,
#    then incremental for successfactors);
# 2. a garbage record is put on the schedule topic for conn-0006, then the
#    coordinator is killed with SIGKILL and started again;
# 3. the new process enqueues within 10 s of its start;
# 4. its first job of each successfactors scope is incremental, as the
#    schedule says (without the schedule it would be full), except conn-0006,
#    whose record was skipped with a one-line reason: it starts fresh (full);
#    coursera stays full; the restored/skipped counters say 8 and 1;
# 5. every connection keeps reporting ok after the restart;
# 6. with every broker down (devbroker control API) the coordinator keeps
#    its loop (jobs wait in librdkafka) and exits within a second of SIGTERM.
source "$(dirname "$0")/lib.sh"
CONNS=(conn-0001 conn-0002 conn-0003 conn-0004 conn-0005 conn-0006 conn-0007 conn-0008)

start_devbroker_ctl devbroker 6 3
start_sandbox --seed 9 --connections 8 --students 3 --courses 2 --contents 1 \
  --providers 'successfactors_lms*6,coursera*2' --tick-ms 0
write_config "$E2E_DIR/lmsync.conf" "coordinator.interval_s = 3" "coordinator.discovery_interval_s = 60" \
  "coordinator.full_every = 1000" "worker.watermark_overlap_s = 1" "ops.listen = 127.0.0.1:0" \
  "worker.lmdb_path = $E2E_DIR/lmdb" "unified.max_retries = 1"
export UNIFIED_API_TOKEN=e2e-token
tail_topic status lmsync.sync.status
tail_topic jobs lmsync.poll.jobs
T0=$(date +%s)
start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf"
LMSYNC_OPS_PORT_FILE=$E2E_DIR/coord1.ops start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"

# ---- 1. steady state: two ok rounds after the first
wait_round "$((T0 - 1))" 90 "${CONNS[@]}"
T1=$(date +%s); wait_round "$T1" 60 "${CONNS[@]}"
T2=$(date +%s); wait_round "$T2" 60 "${CONNS[@]}"
log "steady state: every connection reported ok rounds"

# ---- 2. garbage for conn-0006, then kill -9 and restart
printf 'conn-0006:{"v":1,"next_due":"soon"}\n' | kcat -b "$BROKERS" -t lmsync.coordinator.schedule -P -K: \
  || die "kcat could not produce the garbage record"
kill -KILL "$coordinator_PID"
sleep 1
N_BEFORE=$(wc -l <"$E2E_DIR/jobs.jsonl")
START_MS=$(date +%s%3N)
LMSYNC_OPS_PORT_FILE=$E2E_DIR/coord2.ops start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"

# ---- 3. resume time
first_new_ms=""
for ((i = 0; i < 150; i++)); do
  first_new_ms=$(tail -n +"$((N_BEFORE + 1))" "$E2E_DIR/jobs.jsonl" | jq -s 'map(.timestamp_ms) | min // empty')
  [ -n "$first_new_ms" ] && break
  sleep 0.1
done
[ -n "$first_new_ms" ] || die "no job within 15 s of the restart"
RESUME_MS=$((first_new_ms - START_MS))
[ "$RESUME_MS" -le 10000 ] || fail "first job $RESUME_MS ms after the restart (limit 10000)"
log "first job after the restart: $RESUME_MS ms after the new process started"

# ---- 4. modes of the first job per scope after the restart
T3=$(date +%s); wait_round "$T3" 60 "${CONNS[@]}"
firsts=$(tail -n +"$((N_BEFORE + 1))" "$E2E_DIR/jobs.jsonl" | jq -s 'group_by(.value.connection_id)
          | map({key: .[0].value.connection_id, value: (sort_by(.offset) | .[0].value.mode)}) | from_entries')
for c in conn-0001 conn-0002 conn-0003 conn-0004 conn-0005; do
  [ "$(jq -r --arg c "$c" '.[$c]' <<<"$firsts")" = incremental ] || fail "$c: first job after the restart is not incremental: $firsts"
done
[ "$(jq -r '.["conn-0006"]' <<<"$firsts")" = full ] || fail "conn-0006 (bad schedule record) did not start fresh with a full job: $firsts"
for c in conn-0007 conn-0008; do
  [ "$(jq -r --arg c "$c" '.[$c]' <<<"$firsts")" = full ] || fail "$c (coursera) first job is not full: $firsts"
done
grep -q 'schedule record of "conn-0006" at lmsync.coordinator.schedule .* skipped, the scope starts fresh: member "next_due" is not an integer in range' \
  "$E2E_DIR/coordinator.log" || fail "no one-line reason for the bad schedule record"
M=$(curl -fsS "http://127.0.0.1:$(cat "$E2E_DIR/coord2.ops")/metrics")
restored=$(awk '$1 == "lmsync_coordinator_schedule_restored_total" {print $2}' <<<"$M")
skipped=$(awk '$1 == "lmsync_coordinator_schedule_skipped_total" {print $2}' <<<"$M")
[ "$restored" = 7 ] && [ "$skipped" = 1 ] || fail "restored=$restored skipped=$skipped, expected 7 and 1"
log "first jobs after the restart: $(jq -c . <<<"$firsts")"

# ---- 5. still reporting ok
T4=$(date +%s); wait_round "$T4" 60 "${CONNS[@]}"
stop_and_check worker

# ---- 6. brokers down: SIGTERM is still honoured at once
dbctl /brokers/all/down
sleep 8 # several slots pass: jobs are produced into librdkafka's queue and wait there
kill -0 "$coordinator_PID" || die "coordinator died with the brokers down"
TS=$(date +%s%3N)
kill -TERM "$coordinator_PID"
for ((i = 0; i < 100; i++)); do kill -0 "$coordinator_PID" 2>/dev/null || break; sleep 0.02; done
STOP_MS=$(( $(date +%s%3N) - TS ))
kill -0 "$coordinator_PID" 2>/dev/null && die "coordinator still running 2 s after SIGTERM with the brokers down"
wait "$coordinator_PID"; rc=$?
[ "$rc" -eq 0 ] || fail "coordinator exited with $rc after SIGTERM with the brokers down"
[ "$STOP_MS" -le 1000 ] || fail "coordinator took $STOP_MS ms to exit after SIGTERM with the brokers down (limit 1000)"
log "brokers down: the coordinator exited $STOP_MS ms after SIGTERM"
dbctl /brokers/all/up
[ "$E2E_FAILED" -eq 0 ] && log "PASS coord_restart"
exit "$E2E_FAILED"
