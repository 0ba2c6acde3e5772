#!/usr/bin/env bash
# Fuzzes the recording reader and the report pipeline for SECONDS.
#
# Usage: run_fuzz.sh REPORT_FUZZER LIBALLOCWATCH_SO WORK_DIR SECONDS [LIBFUZZER_OPTIONS...]
#
# Seeds are real recordings, made here with LIBALLOCWATCH_SO of small programs in exact and
# sampled mode; the corpus grows in WORK_DIR/corpus (kept between runs). A crash, sanitizer
# report, leak, timeout (10 s per input) or memory blow-up (2 GiB RSS, 1 GiB in one malloc)
# ends the run with a non-zero status and the input in WORK_DIR/findings/. CI runs it for 60 s;
# for a long run:
#   tests/fuzz/run_fuzz.sh build-asan/bin/report_fuzzer build-asan/bin/liballocwatch.so \
#     /var/tmp/aw-fuzz 3600 -jobs=2 -workers=2
# Reproduce a finding: REPORT_FUZZER WORK_DIR/findings/crash-...
set -euo pipefail
[[ $# -ge 4 ]] || { echo "usage: $0 REPORT_FUZZER LIBALLOCWATCH_SO WORK_DIR SECONDS [OPTIONS...]" >&2; exit 2; }
fuzzer=$1 lib=$2 work=$3 seconds=$4
shift 4
[[ -x $fuzzer ]] || { echo "error: $fuzzer is not an executable" >&2; exit 2; }
[[ -f $lib ]] || { echo "error: $lib not found" >&2; exit 2; }
mkdir -p "$work/seeds" "$work/corpus" "$work/findings"
rm -f "$work"/seeds/*

record() {  # record MODE_BYTES NAME CMD...
  local sample=$1 name=$2
  shift 2
  local dir
  dir=$(mktemp -d "$work/rec.XXXXXX")
  LD_PRELOAD=$lib ALLOCWATCH_OUTPUT_DIR=$dir ALLOCWATCH_SAMPLE_BYTES=$sample \
    ALLOCWATCH_INTERVAL_MS=5 "$@" >/dev/null 2>&1 </dev/null || true
  local i=0 f
  for f in "$dir"/*.awtrace; do
    [[ -f $f ]] || continue
    # Small seeds keep the fuzzer fast: at most 64 KiB of each recording (a cut recording is
    # a valid input too: the reader must stop at the cut).
    head -c 65536 "$f" >"$work/seeds/$name-$sample-$i.awtrace"
    i=$((i + 1))
  done
  rm -rf "$dir"
}
for sample in 1 4096; do
  record "$sample" true true
  record "$sample" sort sh -c 'seq 1 300 | sort -r | head -n 3'
  record "$sample" fork sh -c 'ls / | wc -l & wait'
  record "$sample" failure sh -c 'ulimit -v 100000; exec sort -S 500M /dev/null'
done
echo "fuzz: $(ls "$work/seeds" | wc -l) seed recordings, $(ls "$work/corpus" | wc -l) in the corpus"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
status=0
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
  -max_len=131072 -print_final_stats=1 -artifact_prefix="$work/findings/" "$@" \
  "$work/corpus" "$work/seeds" "$(dirname "$0")/regressions" 2>"$work/fuzz.log" || status=$?
tail -n 25 "$work/fuzz.log"
if [[ $status -ne 0 ]]; then
  echo "fuzz: FAILED (status $status); findings:" >&2
  ls -l "$work/findings" >&2
  exit 1
fi
echo "fuzz: no finding in ${seconds}s"
