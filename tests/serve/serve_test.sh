#!/usr/bin/env bash
# tests/serve/serve_test.sh: `allocwatch serve` with real clients. A recorded program that keeps
# growing (tests/preload/programs/grow_release.c) is served live; `go tool pprof` fetches its heap
# profile twice (the growing site must be listed and have grown), a delta profile over 2 s (only
# what was allocated in it), wrk sends 200 concurrent connections for 3 s (all answered, the
# server's memory bounded), and a bad pid, a malformed pid, an unknown path, a malformed request
# and a damaged recording each get a clear HTTP error while the server goes on.
#
# Usage: serve_test.sh ALLOCWATCH GROW_RELEASE. Exit 0 pass, 1 fail, 77 skipped (no go or wrk).
set -uo pipefail
AW=$1
PROG=$2
for tool in go wrk curl; do
  command -v "$tool" >/dev/null || { echo "skip: $tool is not installed (tools/setup.sh installs it)"; exit 77; }
done
WORK=$(mktemp -d)
export PPROF_TMPDIR=$WORK HOME=$WORK
PORT=$((20000 + RANDOM % 20000))
BASE=http://127.0.0.1:$PORT/debug/pprof
fail=0
check() {  # check DESCRIPTION COMMAND...
  if "${@:2}"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
cleanup() {
  [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null
  [ -n "${RUN:-}" ] && kill "$RUN" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir "$WORK/rec"
"$AW" run -o "$WORK/rec" --no-report -- "$PROG" 14 1 >"$WORK/prog.out" 2>&1 &
RUN=$!
"$AW" serve --listen "127.0.0.1:$PORT" "$WORK/rec" 2>"$WORK/serve.err" &
SERVER=$!
for _ in $(seq 100); do
  curl -sf "$BASE/" -o "$WORK/index.html" && grep -q "<td>running</td>" "$WORK/index.html" && break
  sleep 0.1
done
PID=$(ls "$WORK/rec" | sed -n 's/^grow_release\.\([0-9]*\)\.awtrace$/\1/p' | head -1)
check "the index lists the running process" grep -q "<td>$PID</td>.*<td>running</td>" "$WORK/index.html"

# grow_site's bytes in a `go tool pprof -top` listing of URL with SAMPLE_INDEX.
site_bytes() {
  go tool pprof -top -unit=byte -sample_index="$2" "$1" 2>"$WORK/pprof.err" |
    awk '$NF == "grow_site" { v = $1; sub(/B$/, "", v); print v; found = 1 } END { if (!found) print 0 }'
}
total_bytes() {
  go tool pprof -top -unit=byte -sample_index="$2" "$1" 2>/dev/null |
    sed -n 's/.*Total samples = \([0-9.]*\)B.*/\1/p'
}
# The first profile that lists grow_site, within 10 s (on a machine loaded by other tests the
# program's first second of growth may not be in the recording yet after one second).
first=0
for _ in $(seq 20); do
  sleep 0.5
  first=$(site_bytes "$BASE/heap?pid=$PID" inuse_space)
  [ "$first" -gt 0 ] && break
done
[ "$first" -gt 0 ] || sed 's/^/     pprof: /' "$WORK/pprof.err"
sleep 3
second=$(site_bytes "$BASE/heap?pid=$PID" inuse_space)
echo "     grow_site in use: $first B, then $second B"
check "go tool pprof lists grow_site" test "$first" -gt 0
check "grow_site grew between the two fetches" test "$second" -gt "$first"

# The delta over 2 s against the whole profile before and after it (which span its 2 s and the
# time of the fetches around them): the program allocates at a steady rate.
before=$(total_bytes "$BASE/allocs?pid=$PID" alloc_space)
delta=$(total_bytes "$BASE/allocs?pid=$PID&seconds=2" alloc_space)
after=$(total_bytes "$BASE/allocs?pid=$PID" alloc_space)
echo "     allocated: $before B, then $delta B in the 2 s window, then $after B in all"
check "the delta profile holds what was allocated in its 2 s, not before" \
  awk -v b="${before:-0}" -v d="${delta:-0}" -v a="${after:-0}" \
  'BEGIN { exit !(d > 0 && d >= 0.5 * (a - b) && d <= 1.05 * (a - b)) }'

rss_before=$(awk '/VmRSS/ { print $2 }' "/proc/$SERVER/status")
wrk -t2 -c200 -d3s "$BASE/heap?pid=$PID" >"$WORK/wrk.out" 2>&1
rss_after=$(awk '/VmRSS/ { print $2 }' "/proc/$SERVER/status")
sed -n '/requests in/p;/Non-2xx/p;/Socket errors/p' "$WORK/wrk.out" | sed 's/^/     /'
echo "     server RSS $rss_before KiB before, $rss_after KiB after"
requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$WORK/wrk.out")
check "wrk: 200 connections answered" test "${requests:-0}" -ge 200
check "wrk: no error response" bash -c "! grep -q 'Non-2xx' '$WORK/wrk.out'"
check "wrk: no timeout or socket error" bash -c "! grep -q 'Socket errors' '$WORK/wrk.out'"
check "the server's memory stays bounded" test "$rss_after" -lt $((rss_before + 65536))

status() { curl -s -o "$WORK/body" -w '%{http_code}' "$1"; }
check "an unknown pid is 404" test "$(status "$BASE/heap?pid=999999")" = 404
check "a malformed pid is 400" test "$(status "$BASE/heap?pid=12ab")" = 400
check "a bad seconds is 400" test "$(status "$BASE/heap?seconds=-1")" = 400
check "an unknown path is 404" test "$(status "$BASE/goroutine")" = 404
reply=$(exec 3<>"/dev/tcp/127.0.0.1/$PORT"; printf 'NOT HTTP AT ALL\r\n\r\n' >&3; head -c 12 <&3)
check "a malformed request is 400" test "$reply" = "HTTP/1.1 400"
head -c 4096 /dev/urandom >"$WORK/rec/broken.4242.awtrace"
sleep 2
check "a damaged recording is listed as unreadable" grep -q "unreadable" <(curl -s "$BASE/")
code=$(status "$BASE/heap?pid=4242")
check "a damaged recording's profile is 422 with the reason" \
  bash -c "test $code = 422 && grep -q 'cannot be read' '$WORK/body'"
check "the server still answers" test "$(status "$BASE/heap?pid=$PID")" = 200

kill -TERM "$SERVER"
wait "$SERVER"
check "SIGTERM stops the server with status 0" test $? -eq 0
SERVER=
exit $fail
