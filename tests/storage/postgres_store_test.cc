// The PostgreSQL store against a real PostgreSQL server (tests/support/
// postgres_server.h): one server for this binary, a fresh database per test.
// The Store, inbox and retention contracts (store_contract_test.cc,
// inbox_contract_test.cc, retention_contract_test.cc), plus what only
// PostgreSQL has: migrations under concurrency and of existing rows, URLs,
// dropped connections and deadlocks. Several instances on one database:
// postgres_instances_test.cc; the harness: postgres_test_util.h.
#include "storage/postgres_store.h"

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/postgres_connection.h"
#include "storage/postgres_migrations.h"
#include "tests/storage/postgres_test_util.h"
#include "tests/storage/store_contract_test.h"
#include "tests/support/postgres_server.h"

namespace notifyd::storage {
namespace {

using ::testing::HasSubstr;
using testing::Hold;
using ::testing::Not;
using testing::PostgresHarness;
using testing::PostgresStoreTest;
using testing::RetentionContractTest;
using testing::StoreContractTest;

notifyd::testing::PostgresServer* g_server = nullptr;

}  // namespace

namespace testing {
notifyd::testing::PostgresServer* SharedPostgresServer() { return g_server; }
}  // namespace testing

namespace {

// Starts the server once for every test of the binary. Missing PostgreSQL
// binaries fail the run here, with the reason, rather than skip it.
class PostgresEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto server = notifyd::testing::PostgresServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    g_server = server_.get();
  }
  void TearDown() override {
    g_server = nullptr;
    server_.reset();
  }

 private:
  std::unique_ptr<notifyd::testing::PostgresServer> server_;
};

[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

testing::StoreUnderTest PostgresStoreUnderTest() {
  return testing::UnderTest<PostgresHarness>("PostgresStore");
}

INSTANTIATE_TEST_SUITE_P(Postgres, StoreContractTest,
                         ::testing::Values(PostgresStoreUnderTest()),
                         testing::StoreUnderTestName);
INSTANTIATE_TEST_SUITE_P(Postgres, RetentionContractTest,
                         ::testing::Values(PostgresStoreUnderTest()),
                         testing::StoreUnderTestName);

TEST_F(PostgresStoreTest, AFreshDatabaseGetsEveryMigrationRecordedOnce) {
  Open().reset();
  const std::string versions = "SELECT count(*) FROM notify_schema_migrations";
  const std::string newest =
      "SELECT max(version)::bigint FROM notify_schema_migrations";
  const std::string applied_at =
      "SELECT (extract(epoch FROM max(applied_at)) * 1e6)::bigint"
      " FROM notify_schema_migrations";
  const int64_t first_applied_at = SqlInt(applied_at);

  // Re-opening an up-to-date database is a no-op.
  Open().reset();

  EXPECT_EQ(SqlInt(versions),
            static_cast<int64_t>(EmbeddedPostgresMigrations().size()));
  EXPECT_EQ(SqlInt(newest), EmbeddedPostgresMigrations().back().version);
  EXPECT_EQ(SqlInt(applied_at), first_applied_at);
}

TEST_F(PostgresStoreTest, InstancesStartingAtOnceMigrateOnce) {
  std::vector<std::thread> starters;
  std::vector<absl::Status> results(3);
  for (size_t i = 0; i < results.size(); ++i) {
    starters.emplace_back([&, i] {
      auto store = OpenPostgresStore(Options());
      results[i] = store.status();
    });
  }
  for (std::thread& t : starters) t.join();

  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(SqlInt("SELECT count(*) FROM notify_schema_migrations"),
            static_cast<int64_t>(EmbeddedPostgresMigrations().size()));
}

TEST_F(PostgresStoreTest, TheInboxMigrationKeepsStateAndCountsEachInbox) {
  // A database as notifyd left it before the inbox (0001 alone): read rows
  // in an inbox and in a named channel.
  {
    auto db = PgConnection::Connect(url_);
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE(
        ApplyPostgresMigrations(**db, {EmbeddedPostgresMigrations().front()})
            .ok());
  }
  Sql("INSERT INTO notifications (id, channel, event, created_at_ms, read,"
      " idempotency_key, data) VALUES"
      " (1, 'user:a', 'e', 100, true, NULL, '\\x31'),"
      " (2, 'user:a', 'e', 200, false, 'k', '\\x32'),"
      " (3, 'room:x', 'e', 300, true, NULL, '\\x33'),"
      " (4, 'user:a', 'e', 400, false, NULL, '\\x34'),"
      " (5, 'user:b', 'e', 500, true, NULL, '\\x35');"
      " UPDATE notify_id_counter SET last_id = 5");

  auto store = Open();
  ASSERT_NE(store, nullptr);

  // Read rows count as seen and read at their creation; the others as
  // neither. Each inbox's counts are its unread rows.
  auto rows = ListSync(*store, {"user:a"});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[2].id, 1u);
  EXPECT_EQ((*rows)[2].read_at_ms, 100);
  EXPECT_EQ((*rows)[2].seen_at_ms, 100);
  EXPECT_EQ((*rows)[1].id, 2u);
  EXPECT_FALSE((*rows)[1].read());
  EXPECT_FALSE((*rows)[1].seen());
  EXPECT_EQ((*rows)[1].data, "2");
  EXPECT_EQ(*GetCountsSync(*store, "user:a"), (Counts{2, 2}));
  EXPECT_EQ(*GetCountsSync(*store, "user:b"), (Counts{0, 0}));
  // Only inboxes have counts.
  EXPECT_EQ(SqlInt("SELECT count(*) FROM inbox_counts"), 2);
  // Keys and ids go on as before.
  AppendResult again = Append(*store, "user:a", "e", "{}", "k");
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.notification->id, 2u);
  EXPECT_EQ(Append(*store, "user:a").notification->id, 6u);
  EXPECT_EQ(*GetCountsSync(*store, "user:a"), (Counts{3, 3}));
}

