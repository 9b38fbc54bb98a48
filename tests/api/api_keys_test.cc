// Publisher API keys: the keys file format, the constant-time check, and
// the Notifier service answering UNAUTHENTICATED (and storing nothing) for
// every call without the right key, while health stays open.
#include "api/api_keys.h"

#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "notify/v1/notify.grpc.pb.h"
#include "tests/server/test_server.h"

namespace notifyd {
namespace {

namespace pb = ::notify::v1;
using api::ApiKeySet;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kBillingKey[] = "billing-0123456789abcdef";
constexpr char kShippingKey[] = "shipping-0123456789abcdef";

TEST(ApiKeySetTest, ParsesNamesAndKeysSkippingCommentsAndBlankLines) {
  absl::StatusOr<ApiKeySet> keys =
      ApiKeySet::Parse(absl::StrCat("# publishers\n\nbilling:", kBillingKey,
                                    "\n  shipping : ", kShippingKey, "  \r\n"),
                       "keys");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->size(), 2u);
  EXPECT_EQ(keys->Authenticate(absl::StrCat("Bearer ", kBillingKey)).value(),
            "billing");
  EXPECT_EQ(keys->Authenticate(absl::StrCat("Bearer ", kShippingKey)).value(),
            "shipping");
  // The scheme is case-insensitive (RFC 7235).
  EXPECT_EQ(keys->Authenticate(absl::StrCat("bearer ", kBillingKey)).value(),
            "billing");
}

TEST(ApiKeySetTest, RefusesBadLinesNamingTheLineButNotTheKey) {
  struct Case {
    std::string text;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"no-colon-here", "keys:1: expected name:key"},
           {"# c\nshort:0123456789abcde", "keys:2: key of short is shorter"},
           {":0123456789abcdef0", "keys:1: name must be"},
           {"bad name:0123456789abcdef0", "keys:1: name must be"},
           {"a:0123456789abcdef0\na:0123456789abcdef1", "keys:2: name a"},
           {"a:0123456789abcdef0\nb:0123456789abcdef0", "keys:2: key of b"},
       }) {
    absl::StatusOr<ApiKeySet> keys = ApiKeySet::Parse(c.text, "keys");
    ASSERT_FALSE(keys.ok()) << c.text;
    EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(keys.status().message(), HasSubstr(c.message));
    EXPECT_THAT(keys.status().message(), Not(HasSubstr("0123456789abcde")));
  }
}

