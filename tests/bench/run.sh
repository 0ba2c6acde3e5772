#!/usr/bin/env bash
# Benchmarks allocwatch against the same workloads run plainly, under an empty malloc/free
# LD_PRELOAD shim (the floor for any interposer), under a shim that only keeps a reentrancy
# guard around glibc's call and looks at its result (the floor for a hook built as allocwatch's
# is, which must see a failed allocation), and under heaptrack (if installed). Runs alternate
# (plain, shim, guarded, default, exact, ..., plain, ...) so drift in machine speed hits all
# alike; prints the median wall time, CPU time and peak RSS of each, the ratios against the
# plain run, and the recording sizes. allocwatch is timed as `allocwatch run --no-report`
# (recording only: default, exact) and as the user runs it, `allocwatch run` with its text
# report (default+rep, exact+rep); heaptrack as its recording alone and with `heaptrack_print`
# after it (heaptrack+prn). Then the fixed cost of `allocwatch run` with its report on
# /bin/true and on `sleep 0.1`, and the time of `allocwatch report` alone on each exact
# recording. Not part of ctest: timings on shared machines are noisy.
#
# Usage: tests/bench/run.sh [RUNS] [WORKLOAD...]   (RUNS default 5; build first: tools/setup.sh)
#   workloads: churn-0.2s churn-1t churn-2s churn-2t stl mmap grower
#   (default: all but churn-2s, whose exact recording is about 2 GB)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
shift || true
bin=build/bin
aw=$bin/allocwatch
tmp=$(mktemp -d /tmp/allocwatch-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is missing (apt-get install time)" >&2; exit 2; }
[ -x "$aw" ] || { echo "bench: $aw is missing (run tools/setup.sh)" >&2; exit 2; }

# About half a second to a second each plainly on a 2-core VM.
declare -A workload_cmd=(
  [churn-0.2s]="$bin/allocwatch_bench_churn 1 13"
  [churn-2s]="$bin/allocwatch_bench_churn 1 130"
  [churn-1t]="$bin/allocwatch_bench_churn 1 40"
  [churn-2t]="$bin/allocwatch_bench_churn 2 20"
  [stl]="$bin/allocwatch_bench_stl 90"
  [mmap]="$bin/allocwatch_bench_mmap_churn 80000"
  [grower]="$bin/allocwatch_bench_grower 12"
)
selected=("$@")
[ ${#selected[@]} -gt 0 ] || selected=(churn-0.2s churn-1t churn-2t stl mmap grower)
configs=(plain shim guarded default exact default+rep exact+rep)
command -v heaptrack >/dev/null && configs+=(heaptrack heaptrack+prn)

# One timed run: prints "wall cpu peak_kib recording_bytes".
measure() {
  local config=$1 name=$2; shift 2
  rm -rf "$tmp/rec"; mkdir -p "$tmp/rec"
  local cmd=()
  case $config in
    plain) cmd=("$@") ;;
    shim) cmd=(env "LD_PRELOAD=$PWD/$bin/liballocwatch_bench_empty_shim.so" "$@") ;;
    guarded) cmd=(env "LD_PRELOAD=$PWD/$bin/liballocwatch_bench_guarded_shim.so" "$@") ;;
    default) cmd=("$aw" run --no-report -o "$tmp/rec" -- "$@") ;;
    exact) cmd=("$aw" run --exact --no-report -o "$tmp/rec" -- "$@") ;;
    default+rep) cmd=("$aw" run -o "$tmp/rec" --report "$tmp/rec/report.txt" -- "$@") ;;
    exact+rep) cmd=("$aw" run --exact -o "$tmp/rec" --report "$tmp/rec/report.txt" -- "$@") ;;
    heaptrack) cmd=(heaptrack -o "$tmp/rec/ht" "$@") ;;
    heaptrack+prn)
      cmd=(sh -c 'heaptrack -o "$0/ht" "$@" && heaptrack_print "$0/ht.zst" >"$0/print.txt"' \
        "$tmp/rec" "$@") ;;
  esac
  # Wall time from the clock around the run (/usr/bin/time prints it in hundredths); CPU time
  # and peak RSS from /usr/bin/time.
  local start end
  start=$(date +%s%N)
  /usr/bin/time -f "%e %U %S %M" -o "$tmp/time" "${cmd[@]}" >/dev/null 2>&1
  end=$(date +%s%N)
  local bytes
  bytes=$(du -sb "$tmp/rec" | cut -f1)
  if [ "$config" = exact ]; then  # keep one exact recording per workload for the report timing
    rm -rf "$tmp/keep.$name"; cp -r "$tmp/rec" "$tmp/keep.$name"
  fi
  awk -v b="$bytes" -v w="$(( (end - start) / 1000000 ))" \
    '{printf "%.3f %.3f %s %s\n", w / 1000, $2 + $3, $4, b}' "$tmp/time"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
