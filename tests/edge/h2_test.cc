// HTTP/2 on the TLS edge, black-box: the real notifyd binary (TLS from a
// throwaway CA, every port 0) against real HTTP/2 clients: curl --http2 and
// nghttp (Debian's nghttp2-client), and a libnghttp2 client (h2_client.h)
// for what they cannot do: a stream that is never read, floods, malformed
// requests. Notifications are published over gRPC (TLS, same CA).
//
//   many streams    20 SSE streams multiplexed on one curl connection, and
//                   nghttp's, all receive the notification
//   flow control    a stream whose window is exhausted is reset alone
//                   (CANCEL, the slow-consumer cut) while a stream beside
//                   it on the same connection receives everything
//   routes          /healthz, the inbox API (a POST with a body), 404, 405,
//                   413 over h2; HTTP/1.1 still served on the same port
//   push            the Web Push routes (POST 201, DELETE 204, the key's
//                   404) and /v1/sw.js with Service-Worker-Allowed over h2
//   limits          streams per connection, streams per user, header list
//                   size, invalid pseudo-headers: each the right HTTP/2 or
//                   HTTP error, and the server keeps serving
//   floods          rapid reset, SETTINGS and PING floods: GOAWAY
//                   ENHANCE_YOUR_CALM and closed; the server keeps serving
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "notify/v1/notify.grpc.pb.h"
#include "tests/edge/h2_client.h"
#include "tests/edge/sse_client.h"
#include "tests/server/notifyd_binary.h"
#include "tests/server/test_ca.h"
#include "tests/server/test_server.h"

namespace notifyd {
namespace {

using ::notifyd::edge::testing::H2Client;
using ::notifyd::edge::testing::H2Headers;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// The child is killed should the test die first.
testing::ChildOptions KillWithTest() {
  testing::ChildOptions o;
  o.parent_death_signal = SIGKILL;
  return o;
}

class H2Test : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(ca_.ok()) << ca_.error(); }

  // Starts notifyd with TLS on the HTTP listener and `extra` flags.
  void Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--tls_cert=" + ca_.server_cert(), "--tls_key=" + ca_.server_key(),
        "--insecure_dev_identity", "--synchronous=normal",
        "--stream_open_rate=0"};
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = std::make_unique<NotifydBinary>(dir_.path(), args);
    auto ports = server_->WaitForPorts();
    ASSERT_TRUE(ports.has_value());
    ports_ = *ports;
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = testing::TestCa::Read(ca_.ca_cert());
    stub_ = pb::Notifier::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", ports_.grpc), grpc::SslCredentials(tls)));
  }

  uint64_t Publish(const std::string& channel, const std::string& data) {
    pb::PublishRequest request;
    request.set_channel(channel);
    request.set_event("notification");
    request.set_data(data);
    pb::PublishResponse response;
    grpc::ClientContext context;
    grpc::Status s = stub_->Publish(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.notification().id();
  }

  std::string Url(const std::string& path) const {
    return absl::StrCat("https://127.0.0.1:", ports_.http, path);
  }

  // The server still answers a fresh HTTP/2 connection.
  void ExpectServing() {
    H2Client c(ports_.http, ca_.ca_cert());
    ASSERT_TRUE(c.ok()) << c.error();
    int32_t id = c.Get("/healthz");
    ASSERT_TRUE(c.RunUntil([&] { return c.stream(id).closed; }, 5s));
    EXPECT_EQ(c.stream(id).status, 200);
    EXPECT_EQ(c.stream(id).body, "ok\n");
  }

  testing::TestCa ca_;
  testing::TempDir dir_;
  std::unique_ptr<NotifydBinary> server_;
  testing::Ports ports_;
  std::unique_ptr<pb::Notifier::Stub> stub_;
};

