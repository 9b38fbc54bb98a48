#!/usr/bin/env bash
# Publishing at rate (issue #15; docs/BENCHMARKS.md, "Publishing at rate"):
# notifyd's durable write paths beside the stores a service would otherwise
# write to, all in one run on this machine, printed as one table.
#
#   bash bench/publishing.sh [BUILD] [notifyd flags...]
#
# BUILD (default: build) holds server/notifyd and bench/{publish_bench,
# stream_bench,sqlite_peer,store_fanout,sse_load}. In order:
#  1. raw SQLite: sqlite_peer inserts NotifyUsers-like rows into a store
#     notifyd created (its schema, WAL, synchronous=FULL), 1,000 rows per
#     transaction: the store's own limit for fan-out; then the same loop
#     also keeping the inbox counts (one upsert per row, as notifyd does);
#  2. the store alone: store_fanout, AppendMany of 1,000, 8 threads;
#  3. notifyd NotifyUsers: PER_CALL (1,000) users per call, 8 calls in flight;
#     then one NotifyUsers to LIVE_USERS (10,000) users who each have an open
#     stream (bench/sse_load): every delivery, and the last one's time after
#     the call's answer;
#     and, for scale, the floor under it: bench/socket_floor writes one
#     180-byte message to each of LIVE_USERS loopback connections from two
#     threads, with no server in between;
#  4. notifyd PublishStream: PRODUCERS (64) streams, WINDOW (4) unanswered
#     messages each; then the same against notifyd --store=memory (no
#     store, not durable): what gRPC and the stream cost alone on this
#     machine, the ceiling of the durable figure; then PRODUCERS streams
#     that never read their answers (stream_bench --hold): how much they
#     get through before flow control holds them, and notifyd's RSS;
#  5. notifyd unary NotifyUser, 64 in flight;
#  6. PostgreSQL 15 (Debian's, started here on loopback, defaults: fsync and
#     synchronous_commit on): pgbench, 64 clients, a single-row INSERT of a
#     comparable row per transaction;
#  7. Redis (Debian's, started here, appendonly yes, appendfsync always):
#     redis-benchmark XADD of a 64-byte field, 64 clients.
# Every server is stopped by its pid, also on error or Ctrl-C. SKIP="pg redis"
# leaves peers out.
set -euo pipefail

cd "$(dirname "$0")/.."
source bench/lib.sh "$@"
shift "$BENCH_SHIFT"
bench_require server/notifyd bench/publish_bench bench/stream_bench \
  bench/sqlite_peer bench/store_fanout bench/sse_load bench/socket_floor
DURATION=${DURATION:-10}
PER_CALL=${PER_CALL:-1000}
USERS=${USERS:-100000}
PRODUCERS=${PRODUCERS:-64}
WINDOW=${WINDOW:-4}
SKIP=${SKIP:-}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

DIR=$(mktemp -d "${TMPDIR:-/tmp}/notifyd-publishing.XXXXXX")
chmod 755 "$DIR"
REDIS_PID=
PG_DATA=
stop_peers() {
  if [[ -n $REDIS_PID ]]; then
    kill -TERM "$REDIS_PID" 2>/dev/null || true
    while kill -0 "$REDIS_PID" 2>/dev/null; do sleep 0.1; done
    REDIS_PID=
  fi
  if [[ -n $PG_DATA ]]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
    PG_DATA=
  fi
}
trap 'notifyd_stop; stop_peers; rm -rf "$DIR"' EXIT INT TERM

# The first number after `$2` in file $1.
figure() { grep -o "$2 *[0-9.]*" "$1" | head -1 | grep -o '[0-9.]*$'; }

bench_header

# 1. Raw SQLite, on a schema notifyd made.
notifyd_start "$DIR/peer"
notifyd_stop
"$BUILD/bench/sqlite_peer" --db="$DIR/peer/notify.db" --per_txn="$PER_CALL" \
  --users="$USERS" --duration="${DURATION}s" | grep -v '^#' | tee "$DIR/sqlite.txt"
# 1b. The same with the inbox counts notifyd keeps in the same commit.
notifyd_start "$DIR/peer_counts"
notifyd_stop
"$BUILD/bench/sqlite_peer" --db="$DIR/peer_counts/notify.db" --per_txn="$PER_CALL" \
  --users="$USERS" --duration="${DURATION}s" --counts | grep -v '^#' | tee "$DIR/sqlite_counts.txt"
# 2. The store alone.
"$BUILD/bench/store_fanout" --db="$DIR/store.db" --per_call="$PER_CALL" \
  --users="$USERS" --duration="${DURATION}s" 2>/dev/null | grep -v '^#' | tee "$DIR/store.txt"

