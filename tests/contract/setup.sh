#!/usr/bin/env bash
# Install the contract tests' npm packages from their lock files, in two
# folders: tests/contract (kafkajs, cloudevents, ajv) and tests/contract/cli
# (the AsyncAPI CLI, whose ajv plugins need their own copy of ajv). A folder
# is skipped while its installed lock is current.
set -euo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are required"; exit 1; }
for dir in . cli; do
  sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$dir/node_modules/.lmsync-lock" 2>/dev/null)" = "$sum" ]; then
    echo "$dir: npm packages are installed"
    continue
  fi
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$sum" >"$dir/node_modules/.lmsync-lock"
  echo "$dir: npm packages installed"
done