TEST_F(H2Test, CurlMultiplexesManyStreamsOnOneConnectionAndAllReceive) {
  Start();
  constexpr int kStreams = 20;
  std::vector<std::string> argv = {"/usr/bin/curl",  "--http2",    "--parallel",
                                   "--parallel-max", "50",         "-sSvN",
                                   "--cacert",       ca_.ca_cert()};
  for (int i = 0; i < kStreams; ++i) {
    argv.push_back("-o");
    argv.push_back((dir_.path() / absl::StrCat("s", i)).string());
    argv.push_back(Url(absl::StrCat("/v1/stream?user=u", i, "&channels=news")));
  }
  testing::ChildProcess curl(argv, (dir_.path() / "curl.log").string(),
                             KillWithTest());
  ASSERT_TRUE(testing::WaitForLiveStreams(*stub_, kStreams)) << curl.Log();
  Publish("news", "to every stream");
  for (int i = 0; i < kStreams; ++i) {
    auto file = dir_.path() / absl::StrCat("s", i);
    for (int t = 0; t < 500 && ReadFile(file).find("data: to every stream") ==
                                   std::string::npos;
         ++t) {
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_THAT(ReadFile(file), HasSubstr("data: to every stream")) << i;
  }
  // curl opened one connection and multiplexed every stream on it.
  EXPECT_EQ(Count(curl.Log(), "Connected to 127.0.0.1"), 1u) << curl.Log();
  EXPECT_THAT(curl.Log(), HasSubstr("using HTTP/2"));
}

TEST_F(H2Test, NghttpStreamsOnOneConnectionAllReceive) {
  Start();
  constexpr int kStreams = 8;
  std::vector<std::string> argv = {"/usr/bin/stdbuf", "-o0", "/usr/bin/nghttp",
                                   "-v"};
  for (int i = 0; i < kStreams; ++i) {
    argv.push_back(Url(absl::StrCat("/v1/stream?user=n", i, "&channels=news")));
  }
  testing::ChildProcess nghttp(argv, (dir_.path() / "nghttp.log").string(),
                               KillWithTest());
  ASSERT_TRUE(testing::WaitForLiveStreams(*stub_, kStreams)) << nghttp.Log();
  uint64_t id = Publish("news", "to nghttp");
  std::string frame = absl::StrCat("id: ", id);
  for (int t = 0; t < 500 && Count(nghttp.Log(), frame) < kStreams; ++t) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(Count(nghttp.Log(), "data: to nghttp"), size_t{kStreams})
      << nghttp.Log();
  EXPECT_EQ(Count(nghttp.Log(), "Connected"), 1u);
}

TEST_F(H2Test, StreamWithExhaustedWindowIsCutAloneWhileOthersFlow) {
  Start({"--max_payload_bytes=8192", "--max_queue_bytes=70000"});
  // Stream windows of 16 KiB: the stream never read stalls after 16 KiB.
  H2Client c(ports_.http, ca_.ca_cert(), /*stream_window=*/16384);
  ASSERT_TRUE(c.ok()) << c.error();
  int32_t slow = c.Get("/v1/stream?user=slow&channels=news");
  int32_t fast = c.Get("/v1/stream?user=fast&channels=news");
  c.StopReading(slow);
  ASSERT_TRUE(c.RunUntil(
      [&] { return c.stream(slow).status && c.stream(fast).status; }, 5s));
  // The reading stream's window (and the connection's) has room for all
  // of it, as a browser's 6 MiB windows would: only the other one stalls.
  ASSERT_EQ(nghttp2_submit_window_update(c.session(), NGHTTP2_FLAG_NONE, fast,
                                         1 << 20),
            0);
  ASSERT_EQ(
      nghttp2_submit_window_update(c.session(), NGHTTP2_FLAG_NONE, 0, 1 << 24),
      0);
  ASSERT_TRUE(testing::WaitForLiveStreams(*stub_, 2));
  // 200 notifications of 1 KiB: the slow stream's window holds 16 KiB,
  // its queue 70000 bytes; past both it is reset, the fast one gets all.
  const std::string payload(1000, 'x');
  uint64_t last = 0;
  for (int i = 0; i < 200; ++i) {
    last = Publish("news", payload);
    c.RunUntil([] { return false; }, 1ms);
  }
  std::string last_frame = absl::StrCat("id: ", last, "\n");
  ASSERT_TRUE(c.RunUntil(
      [&] {
        return c.stream(fast).body.find(last_frame) != std::string::npos &&
               c.stream(slow).closed;
      },
      20s))
      << "fast got " << c.stream(fast).body.size() << " bytes, slow "
      << c.stream(slow).body.size() << " bytes, closed "
      << c.stream(slow).closed << ", peer closed " << c.peer_closed();
  EXPECT_EQ(Count(c.stream(fast).body, "data: x"), 200u);
  EXPECT_EQ(c.stream(slow).error_code, uint32_t{NGHTTP2_CANCEL});
  EXPECT_FALSE(c.stream(fast).closed);
  EXPECT_FALSE(c.got_goaway());
  // The connection still takes requests.
  int32_t health = c.Get("/healthz");
  ASSERT_TRUE(c.RunUntil([&] { return c.stream(health).closed; }, 5s));
  EXPECT_EQ(c.stream(health).status, 200);
}

// SIGTERM: every HTTP/2 connection gets GOAWAY NO_ERROR and its streams end
// cleanly (END_STREAM, not a reset), after what was queued for them, so
// browsers reconnect and resume instead of reporting an error.
TEST_F(H2Test, ShutdownEndsStreamsCleanlyWithGoaway) {
  Start();
  H2Client c(ports_.http, ca_.ca_cert());
  ASSERT_TRUE(c.ok()) << c.error();
  std::vector<int32_t> streams;
  for (int i = 0; i < 3; ++i) {
    streams.push_back(
        c.Get(absl::StrCat("/v1/stream?user=u", i, "&channels=news")));
  }
  ASSERT_TRUE(c.RunUntil(
      [&] {
        for (int32_t s : streams) {
          if (c.stream(s).status == 0) return false;
        }
        return true;
      },
      5s));
  ASSERT_TRUE(testing::WaitForLiveStreams(*stub_, 3));
  const uint64_t id = Publish("news", "before shutdown");
  const std::string frame = absl::StrCat("id: ", id, "\n");
  ASSERT_TRUE(c.RunUntil(
      [&] {
        for (int32_t s : streams) {
          if (c.stream(s).body.find(frame) == std::string::npos) return false;
        }
        return true;
      },
      5s));
  server_->process().Signal(SIGTERM);
  ASSERT_TRUE(c.RunUntil(
      [&] {
        for (int32_t s : streams) {
          if (!c.stream(s).closed) return false;
        }
        return c.got_goaway();
      },
      10s))
      << "goaway " << c.got_goaway() << ", peer closed " << c.peer_closed();
  EXPECT_EQ(c.goaway_error(), uint32_t{NGHTTP2_NO_ERROR});
  for (int32_t s : streams) {
    EXPECT_EQ(c.stream(s).error_code, uint32_t{NGHTTP2_NO_ERROR}) << s;
    EXPECT_EQ(c.stream(s).status, 200) << s;
  }
  EXPECT_EQ(server_->process().Wait(10s), std::optional<int>(0));
}

TEST_F(H2Test, InboxApiAndErrorsOverH2AndHttp11OnTheSamePort) {
  Start();
  uint64_t id = 0;
  {
    pb::NotifyUserRequest request;
    request.set_user_id("alice");
    request.set_data("hello");
    pb::NotifyUserResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->NotifyUser(&context, request, &response).ok());
    id = response.notification().id();
  }
  H2Client c(ports_.http, ca_.ca_cert());
  ASSERT_TRUE(c.ok()) << c.error();
  int32_t counts = c.Get("/v1/inbox/counts?user=alice");
  int32_t list = c.Get("/v1/inbox?user=alice");
  int32_t missing = c.Get("/nope");
  int32_t wrong_method = c.Submit({{":method", "DELETE"},
                                   {":scheme", "https"},
                                   {":authority", "127.0.0.1"},
                                   {":path", "/healthz"}});
  auto all_closed = [&](std::vector<int32_t> ids) {
    return [&c, ids] {
      for (int32_t i : ids) {
        if (!c.stream(i).closed) return false;
      }
      return true;
    };
  };
  ASSERT_TRUE(
      c.RunUntil(all_closed({counts, list, missing, wrong_method}), 5s));
  EXPECT_EQ(c.stream(counts).status, 200);
  EXPECT_EQ(c.stream(counts).body, R"({"unread":1,"unseen":1})");
  EXPECT_THAT(c.stream(list).body, HasSubstr(absl::StrCat("\"id\":", id)));
  EXPECT_EQ(c.stream(missing).status, 404);
  EXPECT_EQ(c.stream(wrong_method).status, 405);
  EXPECT_EQ(c.stream(wrong_method).headers.at("allow"), "GET, HEAD, OPTIONS");

  // A POST with a body (the state change), and one over the route's limit.
  H2Headers post = {{":method", "POST"},
                    {":scheme", "https"},
                    {":authority", "127.0.0.1"},
                    {":path", "/v1/inbox/state?user=alice"},
                    {"content-type", "application/json"}};
  int32_t read =
      c.Submit(post, absl::StrCat(R"({"ids":[)", id, R"(],"read":true})"));
  int32_t huge = c.Submit(post, std::string(20000, ' '));
  ASSERT_TRUE(c.RunUntil(all_closed({read, huge}), 5s));
  EXPECT_EQ(c.stream(read).status, 200) << c.stream(read).body;
  EXPECT_EQ(c.stream(read).body, R"({"changed":1})");
  EXPECT_EQ(c.stream(huge).status, 413);

  // HTTP/1.1 on the same port (a client that offers no h2).
  edge::testing::SseClient h1(ca_.ca_cert());
  EXPECT_EQ(h1.Open(ports_.http, "/v1/stream?user=alice"), 200)
      << h1.tls_error();
}

