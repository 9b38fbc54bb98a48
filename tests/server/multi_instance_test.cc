// Several notifyd processes behind a load balancer (docs/DESIGN.md,
// "Several instances") share one PostgreSQL store and one Redis bus. A
// notification published on any instance reaches streams on every instance,
// in id order, and a stream
// resumes on any instance with exactly what it missed. Real binaries, a
// private PostgreSQL and a private Redis, all on loopback.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "push/vapid.h"
#include "tests/edge/sse_client.h"
#include "tests/push/push_service.h"
#include "tests/server/json_log.h"
#include "tests/server/notifyd_binary.h"
#include "tests/server/test_ca.h"
#include "tests/server/test_server.h"
#include "tests/support/postgres_server.h"
#include "tests/support/redis_server.h"

namespace notifyd {
namespace {

using edge::testing::HttpGet;
using edge::testing::HttpResponse;
using edge::testing::SseClient;
using edge::testing::SseMessage;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

// One PostgreSQL and one Redis for the whole binary; each test gets its own
// database and Redis channel.
class Services : public ::testing::Environment {
 public:
  void SetUp() override {
    auto pg = testing::PostgresServer::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    postgres = std::move(*pg);
    auto redis_server = testing::RedisServer::Start();
    ASSERT_TRUE(redis_server.ok()) << redis_server.status();
    redis = std::move(*redis_server);
  }
  void TearDown() override {
    redis.reset();
    postgres.reset();
  }

  std::unique_ptr<testing::PostgresServer> postgres;
  std::unique_ptr<testing::RedisServer> redis;
};

Services* const services =
    static_cast<Services*>(::testing::AddGlobalTestEnvironment(new Services));

// Where two id sequences part, for a failure message.
std::string FirstDifference(const std::vector<uint64_t>& got,
                            const std::vector<uint64_t>& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  std::string text = absl::StrCat("sizes ", got.size(), " / ", want.size(),
                                  "; first difference at index ", i, ": got");
  for (size_t j = i; j < got.size() && j < i + 5; ++j) {
    absl::StrAppend(&text, " ", got[j]);
  }
  absl::StrAppend(&text, ", want");
  for (size_t j = i; j < want.size() && j < i + 5; ++j) {
    absl::StrAppend(&text, " ", want[j]);
  }
  return text + "\n";
}

class MultiInstanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(services->postgres, nullptr);
    ASSERT_NE(services->redis, nullptr);
    auto db = services->postgres->CreateDatabase();
    ASSERT_TRUE(db.ok()) << db.status();
    for (int i = 0; i < 2; ++i) {
      std::filesystem::create_directories(dir_.path() / std::to_string(i));
      std::vector<std::string> flags = {"--store=" + *db,
                                        "--bus=" + services->redis->url(),
                                        "--insecure_dev_identity"};
      for (const std::string& flag : ExtraFlags()) flags.push_back(flag);
      instances_.push_back(std::make_unique<NotifydBinary>(
          dir_.path() / std::to_string(i), std::move(flags)));
    }
    for (auto& instance : instances_) {
      auto ports = instance->WaitForPorts();
      ASSERT_TRUE(ports.has_value());
      http_.push_back(static_cast<uint16_t>(ports->http));
      admin_.push_back(static_cast<uint16_t>(ports->admin));
      stubs_.push_back(pb::Notifier::NewStub(
          grpc::CreateChannel("127.0.0.1:" + std::to_string(ports->grpc),
                              grpc::InsecureChannelCredentials())));
    }
  }

  // Flags every instance gets besides the shared store and bus.
  virtual std::vector<std::string> ExtraFlags() const { return {}; }

  uint64_t Notify(int instance, const std::string& user,
                  const std::string& data,
                  const std::string& traceparent = "") {
    pb::NotifyUserResponse response;
    grpc::Status status = testing::NotifyUser(*stubs_[instance], user, data,
                                              &response, "", "", traceparent);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.notification().id();
  }

  std::string Logs() {
    std::string logs;
    for (auto& instance : instances_) logs += instance->process().Log();
    return logs;
  }

  testing::TempDir dir_;
  std::vector<std::unique_ptr<NotifydBinary>> instances_;
  std::vector<uint16_t> http_;
  std::vector<uint16_t> admin_;  // /readyz, /metrics
  std::vector<std::unique_ptr<pb::Notifier::Stub>> stubs_;
};

