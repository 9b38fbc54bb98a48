// A flood of one log line is cut to a few per interval, and the next line
// that passes reports how many were dropped.
#include "common/log_limiter.h"

#include "gtest/gtest.h"

namespace notifyd {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

TEST(LogLimiterTest, PassesABurstPerIntervalThenCountsTheRest) {
  LogLimiter limiter(3, absl::Seconds(1));
  uint64_t dropped = 99;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(limiter.Allow(&dropped, kStart + absl::Milliseconds(i)));
    EXPECT_EQ(dropped, 0u);
  }
  for (int i = 0; i < 500; ++i) {
    EXPECT_FALSE(limiter.Allow(&dropped, kStart + absl::Milliseconds(10)));
  }

  ASSERT_TRUE(limiter.Allow(&dropped, kStart + absl::Seconds(1)));
  EXPECT_EQ(dropped, 500u);
  ASSERT_TRUE(limiter.Allow(&dropped, kStart + absl::Seconds(1)));
  EXPECT_EQ(dropped, 0u);
}

TEST(LogLimiterTest, TheNoteSaysHowManyWereDropped) {
  EXPECT_EQ(LogLimiter::DroppedNote(0), "");
  EXPECT_EQ(LogLimiter::DroppedNote(7), " (7 similar lines dropped)");
}

TEST(LogLimiterTest, AQuietLogIsNeverLimited) {
  LogLimiter limiter(1, absl::Seconds(1));
  uint64_t dropped = 0;
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(limiter.Allow(&dropped, kStart + absl::Seconds(i)));
    EXPECT_EQ(dropped, 0u);
  }
}

}  // namespace
}  // namespace notifyd
