// HTTP/2 on the TLS edge, black-box (h2_test.h), the routes that are not
// streams:
//
//   routes          /healthz, the inbox API (a POST with a body), 404, 405,
//                   413 over h2; HTTP/1.1 still served on the same port
//   push            the Web Push routes (POST 201, DELETE 204, the key's
//                   404) and /v1/sw.js with Service-Worker-Allowed over h2,
//                   and the push flags of the binary
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/edge/h2_client.h"
#include "tests/edge/h2_test.h"
#include "tests/edge/sse_client.h"

namespace notifyd {
namespace {

using ::notifyd::edge::testing::H2Client;
using ::notifyd::edge::testing::H2Headers;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

TEST_F(H2Test, InboxApiAndErrorsOverH2AndHttp11OnTheSamePort) {
  Start();
  uint64_t id = 0;
  {
    pb::NotifyUserRequest request;
    request.set_user_id("alice");
    request.set_data("hello");
    pb::NotifyUserResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->NotifyUser(&context, request, &response).ok());
    id = response.notification().id();
  }
  H2Client c(ports_.http, ca_.ca_cert());
  ASSERT_TRUE(c.ok()) << c.error();
  int32_t counts = c.Get("/v1/inbox/counts?user=alice");
  int32_t list = c.Get("/v1/inbox?user=alice");
  int32_t missing = c.Get("/nope");
  int32_t wrong_method = c.Submit({{":method", "DELETE"},
                                   {":scheme", "https"},
                                   {":authority", "127.0.0.1"},
                                   {":path", "/healthz"}});
  auto all_closed = [&](std::vector<int32_t> ids) {
    return [&c, ids] {
      for (int32_t i : ids) {
        if (!c.stream(i).closed) return false;
      }
      return true;
    };
  };
  ASSERT_TRUE(
      c.RunUntil(all_closed({counts, list, missing, wrong_method}), 5s));
  EXPECT_EQ(c.stream(counts).status, 200);
  EXPECT_EQ(c.stream(counts).body, R"({"unread":1,"unseen":1})");
  EXPECT_THAT(c.stream(list).body, HasSubstr(absl::StrCat("\"id\":", id)));
  EXPECT_EQ(c.stream(missing).status, 404);
  EXPECT_EQ(c.stream(wrong_method).status, 405);
  EXPECT_EQ(c.stream(wrong_method).headers.at("allow"), "GET, HEAD, OPTIONS");

  // A POST with a body (the state change), and one over the route's limit.
  H2Headers post = {{":method", "POST"},
                    {":scheme", "https"},
                    {":authority", "127.0.0.1"},
                    {":path", "/v1/inbox/state?user=alice"},
                    {"content-type", "application/json"}};
  int32_t read =
      c.Submit(post, absl::StrCat(R"({"ids":[)", id, R"(],"read":true})"));
  int32_t huge = c.Submit(post, std::string(20000, ' '));
  ASSERT_TRUE(c.RunUntil(all_closed({read, huge}), 5s));
  EXPECT_EQ(c.stream(read).status, 200) << c.stream(read).body;
  EXPECT_EQ(c.stream(read).body, R"({"changed":1})");
  EXPECT_EQ(c.stream(huge).status, 413);

