#include "storage/sqlite_store.h"

#include <sqlite3.h>

#include <future>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/migrations.h"
#include "tests/storage/store_test_util.h"

namespace notifyd::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class SqliteStoreTest : public testing::StoreTest {
 protected:
  // Through a connection of its own, adds a trigger that fails the
  // statements `when` matches with "rejected by test".
  void AddRejectingTrigger(const std::string& when) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(Options().path.c_str(), &db), SQLITE_OK);
    const std::string sql =
        "CREATE TRIGGER reject " + when +
        " BEGIN SELECT RAISE(ABORT, 'rejected by test'); END;";
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
};

TEST_F(SqliteStoreTest, AppendStoresTheNotificationWithIncreasingIds) {
  auto store = Open();
  AppendResult first = Append(*store, "inbox", "created", R"({"a":1})");
  AppendResult second = Append(*store, "inbox", "updated", R"({"a":2})");

  ASSERT_NE(first.notification, nullptr);
  EXPECT_FALSE(first.duplicate);
  EXPECT_EQ(first.notification->channel, "inbox");
  EXPECT_EQ(first.notification->event, "created");
  EXPECT_EQ(first.notification->data, R"({"a":1})");
  EXPECT_EQ(first.notification->created_at_ms, now_ms_.load());
  EXPECT_FALSE(first.notification->read);
  EXPECT_GT(second.notification->id, first.notification->id);
}

TEST_F(SqliteStoreTest, DataIsStoredByteForByte) {
  auto store = Open();
  const std::string data("nul\0inside \xe2\x82\xac", 15);
  uint64_t id = Append(*store, "c", "e", data).notification->id;

  auto rows = ListSync(*store, {"c"});

  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].id, id);
  EXPECT_EQ((*rows)[0].data, data);
}

TEST_F(SqliteStoreTest, ListIsNewestFirstAndPerChannel) {
  auto store = Open();
  uint64_t a1 = Append(*store, "a").notification->id;
  Append(*store, "b");
  uint64_t a2 = Append(*store, "a").notification->id;

  auto rows = ListSync(*store, {"a"});

  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_THAT(Ids(*rows), ElementsAre(a2, a1));
}

TEST_F(SqliteStoreTest, PagingByBeforeIdVisitsEveryNotificationOnce) {
  auto store = Open();
  std::vector<uint64_t> appended;
  for (int i = 0; i < 100; ++i) {
    appended.push_back(Append(*store, "long").notification->id);
    if (i % 3 == 0) Append(*store, "other");
  }

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

TEST_F(SqliteStoreTest, SameIdempotencyKeyOnSameChannelReturnsTheOriginal) {
  auto store = Open();
  AppendResult first = Append(*store, "c", "e", "first", "key-1");

  AppendResult again = Append(*store, "c", "e", "second", "key-1");

  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.notification->id, first.notification->id);
  EXPECT_EQ(again.notification->data, "first");
  EXPECT_EQ(StatsSync(*store)->notifications, 1u);
}

TEST_F(SqliteStoreTest, SameIdempotencyKeyOnAnotherChannelIsANewNotification) {
  auto store = Open();
  AppendResult first = Append(*store, "c1", "e", "{}", "key-1");

  AppendResult other = Append(*store, "c2", "e", "{}", "key-1");

  EXPECT_FALSE(other.duplicate);
  EXPECT_NE(other.notification->id, first.notification->id);
}

