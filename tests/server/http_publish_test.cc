// HTTP publishing on the admin listener against a real server (the App on
// 127.0.0.1 port 0): POST /v1/notify/{user_id} and /v1/publish/{channel}
// with curl and a raw HTTP client, what a stream then receives, retries by
// idempotency key, and every refusal: the same validation as gRPC, the body
// limit, the path rules, API keys and the shared publish rate.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/json/parse.hpp"
#include "boost/json/value.hpp"
#include "tests/edge/sse_client.h"
#include "tests/server/notifyd_binary.h"
#include "tests/server/test_server.h"
#include "tests/support/process.h"

namespace notifyd {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
namespace pb = ::notify::v1;
using edge::testing::HttpResponse;
using edge::testing::HttpWithBody;
using edge::testing::RawExchange;
using edge::testing::SseClient;
using edge::testing::SseMessage;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kKey[] = "billing-key-0123456789";

server::AppOptions DevOptions() {
  server::AppOptions options;
  options.synchronous_full = false;
  options.edge.insecure_dev_identity = true;
  return options;
}

// The body of an answer as JSON (null when it does not parse).
json::value Json(const HttpResponse& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  return ec ? json::value() : v;
}

// The message of a JSON error answer.
std::string ErrorOf(const HttpResponse& r) {
  json::value v = Json(r);
  if (!v.is_object() || !v.as_object().contains("error")) return "<no error>";
  return std::string(v.at("error").as_string());
}

// Runs /usr/bin/curl with `args` (its output kept under `dir`); returns its
// exit code, with what it printed (the body, then the status code on a line
// of its own) in *out.
int Curl(const fs::path& dir, std::vector<std::string> args, std::string* out) {
  fs::path log = dir / "curl.out";
  fs::remove(log);
  std::vector<std::string> argv = {
      "/usr/bin/curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}"};
  argv.insert(argv.end(), args.begin(), args.end());
  testing::ChildProcess curl(argv, log.string());
  std::optional<int> status = curl.Wait(std::chrono::seconds(15));
  *out = curl.Log();
  return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

class HttpPublishTest : public ::testing::Test {
 protected:
  explicit HttpPublishTest(server::AppOptions options = DevOptions())
      : server_(std::move(options)) {}

  uint16_t admin_port() { return server_.app().admin_port(); }
  uint16_t http_port() { return server_.app().http_port(); }

  HttpResponse Post(const std::string& target, const std::string& body = "",
                    std::vector<std::string> headers = {}) {
    return HttpWithBody(admin_port(), "POST", target, headers, body);
  }

  std::string Url(const std::string& target) {
    return absl::StrCat("http://127.0.0.1:", admin_port(), target);
  }

  testing::TestServer server_;
};

TEST_F(HttpPublishTest, NotifyUserIsStoredAndStreamedToTheUser) {
  SseClient stream;
  ASSERT_EQ(stream.Open(http_port(), "/v1/stream?user=alice"), 200);
  ASSERT_TRUE(testing::WaitForLiveStreams(server_.stub(), 1));
  const std::string data = "{\"title\":\"Your order shipped\"}\nline two";
  HttpResponse r = Post("/v1/notify/alice?event=order", data);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "application/json");
  json::value answer = Json(r);
  const json::object& n = answer.at("notification").as_object();
  EXPECT_EQ(n.at("channel").as_string(), "user:alice");
  EXPECT_EQ(n.at("event").as_string(), "order");
  EXPECT_EQ(n.at("data").as_string(), data);
  EXPECT_FALSE(answer.at("duplicate").as_bool());
  EXPECT_EQ(answer.at("live_recipients").to_number<uint64_t>(), 1u);
  std::optional<SseMessage> got = stream.NextEvent();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, std::to_string(n.at("id").to_number<uint64_t>()));
  EXPECT_EQ(got->event, "order");
  EXPECT_EQ(got->data, data);
  EXPECT_EQ(testing::StoredCount(server_.stub()), 1u);
}

TEST_F(HttpPublishTest, CurlPublishesToAChannelItsSubscribersReceive) {
  SseClient subscribed, other;
  ASSERT_EQ(subscribed.Open(http_port(), "/v1/stream?user=a&channels=news/eu"),
            200);
  ASSERT_EQ(other.Open(http_port(), "/v1/stream?user=b"), 200);
  ASSERT_TRUE(testing::WaitForLiveStreams(server_.stub(), 2));
  std::string out;
  ASSERT_EQ(Curl(server_.dir(),
                 {"-H", "Content-Type: application/json", "--data-binary",
                  "{\"headline\":\"Rates cut\"}",
                  Url("/v1/publish/news/eu?event=headline")},
                 &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("\"channel\":\"news/eu\""));
  EXPECT_THAT(out, ::testing::EndsWith("\n200"));
  std::optional<SseMessage> got = subscribed.NextEvent();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->event, "headline");
  EXPECT_EQ(got->data, "{\"headline\":\"Rates cut\"}");
  EXPECT_FALSE(other.NextEvent(std::chrono::milliseconds(300)).has_value());
}

