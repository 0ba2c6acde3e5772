#!/usr/bin/env bash
# Runs `allocwatch report` (text and JSON, symbols off) on every input in REGRESSIONS_DIR:
# recordings the fuzzer once broke the report with. Each must give a report or a clear error
# (status 0 or 1), never a crash or a sanitizer report.
# Usage: replay_regressions.sh ALLOCWATCH REGRESSIONS_DIR
set -euo pipefail
aw=$1 dir=$2
failed=0 n=0
for f in "$dir"/*.bin; do
  for format in text json; do
    n=$((n + 1))
    status=0
    err=$("$aw" report --no-symbols --format "$format" "$f" 2>&1 >/dev/null) || status=$?
    if [[ $status -gt 1 ]] || grep -qE 'runtime error|Sanitizer' <<<"$err"; then
      echo "FAIL  $(basename "$f") ($format): status $status"
      printf '%s\n' "$err" | head -n 20
      failed=$((failed + 1))
    fi
  done
done
echo "replayed $n reports, $failed failed"
[[ $failed -eq 0 ]]
