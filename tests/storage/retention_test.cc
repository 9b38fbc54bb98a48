#include <chrono>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/sqlite_store.h"
#include "tests/storage/store_test_util.h"

namespace notifyd::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr int64_t kHourMs = 3'600'000;

class RetentionTest : public testing::StoreTest {};

TEST_F(RetentionTest, RowsOlderThanRetentionArePruned) {
  SqliteStoreOptions options = Options();
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

TEST_F(RetentionTest, MaxPerChannelKeepsTheNewestOfEachChannel) {
  SqliteStoreOptions options = Options();
  options.max_per_channel = 3;
  auto store = Open(options);
  std::vector<uint64_t> a;
  for (int i = 0; i < 5; ++i) a.push_back(Append(*store, "a").notification->id);
  uint64_t b1 = Append(*store, "b").notification->id;
  uint64_t b2 = Append(*store, "b").notification->id;

  auto deleted = store->PruneNow();

  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 2u);
  EXPECT_THAT(Ids(*ListSync(*store, {"a"})), ElementsAre(a[4], a[3], a[2]));
  EXPECT_THAT(Ids(*ListSync(*store, {"b"})), ElementsAre(b2, b1));
  // Replay tells a resuming client that history now starts later.
  EXPECT_EQ(ReplaySync(*store, {{"a"}, 0, 10})->oldest_id, a[2]);
}

TEST_F(RetentionTest, PrunesInSmallBatchesSoPublishesNeverWaitLong) {
  std::atomic<int> commits{0};
  SqliteStoreOptions options = Options();
  options.retention = absl::Hours(1);
  options.prune_batch = 2;
  options.on_commit = [&](const CommitStats&) { ++commits; };
  auto store = Open(options);
  for (int i = 0; i < 7; ++i) Append(*store, "a");
  now_ms_ += 2 * kHourMs;
  commits = 0;

  auto deleted = store->PruneNow();

  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 7u);
  EXPECT_EQ(commits.load(), 4);  // 2 + 2 + 2 + 1
}

TEST_F(RetentionTest, IdsAreNeverReusedAfterTheNewestRowIsDeleted) {
  SqliteStoreOptions options = Options();
  options.retention = absl::Hours(1);
  uint64_t newest;
  {
    auto store = Open(options);
    Append(*store, "a");
    newest = Append(*store, "a").notification->id;
    now_ms_ += 2 * kHourMs;
    ASSERT_EQ(*store->PruneNow(), 2u);
    ASSERT_EQ(StatsSync(*store)->notifications, 0u);

    EXPECT_GT(Append(*store, "a").notification->id, newest);
    newest += 1;
  }
  // Nor after a restart, when only the database remembers the high mark.
  auto store = Open(options);
  EXPECT_GT(Append(*store, "a").notification->id, newest);
}

TEST_F(RetentionTest, AfterTheClockSteppedBackNoRowIsDeletedBeforeItIsOld) {
  SqliteStoreOptions options = Options();
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

TEST_F(RetentionTest, BackgroundPrunerRunsEveryInterval) {
  SqliteStoreOptions options = Options();
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

TEST_F(RetentionTest, NothingIsPrunedWhenRetentionIsOff) {
  auto store = Open();
  Append(*store, "a");
  now_ms_ += 1000 * kHourMs;

  EXPECT_EQ(*store->PruneNow(), 0u);
  EXPECT_EQ(StatsSync(*store)->notifications, 1u);
}

}  // namespace
}  // namespace notifyd::storage
