#!/usr/bin/env bash
# bench/scale.sh - how the worker scales with its processes (docs/performance.md
# "Scaling over worker processes").
#
#   bash bench/scale.sh [--smoke] [--separate] BUILD_DIR [MAX_PROCS=16] [CONNS]
#
# For P = 1, 2, 4, ... MAX_PROCS: the initial sync of CONNS connections x
# 2,000 activities (default 16 x P, at least 32; --smoke: 1 and 2 processes,
# 16 connections), no upstream latency, worker.connection_rate = 0, a
# devbroker with 16 partitions and one sandbox, by ONE worker master with P
# processes; with --separate also by P masters of one process each (each
# with its own LMDB directory, all in one consumer group). Prints per row:
# processes, wall s, activities/s, speed-up against the first row of the same
# kind, worker CPU per activity (master and processes, us), sandbox and
# devbroker CPU (s; to show they are not the limit) and the write-lock wait
# share: the seconds the processes' LMDB write transactions waited to begin
# (lmsync_worker_lmdb_write_wait_seconds_sum) over P x wall; the shares of
# the writer lock held (lmsync_worker_lmdb_write_held_seconds_sum: a
# transaction's writes and commit) and of the commits alone likewise. With
# one environment shared by P processes, P x held % is its lock's use. The full form needs as many cores as MAX_PROCS plus about two
# (sandbox, devbroker). --smoke asserts no timing: only that every row ran,
# synced every activity and produced one event per activity.
set -uo pipefail
SMOKE=0; SEPARATE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1; shift ;;
    --separate) SEPARATE=1; shift ;;
    *) break ;;
  esac
done
BUILD=$(cd "${1:-build}" && pwd)
MAX_PROCS=${2:-16}
[ $SMOKE -eq 1 ] && MAX_PROCS=2
CONNS_ARG=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
STUDENTS=40; COURSES=50; PER=$((STUDENTS * COURSES))
LIMIT=100
PARTITIONS=16
source "$HERE/lib.sh"
STACK_CONF=("worker.connection_rate = 0")

conns_for() { # connections of a row of P processes
  if [ -n "$CONNS_ARG" ]; then echo "$CONNS_ARG"; elif [ $SMOKE -eq 1 ]; then echo 16
  else local n=$((16 * $1)); [ $n -lt 32 ] && n=32; echo $n; fi
}

