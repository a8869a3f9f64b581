#!/usr/bin/env bash
# bench/coord.sh - the coordinator at scale (docs/performance.md, "Coordinator").
#
#   bash bench/coord.sh [--smoke] [BUILD_DIR]
#
# Starts a devbroker, a sandbox serving virtual connections (sb_virtual.h:
# 10 % of them need course_id and have 100 courses each, so they fan out to
# one scope per course) and one coordinator; no worker: jobs stay unanswered
# and coordinator.job_timeout_s (60 s) is shorter than the interval, so every
# scope gets a job at every one of its slots - the steady state of a fleet.
# Measures with the operating system's own accounting and the coordinator's
# /metrics:
#   discovery   time to list every connection (the coordinator's log line)
#   scopes      scopes tracked once every course list arrived
#   CPU         coordinator utime+stime over the steady window (/proc/PID/stat), % of one core
#   RSS         VmRSS at the end of the window and VmHWM (/proc/PID/status)
#   jobs/s      jobs acknowledged by Kafka per second over the window
#   lateness    p99 of lmsync_coordinator_job_lateness_seconds over the window
#               (bucket upper bound: job produced minus its due time)
# --smoke: 2,000 connections (21,800 scopes), a 60 s interval and a 15 s window; asserts
# that discovery, the course lists and the steady state work, no timing.
#
# --tenants: fair sharing. One tenant (vt-0) with 20,000 connections and 100
# tenants with 5 each, interval 60 s, coordinator.max_enqueue_per_s = 200:
# 342 jobs/s are due, 200 can go out, so a backlog builds from the start
# (the cold start of a tenant that brings 20,000 connections at once). Reads
# the jobs topic for 120 s and reports, per class of tenant, the p99 of
# (Kafka timestamp - due time from the job id) and the jobs per second.
set -uo pipefail
SMOKE=0; TENANTS=0
[ "${1:-}" = "--smoke" ] && { SMOKE=1; shift; }
[ "${1:-}" = "--tenants" ] && { TENANTS=1; shift; }
BUILD=$(cd "${1:-build}" && pwd)
if [ $SMOKE -eq 1 ]; then N=2000; WINDOW=15; INTERVAL=60; else N=100000; WINDOW=120; INTERVAL=300; fi
FAN_PCT=10; COURSES=100
EXPECT=$((N - N * FAN_PCT / 100 + N * FAN_PCT / 100 * COURSES))
DIR=$(mktemp -d "${TMPDIR:-/tmp}/lmsync-coordbench.XXXXXX")
PIDS=()
# COORD_BENCH_LOG=FILE keeps the coordinator's log
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done; sleep 1; for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
            [ -n "${COORD_BENCH_LOG:-}" ] && cp "$DIR/coord.log" "$COORD_BENCH_LOG"; rm -rf "$DIR"; }