TEST_F(HttpPublishTest, ARetryWithTheSameKeyAnswersTheOriginal) {
  HttpResponse first = Post("/v1/notify/bob?idempotency_key=order-17", "one");
  ASSERT_EQ(first.status, 200) << first.body;
  HttpResponse retry = Post("/v1/notify/bob?idempotency_key=order-17", "two");
  ASSERT_EQ(retry.status, 200) << retry.body;
  EXPECT_EQ(Json(retry).at("notification").at("id"),
            Json(first).at("notification").at("id"));
  EXPECT_EQ(Json(retry).at("notification").at("data").as_string(), "one");
  EXPECT_FALSE(Json(first).at("duplicate").as_bool());
  EXPECT_TRUE(Json(retry).at("duplicate").as_bool());
  EXPECT_EQ(testing::StoredCount(server_.stub()), 1u);
  // The key is the one gRPC uses: a gRPC retry finds the same original.
  pb::NotifyUserResponse over_grpc;
  ASSERT_TRUE(testing::NotifyUser(server_.stub(), "bob", "three", &over_grpc,
                                  "", "order-17")
                  .ok());
  EXPECT_TRUE(over_grpc.duplicate());
  EXPECT_EQ(over_grpc.notification().id(),
            Json(first).at("notification").at("id").to_number<uint64_t>());
}

TEST_F(HttpPublishTest, LifecycleFieldsComeFromTheQuery) {
  HttpResponse r = Post(
      "/v1/notify/carol?collapse_key=build-7&expires_at=2100-01-01T00:00:00Z",
      "building");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r).at("notification").at("collapse_key").as_string(),
            "build-7");
  EXPECT_EQ(Json(r).at("notification").at("expires_at").as_string(),
            "2100-01-01T00:00:00.000Z");
  // Unix seconds work too, and a newer one with the key replaces the older.
  HttpResponse newer = Post(
      "/v1/notify/carol?collapse_key=build-7&expires_at=4102444800", "built");
  ASSERT_EQ(newer.status, 200) << newer.body;
  EXPECT_EQ(Json(newer).at("notification").at("expires_at").as_string(),
            "2100-01-01T00:00:00.000Z");
  pb::ListNotificationsRequest list;
  list.set_user_id("carol");
  pb::ListNotificationsResponse listed;
  grpc::ClientContext context;
  ASSERT_TRUE(server_.stub().ListNotifications(&context, list, &listed).ok());
  ASSERT_EQ(listed.notifications_size(), 1);
  EXPECT_EQ(listed.notifications(0).data(), "built");
}

TEST_F(HttpPublishTest, InvalidFieldsAreRefusedAsGrpcRefusesThem) {
  // The same message as gRPC's INVALID_ARGUMENT, as JSON with a 400.
  HttpResponse bad_user = Post("/v1/notify/al%20ice", "x");
  EXPECT_EQ(bad_user.status, 400);
  grpc::Status grpc_bad = testing::NotifyUser(server_.stub(), "al ice", "x");
  EXPECT_EQ(ErrorOf(bad_user), grpc_bad.error_message());
  EXPECT_EQ(bad_user.headers["content-type"], "application/json");
  struct Case {
    std::string target;
    std::string body;
    std::string starts;
  };
  for (const Case& c : std::vector<Case>{
           {"/v1/notify/", "x", "user_id is required"},
           {"/v1/publish/", "x", "channel is required"},
           {"/v1/publish/user:alice", "x", "channel "},
           {"/v1/publish/news%2Feu", "x", "channel: "},
           {"/v1/notify/a%2Fb", "x", "user_id: "},
           {"/v1/publish/news//eu", "x", "channel: "},
           {"/v1/notify/alice/more", "x", "user_id "},
           {"/v1/notify/alice?event=state", "x", "event "},
           {"/v1/notify/alice?event=a%20b", "x", "event "},
           {"/v1/notify/alice?expires_at=2000-01-01T00:00:00Z", "x",
            "expires_at "},
           {"/v1/notify/alice?expires_at=soon", "x", "expires_at "},
           {"/v1/notify/alice?idempotency_key=%FF", "x", "idempotency_key "},
           {"/v1/notify/alice?collapse_key=a%0Ab", "x", "collapse_key "},
           {"/v1/notify/alice?channel=x", "x", "unknown parameter: channel"},
           {"/v1/notify/alice?event=a&event=b", "x",
            "parameter given more than once: event"},
           {"/v1/notify/alice", "caf\xc3", "data is not valid UTF-8"},
       }) {
    HttpResponse r = Post(c.target, c.body);
    EXPECT_EQ(r.status, 400) << c.target << " " << r.body;
    EXPECT_THAT(ErrorOf(r), StartsWith(c.starts)) << c.target;
  }
  EXPECT_EQ(testing::StoredCount(server_.stub()), 0u);
}

