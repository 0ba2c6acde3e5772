#!/usr/bin/env bash
# Symbolization benchmark on a large real program: records a g++ compile of a generated
# C++ file of about 3000 lines in exact mode, then times
#   - `allocwatch report` with and without symbols (the difference is the symbol stage),
#   - `allocwatch symbolize` (it prints its own in-process symbolization time and the number
#     of distinct addresses),
#   - `eu-addr2line -i -f -C` run once per module over the same address list (each address
#     minus 1, as allocwatch looks return addresses up),
# and prints the figures and the ratio eu-addr2line / allocwatch. Only the compiler proper
# (cc1plus) is measured. Not part of ctest: timings on shared machines are noisy.
#
# Usage: tests/bench/symbolize.sh [FUNCTIONS]   (default 120, about 3000 lines; build first
#        with tools/setup.sh). KEEP=1 keeps the work directory (the recording is ~300 MB).
set -euo pipefail
cd "$(dirname "$0")/../.."
functions=${1:-120}
aw=$PWD/build/bin/allocwatch
[ -x "$aw" ] || { echo "bench: build first (tools/setup.sh)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is missing (apt-get install time)" >&2; exit 2; }
command -v eu-addr2line >/dev/null || { echo "bench: eu-addr2line is missing (apt-get install elfutils)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/allocwatch-symbench.XXXXXX)
if [ "${KEEP:-0}" = 1 ]; then echo "bench: keeping $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi

# The source: FUNCTIONS groups of a struct, a function template and a function using
# std::unordered_map, std::vector, std::ostringstream, std::function and a lambda.
python3 - "$functions" > "$tmp/big.cc" <<'EOF'
import sys
n = int(sys.argv[1])
out = ["#include <algorithm>", "#include <functional>", "#include <map>", "#include <numeric>",
       "#include <sstream>", "#include <string>", "#include <unordered_map>", "#include <vector>", ""]
for i in range(n):
    out += [
        f"struct Rec{i} {{", "  std::string name;", "  std::vector<int> values;",
        "  std::map<std::string, double> weights;", "};", "",
        "template <typename T>",
        f"T Fold{i}(const std::vector<T>& xs, std::function<T(T, T)> op) {{",
        "  return std::accumulate(xs.begin(), xs.end(), T{}, op);", "}", "",
        f"std::string Summarize{i}(const std::vector<Rec{i}>& recs) {{",
        "  std::unordered_map<std::string, std::vector<int>> by_name;",
        f"  for (const Rec{i}& r : recs) {{",
        "    auto& slot = by_name[r.name];",
        "    slot.insert(slot.end(), r.values.begin(), r.values.end());", "  }",
        "  std::ostringstream os;",
        "  for (auto& [name, values] : by_name) {",
        "    std::sort(values.begin(), values.end());",
        f"    os << name << '=' << Fold{i}<int>(values, [](int a, int b) {{ return a + b * {i % 7 + 1}; }});",
        "  }", "  return os.str();", "}", ""]
print("\n".join(out))
EOF
lines=$(wc -l < "$tmp/big.cc")

timed() {  # timed LABEL COMMAND...: runs it, prints "LABEL wall_s user_s sys_s peak_kib"
  local label=$1; shift
  /usr/bin/time -o "$tmp/time" -f "%e %U %S %M" "$@" > /dev/null 2>> "$tmp/stderr"
  echo "$label $(cat "$tmp/time")"
}

echo "bench: compiling $lines lines with g++ -std=c++20 -O1 under allocwatch run --exact"
timed plain g++ -std=c++20 -O1 -c "$tmp/big.cc" -o "$tmp/plain.o" | tee "$tmp/times"
timed recorded "$aw" run --exact -o "$tmp/rec" --report /dev/null -- \
  g++ -std=c++20 -O1 -c "$tmp/big.cc" -o "$tmp/big.o" | tee -a "$tmp/times"
rec=$(ls "$tmp"/rec/cc1plus.*.awtrace)
echo "bench: recording $(basename "$rec"), $(( $(stat -c %s "$rec") / 1048576 )) MiB"

timed report_no_symbols "$aw" report --no-symbols "$rec" | tee -a "$tmp/times"
timed report "$aw" report --no-symbol-table "$rec" | tee -a "$tmp/times"
timed symbolize "$aw" symbolize "$rec" | tee -a "$tmp/times"
summary=$(grep "distinct addresses" "$tmp/stderr" | tail -1)
echo "bench: $summary"
timed report_with_table "$aw" report "$rec" | tee -a "$tmp/times"

# The same addresses, per module, for eu-addr2line (from the symbol table just written).
python3 - "$rec.awsym" "$tmp/lists" <<'EOF'
import json, os, sys
doc = json.load(open(sys.argv[1]))
os.makedirs(sys.argv[2])
per_module = {}
for module, address, frames in doc["addresses"]:
    per_module.setdefault(module, []).append(address)
for index, addresses in per_module.items():
    with open(os.path.join(sys.argv[2], "%d.addresses" % index), "w") as f:
        f.writelines("0x%x\n" % (a - 1) for a in addresses)
    with open(os.path.join(sys.argv[2], "%d.module" % index), "w") as f:
        f.write(doc["modules"][index]["path"])
EOF
cat > "$tmp/addr2line.sh" <<'EOF'
for list in "$1"/*.addresses; do
  eu-addr2line -e "$(cat "${list%.addresses}.module")" -i -f -C < "$list"
done
EOF
timed eu_addr2line bash "$tmp/addr2line.sh" "$tmp/lists" | tee -a "$tmp/times"
addresses=$(cat "$tmp"/lists/*.addresses | wc -l)
echo "bench: eu-addr2line over $addresses addresses in $(ls "$tmp"/lists/*.module | wc -l) modules"

# Summary. allocwatch's symbolization time is its own in-process figure (libdw work only);
# the report difference adds what the report does with the frames.
awk -v summary="$summary" -v addresses="$addresses" '
  { wall[$1] = $2; cpu[$1] = $3 + $4 }
  END {
    match(summary, /symbolized in [0-9.]+ s/)
    split(substr(summary, RSTART, RLENGTH), parts, " ")
    sym = parts[3]
    diff = cpu["report"] - cpu["report_no_symbols"]
    printf "\ndistinct addresses            %d\n", addresses
    printf "allocwatch symbolization      %.3f s (in-process, allocwatch symbolize)\n", sym
    printf "report, symbols on / off      %.2f / %.2f s wall, %.2f / %.2f s cpu (+%.2f s cpu)\n", \
      wall["report"], wall["report_no_symbols"], cpu["report"], cpu["report_no_symbols"], diff
    printf "eu-addr2line -i -f -C         %.2f s wall, %.2f s cpu\n", wall["eu_addr2line"], cpu["eu_addr2line"]
    printf "ratio eu-addr2line / allocwatch symbolization  %.1f (wall)\n", wall["eu_addr2line"] / (sym > 0 ? sym : 0.001)
    printf "ratio eu-addr2line / report symbol stage (cpu) %.1f\n", cpu["eu_addr2line"] / (diff > 0.001 ? diff : 0.001)
    printf "compile plain / recorded      %.2f / %.2f s wall\n", wall["plain"], wall["recorded"]
  }' "$tmp/times"
