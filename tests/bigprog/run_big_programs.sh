#!/usr/bin/env bash
# shellcheck disable=SC2317 # prepare_CASE, run_CASE and the traps' functions are called by name
# Big-program compatibility suite: large real programs that allocwatch did not write (the JVM,
# javac, headless Chromium, rustc linking with lld, PostgreSQL, Redis and nginx under load) must
# behave under `allocwatch run` as they do plainly, and must not hang.
#
# Usage: run_big_programs.sh [--allocwatch PATH] MODE [CASE...]
#   MODE        default       plain run, then `allocwatch run` in its default (sampled) mode
#               exact         plain run, then `allocwatch run --exact`
#               plain-check   plain runs only: checks that the cases work on this machine
#   CASE        javac jvm chromium rust postgres redis nginx (default: all of them)
#   --allocwatch PATH   the allocwatch binary (default: build/bin/allocwatch of this checkout)
#
# For each case the program is run plainly, then under
#   allocwatch run -o FRESH_DIR --report FILE [--exact] -- PROGRAM ARGS...
# and the runs must agree: the output compared (stdout, after normalising only what varies
# from run to run, as each case's comment says) and the exit status. The allocwatch run must
# write a non-empty report file and at least one recording, and `allocwatch report DIR` on the
# recordings must exit 0. Servers are started under `allocwatch run`, loaded by their own
# benchmark client (run plainly), then stopped by their usual signal; the client must report
# no error and the server must exit with the status of the plain run.
#
# Every command runs under `timeout`. A command that is still running at its limit is a hang:
# the case fails with a message naming the case and the mode, and (when gdb is installed) the
# stacks of the hung processes are saved and their top frames printed before they are killed.
#
# Exit status: 0 all cases passed, 1 a case failed, 77 every requested case was skipped (its
# program is not installed: tools/setup.sh installs them), 2 usage error.
#
# Environment:
#   BIGPROG_TIMEOUT   seconds allowed to each command (default 90)
#   BIGPROG_STACKS=0  do not attach gdb to hung processes
#   BIGPROG_KEEP=1    keep the temporary directory even when every case passed
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
AW=$HERE/../../build/bin/allocwatch
ALL_CASES=(javac jvm chromium rust postgres redis nginx)

usage() {
  echo "usage: $0 [--allocwatch PATH] default|exact|plain-check [CASE...]" >&2
  echo "cases: ${ALL_CASES[*]}" >&2
  exit 2
}
while [[ $# -gt 0 ]]; do
  case $1 in
    --allocwatch) [[ $# -ge 2 ]] || usage; AW=$2; shift 2 ;;
    -h | --help) usage ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || usage
MODE=$1
shift
case $MODE in
  default) MODE_ARGS=() ;;
  exact) MODE_ARGS=(--exact) ;;
  plain-check) MODE_ARGS=() ;;
  *) usage ;;
