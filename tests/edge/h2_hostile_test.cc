// HTTP/2 on the TLS edge, black-box (h2_test.h), hostile or past a limit:
//
//   limits          streams per connection, streams per user, header list
//                   size, invalid pseudo-headers: each the right HTTP/2 or
//                   HTTP error, and the server keeps serving
//   floods          rapid reset, SETTINGS and PING floods: GOAWAY
//                   ENHANCE_YOUR_CALM and closed; the server keeps serving
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/edge/h2_client.h"
#include "tests/edge/h2_test.h"
#include "tests/edge/sse_client.h"

namespace notifyd {
namespace {

using ::notifyd::edge::testing::H2Client;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

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
