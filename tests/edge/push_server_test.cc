// The Web Push routes end to end (edge/push_api.h): a real EdgeServer on an
// ephemeral port with the memory store (FakeStore), tokens checked by a
// test verifier, raw-socket HTTP clients. What is stored is read back from
// the store itself.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "boost/json/parse.hpp"
#include "boost/json/value.hpp"
#include "edge/http_server.h"
#include "edge/push_credential.h"
#include "edge/push_request.h"
#include "edge/routes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/push.h"
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
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using ::notifyd::edge::testing::kAlice;
using ::notifyd::edge::testing::kBob;
using ::notifyd::edge::testing::kJson;

// A browser's keys: the user agent's public key and auth secret of RFC 8291,
// Appendix A.
const std::string kP256dh =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZ"
    "GH6SRpkNtoIAiw4";
const std::string kAuth = "BTBZMqHH6r4Tts7J_aSIgg";
// The same key with its last byte changed: no longer on the curve.
const std::string kOffCurve =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZ"
    "GH6SRpkNtoIAiw8";
const std::string kEndpoint = "https://push.example.net/send/abc";

// PushSubscription.toJSON() as a browser sends it.
std::string Body(const std::string& endpoint,
                 const std::string& p256dh = kP256dh,
                 const std::string& auth = kAuth) {
  return absl::StrCat(R"({"endpoint":")", endpoint,
                      R"(","expirationTime":null,"keys":{"p256dh":")", p256dh,
                      R"(","auth":")", auth, R"("}})");
}

std::string EndpointBody(const std::string& endpoint) {
  return absl::StrCat(R"({"endpoint":")", endpoint, R"("})");
}

class PushServerTest : public testing::JsonApiServerTest {
 protected:
  HttpResponse Subscribe(const std::string& body,
                         std::vector<std::string> headers = {kAlice, kJson}) {
    return HttpWithBody(port_, "POST", "/v1/push/subscriptions", headers, body);
  }
  HttpResponse Unsubscribe(const std::string& body,
                           std::vector<std::string> headers = {kAlice, kJson}) {
    return HttpWithBody(port_, "DELETE", "/v1/push/subscriptions", headers,
                        body);
  }

  std::vector<storage::PushSubscription> Stored(const std::string& user) {
    auto list = storage::ListPushSubscriptionsSync(store_, "user:" + user);
    EXPECT_TRUE(list.ok()) << list.status();
    return list.ok() ? *list : std::vector<storage::PushSubscription>{};
  }

  static std::string Credential(const HttpResponse& r) {
    boost::json::value v = Json(r);
    if (!v.is_object() || !v.as_object().contains("credential")) return "";
    return std::string(v.at("credential").as_string());
  }
};

// --- Subscribing and unsubscribing

TEST_F(PushServerTest, ASubscriptionIsStoredWithItsDecodedKeys) {
  Start();
  HttpResponse r = Subscribe(Body(kEndpoint));

  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.headers["cache-control"], "no-store");
  const std::string credential = Credential(r);
  EXPECT_EQ(credential.size(), 43u);  // 32 random bytes, base64url
  auto stored = Stored("alice");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].endpoint, kEndpoint);
  EXPECT_EQ(stored[0].p256dh,
            *DecodeBase64Url(kP256dh, "p256dh", storage::kPushP256dhBytes));
  EXPECT_EQ(stored[0].auth,
            *DecodeBase64Url(kAuth, "auth", storage::kPushAuthBytes));
  // The store keeps the credential's hash, never the credential.
  EXPECT_EQ(stored[0].secret_sha256, PushCredentialHash(credential));
}

TEST_F(PushServerTest, SubscribingAgainReplacesWithANewCredential) {
  Start();
  const std::string first = Credential(Subscribe(Body(kEndpoint)));

  HttpResponse again = Subscribe(Body(kEndpoint));

  ASSERT_EQ(again.status, 200) << again.body;
  const std::string second = Credential(again);
  EXPECT_NE(second, first);
  auto stored = Stored("alice");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].secret_sha256, PushCredentialHash(second));
}

TEST_F(PushServerTest, PaddedKeysAndUnknownMembersAreAccepted) {
  Start();
  HttpResponse r = Subscribe(absl::StrCat(
      R"({"endpoint":")", kEndpoint,
      R"(","expirationTime":1700000000000,"future":[1],"keys":{"p256dh":")",
      kP256dh, R"(=","auth":")", kAuth, R"(==","other":"x"}})"));
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Stored("alice").size(), 1u);
}

