#!/usr/bin/env bash
# Several instances (docs/DESIGN.md) on one machine: two notifyd instances
# sharing a private PostgreSQL and a private Redis. Streams are opened on
# instance B while NotifyUser is called on instance A, so every delivery
# crosses the bus; then the same workload on one instance with SQLite, for
# comparison (docs/BENCHMARKS.md).
#
#   bench/run_shared.sh [build_dir]      # default: ./build
#
# Environment: RATE=1000 (NotifyUser/s), CONNECTIONS=10000, DURATION=10,
# OUT=dir (figures and logs; default a fresh /tmp/notifyd-shared.XXXXXX).
# PostgreSQL runs with its defaults (fsync and synchronous_commit on).
# Every server is stopped by its pid on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
NOTIFYD=$BUILD/server/notifyd
SSE_LOAD=$BUILD/bench/sse_load
RATE=${RATE:-1000}
CONNECTIONS=${CONNECTIONS:-10000}
DURATION=${DURATION:-10}
OUT=${OUT:-$(mktemp -d /tmp/notifyd-shared.XXXXXX)}
mkdir -p "$OUT"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

PIDS=()
PG_PID=
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  [[ -n $PG_PID ]] && kill -INT "$PG_PID" 2>/dev/null
  for pid in "${PIDS[@]}" $PG_PID; do
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  done
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
as_postgres() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# PostgreSQL: initdb into $OUT/pg, trust on loopback only.
PGDATA=$OUT/pg
rm -rf "$PGDATA"
mkdir -p "$PGDATA"
[[ $(id -u) -eq 0 ]] && chown postgres "$PGDATA" "$OUT"
as_postgres "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 \
  --no-locale >"$OUT/initdb.log" 2>&1
PGPORT=$(free_port)
as_postgres "$PGBIN/postgres" -D "$PGDATA" -p "$PGPORT" \
  -c listen_addresses=127.0.0.1 -c unix_socket_directories="$PGDATA" \
  >"$OUT/postgres.log" 2>&1 &
for _ in $(seq 100); do
  "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && break
  sleep 0.1
done
# The postmaster itself (not runuser) is what takes SIGINT, a fast shutdown.
PG_PID=$(head -1 "$PGDATA/postmaster.pid")
STORE="postgresql://postgres@127.0.0.1:$PGPORT/postgres"

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
  --appendonly no --dir "$OUT" >"$OUT/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done
BUS="redis://127.0.0.1:$REDIS_PORT"

# Starts notifyd with the given flags; prints "pid grpc_port http_port".
start_notifyd() {
  local name=$1
  shift
  rm -f "$OUT/$name.ready"
  "$NOTIFYD" --insecure_dev_identity --grpc_listen=127.0.0.1:0 \
    --http_listen=127.0.0.1:0 --ready_file="$OUT/$name.ready" \
    --admin_listen=127.0.0.1:0 --io_threads=2 --log_level=warn "$@" \
    >>"$OUT/$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 200); do [[ -s $OUT/$name.ready ]] && break; sleep 0.05; done
  [[ -s $OUT/$name.ready ]] || { echo "run_shared: $name not ready" >&2; exit 1; }
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(sys.argv[2], r["grpc_port"], r["http_port"])' \
    "$OUT/$name.ready" "$pid"
}

read -r A_PID A_GRPC _ < <(start_notifyd a --store="$STORE" --bus="$BUS")
PIDS+=("$A_PID")
read -r B_PID _ B_HTTP < <(start_notifyd b --store="$STORE" --bus="$BUS")
PIDS+=("$B_PID")
echo "=== shared: streams on B, NotifyUser on A (PostgreSQL + Redis)"
"$SSE_LOAD" --target="127.0.0.1:$B_HTTP" --path='/v1/stream?user={user}' \
  --connections="$CONNECTIONS" --users="$CONNECTIONS" --source_addrs=2 \
  --server_pid="$B_PID" --publish=notify_user --pub_target="127.0.0.1:$A_GRPC" \
  --rate="$RATE" --duration="${DURATION}s" --json_out="$OUT/shared.json" \
  | tee "$OUT/shared.txt"
kill -TERM "$A_PID" "$B_PID"

read -r S_PID S_GRPC S_HTTP < <(start_notifyd sqlite --db="$OUT/notify.db")
PIDS+=("$S_PID")
echo "=== one instance: SQLite, in-process bus"
"$SSE_LOAD" --target="127.0.0.1:$S_HTTP" --path='/v1/stream?user={user}' \
  --connections="$CONNECTIONS" --users="$CONNECTIONS" --source_addrs=2 \
  --server_pid="$S_PID" --publish=notify_user --pub_target="127.0.0.1:$S_GRPC" \
  --rate="$RATE" --duration="${DURATION}s" --json_out="$OUT/sqlite.json" \
  | tee "$OUT/sqlite.txt"
echo "run_shared: figures in $OUT"
