// PostgresStore against a real PostgreSQL server (tests/support/
// postgres_server.h): one server for this binary, a fresh database per test.
// The same behaviour as the SQLite store, plus what only a database shared
// by several instances has: dense ids in commit order across instances.
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
#include "tests/support/postgres_server.h"

namespace notifyd::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr int64_t kHourMs = 3'600'000;

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

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(g_server, nullptr) << "the PostgreSQL server did not start";
    absl::StatusOr<std::string> url = g_server->CreateDatabase();
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
  }

  PostgresStoreOptions Options() {
    PostgresStoreOptions options;
    options.url = url_;
    options.now_ms = [this] { return now_ms_.load(); };
    return options;
  }

  // Every store a test opens passes each id-taking transaction through the
  // writer gate (see HoldWriter) after the test's own before_commit.
  std::unique_ptr<PostgresStore> Open(PostgresStoreOptions options) {
    options.before_commit = [this, inner = std::move(options.before_commit)] {
      if (inner) inner();
      PassWriterGate();
    };
    absl::StatusOr<std::unique_ptr<PostgresStore>> store =
        PostgresStore::Open(std::move(options));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  std::unique_ptr<PostgresStore> Open() { return Open(Options()); }

  static AppendResult Append(Store& store, std::string channel,
                             std::string event = "e", std::string data = "{}",
                             std::string key = "") {
    absl::StatusOr<AppendResult> result =
        AppendSync(store, {std::move(channel), std::move(event),
                           std::move(data), std::move(key)});
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : AppendResult{};
  }

  static std::future<absl::StatusOr<AppendResult>> AppendAsync(
      Store& store, AppendRequest request) {
    auto promise =
        std::make_shared<std::promise<absl::StatusOr<AppendResult>>>();
    store.Append(std::move(request),
                 [promise](absl::StatusOr<AppendResult> result) {
                   promise->set_value(std::move(result));
                 });
    return promise->get_future();
  }

  static std::vector<uint64_t> Ids(const std::vector<Notification>& rows) {
    std::vector<uint64_t> ids;
    for (const Notification& n : rows) ids.push_back(n.id);
    return ids;
  }

  static std::vector<uint64_t> Ids(const ReplayPage& page) {
    std::vector<uint64_t> ids;
    for (const auto& n : page.notifications) ids.push_back(n->id);
    return ids;
  }

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

  // Adds a trigger that fails the statements `when` matches with "rejected
  // by test", like a constraint an operator added.
  void AddRejectingTrigger(const std::string& timing, const std::string& when) {
    Sql("CREATE FUNCTION reject_for_test() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'rejected by test'; END $$;"
        " CREATE TRIGGER reject " +
        timing + " ON notifications FOR EACH ROW WHEN (" + when +
        ") EXECUTE FUNCTION reject_for_test()");
  }

  struct Hold {
    // Notify to let the held transaction commit.
    std::shared_ptr<absl::Notification> release;
    // The held append's outcome.
    std::future<absl::StatusOr<AppendResult>> append;
  };

  // Appends one notification and keeps the writer inside its transaction,
  // holding the id counter's row lock, until `release` is notified: calls
  // made meanwhile on this store queue up for the next batch, and appends
  // of other instances wait for the lock.
  Hold HoldWriter(Store& store) {
    auto held = std::make_shared<absl::Notification>();
    auto release = std::make_shared<absl::Notification>();
    {
      absl::MutexLock lock(&gate_mu_);
      gate_held_ = held;
      gate_release_ = release;
    }
    Hold hold{release, AppendAsync(store, {"hold", "e", "{}", ""})};
    held->WaitForNotification();
    return hold;
  }

  std::string url_;
  std::atomic<int64_t> now_ms_{1'700'000'000'000};

 private:
  // Runs on a writer thread before COMMIT; blocks the first transaction
  // after HoldWriter armed the gate.
  void PassWriterGate() {
    std::shared_ptr<absl::Notification> held, release;
    {
      absl::MutexLock lock(&gate_mu_);
      held = std::move(gate_held_);
      release = std::move(gate_release_);
    }
    if (!release) return;
    held->Notify();
    release->WaitForNotification();
  }

  absl::Mutex gate_mu_;
  std::shared_ptr<absl::Notification> gate_held_ ABSL_GUARDED_BY(gate_mu_);
  std::shared_ptr<absl::Notification> gate_release_ ABSL_GUARDED_BY(gate_mu_);
};

