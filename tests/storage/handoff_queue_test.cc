#include "storage/handoff_queue.h"

#include <memory>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(HandoffQueueTest, PopsOldestFirstAndAtMostTheAskedNumber) {
  HandoffQueue<int> queue;
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(queue.Push(i));
  std::vector<int> out;
  ASSERT_TRUE(queue.PopUpTo(2, out));
  EXPECT_THAT(out, ElementsAre(1, 2));
  // Appends to what `out` already holds.
  ASSERT_TRUE(queue.PopUpTo(10, out));
  EXPECT_THAT(out, ElementsAre(1, 2, 3, 4, 5));
}

TEST(HandoffQueueTest, CloseLetsConsumersDrainThenStops) {
  HandoffQueue<int> queue;
  int item = 7;
  ASSERT_TRUE(queue.Push(item));
  queue.Close();
  std::vector<int> out;
  EXPECT_TRUE(queue.PopUpTo(1, out));
  EXPECT_THAT(out, ElementsAre(7));
  out.clear();
  EXPECT_FALSE(queue.PopUpTo(1, out));
  EXPECT_THAT(out, IsEmpty());
}

TEST(HandoffQueueTest, PushAfterCloseLeavesTheItemWithTheCaller) {
  HandoffQueue<std::unique_ptr<int>> queue;
  queue.Close();
  auto item = std::make_unique<int>(3);
  EXPECT_FALSE(queue.Push(item));
  ASSERT_NE(item, nullptr);
  EXPECT_EQ(*item, 3);
}

TEST(HandoffQueueTest, ABlockedConsumerWakesForAPushAndForClose) {
  HandoffQueue<int> queue;
  std::vector<int> got;
  bool last_pop = true;
  std::thread consumer([&] {
    std::vector<int> out;
    while (queue.PopUpTo(1, out)) {
      got.insert(got.end(), out.begin(), out.end());
      out.clear();
    }
    last_pop = false;
  });
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(queue.Push(i));
  queue.Close();
  consumer.join();
  EXPECT_FALSE(last_pop);
  ASSERT_EQ(got.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(got[i], i);
}

TEST(HandoffQueueTest, PopUpToByWaitsUntilEnoughItemsAreQueued) {
  HandoffQueue<int> queue;
  std::vector<int> out;
  std::thread consumer(
      [&] { queue.PopUpToBy(3, absl::InfiniteFuture(), out); });
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(queue.Push(i));
  consumer.join();
  EXPECT_THAT(out, ElementsAre(1, 2, 3));
}

TEST(HandoffQueueTest, PopUpToByTakesWhatIsThereOnceTheDeadlinePassed) {
  HandoffQueue<int> queue;
  int item = 4;
  ASSERT_TRUE(queue.Push(item));
  std::vector<int> out;
  queue.PopUpToBy(3, absl::InfinitePast(), out);
  EXPECT_THAT(out, ElementsAre(4));
  queue.PopUpToBy(3, absl::InfinitePast(), out);
  EXPECT_THAT(out, ElementsAre(4));
}

TEST(HandoffQueueTest, PopUpToByReturnsWhenTheQueueCloses) {
  HandoffQueue<int> queue;
  int item = 5;
  ASSERT_TRUE(queue.Push(item));
  std::vector<int> out;
  std::thread consumer(
      [&] { queue.PopUpToBy(3, absl::InfiniteFuture(), out); });
  queue.Close();
  consumer.join();
  EXPECT_THAT(out, ElementsAre(5));
}

}  // namespace
}  // namespace notifyd::storage