trap cleanup EXIT
TICK=$(getconf CLK_TCK)
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAIL: $*"; [ -f "$DIR/coord.log" ] && tail -n 20 "$DIR/coord.log" >&2; exit 1; }
wait_file() { for _ in $(seq 600); do [ -s "$1" ] && return 0; sleep 0.1; done; die "timed out waiting for $1"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
metric() { curl -fsS "$OPS/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
# lateness buckets as "le count" lines
buckets() { curl -fsS "$OPS/metrics" | sed -n 's/^lmsync_coordinator_job_lateness_seconds_bucket{le="\([^"]*\)"} \(.*\)$/\1 \2/p'; }
enqueued() { curl -fsS "$OPS/metrics" | awk '$1 ~ /^lmsync_coordinator_jobs_enqueued_total/ {s += $2} END {print s + 0}'; }

# ---- --tenants
tenants_bench() {
  local win=120
  cat >"$DIR/lmsync.conf" <<CONF
unified.base_url = http://127.0.0.1:$(cat "$DIR/sandbox.port")
kafka.brokers = $(cat "$DIR/bootstrap")
coordinator.interval_s = 60
coordinator.discovery_interval_s = 3600
coordinator.job_timeout_s = 30
coordinator.max_enqueue_per_s = 200
enrichment.enabled = 0
log.format = text
CONF
  "$BUILD/tools/lmsync-tail" --brokers "$(cat "$DIR/bootstrap")" --topic lmsync.poll.jobs --from end --format json \
    >"$DIR/jobs.jsonl" 2>"$DIR/tail.log" &
  PIDS+=($!)
  sleep 2
  UNIFIED_API_TOKEN=bench-token "$BUILD/coordinator/lmsync-coordinator" --config "$DIR/lmsync.conf" >"$DIR/coord.log" 2>&1 &
  COORD=$!; PIDS+=($COORD)
  log "tenants: 1 x 20000 + 100 x 5 connections, 342 jobs/s due, 200/s allowed; reading the jobs topic for $win s"
  sleep "$win"
  kill -0 $COORD 2>/dev/null || die "coordinator died"
  echo "| tenants | connections | jobs in $win s | jobs/s | p99 lateness | max lateness |"
  echo "|---|---|---|---|---|---|"
  jq -r -s --argjson w "$win" '
    def p99: sort | .[((length * 0.99) | floor)];
    map({big: (.value.external_xref == "vt-0"), late: (.timestamp_ms - (.value.job_id | split("@") | last | tonumber))})
    | group_by(.big) | reverse | .[]
    | "| \(if .[0].big then "vt-0 (large)" else "vt-1..vt-100 (small)" end) | \(if .[0].big then 20000 else 500 end) | \(length) | \((length / $w) | floor) | \((map(.late) | p99) / 1000) s | \((map(.late) | max) / 1000) s |"' \
    "$DIR/jobs.jsonl"
}

"$BUILD/devbroker/lmsync-devbroker" --brokers 1 --partitions 6 --bootstrap-file "$DIR/bootstrap" --log-format text >"$DIR/devbroker.log" 2>&1 &
PIDS+=($!)
"$BUILD/sandbox/lmsync-sandbox" --port 0 --port-file "$DIR/sandbox.port" --token bench-token --connections 1 \
  $( [ $TENANTS -eq 1 ] && echo "--virtual-tenants 1x20000,100x5 --virtual-fanout-pct 0" || echo "--virtual-connections $N --virtual-fanout-pct $FAN_PCT --virtual-courses $COURSES" ) \
  >"$DIR/sandbox.log" 2>&1 &
PIDS+=($!)
wait_file "$DIR/bootstrap"; wait_file "$DIR/sandbox.port"
[ $TENANTS -eq 1 ] && { tenants_bench; exit $?; }
cat >"$DIR/lmsync.conf" <<CONF
unified.base_url = http://127.0.0.1:$(cat "$DIR/sandbox.port")
kafka.brokers = $(cat "$DIR/bootstrap")
coordinator.interval_s = $INTERVAL
coordinator.discovery_interval_s = 3600
coordinator.job_timeout_s = 60
enrichment.enabled = 0
ops.listen = 127.0.0.1:0
log.format = text
log.level = info
CONF
T0=$(date +%s%3N)
UNIFIED_API_TOKEN=bench-token LMSYNC_OPS_PORT_FILE=$DIR/coord.ops \
  "$BUILD/coordinator/lmsync-coordinator" --config "$DIR/lmsync.conf" >"$DIR/coord.log" 2>&1 &
COORD=$!; PIDS+=($COORD)
wait_file "$DIR/coord.ops"
OPS="http://127.0.0.1:$(cat "$DIR/coord.ops")"
for _ in $(seq 1200); do grep -q "discovery: " "$DIR/coord.log" && break; kill -0 $COORD 2>/dev/null || die "coordinator died"; sleep 0.1; done
DISC_LINE=$(grep -m1 "discovery: " "$DIR/coord.log") || die "no discovery within 120 s"
DISC_MS=$(sed -n 's/.* in \([0-9]*\) ms;.*/\1/p' <<<"$DISC_LINE")
log "$DISC_LINE"
for _ in $(seq 600); do
  [ "$(metric lmsync_coordinator_scopes)" = "$EXPECT" ] && break; kill -0 $COORD 2>/dev/null || die "coordinator died"; sleep 0.5
done
SCOPES=$(metric lmsync_coordinator_scopes)
[ "$SCOPES" = "$EXPECT" ] || die "scopes $SCOPES, expected $EXPECT"
T_SCOPES=$(( $(date +%s%3N) - T0 ))
log "$SCOPES scopes after $T_SCOPES ms; settling 10 s, then a $WINDOW s window"
sleep 10
B0=$(buckets); E0=$(enqueued); C0=$(cpu_ticks $COORD); W0=$(date +%s%3N)
sleep "$WINDOW"
B1=$(buckets); E1=$(enqueued); C1=$(cpu_ticks $COORD); W1=$(date +%s%3N)
RSS=$(status_kb $COORD VmRSS); HWM=$(status_kb $COORD VmHWM)
kill -0 $COORD 2>/dev/null || die "coordinator died"
P99=$(paste <(echo "$B0") <(echo "$B1") | awk '{le[NR] = $1; d[NR] = $4 - $2} END {
  n = d[NR]; if (n == 0) {print "n/a"; exit} for (i = 1; i <= NR; i++) if (d[i] >= 0.99 * n) {print le[i]; exit} }')
JOBS=$((E1 - E0))
SECS=$(awk -v a="$W0" -v b="$W1" 'BEGIN {printf "%.1f", (b - a) / 1000}')
CPU=$(awk -v t="$((C1 - C0))" -v hz="$TICK" -v s="$SECS" 'BEGIN {printf "%.1f", 100 * t / hz / s}')
RATE=$(awk -v j="$JOBS" -v s="$SECS" 'BEGIN {printf "%.0f", j / s}')
# SIGTERM in steady state: gone within a second
TS=$(date +%s%3N); kill -TERM $COORD
for _ in $(seq 100); do kill -0 $COORD 2>/dev/null || break; sleep 0.05; done
kill -0 $COORD 2>/dev/null && die "coordinator still running 5 s after SIGTERM"
STOP_MS=$(( $(date +%s%3N) - TS ))
echo "| connections | scopes | interval | discovery | all course lists | CPU (steady) | RSS / peak | jobs/s | p99 lateness | SIGTERM to exit |"
echo "|---|---|---|---|---|---|---|---|---|---|"
echo "| $N | $SCOPES | ${INTERVAL} s | $((DISC_MS / 1000)).$(( (DISC_MS % 1000) / 100 )) s | $((T_SCOPES / 1000)) s | $CPU % | $((RSS / 1024)) / $((HWM / 1024)) MB | $RATE | <= $P99 s | $STOP_MS ms |"
[ "$JOBS" -gt 0 ] || die "no job enqueued in the window"
[ "$P99" != "n/a" ] || die "no lateness observed"
[ $SMOKE -eq 1 ] && log "smoke: ok (no timing asserted)"
exit 0
