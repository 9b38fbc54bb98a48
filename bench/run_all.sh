#!/usr/bin/env bash
# Runs every benchmark scenario against notifyd and against nginx+nchan on
# this machine, side by side, and prints a table (docs/BENCHMARKS.md).
#
#   bench/run_all.sh [build_dir]          # default: ./build
#
# Builds nothing: run `make` (or `cmake --build build`) first. Needs
# nginx + libnginx-mod-nchan (bench/peers/setup_nchan.sh installs them).
# Environment:
#   DURATION=10       seconds of each measured run
#   FANOUT_RATE=10    broadcasts/s to the 19,000-stream channel
#   OUT=dir           where JSON figures and server logs go (default: a
#                     fresh /tmp/notifyd-bench.XXXXXX)
#   ONLY="publish streams e2e replay"   subset of scenarios
#   PEERS="notifyd nchan"               subset of servers
# Every server is started fresh for each scenario (so RSS per stream is not
# hidden by memory an earlier scenario left in the allocator) and stopped by
# its pid; nothing is left running, also on error or Ctrl-C.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
source "$ROOT/bench/lib.sh"
bench_require server/notifyd bench/publish_bench bench/sse_load
PUBLISH_BENCH=$BUILD/bench/publish_bench
SSE_LOAD=$BUILD/bench/sse_load
DURATION=${DURATION:-10}
FANOUT_RATE=${FANOUT_RATE:-10}
ONLY=${ONLY:-publish streams e2e replay}
PEERS=${PEERS:-notifyd nchan}
OUT=${OUT:-$(mktemp -d /tmp/notifyd-bench.XXXXXX)}
mkdir -p "$OUT"
NCHAN_LISTEN=127.0.0.1:8089
export NCHAN_PREFIX=$OUT/nchan

# 19,000 streams need 19,000 descriptors in the client and in the server.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "run_all: file limit $(ulimit -n); figures in $OUT"

stop_nchan() { bash "$ROOT/bench/peers/run_nchan.sh" stop || true; }
cleanup() {
  notifyd_stop
  stop_nchan
}
trap cleanup EXIT INT TERM

# notifyd on an empty store (bench/lib.sh); sets NOTIFYD_PID, GRPC and HTTP.
start_notifyd() {
  rm -f "$OUT"/notify.db*
  notifyd_start "$OUT" --insecure_dev_identity --io_threads=2
}

start_nchan() {
  NCHAN_PID=$(bash "$ROOT/bench/peers/run_nchan.sh" start "$NCHAN_LISTEN")
}

want() { [[ " $ONLY " == *" $1 "* ]]; }
peer() { [[ " $PEERS " == *" $1 "* ]]; }
# Runs a benchmark, keeping its output; a run that misses a goal or fails
# still lets the others run (its JSON, if any, says what happened).
run() {
  local name=$1
  shift
  echo
  echo "=== $name"
  "$@" 2>&1 | tee "$OUT/$name.txt" || echo "run_all: $name exited non-zero (see above)"
}

if want publish && peer notifyd; then
  start_notifyd
  run notifyd-publish-closed "$PUBLISH_BENCH" --target=127.0.0.1:$GRPC \
    --concurrency=64 --users=1000 --duration=${DURATION}s \
    --json_out="$OUT/notifyd-publish-closed.json"
  run notifyd-publish-rate "$PUBLISH_BENCH" --target=127.0.0.1:$GRPC \
    --closed=false --rate=5000 --users=1000 --duration=${DURATION}s \
    --json_out="$OUT/notifyd-publish-rate.json"
  notifyd_stop
fi

# 19,000 streams on one channel: set-up, server RSS per stream, then
# broadcast fan-out at FANOUT_RATE/s.
if want streams; then
  if peer notifyd; then
    start_notifyd
    run notifyd-streams "$SSE_LOAD" --target=127.0.0.1:$HTTP \
      --path='/v1/stream?user={user}&channels={channel}' \
      --connections=19000 --users=19000 --channels=1 --channel_prefix=bcast \
      --source_addrs=4 --server_pid=$NOTIFYD_PID \
      --publish=publish --pub_target=127.0.0.1:$GRPC --rate=$FANOUT_RATE \
      --duration=${DURATION}s --json_out="$OUT/notifyd-streams.json"
    notifyd_stop
  fi
  if peer nchan; then
    start_nchan
    run nchan-streams "$SSE_LOAD" --target=$NCHAN_LISTEN --path='/sub/{channel}' \
      --connections=19000 --users=19000 --channels=1 --channel_prefix=bcast \
      --source_addrs=4 --server_pid=$NCHAN_PID \
      --publish=nchan --pub_target=$NCHAN_LISTEN --pub_path='/pub/{channel}' \
      --rate=$FANOUT_RATE --duration=${DURATION}s \
      --json_out="$OUT/nchan-streams.json"
    stop_nchan
  fi
fi

# 10,000 users connected, 5,000 notifications/s spread over them.
if want e2e; then
  if peer notifyd; then
    start_notifyd
    run notifyd-e2e "$SSE_LOAD" --target=127.0.0.1:$HTTP \
      --path='/v1/stream?user={user}' --connections=10000 --users=10000 \
      --source_addrs=2 --server_pid=$NOTIFYD_PID \
      --publish=notify_user --pub_target=127.0.0.1:$GRPC --rate=5000 \
      --duration=${DURATION}s --json_out="$OUT/notifyd-e2e.json"
    notifyd_stop
  fi
  if peer nchan; then
    start_nchan
    run nchan-e2e "$SSE_LOAD" --target=$NCHAN_LISTEN --path='/sub/u-{user}' \
      --connections=10000 --users=10000 --source_addrs=2 \
      --server_pid=$NCHAN_PID --publish=nchan --pub_target=$NCHAN_LISTEN \
      --pub_path='/pub/u-{user}' --pub_key=user --rate=5000 \
      --duration=${DURATION}s --json_out="$OUT/nchan-e2e.json"
    stop_nchan
  fi
fi

# 1,000 events missed, then reconnect with Last-Event-ID.
if want replay; then
  if peer notifyd; then
    start_notifyd
    run notifyd-replay "$SSE_LOAD" --scenario=replay --target=127.0.0.1:$HTTP \
      --path='/v1/stream?user={user}' --publish=notify_user \
      --pub_target=127.0.0.1:$GRPC --replay_events=1000 --replay_rounds=10 \
      --json_out="$OUT/notifyd-replay.json"
    notifyd_stop
  fi
  if peer nchan; then
    start_nchan
    run nchan-replay "$SSE_LOAD" --scenario=replay --target=$NCHAN_LISTEN \
      --path='/sub/{channel}' --publish=nchan --pub_target=$NCHAN_LISTEN \
      --pub_path='/pub/{channel}' --replay_events=1000 --replay_rounds=10 \
      --json_out="$OUT/nchan-replay.json"
    stop_nchan
  fi
fi

echo
python3 "$ROOT/bench/summarize.py" "$OUT"
