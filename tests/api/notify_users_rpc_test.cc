// NotifyUsers as a client sees it: one payload into many inboxes in one
// call and one commit, each user's row its own id, idempotency per user,
// the whole request checked before anything is stored. A real server on
// 127.0.0.1 port 0 and the generated stub; live delivery to streams is in
// tests/server/inbox_grpc_stream_test.cc.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/server/test_server.h"

namespace notifyd {
namespace {

namespace pb = ::notify::v1;
using ::testing::HasSubstr;

class NotifyUsersRpcTest : public ::testing::Test {
 protected:
  pb::Notifier::Stub& stub() { return server_.stub(); }

  grpc::Status Send(const pb::NotifyUsersRequest& request,
                    pb::NotifyUsersResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(60));
    return stub().NotifyUsers(&context, request, response);
  }

  static pb::NotifyUsersRequest To(const std::vector<std::string>& users,
                                   const std::string& key = "") {
    pb::NotifyUsersRequest request;
    for (const std::string& u : users) request.add_user_ids(u);
    request.set_data(R"({"title":"Maintenance tonight"})");
    request.set_idempotency_key(key);
    return request;
  }

  // InvalidArgument's message, after checking that nothing was stored.
  std::string Refusal(const pb::NotifyUsersRequest& request) {
    const uint64_t before = testing::StoredCount(stub());
    pb::NotifyUsersResponse response;
    grpc::Status status = Send(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(testing::StoredCount(stub()), before);
    return status.error_message();
  }

  uint64_t Unread(const std::string& user) {
    pb::GetCountsRequest request;
    request.set_user_id(user);
    pb::GetCountsResponse response;
    grpc::ClientContext context;
    EXPECT_TRUE(stub().GetCounts(&context, request, &response).ok());
    return response.unread();
  }

  testing::TestServer server_;
};

TEST_F(NotifyUsersRpcTest, EachUserGetsARowOfTheirOwnInTheOrderGiven) {
  pb::NotifyUsersResponse response;
  grpc::Status status = Send(To({"ann", "bo", "cy"}), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.deliveries_size(), 3);
  EXPECT_EQ(response.stored(), 3u);
  EXPECT_EQ(response.live_recipients(), 0u);
  const char* users[] = {"ann", "bo", "cy"};
  for (int i = 0; i < 3; ++i) {
    const auto& d = response.deliveries(i);
    EXPECT_EQ(d.user_id(), users[i]);
    EXPECT_FALSE(d.duplicate());
    EXPECT_EQ(d.id(), response.deliveries(0).id() + i);
    EXPECT_EQ(Unread(users[i]), 1u);
  }
  // Each is an ordinary notification of that user's inbox.
  pb::ListNotificationsRequest list;
  list.set_user_id("bo");
  pb::ListNotificationsResponse listed;
  grpc::ClientContext context;
  ASSERT_TRUE(stub().ListNotifications(&context, list, &listed).ok());
  ASSERT_EQ(listed.notifications_size(), 1);
  EXPECT_EQ(listed.notifications(0).id(), response.deliveries(1).id());
  EXPECT_EQ(listed.notifications(0).channel(), "user:bo");
  EXPECT_EQ(listed.notifications(0).event(), "notification");
  EXPECT_EQ(listed.notifications(0).data(),
            R"({"title":"Maintenance tonight"})");
}

TEST_F(NotifyUsersRpcTest, TheIdempotencyKeyIsPerUserSoARetryStoresNothing) {
  pb::NotifyUsersResponse first;
  ASSERT_TRUE(Send(To({"ann", "bo"}, "deploy-7"), &first).ok());
  // The same call again (its answer was lost, say): all duplicates.
  pb::NotifyUsersResponse retry;
  ASSERT_TRUE(Send(To({"ann", "bo"}, "deploy-7"), &retry).ok());
  EXPECT_EQ(retry.stored(), 0u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(retry.deliveries(i).duplicate());
    EXPECT_EQ(retry.deliveries(i).id(), first.deliveries(i).id());
  }
  // A wider list with the same key: only the new user gets a row.
  pb::NotifyUsersResponse wider;
  ASSERT_TRUE(Send(To({"bo", "cy"}, "deploy-7"), &wider).ok());
  EXPECT_TRUE(wider.deliveries(0).duplicate());
  EXPECT_FALSE(wider.deliveries(1).duplicate());
  EXPECT_EQ(wider.stored(), 1u);
  EXPECT_EQ(Unread("bo"), 1u);
  EXPECT_EQ(Unread("cy"), 1u);
}

TEST_F(NotifyUsersRpcTest, ABadRequestIsRefusedWholeNamingTheFirstBadEntry) {
  EXPECT_THAT(Refusal(To({})), HasSubstr("user_ids must name at least one"));
  EXPECT_THAT(Refusal(To({"ann", "bo", "no spaces", "cy"})),
              HasSubstr("user_ids[2] has a character outside"));
  EXPECT_THAT(Refusal(To({"ann", "", "cy"})),
              HasSubstr("user_ids[1] is required"));
  EXPECT_EQ(Refusal(To({"ann", "bo", "cy", "bo"})),
            "user_ids[3] repeats user_ids[1] (\"bo\")");
  std::vector<std::string> many;
  for (int i = 0; i <= 10'000; ++i) many.push_back(absl::StrCat("u", i));
  EXPECT_EQ(Refusal(To(many)),
            "user_ids has 10001 entries; at most 10000 are allowed");
  pb::NotifyUsersRequest reserved = To({"ann"});
  reserved.set_event("counts");
  EXPECT_THAT(Refusal(reserved), HasSubstr("event"));
  pb::NotifyUsersRequest past = To({"ann"});
  past.mutable_expires_at()->set_seconds(1);
  EXPECT_THAT(Refusal(past), HasSubstr("expires_at"));
  pb::NotifyUsersRequest big = To({"ann"});
  big.set_data(std::string(64 * 1024 + 1, 'x'));
  EXPECT_THAT(Refusal(big), HasSubstr("data"));
}

// Every user's row carries its own copy of `data`: a call may fan out at
// most --max_fanout_bytes (64 MiB by default), so 1,100 users of a 64 KiB
// payload (72 MB) are refused whole, naming the limit.
TEST_F(NotifyUsersRpcTest, DataTimesUsersIsBoundedByTheFanOutLimit) {
  std::vector<std::string> users;
  for (int i = 0; i < 1'100; ++i) users.push_back(absl::StrCat("u", i));
  pb::NotifyUsersRequest request = To(users);
  request.set_data(std::string(64 * 1024, 'x'));
  EXPECT_EQ(Refusal(request),
            "data: 65536 bytes to 1100 users is 72089600 bytes, over the "
            "67108864 a NotifyUsers call may fan out (--max_fanout_bytes)");
  request.set_data(std::string(61 * 1024, 'x'));  // 68.7 MB: still over
  EXPECT_THAT(Refusal(request), HasSubstr("--max_fanout_bytes"));
  request.set_data(std::string(1024, 'x'));  // 1.1 MB
  pb::NotifyUsersResponse response;
  grpc::Status status = Send(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.stored(), 1'100u);
}

TEST_F(NotifyUsersRpcTest, TenThousandUsersOfTheLongestIdsFitOneCall) {
  // 10,000 ids of 128 bytes: a 1.3 MB request, within the receive limit.
  std::vector<std::string> users;
  for (int i = 0; i < 10'000; ++i) {
    std::string id = absl::StrCat("user-", i, "-");
    id.resize(128, 'x');
    users.push_back(id);
  }
  pb::NotifyUsersResponse response;
  grpc::Status status = Send(To(users, "k"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.stored(), 10'000u);
  EXPECT_EQ(response.deliveries(9'999).id(),
            response.deliveries(0).id() + 9'999);
  EXPECT_EQ(Unread(users[5'000]), 1u);
}

}  // namespace
}  // namespace notifyd
