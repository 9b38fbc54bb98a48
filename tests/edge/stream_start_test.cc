// What a stream reads and queues before it goes live (edge/stream_start.h).
#include "edge/stream_start.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd::edge {
namespace {

using ::testing::ElementsAre;

std::shared_ptr<const storage::Notification> Row(uint64_t id,
                                                 size_t data_bytes = 1) {
  auto n = std::make_shared<storage::Notification>();
  n->id = id;
  n->channel = "user:alice";
  n->event = "e";
  n->data = std::string(data_bytes, 'x');
  return n;
}

// The frames queued so far, as the writer would take them.
std::vector<std::string> Taken(StreamQueue& queue) {
  std::vector<FramePtr> batch;
  std::vector<std::string> out;
  if (!queue.TakeBatch(&batch)) return out;
  for (const FramePtr& f : batch) out.push_back(f->bytes);
  return out;
}

TEST(StreamStartTest, AFreshStreamReadsOnlyItsCounts) {
  const std::vector<std::string> channels = {"user:alice", "news"};
  StreamStart start(std::nullopt, {});
  StreamQueue queue(1 << 20);
  queue.BeginReplay(0);

  storage::ReplayQuery q = start.NextQuery(channels, queue);
  EXPECT_EQ(q.limit, 0u);
  EXPECT_EQ(q.counts_channel, "user:alice");
  EXPECT_THAT(q.channels, ElementsAre("user:alice"));

  storage::ReplayPage page;
  page.last_committed_id = 7;
  page.counts = storage::Counts{3, 1};
  StreamStart::Step step = start.OnPage(page, queue);

  EXPECT_FALSE(step.more);
  EXPECT_TRUE(step.wake);
  EXPECT_THAT(
      Taken(queue),
      ElementsAre("event: counts\ndata: {\"unread\":3,\"unseen\":1}\n\n"));
}

TEST(StreamStartTest, AResumeStartsWithCountsThenWhatWasMissed) {
  const std::vector<std::string> channels = {"user:alice", "news"};
  StreamStart start(4, {});
  StreamQueue queue(1 << 20);
  queue.BeginReplay(0);
  storage::ReplayQuery q = start.NextQuery(channels, queue);
  EXPECT_EQ(q.after_id, 4u);
  EXPECT_THAT(q.channels, ElementsAre("user:alice", "news"));
  EXPECT_EQ(q.max_bytes, (1u << 20) / 2);

  storage::ReplayPage page;
  page.oldest_id = 1;
  page.last_committed_id = 6;
  page.counts = storage::Counts{2, 2};
  page.notifications = {Row(5), Row(6)};
  StreamStart::Step step = start.OnPage(page, queue);

  EXPECT_FALSE(step.more);
  EXPECT_EQ(step.replayed, 2u);
  std::vector<std::string> frames = Taken(queue);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0], "event: counts\ndata: {\"unread\":2,\"unseen\":2}\n\n");
  EXPECT_EQ(frames[1], "id: 5\nevent: e\ndata: x\n\n");
}

TEST(StreamStartTest, PrunedHistoryOrAnotherStoresIdSendsAResetFirst) {
  for (uint64_t client_id : {2u, 99u}) {
    SCOPED_TRACE(client_id);
    const std::vector<std::string> channels = {"user:alice"};
    StreamStart start(client_id, {});
    StreamQueue queue(1 << 20);
    queue.BeginReplay(0);
    storage::ReplayPage page;
    page.oldest_id = 10;  // 3..9 were pruned
    page.last_committed_id = 12;
    start.OnPage(page, queue);
    std::vector<std::string> frames = Taken(queue);
    ASSERT_FALSE(frames.empty());
    EXPECT_EQ(frames[0], "event: reset\ndata: 10\n\n");
    // After another store's id, the next page starts from this store's
    // newest.
    if (client_id == 99) {
      EXPECT_EQ(start.NextQuery(channels, queue).after_id, 12u);
    }
  }
}

// A page never takes the queue past its bound: what would not fit waits
// for the next page, but the first frame always goes.
TEST(StreamStartTest, APageStopsAtTheQueuesBound) {
  const std::vector<std::string> channels = {"user:alice"};
  StreamStart start(0, {.replay_page = 500, .max_queue_bytes = 100});
  StreamQueue queue(100);
  queue.BeginReplay(0);
  storage::ReplayPage page;
  page.oldest_id = 1;
  page.last_committed_id = 3;
  page.notifications = {Row(1, 60), Row(2, 60), Row(3, 60)};

  StreamStart::Step step = start.OnPage(page, queue);

  EXPECT_TRUE(step.more);
  EXPECT_EQ(step.replayed, 1u);
  EXPECT_EQ(start.NextQuery(channels, queue).after_id, 1u);
}

}  // namespace
}  // namespace notifyd::edge
