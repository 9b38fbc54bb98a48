// HTTP/2 on the TLS edge, black-box: the real notifyd binary (TLS from a
// throwaway CA, every port 0; h2_test.h) against real HTTP/2 clients: curl
// --http2 and nghttp (Debian's nghttp2-client), and a libnghttp2 client
// (h2_client.h) for what they cannot do: a stream that is never read,
// floods, malformed requests. Notifications are published over gRPC (TLS,
// same CA). Streams here; the routes in h2_routes_test.cc, limits and
// floods in h2_hostile_test.cc.
//
//   many streams    20 SSE streams multiplexed on one curl connection, and
//                   nghttp's, all receive the notification
//   flow control    a stream whose window is exhausted is reset alone
//                   (CANCEL, the slow-consumer cut) while a stream beside
//                   it on the same connection receives everything
//   shutdown        SIGTERM ends every stream cleanly, with GOAWAY
#include "tests/edge/h2_test.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/edge/h2_client.h"

namespace notifyd {
namespace {

using ::notifyd::edge::testing::H2Client;
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

}  // namespace
}  // namespace notifyd