esac
CASES=("$@")
[[ ${#CASES[@]} -gt 0 ]] || CASES=("${ALL_CASES[@]}")
for c in "${CASES[@]}"; do
  [[ " ${ALL_CASES[*]} " == *" $c "* ]] || { echo "error: unknown case $c" >&2; usage; }
done
if [[ $MODE != plain-check ]]; then
  AW=$(realpath -- "$AW" 2>/dev/null) || { echo "error: allocwatch binary not found" >&2; exit 2; }
  [[ -x $AW && -f $AW ]] || { echo "error: $AW is not an executable file" >&2; exit 2; }
fi
command -v timeout >/dev/null || { echo "error: timeout (coreutils) is required" >&2; exit 2; }
command -v ps >/dev/null || { echo "error: ps (procps) is required" >&2; exit 2; }

# Seconds allowed to one command of a case: a plain run of each takes 1 to 6 s here (see
# README.md); allocwatch makes it a few times slower, and on this 2-core machine ctest may run
# two cases at once beside a build (a Chromium run once took 36 s so).
limit_of() {
  echo "${BIGPROG_TIMEOUT:-90}"
}
STACK_BUDGET=60 # seconds that attaching gdb to the processes of one hang may take in all

export LC_ALL=C LANG=C TZ=UTC
unset LANGUAGE JAVA_TOOL_OPTIONS _JAVA_OPTIONS JDK_JAVA_OPTIONS RUSTFLAGS PGHOST PGPORT PGUSER \
  PGDATABASE PGPASSWORD PGSERVICE
[[ -d $HOME/.cargo/bin ]] && PATH=$PATH:$HOME/.cargo/bin

T=$(mktemp -d "${TMPDIR:-/tmp}/aw-bigprog.XXXXXX") || exit 2
chmod 755 "$T" # the PostgreSQL user and nginx's workers read under it
SRC=$T/src
mkdir -p "$SRC"

PASSED=0 FAILED=0 SKIPPED=0
FAILED_NAMES=() TIMES=()
declare -A LIVE=() # spawn's subshells not yet waited for: killed (with their trees) on exit

# descendants PID: PID's descendants, parents before children.
descendants() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { kids[$2] = kids[$2] " " $1 }
    END { q[1] = root; n = 1; for (i = 1; i <= n; i++) { m = split(kids[q[i]], k, " ");
          for (j = 1; j <= m; j++) { q[++n] = k[j]; print k[j] } } }'
}

# child_of PID: PID's first child.
child_of() { ps -o pid= --ppid "$1" | awk 'NR == 1 { print $1 }'; }

# start_time PID: the process's start time (field 22 of /proc/PID/stat), to tell it from a later
# process that reuses its pid.
start_time() {
  local st
  st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  st=${st##*) }
  # shellcheck disable=SC2086 # the fields after the command name
  set -- $st
  echo "${20}"
}

# kill_tree PID: SIGTERM to the `timeout` that spawn's PID runs (it passes it on), then SIGKILL
# to whatever of the tree is left after 5 s (a deadlocked process may never act on SIGTERM).
kill_tree() {
  local pid=$1 tree=() p t i
  for p in $(descendants "$pid"); do
    t=$(start_time "$p") && tree+=("$p:$t")
  done
  t=$(child_of "$pid")
  if [[ -n $t ]]; then kill -TERM "$t" 2>/dev/null; fi
  for ((i = 0; i < 25; i++)); do
    has_exited "$pid" && break
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null
  for p in "${tree[@]}"; do
    # only a process of the tree seen above, not a later one with the same pid
    [[ $(start_time "${p%%:*}") == "${p#*:}" ]] && kill -KILL "${p%%:*}" 2>/dev/null
  done
  reap "$pid"
}

# reap PID: waits for spawn's PID (already exited or killed), which then is no longer ours.
reap() {
  { wait "$1"; } 2>/dev/null
  local rc=$?
  unset "LIVE[$1]"
  return "$rc"
}

cleanup() {
  local p
  for p in "${!LIVE[@]}"; do kill_tree "$p"; done
  # Processes that left the tree (Chromium's crash handler runs under init) but were started
  # with this run's temporary directory in their command line.
  for p in /proc/[0-9]*; do
    [[ -r $p/cmdline ]] && tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$T/" &&
      kill -KILL "${p#/proc/}" 2>/dev/null
  done
  # Work directories (data directories, browser profiles) always go; outputs, recordings and
  # reports stay when something failed.
  find "$T" -mindepth 2 -maxdepth 4 -type d -name work -prune -exec rm -rf {} + 2>/dev/null
  if [[ $FAILED -eq 0 && ${BIGPROG_KEEP:-0} != 1 ]]; then
    rm -rf -- "$T"
  else
    echo "outputs kept in $T"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# has_exited PID: the child PID has exited (it may be a zombie not yet waited for).
has_exited() {
  local st
  st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  st=${st##*) }
  [[ ${st%% *} == Z ]]
}

# Per-run state, set by begin_run.
CASE="" KIND="" DIR="" PROBLEMS=""
AWPFX=() # prefix of a command: empty (plain) or `allocwatch run ... --`

# note TEXT: records a problem of the current run.
note() { printf '%s\n' "$*" >>"$PROBLEMS"; }

# dump_stacks PID: gdb backtraces of PID's tree, saved under $DIR/stacks and summarised.
dump_stacks() {
  local root=$1 p comm start=$SECONDS
  if [[ ${BIGPROG_STACKS:-1} == 0 ]] || ! command -v gdb >/dev/null; then
    note "    (no stacks: gdb is not installed or BIGPROG_STACKS=0)"
    return
  fi
  mkdir -p "$DIR/stacks"
  note "    stacks of the hung processes (top frames, threads with the same ones counted):"
  for p in $(descendants "$root"); do
    comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
    # allocwatch's own process only waits for the program, and `timeout` for it.
    [[ $(readlink "/proc/$p/exe" 2>/dev/null) == "$AW" || $comm == timeout ]] && continue
    if ((SECONDS - start >= STACK_BUDGET)); then
      note "    (stopped attaching gdb after ${STACK_BUDGET}s)"
      break
    fi
    timeout -k 5 30 gdb -nx -batch -p "$p" -iex 'set debuginfod enabled off' \
      -ex 'set pagination off' -ex 'thread apply all bt' >"$DIR/stacks/$p.$comm.txt" 2>&1 </dev/null
    note "    pid $p ($comm), $(grep -c '^Thread ' "$DIR/stacks/$p.$comm.txt") threads, full stacks in $DIR/stacks/$p.$comm.txt:"
    awk '
      function flush() { if (sig != "") count[sig]++; sig = "" }
      /^Thread [0-9]+ / { flush(); depth = 0; next }
      /^#[0-9]+ / { if (depth < 6) {
                      # "#N  [0xADDR in ]FUNCTION (ARGS)[ at FILE:LINE| from LIBRARY]"
                      f = $0; sub(/^#[0-9]+ +/, "", f); sub(/^0x[0-9a-f]+ in /, "", f)
                      sub(/ (at|from) [^ ]+$/, "", f); sub(/ \(.*$/, "", f)
                      sig = sig (depth ? " < " : "") f }
                    depth++; next }
      END { flush(); for (s in count) printf "      %3d x %s\n", count[s], s }' \
      "$DIR/stacks/$p.$comm.txt" | sort -rn | head -n 8 | cut -c1-300 >>"$PROBLEMS"
  done
}

# spawn VAR LIMIT OUT ERR CMD...: starts CMD in the background under `timeout` (a backstop
# for the watchdog in await, which stops the command at LIMIT), in a subshell whose pid goes in
# VAR: the subshell exits with the command's status (128+N for death by signal N) and its own
# stderr, where bash reports such deaths ("Aborted"), is silenced.
spawn() {
  local var=$1 limit=$2 out=$3 err=$4
  shift 4
  (
    exec 2>/dev/null
    timeout -k 10 $((limit + STACK_BUDGET + 60)) "$@" </dev/null >"$out" 2>"$err"
    exit $?
  ) &
  LIVE[$!]=1
  printf -v "$var" '%s' "$!"
}

# hung PID WHAT: PID's command is hung: noted (naming case, mode and command), its stacks
# dumped, its tree killed; AWAIT_RC is 124.
hung() {
  note "TIMEOUT: $CASE [$MODE, $KIND run]: $2 (hang)"
  dump_stacks "$1"
  kill_tree "$1"
  AWAIT_RC=124
}

# await PID LIMIT WHAT: waits for PID (started by spawn); its exit status in AWAIT_RC. At LIMIT
# seconds the command is hung: that is noted (naming case, mode and command), stacks are dumped,
# the tree is killed, AWAIT_RC is 124 and await returns 1.
AWAIT_RC=0
await() {
  local pid=$1 limit=$2 what=$3 start=$SECONDS
  while ! has_exited "$pid"; do
    if ((SECONDS - start >= limit)); then
      hung "$pid" "$what did not finish within ${limit}s"
      return 1
    fi
    sleep 0.2
  done
  reap "$pid"
  AWAIT_RC=$?
  if [[ $AWAIT_RC == 124 ]]; then
    note "TIMEOUT: $CASE [$MODE, $KIND run]: $what was stopped by timeout (hang)"
    return 1
  fi
  return 0
}

# run_fg LIMIT OUT ERR WHAT CMD...: spawn + await; returns 1 on a hang.
run_fg() {
  local limit=$1 out=$2 err=$3 what=$4 pid
  shift 4
  spawn pid "$limit" "$out" "$err" "$@"
  await "$pid" "$limit" "$what"
}

# begin_run KIND: a fresh $DIR for the run of $CASE (KIND plain or traced) with an empty work/.
begin_run() {
  KIND=$1
  DIR=$T/$CASE/$KIND
  rm -rf -- "$DIR"
  mkdir -p "$DIR/work"
  PROBLEMS=$DIR/problems
  : >"$PROBLEMS"
  : >"$DIR/compare.txt"
  cd "$DIR/work" || exit 2
  AWPFX=()
  if [[ $KIND == traced ]]; then
    mkdir -p "$DIR/rec"
    AWPFX=("$AW" run -o "$DIR/rec" --report "$DIR/report.txt" "${MODE_ARGS[@]}" --)
  fi
}

# section TITLE FILE [FILTER]: appends FILE (through the sed -E FILTER) to compare.txt.
section() {
  {
    echo "== $1"
    if [[ -n ${3:-} ]]; then sed -E "$3" "$2"; else cat -- "$2"; fi
  } >>"$DIR/compare.txt" 2>&1
}

# need PROG...: a program the case needs; returns 1 (case skipped) if one is not installed.
need() {
  local p
  for p in "$@"; do
    if ! command -v "$p" >/dev/null 2>&1; then
      SKIP_REASON="$p is not installed (tools/setup.sh installs it)"
      return 1
    fi
  done
}

port_in_use() {
  local hex
  hex=$(printf '%04X' "$1")
  grep -qE "^ *[0-9]+: [0-9A-F]+:$hex " /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
# free_port: a loopback TCP port nothing uses now.
free_port() {
  local p i
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + RANDOM % 40000))
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  return 1
}

# wait_until LIMIT PID WHAT CMD...: retries CMD every 0.2 s until it succeeds; fails (noted) when
# the server PID exits first or after LIMIT seconds (a hang: stacks are dumped, tree killed).
wait_until() {
  local limit=$1 pid=$2 what=$3 start=$SECONDS
  shift 3
  until "$@" >/dev/null 2>&1; do
    if has_exited "$pid"; then
      reap "$pid"
      AWAIT_RC=$?
      note "$CASE [$MODE, $KIND run]: $what: the server exited with status $AWAIT_RC before it was ready"
      return 1
    fi
    if ((SECONDS - start >= limit)); then
      hung "$pid" "$what: not ready after ${limit}s"
      return 1
    fi
    sleep 0.2
  done
}

# main_pid PID: the process that spawn's PID runs under `timeout` (the server itself, or
# allocwatch, which passes signals on to it): signals go to it alone, as a service manager
# would send them.
main_pid() {
  local t
  t=$(child_of "$1")
  [[ -z $t ]] || child_of "$t"
}

# client LIMIT NAME CMD...: runs a client command to completion: stdout in $DIR/NAME.out, stderr
# in $DIR/NAME.err; a non-zero status or a hang is noted. Returns 1 on failure.
client() {
  local limit=$1 name=$2
  shift 2
  run_fg "$limit" "$DIR/$name.out" "$DIR/$name.err" "client $name ($*)" "$@" || return 1
  if [[ $AWAIT_RC != 0 ]]; then
    note "$CASE [$MODE, $KIND run]: client $name exited with status $AWAIT_RC: $(head -c 600 "$DIR/$name.err")"
    return 1
  fi
}

# stop_server PID SIGNAL LIMIT: sends SIGNAL to the server run by `timeout` PID and waits for
# its exit status (in $DIR/rc).
stop_server() {
  local pid=$1 sig=$2 limit=$3 target
  target=$(main_pid "$pid")
  if [[ -n $target ]]; then kill -"$sig" "$target"; fi
  if await "$pid" "$limit" "the server's exit after SIG$sig"; then
    echo "$AWAIT_RC" >"$DIR/rc"
  else
    echo "hang" >"$DIR/rc"
  fi
}

# server_hung PID: after a hang of the server's start-up or of a client: the server's stacks
# (when its start-up hung they are dumped already), then the server is killed.
server_hung() {
  echo hang >"$DIR/rc"
  if ! has_exited "$1" && grep -q '^TIMEOUT: .*client' "$PROBLEMS"; then
    note "    the server, while its client hung:"
    dump_stacks "$1"
  fi
  kill_tree "$1"
}

# ===========================================================================
# The cases. prepare_CASE runs once (writes inputs; returns 1 with SKIP_REASON to skip),
# run_CASE runs once per run in $DIR and leaves compare.txt, rc and notes of problems.
# ===========================================================================

# ---------------------------------------------------------------------------
# javac and the JVM: a program with 4 worker threads churning HashMaps
# ---------------------------------------------------------------------------
write_java_source() {
  [[ -f $SRC/java/Churn.java ]] && return
  mkdir -p "$SRC/java"
  cat >"$SRC/java/Churn.java" <<'EOF'
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Four worker threads churn HashMaps of boxed keys and strings; prints a checksum. */
public class Churn {
  static final int THREADS = 4;
  static final int ROUNDS = 40;
  static final int OPS = 25000;

  static long work(int id) {
    HashMap<Integer, String> map = new HashMap<>();
    List<int[]> arrays = new ArrayList<>();
    long sum = id;
    int seed = 12345 + 7919 * id;
    for (int round = 0; round < ROUNDS; round++) {
      for (int i = 0; i < OPS; i++) {
        seed = seed * 1103515245 + 12345;
        int key = (seed >>> 8) % 20000;
        if ((seed & 3) == 0) {
          String old = map.remove(key);
          if (old != null) sum += old.length();
        } else {
          map.put(key, "v" + key + ":" + round + ":" + "x".repeat(key % 17));
        }
      }
      arrays.add(new int[1000 + round * 50]);
      if (arrays.size() > 8) arrays.remove(0);
      sum = sum * 31 + map.size();
    }
    for (Map.Entry<Integer, String> e : new TreeMap<>(map).entrySet()) {
      sum = sum * 31 + e.getKey() * 7L + e.getValue().hashCode();
    }
    return sum;
  }

  public static void main(String[] args) throws InterruptedException {
    long[] results = new long[THREADS];
    Thread[] threads = new Thread[THREADS];
    for (int t = 0; t < THREADS; t++) {
      final int id = t;
      threads[t] = new Thread(() -> results[id] = work(id), "churn-" + t);
      threads[t].start();
    }
    long checksum = 0;
    for (int t = 0; t < THREADS; t++) {
      threads[t].join();
      System.out.println("thread " + t + " " + Long.toHexString(results[t]));
      checksum = checksum * 1000003 + results[t];
    }
    System.out.println("checksum " + Long.toHexString(checksum));
  }
}
EOF
}

prepare_javac() {
  need javac java || return 1
  write_java_source
}

# javac compiles the program: its stdout (empty) and the class files must be the same.
run_javac() {
  cp -- "$SRC/java/Churn.java" "$DIR/work/"
  mkdir -p "$DIR/work/classes"
  run_fg "$(limit_of javac)" "$DIR/stdout" "$DIR/stderr" "javac" \
    "${AWPFX[@]}" javac -J-XX:-UsePerfData -d classes Churn.java
  echo "$AWAIT_RC" >"$DIR/rc"
  section "javac stdout" "$DIR/stdout"
  (cd "$DIR/work/classes" && sha256sum -- *.class) >"$DIR/classes.sha256" 2>&1
  section "class files (sha256)" "$DIR/classes.sha256"
}

prepare_jvm() {
  need javac java || return 1
  write_java_source
  mkdir -p "$SRC/java/classes"
  timeout -k 5 "$(limit_of jvm)" javac -J-XX:-UsePerfData -d "$SRC/java/classes" "$SRC/java/Churn.java" \
    >"$SRC/java/javac.log" 2>&1 </dev/null ||
    { SKIP_REASON=""; echo "javac failed: $(head -c 500 "$SRC/java/javac.log")"; return 2; }
}

# java runs it: its stdout (the per-thread results and the checksum) must be the same.
run_jvm() {
  run_fg "$(limit_of jvm)" "$DIR/stdout" "$DIR/stderr" "java" \
    "${AWPFX[@]}" java -XX:-UsePerfData -Xmx256m -cp "$SRC/java/classes" Churn
  echo "$AWAIT_RC" >"$DIR/rc"
  section "java stdout" "$DIR/stdout"
}

# ---------------------------------------------------------------------------
# Chromium headless dumping the DOM of a page that its script fills
# ---------------------------------------------------------------------------
prepare_chromium() {
  need chromium || return 1
  cat >"$SRC/page.html" <<'EOF'
<!doctype html>
<html><head><meta charset="utf-8"><title>allocwatch bigprog page</title></head>
<body><h1>computed</h1><pre id="out"></pre><ul id="list"></ul>
<script>
  const lines = [];
  const limit = 300000, sieve = new Uint8Array(limit + 1);
  let primes = 0, last = 0;
  for (let i = 2; i <= limit; i++) {
    if (sieve[i]) continue;
    primes++; last = i;
    for (let j = i * i; j <= limit; j += i) sieve[j] = 1;
  }
  lines.push(`primes up to ${limit}: ${primes}, last ${last}`);
  const m = new Map();
  for (let i = 0; i < 200000; i++) m.set('k' + (i * 7919) % 50021, 'v'.repeat(i % 13));
  let total = 0;
  for (const v of m.values()) total += v.length;
  lines.push(`map ${m.size} entries, ${total} chars`);
  const objs = [];
  for (let i = 0; i < 20000; i++) objs.push({ id: i, name: 'n' + ((i * 31) % 1000), tags: [i % 3, i % 5] });
  objs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id));
  const json = JSON.stringify(objs);
  lines.push(`json ${json.length} chars, first ${objs[0].name}/${objs[0].id}, last ${objs[objs.length - 1].name}`);
  document.getElementById('out').textContent = lines.join('\n');
  const list = document.getElementById('list');
  for (let i = 0; i < 300; i++) {
    const li = document.createElement('li');
    li.textContent = `item ${i}: ${(i * i) % 97}`;
    list.appendChild(li);
  }
  document.title = 'done';
</script></body></html>
EOF
}

# The dumped DOM (stdout) must be the same; Chromium's stderr (diagnostics with times and pids)
# is not compared.
run_chromium() {
  mkdir -p "$DIR/work/profile" "$DIR/work/home"
  # HOME and XDG directories in the work directory: nothing is left in the user's.
  run_fg "$(limit_of chromium)" "$DIR/stdout" "$DIR/stderr" "chromium --dump-dom" \
    env HOME="$DIR/work/home" XDG_CONFIG_HOME="$DIR/work/home/.config" \
    XDG_CACHE_HOME="$DIR/work/home/.cache" "${AWPFX[@]}" chromium --headless --no-sandbox \
    --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$DIR/work/profile" \
    --dump-dom "file://$SRC/page.html"
  echo "$AWAIT_RC" >"$DIR/rc"
  section "dumped DOM" "$DIR/stdout"
  grep -q 'primes up to 300000: 25997' "$DIR/stdout" ||
    note "$CASE [$MODE, $KIND run]: the dumped DOM lacks the text the page's script writes"
}

# ---------------------------------------------------------------------------
# rustc building a program linked with lld, then the program
# ---------------------------------------------------------------------------
prepare_rust() {
  need rustc readelf || return 1
  cat >"$SRC/main.rs" <<'EOF'
use std::collections::{BTreeMap, HashMap};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

trait Shape {
    fn area(&self) -> f64;
    fn name(&self) -> String;
}
struct Rect(f64, f64);
struct Circle(f64);
impl Shape for Rect {
    fn area(&self) -> f64 { self.0 * self.1 }
    fn name(&self) -> String { format!("rect {}x{}", self.0, self.1) }
}
impl Shape for Circle {
    fn area(&self) -> f64 { 3.0 * self.0 * self.0 }
    fn name(&self) -> String { format!("circle {}", self.0) }
}

fn churn(id: u64) -> (usize, u64) {
    let mut map: HashMap<u64, String> = HashMap::new();
    let mut seed = 12345 + id * 7919;
    let mut sum = 0u64;
    for round in 0..20u64 {
        for _ in 0..20000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let key = (seed >> 33) % 5000;
            if seed & 3 == 0 {
                if let Some(v) = map.remove(&key) { sum += v.len() as u64; }
            } else {
                map.insert(key, format!("{}:{}:{}", key, round, "x".repeat((key % 11) as usize)));
            }
        }
    }
    let sorted: BTreeMap<_, _> = map.into_iter().collect();
    for (k, v) in &sorted { sum = sum.wrapping_mul(31).wrapping_add(k ^ v.len() as u64); }
    (sorted.len(), sum)
}

fn main() {
    let (tx, rx) = mpsc::channel();
    let log = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..4u64).map(|id| {
        let tx = tx.clone();
        let log = Arc::clone(&log);
        thread::spawn(move || {
            let r = churn(id);
            log.lock().unwrap().push(id);
            tx.send((id, r)).unwrap();
        })
    }).collect();
    drop(tx);
    for h in handles { h.join().unwrap(); }
    let mut results: Vec<_> = rx.iter().collect();
    results.sort();
    for (id, (n, sum)) in &results { println!("worker {} entries {} sum {:016x}", id, n, sum); }
    println!("workers logged {}", log.lock().unwrap().len());
    let shapes: Vec<Box<dyn Shape>> = (1..=6)
        .map(|i| if i % 2 == 0 { Box::new(Rect(i as f64, 2.0)) as Box<dyn Shape> } else { Box::new(Circle(i as f64)) })
        .collect();
    let total: f64 = shapes.iter().map(|s| s.area()).sum();
    let names: Vec<String> = shapes.iter().map(|s| s.name()).collect();
    println!("shapes {} total area {}", names.join(", "), total);
}
EOF
}

