#!/usr/bin/env bash
# The inbox's performance goals (issue #13; docs/BENCHMARKS.md, "The inbox"):
#
#   bash bench/inbox.sh [BUILD] [notifyd flags...]
#
# BUILD is the CMake build directory (default: build) holding server/notifyd
# and bench/inbox_bench. Needs the sqlite3 CLI. Steps:
#  1. notifyd starts once on an empty store in a temporary directory (so
#     its migrations create the schema) and is stopped by pid;
#  2. the sqlite3 CLI fills the store: user "big" with 1,000,000
#     notifications (ids 1..1,000,000, every even id read and seen, the odd
#     ones unread and unseen), then users u0..u9999 with 32 unread ones each
#     (interleaved, ids 1,000,001..1,320,000); inbox_counts and
#     id_high_water are set to match;
#  3. notifyd restarts on it (--insecure_dev_identity: ?user= names the
#     user) and inbox_bench times, one keep-alive connection, sequential:
#     GET /v1/inbox/counts, GET /v1/inbox?limit=50 (first page), the first
#     unread page, and a page deep in the history (before_id=500001);
#  4. the "peer" figure: what counting per request would cost, the sqlite3
#     CLI timing SELECT count(*) of big's unread rows on the same file
#     (warm cache, 5 runs), beside the kept count's lookup;
#  5. other tabs: 1,000 users hold 10 streams each (10,000 streams), state
#     changes at RATE/s (default 1,000) over the 10,000 users for DURATION
#     seconds (default 15, after 2 s of warm-up), POST /v1/inbox/state
#     {"ids":[id],"read":true}; latency from the POST written to `event:
#     state` on each of the user's other 9 streams.
# notifyd is stopped by its pid at the end, also on error or Ctrl-C, and the
# directory removed (KEEP=1 keeps it). ONLY="read tabs" runs a subset.
# INBOX_BENCH=path runs another build of bench/inbox_bench (A/B of the tool).
#
# PG_URL=postgres://user@host:port/db runs the same on PostgreSQL: notifyd
# uses --store=$PG_URL (an empty database: the script drops its tables
# first), psql fills it with the same rows and times the peer figure.
set -euo pipefail

cd "$(dirname "$0")/.."
source bench/lib.sh "$@"
shift "$BENCH_SHIFT"
bench_require server/notifyd bench/inbox_bench
INBOX_BENCH=${INBOX_BENCH:-$BUILD/bench/inbox_bench}  # another build of it, for A/B
if [[ -n ${PG_URL:-} ]]; then
  command -v psql >/dev/null || { echo "inbox.sh: needs psql" >&2; exit 2; }
else
  command -v sqlite3 >/dev/null || { echo "inbox.sh: needs the sqlite3 CLI" >&2; exit 2; }
fi
RATE=${RATE:-1000}
DURATION=${DURATION:-15}
REQUESTS=${REQUESTS:-5000}
ONLY=${ONLY:-read tabs}
BIG=${BIG:-1000000}
USERS=10000
PER_USER=32

