#!/usr/bin/env bash
# Checks that every C++ source of the project is laid out as .clang-format says (clang-format
# 14, the version Debian 12 ships). Prints the files that are not, with the diff, and exits 1.
# With --fix, reformats them instead. Exits 77 (ctest `source_format`: skipped) when clang-format
# 14 is not installed: another version lays some code out differently.
set -euo pipefail
cd "$(dirname "$0")/.."
format=$(command -v clang-format-14 || true)
if [ -z "$format" ] && command -v clang-format >/dev/null &&
   [[ $(clang-format --version) == *"version 14."* ]]; then
  format=$(command -v clang-format)
fi
if [ -z "$format" ]; then
  echo "check_format: clang-format-14 is not installed (tools/setup.sh installs it)" >&2
  exit 77
fi
mapfile -t files < <(git ls-files '*.cc' '*.h' 2>/dev/null || find preload symbolize report tools tests -name '*.cc' -o -name '*.h')
if [ "${1:-}" = "--fix" ]; then
  "$format" -i "${files[@]}"
  exit 0
fi
bad=0
for f in "${files[@]}"; do
  if ! "$format" "$f" | diff -u --label "$f" --label "$f (clang-format)" "$f" - ; then
    bad=$((bad + 1))
  fi
done
if [ "$bad" -gt 0 ]; then
  echo "check_format: $bad file(s) differ from .clang-format's layout; run tools/check_format.sh --fix" >&2
  exit 1
fi
echo "check_format: ${#files[@]} files laid out as .clang-format says"
