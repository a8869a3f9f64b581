#!/usr/bin/env bash
# ctest-timeout: 180
# e2e.export - lmsync-export against the devbroker.
#   start        a devbroker (topics prefixed e2x, several partitions)
#   snapshot     versions, a tombstone, a non-JSON value and keys of two
#                connections whose ids share a prefix, produced with kcat on
#                the enrollments topic: the CSV export holds exactly the last
#                version of every live key (RFC 4180 quoting), the unreadable
#                value is skipped and counted in the log
#   filters      --connection (not a prefix match), --tenant, --course, and
#                --format jsonl: absent fields missing, null kept
#   empty        an unknown connection and an empty topic: exit code 3 with a
#                line that says so; a bad --per: exit code 2
#   pipeline     the real pipeline (sandbox, coordinator, worker) after two
#                rounds with removals: `--per activity --format jsonl` holds
#                exactly one row per activity of the sandbox's ground truth,
#                field for field (`id` as `activity_id`), and the CSV export has
#                as many rows
source "$(dirname "$0")/lib.sh"
: "${LS_EXPORT:?LS_EXPORT must point at lmsync-export}"
TOPIC=e2x.progress.enrollments

# export OUTFILE ARGS... : run lmsync-export, stdout in $E2E_DIR/OUTFILE, stderr in OUTFILE.err, exit code in RC
export_to() {
  local out=$1; shift
  timeout 60 "$LS_EXPORT" --config "$E2E_DIR/export.conf" --timeout 20 "$@" >"$E2E_DIR/$out" 2>"$E2E_DIR/$out.err"
  RC=$?
}
# put KEY VALUE : one record on the enrollments topic (VALUE "" = tombstone)
put() {
  if [ -z "$2" ]; then
    printf '%s\t\n' "$1" | kcat -P -b "$BOOT" -t "$TOPIC" -K $'\t' -Z || die "kcat tombstone $1"
  else
    printf '%s\t%s\n' "$1" "$2" | kcat -P -b "$BOOT" -t "$TOPIC" -K $'\t' || die "kcat produce $1"
  fi
}
enr() { # enr CONN STUDENT COURSE TENANT ACTIVITIES COMPLETED
  jq -cn --arg c "$1" --arg s "$2" --arg k "$3" --arg t "$4" --argjson a "$5" --argjson d "$6" \
    '{connection_id:$c, integration_type:"moodle", tenant:(if $t == "" then null else $t end),
      student_id:$s, course_id:$k, activities:$a, completed:$d, completion_share:($d / $a)}'
}

case_start() {
  command -v kcat >/dev/null || die "'kcat' is not installed"
  broker_start devbroker 4 1 --prefix e2x
  BOOT=$(broker_bootstrap devbroker)
  printf 'kafka.brokers = %s\nkafka.topic_prefix = e2x\nlog.format = text\n' "$BOOT" >"$E2E_DIR/export.conf"
}

case_snapshot() {
  put c1/s1/k1 "$(enr c1 s1 k1 acme 2 1)"
  put c1/s2/k1 "$(enr c1 s2 k1 acme 1 0)"
  put c1/s1/k1 "$(enr c1 s1 k1 acme 2 2 | jq -c '. + {all_completed_at:"2026-11-27T08:15:00Z", progress_mean:100}')"
  put c1/s2/k1 ""
  put c1/s3/k2 "$(enr c1 's3,"x"' k2 acme 4 1 | jq -c '. + {progress_mean:null}')"
  put c10/s1/k1 "$(enr c10 s1 k1 '' 1 1)"
  put c1/s4/k1 'not json'
  export_to all.csv
  [ "$RC" -eq 0 ] || { fail "export exited $RC: $(cat "$E2E_DIR/all.csv.err")"; return 1; }
  as_comment <"$E2E_DIR/all.csv"
  local want got
  want=$(printf '%s\n' \
    'c1,acme,moodle,s1,k1,,2,2,1,2026-11-27T08:15:00Z,100,,,,' \
    'c1,acme,moodle,"s3,""x""",k2,,4,1,0.25,,,,,,' \
    'c10,,moodle,s1,k1,,1,1,1,,,,,,' | sort)
  got=$(tail -n +2 "$E2E_DIR/all.csv" | tr -d '\r' | sort)
  [ "$got" = "$want" ] || fail "rows differ: got"$'\n'"$got"$'\n'"want"$'\n'"$want"
  head -1 "$E2E_DIR/all.csv" | grep -q $'^connection_id,tenant,.*,last_activity_at\r$' || fail "no CRLF header row"
  grep -q '4 partitions, 7 records of the selected keys, 1 unreadable' "$E2E_DIR/all.csv.err" \
    || fail "summary line missing: $(cat "$E2E_DIR/all.csv.err")"
  grep -q 'not a JSON object' "$E2E_DIR/all.csv.err" || fail "the unreadable record was not reported"
}

