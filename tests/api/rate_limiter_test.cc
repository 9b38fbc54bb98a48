// Publish rate per caller: the token bucket on a driven clock, then the
// service answering RESOURCE_EXHAUSTED past the burst and storing nothing.
#include "api/rate_limiter.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "notify/v1/notify.grpc.pb.h"
#include "tests/server/test_server.h"

namespace notifyd {
namespace {

namespace pb = ::notify::v1;
using api::RateLimiter;
using ::testing::HasSubstr;

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

TEST(RateLimiterTest, BurstIsTheRateThenOneTokenPerInterval) {
  RateLimiter limiter(4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(limiter.TryAcquire("a", kStart)) << i;
  }
  EXPECT_FALSE(limiter.TryAcquire("a", kStart));
  EXPECT_FALSE(limiter.TryAcquire("a", kStart + absl::Milliseconds(249)));
  EXPECT_TRUE(limiter.TryAcquire("a", kStart + absl::Milliseconds(250)));
  EXPECT_FALSE(limiter.TryAcquire("a", kStart + absl::Milliseconds(250)));
  // A long pause refills to the burst, not beyond.
  absl::Time later = kStart + absl::Hours(1);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(limiter.TryAcquire("a", later));
  EXPECT_FALSE(limiter.TryAcquire("a", later));
}

TEST(RateLimiterTest, CallersHaveSeparateBuckets) {
  RateLimiter limiter(1);
  EXPECT_TRUE(limiter.TryAcquire("a", kStart));
  EXPECT_FALSE(limiter.TryAcquire("a", kStart));
  EXPECT_TRUE(limiter.TryAcquire("b", kStart));
  EXPECT_FALSE(limiter.TryAcquire("b", kStart));
}

TEST(RateLimiterTest, FractionalRateAllowsOneAtATime) {
  RateLimiter limiter(0.5);  // one call every two seconds
  EXPECT_TRUE(limiter.TryAcquire("a", kStart));
  EXPECT_FALSE(limiter.TryAcquire("a", kStart + absl::Seconds(1)));
  EXPECT_TRUE(limiter.TryAcquire("a", kStart + absl::Seconds(2)));
}

TEST(RateLimiterTest, ClockGoingBackwardsAddsNothing) {
  RateLimiter limiter(1);
  EXPECT_TRUE(limiter.TryAcquire("a", kStart));
  EXPECT_FALSE(limiter.TryAcquire("a", kStart - absl::Hours(1)));
  EXPECT_FALSE(limiter.TryAcquire("a", kStart));
  EXPECT_TRUE(limiter.TryAcquire("a", kStart + absl::Seconds(1)));
}

TEST(RateLimiterTest, ZeroIsUnlimited) {
  RateLimiter limiter(0);
  EXPECT_TRUE(limiter.unlimited());
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(limiter.TryAcquire("a", kStart));
}

grpc::Status Notify(pb::Notifier::Stub& stub, const std::string& key = "") {
  return testing::NotifyUser(stub, "alice", "x", nullptr,
                             key.empty() ? "" : "Bearer " + key);
}

grpc::Status Publish(pb::Notifier::Stub& stub, const std::string& key = "") {
  pb::PublishRequest request;
  request.set_channel("news");
  request.set_data("x");
  pb::PublishResponse response;
  grpc::ClientContext context;
  if (!key.empty()) context.AddMetadata("authorization", "Bearer " + key);
  return stub.Publish(&context, request, &response);
}

uint64_t StoredCount(pb::Notifier::Stub& stub, const std::string& key = "") {
  pb::GetStatsResponse response;
  grpc::ClientContext context;
  if (!key.empty()) context.AddMetadata("authorization", "Bearer " + key);
  EXPECT_TRUE(stub.GetStats(&context, pb::GetStatsRequest(), &response).ok());
  return response.stored_notifications();
}

TEST(PublishRateTest, AnonymousCallersShareABucketPastWhichCallsAreRefused) {
  constexpr double kRate = 5;
  server::AppOptions options;
  options.synchronous_full = false;
  options.max_publish_rate = kRate;
  testing::TestServer server(options);
  auto started = std::chrono::steady_clock::now();
  // The bucket starts full: the burst always passes, whatever the timing.
  for (int i = 0; i < 5; ++i) {
    grpc::Status status =
        i % 2 ? Publish(server.stub()) : Notify(server.stub());
    ASSERT_TRUE(status.ok()) << i << ": " << status.error_message();
  }
  int ok = 5;
  grpc::Status refused;
  for (int i = 0; i < 1000 && refused.ok(); ++i) {
    grpc::Status status = Notify(server.stub());
    if (status.ok()) {
      ++ok;
    } else {
      refused = status;
    }
  }
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  ASSERT_FALSE(refused.ok()) << "1000 calls in " << elapsed << "s all passed";
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(refused.error_message(), "publish rate for anonymous exceeded");
  // No more passed than the burst plus what the elapsed time refilled.
  EXPECT_LE(ok, kRate + kRate * elapsed + 1);
  EXPECT_EQ(StoredCount(server.stub()), static_cast<uint64_t>(ok))
      << "the refused call stored something";
  // Reads are not rate limited.
  EXPECT_EQ(StoredCount(server.stub()), static_cast<uint64_t>(ok));
  EXPECT_THAT(server.app().metrics().RenderText(),
              HasSubstr("notifyd_publish_rate_limited_total{caller="
                        "\"anonymous\"} 1"));
}

TEST(PublishRateTest, EachApiKeyHasItsOwnBucket) {
  testing::TempDir dir;
  const std::string alpha = "alpha-key-0123456789";
  const std::string beta = "beta-key-0123456789";
  std::string keys = (dir.path() / "keys").string();
  std::ofstream(keys) << "alpha:" << alpha << "\nbeta:" << beta << "\n";
  server::AppOptions options;
  options.synchronous_full = false;
  options.api_keys_file = keys;
  // One call per 1000 s: the burst is one call, and no refill can happen
  // during the test.
  options.max_publish_rate = 0.001;
  testing::TestServer server(options);
  ASSERT_TRUE(Notify(server.stub(), alpha).ok());
  grpc::Status refused = Publish(server.stub(), alpha);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(refused.error_message(), "publish rate for alpha exceeded");
  EXPECT_TRUE(Publish(server.stub(), beta).ok());
  EXPECT_EQ(Notify(server.stub(), beta).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(StoredCount(server.stub(), alpha), 2u);
  std::string metrics = server.app().metrics().RenderText();
  EXPECT_THAT(metrics, HasSubstr("notifyd_publish_rate_limited_total{caller="
                                 "\"alpha\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("notifyd_grpc_calls_total{method=\"Publish\","
                                 "code=\"RESOURCE_EXHAUSTED\",caller="
                                 "\"alpha\"} 1"));
}

TEST(PublishRateTest, InvalidCallsDoNotSpendTokens) {
  server::AppOptions options;
  options.synchronous_full = false;
  options.max_publish_rate = 0.001;
  testing::TestServer server(options);
  pb::NotifyUserRequest request;  // no user_id: INVALID_ARGUMENT
  pb::NotifyUserResponse response;
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    EXPECT_EQ(
        server.stub().NotifyUser(&context, request, &response).error_code(),
        grpc::StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_TRUE(Notify(server.stub()).ok());
}

}  // namespace
}  // namespace notifyd