TEST_F(SqliteStoreTest, RepeatedKeyWithinOneBatchIsADuplicateOfTheFirst) {
  std::vector<size_t> batch_sizes;
  absl::Mutex mu;
  SqliteStoreOptions options = Options();
  options.on_commit = [&](const CommitStats& commit) {
    absl::MutexLock lock(&mu);
    batch_sizes.push_back(commit.calls);
  };
  auto store = Open(options);

  auto release = HoldWriter(*store);
  std::promise<absl::StatusOr<AppendResult>> first, second;
  store->Append({"c", "e", "one", "k"},
                [&](absl::StatusOr<AppendResult> r) { first.set_value(r); });
  store->Append({"c", "e", "two", "k"},
                [&](absl::StatusOr<AppendResult> r) { second.set_value(r); });
  release->Notify();
  absl::StatusOr<AppendResult> a = first.get_future().get();
  absl::StatusOr<AppendResult> b = second.get_future().get();

  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(a->duplicate);
  EXPECT_TRUE(b->duplicate);
  EXPECT_EQ(b->notification->id, a->notification->id);
  EXPECT_EQ(b->notification->data, "one");
  absl::MutexLock lock(&mu);
  EXPECT_THAT(batch_sizes, ElementsAre(1, 2));
}

TEST_F(SqliteStoreTest, OneFailingRowFailsOnlyItsCaller) {
  auto store = Open();
  AddRejectingTrigger("BEFORE INSERT ON notifications WHEN NEW.event = 'bad'");

  auto release = HoldWriter(*store);
  std::promise<absl::StatusOr<AppendResult>> good1, bad, good2;
  store->Append({"c", "ok", "1", ""}, [&](auto r) { good1.set_value(r); });
  store->Append({"c", "bad", "2", ""}, [&](auto r) { bad.set_value(r); });
  store->Append({"c", "ok", "3", ""}, [&](auto r) { good2.set_value(r); });
  release->Notify();

  EXPECT_TRUE(good1.get_future().get().ok());
  absl::StatusOr<AppendResult> failed = bad.get_future().get();
  EXPECT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("rejected by test"));
  EXPECT_TRUE(good2.get_future().get().ok());
  auto rows = ListSync(*store, {"c"});
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 2u);
}

TEST_F(SqliteStoreTest, AMarkReadThatFailsHalfwayChangesNothing) {
  auto store = Open();
  uint64_t first = Append(*store, "c").notification->id;
  uint64_t poisoned = Append(*store, "c", "poison").notification->id;
  AddRejectingTrigger(
      "BEFORE UPDATE ON notifications WHEN OLD.event = 'poison'");

  // Two UPDATE statements: the first succeeds before the second fails.
  auto changed = MarkReadSync(*store, {"c", {first, poisoned}});

  EXPECT_FALSE(changed.ok());
  EXPECT_THAT(changed.status().message(), HasSubstr("rejected by test"));
  auto unread = ListSync(*store, {"c", 0, 10, /*unread_only=*/true});
  ASSERT_TRUE(unread.ok()) << unread.status();
  EXPECT_THAT(Ids(*unread), ElementsAre(poisoned, first));
}

TEST_F(SqliteStoreTest, AppendIsAcknowledgedOnlyOnceCommitted) {
  auto store = Open();
  const std::string path = Options().path;
  std::promise<int> visible;
  store->Append({"c", "e", "{}", ""}, [&](absl::StatusOr<AppendResult> r) {
    // A separate connection only sees committed rows.
    sqlite3* db = nullptr;
    sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM notifications WHERE id = ?",
                       -1, &stmt, nullptr);
    sqlite3_bind_int64(stmt, 1, r.ok() ? r->notification->id : -1);
    int count =
        sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    visible.set_value(count);
  });

  EXPECT_EQ(visible.get_future().get(), 1);
}