# rustc -C link-arg=-fuse-ld=lld links with lld: the rust-lld of a rustup toolchain (its
# gcc-ld/ld.lld, which rustc puts first on cc's path) or the system's ld.lld (Debian's lld) with
# Debian's rustc. rustc's stdout, the binary (rustc and lld build reproducibly into the same
# path) and the built program's stdout must be the same. The program runs plainly: it is the
# build that is under test.
run_rust() {
  cp -- "$SRC/main.rs" "$DIR/work/"
  run_fg "$(limit_of rust)" "$DIR/stdout" "$DIR/stderr" "rustc" \
    "${AWPFX[@]}" rustc -O -C link-arg=-fuse-ld=lld -C codegen-units=4 -o prog main.rs
  echo "$AWAIT_RC" >"$DIR/rc"
  section "rustc stdout" "$DIR/stdout"
  [[ $AWAIT_RC == 0 ]] || return
  readelf -p .comment "$DIR/work/prog" >"$DIR/comment.txt" 2>&1
  grep -Eq 'Linker: (.* )?LLD' "$DIR/comment.txt" ||
    note "$CASE [$MODE, $KIND run]: the program was not linked by lld (.comment: $(tr -s ' \n' ' ' <"$DIR/comment.txt"))"
  sha256sum <"$DIR/work/prog" >"$DIR/prog.sha256"
  section "built program (sha256)" "$DIR/prog.sha256"
  if run_fg "$(limit_of rust)" "$DIR/prog.out" "$DIR/prog.err" "the built program" "$DIR/work/prog"; then
    [[ $AWAIT_RC == 0 ]] || note "$CASE [$MODE, $KIND run]: the built program exited with status $AWAIT_RC"
  fi
  section "built program stdout" "$DIR/prog.out"
}

