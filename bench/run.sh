#!/usr/bin/env bash
# bench/run.sh - the benchmark suite of docs/performance.md.
#
#   bash bench/run.sh [--smoke] [BUILD_DIR]
#
# Starts the real processes (devbroker, sandbox, one worker process) and
# measures with the operating system's own accounting (/proc/PID/stat CPU
# ticks, /proc/PID/status VmHWM, mdb_stat page counts, Kafka end offsets):
#   a. full initial sync of 500 connections x 2,000 activities, the sandbox
#      adding 100 ms to every request: wall time, pages/s, ideal, ratio; one
#      connection (conn-0007) answers 429 to every request and one (conn-0009)
#      stalls mid-body on every request: the wall time is that of the other
#      498, which must all finish ok while those two fail on their own
#   b. worker CPU per activity, changed (first sync) and unchanged (second
#      sync), next to jansson alone parsing the same pages
#   c. peak RSS of a worker syncing one connection of 1,000,000 activities
#   d. LMDB bytes per tracked activity
#   e. LMDB write transactions and changelog records of a poll where nothing changed
# Jobs are put on the jobs topic directly with kcat (all at once) so the
# coordinator's spreading does not pace the measurement. --smoke runs the same
# code on small sizes (used by ctest, label bench); it asserts no timing.
# The derived topics (current records, rollups) are on unless the environment
# says LMSYNC_ROLLUPS_ENABLED=0 / LMSYNC_CURRENT_ENABLED=0 (the header says which).
set -uo pipefail
SMOKE=0
[ "${1:-}" = "--smoke" ] && { SMOKE=1; shift; }
BUILD=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
if [ $SMOKE -eq 1 ]; then
  A_CONNS=20; STUDENTS=10; COURSES=20; LAT=20; C_STUDENTS=100; C_COURSES=100
else
  A_CONNS=500; STUDENTS=40; COURSES=50; LAT=100; C_STUDENTS=1000; C_COURSES=1000
fi
PER=$((STUDENTS * COURSES))   # coursera profile, 1 content per course
LIMIT=100
source "$HERE/lib.sh"
INFLIGHT=$(UNIFIED_API_TOKEN=x KAFKA_BROKERS=x "$BUILD/worker/lmsync-worker" --check-config 2>/dev/null | awk -F' = ' '/^worker.max_in_flight/ {print $2}')
INFLIGHT=${INFLIGHT:-1}

# ---- a. initial sync under 100 ms upstream latency
log "a: $A_CONNS connections x $PER activities, ${LAT} ms per request, in-flight $INFLIGHT"
start_stack a --connections "$A_CONNS" --students "$STUDENTS" --courses "$COURSES" --contents 1 --latency-ms "$LAT"
curl -fsS -X POST -H 'content-type: application/json' "$URL/_sandbox/faults" \
  -d '{"connection_id":"conn-0007","kind":"status","status":429,"retry_after":1,"count":-1}' >/dev/null || die "fault refused"
curl -fsS -X POST -H 'content-type: application/json' "$URL/_sandbox/faults" \
  -d '{"connection_id":"conn-0009","kind":"stall","stall_ms":60000,"count":-1}' >/dev/null || die "fault refused"
A_HEALTHY=$((A_CONNS - 2))
W0=$(cpu_s "$WORKER"); K0=$(cpu_s "$DEVBROKER")
T0=$(now); enqueue a "$A_CONNS"; wait_healthy a "$A_HEALTHY"; T1=$(now)
A_W_CPU=$(echo "$(cpu_s "$WORKER") - $W0" | bc -l); A_K_CPU=$(echo "$(cpu_s "$DEVBROKER") - $K0" | bc -l)
A_WALL=$(echo "$T1 - $T0" | bc -l)
A_PAGES=$(healthy a | jq -s 'map(.value.pages) | add')
A_FAILED=$(healthy a | jq -s 'map(select(.value.outcome != "ok")) | length')
A_IDEAL=$(echo "$A_PAGES * $LAT / 1000 / $INFLIGHT" | bc -l)
A_RATIO=$(echo "100 * $A_IDEAL / $A_WALL" | bc -l)
wait_jobs a "$A_CONNS"
A_FAULTY=$(grep -e '"conn-0007@a"' -e '"conn-0009@a"' "$STACK/status.jsonl" | jq -r '"\(.key): \(.value.outcome) after \(.value.requests) requests"' | paste -sd ';' -)
A_SB_CPU=$(sandbox_cpu)
stop_stack