TEST_F(PostgresStoreTest, AFailingMigrationLeavesTheDatabaseUntouched) {
  auto db = PgConnection::Connect(url_);
  ASSERT_TRUE(db.ok()) << db.status();
  std::vector<Migration> migrations = EmbeddedPostgresMigrations();
  migrations.push_back({migrations.back().version + 1, "9999_broken.sql",
                        "CREATE TABLE extra (x INT); SELECT no_such_column"});

  absl::Status s = ApplyPostgresMigrations(**db, migrations);

  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("migration 9999_broken.sql failed"));
  EXPECT_EQ(SqlInt("SELECT count(*) FROM pg_tables"
                   " WHERE schemaname = 'public'"),
            0);
}

TEST_F(PostgresStoreTest, AUrlThatIsNotPostgresIsInvalidArgument) {
  PostgresStoreOptions options = Options();
  options.url = "mysql://user:hunter22@127.0.0.1/db";

  auto store = OpenPostgresStore(options);

  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(store.status().message(), HasSubstr("postgres://"));
  EXPECT_THAT(store.status().message(), Not(HasSubstr("hunter22")));
}

TEST_F(PostgresStoreTest, AMalformedUrlIsInvalidArgumentWithoutThePassword) {
  PostgresStoreOptions options = Options();
  options.url = "postgresql://user:hunter22@[::1/db";

  auto store = OpenPostgresStore(options);

  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(store.status().message(), HasSubstr("invalid PostgreSQL URL"));
  EXPECT_THAT(store.status().message(), Not(HasSubstr("hunter22")));
}

TEST_F(PostgresStoreTest, AnUnreachableServerIsUnavailableNamingIt) {
  PostgresStoreOptions options = Options();
  // Port 1: nothing listens there, the connection is refused at once.
  options.url = "postgres://user:hunter22@127.0.0.1:1/db?password=hunter22";

  auto store = OpenPostgresStore(options);

  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(store.status().message(),
              HasSubstr("cannot connect to PostgreSQL at "
                        "postgres://user:***@127.0.0.1:1/db?password=***"));
  EXPECT_THAT(store.status().message(), Not(HasSubstr("hunter22")));
}

