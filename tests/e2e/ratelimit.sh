#!/usr/bin/env bash
# End to end: rate-limit awareness. The sandbox enforces limits like real
# upstreams (docs/sandbox.md, "Rate limits"); jobs go on the jobs topic
# directly. Two connections per case, each case its own worker:
#   start          devbroker, sandbox (vendor limit 5/s, burst 5, per connection), tails
#   under-limit    worker.connection_rate = 4/s with burst 4: the worker stays
#                  under the limit: no 429 at all, at most burst + rate = 8
#                  requests in any second per connection
#   adapts         same vendor limit, worker unlimited (connection_rate = 0):
#                  429s come, the worker halves those connections' rates (and
#                  stops prefetching for them) and every job still ends ok, with few 429s
#   unified-limit  a Unified-wide limit over all connections: Unified's own 429
#                  ("Too many requests to Unified.to") cuts the process-wide
#                  in-flight limit; every job ends ok
# In every case the change events equal the sandbox's ground truth.
# The worker's limiter counters (connection_cuts, unified_429, unified_cuts)
# are reported only in its "rate limiter:" log line at stop; no status record
# or topic carries them, so those checks read the log.
source "$(dirname "$0")/lib.sh"

put_jobs() { # put_jobs TAG CONN... : one full job per connection, scheduled now
  local tag=$1 c at; shift
  at=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
  for c in "$@"; do
    printf '%s\t{"v":1,"job_id":"%s@%s","connection_id":"%s","integration_type":"coursera","mode":"full","scheduled_at":"%s"}\n' \
      "$c" "$c" "$tag" "$c" "$at"
  done | kcat -P -b "$(broker_bootstrap devbroker)" -t lmsync.poll.jobs -K $'\t' || die "kcat produce failed"
}
status_tag() { jq -c --arg t "$1" 'select(.value.job_id | endswith("@" + $t)) | .value' "$(topic_file status)" 2>/dev/null; }
tag_reported() { [ "$(status_tag "$1" | wc -l)" -ge "$2" ]; }
stats() { sb sandbox GET /_sandbox/stats; }
# run_phase TAG WORKER_CONFIG_LINES... (connections in CONNS): sets STATS and LIMITER
run_phase() {
  local tag=$1 t0 wall bad; shift
  write_config "$E2E_DIR/$tag.conf" sandbox devbroker "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 5" "$@"
  sb sandbox POST /_sandbox/stats/reset '{}' >/dev/null || die "stats reset refused"
  proc_start "worker_$tag" "$LS_WORKER" --config "$E2E_DIR/$tag.conf" --processes 1
  t0=$(date +%s.%N)
  put_jobs "$tag" "${CONNS[@]}"
  wait_until 120 tag_reported "$tag" "${#CONNS[@]}" || die "phase $tag: fewer than ${#CONNS[@]} status records after 120 s"
  wall=$(echo "$(date +%s.%N) - $t0" | bc -l)
  STATS=$(stats)
  proc_stop "worker_$tag"
  LIMITER=$(grep -o 'rate limiter: .*' "$(proc_log "worker_$tag")" | tail -1)
  bad=$(status_tag "$tag" | jq -r 'select(.outcome != "ok") | .job_id + ": " + .outcome + " " + (.error // "")')
  [ -z "$bad" ] || fail "phase $tag: jobs not ok: $bad"
  log "phase $tag: ${wall:0:5} s, sandbox requests=$(jq .requests <<<"$STATS") rate_limited=$(jq .rate_limited <<<"$STATS")" \
      "unified=$(jq .rate_limited_unified <<<"$STATS") max_rps_1s=$(jq -c '[.connections[] | .max_rps_1s]' <<<"$STATS"); $LIMITER"
}
lim() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$LIMITER"; }
# phase_truth LABEL : the events of CONNS equal the ground truth of CONNS
phase_truth() {
  local sel
  sel=$(printf '%s\n' "${CONNS[@]}" | jq -R . | jq -sc .)
  topic_caught_up events
  compare_sets "phase $1" "$(truth_since sandbox 0 | jq --argjson s "$sel" 'map(select(.c as $c | $s | index($c)))')" \
    "$(events_since events 0 | jq --argjson s "$sel" 'map(select(.c as $c | $s | index($c)))')"
}

case_start() {
  broker_start devbroker 6
  sandbox_start sandbox --seed 21 --connections 6 --students 4 --courses 3 --contents 5 --providers coursera --tick-ms 0
  export UNIFIED_API_TOKEN=e2e-token
  tail_topic events devbroker lmsync.activity.changes
  tail_topic status devbroker lmsync.sync.status
  sb sandbox POST /_sandbox/ratelimit '{"connection_id":"*","rps":5,"burst":5}' >/dev/null || die "ratelimit refused"
}

case_under_limit() {
  local over
  CONNS=(conn-0001 conn-0002)
  run_phase p1 "worker.connection_rate = 4/s" "worker.connection_burst = 4"
  [ "$(jq .rate_limited <<<"$STATS")" -eq 0 ] || fail "phase 1: $(jq .rate_limited <<<"$STATS") requests were rate limited"
  over=$(jq '[.connections[] | select(.max_rps_1s > 8)] | length' <<<"$STATS")
  [ "$over" -eq 0 ] || fail "phase 1: a connection made more than burst + rate = 8 requests in one second"
  [ "$(status_tag p1 | jq -s 'map(.rate_waits) | add')" -gt 0 ] || fail "phase 1: no request waited for the limiter"
  phase_truth 1
}

case_adapts() {
  CONNS=(conn-0003 conn-0004)
  run_phase p2 "worker.connection_rate = 0" "unified.max_retries = 5"
  [ "$(jq .rate_limited <<<"$STATS")" -gt 0 ] || fail "phase 2: the sandbox limited nothing (the test is void)"
  [ "$(lim connection_cuts)" -gt 0 ] || fail "phase 2: the worker never cut a connection's rate"   # log (see top)
  [ "$((2 * $(jq .rate_limited <<<"$STATS")))" -le "$(jq .requests <<<"$STATS")" ] ||
    fail "phase 2: $(jq .rate_limited <<<"$STATS") of $(jq .requests <<<"$STATS") requests were rate limited: the worker did not adapt"
  phase_truth 2
}

case_unified_limit() {
  sb sandbox DELETE /_sandbox/ratelimit >/dev/null || die "ratelimit delete refused"
  sb sandbox POST /_sandbox/ratelimit '{"scope":"unified","rps":8,"burst":4}' >/dev/null || die "unified ratelimit refused"
  CONNS=(conn-0005 conn-0006)
  run_phase p3 "worker.connection_rate = 0" "unified.max_retries = 5"
  [ "$(jq .rate_limited_unified <<<"$STATS")" -gt 0 ] || fail "phase 3: the sandbox limited nothing (the test is void)"
  [ "$(lim unified_429)" -gt 0 ] || fail "phase 3: the worker did not recognise Unified's 429"           # log (see top)
  [ "$(lim unified_cuts)" -gt 0 ] || fail "phase 3: the process-wide in-flight limit was never cut"     # log (see top)
  phase_truth 3
}

test_case start
test_case under-limit
test_case adapts --needs start
test_case unified-limit --needs start
run_cases