  // HTTP/1.1 on the same port (a client that offers no h2).
  edge::testing::SseClient h1(ca_.ca_cert());
  EXPECT_EQ(h1.Open(ports_.http, "/v1/stream?user=alice"), 200)
      << h1.tls_error();
}

TEST_F(H2Test, PushRoutesAndTheServiceWorkerOverH2) {
  Start();
  H2Client c(ports_.http, ca_.ca_cert());
  ASSERT_TRUE(c.ok()) << c.error();
  H2Headers post = {{":method", "POST"},
                    {":scheme", "https"},
                    {":authority", "127.0.0.1"},
                    {":path", "/v1/push/subscriptions?user=alice"},
                    {"content-type", "application/json"}};
  const std::string endpoint = "https://push.example.net/h2";
  // RFC 8291's user agent key and auth secret (Appendix A).
  int32_t subscribed = c.Submit(
      post, absl::StrCat(R"({"endpoint":")", endpoint,
                         R"(","keys":{"p256dh":"BCVxsr7N_eNgVRqvHtD0zTZsEc6-)"
                         R"(VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SR)"
                         R"(pkNtoIAiw4","auth":"BTBZMqHH6r4Tts7J_aSIgg"}})"));
  int32_t key = c.Get("/v1/push/key");
  int32_t worker = c.Get("/v1/sw.js");
  auto closed = [&c](std::vector<int32_t> ids) {
    return [&c, ids] {
      for (int32_t i : ids) {
        if (!c.stream(i).closed) return false;
      }
      return true;
    };
  };
  ASSERT_TRUE(c.RunUntil(closed({subscribed, key, worker}), 5s));
  EXPECT_EQ(c.stream(subscribed).status, 201) << c.stream(subscribed).body;
  EXPECT_THAT(c.stream(subscribed).body, HasSubstr("\"credential\":"));
  EXPECT_EQ(c.stream(key).status, 404);
  EXPECT_EQ(c.stream(key).body, R"({"error":"push not configured"})");
  EXPECT_EQ(c.stream(worker).status, 200);
  EXPECT_EQ(c.stream(worker).headers.at("service-worker-allowed"), "/");
  EXPECT_THAT(c.stream(worker).headers.at("content-type"),
              HasSubstr("text/javascript"));
  EXPECT_THAT(c.stream(worker).body, HasSubstr("notificationclick"));

  H2Headers remove = post;
  remove[0].second = "DELETE";
  int32_t removed =
      c.Submit(remove, absl::StrCat(R"({"endpoint":")", endpoint, R"("})"));
  ASSERT_TRUE(c.RunUntil(closed({removed}), 5s));
  int32_t again =
      c.Submit(remove, absl::StrCat(R"({"endpoint":")", endpoint, R"("})"));
  ASSERT_TRUE(c.RunUntil(closed({again}), 5s));
  EXPECT_EQ(c.stream(removed).status, 204);
  EXPECT_EQ(c.stream(removed).body, "");
  EXPECT_EQ(c.stream(again).status, 404);
}

// The binary's push flags: --push_allow_private admits a push service on
// loopback, --max_push_subscriptions bounds each user's.
TEST_F(H2Test, PushFlagsOfTheBinary) {
  Start({"--push_allow_private", "--max_push_subscriptions=1"});
  H2Client c(ports_.http, ca_.ca_cert());
  ASSERT_TRUE(c.ok()) << c.error();
  auto subscribe = [&c](const std::string& endpoint) {
    int32_t id = c.Submit(
        {{":method", "POST"},
         {":scheme", "https"},
         {":authority", "127.0.0.1"},
         {":path", "/v1/push/subscriptions?user=alice"},
         {"content-type", "application/json"}},
        absl::StrCat(R"({"endpoint":")", endpoint,
                     R"(","keys":{"p256dh":"BCVxsr7N_eNgVRqvHtD0zTZsEc6-)"
                     R"(VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SR)"
                     R"(pkNtoIAiw4","auth":"BTBZMqHH6r4Tts7J_aSIgg"}})"));
    EXPECT_TRUE(c.RunUntil([&c, id] { return c.stream(id).closed; }, 5s));
    return c.stream(id);
  };
  EXPECT_EQ(subscribe("https://127.0.0.1:4443/push/1").status, 201);
  auto second = subscribe("https://localhost:4443/push/2");
  EXPECT_EQ(second.status, 429);
  EXPECT_THAT(second.body, HasSubstr("at most 1 push subscriptions"));
}

}  // namespace
}  // namespace notifyd