# 3. NotifyUsers.
notifyd_start "$DIR/fanout" "$@"
echo "=== NotifyUsers (load: $(load))"
"$BUILD/bench/publish_bench" --target="127.0.0.1:$GRPC" --rpc=notify_users \
  --users="$USERS" --users_per_call="$PER_CALL" --concurrency=8 \
  --duration="${DURATION}s" --health=false | grep -v '^#' | tee "$DIR/fanout.txt"
notifyd_stop

# 3b. One NotifyUsers to LIVE_USERS (10,000) users, each with an open stream:
# when the last delivery arrives, counted from the call's answer.
LIVE_USERS=${LIVE_USERS:-10000}
ulimit -n 20000 2>/dev/null || true
notifyd_start "$DIR/live" --insecure_dev_identity --stream_open_rate=0 "$@"
echo "=== NotifyUsers to $LIVE_USERS live users (load: $(load))"
"$BUILD/bench/sse_load" --target="127.0.0.1:$HTTP" --path='/v1/stream?user={user}' \
  --connections="$LIVE_USERS" --users="$LIVE_USERS" --source_addrs=2 \
  --server_pid="$NOTIFYD_PID" --publish=notify_users --pub_target="127.0.0.1:$GRPC" \
  --rate=1 --warmup=0s --duration=1s | grep -v '^#' | tee "$DIR/live.txt"
notifyd_stop

echo "=== The floor: one write to each of $LIVE_USERS loopback connections (load: $(load))"
"$BUILD/bench/socket_floor" --connections="$LIVE_USERS" | grep -v '^#' | tee "$DIR/floor.txt"

# 4. PublishStream.
notifyd_start "$DIR/stream" "$@"
echo "=== PublishStream (load: $(load))"
"$BUILD/bench/stream_bench" --target="127.0.0.1:$GRPC" --producers="$PRODUCERS" \
  --window="$WINDOW" --duration="${DURATION}s" | grep -v '^#' | tee "$DIR/stream.txt"
notifyd_stop
notifyd_start "$DIR/stream_memory" --store=memory "$@"
echo "=== PublishStream, no store (--store=memory) (load: $(load))"
"$BUILD/bench/stream_bench" --target="127.0.0.1:$GRPC" --producers="$PRODUCERS" \
  --window="$WINDOW" --duration="${DURATION}s" | grep -v '^#' | tee "$DIR/stream_memory.txt"
notifyd_stop
notifyd_start "$DIR/stream_hold" "$@"
echo "=== PublishStream, producers that never read (load: $(load))"
"$BUILD/bench/stream_bench" --target="127.0.0.1:$GRPC" --producers="$PRODUCERS" \
  --hold --server_pid="$NOTIFYD_PID" --warmup=5s --duration=5s | grep -v '^#' \
  | tee "$DIR/stream_hold.txt"
notifyd_stop

# 5. Unary NotifyUser.
notifyd_start "$DIR/unary" "$@"
echo "=== NotifyUser (load: $(load))"
"$BUILD/bench/publish_bench" --target="127.0.0.1:$GRPC" --rpc=notify_user \
  --users=1000 --concurrency=64 --duration="${DURATION}s" --health=false \
  | grep -v '^#' | tee "$DIR/unary.txt"
notifyd_stop

# 6. PostgreSQL.
PG_TPS=-
if [[ " $SKIP " != *" pg "* && -x $PG_BIN/postgres ]]; then
  PG_DATA=$DIR/pg
  mkdir -p "$PG_DATA" && chown postgres "$PG_DATA"
  runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" -U notify -A trust >/dev/null
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -l "$PG_DATA/log" \
    -o "-p 55499 -k $PG_DATA -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null
  psql() { runuser -u postgres -- /usr/bin/psql -qX -h 127.0.0.1 -p 55499 -U notify -d postgres "$@"; }
  psql -c "CREATE TABLE notifications (id bigserial PRIMARY KEY,
      channel text NOT NULL, event text NOT NULL, created_at_ms bigint NOT NULL,
      box smallint NOT NULL DEFAULT 0, data bytea NOT NULL);
    CREATE INDEX ON notifications (channel, box, id);"
  cat >"$DIR/insert.sql" <<'SQL'
\set u random(0, 999)
INSERT INTO notifications (channel, event, created_at_ms, data) VALUES ('user:u' || :u, 'notification', 0, convert_to(repeat('x', 64), 'UTF8'));
SQL
  chmod 644 "$DIR/insert.sql"
  echo "=== PostgreSQL pgbench (load: $(load))"
  runuser -u postgres -- /usr/bin/pgbench -n -h 127.0.0.1 -p 55499 -U notify \
    -c 64 -j 2 -T "$DURATION" -f "$DIR/insert.sql" postgres 2>/dev/null \
    | grep -E '^(tps|latency)' | tee "$DIR/pg.txt"
  PG_TPS=$(grep -o 'tps = [0-9.]*' "$DIR/pg.txt" | head -1 | grep -o '[0-9.]*$')
  stop_peers