TEST_F(PostgresStoreTest, AppendStoresTheNotificationWithDenseIncreasingIds) {
  auto store = Open();
  AppendResult first = Append(*store, "inbox", "created", R"({"a":1})");
  AppendResult second = Append(*store, "inbox", "updated", R"({"a":2})");

  ASSERT_NE(first.notification, nullptr);
  ASSERT_NE(second.notification, nullptr);
  EXPECT_FALSE(first.duplicate);
  EXPECT_EQ(first.notification->channel, "inbox");
  EXPECT_EQ(first.notification->event, "created");
  EXPECT_EQ(first.notification->data, R"({"a":1})");
  EXPECT_EQ(first.notification->created_at_ms, now_ms_.load());
  EXPECT_FALSE(first.notification->read);
  EXPECT_EQ(first.notification->id, 1u);
  EXPECT_EQ(second.notification->id, first.notification->id + 1);
}

TEST_F(PostgresStoreTest, DataIsStoredByteForByte) {
  auto store = Open();
  const std::string data("nul\0inside \xe2\x82\xac \\x00 '", 21);
  uint64_t id = Append(*store, "c", "e", data).notification->id;

  auto rows = ListSync(*store, {"c"});

  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].id, id);
  EXPECT_EQ((*rows)[0].data, data);
  EXPECT_EQ((*rows)[0].created_at_ms, now_ms_.load());
}

TEST_F(PostgresStoreTest, ListIsNewestFirstAndPerChannel) {
  auto store = Open();
  uint64_t a1 = Append(*store, "a").notification->id;
  Append(*store, "b");
  uint64_t a2 = Append(*store, "a").notification->id;

  auto rows = ListSync(*store, {"a"});

  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_THAT(Ids(*rows), ElementsAre(a2, a1));
}

TEST_F(PostgresStoreTest, PagingByBeforeIdVisitsEveryNotificationOnce) {
  auto store = Open();
  std::vector<uint64_t> appended;
  for (int i = 0; i < 60; ++i) {
    appended.push_back(Append(*store, "long").notification->id);
    if (i % 3 == 0) Append(*store, "other");
  }
  // Read rows sit in their own index range; paging still sees them in place.
  ASSERT_TRUE(MarkReadSync(*store, {"long", {appended[5], appended[40]}}).ok());

  std::vector<uint64_t> seen;
  uint64_t before = 0;
  for (;;) {
    auto page = ListSync(*store, {"long", before, /*limit=*/7});
    ASSERT_TRUE(page.ok()) << page.status();
    if (page->empty()) break;
    EXPECT_LE(page->size(), 7u);
    for (const Notification& n : *page) seen.push_back(n.id);
    before = page->back().id;
  }

  std::vector<uint64_t> newest_first(appended.rbegin(), appended.rend());
  EXPECT_EQ(seen, newest_first);
}

TEST_F(PostgresStoreTest, UnreadOnlyListsSkipReadNotifications) {
  auto store = Open();
  uint64_t id1 = Append(*store, "a").notification->id;
  uint64_t id2 = Append(*store, "a").notification->id;
  uint64_t id3 = Append(*store, "a").notification->id;
  ASSERT_TRUE(MarkReadSync(*store, {"a", {id2}}).ok());

  auto unread = ListSync(*store, {"a", 0, 50, /*unread_only=*/true});
  auto all = ListSync(*store, {"a", 0, 50});

  ASSERT_TRUE(unread.ok()) << unread.status();
  EXPECT_THAT(Ids(*unread), ElementsAre(id3, id1));
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(Ids(*all), ElementsAre(id3, id2, id1));
  EXPECT_TRUE((*all)[1].read);
}

