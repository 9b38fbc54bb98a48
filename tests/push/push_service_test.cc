// The push service stand-in refuses what a push service refuses, so that
// its "no errors" in the sender tests means something: requests made with
// push::HttpsClient directly, with one thing wrong each.
#include "tests/push/push_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <future>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "push/ece.h"
#include "push/https_client.h"
#include "push/vapid.h"
#include "tests/server/test_ca.h"

namespace notifyd::push {
namespace {

using ::notifyd::testing::PushService;
using ::notifyd::testing::TestCa;
using ::testing::HasSubstr;

class PushServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ca_.ok()) << ca_.error();
    ASSERT_TRUE(service_.ok()) << service_.Log();
    HttpsClient::Options options;
    options.ca_file = ca_.ca_cert();
    options.allow_private = true;
    client_ = HttpsClient::Create(io_, options).value();
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
    if (client_) client_->CloseIdle();
  }

  // A valid request for the stand-in's subscription, which `change` may
  // spoil; returns the status it answered and the errors it recorded.
  std::pair<int, std::string> Post(
      const std::function<void(HttpsClient::Request&)>& change) {
    Subscription s = service_.Subscribe("/push/a");
    HttpsClient::Request request;
    request.endpoint = ParseEndpoint(s.endpoint).value();
    Message message;
    message.payload = "hello";
    request.headers = PushHeaders(message);
    request.headers.emplace_back(
        "Authorization",
        absl::StrCat("vapid t=", Jwt(key_, service_.origin(), absl::Hours(12)),
                     ", k=", key_.public_key_base64url()));
    request.body = Encrypt(message.payload, s.p256dh, s.auth).value();
    change(request);
    std::promise<absl::StatusOr<HttpsClient::Response>> answered;
    client_->Post(std::move(request),
                  [&](absl::StatusOr<HttpsClient::Response> response) {
                    answered.set_value(std::move(response));
                  });
    absl::StatusOr<HttpsClient::Response> response =
        answered.get_future().get();
    EXPECT_TRUE(response.ok()) << response.status();
    std::vector<boost::json::object> received = service_.Received();
    std::string errors;
    if (!received.empty()) {
      errors = boost::json::serialize(received.back().at("errors"));
    }
    return {response.ok() ? response->status : 0, errors};
  }

  static std::string Jwt(const VapidKey& key, const std::string& audience,
                         absl::Duration valid_for) {
    return MakeVapidJwt(key, audience, "mailto:ops@example.com",
                        absl::Now() + valid_for)
        .value();
  }

  static void SetHeader(HttpsClient::Request& request, const std::string& name,
                        const std::string& value) {
    for (auto& [n, v] : request.headers) {
      if (n == name) v = value;
    }
  }

  TestCa ca_;
  PushService service_{ca_};
  VapidKey key_ = VapidKey::Generate().value();
  boost::asio::io_context io_;
  std::optional<
      boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      work_{io_.get_executor()};
  std::unique_ptr<HttpsClient> client_;
  std::thread thread_;
};

TEST_F(PushServiceTest, TakesAValidRequest) {
  auto [status, errors] = Post([](HttpsClient::Request&) {});
  EXPECT_EQ(status, 201) << errors;
  EXPECT_EQ(errors, "[]");
}

TEST_F(PushServiceTest, RefusesAJwtSignedByAnotherKey) {
  VapidKey other = VapidKey::Generate().value();
  auto [status, errors] = Post([&](HttpsClient::Request& r) {
    SetHeader(
        r, "Authorization",
        absl::StrCat("vapid t=", Jwt(other, service_.origin(), absl::Hours(12)),
                     ", k=", key_.public_key_base64url()));
  });
  EXPECT_EQ(status, 403);
  EXPECT_THAT(errors, HasSubstr("VAPID"));
}

TEST_F(PushServiceTest, RefusesAnotherAudienceAndBadExpiry) {
  for (const auto& [audience, valid_for] :
       {std::make_pair(std::string("https://elsewhere.example"),
                       absl::Hours(12)),
        std::make_pair(service_.origin(), -absl::Minutes(1)),
        std::make_pair(service_.origin(), absl::Hours(25))}) {
    auto [status, errors] = Post([&](HttpsClient::Request& r) {
      SetHeader(r, "Authorization",
                absl::StrCat("vapid t=", Jwt(key_, audience, valid_for),
                             ", k=", key_.public_key_base64url()));
    });
    EXPECT_EQ(status, 403) << audience;
    EXPECT_THAT(errors, HasSubstr("VAPID")) << audience;
  }
}

TEST_F(PushServiceTest, RefusesBadHeadersAndBodies) {
  auto [no_coding, e1] = Post([](HttpsClient::Request& r) {
    SetHeader(r, "Content-Encoding", "aesgcm");
  });
  EXPECT_EQ(no_coding, 400);
  EXPECT_THAT(e1, HasSubstr("Content-Encoding"));
  auto [bad_ttl, e2] =
      Post([](HttpsClient::Request& r) { SetHeader(r, "TTL", "soon"); });
  EXPECT_EQ(bad_ttl, 400);
  EXPECT_THAT(e2, HasSubstr("TTL"));
  auto [altered, e3] =
      Post([](HttpsClient::Request& r) { r.body.back() ^= 1; });
  EXPECT_EQ(altered, 400);
  EXPECT_THAT(e3, HasSubstr("decryption"));
  auto [too_big, e4] =
      Post([](HttpsClient::Request& r) { r.body.append(kMaxBodyBytes, 'x'); });
  EXPECT_EQ(too_big, 413);
}

}  // namespace
}  // namespace notifyd::push
