#!/usr/bin/env bash
# ctest-timeout: 240
# End to end: catalog jobs (course and content names) next to the poll jobs.
#   start            devbroker, sandbox (4 providers), worker and coordinator with
#                    enrichment.refresh_s = 8 and worker.page_limit = 2
#   names-cached     after each connection's first catalog job, the worker's LMDB
#                    (lmsync-admin catalog) holds exactly the sandbox's course and
#                    content names, a name or type the provider does not report
#                    being absent; the catalog status records carry the requests
#   metrics          lmsync_enrichment_requests_total counts both lists, at least the
#                    requests the catalog status records report
#   rename-refresh   a course renamed in the sandbox is picked up by a later refresh
#   names-joined     a change after the rename: its current record carries the cached
#                    course_name (the new one) and content_name/content_type exactly
#                    as the cache holds them, absent where the cache has none; the
#                    enrollment and course rollups it changes carry the new course_name
#                    too, and lmsync_worker_rollup_records_total counts them
#   faults-isolated  a course list answering 500, a content list answering a body
#                    that is not a JSON array or a truncated one fail only their
#                    catalog jobs (with the reason; the names fetched before stay),
#                    a 429 with Retry-After is retried: the poll jobs of the same
#                    connections stay ok and their events equal the ground truth
#   shutdown         SIGTERM stops coordinator and worker cleanly
source "$(dirname "$0")/lib.sh"
CONNS=(conn-0001 conn-0002 conn-0003 conn-0004)
CONF="$E2E_DIR/lmsync.conf"

case_start() {
  broker_start devbroker 6
  sandbox_start sandbox --seed 7 --connections 4 --students 2 --courses 3 --contents 2 \
    --providers coursera,go1,learnupon,d2l --tick-ms 0
  write_config "$CONF" sandbox devbroker "coordinator.interval_s = 2" "coordinator.discovery_interval_s = 60" \
    "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 2" "unified.max_retries = 1" \
    "enrichment.enabled = 1" "enrichment.refresh_s = 8"
  export UNIFIED_API_TOKEN=e2e-token
  tail_topic events devbroker lmsync.activity.changes
  tail_topic status devbroker lmsync.sync.status
  T0=$(date +%s)
  LMSYNC_OPS_LISTEN=127.0.0.1:0 LMSYNC_OPS_PORT_FILE=$E2E_DIR/worker.ops proc_start worker "$LS_WORKER" --config "$CONF"
  proc_start coordinator "$LS_COORDINATOR" --config "$CONF"
  wait_until 30 test -s "$E2E_DIR/worker.ops" || die "the worker wrote no ops.port_file"
  W="http://127.0.0.1:$(cat "$E2E_DIR/worker.ops")"
}

# enrichment_requests LIST : lmsync_enrichment_requests_total{list="LIST"} of the worker pod
enrichment_requests() {
  curl -fsS "$W/metrics" | awk -v l="list=\"$1\"" '$1 ~ /^lmsync_enrichment_requests_total/ && index($1, l) {s += $2} END {print s + 0}'
}

# catalog_status CONN SINCE : the catalog status values of CONN started after SINCE (epoch s), oldest first
catalog_status() {
  jq -s --arg c "$1" --argjson s "$2" "$JQ_STARTED"'[.[] | .value | select(.connection_id == $c and .kind == "catalog"
      and started > $s)] | sort_by(.started_at)' "$(topic_file status)"
}

# catalog_outcome_seen CONN SINCE OUTCOME : CONN has a catalog status with OUTCOME started after SINCE
catalog_outcome_seen() { jq -e --arg o "$3" 'any(.[]; .outcome == $o)' <<<"$(catalog_status "$1" "$2")" >/dev/null; }

# retried_ok CONN SINCE : CONN has an ok catalog status with a retry, started after SINCE
retried_ok() { jq -e 'any(.[]; .outcome == "ok" and .retries >= 1)' <<<"$(catalog_status "$1" "$2")" >/dev/null; }

# upstream CONN LIST : every record of the sandbox's LIST (course | content) of CONN, one array
upstream() {
  curl -fsS -H 'Authorization: Bearer e2e-token' "$(sandbox_url sandbox)/lms/$1/$2?limit=1000"
}

# expected_names CONN : the sandbox's names as lmsync must cache them: [{kind,id,name?,type?}] sorted
expected_names() {
  jq -n --argjson crs "$(upstream "$1" course)" --argjson cnt "$(upstream "$1" content)" '
    def known: with_entries(select(.value != null and .value != ""));
    ([$crs[] | {kind: "course", id, name} | known] + [$cnt[] | {kind: "content", id, name, type} | known])
    | sort_by(.kind, .id)'
}

# cached_names CONN : the worker's cache as lmsync-admin catalog dumps it, same shape
cached_names() {
  "$LS_ADMIN" catalog "$1" --config "$CONF" | jq -s '[.[] | {kind, id, name, type} | with_entries(select(.value != null))]
    | sort_by(.kind, .id)'
}