DIR=$(mktemp -d "${TMPDIR:-/tmp}/notifyd-inbox.XXXXXX")
cleanup() {
  notifyd_stop
  if [[ ${KEEP:-0} == 1 ]]; then echo "inbox.sh: kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT INT TERM

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
start_notifyd() {
  notifyd_start "$DIR" --insecure_dev_identity --io_threads=2 \
    ${PG_URL:+--store=$PG_URL} "$@"
}

bench_header

# 1. The schema.
if [[ -n ${PG_URL:-} ]]; then
  psql -q "$PG_URL" -c 'DROP TABLE IF EXISTS notifications, inbox_counts,
    notify_id_counter, notify_schema_migrations CASCADE' 2>&1 | grep -v NOTICE || true
fi
start_notifyd "$@"
notifyd_stop

# 2. The rows.
NOW=$(date +%s%3N)
t0=$(date +%s.%N)
fill_postgres() {
  psql -q -v ON_ERROR_STOP=1 "$PG_URL" <<SQL
BEGIN;
INSERT INTO notifications
  (id, channel, event, created_at_ms, box, seen_at_ms, read_at_ms, data)
SELECT i, 'user:big', 'message', $NOW - ($BIG - i) * 10, (i % 2 = 0)::int,
  CASE WHEN i % 2 = 0 THEN $NOW - ($BIG - i) * 10 + 5 ELSE 0 END,
  CASE WHEN i % 2 = 0 THEN $NOW - ($BIG - i) * 10 + 5 ELSE 0 END,
  convert_to('{"title":"Notification ' || i || '","body":"Your report is ready to download.","url":"https://example.com/reports/' || i || '"}', 'UTF8')
FROM generate_series(1, $BIG) AS i;
INSERT INTO notifications (id, channel, event, created_at_ms, data)
SELECT $BIG + 1 + i, 'user:u' || (i % $USERS), 'message', $NOW,
  convert_to('{"title":"Hello ' || i || '","body":"Something happened."}', 'UTF8')
FROM generate_series(0, $USERS * $PER_USER - 1) AS i;
DELETE FROM inbox_counts;
INSERT INTO inbox_counts (channel, unread, unseen)
  SELECT channel, count(*) FILTER (WHERE box = 0),
    count(*) FILTER (WHERE seen_at_ms = 0)
  FROM notifications WHERE left(channel, 5) = 'user:' GROUP BY channel;
UPDATE notify_id_counter SET last_id = (SELECT max(id) FROM notifications);
COMMIT;
ANALYZE;
SQL
  echo "filled in $(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$(date +%s.%N)") s:" \
    "$(psql -At "$PG_URL" -c "SELECT count(*) || ' rows, ' || (SELECT count(*) FROM inbox_counts) || ' inboxes; big: unread ' || (SELECT unread FROM inbox_counts WHERE channel = 'user:big') || ', unseen ' || (SELECT unseen FROM inbox_counts WHERE channel = 'user:big') FROM notifications")"
}
fill_sqlite() {
sqlite3 "$DIR/notify.db" <<SQL
PRAGMA synchronous = OFF;
PRAGMA cache_size = -1000000;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $BIG)
INSERT INTO notifications
  (id, channel, event, created_at_ms, box, seen_at_ms, read_at_ms, data)
SELECT i, 'user:big', 'message', $NOW - ($BIG - i) * 10, i % 2 = 0,
  CASE WHEN i % 2 = 0 THEN $NOW - ($BIG - i) * 10 + 5 ELSE 0 END,
  CASE WHEN i % 2 = 0 THEN $NOW - ($BIG - i) * 10 + 5 ELSE 0 END,
  '{"title":"Notification ' || i || '","body":"Your report is ready to download.","url":"https://example.com/reports/' || i || '"}'
FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $USERS * $PER_USER - 1)
INSERT INTO notifications (id, channel, event, created_at_ms, data)
SELECT $BIG + 1 + i, 'user:u' || (i % $USERS), 'message', $NOW,
  '{"title":"Hello ' || i || '","body":"Something happened."}'
FROM n;
DELETE FROM inbox_counts;
INSERT INTO inbox_counts (channel, unread, unseen)
  SELECT channel, sum(box = 0), sum(seen_at_ms = 0) FROM notifications
  WHERE substr(channel, 1, 5) = 'user:' GROUP BY channel;
UPDATE id_high_water SET id = (SELECT max(id) FROM notifications);
COMMIT;
SQL
echo "filled in $(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$(date +%s.%N)") s:" \
  "$(sqlite3 "$DIR/notify.db" "SELECT count(*) || ' rows, ' || (SELECT count(*) FROM inbox_counts) || ' inboxes; big: unread ' || (SELECT unread FROM inbox_counts WHERE channel = 'user:big') || ', unseen ' || (SELECT unseen FROM inbox_counts WHERE channel = 'user:big') FROM notifications"),"\
  "$(du -m "$DIR/notify.db" | cut -f1) MB"
}
if [[ -n ${PG_URL:-} ]]; then fill_postgres; else fill_sqlite; fi

