// The contract of every Store (storage/store.h), run against each
// implementation by the binary that instantiates StoreContractTest (see
// store_contract_test.h). Each test opens stores on a fresh, empty database.
#include "tests/storage/store_contract_test.h"

#include <cstdint>
#include <future>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
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

// --- Replay
// -------------------------------------------------------------------

// The channels come in any order, even twice.
TEST_P(StoreContractTest, ReplayMergesChannelsInIdOrderWithLimit) {
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
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_THAT(Ids(*after), ElementsAre(b1, a2));
  EXPECT_EQ(after->oldest_id, a1);
}

// Separators, quotes and braces of the list syntax a query might build.
TEST_P(StoreContractTest, ChannelNamesAreDataNotSyntax) {
  auto store = Open();
  const std::string odd = "a,\"b\"}\\{c d'";
  uint64_t id = Append(*store, odd).notification->id;
  Append(*store, "a");

  auto page = ReplaySync(*store, {{odd}, 0, 10});

  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(Ids(*page), ElementsAre(id));
  EXPECT_EQ(page->notifications[0]->channel, odd);
}

TEST_P(StoreContractTest, ReplayOfEmptyChannelsHasNoOldestId) {
  auto store = Open();
  Append(*store, "a");

  auto page = ReplaySync(*store, {{"nothing-here"}, 0, 10});

  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(page->notifications, IsEmpty());
  EXPECT_EQ(page->oldest_id, 0u);
}

// A client that is up to date still learns where history starts.
TEST_P(StoreContractTest, ReplayPastTheNewestStillReportsTheOldestId) {
  auto store = Open();
  uint64_t a1 = Append(*store, "a").notification->id;
  uint64_t a2 = Append(*store, "a").notification->id;

  auto page = ReplaySync(*store, {{"a"}, a2, 10});

  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(page->notifications, IsEmpty());
  EXPECT_EQ(page->oldest_id, a1);
}

TEST_P(StoreContractTest, ReplayTakesUpToKMaxReplayChannels) {
  auto store = Open();
  uint64_t id = Append(*store, "c0").notification->id;
  ReplayQuery query;
  for (size_t i = 0; i < kMaxReplayChannels; ++i) {
    query.channels.push_back("c" + std::to_string(i));
  }

  auto most = ReplaySync(*store, query);
  query.channels.push_back("one-too-many");
  auto over = ReplaySync(*store, query);

  ASSERT_TRUE(most.ok()) << most.status();
  EXPECT_THAT(Ids(*most), ElementsAre(id));
  EXPECT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(over.status().message(), HasSubstr("at most 64 channels"));
}