TEST_F(PostgresStoreTest, ReadAndUnreadRowsInterleaveByIdInListsAndReplay) {
  auto store = Open();
  std::vector<uint64_t> ids;
  for (int i = 0; i < 8; ++i) {
    ids.push_back(Append(*store, "a").notification->id);
  }
  ASSERT_TRUE(MarkReadSync(*store, {"a", {ids[1], ids[2], ids[6]}}).ok());

  auto newest = ListSync(*store, {"a", 0, /*limit=*/3});
  auto older = ListSync(*store, {"a", ids[5], /*limit=*/3});
  auto replay = ReplaySync(*store, {{"a"}, ids[0], /*limit=*/4});
  auto whole = ReplaySync(*store, {{"a"}, 0, 100});

  ASSERT_TRUE(newest.ok() && older.ok() && replay.ok() && whole.ok());
  EXPECT_THAT(Ids(*newest), ElementsAre(ids[7], ids[6], ids[5]));
  EXPECT_THAT(Ids(*older), ElementsAre(ids[4], ids[3], ids[2]));
  EXPECT_THAT(Ids(*replay), ElementsAre(ids[1], ids[2], ids[3], ids[4]));
  EXPECT_EQ(whole->notifications.size(), 8u);
  // The oldest row is read-state independent.
  ASSERT_TRUE(MarkReadSync(*store, {"a", {ids[0]}}).ok());
  auto after_mark = ReplaySync(*store, {{"a"}, 0, 1});
  ASSERT_TRUE(after_mark.ok());
  EXPECT_EQ(after_mark->oldest_id, ids[0]);
  EXPECT_THAT(Ids(*after_mark), ElementsAre(ids[0]));
}

TEST_F(PostgresStoreTest, SameIdempotencyKeyOnSameChannelReturnsTheOriginal) {
  auto store = Open();
  AppendResult first = Append(*store, "c", "e", "first", "key-1");

  AppendResult again = Append(*store, "c", "e", "second", "key-1");
  AppendResult next = Append(*store, "c");

  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.notification->id, first.notification->id);
  EXPECT_EQ(again.notification->data, "first");
  EXPECT_EQ(StatsSync(*store)->notifications, 2u);
  // The duplicate took no id.
  EXPECT_EQ(next.notification->id, first.notification->id + 1);
}

TEST_F(PostgresStoreTest,
       SameIdempotencyKeyOnAnotherChannelIsANewNotification) {
  auto store = Open();
  AppendResult first = Append(*store, "c1", "e", "{}", "key-1");

  AppendResult other = Append(*store, "c2", "e", "{}", "key-1");

  EXPECT_FALSE(other.duplicate);
  EXPECT_NE(other.notification->id, first.notification->id);
}

TEST_F(PostgresStoreTest, RepeatedKeyWithinOneBatchIsADuplicateOfTheFirst) {
  std::vector<size_t> batch_sizes;
  absl::Mutex mu;
  PostgresStoreOptions options = Options();
  options.on_commit = [&](const CommitStats& commit) {
    absl::MutexLock lock(&mu);
    batch_sizes.push_back(commit.calls);
  };
  auto store = Open(options);

  Hold hold = HoldWriter(*store);
  auto first = AppendAsync(*store, {"c", "e", "one", "k"});
  auto second = AppendAsync(*store, {"c", "e", "two", "k"});
  hold.release->Notify();
  absl::StatusOr<AppendResult> a = first.get();
  absl::StatusOr<AppendResult> b = second.get();

  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(a->duplicate);
  EXPECT_TRUE(b->duplicate);
  EXPECT_EQ(b->notification->id, a->notification->id);
  EXPECT_EQ(b->notification->data, "one");
  absl::MutexLock lock(&mu);
  EXPECT_THAT(batch_sizes, ElementsAre(1, 2));
}

