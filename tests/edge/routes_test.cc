// The route table: which paths each listener serves, what a CORS preflight
// allows on each, and the fixed set of path labels the request metric may
// carry.
#include "edge/routes.h"

#include <optional>

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

TEST(RoutesTest, PreflightsAllowWhatTheRouteServes) {
  std::optional<Route> stream = FindRoute("/v1/stream", EdgeRole::kPublic);
  EXPECT_EQ(AllowedMethods(*stream), "GET, OPTIONS");
  EXPECT_EQ(stream->cors_headers,
            "Authorization, Last-Event-ID, Cache-Control");
  std::optional<Route> health = FindRoute("/healthz", EdgeRole::kAdmin);
  EXPECT_EQ(AllowedMethods(*health), "GET, HEAD, OPTIONS");
  EXPECT_TRUE(health->cors_headers.empty());
  EXPECT_EQ(AllowedMethods(*FindRoute("/", EdgeRole::kPublic)),
            "GET, HEAD, OPTIONS");
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
