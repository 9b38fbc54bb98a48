// Helpers shared by the SQLite store tests: SqliteHarness, which runs the
// Store contract (store_contract_test.h) against SQLite, and StoreTest, a
// fixture on top of it for what only SQLite does: a store in a temporary
// directory with a controllable clock, and a way to hold the writer thread
// so several calls land in one batch deterministically.
#ifndef NOTIFYD_TESTS_STORAGE_STORE_TEST_UTIL_H_
#define NOTIFYD_TESTS_STORAGE_STORE_TEST_UTIL_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "storage/sqlite_store.h"
#include "tests/storage/store_contract_test.h"
#include "tests/storage/temp_dir.h"

namespace notifyd::storage::testing {

// A database file in a directory of its own per harness (so per test).
class SqliteHarness
    : public StoreHarnessFor<SqliteStoreOptions, &OpenSqliteStore> {
 public:
  const TempDir& dir() const { return dir_; }

  // StoreHarness:
  void RejectWrites(Write write, const std::string& event) override {
    Exec(std::string("CREATE TRIGGER reject ") +
         (write == Write::kInsert ? "BEFORE INSERT ON notifications WHEN NEW"
                                  : "BEFORE UPDATE ON notifications WHEN OLD") +
         ".event = '" + event +
         "' BEGIN SELECT RAISE(ABORT, 'rejected by test'); END;");
  }

  int64_t CommittedRowsWithId(uint64_t id) override {
    sqlite3* db = nullptr;
    sqlite3_open_v2(Options().path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM notifications WHERE id = ?",
                       -1, &stmt, nullptr);
    sqlite3_bind_int64(stmt, 1, static_cast<int64_t>(id));
    int64_t count =
        sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return count;
  }

  // The schema version lives in the file header.
  bool SetSchemaVersion(int version) override {
    Exec("PRAGMA user_version = " + std::to_string(version));
    return true;
  }

 protected:
  void SetDatabase(SqliteStoreOptions& options) override {
    options.path = dir_.File("notifyd.db");
  }

 private:
  // Runs SQL through a connection of its own.
  void Exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(Options().path.c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error),
              SQLITE_OK)
        << (error != nullptr ? error : "") << " in " << sql;
    sqlite3_free(error);
    sqlite3_close(db);
  }

  TempDir dir_;
};

inline StoreUnderTest SqliteStoreUnderTest() {
  return UnderTest<SqliteHarness>("SqliteStore");
}

class StoreTest : public ::testing::Test, public StoreTestHelpers {
 protected:
  SqliteStoreOptions Options() { return harness_.Options(); }

  // Through the harness, so through the writer gate; null when it failed.
  std::unique_ptr<StoreEngine> Open(SqliteStoreOptions options) {
    return harness_.OpenOrFail(std::move(options));
  }

  std::unique_ptr<StoreEngine> Open() { return Open(Options()); }

  // Commits one append and keeps the writer thread inside that commit
  // until the returned notification is notified: calls made meanwhile
  // queue up and are committed together in the next batch.
  std::shared_ptr<absl::Notification> HoldWriter(Store& store) {
    return harness_.HoldWriter(store).release;
  }

  SqliteHarness harness_;
  const TempDir& dir_ = harness_.dir();
};

}  // namespace notifyd::storage::testing

#endif  // NOTIFYD_TESTS_STORAGE_STORE_TEST_UTIL_H_
