// The fixture of the inbox's gRPC tests (inbox_rpc_test.cc,
// inbox_lifecycle_rpc_test.cc): a real server on 127.0.0.1 port 0
// (tests/server/test_server.h), the generated stub, and the calls those
// tests make, each with a 30 s deadline.
#ifndef NOTIFYD_TESTS_API_INBOX_RPC_TEST_H_
#define NOTIFYD_TESTS_API_INBOX_RPC_TEST_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "tests/server/test_server.h"

namespace notifyd {

inline void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  out->set_seconds(absl::ToUnixSeconds(t));
  out->set_nanos(0);
}

class InboxRpcTest : public ::testing::Test {
 protected:
  explicit InboxRpcTest(server::AppOptions options = {})
      : server_(std::move(options)) {}

  ::notify::v1::Notifier::Stub& stub() { return server_.stub(); }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(30));
    return context;
  }

  grpc::Status Send(const ::notify::v1::NotifyUserRequest& request,
                    ::notify::v1::NotifyUserResponse* response) {
    return stub().NotifyUser(Context().get(), request, response);
  }

  uint64_t Notify(const std::string& user, const std::string& data) {
    ::notify::v1::NotifyUserRequest request;
    request.set_user_id(user);
    request.set_data(data);
    ::notify::v1::NotifyUserResponse response;
    grpc::Status status = Send(request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.notification().id();
  }

  ::notify::v1::GetCountsResponse Counts(const std::string& user) {
    ::notify::v1::GetCountsRequest request;
    request.set_user_id(user);
    ::notify::v1::GetCountsResponse response;
    grpc::Status status = stub().GetCounts(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  ::notify::v1::ListNotificationsResponse List(
      const std::string& user,
      ::notify::v1::Filter filter = ::notify::v1::FILTER_INBOX,
      uint32_t limit = 0, uint64_t before_id = 0) {
    ::notify::v1::ListNotificationsRequest request;
    request.set_user_id(user);
    request.set_filter(filter);
    request.set_limit(limit);
    request.set_before_id(before_id);
    ::notify::v1::ListNotificationsResponse response;
    grpc::Status status =
        stub().ListNotifications(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  std::vector<uint64_t> ListIds(
      const std::string& user,
      ::notify::v1::Filter filter = ::notify::v1::FILTER_INBOX) {
    std::vector<uint64_t> ids;
    const ::notify::v1::ListNotificationsResponse page = List(user, filter);
    for (const auto& n : page.notifications()) {
      ids.push_back(n.id());
    }
    return ids;
  }

  uint64_t StoredCount() { return testing::StoredCount(stub()); }

  testing::TestServer server_;
};

}  // namespace notifyd

#endif  // NOTIFYD_TESTS_API_INBOX_RPC_TEST_H_
