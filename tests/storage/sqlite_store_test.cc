// The SQLite store: the Store contract (store_contract_test.cc) against SQLite,
// and what only SQLite does: schema upgrades of an existing file, and a
// path that must exist. (WAL, group commit and checkpoints have tests of
// their own.)
#include "storage/sqlite_store.h"

#include <sqlite3.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/migrations.h"
#include "tests/storage/store_contract_test.h"
#include "tests/storage/store_test_util.h"

namespace notifyd::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::StoreContractTest;

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContractTest,
                         ::testing::Values(testing::SqliteStoreUnderTest()),
                         testing::StoreUnderTestName);

class SqliteStoreTest : public testing::StoreTest {};

TEST_F(SqliteStoreTest, AStoreFromSchemaVersionOneKeepsRowsReadStateAndIds) {
  {
    // What notifyd wrote before migration 0002 replaced the two channel
    // indexes with one, and 0003 replaced AUTOINCREMENT: id 9 was deleted,
    // so only sqlite_sequence remembers it was used.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(Options().path.c_str(), &db), SQLITE_OK);
    ASSERT_TRUE(ApplyMigrations(db, {EmbeddedMigrations().front()}).ok());
    ASSERT_EQ(sqlite3_exec(db,
                           "INSERT INTO notifications (id, channel, event, "
                           "data, created_at_ms, read) VALUES "
                           "(1, 'user:a', 'e', 'one', 0, 1), "
                           "(2, 'user:a', 'e', 'two', 0, 0), "
                           "(3, 'b', 'e', 'three', 0, 0), "
                           "(4, 'user:a', 'e', 'four', 0, 1), "
                           "(9, 'b', 'e', 'nine', 0, 0); "
                           "DELETE FROM notifications WHERE id = 9",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = Open();

  auto rows = ListSync(*store, {"user:a"});
  auto counts = GetCountsSync(*store, "user:a");
  uint64_t next = Append(*store, "user:a").notification->id;

  ASSERT_TRUE(rows.ok() && counts.ok());
  EXPECT_THAT(Ids(*rows), ElementsAre(4, 2, 1));
  // Read rows count as seen and read (at their creation).
  EXPECT_TRUE((*rows)[0].read());
  EXPECT_TRUE((*rows)[0].seen());
  EXPECT_FALSE((*rows)[1].read());
  EXPECT_EQ(counts->unread, 1u);
  EXPECT_EQ(counts->unseen, 1u);
  EXPECT_EQ(next, 10u);
}

// An inbox append writes its row, then its count. When the count cannot be
// written, the row must not stay without it: the whole batch fails and
// nothing of it is stored.
TEST_F(SqliteStoreTest, AnInboxCountThatCannotBeWrittenFailsTheBatch) {
  auto store = Open();
  uint64_t kept = Append(*store, "user:a").notification->id;
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(Options().path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TRIGGER no_counts BEFORE UPDATE ON "
                           "inbox_counts BEGIN SELECT RAISE(ABORT, "
                           "'counts rejected by test'); END;",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  std::shared_ptr<absl::Notification> release = HoldWriter(*store);
  auto named = AppendAsync(*store, {"news", "e", "{}", ""});
  auto inbox = AppendAsync(*store, {"user:a", "e", "{}", ""});
  release->Notify();

  absl::StatusOr<AppendResult> failed = inbox.get();
  absl::StatusOr<AppendResult> same_batch = named.get();

  EXPECT_THAT(failed.status().message(), HasSubstr("counts rejected by test"));
  EXPECT_FALSE(same_batch.ok());
  auto rows = ListSync(*store, {"user:a"});
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_THAT(Ids(*rows), ElementsAre(kept));
  EXPECT_EQ(*GetCountsSync(*store, "user:a"), (Counts{1, 1}));
  EXPECT_THAT(*ListSync(*store, {"news"}), ::testing::IsEmpty());
}

TEST_F(SqliteStoreTest, MissingDirectoryGivesAnErrorNamingThePath) {
  SqliteStoreOptions options = Options();
  options.path = dir_.File("no/such/dir/notifyd.db");

  auto store = OpenSqliteStore(options);

  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(),
              HasSubstr("cannot open store at " + options.path +
                        ": unable to open database file"));
}

}  // namespace
}  // namespace notifyd::storage
