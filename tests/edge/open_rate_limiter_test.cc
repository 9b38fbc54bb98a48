// OpenRateLimiter: the per-user rate of stream opens, on a test clock.
#include "edge/open_rate_limiter.h"

#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace notifyd::edge {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

TEST(OpenRateLimiterTest, AllowsABurstThenSaysHowLongToWait) {
  OpenRateLimiter limiter(/*rate_per_second=*/2, /*burst=*/3);

  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(limiter.TryAcquire("alice", kStart), absl::ZeroDuration()) << i;
  }
  // Empty: one token comes back every half second.
  EXPECT_NEAR(Ms(limiter.TryAcquire("alice", kStart)), 500, 0.001);
  EXPECT_NEAR(Ms(limiter.TryAcquire("alice", kStart + absl::Milliseconds(200))),
              300, 0.001);
}

TEST(OpenRateLimiterTest, RefusedOpensTakeNoToken) {
  OpenRateLimiter limiter(2, 1);
  EXPECT_EQ(limiter.TryAcquire("alice", kStart), absl::ZeroDuration());
  for (int i = 0; i < 10; ++i) {
    EXPECT_GT(limiter.TryAcquire("alice", kStart), absl::ZeroDuration());
  }
  // A client that hammered the limit still gets its token on time.
  EXPECT_EQ(limiter.TryAcquire("alice", kStart + absl::Milliseconds(500)),
            absl::ZeroDuration());
}

TEST(OpenRateLimiterTest, RefillsAtTheRateUpToTheBurst) {
  OpenRateLimiter limiter(2, 3);
  for (int i = 0; i < 3; ++i) limiter.TryAcquire("alice", kStart);

  // An hour later the bucket holds the burst, not 7200 tokens.
  const absl::Time later = kStart + absl::Hours(1);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(limiter.TryAcquire("alice", later), absl::ZeroDuration()) << i;
  }
  EXPECT_GT(limiter.TryAcquire("alice", later), absl::ZeroDuration());
}

TEST(OpenRateLimiterTest, UsersHaveTheirOwnBuckets) {
  OpenRateLimiter limiter(1, 1);
  EXPECT_EQ(limiter.TryAcquire("alice", kStart), absl::ZeroDuration());
  EXPECT_GT(limiter.TryAcquire("alice", kStart), absl::ZeroDuration());

  EXPECT_EQ(limiter.TryAcquire("bob", kStart), absl::ZeroDuration());
}

TEST(OpenRateLimiterTest, ZeroRateIsUnlimited) {
  OpenRateLimiter limiter(0, 20);
  EXPECT_TRUE(limiter.unlimited());
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(limiter.TryAcquire("alice", kStart), absl::ZeroDuration());
  }
  EXPECT_EQ(limiter.tracked_keys(), 0u);
}

TEST(OpenRateLimiterTest, BurstBelowOneStillAllowsOneOpen) {
  OpenRateLimiter limiter(1, 0);
  EXPECT_EQ(limiter.TryAcquire("alice", kStart), absl::ZeroDuration());
  EXPECT_NEAR(Ms(limiter.TryAcquire("alice", kStart)), 1000, 0.001);
}

TEST(OpenRateLimiterTest, ClockGoingBackwardsAddsNoTokens) {
  OpenRateLimiter limiter(1, 1);
  EXPECT_EQ(limiter.TryAcquire("alice", kStart), absl::ZeroDuration());
  EXPECT_GT(limiter.TryAcquire("alice", kStart - absl::Hours(1)),
            absl::ZeroDuration());
}

// A bucket that refilled is the same as none: buckets of users who came
// once are dropped, so memory follows recent users, not all users ever.
TEST(OpenRateLimiterTest, BucketsOfIdleUsersAreEvicted) {
  OpenRateLimiter limiter(/*rate_per_second=*/2, /*burst=*/4);  // refill: 2s
  for (int i = 0; i < 1000; ++i) {
    limiter.TryAcquire("user" + std::to_string(i), kStart);
  }
  EXPECT_EQ(limiter.tracked_keys(), 1000u);

  // Still limited a moment later: nothing may be forgotten yet.
  for (int i = 0; i < 3; ++i) limiter.TryAcquire("user7", kStart);
  EXPECT_GT(limiter.TryAcquire("user7", kStart + absl::Milliseconds(100)),
            absl::ZeroDuration());

  // Once every bucket has refilled, the next call sweeps them.
  limiter.TryAcquire("newcomer", kStart + absl::Seconds(3));
  EXPECT_EQ(limiter.tracked_keys(), 1u);
}

TEST(OpenRateLimiterTest, ABucketStillRefillingIsKeptBySweeps) {
  OpenRateLimiter limiter(/*rate_per_second=*/1, /*burst=*/2);  // refill: 2s
  limiter.TryAcquire("alice", kStart);
  limiter.TryAcquire("alice", kStart);  // empty
  limiter.TryAcquire("bob", kStart);    // one token left
  // 1.5 tokens refilled, one spent: 0.5 left.
  EXPECT_EQ(limiter.TryAcquire("alice", kStart + absl::Milliseconds(1500)),
            absl::ZeroDuration());

  // The sweep at +2s drops bob's bucket (full again) and keeps alice's.
  limiter.TryAcquire("carol", kStart + absl::Seconds(2));
  EXPECT_EQ(limiter.tracked_keys(), 2u);  // alice, carol
  // Alice's bucket kept its state: one token now, not a fresh burst of two.
  EXPECT_EQ(limiter.TryAcquire("alice", kStart + absl::Seconds(2)),
            absl::ZeroDuration());
  EXPECT_GT(limiter.TryAcquire("alice", kStart + absl::Seconds(2)),
            absl::ZeroDuration());
}

TEST(OpenRateLimiterTest, AtMostMaxKeysBucketsAndNewKeysPassUntracked) {
  OpenRateLimiter limiter(1, 1, /*max_keys=*/2);
  EXPECT_EQ(limiter.TryAcquire("alice", kStart), absl::ZeroDuration());
  EXPECT_EQ(limiter.TryAcquire("bob", kStart), absl::ZeroDuration());

  // Full of buckets still refilling: carol passes, without a bucket.
  EXPECT_EQ(limiter.TryAcquire("carol", kStart), absl::ZeroDuration());
  EXPECT_EQ(limiter.TryAcquire("carol", kStart), absl::ZeroDuration());
  EXPECT_EQ(limiter.tracked_keys(), 2u);
  // Those tracked are still limited.
  EXPECT_GT(limiter.TryAcquire("alice", kStart), absl::ZeroDuration());
}

}  // namespace
}  // namespace notifyd::edge