TEST_P(StoreContractTest, ReadsTakeUpToKMaxPageRows) {
  auto store = Open();
  Append(*store, "a");

  auto list = ListSync(*store, {"a", 0, kMaxPageRows});
  auto replay = ReplaySync(*store, {{"a"}, 0, kMaxPageRows});
  auto range = ReadIdRangeSync(*store, 0, 10, kMaxPageRows);

  ASSERT_TRUE(list.ok() && replay.ok() && range.ok());
  EXPECT_EQ(list->size(), 1u);
  EXPECT_EQ(ListSync(*store, {"a", 0, kMaxPageRows + 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReplaySync(*store, {{"a"}, 0, kMaxPageRows + 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadIdRangeSync(*store, 0, 10, kMaxPageRows + 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// --- Replay pages sized by bytes

// `bytes` bytes of payload in half as many characters: budgets count bytes.
std::string Payload(size_t bytes) {
  std::string data;
  for (size_t i = 0; i < bytes / 2; ++i) data += "\xc3\xa9";  // é
  return data;
}

ReplayQuery ByBytes(std::vector<std::string> channels, uint64_t after_id,
                    uint64_t max_bytes, uint32_t limit = 500) {
  ReplayQuery query;
  query.channels = std::move(channels);
  query.after_id = after_id;
  query.limit = limit;
  query.max_bytes = max_bytes;
  return query;
}

TEST_P(StoreContractTest, ReplayPageStopsBeforeTheRowThatWouldPassMaxBytes) {
  auto store = Open();
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Append(*store, "a", "e", Payload(100)).notification->id);
  }

  auto under = ReplaySync(*store, ByBytes({"a"}, 0, 299));
  auto exact = ReplaySync(*store, ByBytes({"a"}, 0, 300));
  auto rest = ReplaySync(*store, ByBytes({"a"}, ids[2], 300));

  ASSERT_TRUE(under.ok() && exact.ok() && rest.ok());
  EXPECT_THAT(Ids(*under), ElementsAre(ids[0], ids[1]));
  EXPECT_TRUE(under->more);
  EXPECT_THAT(Ids(*exact), ElementsAre(ids[0], ids[1], ids[2]));
  EXPECT_TRUE(exact->more);
  EXPECT_EQ(exact->notifications[2]->data, Payload(100));
  EXPECT_THAT(Ids(*rest), ElementsAre(ids[3], ids[4]));
  EXPECT_FALSE(rest->more);
}

// However small the budget, paging moves on.
TEST_P(StoreContractTest, ReplayPageHoldsAtLeastOneRowOverMaxBytes) {
  auto store = Open();
  uint64_t big = Append(*store, "a", "e", Payload(1000)).notification->id;
  uint64_t small = Append(*store, "a", "e", "x").notification->id;

  auto first = ReplaySync(*store, ByBytes({"a"}, 0, 10));
  auto second = ReplaySync(*store, ByBytes({"a"}, big, 10));

  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_THAT(Ids(*first), ElementsAre(big));
  EXPECT_EQ(first->notifications[0]->data.size(), 1000u);
  EXPECT_TRUE(first->more);
  EXPECT_THAT(Ids(*second), ElementsAre(small));
  EXPECT_FALSE(second->more);
}

TEST_P(StoreContractTest, ReplayWithoutMaxBytesIsBoundedByTheLimitOnly) {
  auto store = Open();
  for (int i = 0; i < 4; ++i) Append(*store, "a", "e", Payload(1000));

  auto all = ReplaySync(*store, ByBytes({"a"}, 0, /*max_bytes=*/0));
  auto limited = ReplaySync(*store, ByBytes({"a"}, 0, 0, /*limit=*/3));
  auto exactly = ReplaySync(*store, ByBytes({"a"}, 0, 0, /*limit=*/4));

  ASSERT_TRUE(all.ok() && limited.ok() && exactly.ok());
  EXPECT_EQ(all->notifications.size(), 4u);
  EXPECT_FALSE(all->more);
  EXPECT_EQ(limited->notifications.size(), 3u);
  EXPECT_TRUE(limited->more);
  // A page that ends exactly at the newest row says so.
  EXPECT_EQ(exactly->notifications.size(), 4u);
  EXPECT_FALSE(exactly->more);
}

// The budget applies in id order across channels and read states, and
// paging by it visits every row once.
TEST_P(StoreContractTest, PagingByBytesVisitsEveryRowOnceInIdOrder) {
  auto store = Open();
  std::vector<uint64_t> ids;
  for (int i = 0; i < 12; ++i) {
    ids.push_back(Append(*store, i % 3 == 0 ? "user:b" : "user:a", "e",
                         Payload(i % 4 == 0 ? 300 : 100))
                      .notification->id);
  }
  Append(*store, "other", "e", Payload(100));
  ASSERT_TRUE(MarkReadSync(*store, {"user:a", {ids[1], ids[5], ids[10]}}).ok());
  ASSERT_TRUE(MarkReadSync(*store, {"user:b", {ids[3]}}).ok());
  // Each change left a state record in its inbox's stream.
  const uint64_t last = *LastCommittedIdSync(*store);
  ids.push_back(last - 1);
  ids.push_back(last);

  std::vector<uint64_t> seen;
  uint64_t after = 0;
  int pages = 0;
  for (; pages < 20; ++pages) {
    auto page = ReplaySync(*store, ByBytes({"user:a", "user:b"}, after, 350));
    ASSERT_TRUE(page.ok()) << page.status();
    size_t bytes = 0;
    for (const auto& n : page->notifications) bytes += n->data.size();
    EXPECT_TRUE(bytes <= 350 || page->notifications.size() == 1) << bytes;
    for (uint64_t id : Ids(*page)) seen.push_back(id);
    if (!page->more) break;
    ASSERT_FALSE(page->notifications.empty());
    after = page->notifications.back()->id;
  }

  EXPECT_EQ(seen, ids);
  EXPECT_GT(pages, 3);
}

// What a resuming stream compares its Last-Event-ID with: the newest id on
// any channel, as LastCommittedId answers, even when the page is empty.
TEST_P(StoreContractTest, ReplayPageCarriesTheLastCommittedId) {
  auto store = Open();
  auto empty = ReplaySync(*store, {{"a"}, 0, 10});
  Append(*store, "a");
  uint64_t newest = Append(*store, "elsewhere").notification->id;

  auto page = ReplaySync(*store, {{"a"}, 0, 10});
  auto past = ReplaySync(*store, {{"a"}, UINT64_MAX, 10});

  ASSERT_TRUE(empty.ok() && page.ok() && past.ok());
  EXPECT_EQ(empty->last_committed_id, 0u);
  EXPECT_EQ(page->last_committed_id, newest);
  EXPECT_EQ(page->last_committed_id, *LastCommittedIdSync(*store));
  EXPECT_THAT(past->notifications, IsEmpty());
  EXPECT_FALSE(past->more);
  EXPECT_EQ(past->last_committed_id, newest);
}

// --- Reads by id
// --------------------------------------------------------------

// What a bus shared by several instances reads to fill a gap in the ids it
// received: every channel, by id, bounded on both sides and by the limit.
TEST_P(StoreContractTest, ReadIdRangeReturnsEveryChannelsRowsInTheRange) {
  auto store = Open();
  const uint64_t first = Append(*store, "a").notification->id;
  Append(*store, "b");
  Append(*store, "a");
  Append(*store, "c");
  auto by_id_and_channel = [](const auto& rows) {
    std::vector<std::pair<uint64_t, std::string>> got;
    for (const auto& n : rows) got.emplace_back(n->id, n->channel);
    return got;
  };

  auto rows = ReadIdRangeSync(*store, first, first + 3, 10);
  auto below_newest = ReadIdRangeSync(*store, first, first + 2, 10);

  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_THAT(by_id_and_channel(*rows),
              ElementsAre(std::pair(first + 1, std::string("b")),
                          std::pair(first + 2, std::string("a")),
                          std::pair(first + 3, std::string("c"))));
  ASSERT_TRUE(below_newest.ok()) << below_newest.status();
  EXPECT_THAT(by_id_and_channel(*below_newest),
              ElementsAre(std::pair(first + 1, std::string("b")),
                          std::pair(first + 2, std::string("a"))));
  auto limited = ReadIdRangeSync(*store, 0, first + 3, 2);
  ASSERT_TRUE(limited.ok()) << limited.status();
  ASSERT_EQ(limited->size(), 2u);
  EXPECT_EQ((*limited)[0]->id, first);
  EXPECT_EQ((*limited)[1]->id, first + 1);
  EXPECT_THAT(*ReadIdRangeSync(*store, first + 3, first + 100, 10), IsEmpty());
}

TEST_P(StoreContractTest, LastCommittedIdIsTheNewestIdEvenAfterItWasPruned) {
  StoreSettings settings;
  settings.retention = absl::Hours(1);
  auto store = Open(settings);
  EXPECT_EQ(*LastCommittedIdSync(*store), 0u);
  Append(*store, "a");
  const uint64_t newest = Append(*store, "b").notification->id;
  EXPECT_EQ(*LastCommittedIdSync(*store), newest);

  harness().AdvanceClock(absl::Hours(2));
  ASSERT_EQ(*harness().PruneNow(*store), 2u);

  EXPECT_EQ(*LastCommittedIdSync(*store), newest);
}

TEST_P(StoreContractTest, StatsAndPingReportTheDatabase) {
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
