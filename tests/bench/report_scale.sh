#!/usr/bin/env bash
# Time and peak memory of `allocwatch report` on large exact-mode recordings, against
# `heaptrack_print` on heaptrack's recording of the same workload. The workload is churn.cc
# (one thread; N million malloc/free pairs, so 2N million events). Each recording is made
# once and reported on once; the recordings are removed at the end. Not part of ctest.
#
# Usage: tests/bench/report_scale.sh [MILLIONS_OF_PAIRS...]   (default: 5 25; build first)
# Needs about 90 bytes of disk per pair in $TMPDIR (2.3 GB for 25 million pairs).
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(5 25)
bin=$PWD/build/bin
tmp=$(mktemp -d "${TMPDIR:-/tmp}/allocwatch-scale.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is missing (apt-get install time)" >&2; exit 2; }
have_heaptrack=0
command -v heaptrack >/dev/null && command -v heaptrack_print >/dev/null && have_heaptrack=1

# "wall_s cpu_s peak_mib" of a command, from /usr/bin/time -v; its output goes to /dev/null.
measure() {
  /usr/bin/time -v -o "$tmp/time" "$@" >/dev/null 2>"$tmp/stderr" || {
    echo "bench: failed: $*" >&2; cat "$tmp/stderr" >&2; exit 1; }
  awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0;
                for (i = 1; i <= n; i++) s = s * 60 + t[i]; wall = s}
              /User time \(seconds\)/ {cpu += $2}
              /System time \(seconds\)/ {cpu += $2}
              /Maximum resident set size/ {peak = $2 / 1024}
              END {printf "%.2f %.2f %.1f\n", wall, cpu, peak}' "$tmp/time"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(date -u +%F)"
printf "%-8s %-16s %12s %10s %8s %8s %10s\n" pairs tool events "file MiB" "wall s" "cpu s" "peak MiB"
for m in "${sizes[@]}"; do
  rm -rf "$tmp/aw" "$tmp/ht"; mkdir -p "$tmp/aw" "$tmp/ht"
  env LD_PRELOAD="$bin/liballocwatch.so" ALLOCWATCH_SAMPLE_BYTES=1 ALLOCWATCH_OUTPUT_DIR="$tmp/aw" \
    "$bin/allocwatch_bench_churn" 1 "$m" >/dev/null
  rec=$(ls "$tmp"/aw/*.awtrace)
  read -r wall cpu peak < <(measure "$bin/allocwatch" report -o "$tmp/report.txt" "$rec")
  events=$("$bin/allocwatch" report --format json --top 1 "$rec" |
           python3 -c 'import json,sys; t=json.load(sys.stdin)["processes"][0]["totals"]; print(t["alloc_count"]*2)')
  size=$(du -m "$rec" | cut -f1)
  printf "%-8s %-16s %12s %10s %8s %8s %10s\n" "${m}M" "allocwatch" "$events" "$size" "$wall" "$cpu" "$peak"
  rm -f "$rec"
  if [ $have_heaptrack -eq 1 ]; then
    heaptrack -o "$tmp/ht/churn" "$bin/allocwatch_bench_churn" 1 "$m" >/dev/null 2>&1
    ht=$(ls "$tmp"/ht/churn*)
    read -r wall cpu peak < <(measure heaptrack_print "$ht")
    size=$(du -m "$ht" | cut -f1)
    printf "%-8s %-16s %12s %10s %8s %8s %10s\n" "${m}M" "heaptrack_print" "$events" "$size" "$wall" "$cpu" "$peak"
    rm -f "$ht"
  fi
done
