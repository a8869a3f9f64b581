#!/usr/bin/env bash
# seeds.sh [BUILD_DIR] - regenerate the seed corpora in tests/fuzz/corpus/
# from a real run: devbroker + sandbox (every provider profile) + coordinator
# + worker, as the e2e tests start them (tests/e2e/lib.sh). Writes:
#   page/    activity pages as the sandbox serves them (plus a bad_record page)
#   coord/   the connection list and a course list
#   job/     poll jobs from lmsync.poll.jobs
#   status/  status records from lmsync.sync.status
#   state/   packed state values from the worker's LMDB (mdb_dump)
#   tail/    change events (key, ce_* headers, value) in fuzz_tail's layout
#   config/  the run's config file, and every setting as --check-config prints it
# header/ (response header lines) is hand-written and left alone.
# Hand-written regression inputs (crash-*, regress-*) are kept.
BUILD=$(cd "${1:-$(dirname "$0")/../../build}" && pwd)
export LS_DEVBROKER=$BUILD/devbroker/lmsync-devbroker LS_SANDBOX=$BUILD/sandbox/lmsync-sandbox \
  LS_COORDINATOR=$BUILD/coordinator/lmsync-coordinator LS_WORKER=$BUILD/worker/lmsync-worker \
  LS_TAIL=$BUILD/tools/lmsync-tail
OUT=$(cd "$(dirname "$0")" && pwd)/corpus
source "$(dirname "$0")/../e2e/lib.sh"

start_devbroker 2
start_sandbox --seed 7 --connections 8 --students 2 --courses 2 --contents 2 \
  --providers coursera,go1,learnupon,d2l,successfactors_lms,udemy,docebo,moodle --tick-ms 0
write_config "$E2E_DIR/lmsync.conf" "coordinator.interval_s = 2" "worker.lmdb_path = $E2E_DIR/lmdb" \
  "worker.page_limit = 4" "worker.processes = 1"
export UNIFIED_API_TOKEN=e2e-token
tail_topic status lmsync.sync.status
start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf"
start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
T0=$(date +%s)
wait_round "$((T0 - 1))" 90 conn-0001 conn-0002 conn-0003 conn-0004 conn-0005 conn-0006 conn-0007 conn-0008
stop_and_check coordinator
stop_and_check worker

for d in page coord job status state tail config; do
  mkdir -p "$OUT/$d"; find "$OUT/$d" -type f ! -name 'crash-*' ! -name 'regress-*' -delete
done
get() { curl -fsS -H 'authorization: Bearer e2e-token' "$SANDBOX_URL$1"; }
for i in 1 2 3 4 5 6 7 8; do get "/lms/conn-000$i/activity?limit=3" >"$OUT/page/conn-000$i"; done
sb POST /_sandbox/faults '{"connection_id":"conn-0001","kind":"bad_record","count":-1}' >/dev/null
get "/lms/conn-0001/activity?limit=3" >"$OUT/page/bad-record"
get "/unified/connection" >"$OUT/coord/connections"
get "/lms/conn-0001/course" >"$OUT/coord/courses"
cp "$E2E_DIR/lmsync.conf" "$OUT/config/e2e.conf"
"$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf" --check-config | grep ' = ' | grep -v '^unified.token =' \
  >"$OUT/config/every-setting.conf"

"$LS_TAIL" --brokers "$BROKERS" --topic lmsync.poll.jobs --format json --exit-at-end --max 6 \
  | jq -c '.value' | split -l 1 - "$OUT/job/job-"
jq -c '.value' "$E2E_DIR/status.jsonl" | head -n 6 | split -l 1 - "$OUT/status/status-"
for f in "$OUT"/job/job-* "$OUT"/status/status-*; do printf '%s' "$(cat "$f")" >"$f"; done
"$LS_TAIL" --brokers "$BROKERS" --topic lmsync.activity.changes --format json --exit-at-end --max 8 \
  | python3 -c '
import json, sys
for n, line in enumerate(sys.stdin):
    m = json.loads(line)
    def s(b): b = b[:255]; return bytes([len(b)]) + b
    hdrs = sorted(m["headers"].items(), key=lambda kv: kv[0] != "ce_type")[:3]
    out = bytes([len(hdrs) << 2]) + s(m["key"].encode())
    for k, v in hdrs: out += s(k.encode()) + s((v or "").encode())
    out += s(json.dumps(m["value"], separators=(",", ":")).encode())
    open(sys.argv[1] + "/event-%d" % n, "wb").write(out)' "$OUT/tail"
mdb_dump -p -s activities "$E2E_DIR/lmdb" | python3 -c '
import re, sys
body = sys.stdin.read().split("HEADER=END\n", 1)[1].split("DATA=END", 1)[0].splitlines()
unesc = lambda l: re.sub(rb"\\([0-9a-f]{2})|\\\\", lambda m: bytes([int(m.group(1), 16)]) if m.group(1) else b"\\", l[1:].encode("latin-1"))
for n, v in enumerate(body[1::2][:12]):
    open(sys.argv[1] + "/value-%d" % n, "wb").write(unesc(v))' "$OUT/state"
du -sh "$OUT"/*
E2E_FAILED=0