TEST_F(PostgresStoreTest,
       AfterTheServerDropsItsConnectionsCallersNoticeNothing) {
  auto store = Open();
  const uint64_t before = Append(*store, "a").notification->id;
  // What a server restart or a failover does to every open connection
  // (waiting up to 5 s until each backend is gone).
  EXPECT_EQ(SqlInt("SELECT count(*) FILTER (WHERE NOT"
                   " pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
                   " WHERE datname = current_database()"
                   " AND pid <> pg_backend_pid()"),
            0);

  // Nothing was in flight: the writer retries on a new connection, and so
  // do the readers.
  absl::StatusOr<AppendResult> appended =
      AppendSync(*store, {"a", "e", "", "", 0, ""});
  absl::StatusOr<std::vector<Notification>> rows = ListSync(*store, {"a"});
  absl::StatusOr<uint64_t> last = LastCommittedIdSync(*store);

  ASSERT_TRUE(appended.ok()) << appended.status();
  EXPECT_EQ(appended->notification->id, before + 1);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), 2u);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(*last, before + 1);
}

TEST_F(PostgresStoreTest, ABatchChosenAsADeadlockVictimRunsAgain) {
  auto store = Open();
  const uint64_t a = Append(*store, "user:c").notification->id;
  const uint64_t b = Append(*store, "user:c").notification->id;
  // Another session holds row b: an operator's (another instance's batch
  // would wait for the id counter before it locked any row).
  auto other = PgConnection::Connect(url_);
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE((*other)
                  ->Exec("BEGIN; SET LOCAL deadlock_timeout = '30s';"
                         " SELECT 1 FROM notifications WHERE id = " +
                         std::to_string(b) + " FOR UPDATE")
                  .ok());

  // One batch: the first call locks row a, the second waits for row b.
  Hold hold = HoldWriter(*store);
  auto mark = [&](uint64_t id) {
    auto promise = std::make_shared<std::promise<absl::StatusOr<uint64_t>>>();
    store->MarkRead({"user:c", {id}}, [promise](absl::StatusOr<uint64_t> r) {
      promise->set_value(std::move(r));
    });
    return promise->get_future();
  };
  auto mark_a = mark(a);
  auto mark_b = mark(b);
  hold.release->Notify();
  for (int i = 0; i < 250 && SqlInt("SELECT count(*) FROM pg_stat_activity"
                                    " WHERE datname = current_database()"
                                    " AND wait_event_type = 'Lock'") != 1;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Now the other session wants row a: a deadlock, which the server breaks
  // (after deadlock_timeout) by aborting the store's transaction.
  ASSERT_TRUE((*other)
                  ->Exec("UPDATE notifications SET event = event"
                         " WHERE id = " +
                         std::to_string(a))
                  .ok());
  ASSERT_TRUE((*other)->Exec("COMMIT").ok());

  absl::StatusOr<uint64_t> marked_a = mark_a.get();
  absl::StatusOr<uint64_t> marked_b = mark_b.get();
  ASSERT_TRUE(marked_a.ok()) << marked_a.status();
  ASSERT_TRUE(marked_b.ok()) << marked_b.status();
  EXPECT_EQ(*marked_a, 1u);
  EXPECT_EQ(*marked_b, 1u);
  EXPECT_EQ(*UnreadCountSync(*store, "user:c"), 0u);
}

TEST(PostgresUrlTest, RedactionHidesEveryPasswordAndKeepsTheRest) {
  EXPECT_EQ(RedactPostgresUrl(
                "postgres://u:p@ss@db.internal:5432/n?password=x&sslmode=on"),
            "postgres://u:***@db.internal:5432/n?password=***&sslmode=on");
  EXPECT_EQ(RedactPostgresUrl("postgresql://u@h/db"), "postgresql://u@h/db");
}

}  // namespace
}  // namespace notifyd::storage
