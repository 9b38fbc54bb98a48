// The whole path in one process: gRPC call → SQLite commit → bus → hub →
// SSE stream read by a raw-socket client, with replay from the real store.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/edge/sse_client.h"
#include "tests/server/test_server.h"
#include "tests/support/process.h"

namespace notifyd {
namespace {

namespace pb = ::notify::v1;
using edge::testing::HttpGet;
using edge::testing::SseClient;
using edge::testing::SseMessage;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

server::AppOptions DevOptions() {
  server::AppOptions options;
  options.edge.insecure_dev_identity = true;
  return options;
}

class EndToEndTest : public ::testing::Test {
 protected:
  explicit EndToEndTest(server::AppOptions options = DevOptions())
      : server_(std::move(options)) {}

  uint16_t http_port() { return server_.app().http_port(); }
  uint16_t admin_port() { return server_.app().admin_port(); }

  pb::NotifyUserResponse Notify(const std::string& user,
                                const std::string& data) {
    pb::NotifyUserResponse response;
    grpc::Status status =
        testing::NotifyUser(server_.stub(), user, data, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  void WaitForStreams(uint64_t n) {
    ASSERT_TRUE(testing::WaitForLiveStreams(server_.stub(), n))
        << "streams did not register";
  }

  testing::TestServer server_;
};

TEST_F(EndToEndTest, NotifyUserOverGrpcArrivesOnTheUsersStream) {
  SseClient stream;
  ASSERT_EQ(stream.Open(http_port(), "/v1/stream?user=alice"), 200);
  WaitForStreams(1);
  pb::NotifyUserResponse sent = Notify("alice", "{\"a\":1}\nsecond line");
  EXPECT_EQ(sent.live_recipients(), 1u);
  std::optional<SseMessage> got = stream.NextEvent();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, std::to_string(sent.notification().id()));
  EXPECT_EQ(got->event, "notification");
  EXPECT_EQ(got->data, "{\"a\":1}\nsecond line");
}

TEST_F(EndToEndTest, PublishReachesChannelSubscribersOnly) {
  SseClient subscribed, other;
  ASSERT_EQ(subscribed.Open(http_port(), "/v1/stream?user=a&channels=news"),
            200);
  ASSERT_EQ(other.Open(http_port(), "/v1/stream?user=b"), 200);
  WaitForStreams(2);
  pb::PublishRequest request;
  request.set_channel("news");
  request.set_event("headline");
  request.set_data("extra");
  pb::PublishResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(server_.stub().Publish(&context, request, &response).ok());
  EXPECT_EQ(response.live_recipients(), 1u);
  std::optional<SseMessage> got = subscribed.NextEvent();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->event, "headline");
  EXPECT_FALSE(other.NextEvent(milliseconds(300)).has_value());
}

TEST_F(EndToEndTest, ReconnectWithLastEventIdGetsExactlyTheMissedOnes) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Notify("bob", absl::StrCat("n", i)).notification().id());
  }
  SseClient stream;
  ASSERT_EQ(stream.Open(http_port(), "/v1/stream?user=bob",
                        {absl::StrCat("Last-Event-ID: ", ids[1])}),
            200);
  for (size_t i = 2; i < ids.size(); ++i) {
    std::optional<SseMessage> got = stream.NextEvent();
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->id, std::to_string(ids[i]));
  }
  EXPECT_FALSE(stream.NextEvent(milliseconds(300)).has_value());
}

// One thread publishes thousands of notifications while a client drops and
// resumes over and over: what it receives, in all, is every id once, in
// order.
TEST_F(EndToEndTest, ReconnectsDuringHeavyPublishingNeitherSkipNorRepeat) {
  constexpr int kNotifications = 3000;
  std::vector<uint64_t> published;
  std::atomic<bool> done{false};
  std::thread publisher([&] {
    for (int i = 0; i < kNotifications; ++i) {
      published.push_back(
          Notify("racer", absl::StrCat("{\"n\":", i, "}")).notification().id());
    }
    done = true;
  });

  std::vector<uint64_t> received;
  std::mt19937 random(42);
  int reconnects = 0;
  // Starts from id 0 so the first connection catches up from the beginning.
  uint64_t last = 0;
  auto deadline = std::chrono::steady_clock::now() + seconds(120);
  while (received.size() < static_cast<size_t>(kNotifications) &&
         std::chrono::steady_clock::now() < deadline) {
    SseClient stream;
    if (stream.Open(http_port(), "/v1/stream?user=racer",
                    {absl::StrCat("Last-Event-ID: ", last)}) != 200) {
      ADD_FAILURE() << "stream refused";
      break;
    }
    ++reconnects;
    int take = std::uniform_int_distribution<int>(1, 150)(random);
    for (int i = 0; i < take; ++i) {
      std::optional<SseMessage> got = stream.NextEvent(seconds(10));
      if (!got) break;
      last = std::stoull(got->id);
      received.push_back(last);
    }
  }
  publisher.join();
  EXPECT_GT(reconnects, 20);
  EXPECT_EQ(received, published);
}