TEST_F(PushServerTest, DeletingRemovesOnlyTheCallersSubscription) {
  Start();
  ASSERT_EQ(Subscribe(Body(kEndpoint)).status, 201);

  // Bob cannot remove alice's subscription, nor learn that it exists.
  ExpectRefused(Unsubscribe(EndpointBody(kEndpoint), {kBob, kJson}), 404,
                "no such push subscription");
  EXPECT_EQ(Stored("alice").size(), 1u);

  HttpResponse removed = Unsubscribe(EndpointBody(kEndpoint));
  EXPECT_EQ(removed.status, 204) << removed.body;
  EXPECT_EQ(removed.body, "");
  EXPECT_EQ(removed.headers.count("content-type"), 0u);
  EXPECT_THAT(Stored("alice"), IsEmpty());
  ExpectRefused(Unsubscribe(EndpointBody(kEndpoint)), 404,
                "no such push subscription");
}

TEST_F(PushServerTest, AUserPastTheLimitIsRefused) {
  Start();
  for (size_t i = 0; i < storage::kDefaultMaxPushSubscriptions; ++i) {
    ASSERT_EQ(Subscribe(Body(absl::StrCat(kEndpoint, i))).status, 201);
  }
  ExpectRefused(Subscribe(Body(kEndpoint + "-more")), 429,
                "at most 16 push subscriptions");
  EXPECT_EQ(Stored("alice").size(), storage::kDefaultMaxPushSubscriptions);
  // Another user is not held back by alice's.
  EXPECT_EQ(Subscribe(Body(kEndpoint + "-more"), {kBob, kJson}).status, 201);
}

// --- What is refused, with nothing stored

TEST_F(PushServerTest, EndpointsOutsideThePublicInternetAreRefused) {
  Start();
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"http://push.example.net/x", "https"},
      {"wss://push.example.net/x", "https"},
      {"push.example.net/x", "absolute URL"},
      {"https:///x", "host"},
      {"https://user:pw@push.example.net/x", "user info"},
      {"https://localhost/x", "localhost"},
      {"https://LocalHost./x", "localhost"},
      {"https://api.localhost:8443/x", "localhost"},
      {"https://intranet/x", "fully qualified"},
      {"https://127.0.0.1/x", "private"},
      {"https://10.1.2.3/x", "private"},
      {"https://172.16.0.1/x", "private"},
      {"https://192.168.1.1/x", "private"},
      {"https://169.254.169.254/latest", "private"},
      {"https://100.64.0.1/x", "private"},
      {"https://0.0.0.0/x", "private"},
      {"https://[::1]/x", "private"},
      {"https://[::]/x", "private"},
      {"https://[fd00::1]/x", "private"},
      {"https://[fe80::1]/x", "private"},
      {"https://[::ffff:127.0.0.1]/x", "private"},
      {"https://[::ffff:10.0.0.1]/x", "private"},
  };
  for (const auto& [endpoint, why] : refused) {
    SCOPED_TRACE(endpoint);
    ExpectRefused(Subscribe(Body(endpoint)), 400, why);
  }
  EXPECT_THAT(Stored("alice"), IsEmpty());
  // Public addresses are fine.
  EXPECT_EQ(Subscribe(Body("https://8.8.8.8/x")).status, 201);
  EXPECT_EQ(Subscribe(Body("https://[2a00:1450::1]:8443/x")).status, 201);
}

TEST_F(PushServerTest, PushAllowPrivateAdmitsALocalPushService) {
  options_.push_allow_private = true;
  Start();
  EXPECT_EQ(Subscribe(Body("https://127.0.0.1:4443/push/1")).status, 201);
  EXPECT_EQ(Subscribe(Body("https://localhost/push/2")).status, 201);
  // Still https, still a URL.
  ExpectRefused(Subscribe(Body("http://127.0.0.1/push/3")), 400, "https");
  EXPECT_EQ(Stored("alice").size(), 2u);
}

