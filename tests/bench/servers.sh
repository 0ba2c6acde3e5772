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
trap 'rm -rf "$T"' EXIT
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
  local data=$T/pg.$RANDOM sock=$T/sock.$RANDOM port=5432
  "${PG_OWNER[@]}" cp -a "$T/pg-template" "$data"
  "${PG_OWNER[@]}" mkdir -p "$sock"
  prefix "$1"
  "${PG_OWNER[@]}" "${PREFIX[@]}" "$PGBIN/postgres" -D "$data" -k "$sock" -p $port \
    -c listen_addresses='' -c fsync=off >"$T/pg.log" 2>&1 &
  local server=$!
  wait_for 60 "$PGBIN/pg_isready" -h "$sock" -p $port || { echo "postgres did not start" >&2; return 1; }
  "$PGBIN/pgbench" -h "$sock" -p $port -U bench -i -q postgres >/dev/null 2>&1
  "$PGBIN/pgbench" -h "$sock" -p $port -U bench -c 4 -j 2 -T 8 postgres 2>/dev/null |
    awk '/^tps = / { print "TPS", $3 }'
  kill -INT $server
  wait $server
  rm -rf "$data"
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
      "${server}_run" "$config" | sed "s/^/$config /" >>"$T/results"
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
