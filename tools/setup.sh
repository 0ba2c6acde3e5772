#!/usr/bin/env bash
# Installs what allocwatch needs (Debian 12, as root or with sudo) and builds it into build/.
# Safe to run again: installed packages are skipped, the build is incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # build
  build-essential cmake pkg-config
  # libraries
  libunwind-dev libabsl-dev libspdlog-dev catch2 libdw-dev libelf-dev libcli11-dev
  nlohmann-json3-dev zlib1g-dev libcpp-httplib-dev libiberty-dev
  # the static archives allocwatch links libdw with (libdw-dev brings zlib and xz, not bzip2)
  libbz2-dev liblzma-dev
  # tests: symbolizer golden tests and real programs run under allocwatch
  binutils elfutils python3 perl git sqlite3 g++
  # tests: the pprof output is checked with `go tool pprof`; allocwatch serve with curl and wrk
  golang-go curl
  # tests: hostile conditions (jemalloc's own API), corpus (clang++, node), fuzzing (clang)
  libjemalloc-dev clang libclang-rt-14-dev nodejs make
  # benchmarks (tests/bench/run.sh)
  time bc heaptrack
  # tests: the sources must be as .clang-format lays them out (tools/check_format.sh)
  clang-format-14
  # HTML report: npm fetches its charting libraries at build time (report/render/html/); the test
  # opens the report in headless Chromium driven from node
  nodejs chromium
  # tests: big real programs (tests/bigprog); gdb prints the stacks of a hung program; strace
  # is the other tracer allocwatch attach must refuse to share a process with
  openjdk-17-jdk-headless chromium rustc lld postgresql redis-server redis-tools nginx wrk
  gdb procps strace
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm comes with some nodejs builds (which then conflict with Debian's npm package).
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
echo "setup: built build/bin/allocwatch and build/bin/liballocwatch.so"
