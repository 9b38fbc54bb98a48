// What the inbox's gRPC calls do to a user's open SSE streams
// (docs/DESIGN.md, The inbox): a state change, a delete and a collapse made
// over gRPC reach every stream of the user as `state` and `deleted` events,
// in id order, through the bus; NotifyUsers reaches each user's streams.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

#include "tests/edge/sse_client.h"
#include "tests/server/test_server.h"

namespace notifyd {
namespace {

namespace pb = ::notify::v1;
using edge::testing::SseClient;
using edge::testing::SseMessage;
using ::testing::HasSubstr;

// The next event that is not `counts` (an inbox's entries each come with
// one, which SseClient may already skip).
std::optional<SseMessage> NextEntry(SseClient& stream) {
  for (;;) {
    std::optional<SseMessage> got = stream.NextEvent();
    if (!got.has_value() || got->event != "counts") return got;
  }
}

server::AppOptions DevOptions() {
  server::AppOptions options;
  options.edge.insecure_dev_identity = true;
  return options;
}

class InboxGrpcStreamTest : public ::testing::Test {
 protected:
  InboxGrpcStreamTest() : server_(DevOptions()) {}

  uint16_t http_port() { return server_.app().http_port(); }

  pb::NotifyUserResponse Notify(const std::string& user,
                                const std::string& data,
                                const std::string& collapse_key = "") {
    pb::NotifyUserRequest request;
    request.set_user_id(user);
    request.set_data(data);
    request.set_collapse_key(collapse_key);
    pb::NotifyUserResponse response;
    grpc::ClientContext context;
    grpc::Status status =
        server_.stub().NotifyUser(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  testing::TestServer server_;
};

TEST_F(InboxGrpcStreamTest, MarkReadReachesEveryStreamOfTheUserAsAState) {
  SseClient tab1, tab2;
  ASSERT_EQ(tab1.Open(http_port(), "/v1/stream?user=sam"), 200);
  ASSERT_EQ(tab2.Open(http_port(), "/v1/stream?user=sam"), 200);
  ASSERT_TRUE(testing::WaitForLiveStreams(server_.stub(), 2));
  const uint64_t id = Notify("sam", "hello").notification().id();

  pb::MarkReadRequest request;
  request.set_user_id("sam");
  request.add_ids(id);
  pb::MarkReadResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(server_.stub().MarkRead(&context, request, &response).ok());
  ASSERT_EQ(response.changed(), 1u);
  EXPECT_EQ(response.counts().unread(), 0u);

  for (SseClient* tab : {&tab1, &tab2}) {
    std::optional<SseMessage> notification = NextEntry(*tab);
    ASSERT_TRUE(notification.has_value());
    EXPECT_EQ(notification->id, std::to_string(id));
    std::optional<SseMessage> state = NextEntry(*tab);
    ASSERT_TRUE(state.has_value());
    EXPECT_EQ(state->event, "state");
    EXPECT_EQ(state->id, std::to_string(id + 1));
    EXPECT_THAT(state->data, HasSubstr(std::to_string(id)));
    EXPECT_THAT(state->data, HasSubstr("\"read\":true"));
  }
}

TEST_F(InboxGrpcStreamTest, CollapseAndDeleteReachTheStreamAsDeletions) {
  SseClient tab;
  ASSERT_EQ(tab.Open(http_port(), "/v1/stream?user=cy"), 200);
  ASSERT_TRUE(testing::WaitForLiveStreams(server_.stub(), 1));
  const uint64_t first = Notify("cy", "running", "build-1").notification().id();
  pb::NotifyUserResponse second = Notify("cy", "passed", "build-1");

  // The replaced notification's deletion record comes first, in id order.
  std::optional<SseMessage> got = NextEntry(tab);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, std::to_string(first));
  got = NextEntry(tab);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->event, "deleted");
  EXPECT_EQ(got->data, "{\"ids\":[" + std::to_string(first) + "]}");
  got = NextEntry(tab);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, std::to_string(second.notification().id()));
  EXPECT_EQ(got->data, "passed");

  pb::DeleteNotificationsRequest remove;
  remove.set_user_id("cy");
  remove.add_ids(second.notification().id());
  pb::DeleteNotificationsResponse removed;
  grpc::ClientContext context;
  ASSERT_TRUE(
      server_.stub().DeleteNotifications(&context, remove, &removed).ok());
  EXPECT_EQ(removed.deleted(), 1u);
  EXPECT_EQ(removed.counts().unread(), 0u);
  got = NextEntry(tab);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->event, "deleted");
  EXPECT_EQ(got->data,
            "{\"ids\":[" + std::to_string(second.notification().id()) + "]}");
}

TEST_F(InboxGrpcStreamTest, NotifyUsersReachesEachUsersStreamsAfterTheCommit) {
  SseClient ann, bo1, bo2;
  ASSERT_EQ(ann.Open(http_port(), "/v1/stream?user=ann"), 200);
  ASSERT_EQ(bo1.Open(http_port(), "/v1/stream?user=bo"), 200);
  ASSERT_EQ(bo2.Open(http_port(), "/v1/stream?user=bo"), 200);
  ASSERT_TRUE(testing::WaitForLiveStreams(server_.stub(), 3));

  pb::NotifyUsersRequest request;
  for (const char* user : {"ann", "bo", "cy"}) request.add_user_ids(user);
  request.set_event("maintenance");
  request.set_data("tonight 22:00");
  pb::NotifyUsersResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(server_.stub().NotifyUsers(&context, request, &response).ok());
  // cy has no stream: stored for later, counted nowhere live.
  EXPECT_EQ(response.live_recipients(), 3u);
  const std::pair<SseClient*, int> tabs[] = {{&ann, 0}, {&bo1, 1}, {&bo2, 1}};
  for (auto [tab, index] : tabs) {
    std::optional<SseMessage> got = NextEntry(*tab);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->id, std::to_string(response.deliveries(index).id()));
    EXPECT_EQ(got->event, "maintenance");
    EXPECT_EQ(got->data, "tonight 22:00");
    // Each stream gets only its own user's row.
    EXPECT_FALSE(tab->NextEvent(std::chrono::milliseconds(200)).has_value());
  }
}

}  // namespace
}  // namespace notifyd