TEST_F(H2Test, PushRoutesAndTheServiceWorkerOverH2) {
  Start();
  H2Client c(ports_.http, ca_.ca_cert());
  ASSERT_TRUE(c.ok()) << c.error();
  H2Headers post = {{":method", "POST"},
                    {":scheme", "https"},
                    {":authority", "127.0.0.1"},
                    {":path", "/v1/push/subscriptions?user=alice"},
                    {"content-type", "application/json"}};
  const std::string endpoint = "https://push.example.net/h2";
  // RFC 8291's user agent key and auth secret (Appendix A).
  int32_t subscribed = c.Submit(
      post, absl::StrCat(R"({"endpoint":")", endpoint,
                         R"(","keys":{"p256dh":"BCVxsr7N_eNgVRqvHtD0zTZsEc6-)"
                         R"(VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SR)"
                         R"(pkNtoIAiw4","auth":"BTBZMqHH6r4Tts7J_aSIgg"}})"));
  int32_t key = c.Get("/v1/push/key");
  int32_t worker = c.Get("/v1/sw.js");
  auto closed = [&c](std::vector<int32_t> ids) {
    return [&c, ids] {
      for (int32_t i : ids) {
        if (!c.stream(i).closed) return false;
      }
      return true;
    };
  };
  ASSERT_TRUE(c.RunUntil(closed({subscribed, key, worker}), 5s));
  EXPECT_EQ(c.stream(subscribed).status, 201) << c.stream(subscribed).body;
  EXPECT_THAT(c.stream(subscribed).body, HasSubstr("\"credential\":"));
  EXPECT_EQ(c.stream(key).status, 404);
  EXPECT_EQ(c.stream(key).body, R"({"error":"push not configured"})");
  EXPECT_EQ(c.stream(worker).status, 200);
  EXPECT_EQ(c.stream(worker).headers.at("service-worker-allowed"), "/");
  EXPECT_THAT(c.stream(worker).headers.at("content-type"),
              HasSubstr("text/javascript"));
  EXPECT_THAT(c.stream(worker).body, HasSubstr("notificationclick"));

  H2Headers remove = post;
  remove[0].second = "DELETE";
  int32_t removed =
      c.Submit(remove, absl::StrCat(R"({"endpoint":")", endpoint, R"("})"));
  ASSERT_TRUE(c.RunUntil(closed({removed}), 5s));
  int32_t again =
      c.Submit(remove, absl::StrCat(R"({"endpoint":")", endpoint, R"("})"));
  ASSERT_TRUE(c.RunUntil(closed({again}), 5s));
  EXPECT_EQ(c.stream(removed).status, 204);
  EXPECT_EQ(c.stream(removed).body, "");
  EXPECT_EQ(c.stream(again).status, 404);
}

