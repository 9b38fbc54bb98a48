// Store::AppendMany, the fan-out write (NotifyUsers): one commit for many
// notifications, each its own id, all or nothing. Part of the Store
// contract, run against every store by the binaries that instantiate
// StoreContractTest (store_contract_test.h).
#include <cstdint>
#include <future>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/store.h"
#include "tests/storage/store_contract_test.h"

namespace notifyd::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Hold;
using testing::StoreContractTest;

AppendRequest To(std::string channel, std::string key = "",
                 std::string event = "e") {
  AppendRequest r;
  r.channel = std::move(channel);
  r.event = std::move(event);
  r.data = R"({"title":"Deploy finished"})";
  r.idempotency_key = std::move(key);
  return r;
}

TEST_P(StoreContractTest, AppendManyGivesEachRequestItsOwnIdInOrder) {
  auto store = Open();
  const uint64_t before = Append(*store, "user:a").notification->id;
  auto results =
      AppendManySync(*store, {To("user:a"), To("user:b"), To("news")});
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const AppendResult& r = (*results)[i];
    EXPECT_FALSE(r.duplicate);
    EXPECT_EQ(r.notification->id, before + 1 + i);
    EXPECT_EQ(r.notification->data, R"({"title":"Deploy finished"})");
    // Written together: one time for all.
    EXPECT_EQ(r.notification->created_at_ms,
              (*results)[0].notification->created_at_ms);
  }
  EXPECT_EQ((*results)[0].notification->channel, "user:a");
  // Each inbox's counts after its own row; a named channel has none.
  EXPECT_EQ((*results)[0].notification->counts, (Counts{2, 2}));
  EXPECT_EQ((*results)[1].notification->counts, (Counts{1, 1}));
  EXPECT_FALSE((*results)[2].notification->has_counts);
  EXPECT_EQ(*GetCountsSync(*store, "user:b"), (Counts{1, 1}));
  auto listed = ListSync(*store, {"user:a"});
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_THAT(Ids(*listed), ElementsAre(before + 1, before));
  EXPECT_EQ(*LastCommittedIdSync(*store), before + 3);
}

TEST_P(StoreContractTest, AppendManyKeepsIdempotencyPerChannel) {
  auto store = Open();
  const AppendResult original = Append(*store, "user:a", "e", "{}", "k1");
  auto results = AppendManySync(
      *store, {To("user:a", "k1"), To("user:b", "k1"), To("user:b", "k1")});
  ASSERT_TRUE(results.ok()) << results.status();
  // a's key was stored before: the original, nothing new.
  EXPECT_TRUE((*results)[0].duplicate);
  EXPECT_EQ((*results)[0].notification->id, original.notification->id);
  // The same key on b is b's own; repeated in the call, the first stands.
  EXPECT_FALSE((*results)[1].duplicate);
  EXPECT_TRUE((*results)[2].duplicate);
  EXPECT_EQ((*results)[2].notification->id, (*results)[1].notification->id);
  EXPECT_EQ(*GetCountsSync(*store, "user:a"), (Counts{1, 1}));
  EXPECT_EQ(*GetCountsSync(*store, "user:b"), (Counts{1, 1}));
  EXPECT_EQ(*LastCommittedIdSync(*store), (*results)[1].notification->id);

  // Sent again whole (a retry after a lost answer): every one a duplicate.
  auto again = AppendManySync(
      *store, {To("user:a", "k1"), To("user:b", "k1"), To("user:b", "k1")});
  ASSERT_TRUE(again.ok()) << again.status();
  for (const AppendResult& r : *again) EXPECT_TRUE(r.duplicate);
  EXPECT_EQ(*LastCommittedIdSync(*store), (*results)[1].notification->id);
}

// One payload for many channels (NotifyUsers): the rows go in together
// (store_backend.h, InsertFanOut), keys already stored answer duplicates.
TEST_P(StoreContractTest, AFanOutSkipsWhatItsKeysAlreadyStored) {
  auto store = Open();
  const AppendResult stored_b = Append(*store, "user:b", "e", "{}", "k1");
  Append(*store, "user:c");
  auto results = AppendManySync(*store, {To("user:a", "k1"), To("user:b", "k1"),
                                         To("user:c", "k1"), To("news", "k1")});
  ASSERT_TRUE(results.ok()) << results.status();
  const auto& r = *results;
  EXPECT_FALSE(r[0].duplicate);
  EXPECT_TRUE(r[1].duplicate);
  EXPECT_EQ(r[1].notification->id, stored_b.notification->id);
  EXPECT_FALSE(r[2].duplicate);
  EXPECT_FALSE(r[3].duplicate);
  // The new rows take consecutive ids, in order, past the duplicate.
  EXPECT_EQ(r[2].notification->id, r[0].notification->id + 1);
  EXPECT_EQ(r[3].notification->id, r[0].notification->id + 2);
  EXPECT_EQ(r[0].notification->counts, (Counts{1, 1}));
  EXPECT_EQ(r[2].notification->counts, (Counts{2, 2}));
  EXPECT_FALSE(r[3].notification->has_counts);
  EXPECT_EQ(*GetCountsSync(*store, "user:b"), (Counts{1, 1}));
  EXPECT_EQ(*GetCountsSync(*store, "user:c"), (Counts{2, 2}));
  EXPECT_EQ(*LastCommittedIdSync(*store), r[3].notification->id);
  // Each new row holds its key: the same fan-out again stores nothing.
  auto again = AppendManySync(*store, {To("user:a", "k1"), To("user:b", "k1"),
                                       To("user:c", "k1"), To("news", "k1")});
  ASSERT_TRUE(again.ok()) << again.status();
  for (size_t i = 0; i < again->size(); ++i) {
    EXPECT_TRUE((*again)[i].duplicate) << i;
    EXPECT_EQ((*again)[i].notification->id, r[i].notification->id) << i;
  }
  EXPECT_EQ(*LastCommittedIdSync(*store), r[3].notification->id);
}

