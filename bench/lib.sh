# bench/lib.sh - what the benchmark scripts share (sourced by run.sh and rollups.sh):
# a temporary directory cleaned at exit, logging, a stack of real processes
# (devbroker, sandbox, one worker master, a status tail) and the measurements
# read from the operating system. The caller sets BUILD and LIMIT first, and
# may set PARTITIONS (of every topic, default 6) and PROCS (worker processes
# of the master, default 1).
DIR=$(mktemp -d "${TMPDIR:-/tmp}/lmsync-bench.XXXXXX") # removed at exit, unless KEEP_BENCH_DIR is set
PIDS=()
STACK_CONF=() # extra config lines of the next start_stack
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done; sleep 1; for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done; [ -n "${KEEP_BENCH_DIR:-}" ] || rm -rf "$DIR"; }
trap cleanup EXIT
TICK=$(getconf CLK_TCK)
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

wait_file() { for _ in $(seq 600); do [ -s "$1" ] && return 0; sleep 0.1; done; die "timed out waiting for $1"; }

# start_stack NAME SANDBOX_ARGS... : devbroker + sandbox + one worker master of PROCS processes + status tail
start_stack() {
  local name=$1; shift
  local d="$DIR/$name"; mkdir -p "$d"
  "$BUILD/devbroker/lmsync-devbroker" --brokers 1 --partitions "${PARTITIONS:-6}" --bootstrap-file "$d/bootstrap" --log-format text >"$d/devbroker.log" 2>&1 &
  PIDS+=($!); DEVBROKER=$!
  "$BUILD/sandbox/lmsync-sandbox" --port 0 --port-file "$d/port" --token bench --providers coursera "$@" >"$d/sandbox.log" 2>&1 &
  PIDS+=($!); SANDBOX_PID=$!
  wait_file "$d/bootstrap"; wait_file "$d/port"
  BROKERS=$(cat "$d/bootstrap"); URL="http://127.0.0.1:$(cat "$d/port")"
  printf 'unified.base_url = %s\nkafka.brokers = %s\nworker.lmdb_path = %s/lmdb\nworker.page_limit = %d\nworker.lmdb_map_mb = 8192\nunified.http_timeout_s = 10\nenrichment.enabled = 0\nlog.format = text\nops.listen = 127.0.0.1:0\nops.port_file = %s/ops.port\n' \
    "$URL" "$BROKERS" "$d" "$LIMIT" "$d" >"$d/lmsync.conf"
  printf '%s\n' "${STACK_CONF[@]}" >>"$d/lmsync.conf"
  "$BUILD/tools/lmsync-tail" --brokers "$BROKERS" --topic lmsync.sync.status --from beginning --format json >"$d/status.jsonl" 2>/dev/null &
  PIDS+=($!)
  UNIFIED_API_TOKEN=bench "$BUILD/worker/lmsync-worker" --config "$d/lmsync.conf" --processes "${PROCS:-1}" >"$d/worker.log" 2>&1 &
  PIDS+=($!); MASTER=$!
  for _ in $(seq 100); do WORKER=$(pgrep -P "$MASTER" | head -1); [ -n "$WORKER" ] && break; sleep 0.1; done
  [ -n "$WORKER" ] || die "no worker process"
  STACK="$d"
  sleep 5 # the worker joins its consumer group (~3 s on the mock broker)
}

stop_stack() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done; wait 2>/dev/null; PIDS=(); }

# enqueue TAG N_CONNS : one full job per connection, all at once
enqueue() {
  local tag=$1 n=$2 i c at
  at=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) # now: the worker drops jobs scheduled before a completed run (stale)
  for ((i = 1; i <= n; i++)); do
    printf -v c 'conn-%04d' "$i"
    printf '%s\t{"v":1,"job_id":"%s@%s","connection_id":"%s","integration_type":"coursera","mode":"full","scheduled_at":"%s"}\n' "$c" "$c" "$tag" "$c" "$at"
  done | kcat -P -b "$BROKERS" -t lmsync.poll.jobs -K $'\t' || die "kcat produce failed"
}

# healthy TAG : status records of jobs tagged TAG, except the two faulty connections of a
healthy() { grep "@$1\"" "$STACK/status.jsonl" 2>/dev/null | grep -v -e '"conn-0007@' -e '"conn-0009@'; }
wait_healthy() {
  local tag=$1 n=$2
  for _ in $(seq 36000); do
    [ "$(healthy "$tag" | wc -l)" -ge "$n" ] && return 0
    sleep 0.1
  done
  die "jobs $tag did not finish"
}

# wait_jobs TAG N : until N status records of jobs tagged TAG exist
wait_jobs() {
  local tag=$1 n=$2
  for _ in $(seq 36000); do
    [ "$(grep -c "@$tag\"" "$STACK/status.jsonl" 2>/dev/null)" -ge "$n" ] && return 0
    sleep 0.1
  done
  die "jobs $tag did not finish"
}

sum_status() { grep "@$1\"" "$STACK/status.jsonl" | jq -s "map(.value.$2) | add"; }
failed_jobs() { grep "@$1\"" "$STACK/status.jsonl" | jq -s 'map(select(.value.outcome != "ok")) | length'; }
cpu_s() { awk -v t="$TICK" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
hwm_mb() { awk '/VmHWM/ {print $2 / 1024}' "/proc/$1/status"; }
sandbox_cpu() { curl -fsS "$URL/_sandbox/stats" | jq '.cpu_user_s + .cpu_sys_s'; }
now() { date +%s.%N; }
end_offsets() { # sum of end offsets of a topic
  local t=$1 p s=0 o
  for ((p = 0; p < ${PARTITIONS:-6}; p++)); do o=$(kcat -b "$BROKERS" -Q -t "$t:$p:-1" 2>/dev/null | awk '{print $NF}'); s=$((s + ${o:-0})); done
  echo "$s"
}
# settle_compaction : until the worker logged no "lmdb compacted" for 3 s (at most 60 s): a compaction
# swaps an environment for a fresh one, whose transaction ids start again
settle_compaction() {
  local n last=-1 quiet=0
  for _ in $(seq 60); do
    n=$(grep -c "lmdb compacted" "$STACK/worker.log")
    if [ "$n" = "$last" ]; then quiet=$((quiet + 1)); [ $quiet -ge 3 ] && return 0; else quiet=0; last=$n; fi
    sleep 1
  done
}
# the worker's LMDB environments: one per partition (lmdb/p-NNN), or one (lmdb) of an older build
lmdb_envs() { local e; for e in "$STACK"/lmdb/p-* "$STACK/lmdb"; do [ -f "$e/data.mdb" ] && echo "$e"; done; }
# mdb_stat_all ARGS... : mdb_stat ARGS ENV of every environment, one after the other
mdb_stat_all() { local e; for e in $(lmdb_envs); do mdb_stat "$@" "$e" 2>/dev/null; done; }
last_txn() { mdb_stat_all -e | awk '/Last transaction ID/ {s += $4} END {print s + 0}'; }
conns() { local i; for ((i = 1; i <= $1; i++)); do printf 'conn-%04d ' "$i"; done; }
