#!/usr/bin/env bash
# tests/bench/attach.sh [ROUNDS]: what allocwatch attach costs a server under load. nginx (one
# worker process, serving a 4 KiB file) is loaded by wrk (2 threads, 20 connections); in each
# round and for each mode (default, exact):
#   before  wrk for 6 s, nothing attached
#   during  wrk for 8 s; after 1 s `allocwatch attach WORKER --duration 6` (recording, then the
#           detach at its end)
#   after   wrk for 6 s, the library still loaded but detached
# Prints each phase's requests/s and wrk's maximum latency, the ratios of during and after to
# before, and how long attach held the borrowed thread (its own figure). Needs nginx and wrk
# (tools/setup.sh installs them). Not run by ctest.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
AW=$PWD/build/bin/allocwatch
[ -x "$AW" ] || { echo "build first: tools/setup.sh"; exit 2; }
for tool in nginx wrk; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (tools/setup.sh installs it)"; exit 2; }
done
T=$(mktemp -d)
chmod 755 "$T"
PORT=$((20000 + RANDOM % 20000))
NGINX=
stop() {
  [ -n "$NGINX" ] && kill -QUIT "$NGINX" 2>/dev/null && wait "$NGINX" 2>/dev/null
  NGINX=
}
trap 'stop; rm -rf "$T"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$T/html" "$T/logs" "$T/tmp" "$T/rec"
chmod 777 "$T/rec"
head -c 4096 /dev/urandom >"$T/html/page"
cat >"$T/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $T/nginx.pid;
error_log $T/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $T/tmp;
  proxy_temp_path $T/tmp;
  fastcgi_temp_path $T/tmp;
  uwsgi_temp_path $T/tmp;
  scgi_temp_path $T/tmp;
  server { listen 127.0.0.1:$PORT; root $T/html; }
}
EOF
nginx -c "$T/nginx.conf" -p "$T" 2>"$T/logs/start.log" &
NGINX=$!
for _ in $(seq 100); do
  WORKER=$(pgrep -P "$NGINX" | head -1)
  [ -n "$WORKER" ] && curl -sf "http://127.0.0.1:$PORT/page" -o /dev/null && break
  sleep 0.05
done
[ -n "${WORKER:-}" ] || { echo "nginx did not start:"; cat "$T/logs/start.log" "$T/logs/error.log"; exit 1; }

# load SECONDS: runs wrk; prints "REQUESTS_PER_S MAX_LATENCY_MS ERRORS".
load() {
  wrk -t2 -c20 -d"$1"s "http://127.0.0.1:$PORT/page" >"$T/wrk.log" 2>&1
  awk '
    /Requests\/sec/ { rps = $2 }
    /^ +Latency/ { max = $4; if (max ~ /us$/) max = max / 1000; else if (max ~ /ms$/) max = max + 0;
                   else if (max ~ /s$/) max = max * 1000 }
    /Non-2xx|Socket errors/ { errors = errors $0 " " }
    END { printf "%s %s %s\n", rps, max, (errors == "" ? "none" : "yes") }' "$T/wrk.log"
}

printf "%-5s %-8s %-8s %12s %10s %8s %9s\n" round mode phase "requests/s" "max ms" "x before" "held ms"
for round in $(seq "$ROUNDS"); do
  for mode in default exact; do
    flag=()
    [ "$mode" = exact ] && flag=(--exact)
    read -r before before_max errors < <(load 6)
    printf "%-5s %-8s %-8s %12.0f %10.1f %8s %9s\n" "$round" "$mode" before "$before" "$before_max" 1.000 ""
    ( sleep 1; "$AW" attach "$WORKER" "${flag[@]}" -o "$T/rec" --duration 6 --no-report \
        >"$T/attach.log" 2>&1 ) &
    ATTACH=$!
    read -r during during_max errors < <(load 8)
    wait "$ATTACH"
    held=$(sed -n 's/.*was held for \([0-9.]*\) ms.*/\1/p' "$T/attach.log")
    [ -n "$held" ] || { echo "attach failed:"; cat "$T/attach.log"; exit 1; }
    printf "%-5s %-8s %-8s %12.0f %10.1f %8.3f %9.1f\n" "$round" "$mode" during "$during" \
      "$during_max" "$(echo "$during / $before" | bc -l)" "$held"
    read -r after after_max errors < <(load 6)
    printf "%-5s %-8s %-8s %12.0f %10.1f %8.3f %9s\n" "$round" "$mode" after "$after" "$after_max" \
      "$(echo "$after / $before" | bc -l)" ""
    [ "$errors" = none ] || echo "wrk reported errors after the detach: $(cat "$T/wrk.log")"
  done
done
curl -sf "http://127.0.0.1:$PORT/page" -o "$T/check" && cmp -s "$T/check" "$T/html/page" &&
  echo "nginx still serves the page unchanged after $((ROUNDS * 2)) attach/detach cycles"