TEST_F(SqliteStoreTest, MarkReadByIdsCountsOnlyChangesOnTheChannel) {
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

TEST_F(SqliteStoreTest, MarkReadUpToIdMarksEverythingAtOrBelowIt) {
  auto store = Open();
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(Append(*store, "a").notification->id);
  Append(*store, "b");

  auto changed = MarkReadSync(*store, {"a", {ids[4]}, /*up_to_id=*/ids[2]});

  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(*changed, 4u);
  EXPECT_EQ(*UnreadCountSync(*store, "a"), 1u);
  EXPECT_EQ(*UnreadCountSync(*store, "b"), 1u);
  auto rows = ListSync(*store, {"a"});
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE((*rows)[0].read);   // ids[4]
  EXPECT_FALSE((*rows)[1].read);  // ids[3]
}

TEST_F(SqliteStoreTest, UnreadOnlyListsSkipReadNotifications) {
  auto store = Open();
  uint64_t id1 = Append(*store, "a").notification->id;
  uint64_t id2 = Append(*store, "a").notification->id;
  uint64_t id3 = Append(*store, "a").notification->id;
  ASSERT_TRUE(MarkReadSync(*store, {"a", {id2}}).ok());

  auto unread = ListSync(*store, {"a", 0, 50, /*unread_only=*/true});

  ASSERT_TRUE(unread.ok());
  EXPECT_THAT(Ids(*unread), ElementsAre(id3, id1));
}

// Read and unread rows sit in separate ranges of the channel index; every
// listing still interleaves them by id.
TEST_F(SqliteStoreTest, ReadAndUnreadRowsInterleaveByIdInListsAndReplay) {
  auto store = Open();
  std::vector<uint64_t> ids;
  for (int i = 0; i < 8; ++i)
    ids.push_back(Append(*store, "a").notification->id);
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

TEST_F(SqliteStoreTest, ReplayMergesChannelsInIdOrderWithLimit) {
  auto store = Open();
  uint64_t a1 = Append(*store, "a").notification->id;
  uint64_t b1 = Append(*store, "b").notification->id;
  Append(*store, "c");
  uint64_t a2 = Append(*store, "a").notification->id;
  uint64_t b2 = Append(*store, "b").notification->id;

  auto all = ReplaySync(*store, {{"b", "a"}, 0, 10});
  auto after = ReplaySync(*store, {{"a", "b"}, a1, 2});

  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(Ids(*all), ElementsAre(a1, b1, a2, b2));
  EXPECT_EQ(all->oldest_id, a1);
  ASSERT_TRUE(after.ok());
  EXPECT_THAT(Ids(*after), ElementsAre(b1, a2));
  EXPECT_EQ(after->oldest_id, a1);
}

TEST_F(SqliteStoreTest, ReplayOfEmptyChannelsHasNoOldestId) {
  auto store = Open();
  Append(*store, "a");

  auto page = ReplaySync(*store, {{"nothing-here"}, 0, 10});

  ASSERT_TRUE(page.ok());
  EXPECT_THAT(page->notifications, IsEmpty());
  EXPECT_EQ(page->oldest_id, 0u);
}

TEST_F(SqliteStoreTest, ReplayRefusesTooManyChannels) {
  auto store = Open();
  ReplayQuery query;
  for (size_t i = 0; i <= SqliteStore::kMaxReplayChannels; ++i) {
    query.channels.push_back("c" + std::to_string(i));
  }

  auto page = ReplaySync(*store, query);

  EXPECT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument);
}

// What a bus shared by several instances reads to fill a gap in the ids it
// received: every channel, by id, bounded on both sides and by the limit.
TEST_F(SqliteStoreTest, ReadIdRangeReturnsEveryChannelsRowsInTheRange) {
  auto store = Open();
  const uint64_t first = Append(*store, "a").notification->id;
  Append(*store, "b");
  Append(*store, "a");
  Append(*store, "c");

  auto rows = ReadIdRangeSync(*store, first, first + 3, 10);
  ASSERT_TRUE(rows.ok()) << rows.status();
  std::vector<std::pair<uint64_t, std::string>> got;
  for (const auto& n : *rows) got.emplace_back(n->id, n->channel);
  EXPECT_THAT(got, ElementsAre(std::pair(first + 1, std::string("b")),
                               std::pair(first + 2, std::string("a")),
                               std::pair(first + 3, std::string("c"))));

  auto limited = ReadIdRangeSync(*store, 0, first + 3, 2);
  ASSERT_TRUE(limited.ok());
  ASSERT_EQ(limited->size(), 2u);
  EXPECT_EQ((*limited)[0]->id, first);
  EXPECT_EQ((*limited)[1]->id, first + 1);
  EXPECT_THAT(*ReadIdRangeSync(*store, first + 3, first + 100, 10), IsEmpty());
}

TEST_F(SqliteStoreTest, LastCommittedIdIsTheNewestIdEvenAfterItWasPruned) {
  SqliteStoreOptions options = Options();
  options.retention = absl::Hours(1);
  auto store = Open(options);
  EXPECT_EQ(*LastCommittedIdSync(*store), 0u);
  Append(*store, "a");
  const uint64_t newest = Append(*store, "b").notification->id;
  EXPECT_EQ(*LastCommittedIdSync(*store), newest);

  now_ms_ += 2 * 3600 * 1000;
  ASSERT_EQ(*store->PruneNow(), 2u);

  EXPECT_EQ(*LastCommittedIdSync(*store), newest);
}

TEST_F(SqliteStoreTest, StatsAndPingReportTheDatabase) {
  auto store = Open();
  Append(*store, "a");
  Append(*store, "b");

  auto stats = StatsSync(*store);
  std::promise<absl::StatusOr<bool>> ping;
  store->Ping([&](absl::StatusOr<bool> r) { ping.set_value(r); });

  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->notifications, 2u);
  EXPECT_GT(stats->bytes, 0u);
  absl::StatusOr<bool> pong = ping.get_future().get();
  ASSERT_TRUE(pong.ok());
  EXPECT_TRUE(*pong);
}

