// EdgeServer end to end, routes: the public and admin endpoints, HTTP
// publishing, readiness, CORS preflights and keep-alive (edge_server_test.h).
#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "edge/routes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/edge/edge_server_test.h"
#include "tests/edge/sse_client.h"

namespace notifyd::edge {
namespace {

using ::notifyd::edge::testing::EdgeServerTest;
using ::notifyd::edge::testing::HttpGet;
using ::notifyd::edge::testing::HttpResponse;
using ::notifyd::edge::testing::HttpWithBody;
using ::notifyd::edge::testing::RawExchange;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST_F(EdgeServerTest, PublicEndpoints) {
  Start();
  HttpResponse health = HttpGet(port_, "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");

  HttpResponse page = HttpGet(port_, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_THAT(page.headers["content-type"], StartsWith("text/html"));
  EXPECT_THAT(page.body, HasSubstr("id=\"list\""));
  EXPECT_EQ(HttpGet(port_, "/inbox.js").status, 200);
  EXPECT_EQ(HttpGet(port_, "/../etc/passwd").status, 404);
  EXPECT_EQ(HttpGet(port_, "/nope").status, 404);
  EXPECT_EQ(HttpGet(port_, "/healthz", {}, "DELETE").status, 405);
  EXPECT_EQ(HttpGet(port_, "/v1/stream?user=a", {}, "POST").status, 405);

  HttpResponse head = HttpGet(port_, "/healthz", {}, "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");

  // What names callers and internals is on the admin listener only.
  EXPECT_EQ(HttpGet(port_, "/metrics").status, 404);
  EXPECT_EQ(HttpGet(port_, "/readyz").status, 404);
}

TEST_F(EdgeServerTest, AdminEndpoints) {
  options_.role = EdgeRole::kAdmin;
  Start();
  EXPECT_EQ(HttpGet(port_, "/healthz").status, 200);
  EXPECT_EQ(HttpGet(port_, "/readyz").status, 503);
  server_->SetReady(true);
  EXPECT_EQ(HttpGet(port_, "/readyz").status, 200);
  store_.set_ping_ok(false);
  HttpResponse store_down = HttpGet(port_, "/readyz");
  EXPECT_EQ(store_down.status, 503);
  EXPECT_EQ(store_down.body, "store unavailable\n");

  HttpResponse metrics = HttpGet(port_, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.headers["content-type"], "text/plain; version=0.0.4");
  EXPECT_THAT(metrics.body, HasSubstr("notifyd_http_connections"));
  EXPECT_THAT(metrics.body,
              HasSubstr("notifyd_http_requests_total{path=\"/healthz\","
                        "code=\"200\"} 1"));
  EXPECT_THAT(metrics.body, HasSubstr("notifyd_streams{state=\"live\"} 0"));

  // Browsers' paths are not served here.
  EXPECT_EQ(HttpGet(port_, "/").status, 404);
  EXPECT_EQ(HttpGet(port_, "/v1/stream?user=a").status, 404);
}

// HTTP publishing as the edge serves it (edge/publish_api.h), with a
// PublishFunction that answers what the test says; the real publisher is
// tests/server/http_publish_test.cc's.
TEST_F(EdgeServerTest, PublishingHandsTheRequestOverAndAnswersItsOutcome) {
  options_.role = EdgeRole::kAdmin;
  std::optional<PublishCall> seen;
  std::string seen_data, seen_authorization;
  absl::Status answer = absl::OkStatus();
  options_.publish = [&](const PublishCall& call,
                         std::function<void(PublishOutcome)> done) {
    seen = call;
    seen_data = std::string(call.data);
    seen_authorization = std::string(call.authorization.value_or("<none>"));
    PublishOutcome outcome;
    outcome.status = answer;
    if (answer.ok()) {
      outcome.notification = store_.Add("news/eu", call.event, seen_data);
    }
    if (absl::IsResourceExhausted(answer)) {
      outcome.retry_after = absl::Milliseconds(1500);
    }
    done(std::move(outcome));
  };
  Start();
  server_->SetReady(true);
  HttpResponse ok =
      HttpWithBody(port_, "POST", "/v1/publish/news/eu?event=headline",
                   {"Authorization: Bearer k"}, "body");
  ASSERT_EQ(ok.status, 200) << ok.body;
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->target, PublishTarget::kChannel);
  EXPECT_EQ(seen->name, "news/eu");
  EXPECT_EQ(seen->event, "headline");
  EXPECT_EQ(seen_data, "body");
  EXPECT_EQ(seen_authorization, "Bearer k");
  EXPECT_TRUE(absl::StartsWith(seen->peer, "127.0.0.1:")) << seen->peer;
  EXPECT_THAT(ok.body, HasSubstr("\"data\":\"body\""));

  answer = absl::ResourceExhaustedError("publish rate for k exceeded");
  HttpResponse limited = HttpWithBody(port_, "POST", "/v1/notify/a", {}, "x");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.headers["retry-after"], "2");  // rounded up
  EXPECT_EQ(limited.body, "{\"error\":\"publish rate for k exceeded\"}");
  EXPECT_EQ(seen_authorization, "<none>");

