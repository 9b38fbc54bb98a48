#!/usr/bin/env bash
# clang-format (Google style, .clang-format) over every C++ file of the
# project: `format.sh` rewrites them (make format); `format.sh --check`
# changes nothing and fails, naming the files, when one is not formatted
# (the style.clang_format test).
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t files < <(find api bench bus common edge push server storage tests \
  tools -type f \( -name '*.h' -o -name '*.cc' \) -not -path '*/node_modules/*' |
  sort)
if [[ "${1:-}" == --check ]]; then
  # One clang-format for all files; each finding starts "<file>:<line>:".
  if ! report=$(clang-format --dry-run -Werror "${files[@]}" 2>&1); then
    printf 'not clang-formatted (make format fixes them):\n' >&2
    grep -oE '^[^: ]+:[0-9]+:[0-9]+: error' <<<"$report" | cut -d: -f1 |
      sort -u | sed 's/^/  /' >&2
    exit 1
  fi
  echo "${#files[@]} C++ files clang-formatted"
else
  clang-format -i "${files[@]}"
fi