TEST_F(EndToEndTest, StatsAndMetricsSeeStreamsAndCalls) {
  SseClient stream;
  ASSERT_EQ(stream.Open(http_port(), "/v1/stream?user=carol&channels=room"),
            200);
  WaitForStreams(1);
  Notify("carol", "x");
  ASSERT_TRUE(stream.NextEvent().has_value());
  pb::GetStatsRequest request;
  request.set_top_channels(5);
  pb::GetStatsResponse stats;
  grpc::ClientContext context;
  ASSERT_TRUE(server_.stub().GetStats(&context, request, &stats).ok());
  EXPECT_EQ(stats.live_connections(), 1u);
  EXPECT_GE(stats.delivered_total(), 1u);
  std::vector<std::string> channels;
  for (const auto& c : stats.channels()) channels.push_back(c.channel());
  EXPECT_THAT(channels, ::testing::UnorderedElementsAre("user:carol", "room"));

  auto metrics = HttpGet(admin_port(), "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body,
              HasSubstr("notifyd_grpc_calls_total{method=\"NotifyUser\","
                        "code=\"OK\",caller=\"anonymous\"} 1"));
  EXPECT_THAT(metrics.body, HasSubstr("notifyd_store_commit_seconds_count"));
  EXPECT_THAT(metrics.body, HasSubstr("notifyd_store_queued_seconds_count"));
  // The NotifyUser call above is the only write so far.
  EXPECT_THAT(metrics.body,
              HasSubstr("notifyd_store_committed_calls_total 1\n"));
  EXPECT_EQ(HttpGet(admin_port(), "/readyz").status, 200);
  // Neither is on the browsers' port: the metrics name API keys.
  EXPECT_EQ(HttpGet(http_port(), "/metrics").status, 404);
  EXPECT_EQ(HttpGet(http_port(), "/readyz").status, 404);
  EXPECT_EQ(HttpGet(http_port(), "/healthz").status, 200);
}

server::AppOptions SmallRetention() {
  server::AppOptions options = DevOptions();
  options.max_per_channel = 5;
  options.prune_interval = absl::Milliseconds(50);
  return options;
}

class RetentionEndToEndTest : public EndToEndTest {
 protected:
  RetentionEndToEndTest() : EndToEndTest(SmallRetention()) {}
};

TEST_F(RetentionEndToEndTest, ResumingFromPrunedHistorySendsResetFirst) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < 20; ++i) {
    ids.push_back(Notify("dana", "x").notification().id());
  }
  // Wait for the pruner to keep only the newest 5.
  for (int i = 0; i < 200; ++i) {
    pb::ListNotificationsRequest list;
    list.set_user_id("dana");
    pb::ListNotificationsResponse page;
    grpc::ClientContext context;
    ASSERT_TRUE(server_.stub().ListNotifications(&context, list, &page).ok());
    if (page.notifications_size() == 5) break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  SseClient stream;
  ASSERT_EQ(
      stream.Open(http_port(),
                  absl::StrCat("/v1/stream?user=dana&last_event_id=", ids[2])),
      200);
  std::optional<SseMessage> reset = stream.NextEvent();
  ASSERT_TRUE(reset.has_value());
  EXPECT_EQ(reset->event, "reset");
  EXPECT_EQ(reset->data, std::to_string(ids[15]));
  for (size_t i = 15; i < ids.size(); ++i) {
    std::optional<SseMessage> got = stream.NextEvent();
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->id, std::to_string(ids[i]));
  }
}

TEST_F(EndToEndTest, NotifyctlTailFollowsTheStream) {
  std::string log = (server_.dir() / "tail.log").string();
  testing::ChildProcess tail(
      {NOTIFYCTL_BINARY, absl::StrCat("--http=127.0.0.1:", http_port()), "tail",
       "erin"},
      log);
  WaitForStreams(1);
  uint64_t id = Notify("erin", "hello from tail").notification().id();
  std::string expected = absl::StrCat("#", id, " notification hello from tail");
  bool seen = false;
  for (int i = 0; i < 300 && !seen; ++i) {
    seen = tail.Log().find(expected) != std::string::npos;
    if (!seen) std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(seen) << tail.Log();
}

}  // namespace
}  // namespace notifyd