// The binary's push flags: --push_allow_private admits a push service on
// loopback, --max_push_subscriptions bounds each user's.
TEST_F(H2Test, PushFlagsOfTheBinary) {
  Start({"--push_allow_private", "--max_push_subscriptions=1"});
  H2Client c(ports_.http, ca_.ca_cert());
  ASSERT_TRUE(c.ok()) << c.error();
  auto subscribe = [&c](const std::string& endpoint) {
    int32_t id = c.Submit(
        {{":method", "POST"},
         {":scheme", "https"},
         {":authority", "127.0.0.1"},
         {":path", "/v1/push/subscriptions?user=alice"},
         {"content-type", "application/json"}},
        absl::StrCat(R"({"endpoint":")", endpoint,
                     R"(","keys":{"p256dh":"BCVxsr7N_eNgVRqvHtD0zTZsEc6-)"
                     R"(VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SR)"
                     R"(pkNtoIAiw4","auth":"BTBZMqHH6r4Tts7J_aSIgg"}})"));
    EXPECT_TRUE(c.RunUntil([&c, id] { return c.stream(id).closed; }, 5s));
    return c.stream(id);
  };
  EXPECT_EQ(subscribe("https://127.0.0.1:4443/push/1").status, 201);
  auto second = subscribe("https://localhost:4443/push/2");
  EXPECT_EQ(second.status, 429);
  EXPECT_THAT(second.body, HasSubstr("at most 1 push subscriptions"));
}

