// What retention promises for every Store (retention by age, max_per_channel,
// ids never reused), run against each implementation by the binary that
// instantiates RetentionContractTest (see store_contract_test.h). Tests
// prune through the harness's PruneNow and move its fake clock.
#include <chrono>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/store.h"
#include "tests/storage/store_contract_test.h"

namespace notifyd::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::RetentionContractTest;
using testing::StoreSettings;

StoreSettings KeepingOneHour() {
  StoreSettings settings;
  settings.retention = absl::Hours(1);
  return settings;
}

TEST_P(RetentionContractTest, RowsOlderThanRetentionArePruned) {
  auto store = Open(KeepingOneHour());
  Append(*store, "a");
  Append(*store, "b");
  harness().AdvanceClock(absl::Hours(2));
  uint64_t fresh = Append(*store, "a").notification->id;

  auto deleted = harness().PruneNow(*store);

  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 2u);
  EXPECT_THAT(Ids(*ListSync(*store, {"a"})), ElementsAre(fresh));
  EXPECT_THAT(*ListSync(*store, {"b"}), IsEmpty());
}

// One pass goes on batch after batch, not one batch per prune_interval.
TEST_P(RetentionContractTest, PruningDeletesInBatchesUntilNothingOldIsLeft) {
  StoreSettings settings = KeepingOneHour();
  settings.prune_batch = 2;
  auto store = Open(settings);
  for (int i = 0; i < 7; ++i) Append(*store, "a");
  harness().AdvanceClock(absl::Hours(2));
  uint64_t fresh = Append(*store, "a").notification->id;

  auto deleted = harness().PruneNow(*store);

  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 7u);
  EXPECT_THAT(Ids(*ListSync(*store, {"a"})), ElementsAre(fresh));
}

TEST_P(RetentionContractTest, MaxPerChannelKeepsTheNewestOfEachChannel) {
  StoreSettings settings;
  settings.max_per_channel = 3;
  settings.prune_batch = 1;
  auto store = Open(settings);
  std::vector<uint64_t> a;
  for (int i = 0; i < 5; ++i)
    a.push_back(Append(*store, "user:a").notification->id);
  uint64_t b1 = Append(*store, "user:b").notification->id;
  uint64_t b2 = Append(*store, "user:b").notification->id;
  // The read state does not protect a row, nor make it go first; the state
  // record it leaves does not count as one of the three kept.
  ASSERT_TRUE(MarkReadSync(*store, {"user:a", {a[1], a[3]}}).ok());

  auto deleted = harness().PruneNow(*store);

  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 2u);
  EXPECT_THAT(Ids(*ListSync(*store, {"user:a"})),
              ElementsAre(a[4], a[3], a[2]));
  EXPECT_THAT(Ids(*ListSync(*store, {"user:b"})), ElementsAre(b2, b1));
  // Replay tells a resuming client that history now starts later.
  EXPECT_EQ(ReplaySync(*store, {{"user:a"}, 0, 10})->oldest_id, a[2]);
}

// Ids stay dense across the deletion: the next one follows the deleted.
TEST_P(RetentionContractTest, IdsAreNeverReusedAfterTheNewestRowIsDeleted) {
  uint64_t newest;
  {
    auto store = Open(KeepingOneHour());
    Append(*store, "a");
    newest = Append(*store, "a").notification->id;
    harness().AdvanceClock(absl::Hours(2));
    ASSERT_EQ(*harness().PruneNow(*store), 2u);
    ASSERT_EQ(StatsSync(*store)->notifications, 0u);

    EXPECT_EQ(Append(*store, "a").notification->id, newest + 1);
    newest += 1;
  }
  // Nor after a restart, when only the database remembers the last id.
  auto store = Open(KeepingOneHour());
  EXPECT_EQ(Append(*store, "a").notification->id, newest + 1);
}

TEST_P(RetentionContractTest,
       AfterTheClockSteppedBackNoRowIsDeletedBeforeItIsOld) {
  auto store = Open(KeepingOneHour());
  uint64_t first = Append(*store, "a").notification->id;
  // Stamped two hours before `first`, though written after it.
  harness().AdvanceClock(-absl::Hours(2));
  uint64_t second = Append(*store, "a").notification->id;
  harness().AdvanceClock(absl::Hours(2) + absl::Minutes(30));

  // `second` is no older than `first`, which is 30 minutes old.
  EXPECT_EQ(*harness().PruneNow(*store), 0u);
  EXPECT_THAT(Ids(*ListSync(*store, {"a"})), ElementsAre(second, first));

  harness().AdvanceClock(absl::Hours(1));
  EXPECT_EQ(*harness().PruneNow(*store), 2u);
}

TEST_P(RetentionContractTest, BackgroundPrunerRunsEveryInterval) {
  StoreSettings settings = KeepingOneHour();
  settings.prune_interval = absl::Milliseconds(20);
  auto store = Open(settings);
  Append(*store, "a");
  harness().AdvanceClock(absl::Hours(2));

  bool pruned = false;
  for (int i = 0; i < 250 && !pruned; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pruned = StatsSync(*store)->notifications == 0;
  }

  EXPECT_TRUE(pruned);
}

TEST_P(RetentionContractTest, NothingIsPrunedWhenRetentionIsOff) {
  auto store = Open();
  Append(*store, "a");
  harness().AdvanceClock(absl::Hours(1000));

  EXPECT_EQ(*harness().PruneNow(*store), 0u);
  EXPECT_EQ(StatsSync(*store)->notifications, 1u);
}

}  // namespace
}  // namespace notifyd::storage
