#include "edge/stream_queue.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace notifyd::edge {
namespace {

using R = StreamQueue::PushResult;

FramePtr F(uint64_t id, size_t size = 10) {
  return std::make_shared<const Frame>(Frame{id, std::string(size, 'x')});
}

std::vector<uint64_t> Ids(const std::vector<FramePtr>& frames) {
  std::vector<uint64_t> ids;
  for (const auto& f : frames) ids.push_back(f->id);
  return ids;
}

TEST(StreamQueueTest, WakesOnlyAnIdleWriter) {
  StreamQueue q(1000);
  EXPECT_EQ(q.PushLive(F(1)), R::kWake);
  EXPECT_EQ(q.PushLive(F(2)), R::kQueued);
  std::vector<FramePtr> batch;
  ASSERT_TRUE(q.TakeBatch(&batch));
  EXPECT_EQ(Ids(batch), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(q.PushLive(F(3)), R::kQueued);  // write still in flight
  ASSERT_TRUE(q.TakeBatch(&batch));
  EXPECT_EQ(Ids(batch), (std::vector<uint64_t>{3}));
  EXPECT_FALSE(q.TakeBatch(&batch));  // writer goes idle
  EXPECT_EQ(q.PushLive(F(4)), R::kWake);
}

TEST(StreamQueueTest, DropsDuplicateAndOldIds) {
  StreamQueue q(1000);
  q.PushLive(F(5));
  EXPECT_EQ(q.PushLive(F(5)), R::kDropped);
  EXPECT_EQ(q.PushLive(F(3)), R::kDropped);
  EXPECT_EQ(q.last_id(), 5u);
}

TEST(StreamQueueTest, ReplayHoldsLiveThenMergesWithoutGapOrDuplicate) {
  StreamQueue q(10000);
  q.BeginReplay(0);
  EXPECT_EQ(q.PushControl(F(0)), R::kWake);  // response head
  EXPECT_EQ(q.PushLive(F(4)), R::kHeld);
  EXPECT_EQ(q.PushLive(F(5)), R::kHeld);
  EXPECT_EQ(q.PushReplay(F(2)), R::kQueued);
  EXPECT_EQ(q.PushReplay(F(3)), R::kQueued);
  EXPECT_EQ(q.PushReplay(F(4)), R::kQueued);  // also held: dup dropped later
  EXPECT_TRUE(q.replaying());
  q.FinishReplay();
  EXPECT_FALSE(q.replaying());
  EXPECT_EQ(q.PushLive(F(5)), R::kDropped);  // already merged from held
  EXPECT_EQ(q.PushLive(F(6)), R::kQueued);
  std::vector<FramePtr> batch;
  ASSERT_TRUE(q.TakeBatch(&batch));
  EXPECT_EQ(Ids(batch), (std::vector<uint64_t>{0, 2, 3, 4, 5, 6}));
}

// The client resumes after 10, which it saw on another instance; this
// instance's bus delivers 10 only now. Neither the held copy nor a later
// live one may reach the client again.
TEST(StreamQueueTest, LiveFramesAtOrBelowTheResumePointAreDropped) {
  StreamQueue q(1000);
  q.BeginReplay(10);
  EXPECT_EQ(q.PushLive(F(10)), R::kHeld);
  EXPECT_EQ(q.PushLive(F(11)), R::kHeld);
  EXPECT_EQ(q.FinishReplay(), R::kWake);  // the store had nothing after 10
  EXPECT_EQ(q.PushLive(F(9)), R::kDropped);
  std::vector<FramePtr> batch;
  ASSERT_TRUE(q.TakeBatch(&batch));
  EXPECT_EQ(Ids(batch), (std::vector<uint64_t>{11}));
}

TEST(StreamQueueTest, FinishReplayWakesIdleWriter) {
  StreamQueue q(10000);
  q.BeginReplay(0);
  q.PushLive(F(9));
  EXPECT_EQ(q.FinishReplay(), R::kWake);
}

TEST(StreamQueueTest, OverflowClosesIncludingInFlightAndHeld) {
  StreamQueue q(100);
  EXPECT_EQ(q.PushLive(F(1, 60)), R::kWake);
  std::vector<FramePtr> batch;
  ASSERT_TRUE(q.TakeBatch(&batch));  // 60 bytes in flight
  EXPECT_EQ(q.pending_bytes(), 60u);
  EXPECT_EQ(q.PushLive(F(2, 30)), R::kQueued);
  EXPECT_EQ(q.PushLive(F(3, 30)), R::kOverflow);
  EXPECT_TRUE(q.closed());
  EXPECT_EQ(q.PushLive(F(4, 1)), R::kDropped);

  StreamQueue held(50);
  held.BeginReplay(0);
  EXPECT_EQ(held.PushLive(F(1, 30)), R::kHeld);
  EXPECT_EQ(held.PushLive(F(2, 30)), R::kOverflow);
}

TEST(StreamQueueTest, CloseKeepsQueuedFramesForFlush) {
  StreamQueue q(1000);
  q.PushLive(F(1));
  q.Close();
  EXPECT_EQ(q.PushLive(F(2)), R::kDropped);
  std::vector<FramePtr> batch;
  ASSERT_TRUE(q.TakeBatch(&batch));
  EXPECT_EQ(Ids(batch), (std::vector<uint64_t>{1}));
  EXPECT_FALSE(q.TakeBatch(&batch));
}

}  // namespace
}  // namespace notifyd::edge
