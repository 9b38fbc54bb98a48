// Web Push end to end (docs/DESIGN.md, Web Push): the real notifyd binary
// with a VAPID key and a short --push_delay, a push service stand-in on
// loopback (tests/push/push_service.h: TLS with the test CA, VAPID checked,
// payloads decrypted as a browser does), subscriptions registered through
// POST /v1/push/subscriptions with the stand-in's keys, tokens from
// IssueToken. Waits are on conditions: a later push to another user (pushes
// go oldest first) tells that an earlier notification was passed over.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "push/vapid.h"
#include "tests/edge/sse_client.h"
#include "tests/push/push_service.h"
#include "tests/server/notifyd_binary.h"
#include "tests/server/test_ca.h"
#include "tests/server/test_server.h"

namespace notifyd {
namespace {

using ::notifyd::edge::testing::HttpGet;
using ::notifyd::edge::testing::HttpResponse;
using ::notifyd::edge::testing::HttpWithBody;
using ::notifyd::edge::testing::SseClient;
using ::notifyd::testing::PayloadOf;
using ::notifyd::testing::PushService;
using ::notifyd::testing::PushServiceOptions;
using ::notifyd::testing::SeriesValue;
using ::notifyd::testing::TempDir;
using ::notifyd::testing::TestCa;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr auto kWait = std::chrono::seconds(20);

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

// The requests the stand-in recorded for `path`.
std::vector<boost::json::object> For(
    const std::vector<boost::json::object>& requests, const std::string& path) {
  std::vector<boost::json::object> out;
  for (const auto& r : requests) {
    if (r.at("path").as_string() == path) out.push_back(r);
  }
  return out;
}

boost::json::object PayloadJson(const boost::json::object& request) {
  boost::json::value v = boost::json::parse(PayloadOf(request));
  return v.as_object();
}

class WebPushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ca_.ok()) << ca_.error();
    absl::StatusOr<push::VapidKey> key = push::VapidKey::Generate();
    ASSERT_TRUE(key.ok());
    vapid_public_ = key->public_key_base64url();
    WriteFile(dir_.path() / "vapid.pem", *key->ToPem());
    WriteFile(dir_.path() / "token.key",
              "0123456789abcdef0123456789abcdef-test-secret");
  }

  // notifyd stops cleanly on SIGTERM, with no sanitizer report (its log is
  // its own, in the temporary directory).
  void TearDown() override {
    if (!notifyd_) return;
    EXPECT_EQ(Stop(), 0) << notifyd_->process().Log();
    const std::string log = notifyd_->process().Log();
    EXPECT_THAT(log, Not(HasSubstr("Sanitizer"))) << log;
    EXPECT_THAT(log, Not(HasSubstr("runtime error"))) << log;
  }

  // Starts the stand-in (once per test) and notifyd with push on.
  void Start(PushServiceOptions service_options = {},
             std::vector<std::string> extra = {}) {
    if (!service_) {
      service_ = std::make_unique<PushService>(ca_, service_options);
      ASSERT_TRUE(service_->ok()) << service_->Log();
    }
    std::vector<std::string> flags = {
        "--vapid_key_file=" + (dir_.path() / "vapid.pem").string(),
        "--vapid_subject=mailto:ops@example.com",
        "--push_delay=1s",
        "--push_ca_file=" + ca_.ca_cert(),
        "--push_allow_private",
        "--push_backoff_base=100ms",
        "--token_key_file=" + (dir_.path() / "token.key").string()};
    flags.insert(flags.end(), extra.begin(), extra.end());
    notifyd_ = std::make_unique<NotifydBinary>(dir_.path(), flags);
    auto ports = notifyd_->WaitForPorts();
    ASSERT_TRUE(ports.has_value());
    ports_ = *ports;
    stub_ = pb::Notifier::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(ports_.grpc),
                            grpc::InsecureChannelCredentials()));
  }

  // SIGTERM, and the exit code.
  int Stop() {
    stub_.reset();  // an open gRPC connection holds up the drain
    notifyd_->process().Signal(SIGTERM);
    std::optional<int> code =
        notifyd_->process().Wait(std::chrono::seconds(15));
    EXPECT_TRUE(code.has_value()) << "notifyd did not exit on SIGTERM";
    return code.value_or(-1);
  }

  std::string Token(const std::string& user) {
    pb::IssueTokenRequest request;
    request.set_user_id(user);
    pb::IssueTokenResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub_->IssueToken(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return "Authorization: Bearer " + response.token();
  }

  // POST /v1/push/subscriptions for `user` with the stand-in's keys, at
  // the endpoint /push/<user>; the HTTP status.
  int Subscribe(const std::string& user) {
    push::Subscription s = service_->Subscribe("/push/" + user);
    std::string body =
        absl::StrCat(R"({"endpoint":")", s.endpoint,
                     R"(","expirationTime":null,"keys":{"p256dh":")",
                     absl::WebSafeBase64Escape(s.p256dh), R"(","auth":")",
                     absl::WebSafeBase64Escape(s.auth), R"("}})");
    return HttpWithBody(ports_.http, "POST", "/v1/push/subscriptions",
                        {Token(user), "Content-Type: application/json"}, body)
        .status;
  }

  int Unsubscribe(const std::string& user) {
    return HttpWithBody(ports_.http, "DELETE", "/v1/push/subscriptions",
                        {Token(user), "Content-Type: application/json"},
                        absl::StrCat(R"({"endpoint":")", service_->origin(),
                                     "/push/", user, R"("})"))
        .status;
  }

  uint64_t Notify(const std::string& user, const std::string& data) {
    pb::NotifyUserResponse response;
    grpc::Status status = testing::NotifyUser(*stub_, user, data, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.notification().id();
  }

  // Waits until the stand-in has a request for /push/<user> whose payload
  // names notification `id`; false on timeout.
  bool WaitForPushOf(const std::string& user, uint64_t id) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      for (const auto& r : For(service_->Received(), "/push/" + user)) {
        if (PayloadJson(r).at("id").as_string() == std::to_string(id)) {
          return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // Pushes go oldest first: once a notification made now for `barrier_user`
  // (subscribed) is pushed, every earlier one was decided on.
  void PassBarrier(const std::string& barrier_user = "barrier") {
    uint64_t id = Notify(barrier_user, R"({"title":"barrier"})");
    ASSERT_TRUE(WaitForPushOf(barrier_user, id))
        << service_->Log() << notifyd_->process().Log();
  }

  std::string Metrics() { return HttpGet(ports_.admin, "/metrics").body; }

  // The value of `series` once it is `want`, or when kWait has passed:
  // counters of a push's outcome move after notifyd reads the answer, which
  // can be after the stand-in has recorded the request.
  double WaitForSeries(const std::string& series, double want) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    double value = SeriesValue(Metrics(), series);
    while (value != want && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      value = SeriesValue(Metrics(), series);
    }
    return value;
  }

  TestCa ca_;
  TempDir dir_;
  std::string vapid_public_;
  std::unique_ptr<PushService> service_;
  std::unique_ptr<NotifydBinary> notifyd_;
  testing::Ports ports_;
  std::unique_ptr<pb::Notifier::Stub> stub_;
};

TEST_F(WebPushTest, OfflineUserGetsExactlyOnePushTheServiceWorkerCanShow) {
  Start();
  ASSERT_EQ(Subscribe("alice"), 201);
  ASSERT_EQ(Subscribe("barrier"), 201);
  const uint64_t id = Notify(
      "alice",
      R"({"title":"Build failed","body":"main is red","url":"/builds/7"})");
  ASSERT_TRUE(WaitForPushOf("alice", id)) << service_->Log();
  PassBarrier();

  std::vector<boost::json::object> got =
      For(service_->Received(), "/push/alice");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].at("status").as_int64(), 201);
  EXPECT_TRUE(got[0].at("errors").as_array().empty());
  boost::json::object payload = PayloadJson(got[0]);
  EXPECT_EQ(payload.at("id").as_string(), std::to_string(id));
  EXPECT_EQ(payload.at("title").as_string(), "Build failed");
  EXPECT_EQ(payload.at("body").as_string(), "main is red");
  EXPECT_EQ(payload.at("url").as_string(), "/builds/7");
  EXPECT_EQ(got[0].at("ttl").as_string(), "86400");

  EXPECT_EQ(WaitForSeries(R"(notifyd_pushes_total{outcome="delivered"})", 2),
            2);
  const std::string metrics = Metrics();
  EXPECT_FALSE(std::isnan(SeriesValue(metrics, "notifyd_push_queue")))
      << metrics;
}

