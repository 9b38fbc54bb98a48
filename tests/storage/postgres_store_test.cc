// The PostgreSQL store against a real PostgreSQL server (tests/support/
// postgres_server.h): one server for this binary, a fresh database per test.
// The Store, inbox and retention contracts (store_contract_test.cc,
// inbox_contract_test.cc, retention_contract_test.cc), plus what only
// PostgreSQL has: migrations under concurrency and of existing rows, URLs,
// dropped connections, deadlocks, and several instances on one database (dense
// ids in commit order across them, inbox counts kept right by all of them).
#include "storage/postgres_store.h"

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/postgres_connection.h"
#include "storage/postgres_migrations.h"
#include "tests/storage/store_contract_test.h"
#include "tests/support/postgres_server.h"

namespace notifyd::storage {
namespace {

using ::testing::HasSubstr;
using testing::Hold;
using ::testing::Not;
using testing::RetentionContractTest;
using testing::StoreContractTest;

notifyd::testing::PostgresServer* g_server = nullptr;

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

// A fresh database on the binary's server per harness (so per test).
class PostgresHarness : public testing::StoreHarnessFor<PostgresStoreOptions,
                                                        &OpenPostgresStore> {
 public:
  void SetUp() override {
    ASSERT_NE(g_server, nullptr) << "the PostgreSQL server did not start";
    absl::StatusOr<std::string> url = g_server->CreateDatabase();
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
  }

  const std::string& url() const { return url_; }

  // Runs SQL on the test's database through a connection of its own, as
  // the superuser: what an operator (or another instance) does meanwhile.
  void Sql(const std::string& sql) {
    auto db = PgConnection::Connect(url_);
    ASSERT_TRUE(db.ok()) << db.status();
    absl::Status s = (*db)->Exec(sql);
    EXPECT_TRUE(s.ok()) << s;
  }

  int64_t SqlInt(const std::string& sql) {
    auto db = PgConnection::Connect(url_);
    EXPECT_TRUE(db.ok()) << db.status();
    if (!db.ok()) return -1;
    auto r = (*db)->Query(sql);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() && r->rows() == 1 && !r->IsNull(0, 0) ? r->Int(0, 0) : -1;
  }

  // StoreHarness:
  void RejectWrites(Write write, const std::string& event) override {
    const std::string is_event = "event = '" + event + "'";
    // A mark-read is the update that sets read_at_ms: the `seen` change
    // that the same call makes before it passes, and must be undone too.
    const std::string when =
        write == Write::kInsert
            ? "BEFORE INSERT ON notifications FOR EACH ROW WHEN (NEW." +
                  is_event + ")"
            : "BEFORE UPDATE ON notifications FOR EACH ROW WHEN (OLD." +
                  is_event +
                  " AND OLD.read_at_ms IS DISTINCT FROM NEW.read_at_ms)";
    Sql("CREATE FUNCTION reject_for_test() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'rejected by test'; END $$;"
        " CREATE TRIGGER reject " +
        when + " EXECUTE FUNCTION reject_for_test()");
  }

  int64_t CommittedRowsWithId(uint64_t id) override {
    return SqlInt("SELECT count(*) FROM notifications WHERE id = " +
                  std::to_string(id));
  }

  // The schema version is the newest migration recorded.
  bool SetSchemaVersion(int version) override {
    Sql("INSERT INTO notify_schema_migrations (version, name) VALUES (" +
        std::to_string(version) + ", '" + std::to_string(version) +
        "_future.sql')");
    return true;
  }

 protected:
  void SetDatabase(PostgresStoreOptions& options) override {
    options.url = url_;
  }

  // The gate runs in each batch transaction, right before COMMIT (so
  // holding the id counter's lock), once the test's before_commit has.
  void AddWriterGate(PostgresStoreOptions& options) override {
    options.before_commit = [this, inner = std::move(options.before_commit)] {
      if (inner) inner();
      PassWriterGate();
    };
  }

 private:
  std::string url_;
};

testing::StoreUnderTest PostgresStoreUnderTest() {
  return testing::UnderTest<PostgresHarness>("PostgresStore");
}

INSTANTIATE_TEST_SUITE_P(Postgres, StoreContractTest,
                         ::testing::Values(PostgresStoreUnderTest()),
                         testing::StoreUnderTestName);
INSTANTIATE_TEST_SUITE_P(Postgres, RetentionContractTest,
                         ::testing::Values(PostgresStoreUnderTest()),
                         testing::StoreUnderTestName);

// What only PostgreSQL does, on the same harness.
class PostgresStoreTest : public ::testing::Test,
                          public testing::StoreTestHelpers {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(harness_.SetUp());
    url_ = harness_.url();
  }