TEST_F(PostgresStoreTest, OneFailingRowFailsOnlyItsCallerAndTakesNoId) {
  auto store = Open();
  AddRejectingTrigger("BEFORE INSERT", "NEW.event = 'bad'");

  Hold hold = HoldWriter(*store);
  auto good1 = AppendAsync(*store, {"c", "ok", "1", ""});
  auto bad = AppendAsync(*store, {"c", "bad", "2", ""});
  auto good2 = AppendAsync(*store, {"c", "ok", "3", ""});
  hold.release->Notify();

  absl::StatusOr<AppendResult> first = good1.get();
  absl::StatusOr<AppendResult> failed = bad.get();
  absl::StatusOr<AppendResult> second = good2.get();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("rejected by test"));
  // No hole where the failed row would have been.
  EXPECT_EQ(second->notification->id, first->notification->id + 1);
  auto rows = ListSync(*store, {"c"});
  ASSERT_TRUE(rows.ok());
  EXPECT_THAT(Ids(*rows),
              ElementsAre(second->notification->id, first->notification->id));
  EXPECT_EQ(*LastCommittedIdSync(*store), second->notification->id);
}

TEST_F(PostgresStoreTest, AMarkReadThatFailsChangesNothing) {
  auto store = Open();
  uint64_t first = Append(*store, "c").notification->id;
  uint64_t poisoned = Append(*store, "c", "poison").notification->id;
  AddRejectingTrigger("BEFORE UPDATE", "OLD.event = 'poison'");

  auto changed = MarkReadSync(*store, {"c", {first, poisoned}});

  EXPECT_FALSE(changed.ok());
  EXPECT_THAT(changed.status().message(), HasSubstr("rejected by test"));
  auto unread = ListSync(*store, {"c", 0, 10, /*unread_only=*/true});
  ASSERT_TRUE(unread.ok()) << unread.status();
  EXPECT_THAT(Ids(*unread), ElementsAre(poisoned, first));
}

TEST_F(PostgresStoreTest, AppendIsAcknowledgedOnlyOnceCommitted) {
  auto store = Open();
  std::promise<int64_t> visible;
  store->Append({"c", "e", "{}", ""}, [&](absl::StatusOr<AppendResult> r) {
    // Another connection only sees committed rows.
    visible.set_value(
        r.ok() ? SqlInt("SELECT count(*) FROM notifications WHERE id = " +
                        std::to_string(r->notification->id))
               : -1);
  });

  EXPECT_EQ(visible.get_future().get(), 1);
}

TEST_F(PostgresStoreTest, MarkReadByIdsCountsOnlyChangesOnTheChannel) {
  auto store = Open();
  uint64_t a1 = Append(*store, "a").notification->id;
  uint64_t a2 = Append(*store, "a").notification->id;
  uint64_t b1 = Append(*store, "b").notification->id;

  auto changed = MarkReadSync(*store, {"a", {a1, a2, b1, a1}});

  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_EQ(*changed, 2u);
  EXPECT_EQ(*UnreadCountSync(*store, "a"), 0u);
  EXPECT_EQ(*UnreadCountSync(*store, "b"), 1u);
  // Already read: nothing changes the second time.
  EXPECT_EQ(*MarkReadSync(*store, {"a", {a1}}), 0u);
}

TEST_F(PostgresStoreTest, MarkReadUpToIdMarksEverythingAtOrBelowIt) {
  auto store = Open();
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Append(*store, "a").notification->id);
  }
  Append(*store, "b");

  auto changed = MarkReadSync(*store, {"a", {ids[4]}, /*up_to_id=*/ids[2]});

  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_EQ(*changed, 4u);
  EXPECT_EQ(*UnreadCountSync(*store, "a"), 1u);
  EXPECT_EQ(*UnreadCountSync(*store, "b"), 1u);
  auto rows = ListSync(*store, {"a"});
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE((*rows)[0].read);   // ids[4]
  EXPECT_FALSE((*rows)[1].read);  // ids[3]
}

