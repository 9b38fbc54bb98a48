// The HTTP/2 limits without a socket: the control-frame budget's window,
// the options' bounds, and the SETTINGS a fresh server session sends.
#include "edge/h2_limits.h"

#include <nghttp2/nghttp2.h>

#include <chrono>
#include <cstring>
#include <string>

#include "edge/edge_options.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd::edge {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

TEST(ControlFrameBudgetTest, ExceededPastTheLimitWithinOneSecond) {
  ControlFrameBudget budget(3);
  auto t = std::chrono::steady_clock::time_point() + std::chrono::hours(1);
  EXPECT_FALSE(budget.Exceeded(t));
  EXPECT_FALSE(budget.Exceeded(t + milliseconds(100)));
  EXPECT_FALSE(budget.Exceeded(t + milliseconds(200)));
  EXPECT_TRUE(budget.Exceeded(t + milliseconds(300)));
}

TEST(ControlFrameBudgetTest, ANewWindowStartsAfterASecond) {
  ControlFrameBudget budget(2);
  auto t = std::chrono::steady_clock::time_point() + std::chrono::hours(1);
  EXPECT_FALSE(budget.Exceeded(t));
  EXPECT_FALSE(budget.Exceeded(t + milliseconds(10)));
  EXPECT_FALSE(budget.Exceeded(t + milliseconds(1000)));
  EXPECT_FALSE(budget.Exceeded(t + milliseconds(1500)));
  EXPECT_TRUE(budget.Exceeded(t + milliseconds(1600)));
}

TEST(H2OptionsTest, BoundsAreChecked) {
  EdgeOptions o;
  EXPECT_TRUE(o.Validate().ok());
  o.h2_max_concurrent_streams = 0;
  EXPECT_THAT(o.Validate().message(), HasSubstr("--h2_max_concurrent_streams"));
  o.h2_max_concurrent_streams = 10001;
  EXPECT_THAT(o.Validate().message(), HasSubstr("--h2_max_concurrent_streams"));
  o.h2_max_concurrent_streams = 10000;
  EXPECT_TRUE(o.Validate().ok());
  o.h2_max_control_frames_per_second = 9;
  EXPECT_THAT(o.Validate().message(),
              HasSubstr("--h2_max_control_frames_per_second"));
  o.h2_max_control_frames_per_second = kH2MaxControlFramesPerSecond + 1;
  EXPECT_THAT(o.Validate().message(),
              HasSubstr("--h2_max_control_frames_per_second"));
  // The budget must speak (GOAWAY) before nghttp2's ack cap closes
  // silently.
  EXPECT_LT(kH2MaxControlFramesPerSecond, kH2MaxOutboundAcks);
}

TEST(NewH2ServerSessionTest, SendsTheLimitsAsSettings) {
  nghttp2_session_callbacks* cb;
  ASSERT_EQ(nghttp2_session_callbacks_new(&cb), 0);
  std::string out;
  nghttp2_session_callbacks_set_send_callback(
      cb,
      [](nghttp2_session*, const uint8_t* data, size_t len, int,
         void* user) -> ssize_t {
        static_cast<std::string*>(user)->append(
            reinterpret_cast<const char*>(data), len);
        return static_cast<ssize_t>(len);
      });
  nghttp2_session* s = NewH2ServerSession(
      cb, &out, {.max_concurrent_streams = 7, .max_header_list_bytes = 4000});
  nghttp2_session_callbacks_del(cb);
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(nghttp2_session_send(s), 0);
  // One SETTINGS frame: 9 bytes of header, 6 per setting.
  ASSERT_EQ(out.size(), 9u + 4 * 6);
  EXPECT_EQ(out[3], NGHTTP2_SETTINGS);
  auto setting = [&out](int id) -> int64_t {
    for (size_t at = 9; at + 6 <= out.size(); at += 6) {
      auto byte = [&](size_t i) { return static_cast<uint8_t>(out[at + i]); };
      if ((byte(0) << 8 | byte(1)) == id) {
        return int64_t{byte(2)} << 24 | byte(3) << 16 | byte(4) << 8 | byte(5);
      }
    }
    return -1;
  };
  EXPECT_EQ(setting(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 7);
  EXPECT_EQ(setting(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE), 4000);
  EXPECT_EQ(setting(NGHTTP2_SETTINGS_HEADER_TABLE_SIZE), kH2HeaderTableBytes);
  nghttp2_session_del(s);
}

}  // namespace
}  // namespace notifyd::edge
