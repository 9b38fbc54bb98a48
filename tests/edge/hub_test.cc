#include "edge/hub.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd::edge {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

class RecordingSubscriber : public Subscriber {
 public:
  bool Deliver(const FramePtr& frame) override {
    frames.push_back(frame);
    return open;
  }
  std::vector<FramePtr> frames;
  bool open = true;
};

std::shared_ptr<const storage::Notification> Note(uint64_t id,
                                                  const std::string& channel) {
  auto n = std::make_shared<storage::Notification>();
  n->id = id;
  n->channel = channel;
  n->event = "e";
  n->data = "d" + std::to_string(id);
  return n;
}

class HubTest : public ::testing::Test {
 protected:
  Metrics metrics_;
  Hub hub_{metrics_};
};

TEST_F(HubTest, FansOutOneSharedFrameToChannelSubscribers) {
  auto a = std::make_shared<RecordingSubscriber>();
  auto b = std::make_shared<RecordingSubscriber>();
  auto other = std::make_shared<RecordingSubscriber>();
  hub_.Subscribe(a, {"news"});
  hub_.Subscribe(b, {"user:bob", "news"});
  hub_.Subscribe(other, {"sports"});

  EXPECT_EQ(hub_.Publish(Note(1, "news")), 2u);
  ASSERT_EQ(a->frames.size(), 1u);
  ASSERT_EQ(b->frames.size(), 1u);
  EXPECT_TRUE(other->frames.empty());
  // Encoded once: both streams hold the very same bytes.
  EXPECT_EQ(a->frames[0].get(), b->frames[0].get());
  EXPECT_EQ(a->frames[0]->bytes, "id: 1\nevent: e\ndata: d1\n\n");

  EXPECT_EQ(hub_.Publish(Note(2, "user:bob")), 1u);
  EXPECT_EQ(b->frames.size(), 2u);
  EXPECT_EQ(hub_.Publish(Note(3, "nobody")), 0u);
  EXPECT_EQ(hub_.DeliveredTotal(), 3u);
}

TEST_F(HubTest, UnsubscribeStopsDeliveryAndCounts) {
  auto a = std::make_shared<RecordingSubscriber>();
  hub_.Subscribe(a, {"x", "y"});
  EXPECT_EQ(hub_.Connections(), 1u);
  EXPECT_EQ(hub_.SubscriberCount("x"), 1u);
  hub_.Unsubscribe(a.get(), {"x", "y"});
  EXPECT_EQ(hub_.Connections(), 0u);
  EXPECT_EQ(hub_.SubscriberCount("x"), 0u);
  EXPECT_EQ(hub_.Publish(Note(1, "x")), 0u);
  EXPECT_TRUE(a->frames.empty());
  EXPECT_TRUE(hub_.TopChannels(10).empty());
}

TEST_F(HubTest, ClosedSubscriberIsDropped) {
  auto a = std::make_shared<RecordingSubscriber>();
  auto b = std::make_shared<RecordingSubscriber>();
  hub_.Subscribe(a, {"x"});
  hub_.Subscribe(b, {"x"});
  a->open = false;  // refuses the next frame: closed
  EXPECT_EQ(hub_.Publish(Note(1, "x")), 1u);
  EXPECT_EQ(hub_.SubscriberCount("x"), 1u);
  EXPECT_EQ(hub_.Publish(Note(2, "x")), 1u);
  EXPECT_EQ(a->frames.size(), 1u);
  EXPECT_EQ(b->frames.size(), 2u);
  hub_.Unsubscribe(a.get(), {"x"});  // still paired, and harmless
  EXPECT_EQ(hub_.Connections(), 1u);
}

TEST_F(HubTest, DestroyedSubscriberIsDropped) {
  auto a = std::make_shared<RecordingSubscriber>();
  hub_.Subscribe(a, {"x"});
  a.reset();
  EXPECT_EQ(hub_.Publish(Note(1, "x")), 0u);
  EXPECT_EQ(hub_.SubscriberCount("x"), 0u);
}

TEST_F(HubTest, TopChannelsBySubscriberCount) {
  std::vector<std::shared_ptr<RecordingSubscriber>> subs;
  auto add = [&](std::vector<std::string> channels) {
    subs.push_back(std::make_shared<RecordingSubscriber>());
    hub_.Subscribe(subs.back(), channels);
  };
  add({"a", "b", "c"});
  add({"b", "c"});
  add({"c"});
  EXPECT_THAT(hub_.TopChannels(2), ElementsAre(Pair("c", 3u), Pair("b", 2u)));
  EXPECT_EQ(hub_.TopChannels(10).size(), 3u);
  EXPECT_EQ(hub_.Connections(), 3u);
}

TEST_F(HubTest, BadEventNameIsNotFramed) {
  auto a = std::make_shared<RecordingSubscriber>();
  hub_.Subscribe(a, {"x"});
  auto n = std::make_shared<storage::Notification>();
  n->id = 1;
  n->channel = "x";
  n->event = "evil\n";
  EXPECT_EQ(hub_.Publish(n), 0u);
  EXPECT_TRUE(a->frames.empty());
}

TEST_F(HubTest, PublishCountsMetrics) {
  hub_.Publish(Note(1, "x"));
  EXPECT_THAT(metrics_.RenderText(),
              ::testing::HasSubstr("notifyd_events_published_total 1\n"));
}

}  // namespace
}  // namespace notifyd::edge
