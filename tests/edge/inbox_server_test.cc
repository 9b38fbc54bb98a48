// The inbox API end to end (edge/inbox_api.h): a real EdgeServer on an
// ephemeral port with the memory store (FakeStore), tokens checked by a
// test verifier, raw-socket HTTP clients and an SSE stream.
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/json/parse.hpp"
#include "boost/json/value.hpp"
#include "edge/http_server.h"
#include "edge/routes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/store.h"
#include "tests/edge/fake_store.h"
#include "tests/edge/json_api_server_test.h"
#include "tests/edge/sse_client.h"

namespace notifyd::edge {
namespace {

using ::notifyd::edge::testing::FakeStore;
using ::notifyd::edge::testing::HttpGet;
using ::notifyd::edge::testing::HttpResponse;
using ::notifyd::edge::testing::HttpWithBody;
using ::notifyd::edge::testing::RawExchange;
using ::notifyd::edge::testing::SseClient;
using ::notifyd::edge::testing::SseMessage;
using ::testing::HasSubstr;

using ::notifyd::edge::testing::kAlice;
using ::notifyd::edge::testing::kBob;
using ::notifyd::edge::testing::kJson;

class InboxServerTest : public testing::JsonApiServerTest {
 protected:
  uint64_t Add(const std::string& user, const std::string& data = "{}") {
    return store_.Add("user:" + user, "notification", data)->id;
  }

  HttpResponse Get(const std::string& target,
                   std::vector<std::string> headers = {kAlice}) {
    return HttpGet(port_, target, headers);
  }
  HttpResponse Post(const std::string& body,
                    std::vector<std::string> headers = {kAlice, kJson},
                    const std::string& target = "/v1/inbox/state") {
    return HttpWithBody(port_, "POST", target, headers, body);
  }

  static std::vector<uint64_t> Ids(const HttpResponse& r) {
    std::vector<uint64_t> ids;
    boost::json::value v = Json(r);
    for (const auto& n : v.at("notifications").as_array()) {
      ids.push_back(n.at("id").to_number<uint64_t>());
    }
    return ids;
  }
  static uint64_t Next(const HttpResponse& r) {
    return Json(r).at("next_before_id").to_number<uint64_t>();
  }
  std::string Counts(const std::string& auth = kAlice) {
    HttpResponse r = Get("/v1/inbox/counts", {auth});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.body;
  }
};

TEST_F(InboxServerTest, ListsTheCallersInboxNewestFirst) {
  uint64_t a1 = Add("alice", R"({"title":"one"})");
  Add("bob");
  uint64_t a2 = Add("alice", "line\nwith \"quotes\"");
  Start();
  HttpResponse r = Get("/v1/inbox");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["cache-control"], "no-store");
  EXPECT_EQ(Ids(r), (std::vector<uint64_t>{a2, a1}));
  EXPECT_EQ(Next(r), 0u);
  boost::json::value page = Json(r);
  const auto& first = page.at("notifications").as_array()[0].as_object();
  EXPECT_EQ(first.size(), 9u);
  EXPECT_EQ(first.at("channel").as_string(), "user:alice");
  EXPECT_EQ(first.at("event").as_string(), "notification");
  EXPECT_EQ(first.at("data").as_string(), "line\nwith \"quotes\"");
  EXPECT_THAT(std::string(first.at("created_at").as_string()),
              ::testing::MatchesRegex(
                  "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                  "\\.[0-9]{3}Z"));
  EXPECT_FALSE(first.at("seen").as_bool());
  EXPECT_FALSE(first.at("read").as_bool());
  EXPECT_FALSE(first.at("archived").as_bool());
  EXPECT_TRUE(first.at("expires_at").is_null());
  // The token in the query (what EventSource pages have) works for reads.
  HttpResponse q = HttpGet(port_, "/v1/inbox?access_token=tok-bob");
  EXPECT_EQ(q.status, 200);
  EXPECT_EQ(Ids(q).size(), 1u);
  EXPECT_EQ(Counts(), R"({"unread":2,"unseen":2})");
}

TEST_F(InboxServerTest, PagesUntilNextBeforeIdIsZero) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Add("alice"));
  Start();
  HttpResponse p1 = Get("/v1/inbox?limit=2");
  EXPECT_EQ(Ids(p1), (std::vector<uint64_t>{ids[4], ids[3]}));
  EXPECT_EQ(Next(p1), ids[3]);
  HttpResponse p2 = Get(absl::StrCat("/v1/inbox?limit=2&before_id=", ids[3]));
  EXPECT_EQ(Ids(p2), (std::vector<uint64_t>{ids[2], ids[1]}));
  EXPECT_EQ(Next(p2), ids[1]);
  HttpResponse p3 = Get(absl::StrCat("/v1/inbox?limit=2&before_id=", ids[1]));
  EXPECT_EQ(Ids(p3), (std::vector<uint64_t>{ids[0]}));
  EXPECT_EQ(Next(p3), 0u);
  // A last page that is exactly full says there is no more.
  HttpResponse full = Get(absl::StrCat("/v1/inbox?limit=3&before_id=", ids[3]));
  EXPECT_EQ(Ids(full), (std::vector<uint64_t>{ids[2], ids[1], ids[0]}));
  EXPECT_EQ(Next(full), 0u);
  HttpResponse all = Get("/v1/inbox?limit=5");
  EXPECT_EQ(Ids(all).size(), 5u);
  EXPECT_EQ(Next(all), 0u);
}

TEST_F(InboxServerTest, StateChangesShowInCountsAndFilters) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(Add("alice"));
  Start();
  EXPECT_EQ(Counts(), R"({"unread":4,"unseen":4})");
  HttpResponse read =
      Post(absl::StrCat(R"({"ids":[)", ids[0], R"(],"read":true})"));
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(read.body, R"({"changed":1})");
  EXPECT_EQ(Counts(), R"({"unread":3,"unseen":3})");
  EXPECT_EQ(Ids(Get("/v1/inbox?filter=unread")),
            (std::vector<uint64_t>{ids[3], ids[2], ids[1]}));