TEST_F(WebPushTest, PushKeyRouteServesTheVapidPublicKey) {
  Start();
  HttpResponse key = HttpGet(ports_.http, "/v1/push/key");
  ASSERT_EQ(key.status, 200);
  EXPECT_EQ(boost::json::parse(key.body).at("public_key").as_string(),
            vapid_public_);
}

TEST_F(WebPushTest, UserWithALiveStreamGetsNoPush) {
  Start();
  ASSERT_EQ(Subscribe("alice"), 201);
  ASSERT_EQ(Subscribe("barrier"), 201);
  SseClient stream;
  ASSERT_EQ(stream.Open(ports_.http, "/v1/stream", {Token("alice")}), 200);
  ASSERT_TRUE(testing::WaitForLiveStreams(*stub_, 1));
  const uint64_t id = Notify("alice", R"({"title":"live"})");
  std::optional<edge::testing::SseMessage> event = stream.NextEvent();
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->id, std::to_string(id));
  PassBarrier();

  EXPECT_TRUE(For(service_->Received(), "/push/alice").empty());
  EXPECT_EQ(
      SeriesValue(Metrics(), R"(notifyd_push_skipped_total{reason="live"})"),
      1);
}

TEST_F(WebPushTest, NotificationSeenBeforeTheDelayIsNotPushed) {
  // A longer delay: the marks below must come before it even on a loaded
  // machine (sanitizer builds).
  Start({}, {"--push_delay=3s"});
  ASSERT_EQ(Subscribe("alice"), 201);
  ASSERT_EQ(Subscribe("barrier"), 201);
  const std::string alice = Token("alice");
  const uint64_t by_browser = Notify("alice", R"({"title":"one"})");
  const uint64_t by_service = Notify("alice", R"({"title":"two"})");
  // Seen in a browser (POST /v1/inbox/state) and by a service (MarkSeen),
  // each well within the delay.
  EXPECT_EQ(
      HttpWithBody(ports_.http, "POST", "/v1/inbox/state",
                   {alice, "Content-Type: application/json"},
                   absl::StrCat(R"({"ids":[)", by_browser, R"(],"seen":true})"))
          .status,
      200);
  pb::MarkSeenRequest request;
  request.set_user_id("alice");
  request.add_ids(by_service);
  pb::MarkSeenResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->MarkSeen(&context, request, &response).ok());
  PassBarrier();

  EXPECT_TRUE(For(service_->Received(), "/push/alice").empty());
}