TEST_F(MultiInstanceTest, APublishOnOneInstanceReachesStreamsOnEvery) {
  SseClient on_a, on_b;
  ASSERT_EQ(on_a.Open(http_[0], "/v1/stream?user=ada"), 200);
  ASSERT_EQ(on_b.Open(http_[1], "/v1/stream?user=ada"), 200);
  ASSERT_TRUE(testing::WaitForLiveStreams(*stubs_[0], 1));
  ASSERT_TRUE(testing::WaitForLiveStreams(*stubs_[1], 1));

  const uint64_t id = Notify(0, "ada", R"({"hello":"from a"})");

  for (SseClient* stream : {&on_a, &on_b}) {
    std::optional<SseMessage> got = stream->NextEvent(seconds(10));
    ASSERT_TRUE(got.has_value()) << Logs();
    EXPECT_EQ(got->id, std::to_string(id));
    EXPECT_EQ(got->data, R"({"hello":"from a"})");
  }
  // Exactly once: the next event on each is the next notification.
  const uint64_t next = Notify(1, "ada", "second");
  for (SseClient* stream : {&on_a, &on_b}) {
    std::optional<SseMessage> got = stream->NextEvent(seconds(10));
    ASSERT_TRUE(got.has_value()) << Logs();
    EXPECT_EQ(got->id, std::to_string(next));
  }
}

// A state change made on one instance reaches the user's streams on every
// instance, with the counts after it (docs/DESIGN.md, The inbox).
TEST_F(MultiInstanceTest, AStateChangeOnOneInstanceReachesStreamsOnEvery) {
  SseClient on_a, on_b;
  on_a.set_skip_counts(false);
  on_b.set_skip_counts(false);
  ASSERT_EQ(on_a.Open(http_[0], "/v1/stream?user=dee"), 200);
  ASSERT_EQ(on_b.Open(http_[1], "/v1/stream?user=dee"), 200);
  ASSERT_TRUE(testing::WaitForLiveStreams(*stubs_[0], 1));
  ASSERT_TRUE(testing::WaitForLiveStreams(*stubs_[1], 1));
  const uint64_t id = Notify(1, "dee", "to read");

  pb::MarkReadRequest request;
  request.set_user_id("dee");
  request.add_ids(id);
  pb::MarkReadResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stubs_[0]->MarkRead(&context, request, &response).ok());
  EXPECT_EQ(response.changed(), 1u);

  for (SseClient* stream : {&on_a, &on_b}) {
    // The notification, then the state record, then the counts after it.
    // (How many counts events come before depends on whether the stream's
    // first counts were read before or after the notification committed:
    // a count already sent is not sent again.)
    std::vector<std::string> entries;
    std::string last_counts;
    while (entries.size() < 2 || last_counts.empty()) {
      std::optional<SseMessage> got = stream->NextEvent(seconds(10));
      ASSERT_TRUE(got.has_value()) << Logs();
      if (got->event == "counts") {
        if (entries.size() == 2) last_counts = got->data;
        continue;
      }
      entries.push_back(absl::StrCat(got->event, " ", got->id, " ", got->data));
    }
    EXPECT_EQ(entries[0], absl::StrCat("notification ", id, " to read"));
    EXPECT_EQ(entries[1], absl::StrCat("state ", id + 1, R"( {"ids":[)", id,
                                       R"(],"seen":true,"read":true})"));
    EXPECT_EQ(last_counts, R"({"unread":0,"unseen":0})");
  }
}

TEST_F(MultiInstanceTest, HistoryAndReplayAreTheSameOnEveryInstance) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(Notify(i % 2, "bea", "n"));
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(AllIds(*stubs_[0], "bea"), AllIds(*stubs_[1], "bea"));

  // Saw the first two on instance A; resumes on instance B.
  SseClient resumed;
  ASSERT_EQ(resumed.Open(http_[1], "/v1/stream?user=bea",
                         {absl::StrCat("Last-Event-ID: ", ids[1])}),
            200);
  for (size_t i = 2; i < ids.size(); ++i) {
    std::optional<SseMessage> got = resumed.NextEvent(seconds(10));
    ASSERT_TRUE(got.has_value()) << Logs();
    EXPECT_EQ(got->id, std::to_string(ids[i]));
  }
}