col() { cut -d' ' -f"$2" "$1" | median; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
  "$(uname -r), $(date -u +%F), $runs runs each, medians"
printf "%-10s %-13s %8s %8s %9s %7s %7s %10s\n" workload config "wall s" "cpu s" "peak MiB" \
  "wall x" "cpu x" "record MiB"
for name in "${selected[@]}"; do
  read -r -a cmd <<<"${workload_cmd[$name]}"
  for ((i = 0; i < runs; i++)); do
    for c in "${configs[@]}"; do measure "$c" "$name" "${cmd[@]}" >>"$tmp/$name.$c"; done
  done
  base_wall=$(col "$tmp/$name.plain" 1)
  base_cpu=$(col "$tmp/$name.plain" 2)
  for c in "${configs[@]}"; do
    wall=$(col "$tmp/$name.$c" 1); cpu=$(col "$tmp/$name.$c" 2)
    peak=$(col "$tmp/$name.$c" 3); rec=$(col "$tmp/$name.$c" 4)
    printf "%-10s %-13s %8.3f %8.3f %9.1f %7.2f %7.2f %10.1f\n" "$name" "$c" "$wall" "$cpu" \
      "$(echo "$peak / 1024" | bc -l)" "$(echo "$wall / $base_wall" | bc -l)" \
      "$(echo "$cpu / ($base_cpu + 0.0001)" | bc -l)" "$(echo "$rec / 1048576" | bc -l)"
  done
done

echo
echo "recording size and report time (exact mode: bytes per heap event; default: MiB per minute)"
for name in "${selected[@]}"; do
  files=("$tmp/keep.$name"/*.awtrace)
  [ -e "${files[0]}" ] || continue
  start=$(date +%s.%N)
  "$aw" report --format json "${files[@]}" >"$tmp/report.json" 2>/dev/null || true
  report_s=$(echo "$(date +%s.%N) - $start" | bc -l)
  events=$(python3 - "$tmp/report.json" <<'PY'
import json, sys
def last(obj, key, found):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key and isinstance(v, int): found.append(v)
            else: last(v, key, found)
    elif isinstance(obj, list):
        for v in obj: last(v, key, found)
try:
    doc = json.load(open(sys.argv[1]))
except Exception:
    print(0); sys.exit()
a, f = [], []
last(doc, "alloc_calls", a); last(doc, "free_calls", f)
print((a[-1] if a else 0) + (f[-1] if f else 0))
PY
)
  exact_bytes=$(col "$tmp/$name.exact" 4)
  default_bytes=$(col "$tmp/$name.default" 4)
  default_wall=$(col "$tmp/$name.default" 1)
  if [ "$events" -ge 1000 ]; then
    per_event=$(printf "%.1f bytes/heap event (%d events)" "$(echo "$exact_bytes / $events" | bc -l)" "$events")
  else
    per_event="$(printf "%.1f MiB" "$(echo "$exact_bytes / 1048576" | bc -l)"), few heap events"
  fi
  printf "%-9s exact: %s; default: %.2f MiB/min; report on exact: %.2f s\n" \
    "$name" "$per_event" "$(echo "$default_bytes / 1048576 / ($default_wall / 60)" | bc -l)" \
    "$report_s"
done

echo
echo "fixed cost of allocwatch run with its report (default mode), medians over $runs runs"
for fixed in /bin/true "sleep 0.1"; do
  read -r -a cmd <<<"$fixed"
  : >"$tmp/fixed.plain"; : >"$tmp/fixed.rep"
  for ((i = 0; i < runs; i++)); do
    measure plain fixed "${cmd[@]}" >>"$tmp/fixed.plain"
    measure default+rep fixed "${cmd[@]}" >>"$tmp/fixed.rep"
  done
  plain=$(col "$tmp/fixed.plain" 1); rep=$(col "$tmp/fixed.rep" 1)
  printf "%-10s plain %.3f s, allocwatch run %.3f s: +%.0f ms\n" "$fixed" "$plain" "$rep" \
    "$(echo "($rep - $plain) * 1000" | bc -l)"
done
