#!/usr/bin/env bash
# Tests of the Helm chart helm/lmsync (label helm). One mode per ctest test:
#
#   run.sh TOOLS tools                 install helm, kubectl, the schema packages (fixture)
#   run.sh TOOLS lint                  helm lint --strict with every ci/ values file
#   run.sh TOOLS template VALUES.yaml  render, validate every object, yamllint the output,
#                                      --check-config of the rendered lmsync.conf (LS_WORKER, LS_COORDINATOR,
#                                      and LS_WEBHOOK when the receiver is enabled)
#   run.sh TOOLS yamllint              yamllint Chart.yaml, values.yaml, ci/*.yaml
#   run.sh TOOLS reject BAD.yaml       rendering must fail with the text of BAD's "# expect:" line
#   run.sh TOOLS reject-conf BAD.yaml  renders, but lmsync-worker --check-config refuses it with BAD's "# expect:"
#   run.sh TOOLS validator             validate.mjs must reject a known-bad manifest
#   run.sh TOOLS dockerfile            scripts/lint-dockerfile.sh passes, and fails a broken copy
#
# TOOLS: folder of scripts/install-helm.sh (bin/helm, node_modules).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
chart=$root/helm/lmsync
tools=$1 mode=$2
helm=$tools/bin/helm
out=$(mktemp -d "${TMPDIR:-/tmp}/lmsync-helm.XXXXXX")
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# Commands the tests need; Debian packages for the missing ones (like make deps).
ensure_commands() {
  local pkgs=()
  command -v yamllint >/dev/null || pkgs+=(yamllint)
  command -v unzip >/dev/null || pkgs+=(unzip)
  command -v npm >/dev/null || pkgs+=(nodejs npm)
  [ ${#pkgs[@]} -eq 0 ] || bash "$root/scripts/install-deps.sh" "${pkgs[@]}"
}

case "$mode" in
tools)
  ensure_commands
  bash "$root/scripts/install-helm.sh" "$tools" || fail "cannot install helm and the schema packages"
  ;;
lint)
  for v in "$chart"/ci/*.yaml; do
    "$helm" lint --strict "$chart" -f "$v" >"$out/lint" 2>&1 || { cat "$out/lint"; fail "helm lint --strict -f $(basename "$v")"; }
    echo "lint ok: $(basename "$v")"
  done
  ;;
template)
  v=$3
  "$helm" template lmsync-ci "$chart" --namespace lmsync -f "$v" >"$out/rendered.yaml" 2>"$out/err" \
    || { cat "$out/err"; fail "helm template -f $(basename "$v")"; }
  node "$here/validate.mjs" "$tools/node_modules" "$out/rendered.yaml" "$out/lmsync.conf" \
    || fail "rendered objects of $(basename "$v") are invalid"
  yamllint -c "$here/yamllint.yaml" "$out/rendered.yaml" || fail "yamllint of the rendered $(basename "$v")"
  # The programs themselves accept the rendered lmsync.conf (the token comes
  # from the environment here: the mounted file does not exist outside a pod).
  [ -s "$out/lmsync.conf" ] || fail "no lmsync.conf rendered"
  for prog in "${LS_WORKER:?}" "${LS_COORDINATOR:?}"; do
    UNIFIED_API_TOKEN=check "$prog" --check-config --config "$out/lmsync.conf" >"$out/check" 2>&1 \
      || { cat "$out/check"; fail "$(basename "$prog") refuses the lmsync.conf of $(basename "$v")"; }
  done
  echo "lmsync-worker and lmsync-coordinator accept the rendered lmsync.conf"
  # With webhook.enabled, lmsync-webhook too (its secret file at a local path).
  secret_file=$(sed -n 's/^webhook\.secret_file = //p' "$out/lmsync.conf")
  if [ -n "$secret_file" ]; then
    echo check-secret >"$out/webhook-secret"
    sed "s#^webhook\.secret_file = .*#webhook.secret_file = $out/webhook-secret#" "$out/lmsync.conf" >"$out/webhook.conf"
    UNIFIED_API_TOKEN=check "${LS_WEBHOOK:?}" --check-config --config "$out/webhook.conf" >"$out/check" 2>&1 \
      || { cat "$out/check"; fail "lmsync-webhook refuses the lmsync.conf of $(basename "$v")"; }
    echo "lmsync-webhook accepts it (webhook.secret_file $secret_file)"
  fi
  ;;
yamllint)
  yamllint -c "$here/yamllint.yaml" "$chart/Chart.yaml" "$chart/values.yaml" "$chart"/ci/*.yaml "$here"/bad-values/*.yaml "$here"/bad-config/*.yaml \
    || fail "yamllint"
  node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$chart/values.schema.json" \
    || fail "values.schema.json is not JSON"
  echo "yamllint ok"
  ;;
reject)
  bad=$3
  expect=$(sed -n 's/^# expect: //p' "$bad")
  [ -n "$expect" ] || fail "$(basename "$bad") has no '# expect:' line"
  if "$helm" template lmsync-ci "$chart" -f "$chart/ci/minimal-values.yaml" -f "$bad" >"$out/r" 2>"$out/err"; then
    fail "$(basename "$bad") rendered, expected it to be rejected with: $expect"
  fi
  grep -qF -- "$expect" "$out/err" || { cat "$out/err"; fail "$(basename "$bad") rejected, but not with: $expect"; }
  echo "rejected as expected: $(grep -F -- "$expect" "$out/err" | head -1 | cut -c1-200)"
  ;;
reject-conf)
  bad=$3
  expect=$(sed -n 's/^# expect: //p' "$bad")
  "$helm" template lmsync-ci "$chart" -f "$chart/ci/minimal-values.yaml" -f "$bad" >"$out/rendered.yaml" 2>"$out/err" \
    || { cat "$out/err"; fail "$(basename "$bad") did not render"; }
  node "$here/validate.mjs" "$tools/node_modules" "$out/rendered.yaml" "$out/lmsync.conf" >/dev/null || fail "invalid objects"
  UNIFIED_API_TOKEN=check "${LS_WORKER:?}" --check-config --config "$out/lmsync.conf" >"$out/check" 2>&1 \
    && fail "lmsync-worker accepted the lmsync.conf of $(basename "$bad")"
  grep -qF -- "$expect" "$out/check" || { cat "$out/check"; fail "refused, but not with: $expect"; }
  echo "lmsync-worker refuses it: $(head -1 "$out/check")"
  ;;
validator)
  node "$here/validate.mjs" "$tools/node_modules" "$here/invalid-manifest.yaml" >"$out/v" 2>&1 && { cat "$out/v"; fail "validate.mjs accepted invalid-manifest.yaml"; }
  for want in "containerPort must be integer" "no schema for example.com/v1 Widget" \
              "readOnlyRootFilesystem is not true" "env UNIFIED_API_TOKEN carries a token" "label helm.sh/chart missing"; do
    grep -qF "$want" "$out/v" || { cat "$out/v"; fail "validate.mjs did not report: $want"; }
  done
  echo "validate.mjs rejects the invalid manifest: $(tail -1 "$out/v")"
  ;;
dockerfile)
  bash "$root/scripts/lint-dockerfile.sh" || fail "the Dockerfile breaks a rule"
  sed -e 's/^USER 10001:10001/USER root/' -e 's/^ENTRYPOINT .*/ENTRYPOINT \/usr\/local\/bin\/lmsync-worker/' \
      -e 's#/build/tools/lmsync-admin ##' "$root/Dockerfile" >"$out/Dockerfile"
  bash "$root/scripts/lint-dockerfile.sh" "$out/Dockerfile" >"$out/lint" && fail "the lint accepted a root, shell-form image"
  for want in "runtime USER is 'root'" "ENTRYPOINT is not in exec form" "program lmsync-admin is not copied"; do
    grep -qF "$want" "$out/lint" || { cat "$out/lint"; fail "the lint did not report: $want"; }
  done
  echo "the lint rejects a broken copy: $(wc -l <"$out/lint") findings"
  ;;
*) fail "unknown mode $mode" ;;
esac
