#!/usr/bin/env bash
# Fan-out throughput (issue #15; docs/BENCHMARKS.md, "Fan-out"):
#
#   bash bench/fanout.sh [BUILD] [notifyd flags...]
#
# BUILD (default: build) holds server/notifyd, bench/publish_bench and
# bench/sqlite_peer. In one run, on this machine:
#  1. the peer: sqlite_peer inserts NotifyUsers-like rows straight into a
#     fresh notifyd store (its schema, WAL, synchronous=FULL), 1,000 rows per
#     transaction, for DURATION seconds: the store's own limit;
#  2. notifyd on another fresh store, and publish_bench closed-loop
#     NotifyUsers, PER_CALL (1,000) users per call out of USERS (100,000),
#     CONCURRENCY (8) calls in flight: durable notifications/s;
#  3. for reference, unary NotifyUser at 64 in flight (the figure NotifyUsers
#     is meant to leave behind).
# Every notifyd is stopped by its pid, also on error or Ctrl-C.
set -euo pipefail

BUILD=build
if [[ $# -gt 0 && $1 != --* ]]; then
  BUILD=$1
  shift
fi
cd "$(dirname "$0")/.."
for b in server/notifyd bench/publish_bench bench/sqlite_peer; do
  [[ -x $BUILD/$b ]] || { echo "fanout.sh: $BUILD/$b missing; build it first" >&2; exit 2; }
done
DURATION=${DURATION:-10}
PER_CALL=${PER_CALL:-1000}
USERS=${USERS:-100000}
CONCURRENCY=${CONCURRENCY:-8}

DIR=$(mktemp -d "${TMPDIR:-/tmp}/notifyd-fanout.XXXXXX")
PID=
stop_notifyd() {
  if [[ -n $PID ]]; then
    kill -TERM "$PID" 2>/dev/null || true
    while kill -0 "$PID" 2>/dev/null; do sleep 0.1; done
    PID=
  fi
}
trap 'stop_notifyd; rm -rf "$DIR"' EXIT INT TERM

start_notifyd() {  # $1: store directory; then notifyd flags
  local dir=$1
  shift
  mkdir -p "$dir"
  "$BUILD/server/notifyd" --grpc_listen=127.0.0.1:0 --http_listen=127.0.0.1:0 \
    --admin_listen=127.0.0.1:0 --db="$dir/notify.db" --ready_file="$dir/ready.json" \
    --log_level=warn "$@" >>"$dir/notifyd.log" 2>&1 &
  PID=$!
  until [[ -s $dir/ready.json ]]; do
    kill -0 "$PID" 2>/dev/null || { cat "$dir/notifyd.log" >&2; exit 1; }
    sleep 0.05
  done
  GRPC=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["grpc_port"])' "$dir/ready.json")
}

echo "fanout.sh: $(date -u +%FT%TZ), $(git rev-parse --short HEAD 2>/dev/null || echo '?'), load: $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. The peer, on a schema notifyd made.
start_notifyd "$DIR/peer"
stop_notifyd
"$BUILD/bench/sqlite_peer" --db="$DIR/peer/notify.db" --per_txn="$PER_CALL" \
  --users="$USERS" --duration="${DURATION}s" | grep -v '^#'

# 2. NotifyUsers.
start_notifyd "$DIR/fanout" "$@"
echo "=== NotifyUsers (load: $(cut -d' ' -f1-3 /proc/loadavg))"
"$BUILD/bench/publish_bench" --target="127.0.0.1:$GRPC" --rpc=notify_users \
  --users="$USERS" --users_per_call="$PER_CALL" --concurrency="$CONCURRENCY" \
  --duration="${DURATION}s" --health=false | grep -v '^#'
stop_notifyd

# 3. Unary NotifyUser, for reference.
start_notifyd "$DIR/unary" "$@"
echo "=== NotifyUser (load: $(cut -d' ' -f1-3 /proc/loadavg))"
"$BUILD/bench/publish_bench" --target="127.0.0.1:$GRPC" --rpc=notify_user \
  --users=1000 --concurrency=64 --duration="${DURATION}s" --health=false | grep -v '^#'
stop_notifyd
echo "fanout.sh: done (load: $(cut -d' ' -f1-3 /proc/loadavg))"
