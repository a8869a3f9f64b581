#!/usr/bin/env bash
# Install the contract tests' npm packages (package-lock.json) into
# tests/contract/node_modules; skipped while the installed lock is current.
set -euo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are required"; exit 1; }
sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.lmsync-lock 2>/dev/null)" = "$sum" ]; then
  echo "contract test packages are installed"
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$sum" >node_modules/.lmsync-lock
echo "contract test packages installed"
