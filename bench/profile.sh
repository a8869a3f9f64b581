#!/usr/bin/env bash
# bench/profile.sh BUILD [N] [OUT] - perf profile of one worker process during a changed (first) and an
# unchanged (second) full sync of N connections x 2,000 activities (no latency); writes OUT/{changed,unchanged}.{data,txt}.
set -uo pipefail
BUILD=$1; N=${2:-100}; OUT=${3:-/tmp/prof}
mkdir -p "$OUT"; D=$(mktemp -d); PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -TERM $p 2>/dev/null; done; sleep 1; rm -rf "$D"' EXIT
"$BUILD/devbroker/lmsync-devbroker" --brokers 1 --partitions 6 --bootstrap-file "$D/bootstrap" --log-format text >"$D/db.log" 2>&1 & PIDS+=($!)
"$BUILD/sandbox/lmsync-sandbox" --port 0 --port-file "$D/port" --token bench --providers coursera --connections "$N" --students 40 --courses 50 --contents 1 >"$D/sb.log" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do [ -s "$D/bootstrap" ] && [ -s "$D/port" ] && break; sleep 0.1; done
B=$(cat "$D/bootstrap"); URL="http://127.0.0.1:$(cat "$D/port")"
printf 'unified.base_url = %s\nkafka.brokers = %s\nworker.lmdb_path = %s/lmdb\nworker.page_limit = 100\nworker.lmdb_map_mb = 8192\nlog.format = text\n' "$URL" "$B" "$D" >"$D/c.conf"
"$BUILD/tools/lmsync-tail" --brokers "$B" --topic lmsync.sync.status --from beginning --format json >"$D/st.jsonl" 2>/dev/null & PIDS+=($!)
UNIFIED_API_TOKEN=bench "$BUILD/worker/lmsync-worker" --config "$D/c.conf" --processes 1 >"$D/w.log" 2>&1 & PIDS+=($!); M=$!
sleep 1; W=$(pgrep -P $M | head -1); sleep 5
enq() { local at; at=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ); for ((i=1;i<=N;i++)); do printf -v c 'conn-%04d' $i; printf '%s\t{"v":1,"job_id":"%s@%s","connection_id":"%s","integration_type":"coursera","mode":"full","scheduled_at":"%s"}\n' $c $c $1 $c "$at"; done | kcat -P -b "$B" -t lmsync.poll.jobs -K $'\t'; }
waitj() { while [ "$(grep -c "@$1\"" "$D/st.jsonl")" -lt "$N" ]; do sleep 0.2; done; }
perf record -F 999 -g -p "$W" -o "$OUT/changed.data" >/dev/null 2>&1 & P=$!; sleep 0.5
enq c1; waitj c1; kill -INT $P; wait $P
perf record -F 999 -g -p "$W" -o "$OUT/unchanged.data" >/dev/null 2>&1 & P=$!; sleep 0.5
enq c2; waitj c2; kill -INT $P; wait $P
perf report -i "$OUT/changed.data" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -v "^#" | grep "%" | head -40 > "$OUT/changed.txt"
perf report -i "$OUT/unchanged.data" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -v "^#" | grep "%" | head -40 > "$OUT/unchanged.txt"
echo done
