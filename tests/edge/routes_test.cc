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
  EXPECT_EQ(FindRoute("/v1/client.js", EdgeRole::kPublic)->id,
            RouteId::kWebFile);
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
  EXPECT_FALSE(FindRoute("/v1/client.js", EdgeRole::kAdmin).has_value());
}

TEST(RoutesTest, PushRoutesAreForBrowsersOnly) {
  std::optional<Route> subscriptions =
      FindRoute("/v1/push/subscriptions", EdgeRole::kPublic);
  ASSERT_TRUE(subscriptions.has_value());
  EXPECT_EQ(subscriptions->id, RouteId::kPushSubscriptions);
  EXPECT_EQ(AllowedMethods(*subscriptions), "POST, DELETE, OPTIONS");
  EXPECT_EQ(subscriptions->max_body_bytes, kMaxPushBodyBytes);
  EXPECT_TRUE(IsJsonRoute(RouteId::kPushSubscriptions));
  EXPECT_EQ(FindRoute("/v1/push/key", EdgeRole::kPublic)->id,
            RouteId::kPushKey);
  EXPECT_EQ(AllowedMethods(*FindRoute("/v1/push/key", EdgeRole::kPublic)),
            "GET, OPTIONS");
  EXPECT_EQ(FindRoute("/v1/sw.js", EdgeRole::kPublic)->id, RouteId::kWebFile);
  EXPECT_FALSE(FindRoute("/v1/push/subscriptions", EdgeRole::kAdmin));
  EXPECT_FALSE(FindRoute("/v1/push/key", EdgeRole::kAdmin));
  EXPECT_FALSE(FindRoute("/v1/sw.js", EdgeRole::kAdmin));
}

TEST(RoutesTest, OnlyStreamsAndTheJsonRoutesRefuseHead) {
  EXPECT_FALSE(FindRoute("/v1/stream", EdgeRole::kPublic)->Allows(kHead));
  EXPECT_FALSE(FindRoute("/v1/inbox", EdgeRole::kPublic)->Allows(kHead));
  EXPECT_TRUE(FindRoute("/healthz", EdgeRole::kPublic)->Allows(kHead));
  EXPECT_TRUE(FindRoute("/", EdgeRole::kPublic)->Allows(kHead));
}

TEST(RoutesTest, TheInboxIsOnThePublicListenerOnly) {
  EXPECT_EQ(FindRoute("/v1/inbox", EdgeRole::kPublic)->id, RouteId::kInboxList);
  EXPECT_EQ(FindRoute("/v1/inbox/counts", EdgeRole::kPublic)->id,
            RouteId::kInboxCounts);
  EXPECT_EQ(FindRoute("/v1/inbox/state", EdgeRole::kPublic)->id,
            RouteId::kInboxState);
  EXPECT_FALSE(FindRoute("/v1/inbox", EdgeRole::kAdmin).has_value());
  EXPECT_FALSE(FindRoute("/v1/inbox/state", EdgeRole::kAdmin).has_value());
  EXPECT_TRUE(IsInboxRoute(RouteId::kInboxState));
  EXPECT_FALSE(IsInboxRoute(RouteId::kStream));
}

TEST(RoutesTest, OnlyTheStateChangeTakesPostAndABody) {
  std::optional<Route> state = FindRoute("/v1/inbox/state", EdgeRole::kPublic);
  EXPECT_TRUE(state->Allows(kPost));
  EXPECT_FALSE(state->Allows(kGet));
  EXPECT_EQ(state->max_body_bytes, kMaxInboxStateBodyBytes);
  EXPECT_EQ(AllowedMethods(*state), "POST, OPTIONS");
  EXPECT_EQ(state->cors_headers, "Authorization, Content-Type");
  std::optional<Route> list = FindRoute("/v1/inbox", EdgeRole::kPublic);
  EXPECT_EQ(AllowedMethods(*list), "GET, OPTIONS");
  EXPECT_EQ(list->cors_headers, "Authorization");
  EXPECT_EQ(list->max_body_bytes, 0u);
  for (const Route& r : kRoutes) {
    EXPECT_EQ(r.max_body_bytes > 0, r.Allows(kPost)) << r.path;
  }
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
  EXPECT_EQ(PathLabel("/v1/inbox"), "/v1/inbox");
  EXPECT_EQ(PathLabel("/v1/inbox/counts"), "/v1/inbox/counts");
  EXPECT_EQ(PathLabel("/v1/inbox/state"), "/v1/inbox/state");
  EXPECT_EQ(PathLabel("/v1/inbox/other"), "other");
  EXPECT_EQ(PathLabel("/"), "/");
  EXPECT_EQ(PathLabel("/inbox.js"), "other");
  EXPECT_EQ(PathLabel("/random/scan/1234"), "other");
  // A pattern's label is the pattern, whatever the recipient.
  EXPECT_EQ(PathLabel("/v1/notify/alice"), "/v1/notify/{user_id}");
  EXPECT_EQ(PathLabel("/v1/publish/news/eu"), "/v1/publish/{channel}");
  EXPECT_EQ(PathLabel("/v1/notify"), "other");
}

TEST(RoutesTest, PublishingIsOnTheAdminListenerOnlyAndTakesAPayload) {
  std::optional<Route> notify = FindRoute("/v1/notify/alice", EdgeRole::kAdmin);
  ASSERT_TRUE(notify.has_value());
  EXPECT_EQ(notify->id, RouteId::kNotifyUser);
  EXPECT_EQ(FindRoute("/v1/publish/news/eu", EdgeRole::kAdmin)->id,
            RouteId::kPublish);
  // The prefix itself matches: the empty recipient is the publisher's to
  // refuse (400), not a 404.
  EXPECT_EQ(FindRoute("/v1/notify/", EdgeRole::kAdmin)->id,
            RouteId::kNotifyUser);
  EXPECT_FALSE(FindRoute("/v1/notify", EdgeRole::kAdmin).has_value());
  EXPECT_FALSE(FindRoute("/v1/notify/alice", EdgeRole::kPublic).has_value());
  EXPECT_FALSE(FindRoute("/v1/publish/x", EdgeRole::kPublic).has_value());
  EXPECT_EQ(AllowedMethods(*notify), "POST, OPTIONS");
  EXPECT_TRUE(IsJsonRoute(RouteId::kPublish));
  EXPECT_TRUE(IsPublishRoute(RouteId::kNotifyUser));
  EXPECT_FALSE(IsInboxRoute(RouteId::kPublish));
  EXPECT_EQ(BodyLimit(*notify, 1234), 1234u);
  EXPECT_EQ(BodyLimit(*FindRoute("/v1/inbox/state", EdgeRole::kPublic), 1234),
            kMaxInboxStateBodyBytes);
}

}  // namespace
}  // namespace notifyd::edge