TEST_F(H2Test, StreamsPastTheConnectionLimitAreRefused) {
  Start({"--h2_max_concurrent_streams=4"});
  H2Client c(ports_.http, ca_.ca_cert());
  ASSERT_TRUE(c.ok()) << c.error();
  // All six go out before the server's SETTINGS is read, so the client
  // does not hold any back: the server must refuse the two past its limit.
  std::vector<int32_t> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(c.Get(absl::StrCat("/v1/stream?user=l", i)));
  }
  ASSERT_TRUE(c.SendPending());
  ASSERT_TRUE(c.RunUntil(
      [&] {
        int answered = 0;
        for (int32_t id : ids)
          answered += c.stream(id).status || c.stream(id).closed;
        return answered == 6;
      },
      5s));
  int live = 0, refused = 0;
  for (int32_t id : ids) {
    if (c.stream(id).status == 200 && !c.stream(id).closed) ++live;
    if (c.stream(id).error_code == NGHTTP2_REFUSED_STREAM) ++refused;
  }
  EXPECT_EQ(live, 4);
  EXPECT_EQ(refused, 2);
  ExpectServing();
}

TEST_F(H2Test, StreamsPerUserCountHttp2Streams) {
  Start({"--max_streams_per_user=2"});
  H2Client c(ports_.http, ca_.ca_cert());
  ASSERT_TRUE(c.ok()) << c.error();
  int32_t a = c.Get("/v1/stream?user=bob");
  int32_t b = c.Get("/v1/stream?user=bob");
  ASSERT_TRUE(
      c.RunUntil([&] { return c.stream(a).status && c.stream(b).status; }, 5s));
  int32_t third = c.Get("/v1/stream?user=bob");
  ASSERT_TRUE(c.RunUntil([&] { return c.stream(third).closed; }, 5s));
  EXPECT_EQ(c.stream(third).status, 429);
  EXPECT_FALSE(c.stream(a).closed);
}

