#!/usr/bin/env bash
# Set-up command 2: install, build, and run the whole test suite.
#   1. build/: everything (ctest arguments given to this script go to this run).
#   2. build-asan/: the offline tools (report/, symbolize/, tools/) and their unit and
#      symbolizer tests with AddressSanitizer and UndefinedBehaviorSanitizer (GCC). Never
#      liballocwatch.so.
#   3. build-fuzz/: the libFuzzer target for the reader and the report pipeline (clang, with
#      ASan and UBSan), run for 60 s on seed recordings made at test time.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
(cd build && ctest --output-on-failure -j2 --timeout 900 "$@")

echo "test: offline tools under ASan and UBSan (build-asan/)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DALLOCWATCH_SANITIZE=ON >/dev/null
cmake --build build-asan -j2 --target allocwatch_unit_tests symbolize_tests allocwatch_cli
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --output-on-failure -j2 --timeout 900)

if command -v clang++ >/dev/null 2>&1; then
  echo "test: fuzzing the reader and the report (build-fuzz/)"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DALLOCWATCH_SANITIZE=ON -DALLOCWATCH_FUZZ=ON >/dev/null
  cmake --build build-fuzz -j2 --target report_fuzzer allocwatch
  (cd build-fuzz && ctest --output-on-failure --timeout 900)
else
  echo "test: clang++ not found: the fuzzing run is skipped"
fi
