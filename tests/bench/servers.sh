#!/usr/bin/env bash
# tests/bench/servers.sh [ROUNDS] [redis|postgres...]: real servers loaded by their own benchmark
# clients, run plainly, under `allocwatch run --no-report` in default and --exact mode, and
# under heaptrack, the configurations alternating within each round (ROUNDS, default 3). Prints
# each configuration's median throughput and its ratio to the plain run's:
#   redis-server under redis-benchmark -P 16 (SET, GET, LPUSH, LPOP; requests/s each)
#   PostgreSQL under pgbench -c 4 -j 2 -T 8 (transactions/s)
# The client runs plainly on the same machine: on 2 cores the server and its client share them,
# as they would on a small host. Needs redis-server, redis-benchmark, PostgreSQL's binaries and
# heaptrack (tools/setup.sh installs them); a missing one skips its part. Not run by ctest.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
shift || true
SERVERS=("$@")
[ ${#SERVERS[@]} -eq 0 ] && SERVERS=(redis postgres)
AW=$PWD/build/bin/allocwatch
[ -x "$AW" ] || { echo "build first: tools/setup.sh"; exit 2; }
T=$(mktemp -d)
PG_SERVER=
trap 'postgres_stop; rm -rf "$T"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
CONFIGS=(plain default exact heaptrack)
command -v heaptrack >/dev/null || CONFIGS=(plain default exact)

# The command prefix of a configuration; recordings go to a fresh directory under $T.
prefix() {
  local dir=$T/rec.$RANDOM$RANDOM
  mkdir -p "$dir" && chmod 777 "$dir"
  case $1 in
    plain) PREFIX=() ;;
    default) PREFIX=("$AW" run --no-report -o "$dir" --) ;;
    exact) PREFIX=("$AW" run --no-report --exact -o "$dir" --) ;;
    heaptrack) PREFIX=(heaptrack -o "$dir/heaptrack") ;;
  esac
}

wait_for() {  # wait_for SECONDS COMMAND...
  local end=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $end ] && return 1
    sleep 0.1
  done
}

# ---- redis --------------------------------------------------------------------------------
redis_run() {  # redis_run CONFIG: prints "TEST rps" lines
  local port=$((30000 + RANDOM % 20000))
  prefix "$1"
  "${PREFIX[@]}" redis-server --port "$port" --save '' --appendonly no >"$T/redis.log" 2>&1 &
  local server=$!
  wait_for 30 redis-cli -p "$port" ping || { echo "redis did not start" >&2; kill $server; return 1; }
  redis-benchmark -p "$port" -q -n 300000 -P 16 -t set,get,lpush,lpop --csv 2>/dev/null |
    awk -F'","' 'NR > 1 { gsub(/"/, "", $1); gsub(/"/, "", $2); print $1, $2 }'
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1
  wait $server
}

