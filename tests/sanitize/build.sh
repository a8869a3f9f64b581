#!/usr/bin/env bash
# build.sh BUILD_DIR - configure and build the whole project with
# -DLS_SANITIZE=ON (gcc, -fsanitize=address,undefined) into BUILD_DIR.
# Used by the ctest fixture sanitize.build (label sanitize).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:?usage: build.sh BUILD_DIR}
# -Werror stays with the ordinary tree: the sanitizers' instrumentation
# changes what gcc's flow analysis sees and brings false warnings (e.g.
# -Wformat-overflow on a pointer it can no longer prove non-null).
cmake -S "$SRC" -B "$OUT" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLS_SANITIZE=ON -DLS_WERROR=OFF >/dev/null
cmake --build "$OUT" -j"$(nproc 2>/dev/null || echo 2)"