TEST_F(WebPushTest, ANotificationFromBeforeTheSubscriptionIsNotPushed) {
  Start();
  ASSERT_EQ(Subscribe("barrier"), 201);
  Notify("alice", R"({"title":"before"})");
  ASSERT_EQ(Subscribe("alice"), 201);  // within the delay
  const uint64_t after = Notify("alice", R"({"title":"after"})");
  ASSERT_TRUE(WaitForPushOf("alice", after)) << service_->Log();
  PassBarrier();

  EXPECT_EQ(For(service_->Received(), "/push/alice").size(), 1u);
  EXPECT_EQ(SeriesValue(Metrics(),
                        R"(notifyd_push_skipped_total{reason="unsubscribed"})"),
            1);
}

TEST_F(WebPushTest, GoneSubscriptionIsRemoved) {
  PushServiceOptions service;
  service.gone_paths = {"/push/alice"};
  Start(service);
  ASSERT_EQ(Subscribe("alice"), 201);
  const uint64_t id = Notify("alice", R"({"title":"gone"})");
  ASSERT_TRUE(WaitForPushOf("alice", id)) << service_->Log();
  EXPECT_EQ(For(service_->Received(), "/push/alice")[0].at("status").as_int64(),
            410);
  // The removal is the store's, after the answer: wait for it.
  EXPECT_EQ(WaitForSeries("notifyd_push_subscriptions_removed_total", 1), 1);
  EXPECT_EQ(SeriesValue(Metrics(), R"(notifyd_pushes_total{outcome="gone"})"),
            1);
  EXPECT_EQ(Unsubscribe("alice"), 404);
}