  HttpResponse seen =
      Post(absl::StrCat(R"({"up_to_id":)", ids[3], R"(,"seen":true})"));
  EXPECT_EQ(seen.body, R"({"changed":3})");
  EXPECT_EQ(Counts(), R"({"unread":3,"unseen":0})");
  EXPECT_TRUE(Ids(Get("/v1/inbox?filter=unseen")).empty());

  HttpResponse archive =
      Post(absl::StrCat(R"({"ids":[)", ids[1], R"(],"archived":true})"));
  EXPECT_EQ(archive.body, R"({"changed":1})");
  EXPECT_EQ(Counts(), R"({"unread":2,"unseen":0})");
  EXPECT_EQ(Ids(Get("/v1/inbox?filter=archived")),
            (std::vector<uint64_t>{ids[1]}));
  EXPECT_EQ(Ids(Get("/v1/inbox?filter=all")),
            (std::vector<uint64_t>{ids[3], ids[2], ids[0]}));
  boost::json::value archived = Json(Get("/v1/inbox?filter=archived"));
  const auto& n = archived.at("notifications").as_array()[0];
  EXPECT_TRUE(n.at("archived").as_bool());
  EXPECT_TRUE(n.at("seen").as_bool());

  // Unread again; the same change twice changes nothing the second time.
  std::string unread =
      absl::StrCat(R"({"ids":[)", ids[0], R"(],"read":false})");
  EXPECT_EQ(Post(unread).body, R"({"changed":1})");
  EXPECT_EQ(Post(unread).body, R"({"changed":0})");
  EXPECT_EQ(Counts(), R"({"unread":3,"unseen":0})");
}

TEST_F(InboxServerTest, OtherUsersAndUnknownIdsChangeNothing) {
  uint64_t mine = Add("alice");
  uint64_t bobs = Add("bob");
  Start();
  HttpResponse r =
      Post(absl::StrCat(R"({"ids":[)", bobs, R"(,999999],"read":true})"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"changed":0})");
  // The same answer as for an id nobody has.
  EXPECT_EQ(Post(R"({"ids":[999999],"read":true})").body, r.body);
  EXPECT_EQ(Counts(kBob), R"({"unread":1,"unseen":1})");
  EXPECT_EQ(Counts(), R"({"unread":1,"unseen":1})");
  EXPECT_EQ(
      Post(absl::StrCat(R"({"up_to_id":)", bobs, R"(,"read":true})")).body,
      R"({"changed":1})");  // only alice's own
  EXPECT_EQ(Counts(kBob), R"({"unread":1,"unseen":1})");
  EXPECT_EQ(Ids(Get("/v1/inbox", {kBob})), (std::vector<uint64_t>{bobs}));
  (void)mine;
}