# ---- b, d, e. CPU per activity, LMDB bytes, unchanged poll writes (no latency)
B_CONNS=$A_CONNS
log "b: $B_CONNS connections x $PER activities, no latency"
start_stack b --connections "$B_CONNS" --students "$STUDENTS" --courses "$COURSES" --contents 1
C0=$(cpu_s "$WORKER"); S0=$(sandbox_cpu); T0=$(now)
enqueue b1 "$B_CONNS"; wait_jobs b1 "$B_CONNS"
settle_compaction # the idle partitions' environments are compacted after the first sync (in its CPU)
C1=$(cpu_s "$WORKER"); S1=$(sandbox_cpu); T1=$(now)
RECS=$(sum_status b1 records)
TXN0=$(last_txn); CL0=$(end_offsets lmsync.activity.state)
enqueue b2 "$B_CONNS"; wait_jobs b2 "$B_CONNS"
C2=$(cpu_s "$WORKER"); S2=$(sandbox_cpu); T2=$(now)
TXN1=$(last_txn); CL1=$(end_offsets lmsync.activity.state)
E_WRITES=$(sum_status b2 state_writes); E_EVENTS=$(sum_status b2 events)
B_CHANGED_US=$(echo "($C1 - $C0) * 1000000 / $RECS" | bc -l)
B_UNCHANGED_US=$(echo "($C2 - $C1) * 1000000 / $RECS" | bc -l)
PARSE=$("$BUILD/bench/lmsync-parse-bench" "$URL" bench "$LIMIT" $(conns "$B_CONNS"))
PARSE_US=$(echo "$(jq .parse_cpu_s <<<"$PARSE") * 1000000 / $(jq .records <<<"$PARSE")" | bc -l)
NORM_US=$(echo "$(jq .normalize_cpu_s <<<"$PARSE") * 1000000 / $(jq .records <<<"$PARSE")" | bc -l)
PAGE_US=$(echo "$(jq .page_parse_cpu_s <<<"$PARSE") * 1000000 / $(jq .records <<<"$PARSE")" | bc -l)
B_SB_SHARE=$(echo "100 * ($S2 - $S0) / (($T2 - $T0) * $(nproc))" | bc -l)
read -r D_PAGES D_ENTRIES < <(mdb_stat_all -s activities | awk '/Branch pages|Leaf pages|Overflow pages/ {p += $3} /Entries/ {e += $2} END {print p, e}')
D_BYTES=$(echo "$D_PAGES * 4096 / $D_ENTRIES" | bc -l)
stop_stack

# ---- c. peak RSS, one connection of STUDENTS x COURSES activities
# (no per-connection rate limit: at the default 20 requests/s its 10,000 pages would take 500 s)
STACK_CONF=("worker.connection_rate = 0")
C_PER=$((C_STUDENTS * C_COURSES))
log "c: one connection x $C_PER activities"
start_stack c --connections 1 --students "$C_STUDENTS" --courses "$C_COURSES" --contents 1
# sample the split of the resident set while the job runs: the process's own memory (RssAnon) and
# file-backed pages (RssFile: binaries and the touched LMDB map, bounded by worker.lmdb_resident_mb)
( while kill -0 "$WORKER" 2>/dev/null; do awk '/RssAnon|RssFile/ {printf "%s %d\n", $1, $2}' "/proc/$WORKER/status"; sleep 0.2; done ) \
  >"$STACK/rss.samples" 2>/dev/null &
SAMPLER=$!
enqueue c 1; wait_jobs c 1
C_RSS=$(hwm_mb "$WORKER"); C_RECS=$(sum_status c records)
kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null
C_ANON=$(awk '$1 == "RssAnon:" && $2 > m {m = $2} END {print m / 1024}' "$STACK/rss.samples")
C_FILE=$(awk '$1 == "RssFile:" && $2 > m {m = $2} END {print m / 1024}' "$STACK/rss.samples")
stop_stack
C_TRIMS=$(grep -o 'lmdb map trims=[0-9]*' "$STACK/worker.log" | tail -1 | cut -d= -f2)

verdict() { if [ "$(echo "$1" | bc -l)" -eq 1 ]; then echo "met"; else echo "NOT MET"; fi; }
printf '\nlmsync benchmark (%s) on %s, %s cores, %s\n' "$([ $SMOKE -eq 1 ] && echo smoke || echo full)" \
  "$(uname -m)" "$(nproc)" "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
