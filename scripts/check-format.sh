#!/usr/bin/env bash
# Fails when a C++ source of the project is not formatted as .clang-format says. Fix with: make format
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.h' '*.cc' | grep -v '^build' || true)
if [ -z "$files" ]; then exit 0; fi
if ! clang-format-14 --dry-run --Werror $files; then
  echo "check-format: files above are not clang-formatted; run 'make format'" >&2
  exit 1
fi
echo "check-format: $(echo "$files" | wc -l) files formatted"