TEST_F(InboxServerTest, CredentialsAreRequired) {
  Add("alice");
  Start();
  for (const char* target : {"/v1/inbox", "/v1/inbox/counts"}) {
    HttpResponse none = HttpGet(port_, target);
    ExpectRefused(none, 401, "missing credentials");
    EXPECT_EQ(none.headers["www-authenticate"], "Bearer");
    ExpectRefused(HttpGet(port_, target, {"Authorization: Bearer tok-expired"}),
                  401, "token expired");
    ExpectRefused(HttpGet(port_, absl::StrCat(target, "?access_token=forged")),
                  401, "bad token");
    ExpectRefused(HttpGet(port_, target, {"Authorization: Basic YTpi"}), 401,
                  "unsupported Authorization scheme");
  }
  ExpectRefused(Post(R"({"ids":[1],"read":true})", {kJson}), 401,
                "missing credentials");
  ExpectRefused(Post(R"({"ids":[1],"read":true})",
                     {"Authorization: Bearer tok-expired", kJson}),
                401, "token expired");
  // The development identity is off here: ?user= proves nothing.
  ExpectRefused(HttpGet(port_, "/v1/inbox?user=alice"), 401, "credentials");
  EXPECT_EQ(Counts(), R"({"unread":1,"unseen":1})");
}

TEST_F(InboxServerTest, CookieChangesStateOnlyFromAnAllowedOrigin) {
  uint64_t id = Add("alice");
  Start();
  const std::string body = absl::StrCat(R"({"ids":[)", id, R"(],"seen":true})");
  const std::string cookie = "Cookie: theme=dark; access_token=tok-alice";
  ExpectRefused(Post(body, {cookie, kJson, "Origin: https://evil.example"}),
                403, "Origin not allowed");
  ExpectRefused(Post(body, {cookie, kJson}), 403, "Authorization header");
  ExpectRefused(Post(body, {cookie, kJson, "Origin: null"}), 403, "Origin");
  EXPECT_EQ(Counts(), R"({"unread":1,"unseen":1})");
  // Reading with the cookie needs no Origin.
  EXPECT_EQ(HttpGet(port_, "/v1/inbox/counts", {cookie}).status, 200);
  // From the listed origin, and from the edge's own (its page at /).
  HttpResponse listed =
      Post(body, {cookie, kJson, "Origin: https://app.example"});
  EXPECT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(listed.headers["access-control-allow-origin"],
            "https://app.example");
  EXPECT_EQ(listed.headers["access-control-allow-credentials"], "true");
  EXPECT_EQ(Post(body, {cookie, kJson, "Origin: http://127.0.0.1"}).status,
            200);
  // A token in the Authorization header needs no Origin.
  EXPECT_EQ(Post(absl::StrCat(R"({"ids":[)", id, R"(],"read":true})")).body,
            R"({"changed":1})");
  // A token in the query is refused for a state change: a cross-site form
  // could carry it.
  ExpectRefused(Post(body, {kJson}, "/v1/inbox/state?access_token=tok-alice"),
                400, "access_token is not accepted");
}

