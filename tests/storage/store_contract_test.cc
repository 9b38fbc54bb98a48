// The contract of every Store (storage/store.h), run against each
// implementation by the binary that instantiates StoreContractTest (see
// store_contract_test.h): appends, lists, idempotency, failures, marking
// read, opening and closing. Each test opens stores on a fresh, empty
// database. The reading side is in replay_contract_test.cc, the inbox's in
// inbox_contract_test.cc.
#include "tests/storage/store_contract_test.h"

#include <cstdint>
#include <future>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/store.h"

namespace notifyd::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Hold;
using ::testing::IsEmpty;
using testing::StoreContractTest;
using testing::StoreSettings;

// --- Append and List
// ----------------------------------------------------------

// Dense: a fresh database starts at 1 and every append takes the next id.
TEST_P(StoreContractTest, AppendStoresTheNotificationWithDenseIncreasingIds) {
  auto store = Open();
  AppendResult first = Append(*store, "inbox", "created", R"({"a":1})");
  AppendResult second = Append(*store, "inbox", "updated", R"({"a":2})");

  ASSERT_NE(first.notification, nullptr);
  ASSERT_NE(second.notification, nullptr);
  EXPECT_FALSE(first.duplicate);
  EXPECT_EQ(first.notification->channel, "inbox");
  EXPECT_EQ(first.notification->event, "created");
  EXPECT_EQ(first.notification->data, R"({"a":1})");
  EXPECT_EQ(first.notification->created_at_ms, harness().NowMs());
  EXPECT_FALSE(first.notification->read());
  EXPECT_EQ(first.notification->id, 1u);
  EXPECT_EQ(second.notification->id, first.notification->id + 1);
}

// A NUL, non-ASCII bytes, a quote and what looks like an escape: payloads
// are opaque to the store.
TEST_P(StoreContractTest, DataIsStoredByteForByte) {
  auto store = Open();
  const std::string data("nul\0inside \xe2\x82\xac \\x00 '", 21);
  uint64_t id = Append(*store, "c", "e", data).notification->id;

  auto rows = ListSync(*store, {"c"});

  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].id, id);
  EXPECT_EQ((*rows)[0].data, data);
  EXPECT_EQ((*rows)[0].created_at_ms, harness().NowMs());
}

TEST_P(StoreContractTest, ListIsNewestFirstAndPerChannel) {
  auto store = Open();
  uint64_t a1 = Append(*store, "a").notification->id;
  Append(*store, "b");
  uint64_t a2 = Append(*store, "a").notification->id;

  auto rows = ListSync(*store, {"a"});

  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_THAT(Ids(*rows), ElementsAre(a2, a1));
}

TEST_P(StoreContractTest, PagingByBeforeIdVisitsEveryNotificationOnce) {
  auto store = Open();
  std::vector<uint64_t> appended;
  for (int i = 0; i < 100; ++i) {
    appended.push_back(Append(*store, "user:long").notification->id);
    if (i % 3 == 0) Append(*store, "user:other");
  }
  // Read rows sit in their own index range; paging still sees them in place.
  ASSERT_TRUE(
      MarkReadSync(*store, {"user:long", {appended[5], appended[40]}}).ok());

  std::vector<uint64_t> seen;
  uint64_t before = 0;
  for (;;) {
    auto page = ListSync(*store, {"user:long", before, /*limit=*/7});
    ASSERT_TRUE(page.ok()) << page.status();
    if (page->empty()) break;
    EXPECT_LE(page->size(), 7u);
    for (const Notification& n : *page) seen.push_back(n.id);
    before = page->back().id;
  }

  std::vector<uint64_t> newest_first(appended.rbegin(), appended.rend());
  EXPECT_EQ(seen, newest_first);
}

TEST_P(StoreContractTest, UnreadListsSkipReadNotifications) {
  auto store = Open();
  uint64_t id1 = Append(*store, "user:a").notification->id;
  uint64_t id2 = Append(*store, "user:a").notification->id;
  uint64_t id3 = Append(*store, "user:a").notification->id;
  ASSERT_TRUE(MarkReadSync(*store, {"user:a", {id2}}).ok());

  auto unread = ListSync(*store, {"user:a", 0, 50, ListFilter::kUnread});
  auto all = ListSync(*store, {"user:a", 0, 50});

  ASSERT_TRUE(unread.ok()) << unread.status();
  EXPECT_THAT(Ids(*unread), ElementsAre(id3, id1));
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(Ids(*all), ElementsAre(id3, id2, id1));
  EXPECT_TRUE((*all)[1].read());
}

