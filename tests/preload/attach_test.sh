#!/usr/bin/env bash
# tests/preload/attach_test.sh: allocwatch attach and detach on running programs.
#
# attach_target (programs/attach_target.c: worker threads that allocate, fill, check and free
# blocks without pause, and a main thread that leaks N blocks of 4000 bytes at leak_site on
# command) is driven through a FIFO:
#   - exact mode: blocks leaked before the attach, during it and after the detach; the recording
#     holds exactly the 10 blocks of the window (40000 bytes at leak_site), ends by detach, and
#     the program's output and exit status are those of a run without attach;
#   - three attach/detach cycles in a row, each its own recording with exactly its blocks;
#   - sampled mode, in the foreground with --duration and the report: leak_site is named;
#   - refusals, each with its message, the program unaffected: ptrace not allowed (a
#     non-dumpable process of the same user), another tracer (strace), a process recorded by
#     allocwatch run already, a statically linked program, a program with its own malloc.
#
# Usage: attach_test.sh ALLOCWATCH ATTACH_TARGET STATIC_SLEEPER OWN_ALLOCATOR. Exit 0 pass, 1 fail.
set -uo pipefail
AW=$1
TARGET=$2
STATIC=$3
OWN=$4
WORK=$(mktemp -d)
chmod 755 "$WORK"
fail=0
check() {  # check DESCRIPTION COMMAND...
  if "${@:2}"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
PIDS=()
cleanup() {
  exec 3>&- 2>/dev/null
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# start NAME [args]: attach_target reading commands from $WORK/NAME.in (fd 3), writing
# $WORK/NAME.out; sets TPID.
start() {
  local name=$1
  shift
  mkfifo "$WORK/$name.in"
  ( "$@" <"$WORK/$name.in" >"$WORK/$name.out" 2>"$WORK/$name.err"; echo "exit $?" >>"$WORK/$name.out" ) &
  PIDS+=($!)
  exec 3>"$WORK/$name.in"
  for _ in $(seq 100); do
    TPID=$(pgrep -n -f "^$1( |$)") && break
    sleep 0.05
  done
  PIDS+=("$TPID")
}
# say LINE REPLY: sends a command, waits for the program's reply line.
say() {
  echo "$1" >&3
  for _ in $(seq 200); do
    grep -qx "$2" "$CURRENT_OUT" 2>/dev/null && return 0
    sleep 0.02
  done
  echo "no reply '$2' to '$1'"
  return 1
}
finish() {  # quit and wait for the exit line
  echo quit >&3
  exec 3>&-
  for _ in $(seq 200); do
    grep -q '^exit ' "$CURRENT_OUT" && return 0
    sleep 0.02
  done
}
json_leak() {  # json_leak RECORDING FIELD: leak_site's figure in the JSON report
  "$AW" report --format json "$1" 2>/dev/null | python3 -c '
import json, sys
p = json.load(sys.stdin)["processes"][0]
for l in p["leaks"]:
    if any(f.get("function") == "leak_site" for f in l["frames"]):
        print(l[sys.argv[1]]); break
else:
    print("none")' "$2"
}
json_field() {  # json_field RECORDING EXPR (over p, the first process)
  "$AW" report --format json "$1" 2>/dev/null |
    python3 -c 'import json, sys; p = json.load(sys.stdin)["processes"][0]; print(eval(sys.argv[1]))' "$2"
}
EXPECTED=$'leaked 5\nleaked 10\nchecked alive\nleaked 3\nchecked alive\nbye 18\nexit 7'

# The program's output without allocwatch.
CURRENT_OUT=$WORK/plain.out
start plain "$TARGET" 4
say "leak 5" "leaked 5" && say "leak 10" "leaked 10" && say check "checked .*" &&
  say "leak 3" "leaked 3" && say check "checked .*"
finish
check "plain run prints what the test expects" test "$(cat "$WORK/plain.out")" = "$EXPECTED"

# Exact mode: attached for the middle phase only.
mkdir "$WORK/exact"
CURRENT_OUT=$WORK/exact.out
start exact "$TARGET" 4
say "leak 5" "leaked 5"
"$AW" attach "$TPID" --exact -o "$WORK/exact" --no-wait >"$WORK/attach.log" 2>&1
check "attach --exact succeeds" test $? -eq 0
check "attach says how long the thread was held" grep -q "was held for" "$WORK/attach.log"
say "leak 10" "leaked 10" && say check "checked .*"
"$AW" detach "$TPID" >"$WORK/detach.log" 2>&1
check "detach succeeds" test $? -eq 0
say "leak 3" "leaked 3" && say check "checked .*"
finish
check "output and exit status as without attach" test "$(cat "$WORK/exact.out")" = "$EXPECTED"
REC=$(ls "$WORK"/exact/*.awtrace)
check "exact: leak_site holds exactly the window's 40000 bytes" test "$(json_leak "$REC" live_bytes)" = 40000
check "exact: in exactly 10 blocks" test "$(json_leak "$REC" live_count)" = 10
check "the recording ends by detach" test "$(json_field "$REC" 'p["end"]["how"]')" = detach
check "the recording says it was attached" test "$(json_field "$REC" 'p["process"]["attached"]')" = True
"$AW" report "$REC" >"$WORK/exact.txt" 2>&1
check "the text report says attached and detached" grep -q "ended by allocwatch detach" "$WORK/exact.txt"

# Three attach/detach cycles in a row.
mkdir "$WORK/cycles"
CURRENT_OUT=$WORK/cycles.out
start cycles "$TARGET" 3
for n in 1 2 3; do
  "$AW" attach "$TPID" --exact -o "$WORK/cycles" --no-wait >/dev/null 2>&1 ||
    { echo "attach $n failed"; fail=1; }
  say "leak $((n * 4))" "leaked $((n * 4))"
  "$AW" detach "$TPID" >/dev/null 2>&1 || { echo "detach $n failed"; fail=1; }
  say check "checked alive" || fail=1
done
finish
check "cycles: the program ends as it would" grep -qx "exit 7" "$WORK/cycles.out"
mapfile -t RECS < <(ls -tr "$WORK"/cycles/*.awtrace)
check "cycles: three recordings" test "${#RECS[@]}" -eq 3
for n in 1 2 3; do
  check "cycle $n: exactly its $((n * 4)) blocks" \
    test "$(json_leak "${RECS[$((n - 1))]}" live_count)" = $((n * 4))
done

# Sampled mode, in the foreground with --duration, and its report.
mkdir "$WORK/sampled"
CURRENT_OUT=$WORK/sampled.out
start sampled "$TARGET" 2
"$AW" attach "$TPID" -o "$WORK/sampled" --duration 2 >"$WORK/sampled.report" 2>"$WORK/sampled.log" &
ATTACH=$!
for _ in $(seq 200); do
  grep -q "recording process" "$WORK/sampled.log" && break
  sleep 0.02
done
# 16 MB at the default 512 KiB mean period: about 31 samples (with 400 blocks, 3: none in
# about one run of 20).
say "leak 4000" "leaked 4000"
wait "$ATTACH"
check "sampled attach --duration exits 0" test $? -eq 0
check "sampled: the report names leak_site" grep -q "at leak_site" "$WORK/sampled.report"
check "sampled: the report says detach" grep -q "ended by allocwatch detach" "$WORK/sampled.report"
say check "checked alive"
check "sampled: the program goes on after the detach" test $? -eq 0
finish
check "sampled: exit 7" grep -qx "exit 7" "$WORK/sampled.out"

# Refused: ptrace not allowed (non-dumpable, same user, not root).
chmod 777 "$WORK"
CURRENT_OUT=$WORK/undumpable.out
# (As root, both run as nobody: root may trace anything.)
AS_USER=()
[ "$(id -u)" -eq 0 ] && AS_USER=(setpriv --reuid=65534 --regid=65534 --clear-groups)
start undumpable "${AS_USER[@]}" "$TARGET" 1 undumpable
TPID=$(pgrep -n -f "^$TARGET 1 undumpable")
"${AS_USER[@]}" "$AW" attach "$TPID" --no-wait -o "$WORK" >"$WORK/refused.log" 2>&1
check "ptrace not allowed: refused" test $? -ne 0
check "ptrace not allowed: says so" grep -q "no permission" "$WORK/refused.log"
say check "checked alive"
check "ptrace not allowed: the program is unaffected" test $? -eq 0
finish

# Refused: traced by another process.
if command -v strace >/dev/null; then
  CURRENT_OUT=$WORK/traced.out
  start traced "$TARGET" 1
  strace -o /dev/null -p "$TPID" 2>/dev/null &
  STRACE=$!
  for _ in $(seq 100); do
    grep -q "^TracerPid:[[:space:]]*[1-9]" "/proc/$TPID/status" && break
    sleep 0.05
  done
  "$AW" attach "$TPID" --no-wait -o "$WORK" >"$WORK/traced.log" 2>&1
  check "another tracer: refused" test $? -ne 0
  check "another tracer: says so" grep -q "traced already" "$WORK/traced.log"
  kill "$STRACE"
  wait "$STRACE" 2>/dev/null
  say check "checked alive"
  check "another tracer: the program is unaffected" test $? -eq 0
  finish
else
  echo "FAIL strace is not installed (tools/setup.sh installs it)"
  fail=1
fi

# Refused: recorded by allocwatch run already.
mkdir "$WORK/run"
CURRENT_OUT=$WORK/recorded.out
start recorded "$AW" run -o "$WORK/run" --no-report -- "$TARGET" 1
for _ in $(seq 100); do
  TPID=$(pgrep -n -f "^$TARGET 1$") && grep -q awtail "/proc/$TPID/maps" && break
  sleep 0.05
done
"$AW" attach "$TPID" --no-wait -o "$WORK" >"$WORK/recorded.log" 2>&1
check "recorded already: refused" test $? -ne 0
check "recorded already: points to allocwatch ctl" grep -q "allocwatch ctl" "$WORK/recorded.log"
finish

# refused_while_running NAME MESSAGE COMMAND...: a program started in the background is refused
# with MESSAGE, and then ends with status 0 as it would without the attempt.
refused_while_running() {
  local name=$1 message=$2
  shift 2
  "$@" >"$WORK/$name.out" &
  local pid=$!
  PIDS+=($pid)
  sleep 0.15
  "$AW" attach "$pid" --no-wait -o "$WORK" >"$WORK/$name.log" 2>&1
  check "$name: refused" test $? -ne 0
  check "$name: says why" grep -q "$message" "$WORK/$name.log"
  wait "$pid"
  check "$name: the program ends as it would" test $? -eq 0
}

# Refused: statically linked.
refused_while_running static "statically linked" "$STATIC" 3
check "static: its output is unchanged" test "$(cat "$WORK/static.out")" = slept
# Refused: the program's malloc is its own.
refused_while_running own "not the C library's" "$OWN"

exit $fail
