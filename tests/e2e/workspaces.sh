#!/usr/bin/env bash
# End to end: one coordinator and one worker poll two Unified workspaces
# (two sandboxes standing for two regions) whose tokens differ and whose
# connection ids overlap (conn-0001..conn-0003 in both).
#   start               devbroker, sandbox "us" (the default workspace, token
#                       us-token) and sandbox "eu" (unified.workspaces, token
#                       file with eu-token), tails, worker, coordinator
#   tokens-differ       each sandbox refuses the other's token (the check the
#                       rest relies on)
#   initial-sync        all six scopes report ok (a token sent to the wrong
#                       host would fail its jobs with a 401); the events of
#                       each workspace equal that sandbox's ground truth, and
#                       every event names the workspace it came from
#   same-id-changes     the same connection and activity id changed in both
#                       sandboxes: one event each, told apart by workspace,
#                       with distinct ids and keys
#   status-and-keys     status records: scope "eu:conn-000N" with workspace
#                       "eu", and "conn-000N" without one
#   catalog-current-rollups  catalog jobs of both workspaces report ok
#                       (scope "eu:conn-000N//catalog" with workspace "eu":
#                       fetched from the eu sandbox with the eu token); the
#                       current records and course rollups of act-same-1's
#                       connection are told apart like the events: qualified
#                       keys, workspace sources, "workspace" in the eu values
#   no-secret-in-logs   no log holds either token
source "$(dirname "$0")/lib.sh"
CONNS=(conn-0001 conn-0002 conn-0003)

case_start() {
  broker_start devbroker 4
  sandbox_start us --seed 21 --connections 3 --students 3 --courses 2 --contents 2 \
    --providers coursera,go1,d2l --tick-ms 0 --token us-token
  sandbox_start eu --seed 22 --connections 3 --students 2 --courses 2 --contents 2 \
    --providers coursera,learnupon,go1 --tick-ms 0 --token eu-token
  printf 'eu-token\n' >"$E2E_DIR/eu.token"
  write_config "$E2E_DIR/lmsync.conf" us devbroker "coordinator.interval_s = 2" "coordinator.discovery_interval_s = 60" \
    "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 5" "unified.max_retries = 1" \
    "unified.workspaces = eu=$(sandbox_url eu)|$E2E_DIR/eu.token" \
    "enrichment.enabled = 1" "enrichment.refresh_s = 8"
  export UNIFIED_API_TOKEN=us-token
  tail_topic events devbroker lmsync.activity.changes
  tail_topic status devbroker lmsync.sync.status
  tail_topic current devbroker lmsync.activity.current
  tail_topic courses devbroker lmsync.progress.courses
  T0=$(date +%s)
  proc_start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf"
  proc_start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
}

# code SANDBOX TOKEN : HTTP status of a connection list with TOKEN
code() {
  curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $2" "$(sandbox_url "$1")/unified/connection?limit=1"
}

case_tokens_differ() {
  [ "$(code us us-token)" = 200 ] && [ "$(code eu eu-token)" = 200 ] || die "a sandbox refused its own token"
  [ "$(code us eu-token)" = 401 ] || die "sandbox us accepted eu's token ($(code us eu-token))"
  [ "$(code eu us-token)" = 401 ] || die "sandbox eu accepted us's token ($(code eu us-token))"
  log "each sandbox answers 401 to the other's token"
}

# ok_scopes SINCE : distinct scopes with an ok status record of a job started after SINCE
ok_scopes() {
  jq -s --argjson s "$1" "$JQ_STARTED"'[.[] | .value | select(type == "object" and .outcome == "ok")
      | select(started > $s) | .scope] | unique | length' "$(topic_file status)" 2>/dev/null || echo 0
}
all_scopes_ok() { [ "$(ok_scopes "$1")" -ge 6 ]; }