TEST_F(WebPushTest, TooManyRequestsIsRetriedAfterRetryAfterAndDeliveredOnce) {
  PushServiceOptions service;
  service.fail_first = 1;
  service.fail_status = 429;
  service.retry_after = "1";
  Start(service);
  ASSERT_EQ(Subscribe("alice"), 201);
  ASSERT_EQ(Subscribe("barrier"), 201);
  const uint64_t id = Notify("alice", R"({"title":"retry"})");
  // The retry comes a Retry-After later than the first answer: wait for
  // two requests (a barrier's push would overtake it).
  std::vector<boost::json::object> got;
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (got.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    got = For(service_->Received(), "/push/alice");
  }
  PassBarrier();
  got = For(service_->Received(), "/push/alice");
  ASSERT_EQ(got.size(), 2u) << service_->Log();
  EXPECT_EQ(got[0].at("status").as_int64(), 429);
  EXPECT_EQ(got[1].at("status").as_int64(), 201);
  EXPECT_GE(got[1].at("time").as_double() - got[0].at("time").as_double(), 0.9);
  EXPECT_EQ(PayloadJson(got[1]).at("id").as_string(), std::to_string(id));
}

TEST_F(WebPushTest, AFullSenderQueueDelaysPushesAndLosesNone) {
  // One push held at a time: each poll claims only what fits, the rest
  // stays unmarked in the store for the next poll.
  Start({}, {"--push_max_queue=1"});
  std::vector<std::pair<std::string, uint64_t>> sent;
  for (int i = 0; i < 5; ++i) {
    const std::string user = absl::StrCat("u", i);
    ASSERT_EQ(Subscribe(user), 201);
    sent.emplace_back(user, 0);
  }
  for (auto& [user, id] : sent) id = Notify(user, R"({"title":"queued"})");
  for (const auto& [user, id] : sent) {
    EXPECT_TRUE(WaitForPushOf(user, id)) << user;
  }
  ASSERT_EQ(Subscribe("barrier"), 201);
  PassBarrier();
  for (const auto& [user, id] : sent) {
    EXPECT_EQ(For(service_->Received(), "/push/" + user).size(), 1u) << user;
  }
}

TEST_F(WebPushTest, RestartDoesNotPushAgain) {
  Start();
  ASSERT_EQ(Subscribe("alice"), 201);
  ASSERT_EQ(Subscribe("barrier"), 201);
  const uint64_t id = Notify("alice", R"({"title":"once"})");
  ASSERT_TRUE(WaitForPushOf("alice", id)) << service_->Log();
  ASSERT_EQ(Stop(), 0);

  Start();  // the same store
  PassBarrier();
  EXPECT_EQ(For(service_->Received(), "/push/alice").size(), 1u);
}

TEST_F(WebPushTest, UnreadableKeyFileStopsStartupWithAClearError) {
  NotifydBinary notifyd(
      dir_.path(),
      {"--vapid_key_file=" + (dir_.path() / "missing.pem").string(),
       "--vapid_subject=mailto:ops@example.com"});
  std::optional<int> code = notifyd.process().Wait(std::chrono::seconds(15));
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  EXPECT_THAT(notifyd.process().Log(),
              ::testing::HasSubstr("--vapid_key_file"));
}

TEST_F(WebPushTest, KeyFileWithoutAValidSubjectStopsStartup) {
  for (const std::string subject : {"", "ops@example.com"}) {
    NotifydBinary notifyd(
        dir_.path(),
        {"--vapid_key_file=" + (dir_.path() / "vapid.pem").string(),
         "--vapid_subject=" + subject});
    std::optional<int> code = notifyd.process().Wait(std::chrono::seconds(15));
    ASSERT_TRUE(code.has_value());
    EXPECT_NE(*code, 0);
    EXPECT_THAT(notifyd.process().Log(),
                ::testing::HasSubstr("--vapid_subject"));
  }
}

TEST_F(WebPushTest, WithoutAKeyThePushKeyRouteAnswers404) {
  NotifydBinary notifyd(dir_.path());
  auto ports = notifyd.WaitForPorts();
  ASSERT_TRUE(ports.has_value());
  EXPECT_EQ(HttpGet(ports->http, "/v1/push/key").status, 404);
}

}  // namespace
}  // namespace notifyd