MASTERS=() # the worker masters of the row
masters_cpu() { # master and every process under it, all masters
  local m c s=0
  for m in "${MASTERS[@]}"; do
    for c in "$m" $(pgrep -P "$m"); do s=$(echo "$s + $(cpu_s "$c" 2>/dev/null || echo 0)" | bc -l); done
  done
  echo "$s"
}
metric() { # metric NAME: its sum over the masters' /metrics
  local f
  for f in $(ports); do
    curl -fsS "http://127.0.0.1:$(cat "$f")/metrics"
  done | awk -v n="$1" '$1 == n {s += $2} END {printf "%.6f\n", s}'
}
ports() { local i; echo "$STACK/ops.port"; for ((i = 2; i <= ${#MASTERS[@]}; i++)); do echo "$STACK/m-$i/ops.port"; done; }
ready() { local f; for f in $(ports); do
  [ -s "$f" ] && curl -fs -o /dev/null "http://127.0.0.1:$(cat "$f")/readyz" || return 1; done; }

# add_master I : one more single-process master with its own LMDB directory and ops port (--separate)
add_master() {
  local d="$STACK/m-$1"; mkdir -p "$d"
  sed -e "s|^worker.lmdb_path = .*|worker.lmdb_path = $d/lmdb|" -e "s|^ops.port_file = .*|ops.port_file = $d/ops.port|" \
    "$STACK/lmsync.conf" >"$d/lmsync.conf"
  UNIFIED_API_TOKEN=bench "$BUILD/worker/lmsync-worker" --config "$d/lmsync.conf" --processes 1 >"$d/worker.log" 2>&1 &
  PIDS+=($!); MASTERS+=($!)
}

# row KIND P : one measured initial sync; prints "P conns wall acts_per_s cpu_us sb_cpu kb_cpu wait% held% commit%"
row() { # (not p: lib.sh's loops use it unscoped)
  local kind=$1 np=$2 n i
  n=$(conns_for "$np")
  if [ "$kind" = one ]; then PROCS=$np; else PROCS=1; fi
  start_stack "$kind-$np" --connections "$n" --students "$STUDENTS" --courses "$COURSES" --contents 1
  MASTERS=("$MASTER")
  if [ "$kind" = separate ]; then for ((i = 2; i <= np; i++)); do add_master "$i"; done; fi
  for _ in $(seq 600); do ready && break; sleep 0.1; done
  ready || die "$kind-$np: the workers are not ready"
  sleep 2 # the last processes' partitions settle
  local w0 k0 s0 t0 wt0 cm0 h0 w1 k1 s1 t1 wt1 cm1 h1 recs events wall
  w0=$(masters_cpu); k0=$(cpu_s "$DEVBROKER"); s0=$(sandbox_cpu); wt0=$(metric lmsync_worker_lmdb_write_wait_seconds_sum)
  cm0=$(metric lmsync_worker_lmdb_commit_seconds_sum); h0=$(metric lmsync_worker_lmdb_write_held_seconds_sum); t0=$(now)
  enqueue s "$n"; wait_jobs s "$n"
  t1=$(now); w1=$(masters_cpu); k1=$(cpu_s "$DEVBROKER"); s1=$(sandbox_cpu)
  sleep 1.2 # the metrics are published once a second
  wt1=$(metric lmsync_worker_lmdb_write_wait_seconds_sum); cm1=$(metric lmsync_worker_lmdb_commit_seconds_sum)
  h1=$(metric lmsync_worker_lmdb_write_held_seconds_sum)
  recs=$(sum_status s records); events=$(sum_status s events)
  [ "$(failed_jobs s)" -eq 0 ] || die "$kind-$np: jobs failed: $(grep -m1 '"outcome":"failed"' "$STACK/status.jsonl")"
  [ "$recs" -eq $((n * PER)) ] || die "$kind-$np: synced $recs activities, expected $((n * PER))"
  [ "$events" -eq "$recs" ] || die "$kind-$np: $events events for $recs new activities"
  stop_stack
  wall=$(echo "$t1 - $t0" | bc -l)
  printf '%d %d %.3f %.0f %.2f %.2f %.2f %.2f %.2f %.2f\n' "$np" "$n" "$wall" "$(echo "$recs / $wall" | bc -l)" \
    "$(echo "($w1 - $w0) * 1000000 / $recs" | bc -l)" "$(echo "$s1 - $s0" | bc -l)" "$(echo "$k1 - $k0" | bc -l)" \
    "$(echo "100 * ($wt1 - $wt0) / ($np * $wall)" | bc -l)" "$(echo "100 * ($h1 - $h0) / ($np * $wall)" | bc -l)" \
    "$(echo "100 * ($cm1 - $cm0) / ($np * $wall)" | bc -l)"
}

KINDS=(one); [ $SEPARATE -eq 1 ] && KINDS+=(separate)
printf '\nlmsync scaling over worker processes (%s) on %s, %s cores, %s\n' "$([ $SMOKE -eq 1 ] && echo smoke || echo full)" \
  "$(uname -m)" "$(nproc)" "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
printf '%-9s %5s %6s %8s %10s %8s %12s %10s %10s %8s %8s %8s\n' kind procs conns "wall s" "acts/s" speedup "CPU us/act" \
  "sandbox s" "broker s" "wait %" "held %" "commit %"
for kind in "${KINDS[@]}"; do
  base=""
  for ((procs = 1; procs <= MAX_PROCS; procs *= 2)); do
    log "$kind: $procs process(es)"
    row "$kind" "$procs" >"$DIR/row" # in this shell: its processes are cleaned up at exit
    read -r P N WALL RATE CPU SB KB WAIT HELD COMMIT <"$DIR/row" || die "$kind-$procs did not run"
    [ -n "${RATE:-}" ] || die "$kind-$procs produced no numbers"
    [ -n "$base" ] || base=$RATE
    printf '%-9s %5d %6d %8.2f %10.0f %8.2f %12.2f %10.2f %10.2f %8.1f %8.1f %8.1f\n' "$kind" "$P" "$N" "$WALL" \
      "$RATE" "$(echo "$RATE / $base" | bc -l)" "$CPU" "$SB" "$KB" "$WAIT" "$HELD" "$COMMIT"
  done
done