TEST_F(PushServerTest, KeysThatAreNotABrowsersAreRefused) {
  Start();
  const std::string p256dh_bytes =
      *DecodeBase64Url(kP256dh, "p256dh", storage::kPushP256dhBytes);
  const std::string compressed =
      EncodeBase64Url(absl::StrCat("\x02", p256dh_bytes.substr(1, 32)));
  const std::vector<std::pair<std::string, std::string>> refused = {
      {Body(kEndpoint, "BCVx+r7N/eNg"), "keys.p256dh must be base64url"},
      {Body(kEndpoint, kP256dh + "A"), "65 bytes, not 66"},
      {Body(kEndpoint, kP256dh.substr(0, 85)), "keys.p256dh must be base64url"},
      {Body(kEndpoint, kP256dh + "==="), "keys.p256dh must be base64url"},
      {Body(kEndpoint, "BCVx sr7N"), "keys.p256dh must be base64url"},
      {Body(kEndpoint, kP256dh.substr(0, 84)), "65 bytes, not 63"},
      {Body(kEndpoint, kP256dh + "AAAA"), "65 bytes, not 68"},
      {Body(kEndpoint, compressed), "65 bytes, not 33"},
      {Body(kEndpoint, kOffCurve), "point on P-256"},
      {Body(kEndpoint, kP256dh, "BTBZMqHH6r4Tts7J_aSI"), "16 bytes, not 15"},
      {Body(kEndpoint, kP256dh, kAuth + "AAA"), "keys.auth must be base64url"},
      {Body(kEndpoint, kP256dh, "BTBZMqHH6r4Tts7J_aSIgg0A"),
       "16 bytes, not 18"},
      {Body(kEndpoint, kP256dh, ""), "keys.auth must be base64url"},
      {absl::StrCat(R"({"endpoint":")", kEndpoint, R"("})"), "keys must be"},
      {absl::StrCat(R"({"endpoint":")", kEndpoint, R"(","keys":{"auth":")",
                    kAuth, R"("}})"),
       "keys.p256dh must be a string"},
      {absl::StrCat(R"({"endpoint":7,"keys":{}})"),
       "endpoint must be a string"},
      {absl::StrCat(R"({"endpoint":")", kEndpoint,
                    R"(","expirationTime":"soon","keys":{}})"),
       "expirationTime"},
      {"[1,2]", "JSON object"},
      {"{\"endpoint\":", "malformed JSON"},
  };
  for (const auto& [body, why] : refused) {
    SCOPED_TRACE(body);
    ExpectRefused(Subscribe(body), 400, why);
  }
  EXPECT_THAT(Stored("alice"), IsEmpty());
}

TEST_F(PushServerTest, OversizeEndpointsAndBodiesAreRefused) {
  Start();
  const std::string prefix = "https://push.example.net/";
  const std::string longest =
      prefix + std::string(storage::kMaxPushEndpointBytes - prefix.size(), 'x');
  ExpectRefused(Subscribe(Body(longest + "x")), 400, "at most 2048 bytes");
  ExpectRefused(Unsubscribe(EndpointBody(longest + "x")), 400,
                "at most 2048 bytes");
  EXPECT_EQ(Subscribe(Body(longest)).status, 201);  // the limit itself
  // A body over kMaxPushBodyBytes is refused before it is read.
  HttpResponse big =
      Subscribe(Body(kEndpoint) + std::string(kMaxPushBodyBytes, ' '));
  ExpectRefused(big, 413, "request body over 4096 bytes");
  EXPECT_EQ(Stored("alice").size(), 1u);
}

TEST_F(PushServerTest, SubscribingNeedsATokenAndCookiesAnAllowedOrigin) {
  Start();
  ExpectRefused(Subscribe(Body(kEndpoint), {kJson}), 401, "");
  ExpectRefused(
      Subscribe(Body(kEndpoint), {"Authorization: Bearer forged", kJson}), 401,
      "bad token");
  ExpectRefused(HttpWithBody(port_, "POST",
                             "/v1/push/subscriptions?access_token=tok-alice",
                             {kJson}, Body(kEndpoint)),
                400, "access_token is not accepted");
  const std::string cookie = "Cookie: access_token=tok-alice";
  ExpectRefused(Subscribe(Body(kEndpoint), {cookie, kJson}), 403,
                "Authorization header");
  ExpectRefused(Subscribe(Body(kEndpoint),
                          {cookie, kJson, "Origin: https://evil.example"}),
                403, "Origin not allowed");
  ExpectRefused(Unsubscribe(EndpointBody(kEndpoint),
                            {cookie, kJson, "Origin: https://evil.example"}),
                403, "Origin not allowed");
  ExpectRefused(
      Subscribe(Body(kEndpoint), {kAlice, "Content-Type: text/plain"}), 415,
      "application/json");
  EXPECT_THAT(Stored("alice"), IsEmpty());
  // The cookie from an allowed Origin is fine.
  EXPECT_EQ(
      Subscribe(Body(kEndpoint), {cookie, kJson, "Origin: https://app.example"})
          .status,
      201);
}