TEST_F(PostgresStoreTest, ReplayMergesChannelsInIdOrderWithLimit) {
  auto store = Open();
  uint64_t a1 = Append(*store, "a").notification->id;
  uint64_t b1 = Append(*store, "b").notification->id;
  Append(*store, "c");
  uint64_t a2 = Append(*store, "a").notification->id;
  uint64_t b2 = Append(*store, "b").notification->id;

  auto all = ReplaySync(*store, {{"b", "a", "b"}, 0, 10});
  auto after = ReplaySync(*store, {{"a", "b"}, a1, 2});

  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(Ids(*all), ElementsAre(a1, b1, a2, b2));
  EXPECT_EQ(all->oldest_id, a1);
  ASSERT_TRUE(after.ok());
  EXPECT_THAT(Ids(*after), ElementsAre(b1, a2));
  EXPECT_EQ(after->oldest_id, a1);
}

TEST_F(PostgresStoreTest, ChannelNamesAreDataNotSyntax) {
  auto store = Open();
  const std::string odd = "a,\"b\"}\\{c d'";
  uint64_t id = Append(*store, odd).notification->id;
  Append(*store, "a");

  auto page = ReplaySync(*store, {{odd}, 0, 10});

  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(Ids(*page), ElementsAre(id));
  EXPECT_EQ(page->notifications[0]->channel, odd);
}

TEST_F(PostgresStoreTest, ReplayOfEmptyChannelsHasNoOldestId) {
  auto store = Open();
  Append(*store, "a");

  auto page = ReplaySync(*store, {{"nothing-here"}, 0, 10});

  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(page->notifications, IsEmpty());
  EXPECT_EQ(page->oldest_id, 0u);
}

TEST_F(PostgresStoreTest, ReplayPastTheNewestStillReportsTheOldestId) {
  auto store = Open();
  uint64_t a1 = Append(*store, "a").notification->id;
  uint64_t a2 = Append(*store, "a").notification->id;

  auto page = ReplaySync(*store, {{"a"}, a2, 10});

  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(page->notifications, IsEmpty());
  EXPECT_EQ(page->oldest_id, a1);
}

TEST_F(PostgresStoreTest, ReplayRefusesTooManyChannels) {
  auto store = Open();
  ReplayQuery query;
  for (size_t i = 0; i <= PostgresStore::kMaxReplayChannels; ++i) {
    query.channels.push_back("c" + std::to_string(i));
  }

  auto page = ReplaySync(*store, query);

  EXPECT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PostgresStoreTest, ReadIdRangeReturnsEveryChannelsRowsInTheRange) {
  auto store = Open();
  const uint64_t first = Append(*store, "a").notification->id;
  Append(*store, "b");
  Append(*store, "a");
  Append(*store, "c");

  auto rows = ReadIdRangeSync(*store, first, first + 2, 10);
  ASSERT_TRUE(rows.ok()) << rows.status();
  std::vector<std::pair<uint64_t, std::string>> got;
  for (const auto& n : *rows) got.emplace_back(n->id, n->channel);
  EXPECT_THAT(got, ElementsAre(std::pair(first + 1, std::string("b")),
                               std::pair(first + 2, std::string("a"))));

  auto limited = ReadIdRangeSync(*store, 0, first + 3, 2);
  ASSERT_TRUE(limited.ok());
  ASSERT_EQ(limited->size(), 2u);
  EXPECT_EQ((*limited)[0]->id, first);
  EXPECT_EQ((*limited)[1]->id, first + 1);
  EXPECT_THAT(*ReadIdRangeSync(*store, first + 3, first + 100, 10), IsEmpty());
}