# ---------------------------------------------------------------------------
# PostgreSQL loaded by pgbench, stopped by SIGINT (fast shutdown)
# ---------------------------------------------------------------------------
PGBIN="" PG_OWNER=() PG_USER=""
prepare_postgres() {
  local p
  p=$(command -v postgres 2>/dev/null) && PGBIN=$(dirname -- "$(realpath -- "$p")")
  if [[ -z $PGBIN ]]; then
    PGBIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  if [[ -z $PGBIN || ! -x $PGBIN/postgres ]]; then
    SKIP_REASON="postgres is not installed (tools/setup.sh installs it)"
    return 1
  fi
  local b
  for b in initdb pgbench pg_isready psql; do
    [[ -x $PGBIN/$b ]] || { SKIP_REASON="$PGBIN/$b is not installed (tools/setup.sh installs it)"; return 1; }
  done
  need setpriv || return 1
  # postgres refuses to run as root: as root, the server (and allocwatch above it) runs as the
  # `postgres` user of the Debian package, or a user made for this suite.
  PG_OWNER=()
  if [[ $(id -u) == 0 ]]; then
    PG_USER=postgres
    if ! id -u "$PG_USER" >/dev/null 2>&1; then
      PG_USER=allocwatch-bigprog
      id -u "$PG_USER" >/dev/null 2>&1 ||
        useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER" ||
        { echo "cannot create the user $PG_USER"; return 2; }
    fi
    PG_OWNER=(setpriv --reuid="$PG_USER" --regid="$(id -g "$PG_USER")" --init-groups --)
  else
    PG_USER=$(id -un)
  fi
  install -d -o "$PG_USER" "$T/postgres" || return 2
  timeout -k 5 "$(limit_of postgres)" "${PG_OWNER[@]}" "$PGBIN/initdb" -D "$T/postgres/template" -U bigprog --auth=trust -E UTF8 \
    --locale=C --no-sync >"$T/postgres/initdb.log" 2>&1 </dev/null ||
    { echo "initdb failed (status $?; 124: it did not finish within $(limit_of postgres)s): $(tail -c 800 "$T/postgres/initdb.log")"; return 2; }
}