# ws_events WORKSPACE N : events after line N of that workspace ("" = none) as sorted [{c,a,t,b,f}]
ws_events() {
  tail -n +"$(($2 + 1))" "$(topic_file events)" | jq -s --arg w "$1" "$JQ_NORM"'
    unique_by(.headers.ce_id) | map(select((.value.workspace // "") == $w))
    | map({c: .value.connection_id, a: .value.activity_id,
      t: .value.type, b: (.value.before | norm), f: (.value.after | norm)}) | sort_by(.c, .a)'
}

# check_both LABEL SEQ_US SEQ_EU N : each workspace's events after line N equal its sandbox's truth
check_both() {
  topic_caught_up events
  local other
  other=$(tail -n +"$(($4 + 1))" "$(topic_file events)" | jq -s '[.[] | select((.value.workspace // "") != "" and .value.workspace != "eu")] | length')
  [ "$other" = 0 ] || fail "$1: $other events name a workspace that is not configured"
  compare_sets "$1 (us, default workspace)" "$(truth_since us "$2")" "$(ws_events "" "$4")" &&
    compare_sets "$1 (eu)" "$(truth_since eu "$3")" "$(ws_events eu "$4")"
}

case_initial_sync() {
  wait_until_every 1 120 all_scopes_ok "$((T0 - 1))" || die "only $(ok_scopes "$((T0 - 1))") of 6 scopes completed an ok round"
  local failed
  failed=$(jq -s '[.[] | .value | select(.outcome == "failed") | .error] | unique' "$(topic_file status)")
  [ "$(jq length <<<"$failed")" = 0 ] || fail "failed jobs: $failed"
  check_both "initial sync" 0 0 0 || return 1
  [ "$(jq length <<<"$(ws_events eu 0)")" -gt 0 ] && [ "$(jq length <<<"$(ws_events "" 0)")" -gt 0 ] \
    || fail "a workspace produced no events"
  N1=$(topic_count events); SEQ_US=$(truth_seq us); SEQ_EU=$(truth_seq eu)
}

case_same_id_changes() {
  local t
  sb_set us conn-0001 act-same-1 '{"course_id":"crs-1","student_id":"stu-1","content_id":"cnt-1","is_completed":false,"progress_percentage":10}'
  sb_set eu conn-0001 act-same-1 '{"course_id":"crs-1","student_id":"stu-1","content_id":"cnt-1","is_completed":false,"progress_percentage":10}'
  t=$(date +%s)
  wait_until_every 1 60 all_scopes_ok "$t" || die "no ok round after the changes"
  check_both "same connection and activity id in both workspaces" "$SEQ_US" "$SEQ_EU" "$N1" || return 1
  local pair
  pair=$(tail -n +"$((N1 + 1))" "$(topic_file events)" | jq -s '[.[] | select(.value.activity_id == "act-same-1")]
      | unique_by(.headers.ce_id) | map({w: (.value.workspace // ""), id: .headers.ce_id, k: .key, s: .headers.ce_source})')
  jq -e 'length == 2 and (map(.w) | sort) == ["", "eu"] and (map(.id) | unique | length) == 2
         and (map(.k) | sort) == ["conn-0001/stu-1", "eu:conn-0001/stu-1"]
         and (map(.s) | sort) == ["/connections/conn-0001", "/workspaces/eu/connections/conn-0001"]' <<<"$pair" >/dev/null \
    || fail "the two act-same-1 events are not told apart: $pair"
}

case_status_and_keys() {
  local bad
  bad=$(jq -s '[.[] | select(.key != .value.scope
                  or (if .value.workspace == "eu" then (.key | startswith("eu:conn-")) else (.key | startswith("conn-")) end | not))]
      | length' "$(topic_file status)")
  [ "$bad" = 0 ] || fail "$bad status records whose key, scope and workspace disagree"
  jq -s -e '[.[] | .value | select(.workspace == "eu" and .kind == null) | .scope] | unique | length == 3' \
    "$(topic_file status)" >/dev/null || fail "status records lack the three eu poll scopes"
}

catalog_ok() {
  jq -s -e '[.[] | .value | select(type == "object" and .kind == "catalog" and .outcome == "ok")
      | [(.workspace // ""), .scope]] | unique | length >= 6' "$(topic_file status)" >/dev/null 2>&1
}

case_catalog_current_rollups() {
  wait_until_every 1 60 catalog_ok || die "catalog jobs of both workspaces did not all report ok: $(jq -s -c \
    '[.[] | .value | select(type == "object" and .kind == "catalog") | {scope, workspace, outcome, error}] | unique' \
    "$(topic_file status)")"
  jq -s -e '[.[] | .value | select(type == "object" and .kind == "catalog" and .workspace == "eu") | .scope] | unique
      == ["eu:conn-0001//catalog", "eu:conn-0002//catalog", "eu:conn-0003//catalog"]' "$(topic_file status)" >/dev/null \
    || fail "eu catalog scopes are not qualified"
  topic_caught_up current
  local cur
  cur=$(jq -s '[.[] | select(.value != null and .value.activity_id? == null and .value.id == "act-same-1")]
      | unique_by(.headers.ce_id) | map({w: (.value.workspace // ""), id: .headers.ce_id, k: .key, s: .headers.ce_source})
      | unique_by(.k)' "$(topic_file current)")
  jq -e 'length == 2 and (map(.w) | sort) == ["", "eu"] and (map(.id) | unique | length) == 2
         and (map(.k) | sort) == ["conn-0001/act-same-1", "eu:conn-0001/act-same-1"]
         and (map(.s) | sort) == ["/connections/conn-0001", "/workspaces/eu/connections/conn-0001"]' <<<"$cur" >/dev/null \
    || fail "the current records of act-same-1 are not told apart: $cur"
  topic_caught_up courses
  local bad
  bad=$(jq -s '[.[] | select(.value != null) | select((.value.workspace // "") as $w
      | (.key | startswith("eu:")) != ($w == "eu") or (.headers.ce_source | startswith("/workspaces/eu/")) != ($w == "eu"))] | length' \
      "$(topic_file courses)")
  [ "$bad" = 0 ] || fail "$bad course rollups whose key, source and workspace disagree"
  jq -s -e '[.[] | select(.value.workspace? == "eu") | .key] | length > 0' "$(topic_file courses)" >/dev/null \
    || fail "no course rollup of the eu workspace"
}

case_no_secret_in_logs() {
  ! grep -q -e "us-token" -e "eu-token" "$E2E_DIR"/{worker,coordinator}.log || fail "a log contains an API token"
}

test_case start
test_case tokens-differ
test_case initial-sync
test_case same-id-changes
test_case status-and-keys
test_case catalog-current-rollups
test_case no-secret-in-logs --needs start
run_cases
