#!/usr/bin/env bash
# build.sh [BUILD_DIR] - configure and build the libFuzzer tree (clang,
# -fsanitize=fuzzer,address,undefined) into BUILD_DIR (default build/fuzz).
# Used by the ctest fixture fuzz.build and by run.sh.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$SRC/build/fuzz}
CC_FUZZ=${CC_FUZZ:-clang}
command -v "$CC_FUZZ" >/dev/null || { echo "build.sh: $CC_FUZZ not found (Debian: clang, libclang-rt-14-dev)" >&2; exit 1; }
# -Werror stays with the gcc trees: clang's warning set differs, and these
# harnesses exist to find crashes, not style.
cmake -S "$SRC" -B "$OUT" -DCMAKE_C_COMPILER="$CC_FUZZ" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLS_FUZZ=ON -DLS_WERROR=OFF >/dev/null
cmake --build "$OUT" --target lmsync_fuzzers -j"$(nproc 2>/dev/null || echo 2)"
echo "fuzzers built in $OUT/tests/fuzz"