  answer = absl::UnavailableError("store is closed");
  EXPECT_EQ(HttpWithBody(port_, "POST", "/v1/notify/a", {}, "x").status, 503);
  answer = absl::InternalError("database is locked");
  HttpResponse broken = HttpWithBody(port_, "POST", "/v1/notify/a", {}, "x");
  EXPECT_EQ(broken.status, 500);
  EXPECT_EQ(broken.body, "{\"error\":\"store error\"}");
}

TEST_F(EdgeServerTest, PublishingWaitsForReadinessAndNeedsAPublisher) {
  options_.role = EdgeRole::kAdmin;
  int calls = 0;
  options_.publish = [&calls](const PublishCall&,
                              std::function<void(PublishOutcome)> done) {
    ++calls;
    PublishOutcome outcome;
    outcome.status = absl::UnavailableError("x");
    done(std::move(outcome));
  };
  Start();
  // Starting (and, after SetReady(false), shutting down): 503, unasked.
  HttpResponse starting = HttpWithBody(port_, "POST", "/v1/notify/a", {}, "x");
  EXPECT_EQ(starting.status, 503);
  EXPECT_THAT(starting.body, HasSubstr("starting or shutting down"));
  EXPECT_EQ(calls, 0);
  server_->Shutdown();
  options_.publish = nullptr;
  Start();
  server_->SetReady(true);
  EXPECT_EQ(HttpWithBody(port_, "POST", "/v1/notify/a", {}, "x").status, 404);
}

TEST_F(EdgeServerTest, ReadyNamesTheFirstCheckThatFails) {
  std::atomic<bool> bus_up{false};
  std::atomic<bool> grpc_up{true};
  options_.role = EdgeRole::kAdmin;
  options_.ready_checks = {
      {"bus", [&bus_up] { return bus_up.load(); }},
      {"gRPC listener", [&grpc_up] { return grpc_up.load(); }}};
  Start();
  server_->SetReady(true);

  HttpResponse down = HttpGet(port_, "/readyz");
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(down.body, "bus unavailable\n");
  bus_up = true;
  EXPECT_EQ(HttpGet(port_, "/readyz").status, 200);
  grpc_up = false;
  EXPECT_EQ(HttpGet(port_, "/readyz").body, "gRPC listener unavailable\n");
}

TEST_F(EdgeServerTest, CorsPreflight) {
  Start();
  HttpResponse r = HttpGet(
      port_, "/v1/stream",
      {"Origin: https://app.example", "Access-Control-Request-Method: GET",
       "Access-Control-Request-Headers: last-event-id"},
      "OPTIONS");
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.headers["access-control-allow-origin"], "https://app.example");
  EXPECT_THAT(r.headers["access-control-allow-headers"],
              HasSubstr("Last-Event-ID"));
  HttpResponse other = HttpGet(port_, "/healthz", {"Origin: https://evil"});
  EXPECT_EQ(other.headers.count("access-control-allow-origin"), 0u);
}

// A preflight says what the route table says of its path on this listener,
// and a path the listener does not serve is not found.
TEST_F(EdgeServerTest, CorsPreflightReadsTheRouteTable) {
  Start();
  const std::vector<std::string> preflight = {
      "Origin: https://app.example", "Access-Control-Request-Method: GET"};
  HttpResponse stream = HttpGet(port_, "/v1/stream", preflight, "OPTIONS");
  EXPECT_EQ(stream.status, 204);
  std::optional<Route> route = FindRoute("/v1/stream", EdgeRole::kPublic);
  ASSERT_TRUE(route.has_value());
  EXPECT_EQ(stream.headers["access-control-allow-methods"],
            AllowedMethods(*route));
  EXPECT_EQ(stream.headers["access-control-allow-methods"], "GET, OPTIONS");
  EXPECT_EQ(stream.headers["access-control-allow-headers"],
            route->cors_headers);

  HttpResponse health = HttpGet(port_, "/healthz", preflight, "OPTIONS");
  EXPECT_EQ(health.status, 204);
  EXPECT_EQ(health.headers["access-control-allow-methods"],
            "GET, HEAD, OPTIONS");
  EXPECT_EQ(health.headers.count("access-control-allow-headers"), 0u);

  EXPECT_EQ(HttpGet(port_, "/nope", preflight, "OPTIONS").status, 404);
  // The admin listener's routes are not the public one's.
  EXPECT_EQ(HttpGet(port_, "/metrics", preflight, "OPTIONS").status, 404);
}

TEST_F(EdgeServerTest, KeepAliveServesSeveralRequests) {
  Start();
  std::string out = RawExchange(
      port_,
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  size_t first = out.find("HTTP/1.1 200");
  ASSERT_NE(first, std::string::npos);
  EXPECT_NE(out.find("HTTP/1.1 200", first + 1), std::string::npos);
}

}  // namespace
}  // namespace notifyd::edge
