#!/usr/bin/env bash
# Start-up errors are precise, name the setting, and exit non-zero (never a
# crash or a hang): bad config, missing token, unreachable Kafka, unwritable
# LMDB directory; --check-config accepts a good file and masks the token.
# Every case is independent but the last two, which need the devbroker.
# The messages checked here are the programs' start-up errors on stderr: no
# status record or topic exists before a program runs, so the wording is the fact.
source "$(dirname "$0")/lib.sh"
C="$E2E_DIR/c.conf"

expect_fail() { # LABEL PATTERN CMD...
  local label=$1 pat=$2; shift 2
  local out rc
  out=$(timeout 60 "$@" 2>&1); rc=$?
  if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || [ "$rc" -ge 128 ]; then fail "$label: exit $rc (want a clean non-zero exit)"; return 1; fi
  grep -q -- "$pat" <<<"$out" || { fail "$label: message lacks '$pat': $out"; return 1; }
  log "$label: exit $rc: $(grep -m1 -- "$pat" <<<"$out")"
}
# conf LINE... : write the config file $C
conf() { printf '%s\n' "$@" >"$C"; }

case_range_check() {
  conf "kafka.brokers = 127.0.0.1:9" "worker.page_limit = 0"
  expect_fail "range check" "worker.page_limit" "$LS_WORKER" --config "$C" --check-config
}
case_unknown_key() {
  conf "kafka.brokers = 127.0.0.1:9" "no.such = 1"
  expect_fail "unknown key" "$C:2: unknown setting 'no.such'" "$LS_WORKER" --config "$C" --check-config
}
case_secret_in_file() {
  conf "kafka.brokers = 127.0.0.1:9" "unified.token = x"
  expect_fail "secret in file" "is a secret" "$LS_WORKER" --config "$C" --check-config
}
case_missing_token() {
  conf "kafka.brokers = 127.0.0.1:9"
  expect_fail "missing token" "UNIFIED_API_TOKEN" env -u UNIFIED_API_TOKEN "$LS_WORKER" --config "$C"
}
case_missing_file() {
  expect_fail "missing file" "cannot open config file" "$LS_WORKER" --config "$E2E_DIR/none.conf"
}
case_check_config_masks_token() {
  local out
  conf "kafka.brokers = 127.0.0.1:9"
  out=$(UNIFIED_API_TOKEN=s3cret-value "$LS_WORKER" --config "$C" --check-config) || fail "check-config rejected a good file"
  grep -q "unified.token = (set)" <<<"$out" || fail "check-config does not show the token as (set)"
  ! grep -q "s3cret-value" <<<"$out" || fail "check-config printed the token"
}
case_unreachable_kafka() {
  conf "kafka.brokers = 127.0.0.1:9"
  expect_fail "unreachable kafka" "kafka.brokers" env UNIFIED_API_TOKEN=t LMSYNC_WORKER_LMDB_PATH="$E2E_DIR/l1" "$LS_WORKER" --config "$C"
}
case_coordinator_unreachable_kafka() {
  conf "kafka.brokers = 127.0.0.1:9"
  expect_fail "coordinator unreachable kafka" "kafka.brokers" env UNIFIED_API_TOKEN=t "$LS_COORDINATOR" --config "$C"
}
case_broker() { broker_start devbroker 2; }
case_unwritable_lmdb() {
  conf "kafka.brokers = $(broker_bootstrap devbroker)" "log.format = text"
  touch "$E2E_DIR/file"
  expect_fail "unwritable lmdb" "worker.lmdb_path" env UNIFIED_API_TOKEN=t LMSYNC_WORKER_LMDB_PATH="$E2E_DIR/file/sub" "$LS_WORKER" --config "$C"
}
case_coordinator_without_token() {
  conf "kafka.brokers = $(broker_bootstrap devbroker)" "log.format = text"
  expect_fail "coordinator without token or list" "UNIFIED_API_TOKEN" env -u UNIFIED_API_TOKEN "$LS_COORDINATOR" --config "$C"
}

test_case range-check --needs none
test_case unknown-key --needs none
test_case secret-in-file --needs none
test_case missing-token --needs none
test_case missing-file --needs none
test_case check-config-masks-token --needs none
test_case unreachable-kafka --needs none
test_case coordinator-unreachable-kafka --needs none
test_case broker --needs none
test_case unwritable-lmdb --needs broker
test_case coordinator-without-token --needs broker
run_cases