// Both instances publish at once, so commits interleave and Redis sees the
// two instances' messages in any order; a stream on each instance still gets
// every id once, ascending.
TEST_F(MultiInstanceTest, ConcurrentPublishersOnBothInstancesArriveInIdOrder) {
  constexpr int kPerInstance = 500;
  SseClient streams[2];
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(streams[i].Open(http_[i], "/v1/stream?user=cy"), 200);
    ASSERT_TRUE(testing::WaitForLiveStreams(*stubs_[i], 1));
  }
  std::vector<uint64_t> published[2];
  std::vector<std::thread> publishers;
  for (int i = 0; i < 2; ++i) {
    publishers.emplace_back([&, i] {
      for (int n = 0; n < kPerInstance; ++n) {
        published[i].push_back(Notify(i, "cy", absl::StrCat(i, "/", n)));
      }
    });
  }
  for (std::thread& t : publishers) t.join();
  std::vector<uint64_t> expected = published[0];
  expected.insert(expected.end(), published[1].begin(), published[1].end());
  std::sort(expected.begin(), expected.end());

  for (SseClient& stream : streams) {
    std::vector<uint64_t> received;
    while (received.size() < expected.size()) {
      std::optional<SseMessage> got = stream.NextEvent(seconds(10));
      if (!got) break;
      received.push_back(std::stoull(got->id));
    }
    EXPECT_EQ(received, expected) << Logs();
  }
}

// The race of the single-instance edge test, across instances: publishing
// goes on through both while a client reconnects again and again, each time
// to the other instance, resuming from the last id it saw.
TEST_F(MultiInstanceTest, ReconnectingBetweenInstancesNeitherSkipsNorRepeats) {
  constexpr int kPerInstance = 1000;
  std::vector<uint64_t> published[2];
  std::vector<std::thread> publishers;
  for (int i = 0; i < 2; ++i) {
    publishers.emplace_back([&, i] {
      for (int n = 0; n < kPerInstance; ++n) {
        published[i].push_back(Notify(i, "dot", absl::StrCat(n)));
      }
    });
  }

  std::vector<uint64_t> received;
  std::mt19937 random(7);
  int reconnects = 0;
  uint64_t last = 0;
  const auto deadline = std::chrono::steady_clock::now() + seconds(120);
  while (received.size() < 2u * kPerInstance &&
         std::chrono::steady_clock::now() < deadline) {
    SseClient stream;
    if (stream.Open(http_[reconnects % 2], "/v1/stream?user=dot",
                    {absl::StrCat("Last-Event-ID: ", last)}) != 200) {
      ADD_FAILURE() << "stream refused";
      break;
    }
    ++reconnects;
    const int take = std::uniform_int_distribution<int>(1, 120)(random);
    for (int i = 0; i < take; ++i) {
      std::optional<SseMessage> got = stream.NextEvent(seconds(10));
      if (!got) break;
      last = std::stoull(got->id);
      received.push_back(last);
    }
  }
  for (std::thread& t : publishers) t.join();
  std::vector<uint64_t> expected = published[0];
  expected.insert(expected.end(), published[1].begin(), published[1].end());
  std::sort(expected.begin(), expected.end());
  EXPECT_GT(reconnects, 10);
  EXPECT_EQ(received, expected)
      << FirstDifference(received, expected) << Logs();
}

// Polls /readyz until it answers `status` or `timeout` passes.
bool ReadyzBecomes(uint16_t port, int status, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (HttpGet(port, "/readyz").status == status) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// Redis going away is visible in /readyz (a load balancer stops sending
// streams there); once it is back, notifications flow again, and one
// committed while the bus was down still reaches a live stream (the bus
// fills what it missed from the store).
TEST_F(MultiInstanceTest, ALostBusIsNotReadyAndWhatItMissedArrivesAfter) {
  SseClient on_b;
  ASSERT_EQ(on_b.Open(http_[1], "/v1/stream?user=eve"), 200);
  ASSERT_TRUE(testing::WaitForLiveStreams(*stubs_[1], 1));
  ASSERT_TRUE(ReadyzBecomes(admin_[0], 200, seconds(10)));

  services->redis->Stop();
  EXPECT_TRUE(ReadyzBecomes(admin_[0], 503, seconds(10)));
  EXPECT_EQ(HttpGet(admin_[0], "/readyz").body, "bus unavailable\n");
  const uint64_t while_down = Notify(0, "eve", "while the bus was down");
  ASSERT_TRUE(services->redis->Restart().ok());
  EXPECT_TRUE(ReadyzBecomes(admin_[0], 200, seconds(20))) << Logs();
  const uint64_t after = Notify(0, "eve", "after");

  std::optional<SseMessage> first = on_b.NextEvent(seconds(20));
  ASSERT_TRUE(first.has_value()) << Logs();
  EXPECT_EQ(first->id, std::to_string(while_down));
  std::optional<SseMessage> second = on_b.NextEvent(seconds(20));
  ASSERT_TRUE(second.has_value()) << Logs();
  EXPECT_EQ(second->id, std::to_string(after));

  const std::string metrics = HttpGet(admin_[1], "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("notifyd_bus_connected 1\n"));
  EXPECT_THAT(metrics, Not(HasSubstr("notifyd_bus_reconnects_total 0\n")));
}

// Instances logging JSON at debug, so that each one's lines about a
// notification can be read.
class TracedMultiInstanceTest : public MultiInstanceTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    return {"--log_format=json", "--log_level=debug"};
  }
};