TEST(ApiKeySetTest, RejectsEveryWrongPresentationAlike) {
  absl::StatusOr<ApiKeySet> keys =
      ApiKeySet::Parse(absl::StrCat("billing:", kBillingKey), "keys");
  ASSERT_TRUE(keys.ok());
  std::string key = kBillingKey;
  for (const std::string& header : std::vector<std::string>{
           "", "Bearer", "Bearer ", key, "Basic " + key,
           "Bearer " + key.substr(0, key.size() - 1),  // a prefix
           "Bearer " + key + "x",                      // longer
           "Bearer " + std::string(key.size(), 'x'),   // same length
           std::string("Bearer ") + kShippingKey}) {
    absl::StatusOr<std::string> name = keys->Authenticate(header);
    ASSERT_FALSE(name.ok()) << header;
    EXPECT_EQ(name.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(name.status().message(), api::kInvalidApiKeyMessage);
  }
}

TEST(ApiKeySetTest, LoadNamesAnUnreadableOrEmptyFile) {
  testing::TempDir dir;
  std::string missing = (dir.path() / "missing").string();
  absl::StatusOr<ApiKeySet> keys = ApiKeySet::Load(missing);
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(keys.status().message(), HasSubstr(missing));
  std::string empty = (dir.path() / "empty").string();
  std::ofstream(empty) << "# nothing yet\n";
  keys = ApiKeySet::Load(empty);
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(keys.status().message(), HasSubstr("no name:key"));
}

server::AppOptions WithKeys(const testing::TempDir& dir) {
  std::string path = (dir.path() / "api_keys").string();
  std::ofstream(path) << "# test publishers\nbilling:" << kBillingKey
                      << "\nshipping:" << kShippingKey << "\n";
  server::AppOptions options;
  options.api_keys_file = path;
  options.synchronous_full = false;
  return options;
}

class ApiKeyServiceTest : public ::testing::Test {
 protected:
  grpc::Status Notify(const std::string& authorization,
                      const std::string& user = "alice") {
    return testing::NotifyUser(server_.stub(), user, "hello", nullptr,
                               authorization);
  }

  uint64_t StoredCount() {
    pb::GetStatsResponse response;
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", kBillingKey));
    grpc::Status status =
        server_.stub().GetStats(&context, pb::GetStatsRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.stored_notifications();
  }

  testing::TempDir keys_dir_;
  testing::TestServer server_{WithKeys(keys_dir_)};
};

TEST_F(ApiKeyServiceTest, CallsWithoutTheRightKeyAreUnauthenticated) {
  std::string key = kBillingKey;
  for (const std::string& header : std::vector<std::string>{
           "",                                   // no key
           "Bearer wrong-key-0123456789abcdef",  // wrong key
           "Bearer " + key.substr(0, 8),         // wrong length
           "Bearer " + key + key,                // wrong length
           key}) {                               // no scheme
    grpc::Status status = Notify(header);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << "'" << header << "'";
    EXPECT_EQ(status.error_message(), "missing or invalid API key");
  }
  EXPECT_EQ(StoredCount(), 0u) << "a rejected call stored something";
}

TEST_F(ApiKeyServiceTest, EveryRpcChecksTheKey) {
  grpc::ClientContext list_context;
  pb::ListNotificationsRequest list;
  list.set_user_id("alice");
  pb::ListNotificationsResponse listed;
  EXPECT_EQ(server_.stub()
                .ListNotifications(&list_context, list, &listed)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext stats_context;
  pb::GetStatsResponse stats;
  EXPECT_EQ(server_.stub()
                .GetStats(&stats_context, pb::GetStatsRequest(), &stats)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext publish_context;
  pb::PublishRequest publish;
  publish.set_channel("news");
  pb::PublishResponse published;
  EXPECT_EQ(server_.stub()
                .Publish(&publish_context, publish, &published)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ApiKeyServiceTest, TheRightKeyIsAcceptedAndNamedInMetrics) {
  grpc::Status status = Notify(absl::StrCat("Bearer ", kBillingKey));
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(Notify(absl::StrCat("Bearer ", kShippingKey)).ok());
  ASSERT_EQ(Notify("Bearer nope-nope-nope-nope").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(StoredCount(), 2u);
  std::string metrics = server_.app().metrics().RenderText();
  EXPECT_THAT(metrics, HasSubstr("notifyd_grpc_calls_total{method="
                                 "\"NotifyUser\",code=\"OK\",caller="
                                 "\"billing\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("notifyd_grpc_calls_total{method="
                                 "\"NotifyUser\",code=\"OK\",caller="
                                 "\"shipping\"} 1"));
  EXPECT_THAT(metrics,
              HasSubstr("notifyd_grpc_calls_total{method=\"NotifyUser\","
                        "code=\"UNAUTHENTICATED\",caller="
                        "\"unauthenticated\"} 1"));
  EXPECT_THAT(metrics, Not(HasSubstr(kBillingKey)));
}

TEST_F(ApiKeyServiceTest, ReloadingTheFileRotatesKeysWithoutARestart) {
  constexpr char kNewKey[] = "rotated-key-0123456789abcdef";
  std::ofstream(keys_dir_.path() / "api_keys")
      << "billing-2:" << kNewKey << "\nshipping:" << kShippingKey << "\n";

  absl::StatusOr<size_t> reloaded = server_.app().ReloadApiKeys();

  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(*reloaded, 2u);
  EXPECT_EQ(Notify(absl::StrCat("Bearer ", kBillingKey)).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Notify(absl::StrCat("Bearer ", kNewKey)).ok());
  EXPECT_TRUE(Notify(absl::StrCat("Bearer ", kShippingKey)).ok());
  EXPECT_THAT(server_.app().metrics().RenderText(),
              HasSubstr("caller=\"billing-2\"} 1"));
}

TEST_F(ApiKeyServiceTest, ABrokenFileKeepsThePreviousKeys) {
  std::ofstream(keys_dir_.path() / "api_keys") << "billing:short\n";

  absl::StatusOr<size_t> reloaded = server_.app().ReloadApiKeys();

  ASSERT_FALSE(reloaded.ok());
  EXPECT_THAT(reloaded.status().message(),
              HasSubstr("api_keys:1: key of billing"));
  EXPECT_TRUE(Notify(absl::StrCat("Bearer ", kBillingKey)).ok());
  std::filesystem::remove(keys_dir_.path() / "api_keys");
  EXPECT_FALSE(server_.app().ReloadApiKeys().ok());
  EXPECT_TRUE(Notify(absl::StrCat("Bearer ", kShippingKey)).ok());
}

TEST(ApiKeyReloadTest, WithoutAKeysFileThereIsNothingToReload) {
  testing::TestServer server;
  absl::StatusOr<size_t> reloaded = server.app().ReloadApiKeys();
  EXPECT_EQ(reloaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(testing::NotifyUser(server.stub(), "alice", "still open").ok());
}

TEST_F(ApiKeyServiceTest, HealthNeedsNoKey) {
  // grpc.health.v1.Health/Check with an empty request (the server as a
  // whole) through the generic stub: no generated health code is needed.
  grpc::GenericStub stub(server_.channel());
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  grpc::Slice empty{std::string()};
  grpc::ByteBuffer request(&empty, 1);
  auto call = stub.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check",
                                    request, &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  EXPECT_TRUE(status.ok()) << status.error_code() << " "
                           << status.error_message();
}

}  // namespace
}  // namespace notifyd