// Read and unread rows sit in separate ranges of the channel index; every
// listing still interleaves them by id, and replay interleaves the state
// records too.
TEST_P(StoreContractTest, ReadAndUnreadRowsInterleaveByIdInListsAndReplay) {
  auto store = Open();
  std::vector<uint64_t> ids;
  for (int i = 0; i < 8; ++i) {
    ids.push_back(Append(*store, "user:a").notification->id);
  }
  ASSERT_TRUE(MarkReadSync(*store, {"user:a", {ids[1], ids[2], ids[6]}}).ok());
  const uint64_t record = ids[7] + 1;

  auto newest = ListSync(*store, {"user:a", 0, /*limit=*/3});
  auto older = ListSync(*store, {"user:a", ids[5], /*limit=*/3});
  auto replay = ReplaySync(*store, {{"user:a"}, ids[0], /*limit=*/4});
  auto whole = ReplaySync(*store, {{"user:a"}, 0, 100});

  ASSERT_TRUE(newest.ok() && older.ok() && replay.ok() && whole.ok());
  EXPECT_THAT(Ids(*newest), ElementsAre(ids[7], ids[6], ids[5]));
  EXPECT_THAT(Ids(*older), ElementsAre(ids[4], ids[3], ids[2]));
  EXPECT_THAT(Ids(*replay), ElementsAre(ids[1], ids[2], ids[3], ids[4]));
  ASSERT_EQ(whole->notifications.size(), 9u);
  EXPECT_EQ(whole->notifications.back()->id, record);
  EXPECT_TRUE(whole->notifications.back()->is_record());
  // The oldest row is read-state independent.
  ASSERT_TRUE(MarkReadSync(*store, {"user:a", {ids[0]}}).ok());
  auto after_mark = ReplaySync(*store, {{"user:a"}, 0, 1});
  ASSERT_TRUE(after_mark.ok()) << after_mark.status();
  EXPECT_EQ(after_mark->oldest_id, ids[0]);
  EXPECT_THAT(Ids(*after_mark), ElementsAre(ids[0]));
}

// --- Idempotency
// --------------------------------------------------------------