TEST_F(InboxServerTest, BadRequestsAreRefusedAndChangeNothing) {
  uint64_t id = Add("alice");
  Start();
  std::string ok_body = absl::StrCat(R"({"ids":[)", id, R"(],"read":true})");
  ExpectRefused(Post(ok_body, {kAlice, "Content-Type: text/plain"}), 415,
                "application/json");
  ExpectRefused(Post(ok_body, {kAlice}), 415, "application/json");
  ExpectRefused(
      Post(ok_body,
           {kAlice, "Content-Type: application/x-www-form-urlencoded"}),
      415, "application/json");
  ExpectRefused(Post("{\"ids\":[1,", {kAlice, kJson}), 400, "malformed JSON");
  ExpectRefused(Post("", {kAlice, kJson}), 400, "malformed JSON");
  std::string many = R"({"read":true,"ids":[1)";
  for (size_t i = 0; i < storage::kMaxChangeIds; ++i) many += ",1";
  ExpectRefused(Post(many + "]}"), 400, "too many ids (max 1000)");
  ExpectRefused(Post(R"({"ids":[-3],"read":true})"), 400, "positive integers");
  ExpectRefused(Post(R"({"ids":[1],"read":true,"mute":true})"), 400,
                "unknown member: mute");
  ExpectRefused(Post(absl::StrCat(R"({"ids":[)", id, "]}")), 400, "no change");
  ExpectRefused(Post(R"({"read":true})"), 400, "give ids");
  ExpectRefused(Post(R"({"ids":[1],"read":true})", {kAlice, kJson},
                     "/v1/inbox/state?x=1"),
                400, "unknown parameter: x");
  EXPECT_EQ(Counts(), R"({"unread":1,"unseen":1})");

  ExpectRefused(Get("/v1/inbox?limit=abc"), 400, "limit must be 1-500");
  ExpectRefused(Get("/v1/inbox?limit=501"), 400, "limit must be 1-500");
  ExpectRefused(Get("/v1/inbox?before_id=1x"), 400, "before_id must be");
  ExpectRefused(Get("/v1/inbox?filter=new"), 400, "filter must be one of");
  ExpectRefused(Get("/v1/inbox?limit=1&limit=2"), 400,
                "parameter given more than once: limit");
  ExpectRefused(Get("/v1/inbox?sort=asc"), 400, "unknown parameter: sort");
  ExpectRefused(Get("/v1/inbox/counts?limit=1"), 400,
                "unknown parameter: limit");
}

TEST_F(InboxServerTest, BodiesOverTheLimitAreRefusedUnread) {
  uint64_t id = Add("alice");
  Start();
  // JSON may carry whitespace: exactly the limit is read and applied.
  std::string body = absl::StrCat(R"({"ids":[)", id, R"(],"read":true})");
  body += std::string(kMaxInboxStateBodyBytes - body.size(), ' ');
  HttpResponse at_limit = Post(body);
  EXPECT_EQ(at_limit.status, 200) << at_limit.body;
  EXPECT_EQ(at_limit.body, R"({"changed":1})");
  ExpectRefused(Post(body + " "), 413, "request body over 16384 bytes");
  ExpectRefused(Post(absl::StrCat(R"({"ids":[)", id, R"(],"read":false})") +
                     std::string(1 << 20, ' ')),
                413, "over 16384 bytes");
  EXPECT_EQ(Counts(), R"({"unread":0,"unseen":0})");
  // Routes that take no body still refuse one.
  EXPECT_EQ(HttpWithBody(port_, "GET", "/healthz", {}, "x").status, 413);
}

TEST_F(InboxServerTest, WrongMethodsAnswer405WithAllow) {
  Start();
  HttpResponse post_list =
      Post(R"({"ids":[1],"read":true})", {kAlice, kJson}, "/v1/inbox");
  ExpectRefused(post_list, 405, "method not allowed");
  EXPECT_EQ(post_list.headers["allow"], "GET, OPTIONS");
  HttpResponse get_state = Get("/v1/inbox/state");
  ExpectRefused(get_state, 405, "method not allowed");
  EXPECT_EQ(get_state.headers["allow"], "POST, OPTIONS");
  HttpResponse head = HttpGet(port_, "/v1/inbox/counts", {kAlice}, "HEAD");
  EXPECT_EQ(head.status, 405);
  EXPECT_EQ(HttpGet(port_, "/v1/inbox", {kAlice}, "DELETE").status, 405);
  HttpResponse empty_post =
      HttpWithBody(port_, "POST", "/v1/inbox/counts", {kAlice}, "");
  ExpectRefused(empty_post, 405, "method not allowed");
  // Elsewhere too, as text.
  HttpResponse stream = HttpWithBody(port_, "POST", "/v1/stream", {}, "");
  EXPECT_EQ(stream.status, 405);
  EXPECT_EQ(stream.headers["allow"], "GET, OPTIONS");
}