  PostgresStoreOptions Options() { return harness_.Options(); }

  // Through the harness, so through the writer gate; null when it failed.
  std::unique_ptr<StoreEngine> Open(PostgresStoreOptions options) {
    return harness_.OpenOrFail(std::move(options));
  }

  std::unique_ptr<StoreEngine> Open() { return Open(Options()); }

  // Appends one notification and keeps the writer inside its transaction,
  // holding the id counter's row lock, until `release` is notified: calls
  // made meanwhile on this store queue up for the next batch, and appends
  // of other instances wait for the lock.
  testing::Hold HoldWriter(Store& store) { return harness_.HoldWriter(store); }

  void Sql(const std::string& sql) { harness_.Sql(sql); }
  int64_t SqlInt(const std::string& sql) { return harness_.SqlInt(sql); }

  PostgresHarness harness_;
  std::string url_;
};

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

// --- Several instances on one database -------------------------------------

TEST_F(PostgresStoreTest,
       TwoInstancesAppendingConcurrentlyGetDenseDistinctIds) {
  constexpr int kThreads = 3;
  constexpr int kPerThread = 40;
  struct Instance {
    std::unique_ptr<StoreEngine> store;
    absl::Mutex mu;
    std::vector<uint64_t> seen ABSL_GUARDED_BY(mu);  // in callback order
  };
  Instance instances[2];
  for (Instance& instance : instances) instance.store = Open();

  absl::BlockingCounter pending(2 * kThreads * kPerThread);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (Instance& instance : instances) {
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          instance.store->Append(
              {"c" + std::to_string(t), "e", std::to_string(i), "", 0, ""},
              [&](absl::StatusOr<AppendResult> r) {
                if (r.ok()) {
                  absl::MutexLock lock(&instance.mu);
                  instance.seen.push_back(r->notification->id);
                } else {
                  ++failures;
                }
                pending.DecrementCount();
              });
        }
      });
    }
  }
  for (std::thread& t : threads) t.join();
  pending.Wait();

  EXPECT_EQ(failures.load(), 0);
  std::set<uint64_t> all;
  size_t total = 0;
  for (Instance& instance : instances) {
    absl::MutexLock lock(&instance.mu);
    // Each instance's callbacks ran in commit order: its own ids ascending.
    EXPECT_TRUE(std::is_sorted(instance.seen.begin(), instance.seen.end()));
    EXPECT_FALSE(instance.seen.empty());
    all.insert(instance.seen.begin(), instance.seen.end());
    total += instance.seen.size();
  }
  // Distinct, and dense from 1: no id lost or taken twice.
  EXPECT_EQ(all.size(), total);
  ASSERT_EQ(total, size_t{2 * kThreads * kPerThread});
  EXPECT_EQ(*all.begin(), 1u);
  EXPECT_EQ(*all.rbegin(), total);
  EXPECT_EQ(*LastCommittedIdSync(*instances[0].store), total);
  EXPECT_EQ(*LastCommittedIdSync(*instances[1].store), total);
  EXPECT_EQ(SqlInt("SELECT count(*) FROM notifications"),
            static_cast<int64_t>(total));
}