TEST_F(HttpPublishTest, AnyContentTypeIsData) {
  HttpResponse r = Post("/v1/publish/logs", "<b>not HTML to us</b>",
                        {"Content-Type: text/html"});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r).at("notification").at("data").as_string(),
            "<b>not HTML to us</b>");
  // No body is an empty payload.
  HttpResponse empty = Post("/v1/publish/logs");
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_EQ(Json(empty).at("notification").at("data").as_string(), "");
}

TEST_F(HttpPublishTest, OtherMethodsAndTheBrowsersPortAreRefused) {
  HttpResponse get = edge::testing::HttpGet(admin_port(), "/v1/notify/alice");
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.headers["allow"], "POST, OPTIONS");
  EXPECT_EQ(ErrorOf(get), "method not allowed");
  // Publishers never reach the port the internet reaches (with a body, the
  // request is refused before routing: 413, no route takes it).
  HttpResponse on_public =
      HttpWithBody(http_port(), "POST", "/v1/notify/alice", {}, "");
  EXPECT_EQ(on_public.status, 404);
  EXPECT_EQ(Post("/v1/notify").status, 404);
  EXPECT_EQ(testing::StoredCount(server_.stub()), 0u);
}

TEST_F(HttpPublishTest, CallsAreCountedByRouteAndCode) {
  ASSERT_EQ(Post("/v1/notify/alice", "x").status, 200);
  ASSERT_EQ(Post("/v1/publish/news", "x").status, 200);
  ASSERT_EQ(Post("/v1/publish/user:x", "x").status, 400);
  std::string metrics = server_.app().metrics().RenderText();
  EXPECT_THAT(metrics,
              HasSubstr("notifyd_http_requests_total{path=\"/v1/notify/"
                        "{user_id}\",code=\"200\"} 1"));
  EXPECT_THAT(metrics,
              HasSubstr("notifyd_http_requests_total{path=\"/v1/publish/"
                        "{channel}\",code=\"200\"} 1"));
  EXPECT_THAT(metrics,
              HasSubstr("notifyd_http_requests_total{path=\"/v1/publish/"
                        "{channel}\",code=\"400\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("notifyd_notifications_stored_total 2"));
}

server::AppOptions SmallPayload() {
  server::AppOptions options = DevOptions();
  options.max_payload_bytes = 1000;
  return options;
}

class HttpPublishLimitTest : public HttpPublishTest {
 protected:
  HttpPublishLimitTest() : HttpPublishTest(SmallPayload()) {}
};

TEST_F(HttpPublishLimitTest, ABodyPastMaxPayloadBytesIs413AndStoresNothing) {
  EXPECT_EQ(Post("/v1/notify/alice", std::string(1000, 'a')).status, 200);
  HttpResponse over = Post("/v1/notify/alice", std::string(1001, 'a'));
  EXPECT_EQ(over.status, 413);
  EXPECT_EQ(ErrorOf(over), "request body over 1000 bytes");
  EXPECT_EQ(over.headers["connection"], "close");
  // Refused on its Content-Length, before the body is read: a client that
  // announces a huge body and sends none is answered at once.
  std::string answer =
      RawExchange(admin_port(),
                  "POST /v1/publish/x HTTP/1.1\r\nHost: a\r\nContent-Length: "
                  "1000000000\r\n\r\n");
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 413"));
  EXPECT_EQ(testing::StoredCount(server_.stub()), 1u);
}

TEST_F(HttpPublishLimitTest, AChunkedBodyIsRefused) {
  // Content-Length is required (curl --data-binary sends it): a chunked
  // body is refused before it is read, like on every route of the edge.
  std::string answer = RawExchange(
      admin_port(),
      "POST /v1/publish/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
      "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 400"));
  EXPECT_THAT(answer, HasSubstr("Transfer-Encoding not accepted"));
  EXPECT_EQ(testing::StoredCount(server_.stub()), 0u);
}

// Publishing with API keys: the key is the one gRPC callers use.
class HttpPublishKeysTest : public HttpPublishTest {
 protected:
  static server::AppOptions WithKeys() {
    server::AppOptions options = DevOptions();
    static testing::TempDir dir;
    std::string keys = (dir.path() / "keys").string();
    std::ofstream(keys) << "billing:" << kKey << "\n";
    options.api_keys_file = keys;
    // One call per 1000 s per caller: the burst is one call, and no refill
    // can happen during the test.
    options.max_publish_rate = 0.001;
    return options;
  }
  HttpPublishKeysTest() : HttpPublishTest(WithKeys()) {}

  // The key's Authorization header.
  static std::string Bearer() {
    return absl::StrCat("Authorization: Bearer ", kKey);
  }
  // Notifications stored, from GetStats called with the key.
  uint64_t Stored() {
    pb::GetStatsResponse stats;
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", kKey));
    EXPECT_TRUE(server_.stub().GetStats(&context, {}, &stats).ok());
    return stats.stored_notifications();
  }
};

TEST_F(HttpPublishKeysTest, AMissingOrWrongKeyIs401) {
  for (const std::vector<std::string>& headers :
       std::vector<std::vector<std::string>>{
           {},
           {"Authorization: Bearer wrong-key-0123456789"},
           {absl::StrCat("Authorization: Basic ", kKey)},
       }) {
    HttpResponse r = Post("/v1/notify/alice", "x", headers);
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_EQ(r.headers["www-authenticate"], "Bearer");
    EXPECT_EQ(ErrorOf(r), "missing or invalid API key");
  }
  EXPECT_EQ(Stored(), 0u);
}

TEST_F(HttpPublishKeysTest, AKeyPublishesUnderItsCallersRateSharedWithGrpc) {
  // The caller's burst (one call) goes over HTTP...
  HttpResponse first = Post("/v1/notify/alice", "x", {Bearer()});
  ASSERT_EQ(first.status, 200) << first.body;
  // ...so its next call is refused over gRPC...
  grpc::Status refused = testing::NotifyUser(
      server_.stub(), "alice", "y", nullptr, absl::StrCat("Bearer ", kKey));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(refused.error_message(), "publish rate for billing exceeded");
  // ...and over HTTP, saying when one token will be back.
  HttpResponse limited = Post("/v1/publish/news", "z", {Bearer()});
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(ErrorOf(limited), "publish rate for billing exceeded");
  EXPECT_EQ(limited.headers["retry-after"], "1000");
  // A malformed request is refused for what it is, and costs no token.
  EXPECT_EQ(Post("/v1/publish/user:x", "z", {Bearer()}).status, 400);
  std::string metrics = server_.app().metrics().RenderText();
  EXPECT_THAT(metrics, HasSubstr("notifyd_publish_rate_limited_total{caller="
                                 "\"billing\"} 2"));
  EXPECT_THAT(metrics,
              HasSubstr("notifyd_http_requests_total{path=\"/v1/publish/"
                        "{channel}\",code=\"429\"} 1"));
  EXPECT_EQ(Stored(), 1u);
}

// The real binary: the keys file that SIGHUP reloads is the HTTP side's
// too, and a refused request is logged with the route and the peer, never
// the key.
TEST(HttpPublishBinaryTest, ReloadedKeysApplyToHttpAndRefusalsAreLogged) {
  testing::TempDir dir;
  const std::string keys = (dir.path() / "keys").string();
  std::ofstream(keys) << "billing:" << kKey << "\n";
  NotifydBinary notifyd(dir.path(), {"--api_keys_file=" + keys});
  std::optional<testing::Ports> ports = notifyd.WaitForPorts();
  ASSERT_TRUE(ports.has_value());
  const std::string url =
      absl::StrCat("http://127.0.0.1:", ports->admin, "/v1/notify/alice");
  auto post = [&](const std::string& key) {
    std::string out;
    EXPECT_EQ(Curl(dir.path(),
                   {"-H", absl::StrCat("Authorization: Bearer ", key),
                    "--data-binary", "x", url},
                   &out),
              0)
        << out;
    return out.substr(out.rfind('\n') + 1);  // the status code
  };
  EXPECT_EQ(post(kKey), "200");
  constexpr char kRotated[] = "rotated-key-0123456789abcdef";
  std::ofstream(keys) << "billing-2:" << kRotated << "\n";
  notifyd.process().Signal(SIGHUP);
  bool rotated = false;
  for (int i = 0; i < 500 && !rotated; ++i) {
    rotated = post(kRotated) == "200";
    if (!rotated) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(rotated) << notifyd.process().Log();
  EXPECT_EQ(post(kKey), "401");
  const std::string log = notifyd.process().Log();
  EXPECT_THAT(log, HasSubstr("rejected an HTTP publish "
                             "route=\"POST /v1/notify\" peer=127.0.0.1:"));
  EXPECT_THAT(log, HasSubstr("error=\"missing or invalid API key\""));
  EXPECT_THAT(log, Not(HasSubstr(kKey)));
  EXPECT_THAT(log, Not(HasSubstr(kRotated)));
  notifyd.process().Signal(SIGTERM);
  std::optional<int> status = notifyd.process().Wait(std::chrono::seconds(20));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

}  // namespace
}  // namespace notifyd