# Compared: the server's stdout (it logs to stderr: empty), pgbench's stdout with the numbers
# that depend on timing normalised (transactions processed, latency, connection time, tps),
# the failed-transaction count (must be 0) and a consistency query. The server's log must end
# with its shutdown and name no crashed process.
PGBENCH_FILTER='s/^(number of transactions actually processed: )[0-9]+/\1N/;
  s/^(latency (average|stddev) = )[0-9.]+/\1N/; s/^(initial connection time = )[0-9.]+/\1N/;
  s/^(tps = )[0-9.]+/\1N/'
run_postgres() {
  local sock=$DIR/work/sock port=5432 pid
  cp -a -- "$T/postgres/template" "$DIR/work/data"
  mkdir -p "$sock"
  if [[ ${#PG_OWNER[@]} -gt 0 ]]; then
    chown -R "$PG_USER" "$DIR/work" "$DIR/rec" 2>/dev/null
    chown "$PG_USER" "$DIR"
  fi
  local limit
  limit=$(limit_of postgres)
  spawn pid "$limit" "$DIR/stdout" "$DIR/server.log" "${PG_OWNER[@]}" "${AWPFX[@]}" \
    "$PGBIN/postgres" -D "$DIR/work/data" -k "$sock" -p "$port" -c listen_addresses= \
    -c fsync=off -c max_connections=20
  local conn=(-h "$sock" -p "$port" -U bigprog)
  if wait_until "$limit" "$pid" "postgres start-up" "$PGBIN/pg_isready" -q "${conn[@]}" -d postgres &&
    client "$limit" pgbench-init "$PGBIN/pgbench" -i -q "${conn[@]}" postgres &&
    client "$limit" pgbench "$PGBIN/pgbench" -c 4 -j 2 -T 5 "${conn[@]}" postgres &&
    client "$limit" psql "$PGBIN/psql" -X -At "${conn[@]}" -d postgres -c \
      "select count(*), (select sum(abalance) from pgbench_accounts) = (select sum(delta) from pgbench_history),
              (select sum(bbalance) from pgbench_branches) = (select sum(delta) from pgbench_history)
       from pgbench_accounts"; then
    stop_server "$pid" INT "$limit"
  elif [[ $AWAIT_RC == 124 ]]; then
    server_hung "$pid"
  else
    stop_server "$pid" INT "$limit"
  fi
  section "server stdout" "$DIR/stdout"
  [[ -f $DIR/pgbench.out ]] && section "pgbench stdout" "$DIR/pgbench.out" "$PGBENCH_FILTER"
  [[ -f $DIR/psql.out ]] && section "accounts, balances consistent" "$DIR/psql.out"
  if grep -q '^number of transactions' "$DIR/pgbench.out" 2>/dev/null &&
    ! grep -q '^number of failed transactions: 0 ' "$DIR/pgbench.out"; then
    note "$CASE [$MODE, $KIND run]: pgbench reports failed transactions: $(grep -i 'fail' "$DIR/pgbench.out")"
  fi
  if grep -Eq 'PANIC|terminated by signal|was terminated' "$DIR/server.log"; then
    note "$CASE [$MODE, $KIND run]: the server log names a crash: $(grep -E 'PANIC|terminated' "$DIR/server.log" | head -n 3)"
  fi
  if [[ $(<"$DIR/rc") != hang ]] && ! grep -q 'database system is shut down' "$DIR/server.log"; then
    note "$CASE [$MODE, $KIND run]: the server log does not end with the shutdown: $(tail -n 3 "$DIR/server.log")"
  fi
}

# ---------------------------------------------------------------------------
# redis-server loaded by redis-benchmark, stopped by SIGTERM
# ---------------------------------------------------------------------------
prepare_redis() { need redis-server redis-benchmark redis-cli; }

# Compared: the server's log (stdout) with what changes from run to run normalised (the pid
# and timestamp starting each line, the pid and port in the banner, the signal
# handler's pid and time); redis-benchmark's results with their rates and latencies (the
# decimal figures) normalised; and the keys left (DBSIZE, GET of the SET test's key). The
# benchmark must print no error.
REDIS_LOG_FILTER='s/^[0-9]+:([A-Z]) [0-9]{2} [A-Za-z]{3} [0-9]{4} [0-9:.]+ /PID:\1 TIME /;
  s/^[0-9]+:signal-handler \([0-9]+\) /PID:signal-handler (TIME) /; s/pid=[0-9]+/pid=N/g;
  s/port=[0-9]+/port=PORT/g'
REDIS_BENCH_FILTER='s/.*\r//; s/[0-9]+\.[0-9]+/N/g'
run_redis() {
  local port pid limit
  limit=$(limit_of redis)
  port=$(free_port) || { note "no free port"; echo 1 >"$DIR/rc"; return; }
  spawn pid "$limit" "$DIR/stdout" "$DIR/stderr" "${AWPFX[@]}" redis-server --port "$port" \
    --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR/work" --daemonize no \
    --unixsocket '' --loglevel notice
  if wait_until "$limit" "$pid" "redis-server start-up" redis-cli -p "$port" ping &&
    client "$limit" benchmark redis-benchmark -p "$port" -q -n 50000 -P 16 -t set,get,lpush,lpop &&
    client "$limit" dbsize redis-cli -p "$port" dbsize &&
    client "$limit" get redis-cli -p "$port" get key:__rand_int__; then
    stop_server "$pid" TERM "$limit"
  elif [[ $AWAIT_RC == 124 ]]; then
    server_hung "$pid"
  else
    stop_server "$pid" TERM "$limit"
  fi
  section "server log (stdout)" "$DIR/stdout" "$REDIS_LOG_FILTER"
  [[ -f $DIR/benchmark.out ]] && section "redis-benchmark" "$DIR/benchmark.out" "$REDIS_BENCH_FILTER"
  [[ -f $DIR/dbsize.out ]] && section "dbsize" "$DIR/dbsize.out"
  [[ -f $DIR/get.out ]] && section "get key:__rand_int__" "$DIR/get.out"
  if grep -Eiq 'error|refused|reset' "$DIR/benchmark.out" "$DIR/benchmark.err" 2>/dev/null; then
    note "$CASE [$MODE, $KIND run]: redis-benchmark reports errors: $(grep -Ehi 'error|refused|reset' "$DIR/benchmark.out" "$DIR/benchmark.err" | head -n 3)"
  fi
}

# ---------------------------------------------------------------------------
# nginx loaded by wrk, stopped by SIGQUIT (graceful shutdown)
# ---------------------------------------------------------------------------
prepare_nginx() {
  need nginx wrk || return 1
  mkdir -p "$SRC/www"
  {
    echo '<!doctype html><html><body><pre>'
    for ((i = 0; i < 2000; i++)); do echo "line $i $((i * i % 1009))"; done
    echo '</pre></body></html>'
  } >"$SRC/www/index.html"
  head -c 300000 /dev/zero | tr '\0' 'a' >"$SRC/www/big.txt"
  # One modification time for both runs: it is in the Last-Modified and ETag headers.
  touch -d '2021-02-03 04:05:06' "$SRC/www/index.html" "$SRC/www/big.txt"
}

# fetch PORT PATH: one HTTP/1.0 GET on the loopback, the raw response on stdout.
fetch() {
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$2" >&3
  cat <&3
  exec 3<&-
}
export -f fetch

# Compared: the server's stdout (it logs to a file: empty), a page fetched after the load with
# its Date header normalised, and wrk's report with the port and the measured figures
# normalised (latencies, request rates, request and byte counts, and the spacing that aligns
# them); its threads and connections are kept. wrk must report no socket errors and no non-2xx
# responses, and nginx's error log no crashed worker.
WRK_FILTER='s/127\.0\.0\.1:[0-9]+/127.0.0.1:PORT/
  /^ +(Latency|Req\/Sec) /{ s/[0-9.]+[a-zA-Z%]*/N/g; s/ +/ /g; }
  s/^ +[0-9]+ requests in [0-9.]+[a-z]+, [0-9.]+[KMGT]?B read$/  N requests in T, N read/
  s/^(Requests|Transfer)\/sec: .*/\1\/sec: N/'
run_nginx() {
  local port pid limit prefix=$DIR/work/nginx
  limit=$(limit_of nginx)
  port=$(free_port) || { note "no free port"; echo 1 >"$DIR/rc"; return; }
  mkdir -p "$prefix/conf" "$prefix/logs" "$prefix/tmp"
  cat >"$prefix/conf/nginx.conf" <<EOF
worker_processes 2;
pid $prefix/logs/nginx.pid;
error_log $prefix/logs/error.log notice;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $prefix/tmp/body;
  proxy_temp_path $prefix/tmp/proxy;
  fastcgi_temp_path $prefix/tmp/fastcgi;
  uwsgi_temp_path $prefix/tmp/uwsgi;
  scgi_temp_path $prefix/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    root $SRC/www;
    location / { }
  }
}
EOF
  spawn pid "$limit" "$DIR/stdout" "$DIR/stderr" "${AWPFX[@]}" nginx -p "$prefix" \
    -e "$prefix/logs/error.log" -c "$prefix/conf/nginx.conf" -g 'daemon off;'
  if wait_until "$limit" "$pid" "nginx start-up" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" &&
    client "$limit" wrk wrk -t 2 -c 16 -d 4s "http://127.0.0.1:$port/index.html" &&
    client "$limit" wrk-big wrk -t 2 -c 8 -d 2s "http://127.0.0.1:$port/big.txt" &&
    client "$limit" fetch bash -c "fetch $port /index.html"; then
    stop_server "$pid" QUIT "$limit"
  elif [[ $AWAIT_RC == 124 ]]; then
    server_hung "$pid"
  else
    stop_server "$pid" QUIT "$limit"
  fi
  section "server stdout" "$DIR/stdout"
  [[ -f $DIR/fetch.out ]] && section "GET /index.html" "$DIR/fetch.out" 's/^Date: .*/Date: DATE/'
  local w
  for w in wrk wrk-big; do
    [[ -f $DIR/$w.out ]] || continue
    section "$w" "$DIR/$w.out" "$WRK_FILTER"
    if grep -Eq 'Socket errors|Non-2xx' "$DIR/$w.out"; then
      note "$CASE [$MODE, $KIND run]: $w reports errors: $(grep -E 'Socket errors|Non-2xx' "$DIR/$w.out")"
    fi
  done
  if grep -Eq 'exited on signal|\[(alert|emerg|crit)\]' "$prefix/logs/error.log" 2>/dev/null; then
    note "$CASE [$MODE, $KIND run]: nginx's error log: $(grep -E 'signal|alert|emerg|crit' "$prefix/logs/error.log" | head -n 3)"
  fi
  cp -- "$prefix/logs/error.log" "$DIR/error.log" 2>/dev/null
}

# ===========================================================================
# Driver
# ===========================================================================

# check_traced: what the allocwatch run must have produced besides the program's behaviour.
check_traced() {
  local n
  n=$(find "$DIR/rec" -type f -name '*.awtrace' 2>/dev/null | wc -l)
  [[ $n -ge 1 ]] || note "$CASE [$MODE]: no *.awtrace recording in the -o directory"
  [[ -s $DIR/report.txt ]] || note "$CASE [$MODE]: the --report file is missing or empty"
  if [[ $n -ge 1 ]]; then
    if run_fg "$(limit_of report)" "$DIR/report-again.txt" "$DIR/report-again.err" "allocwatch report DIR" \
      "$AW" report "$DIR/rec"; then
      [[ $AWAIT_RC == 0 ]] || note "$CASE [$MODE]: \`allocwatch report DIR\` exited with status $AWAIT_RC: $(head -c 400 "$DIR/report-again.err")"
    fi
    echo "$n" >"$DIR/recordings"
  fi
}

# run_case NAME: prepare, plain run, traced run, comparison; prints PASS/FAIL/SKIP.
run_case() {
  CASE=$1
  local start=$SECONDS rc=0 problems=() line
  mkdir -p "$T/$CASE"
  SKIP_REASON=""
  cd "$T" || exit 2
  "prepare_$CASE" >"$T/$CASE/prepare.log" 2>&1 || rc=$?
  if [[ $rc == 1 ]]; then
    echo "SKIP  $CASE ($SKIP_REASON)"
    SKIPPED=$((SKIPPED + 1))
    return
  elif [[ $rc != 0 ]]; then
    echo "FAIL  $CASE [$MODE]: could not prepare the case: $(head -c 1000 "$T/$CASE/prepare.log")"
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$CASE")
    return
  fi

  local kinds=(plain traced)
  [[ $MODE == plain-check ]] && kinds=(plain)
  local kind
  for kind in "${kinds[@]}"; do
    begin_run "$kind"
    "run_$CASE"
    [[ -s $DIR/rc ]] || echo "none" >"$DIR/rc"
    if [[ $kind == traced ]]; then check_traced; fi
    echo "$((SECONDS - start))" >"$DIR/seconds"
    cd "$T" || exit 2
    rm -rf -- "$DIR/work"
    while IFS= read -r line; do problems+=("$line"); done <"$PROBLEMS"
  done

  local p=$T/$CASE/plain t=$T/$CASE/traced prc
  prc=$(<"$p/rc")
  if [[ $prc != 0 ]]; then
    problems+=("$CASE: the plain run did not end with status 0 but $prc (broken case or environment): $(tail -c 600 "$p/stderr" 2>/dev/null)")
  fi
  if [[ $MODE != plain-check ]]; then
    local trc
    trc=$(<"$t/rc")
    if [[ $trc != "$prc" ]]; then
      problems+=("$CASE [$MODE]: exit status differs: plain $prc, allocwatch run $trc")
      # What the program said about it: its fatal messages, else the end of its stderr.
      local said
      said=$(grep -aE 'FATAL|[Ff]atal|panicked|[Aa]bort|Segmentation|error:' "$t/stderr" 2>/dev/null | tail -n 5)
      [[ -n $said ]] || said=$(tail -n 5 "$t/stderr" 2>/dev/null)
      [[ -z $said ]] || problems+=("  its stderr (of the allocwatch run):" "$(cut -c1-200 <<<"$said" | sed 's/^/      /')")
    fi
    if ! cmp -s -- "$p/compare.txt" "$t/compare.txt"; then
      problems+=("$CASE [$MODE]: output differs from the plain run (normalised as the case says):")
      problems+=("$(diff -a -u --label plain --label "allocwatch run" -- "$p/compare.txt" "$t/compare.txt" |
        head -n 40 | cut -c1-200 | cat -v | sed 's/^/      /')")
    fi
  fi

  local secs=$((SECONDS - start))
  TIMES+=("$CASE ${secs}s")
  if [[ ${#problems[@]} -eq 0 ]]; then
    local extra=""
    [[ -f $t/recordings ]] && extra=", $(<"$t/recordings") recordings"
    echo "PASS  $CASE [$MODE] (${secs}s$extra)"
    PASSED=$((PASSED + 1))
  else
    echo "FAIL  $CASE [$MODE] (${secs}s)"
    local line
    for line in "${problems[@]}"; do printf '    %s\n' "$line"; done
    echo "    (outputs in $T/$CASE)"
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$CASE")
  fi
}

if [[ $MODE == plain-check ]]; then
  echo "allocwatch bigprog: plain runs only"
else
  echo "allocwatch bigprog: mode $MODE, $AW"
fi
suite_start=$SECONDS
for c in "${CASES[@]}"; do run_case "$c"; done
echo "times: ${TIMES[*]:-none}"
echo "summary: $PASSED passed, $FAILED failed, $SKIPPED skipped ($((SECONDS - suite_start))s, mode $MODE)"
if [[ $FAILED -ne 0 ]]; then
  echo "failed: ${FAILED_NAMES[*]}"
  exit 1
fi
if [[ $PASSED -eq 0 ]]; then exit 77; fi
exit 0