TEST_F(SqliteStoreTest, NotificationsSurviveReopening) {
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
  EXPECT_GT(next, id);
}

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
                           "(1, 'a', 'e', 'one', 0, 1), "
                           "(2, 'a', 'e', 'two', 0, 0), "
                           "(3, 'b', 'e', 'three', 0, 0), "
                           "(4, 'a', 'e', 'four', 0, 1), "
                           "(9, 'b', 'e', 'nine', 0, 0); "
                           "DELETE FROM notifications WHERE id = 9",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = Open();

  auto rows = ListSync(*store, {"a"});
  auto unread = UnreadCountSync(*store, "a");
  uint64_t next = Append(*store, "a").notification->id;

  ASSERT_TRUE(rows.ok() && unread.ok());
  EXPECT_THAT(Ids(*rows), ElementsAre(4, 2, 1));
  EXPECT_TRUE((*rows)[0].read);
  EXPECT_FALSE((*rows)[1].read);
  EXPECT_EQ(*unread, 1u);
  EXPECT_EQ(next, 10u);
}

TEST_F(SqliteStoreTest, MissingDirectoryGivesAnErrorNamingThePath) {
  SqliteStoreOptions options = Options();
  options.path = dir_.File("no/such/dir/notifyd.db");

  auto store = SqliteStore::Open(options);

  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(),
              HasSubstr("cannot open store at " + options.path +
                        ": unable to open database file"));
}

TEST_F(SqliteStoreTest, DatabaseFromANewerNotifydIsRefused) {
  Open().reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(Options().path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "PRAGMA user_version = 999", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);

  auto store = SqliteStore::Open(Options());

  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(),
              HasSubstr("store schema version 999 is newer than this notifyd"));
}

TEST_F(SqliteStoreTest, CallsAfterCloseFailWithUnavailableOffTheCallerThread) {
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

TEST_F(SqliteStoreTest, CloseFinishesCallsAlreadyQueued) {
  auto store = Open();
  auto release = HoldWriter(*store);
  std::promise<absl::StatusOr<AppendResult>> queued;
  store->Append({"a", "e", "{}", ""},
                [&](absl::StatusOr<AppendResult> r) { queued.set_value(r); });
  std::thread closer([&] { store->Close(); });
  release->Notify();
  closer.join();

  EXPECT_TRUE(queued.get_future().get().ok());
}

}  // namespace
}  // namespace notifyd::storage