# ---- PostgreSQL ---------------------------------------------------------------------------
PGBIN=$(printf '%s\n' /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
postgres_setup() {
  [ -x "$PGBIN/postgres" ] && [ -x "$PGBIN/pgbench" ] || return 1
  PG_OWNER=()
  if [ "$(id -u)" = 0 ]; then
    PG_USER=postgres
    id -u "$PG_USER" >/dev/null 2>&1 || return 1
    PG_OWNER=(setpriv --reuid="$PG_USER" --regid="$(id -g "$PG_USER")" --init-groups --)
    chown "$PG_USER" "$T"
  fi
  "${PG_OWNER[@]}" "$PGBIN/initdb" -D "$T/pg-template" -U bench --auth=trust -E UTF8 --locale=C \
    --no-sync >"$T/initdb.log" 2>&1
}
postgres_run() {  # postgres_run CONFIG: prints "TPS tps"
  local data=$T/pg.$RANDOM sock=$T/sock.$RANDOM port=5432 tps
  "${PG_OWNER[@]}" cp -a "$T/pg-template" "$data"
  "${PG_OWNER[@]}" mkdir -p "$sock"
  prefix "$1"
  "${PG_OWNER[@]}" "${PREFIX[@]}" "$PGBIN/postgres" -D "$data" -k "$sock" -p $port \
    -c listen_addresses='' -c fsync=off >"$T/pg.log" 2>&1 &
  PG_SERVER=$! PG_DATA=$data PG_CONFIG=$1
  if ! wait_for 60 "$PGBIN/pg_isready" -h "$sock" -p $port -U bench; then
    echo "postgres ($1) did not start:" >&2
    tail -n 5 "$T/pg.log" >&2
    postgres_stop
    return 1
  fi
  timeout 120 "$PGBIN/pgbench" -h "$sock" -p $port -U bench -i -q postgres >"$T/pgbench.log" 2>&1
  tps=$(timeout 120 "$PGBIN/pgbench" -h "$sock" -p $port -U bench -c 4 -j 2 -T 8 postgres 2>>"$T/pgbench.log" |
    awk '/^tps = / { print $3 }')
  if [ -n "$tps" ]; then
    echo "TPS $tps"
  else
    echo "postgres ($1): no tps line from pgbench:" >&2
    tail -n 5 "$T/pgbench.log" >&2
  fi
  postgres_stop
  rm -rf "$data"
}
# Stops the server of postgres_run: SIGINT (fast shutdown) to the postmaster itself (the first
# line of postmaster.pid), not to the process started in the background. Under heaptrack that
# process is heaptrack's shell script, which, as a job started with & by this non-interactive
# shell, ignores SIGINT and cannot undo it: the signal was lost there and the wait for the server
# never returned. Under heaptrack a postgres child can also hang in its exit (in heaptrack_stop,
# on a mutex its fork copied locked), and the postmaster waits for its children: after 20 s the
# server's processes (those whose working directory is the data directory) are killed.
postgres_stop() {
  [ -n "$PG_SERVER" ] || return 0
  local pid p data end=$((SECONDS + 20))
  pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null)
  if [ -n "$pid" ]; then kill -INT "$pid" 2>/dev/null; else kill -TERM "$PG_SERVER" 2>/dev/null; fi
  while kill -0 "$PG_SERVER" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
  if kill -0 "$PG_SERVER" 2>/dev/null; then
    echo "postgres ($PG_CONFIG) did not stop within 20 s: its processes killed" >&2
    data=$(readlink -f "$PG_DATA")
    for p in /proc/[0-9]*; do
      [ "$(readlink "$p/cwd" 2>/dev/null)" = "$data" ] && kill -KILL "${p#/proc/}" 2>/dev/null
    done
    end=$((SECONDS + 20))
    while kill -0 "$PG_SERVER" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
    kill -KILL "$PG_SERVER" 2>/dev/null
  fi
  wait "$PG_SERVER" 2>/dev/null
  PG_SERVER=
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }

echo "machine: $(nproc) cores, $(uname -r), $(date +%F), $ROUNDS rounds, configurations alternating"
for server in "${SERVERS[@]}"; do
  case $server in
    redis) command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null ||
      { echo "redis: not installed, skipped"; continue; } ;;
    postgres) postgres_setup || { echo "postgres: not installed or no postgres user, skipped"; continue; } ;;
    *) echo "unknown server $server"; exit 2 ;;
  esac
  : >"$T/results"
  for round in $(seq "$ROUNDS"); do
    for config in "${CONFIGS[@]}"; do
      # Not in a pipeline: a server left running by an interrupted run is then this shell's,
      # which the EXIT trap stops.
      "${server}_run" "$config" >"$T/run.out"
      sed "s/^/$config /" "$T/run.out" >>"$T/results"
    done
  done
  printf '%-9s %-10s %-10s %14s %8s\n' server metric config median "x plain"
  for metric in $(awk '{ print $2 }' "$T/results" | sort -u); do
    base=$(awk -v m="$metric" '$1 == "plain" && $2 == m { print $3 }' "$T/results" | median)
    for config in "${CONFIGS[@]}"; do
      value=$(awk -v c="$config" -v m="$metric" '$1 == c && $2 == m { print $3 }' "$T/results" | median)
      ratio=$(awk -v v="$value" -v b="$base" 'BEGIN { if (b > 0) printf "%.3f", v / b; else print "-" }')
      printf '%-9s %-10s %-10s %14s %8s\n' "$server" "$metric" "$config" "$value" "$ratio"
    done
  done
done
