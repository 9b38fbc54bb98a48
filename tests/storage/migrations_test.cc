#include "storage/migrations.h"

#include <sqlite3.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/storage/temp_dir.h"

namespace notifyd::storage {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class MigrationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sqlite3_open(dir_.File("test.db").c_str(), &db_), SQLITE_OK);
  }
  void TearDown() override { sqlite3_close(db_); }

  int UserVersion() { return QueryInt("PRAGMA user_version"); }

  int QueryInt(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db_);
    int value = -1;
    if (sqlite3_step(stmt) == SQLITE_ROW) value = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
  }

  bool TableExists(const std::string& name) {
    return QueryInt(
               "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"
               " AND name = '" +
               name + "'") == 1;
  }

  void Exec(const std::string& sql) {
    ASSERT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db_);
  }

  testing::TempDir dir_;
  sqlite3* db_ = nullptr;
};

TEST(EmbeddedMigrationsTest, StartAtVersionOneWithTheNotificationsTable) {
  const std::vector<Migration>& migrations = EmbeddedMigrations();
  ASSERT_FALSE(migrations.empty());
  EXPECT_EQ(migrations.front().version, 1);
  EXPECT_EQ(migrations.front().name, "0001_notifications.sql");
  EXPECT_THAT(migrations.front().sql, HasSubstr("CREATE TABLE notifications"));
  for (size_t i = 1; i < migrations.size(); ++i) {
    EXPECT_GT(migrations[i].version, migrations[i - 1].version);
  }
}

TEST_F(MigrationsTest, FreshDatabaseGetsTheLatestVersion) {
  ASSERT_TRUE(ApplyMigrations(db_).ok());

  EXPECT_EQ(UserVersion(), EmbeddedMigrations().back().version);
  EXPECT_TRUE(TableExists("notifications"));
}

TEST_F(MigrationsTest, RerunningIsANoOp) {
  // Not idempotent SQL on purpose: running it twice would fail.
  std::vector<Migration> migrations = {
      {1, "0001_a.sql", "CREATE TABLE a (x); INSERT INTO a VALUES (1);"}};
  ASSERT_TRUE(ApplyMigrations(db_, migrations).ok());

  absl::Status again = ApplyMigrations(db_, migrations);

  EXPECT_TRUE(again.ok()) << again;
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM a"), 1);
  EXPECT_EQ(UserVersion(), 1);
}

TEST_F(MigrationsTest, OnlyPendingMigrationsRun) {
  std::vector<Migration> migrations = {
      {1, "0001_a.sql", "CREATE TABLE a (x);"}};
  ASSERT_TRUE(ApplyMigrations(db_, migrations).ok());
  migrations.push_back({2, "0002_b.sql", "CREATE TABLE b (y);"});

  absl::Status status = ApplyMigrations(db_, migrations);

  EXPECT_TRUE(status.ok()) << status;
  EXPECT_TRUE(TableExists("b"));
  EXPECT_EQ(UserVersion(), 2);
}

TEST_F(MigrationsTest, NewerDatabaseIsRefusedWithAClearMessage) {
  Exec("PRAGMA user_version = 7");

  absl::Status status =
      ApplyMigrations(db_, {{1, "0001_a.sql", "CREATE TABLE a (x);"}});

  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(),
              HasSubstr("store schema version 7 is newer than this notifyd "
                        "(knows up to 1); upgrade notifyd"));
  EXPECT_FALSE(TableExists("a"));
  EXPECT_EQ(UserVersion(), 7);
}

TEST_F(MigrationsTest, FailingMigrationRollsBackEverything) {
  std::vector<Migration> migrations = {
      {1, "0001_a.sql", "CREATE TABLE a (x);"},
      {2, "0002_bad.sql",
       "CREATE TABLE b (y); INSERT INTO missing_table VALUES (1);"}};

  absl::Status status = ApplyMigrations(db_, migrations);

  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("0002_bad.sql"));
  EXPECT_THAT(status.message(), HasSubstr("missing_table"));
  EXPECT_FALSE(TableExists("a"));
  EXPECT_FALSE(TableExists("b"));
  EXPECT_EQ(UserVersion(), 0);
  // And the connection is usable again: no transaction left open.
  EXPECT_TRUE(sqlite3_get_autocommit(db_));
}

TEST_F(MigrationsTest, MigrationsOutOfOrderAreRejected) {
  absl::Status status =
      ApplyMigrations(db_, {{2, "0002_b.sql", "CREATE TABLE b (y);"},
                            {1, "0001_a.sql", "CREATE TABLE a (x);"}});

  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), Not(HasSubstr("newer")));
  EXPECT_EQ(UserVersion(), 0);
}

}  // namespace
}  // namespace notifyd::storage
