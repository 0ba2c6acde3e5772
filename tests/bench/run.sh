#!/usr/bin/env bash
# Benchmarks allocwatch against the same workload run plainly and under heaptrack (if
# installed). Runs alternate (plain, default, exact, heaptrack, plain, ...) so drift in machine
# speed hits all alike; prints the median wall time, CPU time and peak RSS of each, and the
# ratios against the plain run. Not part of ctest: timings on shared machines are noisy.
#
# Usage: tests/bench/run.sh [RUNS]        (default 5; build first with tools/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
bin=build/bin
aw=$bin/allocwatch
tmp=$(mktemp -d /tmp/allocwatch-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is missing (apt-get install time)" >&2; exit 2; }

workloads=("churn-1t:$bin/allocwatch_bench_churn 1 5" "churn-2t:$bin/allocwatch_bench_churn 2 2.5")
configs=(plain default exact)
command -v heaptrack >/dev/null && configs+=(heaptrack)

# One timed run: prints "wall cpu peak_kib".
measure() {
  local config=$1; shift
  rm -rf "$tmp/rec"; mkdir -p "$tmp/rec"
  local cmd=()
  case $config in
    plain) cmd=("$@") ;;
    default) cmd=("$aw" run -o "$tmp/rec" --report /dev/null -- "$@") ;;
    exact) cmd=("$aw" run --exact -o "$tmp/rec" --report /dev/null -- "$@") ;;
    heaptrack) cmd=(heaptrack -o "$tmp/rec/ht" "$@") ;;
  esac
  /usr/bin/time -f "%e %U %S %M" -o "$tmp/time" "${cmd[@]}" >/dev/null 2>&1
  awk '{printf "%s %.3f %s\n", $1, $2 + $3, $4}' "$tmp/time"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(date -u +%F)"
printf "%-10s %-10s %9s %9s %10s %8s %8s\n" workload config "wall s" "cpu s" "peak MiB" "wall x" "cpu x"
for entry in "${workloads[@]}"; do
  name=${entry%%:*}; read -r -a cmd <<<"${entry#*:}"
  for ((i = 0; i < runs; i++)); do
    for c in "${configs[@]}"; do measure "$c" "${cmd[@]}" >>"$tmp/$name.$c"; done
  done
  base_wall=$(cut -d' ' -f1 "$tmp/$name.plain" | median)
  base_cpu=$(cut -d' ' -f2 "$tmp/$name.plain" | median)
  for c in "${configs[@]}"; do
    wall=$(cut -d' ' -f1 "$tmp/$name.$c" | median)
    cpu=$(cut -d' ' -f2 "$tmp/$name.$c" | median)
    peak=$(cut -d' ' -f3 "$tmp/$name.$c" | median)
    printf "%-10s %-10s %9.3f %9.3f %10.1f %8.2f %8.2f\n" "$name" "$c" "$wall" "$cpu" \
      "$(echo "$peak / 1024" | bc -l)" "$(echo "$wall / $base_wall" | bc -l)" \
      "$(echo "$cpu / ($base_cpu + 0.0001)" | bc -l)"
  done
done
