#!/usr/bin/env bash
# Compatibility check: real programs must behave byte-identically under
# `allocwatch run` and when run plainly (same stdout, stderr and exit status).
#
# Usage: run_real_programs.sh ALLOCWATCH_BINARY [MODE_ARGS...]
#   MODE_ARGS are extra options for `allocwatch run`, e.g. --exact or
#   --sample-bytes 4096. Default: none.
#
# Environment:
#   AWCOMPAT_TIMEOUT  seconds allowed per single run (default 120)
#   AWCOMPAT_KEEP=1   keep the temporary directory even when everything passed
#   AWCOMPAT_ONLY     space-separated case functions to run (e.g. "case_node case_gxx")
#
# See README.md in this directory.
set -euo pipefail

usage() {
  echo "usage: $0 ALLOCWATCH_BINARY [MODE_ARGS...]" >&2
  exit 2
}
[[ $# -ge 1 ]] || usage

AW=$1
shift
MODE_ARGS=("$@")
# We cd into per-case work directories, so the binary path must be absolute.
if [[ $AW == */* ]]; then
  AW=$(realpath -s -- "$AW")
else
  AW=$(command -v -- "$AW") || { echo "error: $1 not found in PATH" >&2; exit 2; }
fi
[[ -x $AW && -f $AW ]] || { echo "error: $AW is not an executable file" >&2; exit 2; }
command -v timeout >/dev/null || { echo "error: timeout (coreutils) is required" >&2; exit 2; }

TIMEOUT=${AWCOMPAT_TIMEOUT:-120}

# ---------------------------------------------------------------------------
# Deterministic environment, shared by the plain and the traced run.
# ---------------------------------------------------------------------------
export LC_ALL=C LANG=C TZ=UTC
unset LANGUAGE
export PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1        # stable set order, no .pyc writes
export PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0               # stable hash order
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null  # ignore user/system git config
export GIT_AUTHOR_NAME="Compat Tester" GIT_AUTHOR_EMAIL="compat@example.invalid"
export GIT_COMMITTER_NAME="Compat Tester" GIT_COMMITTER_EMAIL="compat@example.invalid"
export GIT_AUTHOR_DATE="2021-02-03T04:05:06+0000" GIT_COMMITTER_DATE="2021-02-03T04:05:06+0000"
export GIT_TERMINAL_PROMPT=0 GIT_PAGER=cat PAGER=cat
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
unset GCC_COLORS

T=$(mktemp -d "${TMPDIR:-/tmp}/aw-compat.XXXXXX")
SRC=$T/src      # inputs written by this script, never modified by the cases
WORK=$T/work    # re-created before every run: both runs see the same path and state
OUT=$T/out      # captured stdout/stderr/status per case and run
REC=$T/rec      # `allocwatch run -o` directory, re-created before every traced run
REPORT=$T/report.txt
mkdir -p "$SRC" "$OUT"
export GIT_CEILING_DIRECTORIES=$T

PASSED=0 FAILED=0 SKIPPED=0
FAILED_NAMES=()

cleanup() {
  if [[ $FAILED -eq 0 && ${AWCOMPAT_KEEP:-0} != 1 ]]; then
    rm -rf -- "$T"
  else
    echo "outputs kept in $T"
  fi
}
trap cleanup EXIT

# need CASE PROG... : print SKIP and return 1 if a program is not installed.
need() {
  local name=$1 prog
  shift
  for prog in "$@"; do
    if ! command -v "$prog" >/dev/null 2>&1; then
      echo "SKIP  $name ($prog is not installed)"
      SKIPPED=$((SKIPPED + 1))
      return 1
    fi
  done
}

# Options of the current case (set by run_case, read by execute_once).
opt_setup="" opt_stdin=/dev/null opt_pipe_stdin=0 opt_filter=""
opt_artifacts=() opt_expect_rc="" opt_expect_stdout="" opt_need_recording=1
opt_report_grep=() opt_min_recordings=1

# execute_once KIND DEST CMD...
# Runs CMD plainly (KIND=plain) or under `allocwatch run` (KIND=traced) in a
# freshly re-created $WORK and stores DEST.stdout, DEST.stderr, DEST.rc and
# copies of the requested artifacts under DEST.artifacts/.
execute_once() {
  local kind=$1 dest=$2
  shift 2
  local cmd=("$@")
  rm -rf -- "$WORK"
  mkdir -p "$WORK"
  if [[ -n $opt_setup ]]; then
    (cd "$WORK" && "$opt_setup") || { echo "setup function $opt_setup failed" >"$dest.setup-error"; }
  fi
  if [[ $kind == traced ]]; then
    rm -rf -- "$REC" "$REPORT"
    mkdir -p "$REC"
    cmd=("$AW" run -o "$REC" --report "$REPORT" "${MODE_ARGS[@]}" -- "$@")
  fi
  local rc=0
  (
    # Silence this subshell's own stderr: bash prints job notices such as
    # "Terminated"/"Killed" when a child dies by a signal. The command's
    # stderr is redirected to a file below, so it is not affected.
    exec 2>/dev/null
    set +e +o pipefail
    cd "$WORK" || exit 125
    if [[ $opt_pipe_stdin == 1 ]]; then
      cat -- "$opt_stdin" | timeout -k 5 "$TIMEOUT" "${cmd[@]}" >"$dest.stdout" 2>"$dest.stderr"
      exit "${PIPESTATUS[1]}"
    else
      timeout -k 5 "$TIMEOUT" "${cmd[@]}" <"$opt_stdin" >"$dest.stdout" 2>"$dest.stderr"
      exit $?
    fi
  ) || rc=$?
  echo "$rc" >"$dest.rc"
  local a
  for a in "${opt_artifacts[@]}"; do
    if [[ -f $WORK/$a ]]; then
      mkdir -p "$dest.artifacts/$(dirname -- "$a")"
      cp -- "$WORK/$a" "$dest.artifacts/$a"
    fi
  done
  if [[ $kind == traced ]]; then
    # Keep what allocwatch wrote next to the outputs, for post-mortems.
    mv -- "$REC" "$dest.rec"
    if [[ -e $REPORT ]]; then mv -- "$REPORT" "$dest.report.txt"; fi
  fi
}

# show_diff A B [LABEL_A LABEL_B] : unified diff, truncated to 40 lines, indented.
show_diff() {
  { diff -a -u --label "${3:-plain}" --label "${4:-allocwatch run}" -- "$1" "$2" || true; } |
    head -n 40 | cat -v | sed 's/^/      /' || true
}

# run_case NAME [options] -- CMD...
#   --setup FUNC        run FUNC inside the fresh work directory before each run
#   --stdin FILE        feed FILE on stdin (default /dev/null)
#   --pipe-stdin        feed stdin through a pipe instead of a file redirect
#   --filter SED        sed -E script applied to stdout+stderr of BOTH runs before comparing
#   --artifact PATH     file (relative to the work dir) that must be identical after both runs
#   --expect-rc N       the plain run must exit with N (sanity check of the case itself)
#   --expect-stdout F   stdout must equal file F
#   --no-recording-check  do not require an .awtrace file
#   --report-grep ERE   the report of the traced run must contain a line matching ERE
#   --min-recordings N  at least N .awtrace files (processes) must be written (default 1)
run_case() {
  local name=$1
  shift
  opt_setup="" opt_stdin=/dev/null opt_pipe_stdin=0 opt_filter=""
  opt_artifacts=() opt_expect_rc="" opt_expect_stdout="" opt_need_recording=1
  opt_report_grep=() opt_min_recordings=1
  while [[ $# -gt 0 ]]; do
    case $1 in
      --setup) opt_setup=$2; shift 2 ;;
      --stdin) opt_stdin=$2; shift 2 ;;
      --pipe-stdin) opt_pipe_stdin=1; shift ;;
      --filter) opt_filter=$2; shift 2 ;;
      --artifact) opt_artifacts+=("$2"); shift 2 ;;
      --expect-rc) opt_expect_rc=$2; shift 2 ;;
      --expect-stdout) opt_expect_stdout=$2; shift 2 ;;
      --no-recording-check) opt_need_recording=0; shift ;;
      --report-grep) opt_report_grep+=("$2"); shift 2 ;;
      --min-recordings) opt_min_recordings=$2; shift 2 ;;
      --) shift; break ;;
      *) echo "internal error: run_case $name: bad option $1" >&2; exit 2 ;;
    esac
  done

  local dir=$OUT/${name//\//_}
  mkdir -p "$dir"
  local p=$dir/plain t=$dir/traced
  execute_once plain "$p" "$@"
  execute_once traced "$t" "$@"

  local problems=() details=() s
  for s in plain traced; do
    if [[ -e $dir/$s.setup-error ]]; then problems+=("setup failed before the $s run"); fi
    if [[ $(<"$dir/$s.rc") == 124 ]]; then problems+=("$s run timed out after ${TIMEOUT}s"); fi
  done
  for s in stdout stderr; do
    local a=$p.$s b=$t.$s
    if [[ -n $opt_filter ]]; then
      sed -E "$opt_filter" "$p.$s" >"$p.$s.filtered"
      sed -E "$opt_filter" "$t.$s" >"$t.$s.filtered"
      a=$p.$s.filtered b=$t.$s.filtered
    fi
    if ! cmp -s -- "$a" "$b"; then
      problems+=("$s differs")
      details+=("    $s: $(cmp -- "$a" "$b" 2>&1 || true)" "$(show_diff "$a" "$b")")
    fi
  done
  local prc trc
  prc=$(<"$p.rc") trc=$(<"$t.rc")
  if [[ $prc != "$trc" ]]; then
    problems+=("exit status differs (plain $prc, allocwatch run $trc)")
  fi
  if [[ -n $opt_expect_rc && $prc != "$opt_expect_rc" ]]; then
    problems+=("plain run exited $prc, expected $opt_expect_rc (broken case or environment)")
    details+=("    plain stderr:" "$(head -n 20 "$p.stderr" | sed 's/^/      /')")
  fi
  if [[ -n $opt_expect_stdout ]] && ! cmp -s -- "$opt_expect_stdout" "$t.stdout"; then
    problems+=("stdout under allocwatch run is not the expected content")
    details+=("    stdout vs expected:" "$(show_diff "$opt_expect_stdout" "$t.stdout" expected "allocwatch run")")
  fi
  local art
  for art in "${opt_artifacts[@]}"; do
    if [[ ! -f $p.artifacts/$art || ! -f $t.artifacts/$art ]]; then
      problems+=("artifact $art missing after a run")
    elif ! cmp -s -- "$p.artifacts/$art" "$t.artifacts/$art"; then
      problems+=("artifact $art differs")
    fi
  done
  if [[ $opt_need_recording == 1 ]] &&
    [[ -z $(find "$t.rec" -type f -name '*.awtrace' -print -quit 2>/dev/null) ]]; then
    problems+=("no *.awtrace recording written to the -o directory")
  fi
  if [[ ! -s $t.report.txt ]]; then
    problems+=("report file missing or empty")
  fi
  if [[ $opt_need_recording == 1 ]]; then
    local nrec
    nrec=$(find "$t.rec" -type f -name '*.awtrace' 2>/dev/null | wc -l)
    if [[ $nrec -lt $opt_min_recordings ]]; then
      problems+=("$nrec recordings written, expected at least $opt_min_recordings")
    fi
  fi
  local re
  for re in "${opt_report_grep[@]}"; do
    if ! grep -Eq -- "$re" "$t.report.txt" 2>/dev/null; then
      problems+=("the report has no line matching /$re/")
    fi
  done

  if [[ ${#problems[@]} -eq 0 ]]; then
    echo "PASS  $name"
    PASSED=$((PASSED + 1))
  else
    echo "FAIL  $name"
    local line
    for line in "${problems[@]}"; do echo "    - $line"; done
    for line in "${details[@]}"; do [[ -z $line ]] || printf '%s\n' "$line"; done
    echo "    (outputs in $dir)"
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$name")
  fi
}

# ---------------------------------------------------------------------------
# 1. python3
# ---------------------------------------------------------------------------
case_python() {
  need python3 python3 || return 0
  cat >"$SRC/workload.py" <<'EOF'
import collections
import json
import re
import sys

words = [f"w{i % 97}-{i * 7919 % 1000}" for i in range(20000)]
counts = collections.Counter(w.split("-")[0] for w in words)
groups = {}
for i, w in enumerate(words):
    groups.setdefault(w[:3], []).append(i)
print(len(words), len(counts), len(groups))
print(counts.most_common(3))
print(sorted(groups)[:5], sum(len(v) for v in groups.values()))

big = "".join(str(i) for i in range(50000))
print(len(big), big[1000:1020], big.count("7"))
print(len(re.findall(r"12+3", big)), re.sub(r"[02468]", "", big[:40]))

nested = {str(k): {"sq": k * k, "l": list(range(k % 7)), "s": "x" * (k % 50)} for k in range(3000)}
text = json.dumps(nested, sort_keys=True)
back = json.loads(text)
print(len(text), back["2999"]["sq"], sum(len(v["l"]) for v in back.values()))

buf = bytearray(4 * 1024 * 1024)
for i in range(0, len(buf), 4096):
    buf[i] = i // 4096 % 251
print(sum(buf))

class Node:
    __slots__ = ("value", "next")

    def __init__(self, value, nxt):
        self.value = value
        self.next = nxt

head = None
for i in range(30000):
    head = Node(i, head)
total = 0
while head is not None:
    total += head.value
    head = head.next
print("linked total", total)
tuples = sorted((i % 13, -i, str(i)) for i in range(5000))
print(tuples[:3], tuples[-1])
print("python stderr line", file=sys.stderr)
print("done")
EOF
  run_case python3/dicts-lists-strings --expect-rc 0 -- python3 "$SRC/workload.py"
  run_case python3/exit-3 --expect-rc 3 -- python3 -c '
import sys
data = {i: str(i) * 3 for i in range(1000)}
print("about to exit", len(data))
print("error path", file=sys.stderr)
sys.exit(3)'
}

# ---------------------------------------------------------------------------
# 2. perl
# ---------------------------------------------------------------------------
case_perl() {
  need perl perl || return 0
  cat >"$SRC/workload.pl" <<'EOF'
use strict;
use warnings;
my (%h, @words);
for my $i (1 .. 20000) {
    my $w = sprintf("k%03d_%d", $i % 211, ($i * 7919) % 37);
    push @words, $w;
    $h{$w}++;
}
my @top = (sort { $h{$b} <=> $h{$a} || $a cmp $b } keys %h)[0 .. 4];
print "keys=", scalar(keys %h), " top=@top\n";
my $text = join(" ", @words);
my @m = ($text =~ /k(0\d\d)_(\d+)/g);
print "matches=", scalar(@m), "\n";
(my $t2 = $text) =~ s/_(\d)(\d*)/-$2$1/g;
print length($t2), " ", substr($t2, 0, 40), "\n";
my @sorted = sort { length($a) <=> length($b) or $b cmp $a } @words;
print "@sorted[0 .. 3]\n";
my %inv;
push @{ $inv{ $h{$_} } }, $_ for keys %h;
printf "%d: %d\n", $_, scalar @{ $inv{$_} } for sort { $a <=> $b } keys %inv;
my %nested = map { $_ => { sq => $_ * $_, list => [ 1 .. $_ % 9 ] } } 1 .. 3000;
my $sum = 0;
$sum += $nested{$_}{sq} + @{ $nested{$_}{list} } for keys %nested;
print "nested sum=$sum\n";
warn "perl warning line\n";
EOF
  seq 1 5000 | awk '{ print $1, "w" ($1 % 13) }' >"$SRC/perl-input.txt"
  run_case perl/script --expect-rc 0 -- perl "$SRC/workload.pl"
  # shellcheck disable=SC2016 # the program is perl, not shell
  run_case perl/one-liner-stdin --expect-rc 0 --stdin "$SRC/perl-input.txt" -- \
    perl -lane '$s{$F[1]} += $F[0]; END { print "$_ $s{$_}" for sort { $s{$b} <=> $s{$a} || $a cmp $b } keys %s }'
}

# ---------------------------------------------------------------------------
# 3. git (fixed names and dates make the commit hashes reproducible)
# ---------------------------------------------------------------------------
case_git() {
  need git git || return 0
  cat >"$SRC/git-workload.sh" <<'EOF'
set -e
git init -b main .
git config user.name "Compat Tester"
git config user.email "compat@example.invalid"
printf 'hello\nworld\n' >a.txt
seq 1 2000 >b.txt
git add a.txt b.txt
git commit -m "first commit"
echo changed >>a.txt
git commit -am "second commit"
git log --format='%H %an <%ae> %ad %s' --date=iso-strict
git diff --stat HEAD~1 HEAD
git status --short --branch
git rev-parse HEAD^{tree}
git show --stat --format='%h %s' HEAD
EOF
  run_case git/init-commit-log --expect-rc 0 -- bash "$SRC/git-workload.sh"
}

# ---------------------------------------------------------------------------
# 4. sqlite3
# ---------------------------------------------------------------------------
gen_sqlite_workload() {
  cat <<'EOF'
CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, grp INTEGER, price REAL);
CREATE TABLE tags(item_id INTEGER, tag TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000)
INSERT INTO items(name, grp, price) SELECT printf('item-%05d', i), i % 17, (i * 37 % 1000) / 10.0 FROM n;
BEGIN;
EOF
  seq 1 3000 | awk '{ printf "INSERT INTO tags VALUES(%d, '\''tag-%d'\'');\n", ($1 * 7) % 4000 + 1, $1 % 23 }'
  cat <<'EOF'
COMMIT;
CREATE INDEX tags_item ON tags(item_id);
SELECT count(*), sum(price), min(name), max(name) FROM items;
SELECT grp, count(*), printf('%.3f', avg(price)) FROM items GROUP BY grp ORDER BY grp;
SELECT t.tag, count(*), printf('%.2f', sum(i.price)) FROM tags t JOIN items i ON i.id = t.item_id
  GROUP BY t.tag ORDER BY 2 DESC, 1 LIMIT 5;
UPDATE items SET price = price * 2 WHERE grp = 3;
DELETE FROM items WHERE id % 10 = 0;
SELECT total_changes();
SELECT count(*), sum(length(name)), printf('%.1f', sum(price)) FROM items;
SELECT name, price FROM items ORDER BY price DESC, id LIMIT 5;
SELECT group_concat(name, ';') FROM (SELECT name FROM items WHERE grp = 5 ORDER BY id LIMIT 8);
EOF
}

case_sqlite() {
  need sqlite3 sqlite3 || return 0
  gen_sqlite_workload >"$SRC/workload.sql"
  run_case sqlite3/workload --expect-rc 0 --stdin "$SRC/workload.sql" -- sqlite3 test.db
  run_case sqlite3/error --expect-rc 1 -- sqlite3 test.db 'CREATE TABLE t(x); SELECT * FROM missing_table;'
}

# ---------------------------------------------------------------------------
# 5. g++
# ---------------------------------------------------------------------------
setup_gxx_source() { cp -- "$SRC/prog.cpp" prog.cpp; }
setup_gxx_object() { cp -- "$SRC/prog.cpp" "$SRC/prog.o" .; }

case_gxx() {
  need g++ g++ || return 0
  cat >"$SRC/prog.cpp" <<'EOF'
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

int main() {
  int unused_on_purpose = 0;  // triggers a -Wall warning, so stderr has content
  std::map<std::string, std::vector<int>> groups;
  for (int i = 0; i < 20000; ++i) groups["k" + std::to_string(i % 101)].push_back(i);
  std::size_t total = 0;
  for (const auto& [key, values] : groups) total += values.size();
  std::cout << groups.size() << " " << total << " " << groups.begin()->first << "\n";

  std::vector<std::unique_ptr<std::string>> owned;
  for (int i = 0; i < 5000; ++i) owned.push_back(std::make_unique<std::string>(100 + i % 50, char('a' + i % 26)));
  std::size_t bytes = 0;
  for (const auto& s : owned) bytes += s->size();
  std::unordered_map<int, std::string> um;
  for (int i = 0; i < 10000; ++i) um.emplace(i, std::to_string(i * i));
  std::size_t um_len = 0;
  for (const auto& kv : um) um_len += kv.second.size();
  std::vector<int> v(50000);
  for (int i = 0; i < 50000; ++i) v[i] = (i * 7919) % 50000;
  std::sort(v.begin(), v.end());
  std::ostringstream os;
  os << bytes << " " << um_len << " " << v[123] << " " << v.back();
  std::cout << os.str() << "\n";
  try {
    throw std::runtime_error("boom");
  } catch (const std::exception& e) {
    std::cerr << "caught: " << e.what() << "\n";
  }
  return 5;
}
EOF
  run_case g++/compile --expect-rc 0 --setup setup_gxx_source --artifact prog.o -- \
    g++ -std=c++17 -O1 -Wall -c prog.cpp -o prog.o
  # The link-and-run case starts from an object compiled once, plainly, here.
  if ! (cd "$SRC" && g++ -std=c++17 -O1 -c prog.cpp -o prog.o 2>/dev/null); then
    echo "FAIL  g++/link-run (could not prepare prog.o plainly)"
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("g++/link-run")
    return 0
  fi
  run_case g++/link-run --expect-rc 5 --setup setup_gxx_object --artifact prog -- \
    bash -c 'g++ prog.o -o prog && ./prog'
}

# ---------------------------------------------------------------------------
# 6. cmake configure
# ---------------------------------------------------------------------------
setup_cmake_project() {
  mkdir src
  cat >src/CMakeLists.txt <<'EOF'
cmake_minimum_required(VERSION 3.13)
project(compat_probe VERSION 1.2.3 LANGUAGES CXX)
set(items)
foreach(i RANGE 1 400)
  math(EXPR sq "${i} * ${i} % 97")
  list(APPEND items "item_${sq}")
endforeach()
list(REMOVE_DUPLICATES items)
list(SORT items)
list(LENGTH items n)
string(JOIN "," joined ${items})
string(MD5 digest "${joined}")
string(TOUPPER "${PROJECT_NAME}" upper)
message(STATUS "items=${n} digest=${digest} upper=${upper}")
message("a plain message goes to stderr")
message(WARNING "a warning also goes to stderr")
set(COMPAT_ITEMS "${joined}")
configure_file(config.h.in config.h @ONLY)
add_executable(probe main.cpp)
target_include_directories(probe PRIVATE ${CMAKE_CURRENT_BINARY_DIR})
EOF
  printf '#define COMPAT_ITEMS "@COMPAT_ITEMS@"\n#define COMPAT_VERSION "@PROJECT_VERSION@"\n' >src/config.h.in
  printf '#include "config.h"\n#include <cstdio>\nint main() { std::puts(COMPAT_ITEMS); }\n' >src/main.cpp
}

case_cmake() {
  need cmake cmake c++ || return 0
  # Both runs use the same source and build paths, so the absolute paths cmake
  # prints are identical. Newer cmake versions (>= 3.26) append the elapsed
  # time to "Configuring done"/"Generating done", e.g. "-- Configuring done (0.4s)";
  # that is the only line that varies between runs, so only it is normalised.
  run_case cmake/configure --expect-rc 0 --setup setup_cmake_project --artifact build/config.h \
    --filter 's/^(-- (Configuring|Generating) done) \([0-9.]+s\)$/\1 (TIME)/' -- \
    cmake -S src -B build
}

# ---------------------------------------------------------------------------
# 7. shell pipelines with several children
# ---------------------------------------------------------------------------
case_shell() {
  need shell bash seq sort uniq awk head || return 0
  # awk prints its 20 lines in one buffered write at exit, so `head` never
  # causes a racy SIGPIPE/EPIPE upstream.
  local pipeline
  pipeline=$(
    cat <<'EOF'
seq 1 20000 | sort -r | uniq | awk 'NR % 1000 == 0 { print NR, $1 }' | head -n 5
echo "lines: $(seq 1 3000 | sort -n | uniq | wc -l)"
(exit 7)
EOF
  )
  run_case shell/pipeline-exit-7 --expect-rc 7 -- bash -c "$pipeline"
  local subshells
  subshells=$(
    cat <<'EOF'
( echo "subshell stdout"; echo "subshell stderr 1" >&2; exit 4 )
echo "subshell exited $?"
( for i in 1 2 3; do echo "background stderr $i" >&2; done ) &
wait $!
echo "background exited $?"
sh -c 'echo "nested sh stderr" >&2; exit 9'
echo "sh exited $?"
echo "final stderr" >&2
EOF
  )
  run_case shell/subshell-stderr --expect-rc 0 -- bash -c "$subshells"
}

# ---------------------------------------------------------------------------
# 8. death by signal
# ---------------------------------------------------------------------------
case_signal() {
  need signal bash || return 0
  run_case signal/sigterm --expect-rc 143 -- bash -c 'echo before; echo err >&2; kill -TERM $$'
  # A process killed by SIGKILL cannot flush anything, so a recording is not
  # required here; only the observable behaviour is compared.
  run_case signal/sigkill --expect-rc 137 --no-recording-check -- bash -c 'echo before; kill -KILL $$'
}

# ---------------------------------------------------------------------------
# 9. stdin passing
# ---------------------------------------------------------------------------
case_stdin() {
  need stdin cat || return 0
  printf 'data\n' >"$SRC/stdin-small.txt"
  run_case stdin/pipe-to-cat --expect-rc 0 --pipe-stdin --stdin "$SRC/stdin-small.txt" \
    --expect-stdout "$SRC/stdin-small.txt" -- cat
  # Larger input with every byte value, from a file redirect.
  {
    local i
    # shellcheck disable=SC2059 # the format is the octal escape of byte $i
    for i in $(seq 0 255); do printf "\\$(printf '%03o' "$i")"; done
    seq 1 100000
  } >"$SRC/stdin-big.bin"
  run_case stdin/file-to-cat --expect-rc 0 --stdin "$SRC/stdin-big.bin" \
    --expect-stdout "$SRC/stdin-big.bin" -- cat
}

# ---------------------------------------------------------------------------
# 10. python3 with threads and subprocesses
# ---------------------------------------------------------------------------
case_python_threads() {
  need python3-threads python3 sort || return 0
  cat >"$SRC/threads.py" <<'EOF'
import subprocess
import sys
import threading

results = [None] * 6

def work(k):
    table = {}
    for i in range(40000):
        table[(i * (k + 3)) % 5003] = str(i) * (1 + i % 4)
    results[k] = (len(table), sum(len(v) for v in table.values()))

threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("threads", results)

child = subprocess.run([sys.executable, "-c", "import sys; d = [str(i) for i in range(50000)]; print(len(d)); print('child err', file=sys.stderr); sys.exit(4)"],
                       capture_output=True, text=True)
print("child rc", child.returncode, "out", child.stdout.strip(), "err", child.stderr.strip())
p = subprocess.Popen(["sort", "-n"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
out, _ = p.communicate("\n".join(str((i * 7919) % 1000) for i in range(2000)) + "\n")
lines = out.split()
print("sort rc", p.returncode, len(lines), lines[:3], lines[-3:])
print("python threads stderr", file=sys.stderr)
EOF
  # python3, the python3 child and sort: three processes, each recorded.
  run_case python3/threads-subprocess --expect-rc 0 --min-recordings 3 -- python3 "$SRC/threads.py"
}

# ---------------------------------------------------------------------------
# 11. clang++ compiling a few files
# ---------------------------------------------------------------------------
setup_clang_sources() {
  cp -- "$SRC/prog.cpp" prog.cpp
  printf '#include <map>\n#include <string>\nstd::map<std::string, int> build(int n) {\n  std::map<std::string, int> m;\n  for (int i = 0; i < n; ++i) m[std::to_string(i)] = i;\n  return m;\n}\n' >lib1.cpp
  printf '#include <vector>\n#include <algorithm>\nint median(std::vector<int> v) {\n  std::sort(v.begin(), v.end());\n  return v.empty() ? 0 : v[v.size() / 2];\n}\n' >lib2.cpp
}

case_clang() {
  need clang++ clang++ || return 0
  if [[ ! -f $SRC/prog.cpp ]]; then
    echo "SKIP  clang++ (needs the source written by the g++ case)"
    SKIPPED=$((SKIPPED + 1))
    return 0
  fi
  run_case clang++/compile-3-files --expect-rc 0 --setup setup_clang_sources \
    --artifact prog.o --artifact lib1.o --artifact lib2.o -- \
    clang++ -std=c++17 -O1 -Wall -c prog.cpp lib1.cpp lib2.cpp
  run_case clang++/error --expect-rc 1 -- \
    bash -c 'printf "int main() { return undefined_name; }\n" >bad.cpp && clang++ -c bad.cpp -o bad.o'
}

# ---------------------------------------------------------------------------
# 12. cmake + make -j2 building a small project
# ---------------------------------------------------------------------------
setup_cmake_make_project() {
  setup_cmake_project
  cat >>src/CMakeLists.txt <<'EOF'
add_library(parts STATIC part1.cpp part2.cpp part3.cpp)
add_executable(app app.cpp)
target_link_libraries(app PRIVATE parts)
EOF
  local i
  for i in 1 2 3; do
    printf '#include <string>\n#include <vector>\nint part%d() {\n  std::vector<std::string> v;\n  for (int i = 0; i < 1000 * %d; ++i) v.push_back(std::to_string(i));\n  return static_cast<int>(v.size());\n}\n' "$i" "$i" >"src/part$i.cpp"
  done
  printf '#include <cstdio>\nint part1(); int part2(); int part3();\nint main() { std::printf("%%d %%d %%d\\n", part1(), part2(), part3()); return 0; }\n' >src/app.cpp
}

case_cmake_make() {
  need cmake-make cmake make c++ || return 0
  # make -j2 orders its progress lines (and so their percentages) differently from run to
  # run, so its output goes to a file that is printed sorted, without the percentages; the
  # built programs run at the end.
  run_case cmake/make-j2 --expect-rc 0 --setup setup_cmake_make_project --min-recordings 10 \
    --filter 's/^(-- (Configuring|Generating) done) \([0-9.]+s\)$/\1 (TIME)/' -- \
    bash -c 'cmake -S src -B build -G "Unix Makefiles" && make -C build -j2 --no-print-directory >make.log 2>&1; rc=$?; sed -E "s/^\[ *[0-9]+%\] //" make.log | sort; ./build/app; ./build/probe; exit $rc'
}

# ---------------------------------------------------------------------------
# 13. node with worker threads
# ---------------------------------------------------------------------------
case_node() {
  local node
  node=$(command -v node || command -v nodejs || true)
  if [[ -z $node ]]; then
    echo "SKIP  node (node is not installed)"
    SKIPPED=$((SKIPPED + 1))
    return 0
  fi
  cat >"$SRC/workers.js" <<'EOF'
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
if (isMainThread) {
  const jobs = [1, 2, 3, 4].map((k) => new Promise((resolve, reject) => {
    const w = new Worker(__filename, { workerData: k });
    w.on('message', resolve);
    w.on('error', reject);
  }));
  Promise.all(jobs).then((results) => {
    console.log('workers', JSON.stringify(results));
    const big = [];
    for (let i = 0; i < 200000; i++) big.push({ i, s: 'x'.repeat(i % 20) });
    console.log('main objects', big.length, big[199999].s.length);
    console.error('node stderr line');
    process.exitCode = 2;
  });
} else {
  const m = new Map();
  for (let i = 0; i < 100000; i++) m.set('k' + (i * workerData) % 50021, i);
  const buf = Buffer.alloc(1 << 20, workerData);
  parentPort.postMessage([workerData, m.size, buf.reduce((a, b) => a + b, 0)]);
}
EOF
  run_case node/worker-threads --expect-rc 2 -- "$node" "$SRC/workers.js"
}

# ---------------------------------------------------------------------------
# 14. bash: fork and exec in loops, command substitution, xargs, exec
# ---------------------------------------------------------------------------
case_bash_fork_exec() {
  need bash-fork-exec bash xargs tr cut seq sort head || return 0
  local script
  script=$(
    cat <<'EOF'
n=0
while read -r line; do n=$((n + ${#line})); done < <(seq 1 2000)
echo "read loop $n"
for i in 1 2 3 4 5; do echo "$(echo "item $i" | tr a-z A-Z | cut -c1-4)"; done
seq 1 50 | xargs -n 10 echo | while read -r a rest; do echo "first $a"; done
out=$(bash -c 'for i in $(seq 1 300); do printf "%d\n" $i; done | sort -rn | head -1')
echo "nested $out"
( exec sh -c 'echo "exec in subshell"; exit 3' ); echo "status $?"
exec bash -c 'echo "replaced by exec"; exit 6'
EOF
  )
  run_case bash/fork-exec --expect-rc 6 --min-recordings 10 -- bash -c "$script"
}

# ---------------------------------------------------------------------------
# 15. a program linked against jemalloc: its allocations still appear in the recording
# ---------------------------------------------------------------------------
case_jemalloc_linked() {
  need jemalloc-linked cc || return 0
  if ! printf '#include <jemalloc/jemalloc.h>\n' | cc -E -x c - >/dev/null 2>&1; then
    echo "SKIP  jemalloc-linked (libjemalloc-dev is not installed)"
    SKIPPED=$((SKIPPED + 1))
    return 0
  fi
  cat >"$SRC/jemalloc_linked.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static void* volatile sink;
__attribute__((noinline)) void* allocate_through_jemalloc(size_t n) {
  void* p = malloc(n);
  memset(p, 7, n);
  return p;
}
int main(void) {
  static void* keep[8];
  for (int i = 0; i < 64; ++i) {
    void* p = allocate_through_jemalloc((size_t)1 << 20); /* >= the sampling period */
    if (i < 8) keep[i] = p; else free(p);
  }
  for (int i = 0; i < 100000; ++i) { sink = malloc(32 + i % 64); free(sink); }
  sink = keep;
  printf("jemalloc-linked: done\n");
  return 0;
}
EOF
  if ! cc -g -O1 -o "$SRC/jemalloc_linked" "$SRC/jemalloc_linked.c" -ljemalloc 2>"$SRC/jemalloc_linked.err"; then
    echo "FAIL  jemalloc-linked (could not build the program: $(head -c 300 "$SRC/jemalloc_linked.err"))"
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("jemalloc-linked")
    return 0
  fi
  # malloc resolves to jemalloc's; the preload comes first, so the calls are still recorded
  # (1 MiB blocks are recorded in every mode), with the function that made them.
  run_case jemalloc/linked-program --expect-rc 0 \
    --report-grep '~?8\.00 MiB +~?8 blocks' --report-grep 'at allocate_through_jemalloc' -- \
    "$SRC/jemalloc_linked"
}

# ---------------------------------------------------------------------------
echo "allocwatch compat: $AW run ${MODE_ARGS[*]:-(default mode)}"
start=$SECONDS
all_cases=(case_python case_perl case_git case_sqlite case_gxx case_cmake case_shell case_signal
  case_stdin case_python_threads case_clang case_cmake_make case_node case_bash_fork_exec
  case_jemalloc_linked)
for c in "${all_cases[@]}"; do
  if [[ -n ${AWCOMPAT_ONLY:-} && " $AWCOMPAT_ONLY " != *" $c "* ]]; then continue; fi
  "$c"
done

echo "summary: $PASSED passed, $FAILED failed, $SKIPPED skipped ($((SECONDS - start))s, mode: ${MODE_ARGS[*]:-default})"
if [[ $FAILED -ne 0 ]]; then
  echo "failed: ${FAILED_NAMES[*]}"
  exit 1
fi