TEST_F(PostgresStoreTest, LastCommittedIdIsTheNewestIdEvenAfterItWasPruned) {
  PostgresStoreOptions options = Options();
  options.retention = absl::Hours(1);
  auto store = Open(options);
  EXPECT_EQ(*LastCommittedIdSync(*store), 0u);
  Append(*store, "a");
  const uint64_t newest = Append(*store, "b").notification->id;
  EXPECT_EQ(*LastCommittedIdSync(*store), newest);

  now_ms_ += 2 * kHourMs;
  ASSERT_EQ(*store->PruneNow(), 2u);

  EXPECT_EQ(*LastCommittedIdSync(*store), newest);
}

TEST_F(PostgresStoreTest, StatsAndPingReportTheDatabase) {
  auto store = Open();
  Append(*store, "a");
  Append(*store, "b");

  auto stats = StatsSync(*store);
  std::promise<absl::StatusOr<bool>> ping;
  store->Ping([&](absl::StatusOr<bool> r) { ping.set_value(r); });

  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->notifications, 2u);
  EXPECT_GT(stats->bytes, 0u);
  absl::StatusOr<bool> pong = ping.get_future().get();
  ASSERT_TRUE(pong.ok()) << pong.status();
  EXPECT_TRUE(*pong);
}

TEST_F(PostgresStoreTest, NotificationsSurviveReopening) {
  uint64_t id;
  {
    auto store = Open();
    id = Append(*store, "a", "e", "kept").notification->id;
  }
  auto store = Open();

  auto rows = ListSync(*store, {"a"});
  uint64_t next = Append(*store, "a").notification->id;

  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].id, id);
  EXPECT_EQ((*rows)[0].data, "kept");
  EXPECT_EQ(next, id + 1);
}

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
      auto store = PostgresStore::Open(Options());
      results[i] = store.status();
    });
  }
  for (std::thread& t : starters) t.join();

  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(SqlInt("SELECT count(*) FROM notify_schema_migrations"),
            static_cast<int64_t>(EmbeddedPostgresMigrations().size()));
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

TEST_F(PostgresStoreTest, DatabaseFromANewerNotifydIsRefused) {
  Open().reset();
  Sql("INSERT INTO notify_schema_migrations (version, name)"
      " VALUES (999, '0999_future.sql')");

  auto store = PostgresStore::Open(Options());

  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(),
              HasSubstr("store schema version 999 is newer than this notifyd"));
}

TEST_F(PostgresStoreTest, AUrlThatIsNotPostgresIsInvalidArgument) {
  PostgresStoreOptions options = Options();
  options.url = "mysql://user:hunter22@127.0.0.1/db";

  auto store = PostgresStore::Open(options);

  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(store.status().message(), HasSubstr("postgres://"));
  EXPECT_THAT(store.status().message(), Not(HasSubstr("hunter22")));
}

TEST_F(PostgresStoreTest, AMalformedUrlIsInvalidArgumentWithoutThePassword) {
  PostgresStoreOptions options = Options();
  options.url = "postgresql://user:hunter22@[::1/db";

  auto store = PostgresStore::Open(options);

  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(store.status().message(), HasSubstr("invalid PostgreSQL URL"));
  EXPECT_THAT(store.status().message(), Not(HasSubstr("hunter22")));
}

