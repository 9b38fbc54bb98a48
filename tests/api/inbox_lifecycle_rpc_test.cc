// The inbox's lifecycle over gRPC (docs/DESIGN.md, The inbox;
// inbox_rpc_test.h): DeleteNotifications by ids and by collapse key,
// collapse_key and expires_at on NotifyUser/Publish, and what they refuse,
// expiry past the retention included.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/api/inbox_rpc_test.h"
#include "tests/server/test_server.h"

namespace notifyd {
namespace {

namespace pb = ::notify::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

TEST_F(InboxRpcTest, DeleteByIdsAndByCollapseKey) {
  uint64_t a = Notify("del", "a");
  pb::NotifyUserRequest keyed;
  keyed.set_user_id("del");
  keyed.set_data("keyed");
  keyed.set_collapse_key("build-42");
  pb::NotifyUserResponse keyed_response;
  ASSERT_TRUE(Send(keyed, &keyed_response).ok());
  uint64_t c = Notify("del", "c");

  pb::DeleteNotificationsRequest by_id;
  by_id.set_user_id("del");
  by_id.add_ids(a);
  pb::DeleteNotificationsResponse response;
  ASSERT_TRUE(
      stub().DeleteNotifications(Context().get(), by_id, &response).ok());
  EXPECT_EQ(response.deleted(), 1u);
  EXPECT_EQ(response.counts().unread(), 2u);

  pb::DeleteNotificationsRequest by_key;
  by_key.set_user_id("del");
  by_key.set_collapse_key("build-42");
  ASSERT_TRUE(
      stub().DeleteNotifications(Context().get(), by_key, &response).ok());
  EXPECT_EQ(response.deleted(), 1u);
  EXPECT_EQ(response.counts().unread(), 1u);
  EXPECT_THAT(ListIds("del"), ElementsAre(c));
  EXPECT_EQ(Counts("del").unseen(), 1u);

  // A named channel: no counts.
  pb::PublishRequest publish;
  publish.set_channel("news");
  publish.set_data("n");
  pb::PublishResponse published;
  ASSERT_TRUE(stub().Publish(Context().get(), publish, &published).ok());
  pb::DeleteNotificationsRequest channel;
  channel.set_channel("news");
  channel.add_ids(published.notification().id());
  ASSERT_TRUE(
      stub().DeleteNotifications(Context().get(), channel, &response).ok());
  EXPECT_EQ(response.deleted(), 1u);
  EXPECT_FALSE(response.has_counts());
}

TEST_F(InboxRpcTest, CollapseKeyReplacesTheOlderNotification) {
  pb::NotifyUserRequest request;
  request.set_user_id("ci");
  request.set_data("build 42 running");
  request.set_collapse_key("build-42");
  pb::NotifyUserResponse first;
  ASSERT_TRUE(Send(request, &first).ok());
  EXPECT_THAT(first.replaced_ids(), IsEmpty());
  EXPECT_EQ(first.notification().collapse_key(), "build-42");
  EXPECT_EQ(first.counts().unread(), 1u);

  request.set_data("build 42 passed");
  pb::NotifyUserResponse second;
  ASSERT_TRUE(Send(request, &second).ok());
  EXPECT_THAT(second.replaced_ids(), ElementsAre(first.notification().id()));
  EXPECT_EQ(second.counts().unread(), 1u);
  EXPECT_EQ(second.counts().unseen(), 1u);

  pb::ListNotificationsResponse list = List("ci");
  ASSERT_EQ(list.notifications_size(), 1);
  EXPECT_EQ(list.notifications(0).id(), second.notification().id());
  EXPECT_EQ(list.notifications(0).data(), "build 42 passed");
  EXPECT_EQ(list.notifications(0).collapse_key(), "build-42");
}

TEST_F(InboxRpcTest, ExpiresAtIsStoredAndListed) {
  const absl::Time at = absl::Now() + absl::Hours(1);
  pb::NotifyUserRequest request;
  request.set_user_id("exp");
  request.set_data("soon gone");
  SetTime(at, request.mutable_expires_at());
  pb::NotifyUserResponse response;
  ASSERT_TRUE(Send(request, &response).ok());
  EXPECT_EQ(response.notification().expires_at().seconds(),
            absl::ToUnixSeconds(at));
  pb::ListNotificationsResponse list = List("exp");
  ASSERT_EQ(list.notifications_size(), 1);
  EXPECT_EQ(list.notifications(0).expires_at().seconds(),
            absl::ToUnixSeconds(at));
}

TEST_F(InboxRpcTest, BadExpiryAndCollapseKeysAreRefusedAndStoreNothing) {
  const uint64_t stored = StoredCount();
  struct Case {
    const char* name;
    std::function<void(pb::NotifyUserRequest*)> set;
    const char* field;
  };
  const std::vector<Case> cases = {
      {"past",
       [](pb::NotifyUserRequest* r) {
         SetTime(absl::Now() - absl::Minutes(1), r->mutable_expires_at());
       },
       "expires_at"},
      {"bad nanos",
       [](pb::NotifyUserRequest* r) {
         SetTime(absl::Now() + absl::Hours(1), r->mutable_expires_at());
         r->mutable_expires_at()->set_nanos(-1);
       },
       "expires_at"},
      {"long key",
       [](pb::NotifyUserRequest* r) {
         r->set_collapse_key(std::string(129, 'k'));
       },
       "collapse_key"},
      {"control char",
       [](pb::NotifyUserRequest* r) { r->set_collapse_key("a\tb"); },
       "collapse_key"},
  };
  for (const Case& c : cases) {
    pb::NotifyUserRequest request;
    request.set_user_id("bad");
    request.set_data("x");
    c.set(&request);
    pb::NotifyUserResponse response;
    grpc::Status status = Send(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.name;
    EXPECT_THAT(status.error_message(), StartsWith(c.field)) << c.name;
  }
  // Publish refuses the same.
  pb::PublishRequest publish;
  publish.set_channel("news");
  publish.set_collapse_key(std::string(129, 'k'));
  pb::PublishResponse published;
  grpc::Status status = stub().Publish(Context().get(), publish, &published);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("collapse_key"));

  EXPECT_EQ(StoredCount(), stored);
  EXPECT_EQ(Counts("bad").unread(), 0u);
}

server::AppOptions WithRetention() {
  server::AppOptions options;
  options.retention = absl::Hours(24);
  return options;
}

class RetentionTest : public InboxRpcTest {
 protected:
  RetentionTest() : InboxRpcTest(WithRetention()) {}
};

TEST_F(RetentionTest, ExpiryMustLieWithinRetention) {
  pb::NotifyUserRequest request;
  request.set_user_id("ret");
  request.set_data("x");
  SetTime(absl::Now() + absl::Hours(25), request.mutable_expires_at());
  pb::NotifyUserResponse response;
  grpc::Status status = Send(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("expires_at"));
  EXPECT_THAT(status.error_message(), HasSubstr("retention"));
  EXPECT_EQ(StoredCount(), 0u);

  SetTime(absl::Now() + absl::Hours(23), request.mutable_expires_at());
  EXPECT_TRUE(Send(request, &response).ok());
}

}  // namespace
}  // namespace notifyd
