#!/usr/bin/env bash
# Fails when a C++ file is not clang-formatted.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.cc' '*.h')
[[ -z "$files" ]] && exit 0
bad=$(clang-format --dry-run $files 2>&1 | grep -c 'warning:' || true)
if [[ "$bad" != "0" ]]; then
  clang-format --dry-run $files 2>&1 | grep 'warning:' | cut -d: -f1 | sort -u
  echo "check-format: the files above need clang-format -i" >&2
  exit 1
fi
echo "check-format: ok"