TEST_F(InboxServerTest, PreflightsAllowPostAndItsHeaders) {
  Start();
  const std::vector<std::string> preflight = {
      "Origin: https://app.example", "Access-Control-Request-Method: POST",
      "Access-Control-Request-Headers: authorization, content-type"};
  HttpResponse state = HttpGet(port_, "/v1/inbox/state", preflight, "OPTIONS");
  EXPECT_EQ(state.status, 204);
  EXPECT_EQ(state.headers["access-control-allow-origin"],
            "https://app.example");
  EXPECT_EQ(state.headers["access-control-allow-methods"], "POST, OPTIONS");
  EXPECT_EQ(state.headers["access-control-allow-headers"],
            "Authorization, Content-Type");
  HttpResponse list = HttpGet(port_, "/v1/inbox", preflight, "OPTIONS");
  EXPECT_EQ(list.headers["access-control-allow-methods"], "GET, OPTIONS");
  EXPECT_EQ(list.headers["access-control-allow-headers"], "Authorization");
}

// A keep-alive connection goes on after a request with a body: the body's
// bytes are never read as the next request.
TEST_F(InboxServerTest, PipelinedRequestsAfterABody) {
  uint64_t id = Add("alice");
  Start();
  std::string body = absl::StrCat(R"({"ids":[)", id, R"(],"read":true})");
  std::string raw = RawExchange(
      port_, absl::StrCat("POST /v1/inbox/state HTTP/1.1\r\nHost: x\r\n",
                          kAlice, "\r\n", kJson,
                          "\r\nContent-Length: ", body.size(), "\r\n\r\n", body,
                          "GET /v1/inbox/counts HTTP/1.1\r\nHost: x\r\n",
                          kAlice, "\r\nConnection: close\r\n\r\n"));
  EXPECT_THAT(raw, HasSubstr(R"({"changed":1})"));
  EXPECT_THAT(raw, HasSubstr(R"({"unread":0,"unseen":0})"));
}

TEST_F(InboxServerTest, TheRecordIsPublishedToTheUsersStreams) {
  std::atomic<int> published{0};
  options_.publish_record =
      [this, &published](std::shared_ptr<const storage::Notification> n) {
        ++published;
        hub_.Publish(n);
      };
  uint64_t id = Add("alice");
  Start();
  SseClient alice;
  ASSERT_EQ(alice.Open(port_, "/v1/stream", {kAlice}), 200);
  SseClient bob;
  ASSERT_EQ(bob.Open(port_, "/v1/stream", {kBob}), 200);
  for (int i = 0; i < 300 && hub_.Connections() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(hub_.Connections(), 2u);
  HttpResponse r = Post(absl::StrCat(R"({"ids":[)", id, R"(],"read":true})"));
  ASSERT_EQ(r.body, R"({"changed":1})");
  std::optional<SseMessage> state;
  for (int i = 0; i < 5; ++i) {
    std::optional<SseMessage> m = alice.NextEvent();
    ASSERT_TRUE(m);
    if (m->event == "state") {
      state = m;
      break;
    }
  }
  ASSERT_TRUE(state);
  EXPECT_THAT(state->data, HasSubstr(absl::StrCat(R"("ids":[)", id, "]")));
  EXPECT_THAT(state->data, HasSubstr(R"("read":true)"));
  EXPECT_EQ(published.load(), 1);
  // A change that changes nothing records nothing.
  EXPECT_EQ(Post(absl::StrCat(R"({"ids":[)", id, R"(],"read":true})")).body,
            R"({"changed":0})");
  EXPECT_EQ(published.load(), 1);
  // Bob's stream got nothing of it.
  std::optional<SseMessage> other =
      bob.NextEvent(std::chrono::milliseconds(300));
  EXPECT_TRUE(!other || other->event == "counts");
}

TEST_F(InboxServerTest, MetricsLabelTheNewRoutes) {
  Add("alice");
  Start();
  Get("/v1/inbox");
  Get("/v1/inbox/counts");
  Post(R"({"ids":[1],"read":true})");
  Post("nope");
  std::string text = metrics_.RenderText();
  EXPECT_THAT(text, HasSubstr(R"(path="/v1/inbox",code="200"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(path="/v1/inbox/counts",code="200"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(path="/v1/inbox/state",code="200"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(path="/v1/inbox/state",code="400"} 1)"));
}

}  // namespace
}  // namespace notifyd::edge