names_equal() { [ "$(expected_names "$1")" == "$(cached_names "$1")" ]; }

case_names_cached() {
  local c
  for c in "${CONNS[@]}"; do
    wait_until 60 catalog_outcome_seen "$c" "$((T0 - 1))" ok || die "no ok catalog job of $c: $(catalog_status "$c" 0)"
  done
  for c in "${CONNS[@]}"; do
    names_equal "$c" || { fail "cached names of $c differ from the sandbox's"
      diff <(expected_names "$c" | jq -c '.[]') <(cached_names "$c" | jq -c '.[]') | head -20 | as_comment; return 1; }
    log "$c: $(cached_names "$c" | jq -c '[length, ([.[] | select(.name == null)] | length),
      ([.[] | select(.kind == "content" and .type == null)] | length)]') (entries, without name, contents without type);" \
      "requests per refresh: $(catalog_status "$c" 0 | jq -c '[.[] | select(.outcome == "ok") | .requests] | unique')"
  done
  # the sandbox serves at least one content without a name and one without a type: absent, not ""
  jq -e 'any(.[]; .kind == "content" and .name == null)' <<<"$(for c in "${CONNS[@]}"; do cached_names "$c"; done | jq -s add)" \
    >/dev/null || fail "no content without a name in the cache: the absent-name case went untested"
  # a job redelivered after a rebalance is skipped as duplicate or stale (documented): not judged here
  jq -e '[.[] | select(.outcome != "skipped")] | length > 0 and all(.[]; .outcome == "ok" and .requests >= 2 and .events == 0)' \
    <<<"$(catalog_status conn-0001 0)" >/dev/null \
    || fail "catalog status records: $(catalog_status conn-0001 0)"
}

case_metrics() {
  local course content spent
  course=$(enrichment_requests course); content=$(enrichment_requests content)
  spent=$(jq -s '[.[] | .value | select(.kind == "catalog") | .requests] | add // 0' "$(topic_file status)")
  log "lmsync_enrichment_requests_total: course $course, content $content; catalog status records so far: $spent requests"
  [ "$course" -gt 0 ] && [ "$content" -gt 0 ] || fail "enrichment requests not counted: course $course, content $content"
  [ "$((course + content))" -ge "$spent" ] || fail "the metric counts fewer requests than the status records report"
}

case_rename_refresh() {
  local t
  t=$(date +%s)
  sb sandbox POST /_sandbox/course '{"connection_id":"conn-0001","course_id":"crs-2","name":"Algebra II (renamed)"}' >/dev/null \
    || die "rename refused"
  wait_until 40 names_equal conn-0001 || die "the rename did not reach the cache: $(cached_names conn-0001 | jq -c '.[] | select(.id == "crs-2")')"
  wait_until 20 catalog_outcome_seen conn-0001 "$((t - 1))" ok || fail "no ok catalog status of conn-0001 after the rename"
  log "renamed: $(cached_names conn-0001 | jq -c '.[] | select(.kind == "course" and .id == "crs-2")')"
}

# current_of CONN ACT : the last current record of CONN/ACT a late consumer reads, or null
current_of() {
  current_read devbroker "$E2E_DIR/current.jsonl" >/dev/null || return 1
  jq -s -c --arg k "$1/$2" '[.[] | select(.key == $k)] | last | .payload // "null" | fromjson' "$E2E_DIR/current.jsonl"
}

# rollup_of TOPIC KEY : the last value under KEY on lmsync.progress.TOPIC, or null
rollup_of() {
  timeout 60 kcat -C -b "$(broker_bootstrap devbroker)" -t "lmsync.progress.$1" -o beginning -e -q -J \
    >"$E2E_DIR/rollups-$1.jsonl" 2>/dev/null || return 1
  jq -s -c --arg k "$2" '[.[] | select(.key == $k)] | last | .payload // "null" | fromjson' "$E2E_DIR/rollups-$1.jsonl"
}

# rollup_named TOPIC KEY NAME : the last rollup under KEY carries course_name NAME
rollup_named() { jq -e --arg n "$3" '.course_name == $n' <<<"$(rollup_of "$1" "$2")" >/dev/null; }

# rollup_records TOPIC : lmsync_worker_rollup_records_total{topic="TOPIC"} of the worker pod, every kind
rollup_records() {
  curl -fsS "$W/metrics" | awk -v t="topic=\"$1\"" '$1 ~ /^lmsync_worker_rollup_records_total/ && index($1, t) {s += $2} END {print s + 0}'
}

# current_progress_is CONN ACT P : the current record of CONN/ACT says progress_percentage P
current_progress_is() { jq -e --argjson p "$3" '.progress_percentage == $p' <<<"$(current_of "$1" "$2")" >/dev/null; }

