#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test.
# With SANITIZE=1 it builds into build-asan with ASan+UBSan and runs the suite there too.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j"${JOBS:-$(nproc)}"
if [[ "${SANITIZE:-0}" == "1" ]]; then
  BUILD_DIR=build-asan BUILD_TYPE=Debug scripts/build.sh -DUPDRAFT_SANITIZE=ON -DUPDRAFT_BUILD_BENCH=OFF
  # The manifest checks run no C++ (Node.js): once is enough.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"${JOBS:-$(nproc)}" -E '^manifests$'
fi