TEST_F(PostgresStoreTest, AnUnreachableServerIsUnavailableNamingIt) {
  PostgresStoreOptions options = Options();
  // Port 1: nothing listens there, the connection is refused at once.
  options.url = "postgres://user:hunter22@127.0.0.1:1/db?password=hunter22";

  auto store = PostgresStore::Open(options);

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
      AppendSync(*store, {"a", "e", "", ""});
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
  const uint64_t a = Append(*store, "c").notification->id;
  const uint64_t b = Append(*store, "c").notification->id;
  // Another session (an operator, another instance) holds row b.
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
    store->MarkRead({"c", {id}}, [promise](absl::StatusOr<uint64_t> r) {
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
  EXPECT_EQ(*UnreadCountSync(*store, "c"), 0u);
}

TEST_F(PostgresStoreTest,
       CallsAfterCloseFailWithUnavailableOffTheCallerThread) {
  auto store = Open();
  store->Close();
  store->Close();  // idempotent

  std::promise<std::thread::id> where;
  store->UnreadCount("a", [&](absl::StatusOr<uint64_t> r) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
    where.set_value(std::this_thread::get_id());
  });
  EXPECT_NE(where.get_future().get(), std::this_thread::get_id());

  auto append = AppendSync(*store, {"a", "e", "{}", ""});
  EXPECT_EQ(append.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(append.status().message(), HasSubstr("store is closed"));
  EXPECT_EQ(ListSync(*store, {"a"}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(store->PruneNow().status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(PostgresStoreTest, CloseFinishesCallsAlreadyQueued) {
  auto store = Open();
  Hold hold = HoldWriter(*store);
  auto queued = AppendAsync(*store, {"a", "e", "{}", ""});
  std::thread closer([&] { store->Close(); });
  hold.release->Notify();
  closer.join();

  EXPECT_TRUE(hold.append.get().ok());
  EXPECT_TRUE(queued.get().ok());
}

// --- Several instances on one database -------------------------------------

TEST_F(PostgresStoreTest,
       TwoInstancesAppendingConcurrentlyGetDenseDistinctIds) {
  constexpr int kThreads = 3;
  constexpr int kPerThread = 40;
  struct Instance {
    std::unique_ptr<PostgresStore> store;
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
              {"c" + std::to_string(t), "e", std::to_string(i), ""},
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
  auto b_append = AppendAsync(*b, {"b", "e", "{}", ""});

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

TEST_F(PostgresStoreTest, AnIdempotencyKeySeenByOneInstanceIsADuplicateOnAll) {
  auto a = Open();
  auto b = Open();
  AppendResult original = Append(*a, "c", "e", "from a", "key");

  AppendResult again = Append(*b, "c", "e", "from b", "key");

  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.notification->id, original.notification->id);
  EXPECT_EQ(again.notification->data, "from a");
}

// --- Retention ---------------------------------------------------------------

TEST_F(PostgresStoreTest, RowsOlderThanRetentionArePruned) {
  PostgresStoreOptions options = Options();
  options.retention = absl::Hours(1);
  auto store = Open(options);
  Append(*store, "a");
  Append(*store, "b");
  now_ms_ += 2 * kHourMs;
  uint64_t fresh = Append(*store, "a").notification->id;

  auto deleted = store->PruneNow();

  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 2u);
  EXPECT_THAT(Ids(*ListSync(*store, {"a"})), ElementsAre(fresh));
  EXPECT_THAT(*ListSync(*store, {"b"}), IsEmpty());
}

TEST_F(PostgresStoreTest, PruningDeletesInBatchesUntilNothingOldIsLeft) {
  PostgresStoreOptions options = Options();
  options.retention = absl::Hours(1);
  options.prune_batch = 2;
  auto store = Open(options);
  for (int i = 0; i < 7; ++i) Append(*store, "a");
  now_ms_ += 2 * kHourMs;
  uint64_t fresh = Append(*store, "a").notification->id;

  auto deleted = store->PruneNow();

  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 7u);
  EXPECT_THAT(Ids(*ListSync(*store, {"a"})), ElementsAre(fresh));
}

TEST_F(PostgresStoreTest, MaxPerChannelKeepsTheNewestOfEachChannel) {
  PostgresStoreOptions options = Options();
  options.max_per_channel = 3;
  options.prune_batch = 1;
  auto store = Open(options);
  std::vector<uint64_t> a;
  for (int i = 0; i < 5; ++i) a.push_back(Append(*store, "a").notification->id);
  uint64_t b1 = Append(*store, "b").notification->id;
  uint64_t b2 = Append(*store, "b").notification->id;
  // The read state does not protect a row, nor make it go first.
  ASSERT_TRUE(MarkReadSync(*store, {"a", {a[1], a[3]}}).ok());

  auto deleted = store->PruneNow();

  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 2u);
  EXPECT_THAT(Ids(*ListSync(*store, {"a"})), ElementsAre(a[4], a[3], a[2]));
  EXPECT_THAT(Ids(*ListSync(*store, {"b"})), ElementsAre(b2, b1));
  // Replay tells a resuming client that history now starts later.
  EXPECT_EQ(ReplaySync(*store, {{"a"}, 0, 10})->oldest_id, a[2]);
}

TEST_F(PostgresStoreTest, IdsAreNeverReusedAfterTheNewestRowIsDeleted) {
  PostgresStoreOptions options = Options();
  options.retention = absl::Hours(1);
  uint64_t newest;
  {
    auto store = Open(options);
    Append(*store, "a");
    newest = Append(*store, "a").notification->id;
    now_ms_ += 2 * kHourMs;
    ASSERT_EQ(*store->PruneNow(), 2u);
    ASSERT_EQ(StatsSync(*store)->notifications, 0u);

    EXPECT_EQ(Append(*store, "a").notification->id, newest + 1);
    newest += 1;
  }
  // Nor after a restart, when only the database remembers the last id.
  auto store = Open(options);
  EXPECT_EQ(Append(*store, "a").notification->id, newest + 1);
}

TEST_F(PostgresStoreTest, AfterTheClockSteppedBackNoRowIsDeletedBeforeItIsOld) {
  PostgresStoreOptions options = Options();
  options.retention = absl::Hours(1);
  auto store = Open(options);
  uint64_t first = Append(*store, "a").notification->id;
  // Stamped two hours before `first`, though written after it.
  now_ms_ -= 2 * kHourMs;
  uint64_t second = Append(*store, "a").notification->id;
  now_ms_ += 2 * kHourMs + kHourMs / 2;

  // `second` is no older than `first`, which is 30 minutes old.
  EXPECT_EQ(*store->PruneNow(), 0u);
  EXPECT_THAT(Ids(*ListSync(*store, {"a"})), ElementsAre(second, first));

  now_ms_ += kHourMs;
  EXPECT_EQ(*store->PruneNow(), 2u);
}

TEST_F(PostgresStoreTest, BackgroundPrunerRunsEveryInterval) {
  PostgresStoreOptions options = Options();
  options.retention = absl::Hours(1);
  options.prune_interval = absl::Milliseconds(20);
  auto store = Open(options);
  Append(*store, "a");
  now_ms_ += 2 * kHourMs;

  bool pruned = false;
  for (int i = 0; i < 250 && !pruned; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pruned = StatsSync(*store)->notifications == 0;
  }

  EXPECT_TRUE(pruned);
}

TEST_F(PostgresStoreTest, NothingIsPrunedWhenRetentionIsOff) {
  auto store = Open();
  Append(*store, "a");
  now_ms_ += 1000 * kHourMs;

  EXPECT_EQ(*store->PruneNow(), 0u);
  EXPECT_EQ(StatsSync(*store)->notifications, 1u);
}

TEST(PostgresUrlTest, RedactionHidesEveryPasswordAndKeepsTheRest) {
  EXPECT_EQ(RedactPostgresUrl(
                "postgres://u:p@ss@db.internal:5432/n?password=x&sslmode=on"),
            "postgres://u:***@db.internal:5432/n?password=***&sslmode=on");
  EXPECT_EQ(RedactPostgresUrl("postgresql://u@h/db"), "postgresql://u@h/db");
}

}  // namespace
}  // namespace notifyd::storage