TEST_F(H2Test, OversizeHeadersAndInvalidPseudoHeadersEndOnlyTheirStream) {
  Start();
  H2Client c(ports_.http, ca_.ca_cert());
  ASSERT_TRUE(c.ok()) << c.error();
  int32_t big = c.Get("/healthz", {{"x-big", std::string(9000, 'a')}});
  int32_t bad_pseudo = c.Submit({{":method", "GET"},
                                 {":scheme", "https"},
                                 {":authority", "127.0.0.1"},
                                 {":path", "/healthz"},
                                 {":bogus", "1"}});
  int32_t no_path = c.Submit(
      {{":method", "GET"}, {":scheme", "https"}, {":authority", "127.0.0.1"}});
  // nghttp2's client lower-cases names, so the invalid name is a space.
  int32_t bad_name = c.Submit({{":method", "GET"},
                               {":scheme", "https"},
                               {":authority", "127.0.0.1"},
                               {":path", "/healthz"},
                               {"x bad", "1"}});
  int32_t connection = c.Submit({{":method", "GET"},
                                 {":scheme", "https"},
                                 {":authority", "127.0.0.1"},
                                 {":path", "/healthz"},
                                 {"connection", "keep-alive"}});
  ASSERT_TRUE(c.RunUntil(
      [&] {
        return c.stream(big).closed && c.stream(bad_pseudo).closed &&
               c.stream(no_path).closed && c.stream(bad_name).closed &&
               c.stream(connection).closed;
      },
      5s));
  EXPECT_EQ(c.stream(big).status, 431);
  EXPECT_EQ(c.stream(bad_pseudo).error_code, uint32_t{NGHTTP2_PROTOCOL_ERROR});
  EXPECT_EQ(c.stream(no_path).error_code, uint32_t{NGHTTP2_PROTOCOL_ERROR});
  EXPECT_EQ(c.stream(bad_name).error_code, uint32_t{NGHTTP2_PROTOCOL_ERROR});
  EXPECT_EQ(c.stream(connection).error_code, uint32_t{NGHTTP2_PROTOCOL_ERROR});
  EXPECT_FALSE(c.got_goaway());
  int32_t health = c.Get("/healthz");
  ASSERT_TRUE(c.RunUntil([&] { return c.stream(health).closed; }, 5s));
  EXPECT_EQ(c.stream(health).status, 200);
}

// One flood per case: the frames a client sends in a loop.
enum class Flood { kRapidReset, kSettings, kPing };

class H2FloodTest : public H2Test,
                    public ::testing::WithParamInterface<Flood> {};

TEST_P(H2FloodTest, FloodGetsGoawayAndTheServerKeepsServing) {
  Start({"--h2_max_control_frames_per_second=100"});
  H2Client c(ports_.http, ca_.ca_cert());
  ASSERT_TRUE(c.ok()) << c.error();
  for (int i = 0; i < 1000 && !c.peer_closed(); ++i) {
    switch (GetParam()) {
      case Flood::kRapidReset: {
        int32_t id = c.Get("/v1/inbox/counts?user=x");
        c.SendPending();  // the HEADERS go out before their RST_STREAM
        nghttp2_submit_rst_stream(c.session(), NGHTTP2_FLAG_NONE, id,
                                  NGHTTP2_CANCEL);
        break;
      }
      case Flood::kSettings:
        nghttp2_submit_settings(c.session(), NGHTTP2_FLAG_NONE, nullptr, 0);
        break;
      case Flood::kPing:
        nghttp2_submit_ping(c.session(), NGHTTP2_FLAG_NONE, nullptr);
        break;
    }
    if (i % 50 == 0) c.RunUntil([] { return false; }, 1ms);
  }
  ASSERT_TRUE(c.RunUntil([&] { return c.peer_closed(); }, 10s));
  EXPECT_TRUE(c.got_goaway());
  EXPECT_EQ(c.goaway_error(), uint32_t{NGHTTP2_ENHANCE_YOUR_CALM});
  ExpectServing();
  edge::testing::HttpResponse metrics =
      edge::testing::HttpGet(static_cast<uint16_t>(ports_.admin), "/metrics");
  EXPECT_THAT(metrics.body,
              HasSubstr("notifyd_limit_rejections_total{limit=\"h2_control_"
                        "frames\"} 1"));
}

INSTANTIATE_TEST_SUITE_P(Floods, H2FloodTest,
                         ::testing::Values(Flood::kRapidReset, Flood::kSettings,
                                           Flood::kPing));

}  // namespace
}  // namespace notifyd
