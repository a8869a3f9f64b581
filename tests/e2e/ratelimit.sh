#!/usr/bin/env bash
# End to end: rate-limit awareness (issue 5). The sandbox enforces limits like
# real upstreams (docs/sandbox.md, "Rate limits"); jobs go on the jobs topic
# directly. Three phases, two connections each:
# 1. vendor limit 5/s (burst 5) per connection, worker.connection_rate =
#    4/s with burst 4: the worker stays under the limit: no 429 at all, at
#    most burst + rate = 8 requests in any second per connection;
# 2. same vendor limit, worker unlimited (connection_rate = 0): 429s come,
#    the worker halves those connections' rates (and stops prefetching for
#    them) and every job still ends ok, with few 429s;
# 3. a Unified-wide limit over all connections: Unified's own 429 ("Too many
#    requests to Unified.to") cuts the process-wide in-flight limit; every
#    job ends ok.
# In every phase the change events equal the sandbox's ground truth.
source "$(dirname "$0")/lib.sh"

start_devbroker 6
start_sandbox --seed 21 --connections 6 --students 4 --courses 3 --contents 5 --providers coursera --tick-ms 0
export UNIFIED_API_TOKEN=e2e-token
tail_topic events lmsync.activity.changes
tail_topic status lmsync.sync.status

put_jobs() { # put_jobs TAG CONN... : one full job per connection, scheduled now
  local tag=$1 c at; shift
  at=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
  for c in "$@"; do
    printf '%s\t{"v":1,"job_id":"%s@%s","connection_id":"%s","integration_type":"coursera","mode":"full","scheduled_at":"%s"}\n' \
      "$c" "$c" "$tag" "$c" "$at"
  done | kcat -P -b "$BROKERS" -t lmsync.poll.jobs -K $'\t' || die "kcat produce failed"
}
status_tag() { jq -c --arg t "$1" 'select(.value.job_id | endswith("@" + $t)) | .value' "$E2E_DIR/status.jsonl" 2>/dev/null; }
wait_tag() { # wait_tag TAG N
  local i
  for ((i = 0; i < 1200; i++)); do [ "$(status_tag "$1" | wc -l)" -ge "$2" ] && return 0; sleep 0.1; done
  die "phase $1: fewer than $2 status records after 120 s"
}
stats() { sb GET /_sandbox/stats; }
# run_phase TAG WORKER_CONFIG_LINES... (connections in CONNS)
run_phase() {
  local tag=$1; shift
  write_config "$E2E_DIR/$tag.conf" "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 5" "$@"
  sb POST /_sandbox/stats/reset '{}' >/dev/null || die "stats reset refused"
  start "worker_$tag" "$LS_WORKER" --config "$E2E_DIR/$tag.conf" --processes 1
  T0=$(date +%s.%N)
  put_jobs "$tag" "${CONNS[@]}"
  wait_tag "$tag" "${#CONNS[@]}"
  WALL=$(echo "$(date +%s.%N) - $T0" | bc -l)
  STATS=$(stats)
  stop_and_check "worker_$tag"
  LIMITER=$(grep -o 'rate limiter: .*' "$E2E_DIR/worker_$tag.log" | tail -1)
  local bad
  bad=$(status_tag "$tag" | jq -r 'select(.outcome != "ok") | .job_id + ": " + .outcome + " " + (.error // "")')
  [ -z "$bad" ] || fail "phase $tag: jobs not ok: $bad"
  log "phase $tag: ${WALL:0:5} s, sandbox requests=$(jq .requests <<<"$STATS") rate_limited=$(jq .rate_limited <<<"$STATS")" \
      "unified=$(jq .rate_limited_unified <<<"$STATS") max_rps_1s=$(jq -c '[.connections[] | .max_rps_1s]' <<<"$STATS"); $LIMITER"
}
lim() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$LIMITER"; }
# compare the events of CONNS with the ground truth of CONNS
check_truth() {
  local sel
  sel=$(printf '%s\n' "${CONNS[@]}" | jq -R . | jq -sc .)
  compare_sets "phase $1" "$(truth_since 0 | jq --argjson s "$sel" 'map(select(.c as $c | $s | index($c)))')" \
    "$(events_since 0 | jq --argjson s "$sel" 'map(select(.c as $c | $s | index($c)))')"
}

# ---- 1. under the vendor's limit: no 429
sb POST /_sandbox/ratelimit '{"connection_id":"*","rps":5,"burst":5}' >/dev/null || die "ratelimit refused"
CONNS=(conn-0001 conn-0002)
run_phase p1 "worker.connection_rate = 4/s" "worker.connection_burst = 4"
[ "$(jq .rate_limited <<<"$STATS")" -eq 0 ] || fail "phase 1: $(jq .rate_limited <<<"$STATS") requests were rate limited"
over=$(jq '[.connections[] | select(.max_rps_1s > 8)] | length' <<<"$STATS")
[ "$over" -eq 0 ] || fail "phase 1: a connection made more than burst + rate = 8 requests in one second"
[ "$(status_tag p1 | jq -s 'map(.rate_waits) | add')" -gt 0 ] || fail "phase 1: no request waited for the limiter"
check_truth 1

# ---- 2. unlimited worker against the same vendor limit: 429s, adaptation, all ok
CONNS=(conn-0003 conn-0004)
run_phase p2 "worker.connection_rate = 0" "unified.max_retries = 5"
[ "$(jq .rate_limited <<<"$STATS")" -gt 0 ] || fail "phase 2: the sandbox limited nothing (the test is void)"
[ "$(lim connection_cuts)" -gt 0 ] || fail "phase 2: the worker never cut a connection's rate"
[ "$((2 * $(jq .rate_limited <<<"$STATS")))" -le "$(jq .requests <<<"$STATS")" ] ||
  fail "phase 2: $(jq .rate_limited <<<"$STATS") of $(jq .requests <<<"$STATS") requests were rate limited: the worker did not adapt"
check_truth 2

# ---- 3. Unified's own limit over all connections
sb DELETE /_sandbox/ratelimit >/dev/null || die "ratelimit delete refused"
sb POST /_sandbox/ratelimit '{"scope":"unified","rps":8,"burst":4}' >/dev/null || die "unified ratelimit refused"
CONNS=(conn-0005 conn-0006)
run_phase p3 "worker.connection_rate = 0" "unified.max_retries = 5"
[ "$(jq .rate_limited_unified <<<"$STATS")" -gt 0 ] || fail "phase 3: the sandbox limited nothing (the test is void)"
[ "$(lim unified_429)" -gt 0 ] || fail "phase 3: the worker did not recognise Unified's 429"
[ "$(lim unified_cuts)" -gt 0 ] || fail "phase 3: the process-wide in-flight limit was never cut"
check_truth 3

[ "$E2E_FAILED" -eq 0 ] && log "PASS"
exit "$E2E_FAILED"