printf 'derived topics: rollups.enabled = %s, current.enabled = %s (environment LMSYNC_ROLLUPS_ENABLED, LMSYNC_CURRENT_ENABLED)\n' \
  "${LMSYNC_ROLLUPS_ENABLED:-1}" "${LMSYNC_CURRENT_ENABLED:-1}"
printf '%-52s %14s %14s %s\n' "measure" "value" "target" "verdict"
printf '%-52s %14.1f %14s %s\n' "a. wall time of initial sync, $A_HEALTHY healthy (s)" "$A_WALL" "-" ""
printf '%-52s %14.1f %14s %s\n' "a. pages/s ($A_PAGES pages, $A_FAILED of $A_HEALTHY failed)" "$(echo "$A_PAGES / $A_WALL" | bc -l)" "-" ""
printf '%-52s %14.1f %14s %s\n' "a. ideal wall = pages x ${LAT}ms / $INFLIGHT in flight (s)" "$A_IDEAL" "-" ""
printf '%-52s %13.1f%% %13s%% %s\n' "a. ratio ideal / measured" "$A_RATIO" ">= 80" "$(verdict "$A_RATIO >= 80")"
printf '%-52s %14.2f %14s %s\n' "b. worker CPU per changed activity (us)" "$B_CHANGED_US" "<= 25" "$(verdict "$B_CHANGED_US <= 25")"
printf '%-52s %14.2f %14s %s\n' "b. worker CPU per unchanged activity (us)" "$B_UNCHANGED_US" "<= 10" "$(verdict "$B_UNCHANGED_US <= 10")"
printf '%-52s %14.2f %14s %s\n' "b. jansson alone, same pages (us per activity)" "$PARSE_US" "-" ""
printf '%-52s %14.2f %14s %s\n' "b. jansson + ls_activity_from_json, same pages (us)" "$NORM_US" "-" ""
printf '%-52s %14.2f %14s %s\n' "b. ls_page_parse, same pages (us per activity)" "$PAGE_US" "-" ""
printf '%-52s %13.1f%% %14s %s\n' "b. sandbox CPU share of the machine during b" "$B_SB_SHARE" "-" ""
printf '%-52s %14.1f %14s %s\n' "c. worker peak RSS, 1 connection x $C_RECS (MB)" "$C_RSS" "<= 100" "$(verdict "$C_RSS <= 100")"
printf '%-52s %14.1f %14s\n' "c. of which RssAnon max, sampled (MB)" "$C_ANON" "-"
printf '%-52s %14.1f %14s\n' "c. of which RssFile max, sampled (MB; map trims ${C_TRIMS:-?})" "$C_FILE" "-"
printf '%-52s %14.1f %14s %s\n' "d. LMDB bytes per tracked activity ($D_ENTRIES)" "$D_BYTES" "<= 150" "$(verdict "$D_BYTES <= 150")"
printf '%-52s %14d %14s %s\n' "e. LMDB write txns in an unchanged poll" "$((TXN1 - TXN0))" "0" "$(verdict "$((TXN1 - TXN0)) == 0")"
printf '%-52s %14d %14s %s\n' "e. changelog records in an unchanged poll" "$((CL1 - CL0))" "0" "$(verdict "$((CL1 - CL0)) == 0")"
printf '%-52s %14d %14s %s\n' "e. events / state writes reported by the worker" "$((E_EVENTS + E_WRITES))" "0" "$(verdict "$((E_EVENTS + E_WRITES)) == 0")"
printf '%-52s %14.2f %14s\n' "sandbox CPU during a (s)" "$A_SB_CPU" "-"
printf '%-52s %13.1f%% %14s\n' "sandbox CPU share of the machine during a" "$(echo "100 * $A_SB_CPU / ($A_WALL * $(nproc))" | bc -l)" "-"
printf '%-52s %14.2f %14s\n' "worker CPU during a (s, all its threads)" "$A_W_CPU" "-"
printf '%-52s %14.2f %14s\n' "devbroker CPU during a (s, Kafka mock cluster)" "$A_K_CPU" "-"
printf '%-52s %s\n' "a. faulty connections (not in the wall time)" "$A_FAULTY"
[ "$A_FAILED" -eq 0 ] || die "$A_FAILED healthy jobs failed in a"
[ "$RECS" -eq $((B_CONNS * PER)) ] || die "b synced $RECS records, expected $((B_CONNS * PER))"