TEST_P(StoreContractTest, AFanOutThatFailsTakesNoIdAndNoCount) {
  auto store = Open();
  Append(*store, "user:a");
  harness().RejectWrites(testing::StoreHarness::Write::kInsert, "bad");
  auto failed =
      AppendManySync(*store, {To("user:a", "", "bad"), To("user:b", "", "bad"),
                              To("news", "", "bad")});
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(*GetCountsSync(*store, "user:a"), (Counts{1, 1}));
  EXPECT_EQ(*GetCountsSync(*store, "user:b"), (Counts{0, 0}));
  // The next rows continue from the last committed id.
  const uint64_t last = *LastCommittedIdSync(*store);
  auto next = AppendManySync(*store, {To("user:a"), To("user:b")});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ((*next)[0].notification->id, last + 1);
  EXPECT_EQ((*next)[1].notification->id, last + 2);
  EXPECT_EQ(*GetCountsSync(*store, "user:b"), (Counts{1, 1}));
}

TEST_P(StoreContractTest, AppendManyCollapsesEachInboxOnItsOwn) {
  auto store = Open();
  AppendRequest old_a = To("user:a");
  old_a.collapse_key = "build";
  AppendRequest old_b = old_a;
  old_b.channel = "user:b";
  ASSERT_TRUE(AppendManySync(*store, {old_a, old_b}).ok());
  auto results = AppendManySync(*store, {old_a, old_b});
  ASSERT_TRUE(results.ok()) << results.status();
  for (const AppendResult& r : *results) {
    ASSERT_NE(r.replaced, nullptr);
    EXPECT_EQ(r.replaced->id + 1, r.notification->id);
    EXPECT_EQ(*GetCountsSync(*store, r.notification->channel), (Counts{1, 1}));
  }
}

TEST_P(StoreContractTest, AppendManyOutsideItsLimitsStoresNothing) {
  auto store = Open();
  const uint64_t last = Append(*store, "user:a").notification->id;
  auto empty = AppendManySync(*store, {});
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<AppendRequest> too_many(kMaxAppendMany + 1, To("user:a"));
  auto over = AppendManySync(*store, std::move(too_many));
  EXPECT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(over.status().message(), HasSubstr("at most 10000"));
  AppendRequest long_key = To("user:c");
  long_key.collapse_key = std::string(kMaxCollapseKeyBytes + 1, 'k');
  auto bad_key = AppendManySync(*store, {To("user:b"), long_key});
  EXPECT_EQ(bad_key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*LastCommittedIdSync(*store), last);
  EXPECT_EQ(*GetCountsSync(*store, "user:b"), (Counts{0, 0}));
}

TEST_P(StoreContractTest, AnAppendManyThatFailsHalfwayLeavesNothing) {
  auto store = Open();
  const uint64_t last = Append(*store, "user:a").notification->id;
  harness().RejectWrites(testing::StoreHarness::Write::kInsert, "bad");
  // Rows for a and b are in when c's insert fails: all of it is undone,
  // and the other calls committed beside it are not.
  Hold hold = harness().HoldWriter(*store);
  auto beside = AppendAsync(*store, To("user:z"));
  auto failed = std::async(std::launch::async, [&] {
    return AppendManySync(*store, {To("user:a"), To("user:b"),
                                   To("user:c", "", "bad"), To("user:d")});
  });
  hold.release->Notify();
  auto result = failed.get();
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("rejected by test"));
  absl::StatusOr<AppendResult> other = beside.get();
  ASSERT_TRUE(other.ok()) << other.status();
  for (const char* user : {"user:b", "user:c", "user:d"}) {
    EXPECT_EQ(*GetCountsSync(*store, user), (Counts{0, 0})) << user;
    auto rows = ListSync(*store, {user});
    ASSERT_TRUE(rows.ok());
    EXPECT_TRUE(rows->empty()) << user;
  }
  EXPECT_EQ(*GetCountsSync(*store, "user:a"), (Counts{1, 1}));
  // No id was taken by the undone rows.
  EXPECT_EQ(*LastCommittedIdSync(*store), other->notification->id);
  EXPECT_GT(other->notification->id, last);
}

TEST_P(StoreContractTest, AppendManyStoresTenThousandInOneCall) {
  auto store = Open();
  std::vector<AppendRequest> requests;
  for (size_t i = 0; i < kMaxAppendMany; ++i) {
    requests.push_back(To(absl::StrCat("user:u", i), absl::StrCat("k", i)));
  }
  auto results = AppendManySync(*store, requests);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), kMaxAppendMany);
  EXPECT_EQ(results->back().notification->id,
            results->front().notification->id + kMaxAppendMany - 1);
  EXPECT_EQ(*GetCountsSync(*store, "user:u9999"), (Counts{1, 1}));
  EXPECT_EQ(*LastCommittedIdSync(*store), results->back().notification->id);
}

}  // namespace
}  // namespace notifyd::storage
