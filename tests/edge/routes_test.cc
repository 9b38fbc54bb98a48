// The route table: which paths each listener serves, and the fixed set of
// path labels the request metric may carry.
#include "edge/routes.h"

#include "gtest/gtest.h"

namespace notifyd::edge {
namespace {

TEST(RoutesTest, BrowsersGetStreamsThePageAndLiveness) {
  EXPECT_EQ(FindRoute("/v1/stream", EdgeRole::kPublic)->id, RouteId::kStream);
  EXPECT_EQ(FindRoute("/healthz", EdgeRole::kPublic)->id, RouteId::kHealth);
  EXPECT_EQ(FindRoute("/", EdgeRole::kPublic)->id, RouteId::kWebFile);
  EXPECT_EQ(FindRoute("/inbox.js", EdgeRole::kPublic)->id, RouteId::kWebFile);
  EXPECT_FALSE(FindRoute("/metrics", EdgeRole::kPublic).has_value());
  EXPECT_FALSE(FindRoute("/readyz", EdgeRole::kPublic).has_value());
  EXPECT_FALSE(FindRoute("/nope", EdgeRole::kPublic).has_value());
}

TEST(RoutesTest, OperatorsGetMetricsReadinessAndLiveness) {
  EXPECT_EQ(FindRoute("/metrics", EdgeRole::kAdmin)->id, RouteId::kMetrics);
  EXPECT_EQ(FindRoute("/readyz", EdgeRole::kAdmin)->id, RouteId::kReady);
  EXPECT_EQ(FindRoute("/healthz", EdgeRole::kAdmin)->id, RouteId::kHealth);
  EXPECT_FALSE(FindRoute("/v1/stream", EdgeRole::kAdmin).has_value());
  EXPECT_FALSE(FindRoute("/", EdgeRole::kAdmin).has_value());
}

TEST(RoutesTest, OnlyStreamsRefuseHead) {
  EXPECT_FALSE(FindRoute("/v1/stream", EdgeRole::kPublic)->head_allowed);
  EXPECT_TRUE(FindRoute("/healthz", EdgeRole::kPublic)->head_allowed);
  EXPECT_TRUE(FindRoute("/", EdgeRole::kPublic)->head_allowed);
}

TEST(RoutesTest, PathLabelsAreAFixedSet) {
  EXPECT_EQ(PathLabel("/v1/stream"), "/v1/stream");
  EXPECT_EQ(PathLabel("/metrics"), "/metrics");
  EXPECT_EQ(PathLabel("/"), "/");
  EXPECT_EQ(PathLabel("/inbox.js"), "other");
  EXPECT_EQ(PathLabel("/random/scan/1234"), "other");
}

}  // namespace
}  // namespace notifyd::edge