// The trace id of a traceparent sent with a publish travels with the
// notification on the Redis bus: the instance that delivers it logs it too.
TEST_F(TracedMultiInstanceTest, TheDeliveringInstanceLogsThePublishsTraceId) {
  constexpr char kTraceparent[] =
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
  SseClient on_b;
  ASSERT_EQ(on_b.Open(http_[1], "/v1/stream?user=tia"), 200);
  ASSERT_TRUE(testing::WaitForLiveStreams(*stubs_[1], 1));
  const uint64_t id = Notify(0, "tia", "traced", kTraceparent);
  std::optional<SseMessage> got = on_b.NextEvent(seconds(10));
  ASSERT_TRUE(got.has_value()) << Logs();
  EXPECT_EQ(got->id, std::to_string(id));

  // Publishing instance: stored with the trace id.
  auto published = testing::ParseJsonLog(instances_[0]->process().Log());
  auto stored = testing::FindLine(
      published, "stored", {{"trace_id", kTraceId}, {"channel", "user:tia"}});
  ASSERT_TRUE(stored.has_value()) << Logs();
  EXPECT_EQ(stored->at("id").to_number<uint64_t>(), id);
  // Delivering instance: the line of its delivery, with the trace id, is
  // written once the frame is queued; wait for it.
  std::optional<boost::json::object> delivered;
  for (int i = 0; i < 100 && !delivered; ++i) {
    delivered = testing::FindLine(
        testing::ParseJsonLog(instances_[1]->process().Log()), "delivered",
        {{"trace_id", kTraceId}, {"channel", "user:tia"}});
    if (!delivered) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(delivered.has_value()) << Logs();
  EXPECT_EQ(delivered->at("id").to_number<uint64_t>(), id);
  EXPECT_EQ(delivered->at("streams").to_number<uint64_t>(), 1u);
}

// Both instances push (one push service stand-in, no delay): each
// notification is claimed by one of them through its pushed mark in the
// shared store, so every user gets it exactly once.
class PushMultiInstanceTest : public MultiInstanceTest {
 protected:
  PushMultiInstanceTest() {
    auto key = push::VapidKey::Generate();
    EXPECT_TRUE(key.ok());
    std::ofstream(key_dir_.path() / "vapid.pem") << *key->ToPem();
  }
  std::vector<std::string> ExtraFlags() const override {
    return {"--vapid_key_file=" + (key_dir_.path() / "vapid.pem").string(),
            "--vapid_subject=mailto:ops@example.com", "--push_delay=0",
            "--push_ca_file=" + ca_.ca_cert(), "--push_allow_private"};
  }

  testing::TempDir key_dir_;
  testing::TestCa ca_;
  testing::PushService service_{ca_};
};

TEST_F(PushMultiInstanceTest, EachNotificationIsPushedByOneInstanceOnly) {
  ASSERT_TRUE(service_.ok()) << service_.Log();
  constexpr int kUsers = 40;
  for (int i = 0; i < kUsers; ++i) {
    push::Subscription s = service_.Subscribe(absl::StrCat("/push/u", i));
    const std::string body =
        absl::StrCat(R"({"endpoint":")", s.endpoint, R"(","keys":{"p256dh":")",
                     absl::WebSafeBase64Escape(s.p256dh), R"(","auth":")",
                     absl::WebSafeBase64Escape(s.auth), R"("}})");
    ASSERT_EQ(edge::testing::HttpWithBody(
                  http_[i % 2], "POST",
                  absl::StrCat("/v1/push/subscriptions?user=u", i),
                  {"Content-Type: application/json"}, body)
                  .status,
              201);
  }
  for (int i = 0; i < kUsers; ++i) Notify(i % 2, absl::StrCat("u", i), "hi");

  std::vector<boost::json::object> got =
      service_.WaitForReceived(kUsers, seconds(30));
  ASSERT_EQ(got.size(), static_cast<size_t>(kUsers)) << Logs();
  // One more, after which nothing earlier can still come.
  Notify(0, "u0", "last");
  got = service_.WaitForReceived(kUsers + 1, seconds(30));
  std::map<std::string, int> per_path;
  for (const auto& r : got) ++per_path[std::string(r.at("path").as_string())];
  EXPECT_EQ(per_path.size(), static_cast<size_t>(kUsers));
  for (const auto& [path, n] : per_path) {
    EXPECT_EQ(n, path == "/push/u0" ? 2 : 1) << path;
  }
}

}  // namespace
}  // namespace notifyd
