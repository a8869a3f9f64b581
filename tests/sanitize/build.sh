#!/usr/bin/env bash
# build.sh BUILD_DIR - configure and build the whole project with
# -DLS_SANITIZE=ON (gcc, -fsanitize=address,undefined) into BUILD_DIR.
# Used by the ctest fixture sanitize.build (label sanitize).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:?usage: build.sh BUILD_DIR}
cmake -S "$SRC" -B "$OUT" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLS_SANITIZE=ON >/dev/null
cmake --build "$OUT" -j"$(nproc 2>/dev/null || echo 2)"
