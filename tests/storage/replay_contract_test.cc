// The Store contract's reading side (storage/store.h): replay across
// channels, replay pages sized by bytes, reads by id range (a shared bus's
// fills), the last committed id, stats and ping. Run against every store
// by the binaries that instantiate StoreContractTest (store_contract_test.h).
#include <cstdint>
#include <future>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/store.h"
#include "tests/storage/store_contract_test.h"

namespace notifyd::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::StoreContractTest;
using testing::StoreSettings;

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

}  // namespace
}  // namespace notifyd::storage
