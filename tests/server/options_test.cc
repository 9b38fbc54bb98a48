// Options are checked once, before anything starts: each out-of-range value
// is refused naming its flag, including the rules between components, and
// the largest values accepted really work.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "notify/v1/notify.grpc.pb.h"
#include "server/app.h"
#include "storage/store.h"
#include "tests/edge/sse_client.h"
#include "tests/server/test_server.h"

namespace notifyd {
namespace {

namespace pb = ::notify::v1;
using edge::testing::SseClient;
using ::testing::HasSubstr;

absl::Status Validate(const server::AppOptions& options) {
  return server::ValidateLimits(options);
}

TEST(OptionsTest, DefaultsAreValid) {
  EXPECT_TRUE(Validate(server::AppOptions{}).ok());
}

TEST(OptionsTest, AStreamsChannelsMustFitOneReplay) {
  server::AppOptions options;
  options.edge.max_channels_per_stream = storage::kMaxReplayChannels;
  absl::Status s = Validate(options);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--max_channels_per_stream"));
  EXPECT_THAT(s.message(),
              HasSubstr(absl::StrCat(storage::kMaxReplayChannels - 1)));
  options.edge.max_channels_per_stream = storage::kMaxReplayChannels - 1;
  EXPECT_TRUE(Validate(options).ok());
}

TEST(OptionsTest, AFramedNotificationMustFitAStreamsQueue) {
  server::AppOptions options;
  options.max_payload_bytes = 1 << 20;  // 1 MiB, the queue's default size
  absl::Status s = Validate(options);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--max_queue_bytes"));
  options.edge.max_queue_bytes = 8 << 20;
  EXPECT_TRUE(Validate(options).ok());
}

TEST(OptionsTest, TheFanOutLimitHoldsAtLeastOnePayload) {
  server::AppOptions options;
  options.max_fanout_bytes = options.max_payload_bytes - 1;
  absl::Status s = Validate(options);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--max_fanout_bytes"));
  options.max_fanout_bytes = options.max_payload_bytes;
  EXPECT_TRUE(Validate(options).ok());
}

TEST(OptionsTest, EdgeValuesOutOfRangeNameTheirFlag) {
  struct Case {
    const char* flag;
    void (*set)(edge::EdgeOptions&);
  } cases[] = {
      {"--io_threads", [](edge::EdgeOptions& e) { e.io_threads = 0; }},
      {"--heartbeat",
       [](edge::EdgeOptions& e) { e.heartbeat = absl::ZeroDuration(); }},
      {"--token_cookie", [](edge::EdgeOptions& e) { e.token_cookie = "a=b"; }},
      {"--max_queue_bytes",
       [](edge::EdgeOptions& e) { e.max_queue_bytes = 10; }},
      {"--stream_open_rate",
       [](edge::EdgeOptions& e) { e.stream_open_rate = -1; }},
  };
  for (const Case& c : cases) {
    server::AppOptions options;
    c.set(options.edge);
    absl::Status s = Validate(options);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.flag;
    EXPECT_THAT(s.message(), HasSubstr(c.flag));
  }
}

// Web Push options are checked only when push is on (--vapid_key_file),
// each naming its flag; the delay's limits are 0 and 24 hours.
TEST(OptionsTest, PushValuesOutOfRangeNameTheirFlagOnceAKeyIsGiven) {
  server::AppOptions options;
  options.push.threads = 0;
  options.push_scheduler.delay = absl::Hours(25);
  EXPECT_TRUE(Validate(options).ok()) << "push is off: not checked";

  options.vapid_key_file = "/etc/notifyd/vapid.pem";
  options.push.vapid_subject = "mailto:ops@example.com";
  struct Case {
    const char* flag;
    void (*set)(server::AppOptions&);
  } cases[] = {
      {"--vapid_subject",
       [](server::AppOptions& o) { o.push.vapid_subject = ""; }},
      {"--vapid_subject",
       [](server::AppOptions& o) { o.push.vapid_subject = "ops@example.com"; }},
      {"--push_threads", [](server::AppOptions& o) { o.push.threads = 17; }},
      {"--push_max_queue", [](server::AppOptions& o) { o.push.max_queue = 0; }},
      {"--push_backoff_cap",
       [](server::AppOptions& o) {
         o.push.backoff_cap = absl::Milliseconds(1);
       }},
      {"--push_delay",
       [](server::AppOptions& o) { o.push_scheduler.delay = absl::Hours(25); }},
      {"--push_delay",
       [](server::AppOptions& o) {
         o.push_scheduler.delay = -absl::Seconds(1);
       }},
  };
  for (const Case& c : cases) {
    server::AppOptions each = options;
    each.push.threads = 1;
    each.push_scheduler.delay = absl::Seconds(30);
    c.set(each);
    absl::Status s = Validate(each);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.flag;
    EXPECT_THAT(s.message(), HasSubstr(c.flag));
  }
  for (absl::Duration delay : {absl::ZeroDuration(), absl::Hours(24)}) {
    server::AppOptions each = options;
    each.push.threads = 1;
    each.push_scheduler.delay = delay;
    EXPECT_TRUE(Validate(each).ok()) << delay;
  }
}

// A listener reachable from other machines needs authentication: gRPC
// API keys or mutual TLS, the admin listener (plain HTTP) API keys; or
// --insecure, which allows both.
TEST(OptionsTest, AnAdminListenerOffLoopbackNeedsApiKeysOrInsecure) {
  for (const char* exposed : {"0.0.0.0:8081", "192.0.2.7:8081", "[::]:8081",
                              ":8081", "example.com:8081"}) {
    server::AppOptions options;
    options.admin_listen = exposed;
    absl::Status s = server::ValidateExposure(options);
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << exposed;
    EXPECT_THAT(s.message(),
                HasSubstr(absl::StrCat("--admin_listen=", exposed)));
    EXPECT_THAT(s.message(), HasSubstr("--api_keys_file"));
    EXPECT_THAT(s.message(), HasSubstr("--insecure"));
    // A client certificate does not reach a plain HTTP listener.
    options.tls_client_ca_file = "ca.pem";
    EXPECT_EQ(server::ValidateExposure(options).code(),
              absl::StatusCode::kFailedPrecondition);
    options.tls_client_ca_file.clear();
    options.api_keys_file = "keys";
    EXPECT_TRUE(server::ValidateExposure(options).ok()) << exposed;
    options.api_keys_file.clear();
    options.insecure = true;
    EXPECT_TRUE(server::ValidateExposure(options).ok()) << exposed;
  }
  for (const char* local :
       {"127.0.0.1:8081", "127.0.0.2:0", "[::1]:8081", "localhost:8081", ""}) {
    server::AppOptions options;
    options.admin_listen = local;
    EXPECT_TRUE(server::ValidateExposure(options).ok()) << local;
  }
}

// The largest channel set a stream may ask for resumes from the store and
// gets what was published to its last channel while it was away.
TEST(OptionsTest, TheLargestAllowedChannelSetResumesAndGetsItsEvents) {
  server::AppOptions options;
  options.edge.insecure_dev_identity = true;
  options.edge.max_channels_per_stream = storage::kMaxReplayChannels - 1;
  testing::TestServer server(options);
  std::string channels;
  std::string last;
  for (size_t i = 0; i < options.edge.max_channels_per_stream; ++i) {
    last = absl::StrCat("room-", i);
    absl::StrAppend(&channels, i == 0 ? "" : ",", last);
  }
  pb::PublishRequest request;
  request.set_channel(last);
  request.set_data("{\"title\":\"to the last channel\"}");
  pb::PublishResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(server.stub().Publish(&context, request, &response).ok());

  SseClient stream;
  ASSERT_EQ(stream.Open(server.app().http_port(),
                        absl::StrCat("/v1/stream?user=wide&last_event_id=0"
                                     "&channels=",
                                     channels)),
            200);
  auto event = stream.NextEvent();
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->id, std::to_string(response.notification().id()));
}

}  // namespace
}  // namespace notifyd