# 3. The reads.
start_notifyd "$@"
want() { [[ " $ONLY " == *" $1 "* ]]; }
if want read; then
  for path in '/v1/inbox/counts?user=big' '/v1/inbox?user=big&limit=50' \
    '/v1/inbox?user=big&filter=unread&limit=50' \
    '/v1/inbox?user=big&limit=50&before_id=500001'; do
    echo
    echo "=== GET $path (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    "$INBOX_BENCH" --scenario=get --target="127.0.0.1:$HTTP" --path="$path" \
      --requests="$REQUESTS" --max_time="${MAX_TIME:-30}s" | grep -v '^machine\|^command'
  done

  # 4. Counting per request instead (same data, warm cache).
  if [[ -n ${PG_URL:-} ]]; then
    echo
    echo "=== psql on the same database: counting per request vs the kept count"
    psql "$PG_URL" <<'SQL' 2>&1 | grep -E 'Time|^ *[0-9]'
\timing on
SELECT count(*) FROM notifications WHERE channel = 'user:big' AND box = 0;
SELECT count(*) FROM notifications WHERE channel = 'user:big' AND box = 0;
SELECT count(*) FROM notifications WHERE channel = 'user:big' AND box = 0;
SELECT unread, unseen FROM inbox_counts WHERE channel = 'user:big';
SQL
  else
  echo
  echo "=== sqlite3 CLI on the same file: counting per request vs the kept count"
  sqlite3 "$DIR/notify.db" <<'SQL' 2>&1 | grep -v '^$'
.timer on
SELECT count(*) FROM notifications WHERE channel = 'user:big' AND box = 0;
SELECT count(*) FROM notifications WHERE channel = 'user:big' AND box = 0;
SELECT count(*) FROM notifications WHERE channel = 'user:big' AND box = 0;
SELECT count(*) FROM notifications WHERE channel = 'user:big' AND box = 0;
SELECT count(*) FROM notifications WHERE channel = 'user:big' AND box = 0;
SELECT count(*) FROM notifications WHERE channel = 'user:big' AND seen_at_ms = 0 AND box < 3;
SELECT unread, unseen FROM inbox_counts WHERE channel = 'user:big';
SQL
  # What notifyd's SQLite store asks for the counts (storage/sqlite_queries.cc,
  # CountsRow: the kept counts less expired rows not yet pruned), its plan,
  # and the same with the channel/box terms kept out of index selection.
  NOW=$(date +%s%3N)
  counts_sql() {
    echo "SELECT coalesce((SELECT unread FROM inbox_counts WHERE channel = 'user:big'), 0)" \
      "- (SELECT count(*) FROM notifications WHERE expires_at_ms > 0 AND expires_at_ms <= $NOW" \
      "AND $1channel = 'user:big' AND $1box = 0)," \
      "coalesce((SELECT unseen FROM inbox_counts WHERE channel = 'user:big'), 0)" \
      "- (SELECT count(*) FROM notifications WHERE expires_at_ms > 0 AND expires_at_ms <= $NOW" \
      "AND $1channel = 'user:big' AND $1box < 3 AND seen_at_ms = 0);"
  }
  echo
  echo "=== sqlite3 CLI: the store's counts query as notifyd runs it, then with +channel/+box"
  {
    echo .timer on
    echo "EXPLAIN QUERY PLAN $(counts_sql '')"
    for _ in 1 2 3; do counts_sql ''; done
    echo "EXPLAIN QUERY PLAN $(counts_sql +)"
    for _ in 1 2 3; do counts_sql +; done
  } | sqlite3 "$DIR/notify.db" 2>&1 | grep -v '^$'
  fi
fi

# 5. Other tabs.
if want tabs; then
  echo
  echo "=== other tabs (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  "$INBOX_BENCH" --scenario=tabs --target="127.0.0.1:$HTTP" --users=$USERS \
    --stream_users=1000 --streams_per_user=10 --source_addrs=2 \
    --rate="$RATE" --warmup=2s --duration="${DURATION}s" --pub_connections=32
fi
echo
echo "inbox.sh: done (load: $(cut -d' ' -f1-3 /proc/loadavg))"