TEST_F(PostgresStoreTest, AnAppendWaitsForAnotherInstancesCommitAndFollowsIt) {
  auto a = Open();
  auto b = Open();
  Append(*b, "warm-up");  // b's connections are up and the row exists

  // a's batch holds the id counter inside its open transaction.
  Hold hold = HoldWriter(*a);
  auto b_append = AppendAsync(*b, {"b", "e", "{}", "", 0, ""});

  EXPECT_EQ(b_append.wait_for(std::chrono::milliseconds(500)),
            std::future_status::timeout)
      << "b committed while a held the id counter";
  // What b's readers see is only what is committed: not a's held row.
  EXPECT_EQ(*LastCommittedIdSync(*b), 1u);
  hold.release->Notify();

  absl::StatusOr<AppendResult> held = hold.append.get();
  absl::StatusOr<AppendResult> after = b_append.get();
  ASSERT_TRUE(held.ok()) << held.status();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(held->notification->id, 2u);
  EXPECT_EQ(after->notification->id, held->notification->id + 1);
}

TEST_F(PostgresStoreTest, InstancesChangingAndPruningOneInboxKeepItsCounts) {
  // Two instances append to, change and delete from the same inbox at
  // once while a third prunes it: their batches take turns on the id
  // counter, so the counts kept stay those of the rows.
  PostgresStoreOptions pruning = Options();
  pruning.max_per_channel = 30;
  pruning.prune_batch = 7;
  std::unique_ptr<StoreEngine> stores[] = {Open(), Open(), Open(pruning)};
  const std::string inbox = "user:shared";
  for (int i = 0; i < 40; ++i) Append(*stores[0], inbox);

  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < 2; ++s) {
    threads.emplace_back([&, s] {
      Store& store = *stores[s];
      for (int i = 0; i < 60; ++i) {
        absl::StatusOr<AppendResult> appended =
            AppendSync(store, {inbox, "e", "{}", "", 0, ""});
        if (!appended.ok()) {
          ++failures;
          continue;
        }
        const uint64_t id = appended->notification->id;
        StateChange change;
        change.channel = inbox;
        change.ids = {id, id - 3};
        switch (i % 4) {
          case 0:
            change.seen = true;
            break;
          case 1:
            change.read = true;
            break;
          case 2:
            change.archived = true;
            change.up_to_id = id - 10;
            break;
          case 3:
            change.read = false;
            change.up_to_id = id - 5;
            break;
        }
        if (!ChangeStateSync(store, change).ok()) ++failures;
        if (i % 7 == 0 && !DeleteSync(store, {inbox, {id - 1}, ""}).ok()) {
          ++failures;
        }
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 10; ++i) {
      if (!stores[2]->PruneNow().ok()) ++failures;
    }
  });
  for (std::thread& t : threads) t.join();
  absl::StatusOr<uint64_t> pruned = stores[2]->PruneNow();

  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(SqlInt("SELECT count(*) FROM notifications WHERE box < 3"), 30);
  EXPECT_GT(SqlInt("SELECT count(*) FROM notifications WHERE box = 3"), 0);
  const Counts kept = *GetCountsSync(*stores[0], inbox);
  EXPECT_EQ(static_cast<int64_t>(kept.unread),
            SqlInt("SELECT count(*) FROM notifications WHERE channel = '" +
                   inbox + "' AND box = 0"));
  EXPECT_EQ(static_cast<int64_t>(kept.unseen),
            SqlInt("SELECT count(*) FROM notifications WHERE channel = '" +
                   inbox + "' AND box < 3 AND seen_at_ms = 0"));
}

TEST_F(PostgresStoreTest, AnIdempotencyKeySeenByOneInstanceIsADuplicateOnAll) {
  auto a = Open();
  auto b = Open();
  AppendResult original = Append(*a, "c", "e", "from a", "key");

  AppendResult again = Append(*b, "c", "e", "from b", "key");

  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.notification->id, original.notification->id);
  EXPECT_EQ(again.notification->data, "from a");
}

TEST(PostgresUrlTest, RedactionHidesEveryPasswordAndKeepsTheRest) {
  EXPECT_EQ(RedactPostgresUrl(
                "postgres://u:p@ss@db.internal:5432/n?password=x&sslmode=on"),
            "postgres://u:***@db.internal:5432/n?password=***&sslmode=on");
  EXPECT_EQ(RedactPostgresUrl("postgresql://u@h/db"), "postgresql://u@h/db");
}

}  // namespace
}  // namespace notifyd::storage