case_filters() {
  export_to c1.csv --connection c1
  [ "$RC" -eq 0 ] && [ "$(tail -n +2 "$E2E_DIR/c1.csv" | grep -c '^c1,')" -eq 2 ] \
    && [ "$(wc -l <"$E2E_DIR/c1.csv")" -eq 3 ] || fail "--connection c1: $(cat "$E2E_DIR/c1.csv")"
  export_to k2.jsonl --course k2 --tenant acme --format jsonl
  [ "$RC" -eq 0 ] || { fail "--course --format jsonl exited $RC"; return 1; }
  jq -e -s 'length == 1 and .[0].student_id == "s3,\"x\"" and .[0].progress_mean == null
            and (.[0] | has("progress_min") | not) and .[0].activities_completed == 1' "$E2E_DIR/k2.jsonl" >/dev/null \
    || fail "jsonl row: $(cat "$E2E_DIR/k2.jsonl")"
}

case_empty() {
  export_to none.csv --connection nope
  [ "$RC" -eq 3 ] && grep -q 'no enrollment record in e2x.progress.enrollments for connection nope' "$E2E_DIR/none.csv.err" \
    || fail "unknown connection: exit $RC: $(cat "$E2E_DIR/none.csv.err")"
  export_to empty.csv --per activity
  [ "$RC" -eq 3 ] && grep -q 'e2x.activity.current holds no record' "$E2E_DIR/empty.csv.err" \
    || fail "empty topic: exit $RC: $(cat "$E2E_DIR/empty.csv.err")"
  export_to bad.csv --per course
  [ "$RC" -eq 2 ] && grep -q -- '--per must be enrollment or activity' "$E2E_DIR/bad.csv.err" \
    || fail "bad --per: exit $RC: $(cat "$E2E_DIR/bad.csv.err")"
}

# truth_rows : the sandbox's current records as export rows, sorted by connection and activity
truth_rows() {
  truth_current sandbox | jq -c '[.[] | {activity_id: .id} + with_entries(select(.key | IN("connection_id", "tenant",
      "integration_type", "student_id", "course_id", "content_id", "is_completed", "completed_at", "progress_percentage",
      "duration_minutes", "assigned_grade", "started_at", "updated_at")))] | sort_by(.connection_id, .activity_id)'
}

case_pipeline() {
  local a n
  sandbox_start sandbox --seed 11 --connections 3 --students 3 --courses 2 --providers moodle,docebo,go1 --tick-ms 300
  write_config "$E2E_DIR/lmsync.conf" sandbox devbroker "coordinator.interval_s = 2" "worker.lmdb_path = $E2E_DIR/lmdb" \
    "kafka.topic_prefix = e2x"
  export UNIFIED_API_TOKEN=e2e-token
  tail_topic status devbroker e2x.sync.status
  T0=$(date +%s)
  proc_start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf" --processes 1
  proc_start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
  wait_round status "$((T0 - 1))" 90 conn-0001 conn-0002 conn-0003 || return 1
  a=$(sb_pick sandbox conn-0002 'true')
  sb_delete sandbox conn-0002 "$a"
  sb sandbox POST /_sandbox/clock '{"tick_ms":0}' >/dev/null || die "cannot pause the sandbox's clock"
  wait_round status "$(date +%s)" 60 conn-0001 conn-0002 conn-0003 || return 1
  wait_round status "$(date +%s)" 60 conn-0001 conn-0002 conn-0003 || return 1
  proc_stop coordinator
  proc_stop worker
  export_to rows.jsonl --per activity --format jsonl
  [ "$RC" -eq 0 ] || { fail "export exited $RC: $(cat "$E2E_DIR/rows.jsonl.err")"; return 1; }
  compare_sets "export --per activity" "$(truth_rows)" \
    "$(jq -s -c 'sort_by(.connection_id, .activity_id)' "$E2E_DIR/rows.jsonl")" "rows" || return 1
  n=$(jq -s length "$E2E_DIR/rows.jsonl")
  export_to rows.csv --per activity
  [ "$RC" -eq 0 ] && [ "$(($(wc -l <"$E2E_DIR/rows.csv") - 1))" -eq "$n" ] \
    || fail "CSV export: exit $RC, $(($(wc -l <"$E2E_DIR/rows.csv") - 1)) rows, want $n"
  log "export --per activity: $n rows equal the sandbox's current records"
}

test_case start
test_case snapshot
test_case filters
test_case empty
test_case pipeline --needs start
run_cases