TEST_P(StoreContractTest, SameIdempotencyKeyOnSameChannelReturnsTheOriginal) {
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

TEST_P(StoreContractTest,
       SameIdempotencyKeyOnAnotherChannelIsANewNotification) {
  auto store = Open();
  AppendResult first = Append(*store, "c1", "e", "{}", "key-1");

  AppendResult other = Append(*store, "c2", "e", "{}", "key-1");

  EXPECT_FALSE(other.duplicate);
  EXPECT_NE(other.notification->id, first.notification->id);
}

TEST_P(StoreContractTest, RepeatedKeyWithinOneBatchIsADuplicateOfTheFirst) {
  std::vector<size_t> batch_sizes;
  absl::Mutex mu;
  StoreSettings settings;
  settings.on_commit = [&](const CommitStats& commit) {
    absl::MutexLock lock(&mu);
    batch_sizes.push_back(commit.calls);
  };
  auto store = Open(settings);

  Hold hold = harness().HoldWriter(*store);
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
  // The held append alone, then both of the same key in one batch.
  absl::MutexLock lock(&mu);
  EXPECT_THAT(batch_sizes, ElementsAre(1, 2));
}

// --- Failures
// -----------------------------------------------------------------

TEST_P(StoreContractTest, OneFailingRowFailsOnlyItsCallerAndTakesNoId) {
  auto store = Open();
  harness().RejectWrites(testing::StoreHarness::Write::kInsert, "bad");

  Hold hold = harness().HoldWriter(*store);
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
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_THAT(Ids(*rows),
              ElementsAre(second->notification->id, first->notification->id));
  EXPECT_EQ(*LastCommittedIdSync(*store), second->notification->id);
}

TEST_P(StoreContractTest, AMarkReadThatFailsHalfwayChangesNothing) {
  auto store = Open();
  uint64_t first = Append(*store, "user:c").notification->id;
  uint64_t poisoned = Append(*store, "user:c", "poison").notification->id;
  harness().RejectWrites(testing::StoreHarness::Write::kMarkRead, "poison");

  // `first` may be changed before `poisoned` fails (SQLite runs one UPDATE
  // per id, PostgreSQL one UPDATE that changes row after row): that change
  // must be undone.
  auto changed = MarkReadSync(*store, {"user:c", {first, poisoned}});

  EXPECT_FALSE(changed.ok());
  EXPECT_THAT(changed.status().message(), HasSubstr("rejected by test"));
  auto unread = ListSync(*store, {"user:c", 0, 10, ListFilter::kUnread});
  ASSERT_TRUE(unread.ok()) << unread.status();
  EXPECT_THAT(Ids(*unread), ElementsAre(poisoned, first));
  // Neither the seen flags set before it failed nor the counts changed.
  auto unseen = ListSync(*store, {"user:c", 0, 10, ListFilter::kUnseen});
  ASSERT_TRUE(unseen.ok()) << unseen.status();
  EXPECT_THAT(Ids(*unseen), ElementsAre(poisoned, first));
  EXPECT_EQ(*GetCountsSync(*store, "user:c"), (Counts{2, 2}));
  EXPECT_EQ(*LastCommittedIdSync(*store), poisoned);
}

TEST_P(StoreContractTest, AppendIsAcknowledgedOnlyOnceCommitted) {
  auto store = Open();
  std::promise<int64_t> visible;
  store->Append({"c", "e", "{}", ""}, [&](absl::StatusOr<AppendResult> r) {
    // Another connection only sees committed rows.
    visible.set_value(
        r.ok() ? harness().CommittedRowsWithId(r->notification->id) : -1);
  });

  EXPECT_EQ(visible.get_future().get(), 1);
}

// --- Mark read
// ----------------------------------------------------------------

TEST_P(StoreContractTest, MarkReadByIdsCountsOnlyChangesOnTheChannel) {
  auto store = Open();
  uint64_t a1 = Append(*store, "user:a").notification->id;
  uint64_t a2 = Append(*store, "user:a").notification->id;
  uint64_t b1 = Append(*store, "user:b").notification->id;

  auto changed = MarkReadSync(*store, {"user:a", {a1, a2, b1, a1}});

  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_EQ(*changed, 2u);
  EXPECT_EQ(*UnreadCountSync(*store, "user:a"), 0u);
  EXPECT_EQ(*UnreadCountSync(*store, "user:b"), 1u);
  // Already read: nothing changes the second time.
  EXPECT_EQ(*MarkReadSync(*store, {"user:a", {a1}}), 0u);
}

TEST_P(StoreContractTest, MarkReadUpToIdMarksEverythingAtOrBelowIt) {
  auto store = Open();
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Append(*store, "user:a").notification->id);
  }
  Append(*store, "user:b");

  auto changed =
      MarkReadSync(*store, {"user:a", {ids[4]}, /*up_to_id=*/ids[2]});

  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_EQ(*changed, 4u);
  EXPECT_EQ(*UnreadCountSync(*store, "user:a"), 1u);
  EXPECT_EQ(*UnreadCountSync(*store, "user:b"), 1u);
  auto rows = ListSync(*store, {"user:a"});
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_TRUE((*rows)[0].read());   // ids[4]
  EXPECT_FALSE((*rows)[1].read());  // ids[3]
}

// --- Opening and closing
// ------------------------------------------------------

TEST_P(StoreContractTest, NotificationsSurviveReopening) {
  uint64_t id;
  {
    auto store = Open();
    id = Append(*store, "a", "e", "kept").notification->id;
  }
  auto store = Open();

  auto rows = ListSync(*store, {"a"});
  uint64_t next = Append(*store, "a").notification->id;

  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].id, id);
  EXPECT_EQ((*rows)[0].data, "kept");
  EXPECT_EQ(next, id + 1);
}

// A rollback to an older binary must not run it on a schema it does not
// know.
TEST_P(StoreContractTest, DatabaseFromANewerNotifydIsRefused) {
  Open().reset();
  if (!harness().SetSchemaVersion(999)) {
    GTEST_SKIP() << "this database has no schema";
  }

  auto store = harness().Open({});

  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(),
              HasSubstr("store schema version 999 is newer than this notifyd"));
}

TEST_P(StoreContractTest,
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
  EXPECT_EQ(harness().PruneNow(*store).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_P(StoreContractTest, CloseFinishesCallsAlreadyQueued) {
  auto store = Open();
  Hold hold = harness().HoldWriter(*store);
  auto queued = AppendAsync(*store, {"a", "e", "{}", ""});
  std::thread closer([&] { store->Close(); });
  hold.release->Notify();
  closer.join();

  EXPECT_TRUE(hold.append.get().ok());
  EXPECT_TRUE(queued.get().ok());
}

}  // namespace
}  // namespace notifyd::storage