case_names_joined() {
  local a rec want stu
  a=$(sb_pick sandbox conn-0001 '.course_id == "crs-2" and .progress_percentage != null')
  [ -n "$a" ] || die "no activity of conn-0001 in crs-2 that reports progress"
  sb_set sandbox conn-0001 "$a" '{"progress_percentage":41.5}'
  wait_until 30 current_progress_is conn-0001 "$a" 41.5 || die "no current record of $a with the change: $(current_of conn-0001 "$a")"
  rec=$(current_of conn-0001 "$a")
  want=$(jq -c --argjson r "$rec" '
      ([.[] | select(.kind == "course" and .id == $r.course_id)][0] // {}) as $c
      | ([.[] | select(.kind == "content" and .id == $r.content_id)][0] // {}) as $t
      | {course_name: $c.name, content_name: $t.name, content_type: $t.type} | with_entries(select(.value != null))' \
    <<<"$(cached_names conn-0001)")
  log "current record of $a: $(jq -c '{course_id, content_id, course_name, content_name, content_type}' <<<"$rec"); cache: $want"
  jq -e --argjson w "$want" '(. | {course_name, content_name, content_type} | with_entries(select(.value != null))) == $w
      and .course_name == "Algebra II (renamed)"' <<<"$rec" >/dev/null \
    || fail "the current record of $a does not carry the cached names $want: $rec"
  stu=$(jq -r .student_id <<<"$rec")
  wait_until 20 rollup_named enrollments "conn-0001/$stu/crs-2" "Algebra II (renamed)" \
    || fail "the enrollment rollup conn-0001/$stu/crs-2 does not carry the new course_name: $(rollup_of enrollments "conn-0001/$stu/crs-2")"
  wait_until 20 rollup_named courses conn-0001/crs-2 "Algebra II (renamed)" \
    || fail "the course rollup conn-0001/crs-2 does not carry the new course_name: $(rollup_of courses conn-0001/crs-2)"
  log "rollups: $(rollup_of courses conn-0001/crs-2 | jq -c '{course_id, course_name, learners}'); metric: $(rollup_records enrollments) enrollment, $(rollup_records courses) course records"
  [ "$(rollup_records enrollments)" -gt 0 ] && [ "$(rollup_records courses)" -gt 0 ] \
    || fail "lmsync_worker_rollup_records_total does not count the rollups"
}

case_faults_isolated() {
  local c a t n seq before
  before=$(cached_names conn-0002)
  N=$(topic_count events); seq=$(truth_seq sandbox)
  t=$(( $(date +%s) - 1 ))
  sb sandbox POST /_sandbox/faults '{"connection_id":"conn-0002","kind":"status","status":500,"count":-1,"path":"course"}' >/dev/null
  sb sandbox POST /_sandbox/faults '{"connection_id":"conn-0003","kind":"not_array","count":-1,"path":"content"}' >/dev/null
  sb sandbox POST /_sandbox/faults '{"connection_id":"conn-0004","kind":"truncate","count":-1,"path":"content"}' >/dev/null
  sb sandbox POST /_sandbox/faults '{"connection_id":"conn-0001","kind":"status","status":429,"retry_after":1,"count":1,"path":"course"}' >/dev/null
  NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for c in "${CONNS[@]}"; do
    a=$(sb_pick sandbox "$c" '.is_completed != true')
    sb_set sandbox "$c" "$a" "{\"is_completed\":true,\"completed_at\":\"$NOW\"}"
  done
  for c in conn-0002 conn-0003 conn-0004; do
    wait_until 40 catalog_outcome_seen "$c" "$t" failed || die "no failed catalog job of $c: $(catalog_status "$c" "$t")"
    log "$c catalog job failed: $(catalog_status "$c" "$t" | jq -r '[.[] | select(.outcome == "failed")][0] | "\(.error) (requests \(.requests), retries \(.retries))"')"
  done
  wait_until 40 retried_ok conn-0001 "$t" \
    || fail "the 429 was not retried: $(catalog_status conn-0001 "$t" | jq -c '[.[] | {outcome, retries, requests}]')"
  log "conn-0001 catalog job after a 429: $(catalog_status conn-0001 "$t" | jq -c '[.[] | select(.retries >= 1) | {outcome, retries, requests}][0]')"
  # the poll jobs of those connections ran on: every one since the faults is ok, rounds keep coming
  wait_round status "$(date +%s)" 30 "${CONNS[@]}"
  for c in "${CONNS[@]}"; do
    jq -e 'length > 0 and all(.[]; .outcome == "ok")' <<<"$(status_since status "$c" "$t")" >/dev/null \
      || fail "poll jobs of $c since the faults: $(status_since status "$c" "$t" | jq -c '[.[] | {outcome, error}]')"
  done
  check_truth "events beside failing catalog jobs" sandbox events "$seq" "$N" || return 1
  [ "$(cached_names conn-0002)" == "$before" ] || fail "a failed catalog job changed the cached names of conn-0002"
  sb sandbox DELETE /_sandbox/faults >/dev/null
}

case_shutdown() {
  proc_stop coordinator
  proc_stop worker
}

test_case start
test_case names-cached
test_case metrics --needs names-cached
test_case rename-refresh --needs names-cached
test_case names-joined --needs rename-refresh
test_case faults-isolated --needs names-cached
test_case shutdown --needs start
run_cases
