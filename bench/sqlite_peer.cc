// sqlite_peer: the store's own limit for fan-out, as a peer figure beside
// NotifyUsers (docs/BENCHMARKS.md, "Fan-out"). Inserts rows like the ones
// NotifyUsers stores (one per user, same columns and payload size) into a
// database that notifyd created (its schema, WAL, synchronous=FULL as
// notifyd runs it), `--per_txn` rows per transaction, for `--duration`, with
// nothing else: no gRPC, no bus, and no inbox counts unless `--counts`
// (then each row also adds one unread and one unseen to its inbox's row of
// inbox_counts, the upsert notifyd's store does in the same commit). Prints
// rows/s.
//
//   sqlite_peer --db=DIR/notify.db [--per_txn=1000] [--duration=10s]
#include <sqlite3.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"

ABSL_FLAG(std::string, db, "", "a notifyd SQLite store (schema applied)");
ABSL_FLAG(int, per_txn, 1000, "rows per transaction");
ABSL_FLAG(int, users, 100000, "distinct user channels written to");
ABSL_FLAG(int, payload_bytes, 64, "bytes of each row's data");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "measured time");
ABSL_FLAG(std::string, synchronous, "FULL", "PRAGMA synchronous");
ABSL_FLAG(bool, counts, false,
          "also keep inbox_counts as notifyd does (one upsert per row)");

namespace {

bool Exec(sqlite3* db, const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::fprintf(stderr, "sqlite_peer: %s: %s\n", sql.c_str(),
                 error ? error : "?");
    sqlite3_free(error);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string path = absl::GetFlag(FLAGS_db);
  const int per_txn = absl::GetFlag(FLAGS_per_txn);
  const int users = absl::GetFlag(FLAGS_users);
  if (path.empty() || per_txn < 1 || users < 1) {
    std::fprintf(stderr,
                 "sqlite_peer: --db=FILE, --per_txn and --users >= 1\n");
    return 2;
  }
  std::printf("$ %s\n# %s\n", notifyd::bench::CommandLine(argc, argv).c_str(),
              notifyd::bench::MachineSummary().c_str());
  // As notifyd runs SQLite (storage/sqlite_connection.cc): no process-wide
  // memory statistics, so the peer pays no more per row than the store.
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) !=
      SQLITE_OK) {
    std::fprintf(stderr, "sqlite_peer: cannot open %s\n", path.c_str());
    return 1;
  }
  if (!Exec(db, "PRAGMA journal_mode=WAL") ||
      !Exec(db, "PRAGMA synchronous=" + absl::GetFlag(FLAGS_synchronous))) {
    return 1;
  }
  sqlite3_stmt* insert = nullptr;
  if (sqlite3_prepare_v3(db,
                         "INSERT INTO notifications (id, channel, event, data,"
                         " created_at_ms, box) VALUES (?1, ?2, ?3, ?4, ?5, 0)",
                         -1, SQLITE_PREPARE_PERSISTENT, &insert,
                         nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "sqlite_peer: %s\n", sqlite3_errmsg(db));
    return 1;
  }
  // As storage/sqlite_writes.cc adds to an inbox's counts.
  sqlite3_stmt* add_counts = nullptr;
  const bool counts = absl::GetFlag(FLAGS_counts);
  if (counts &&
      sqlite3_prepare_v3(
          db,
          "INSERT INTO inbox_counts (channel, unread, unseen)"
          " VALUES (?1, 1, 1) ON CONFLICT (channel) DO UPDATE SET"
          " unread = unread + 1, unseen = unseen + 1",
          -1, SQLITE_PREPARE_PERSISTENT, &add_counts, nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "sqlite_peer: %s\n", sqlite3_errmsg(db));
    return 1;
  }
  const std::string data(absl::GetFlag(FLAGS_payload_bytes), 'x');
  int64_t id = 1;
  uint64_t rows = 0, txns = 0;
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::GetFlag(FLAGS_duration);
  while (absl::Now() < end) {
    if (!Exec(db, "BEGIN")) return 1;
    const int64_t now_ms = absl::ToUnixMillis(absl::Now());
    for (int i = 0; i < per_txn; ++i, ++id) {
      const std::string channel = absl::StrCat("user:u", id % users);
      sqlite3_bind_int64(insert, 1, id);
      sqlite3_bind_text(insert, 2, channel.data(),
                        static_cast<int>(channel.size()), SQLITE_TRANSIENT);
      sqlite3_bind_text(insert, 3, "notification", -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 4, data.data(), static_cast<int>(data.size()),
                        SQLITE_STATIC);
      sqlite3_bind_int64(insert, 5, now_ms);
      if (sqlite3_step(insert) != SQLITE_DONE) {
        std::fprintf(stderr, "sqlite_peer: insert: %s\n", sqlite3_errmsg(db));
        return 1;
      }
      sqlite3_reset(insert);
      if (counts) {
        sqlite3_bind_text(add_counts, 1, channel.data(),
                          static_cast<int>(channel.size()), SQLITE_TRANSIENT);
        if (sqlite3_step(add_counts) != SQLITE_DONE) {
          std::fprintf(stderr, "sqlite_peer: counts: %s\n", sqlite3_errmsg(db));
          return 1;
        }
        sqlite3_reset(add_counts);
      }
    }
    if (!Exec(db, "COMMIT")) return 1;
    rows += per_txn;
    ++txns;
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::printf(
      "raw SQLite insert loop%s: %.0f rows/s (%llu rows in %llu "
      "transactions of %d, %.1f s, synchronous=%s)\n",
      counts ? " with counts" : "", rows / seconds,
      static_cast<unsigned long long>(rows),
      static_cast<unsigned long long>(txns), per_txn, seconds,
      absl::GetFlag(FLAGS_synchronous).c_str());
  sqlite3_finalize(insert);
  sqlite3_finalize(add_counts);
  sqlite3_close(db);
  return 0;
}