TEST_F(PushServerTest, PreflightsAllowPostAndDeleteWithAuthorization) {
  Start();
  HttpResponse r = HttpGet(
      port_, "/v1/push/subscriptions",
      {"Origin: https://app.example", "Access-Control-Request-Method: DELETE"},
      "OPTIONS");
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.headers["access-control-allow-methods"], "POST, DELETE, OPTIONS");
  EXPECT_EQ(r.headers["access-control-allow-headers"],
            "Authorization, Content-Type");
  EXPECT_EQ(r.headers["access-control-allow-origin"], "https://app.example");
  ExpectRefused(HttpGet(port_, "/v1/push/subscriptions", {kAlice}), 405,
                "method not allowed");
}

// --- The key

TEST_F(PushServerTest, TheKeyRouteAnswers404UntilPushIsConfigured) {
  Start();
  ExpectRefused(HttpGet(port_, "/v1/push/key"), 404, "push not configured");
}

TEST_F(PushServerTest, TheKeyRouteHandsOutThePublicKey) {
  options_.push_public_key = kP256dh;
  Start();
  HttpResponse r = HttpGet(port_, "/v1/push/key");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r).at("public_key").as_string(), kP256dh);
}

TEST_F(PushServerTest, AKeyThatIsNoP256PointDoesNotStart) {
  options_.push_public_key = kOffCurve;
  EXPECT_FALSE(options_.Validate().ok());
  options_.push_public_key = "not base64!";
  EXPECT_FALSE(options_.Validate().ok());
}

// --- The service worker's credential on POST /v1/inbox/state

TEST_F(PushServerTest, ThePushCredentialMarksTheUsersNotificationRead) {
  uint64_t alice = store_.Add("user:alice", "notification", "{}")->id;
  uint64_t bob = store_.Add("user:bob", "notification", "{}")->id;
  Start();
  const std::string credential = Credential(Subscribe(Body(kEndpoint)));
  const std::string push_auth = "Authorization: Push " + credential;

  HttpResponse r = HttpWithBody(
      port_, "POST", "/v1/inbox/state", {push_auth, kJson},
      absl::StrCat(R"({"ids":[)", alice, ",", bob, R"(],"read":true})"));

  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"changed":1})");  // bob's is not alice's
  auto counts = storage::GetCountsSync(store_, "user:alice");
  EXPECT_EQ(counts->unread, 0u);
  EXPECT_EQ(counts->unseen, 0u);
  EXPECT_EQ(storage::GetCountsSync(store_, "user:bob")->unread, 1u);
}

TEST_F(PushServerTest, ThePushCredentialDoesNothingElse) {
  uint64_t id = store_.Add("user:alice", "notification", "{}")->id;
  Start();
  const std::string credential = Credential(Subscribe(Body(kEndpoint)));
  auto post = [&](const std::string& auth, const std::string& body) {
    return HttpWithBody(port_, "POST", "/v1/inbox/state", {auth, kJson}, body);
  };
  const std::string ids = absl::StrCat(R"({"ids":[)", id, "]");
  ExpectRefused(
      post("Authorization: Push " + credential, ids + R"(,"archived":true})"),
      403, "only marks notifications seen or read");
  ExpectRefused(
      post("Authorization: Push " + credential, ids + R"(,"read":false})"), 403,
      "only marks notifications seen or read");
  ExpectRefused(post("Authorization: Push forged", ids + R"(,"seen":true})"),
                401, "unknown push credential");
  // Not a token either: no stream, no listing.
  ExpectRefused(
      HttpGet(port_, "/v1/inbox", {"Authorization: Push " + credential}), 401,
      "");
  // Gone with its subscription.
  ASSERT_EQ(Unsubscribe(EndpointBody(kEndpoint)).status, 204);
  ExpectRefused(
      post("Authorization: Push " + credential, ids + R"(,"seen":true})"), 401,
      "unknown push credential");
  EXPECT_EQ(storage::GetCountsSync(store_, "user:alice")->unseen, 1u);
}

}  // namespace
}  // namespace notifyd::edge