fi

# 7. Redis.
REDIS_RPS=-
if [[ " $SKIP " != *" redis "* ]] && command -v redis-server >/dev/null; then
  mkdir -p "$DIR/redis"
  redis-server --port 56399 --bind 127.0.0.1 --dir "$DIR/redis" --save '' \
    --appendonly yes --appendfsync always --daemonize no >"$DIR/redis/log" 2>&1 &
  REDIS_PID=$!
  until redis-cli -p 56399 ping >/dev/null 2>&1; do sleep 0.05; done
  echo "=== Redis XADD, appendfsync always (load: $(load))"
  redis-benchmark -h 127.0.0.1 -p 56399 -c 64 -n $((DURATION * 40000)) --csv \
    XADD s '*' d "$(printf 'x%.0s' $(seq 64))" | tail -1 | tee "$DIR/redis.txt"
  REDIS_RPS=$(tail -1 "$DIR/redis.txt" | cut -d, -f2 | tr -d '"')
  stop_peers
fi

SQLITE=$(figure "$DIR/sqlite.txt" 'loop:')
SQLITE_COUNTS=$(figure "$DIR/sqlite_counts.txt" 'counts:')
STORE=$(figure "$DIR/store.txt" 'AppendMany:')
FANOUT=$(grep -o '= [0-9.]* notifications/s' "$DIR/fanout.txt" | grep -o '[0-9.]*')
STREAM=$(grep -o '[0-9.]* notifications/s' "$DIR/stream.txt" | grep -o '^[0-9.]*')
STREAM_P99=$(grep -o 'p99=[0-9.]*ms' "$DIR/stream.txt" | head -1)
STREAM_MEMORY=$(grep -o '[0-9.]* notifications/s' "$DIR/stream_memory.txt" | grep -o '^[0-9.]*')
STREAM_MEMORY_P99=$(grep -o 'p99=[0-9.]*ms' "$DIR/stream_memory.txt" | head -1)
FLOOR_LAST=$(grep -o 'last read after [0-9.]* ms' "$DIR/floor.txt" | grep -o '[0-9.]*')
UNARY=$(grep -o 'NotifyUser *[0-9.]* calls/s' "$DIR/unary.txt" | grep -o '[0-9.]* calls' | grep -o '[0-9.]*')
LIVE_LAST=$(grep -o 'last delivery [0-9.]* ms after' "$DIR/live.txt" | grep -o '[0-9.]*')
LIVE_DELIVERED=$(grep -o '^deliveries: [0-9]* measured of [0-9]*' "$DIR/live.txt" | grep -o '[0-9]* measured of [0-9]*')
ratio() { python3 -c "import sys; a,b=sys.argv[1:]; print('-' if '-' in (a,b) else f'{float(a)/float(b):.2f}x')" "$1" "$2"; }
echo
echo "| Path (durable, this machine, one run)            | notifications/s | vs |"
echo "|---|---|---|"
echo "| raw SQLite loop, 1,000-row transactions           | $SQLITE | |"
echo "| raw SQLite loop with inbox counts, same           | $SQLITE_COUNTS | |"
echo "| notifyd store alone, AppendMany of $PER_CALL           | $STORE | $(ratio "$STORE" "$SQLITE") raw SQLite |"
echo "| notifyd NotifyUsers, $PER_CALL users per call         | $FANOUT | $(ratio "$FANOUT" "$SQLITE") raw SQLite, $(ratio "$FANOUT" "$SQLITE_COUNTS") with counts |"
echo "| notifyd PublishStream x$PRODUCERS, window $WINDOW (ack $STREAM_P99) | $STREAM | $(ratio "$STREAM" "$REDIS_RPS") Redis XADD |"
echo "| (not durable) PublishStream x$PRODUCERS to --store=memory (ack $STREAM_MEMORY_P99) | $STREAM_MEMORY | $(ratio "$STREAM_MEMORY" "$REDIS_RPS") Redis XADD: the ceiling without a store |"
echo "| notifyd NotifyUser, 64 in flight                  | $UNARY | $(ratio "$UNARY" "$PG_TPS") PostgreSQL INSERT |"
echo "| PostgreSQL 15 single-row INSERT, 64 clients       | $PG_TPS | |"
echo "| Redis XADD appendfsync always, 64 clients         | $REDIS_RPS | |"
echo
echo "One NotifyUsers to $LIVE_USERS users with a live stream each: $LIVE_DELIVERED delivered; the last ${LIVE_LAST:-?} ms after the call's answer (goal: all, <= 50 ms). The floor: one write to each of $LIVE_USERS loopback connections from two threads, no server, all read after ${FLOOR_LAST:-?} ms."
echo "$(grep -o 'PublishStream x.*' "$DIR/stream_hold.txt")"
echo "publishing.sh: done (load: $(load))"
