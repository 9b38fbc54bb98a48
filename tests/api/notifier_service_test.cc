// The Notifier API as a client sees it: a real server on 127.0.0.1 port 0
// and the generated stub.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/server/test_server.h"

namespace notifyd {
namespace {

namespace pb = ::notify::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

class NotifierTest : public ::testing::Test {
 protected:
  pb::NotifyUserResponse Notify(const std::string& user,
                                const std::string& data,
                                const std::string& key = "") {
    pb::NotifyUserResponse response;
    grpc::Status status =
        testing::NotifyUser(server_.stub(), user, data, &response, "", key);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  std::vector<uint64_t> ListIds(pb::ListNotificationsRequest request) {
    pb::ListNotificationsResponse response;
    grpc::ClientContext context;
    grpc::Status status =
        server_.stub().ListNotifications(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<uint64_t> ids;
    for (const auto& n : response.notifications()) ids.push_back(n.id());
    return ids;
  }

  uint64_t StoredCount() { return testing::StoredCount(server_.stub()); }

  testing::TestServer server_;
};

TEST_F(NotifierTest, NotifyUserStoresOnTheUserChannelWithDefaults) {
  pb::NotifyUserResponse r = Notify("alice", "{\"text\":\"hi\"}");
  EXPECT_GT(r.notification().id(), 0u);
  EXPECT_EQ(r.notification().channel(), "user:alice");
  EXPECT_EQ(r.notification().event(), "notification");
  EXPECT_EQ(r.notification().data(), "{\"text\":\"hi\"}");
  EXPECT_FALSE(r.notification().read());
  EXPECT_GT(r.notification().created_at().seconds(), 1700000000);
  EXPECT_FALSE(r.duplicate());
  EXPECT_EQ(r.live_recipients(), 0u);
}

TEST_F(NotifierTest, PublishStoresOnANamedChannelWithItsEvent) {
  pb::PublishRequest request;
  request.set_channel("news/sports");
  request.set_event("score.update");
  request.set_data("line one\nline two");
  pb::PublishResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(server_.stub().Publish(&context, request, &response).ok());
  EXPECT_EQ(response.notification().channel(), "news/sports");
  EXPECT_EQ(response.notification().event(), "score.update");
  EXPECT_EQ(response.notification().data(), "line one\nline two");

  pb::ListNotificationsRequest list;
  list.set_channel("news/sports");
  EXPECT_THAT(ListIds(list), ElementsAre(response.notification().id()));
}

TEST_F(NotifierTest, IdsIncreaseAndHistoryIsNewestFirst) {
  uint64_t a = Notify("bob", "1").notification().id();
  uint64_t b = Notify("bob", "2").notification().id();
  uint64_t c = Notify("bob", "3").notification().id();
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  pb::ListNotificationsRequest list;
  list.set_user_id("bob");
  EXPECT_THAT(ListIds(list), ElementsAre(c, b, a));
}

TEST_F(NotifierTest, HistoryPagesByBeforeIdWithoutGapOrRepeat) {
  std::vector<uint64_t> sent;
  for (int i = 0; i < 7; ++i)
    sent.push_back(Notify("pager", "x").notification().id());
  std::vector<uint64_t> seen;
  uint64_t before = 0;
  for (;;) {
    pb::ListNotificationsRequest list;
    list.set_user_id("pager");
    list.set_limit(3);
    list.set_before_id(before);
    pb::ListNotificationsResponse page;
    grpc::ClientContext context;
    ASSERT_TRUE(server_.stub().ListNotifications(&context, list, &page).ok());
    for (const auto& n : page.notifications()) seen.push_back(n.id());
    if (page.next_before_id() == 0) break;
    before = page.next_before_id();
  }
  std::vector<uint64_t> expected(sent.rbegin(), sent.rend());
  EXPECT_EQ(seen, expected);
}

TEST_F(NotifierTest,
       DuplicateIdempotencyKeyReturnsTheOriginalAndStoresNothing) {
  pb::NotifyUserResponse first = Notify("carol", "once", "order-17");
  pb::NotifyUserResponse again = Notify("carol", "twice", "order-17");
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.notification().id(), first.notification().id());
  EXPECT_EQ(again.notification().data(), "once");
  EXPECT_EQ(again.live_recipients(), 0u);
  pb::ListNotificationsRequest list;
  list.set_user_id("carol");
  EXPECT_THAT(ListIds(list), SizeIs(1));
  // The same key on another channel is a different notification.
  EXPECT_FALSE(Notify("dave", "other", "order-17").duplicate());
}

TEST_F(NotifierTest, MarkReadAndUnreadCount) {
  uint64_t a = Notify("erin", "a").notification().id();
  uint64_t b = Notify("erin", "b").notification().id();
  uint64_t c = Notify("erin", "c").notification().id();
  uint64_t other = Notify("frank", "f").notification().id();

  auto unread = [&](const std::string& user) {
    pb::GetUnreadCountRequest request;
    request.set_user_id(user);
    pb::GetUnreadCountResponse response;
    grpc::ClientContext context;
    EXPECT_TRUE(
        server_.stub().GetUnreadCount(&context, request, &response).ok());
    return response.unread();
  };
  auto mark = [&](std::vector<uint64_t> ids, uint64_t up_to) {
    pb::MarkReadRequest request;
    request.set_user_id("erin");
    for (uint64_t id : ids) request.add_ids(id);
    request.set_up_to_id(up_to);
    pb::MarkReadResponse response;
    grpc::ClientContext context;
    EXPECT_TRUE(server_.stub().MarkRead(&context, request, &response).ok());
    return response.changed();
  };
  EXPECT_EQ(unread("erin"), 3u);
  // Another user's id is ignored; a repeated id changes once.
  EXPECT_EQ(mark({a, other}, 0), 1u);
  EXPECT_EQ(mark({a}, 0), 0u);
  EXPECT_EQ(unread("erin"), 2u);
  EXPECT_EQ(unread("frank"), 1u);

  pb::ListNotificationsRequest list;
  list.set_user_id("erin");
  list.set_unread_only(true);
  EXPECT_THAT(ListIds(list), ElementsAre(c, b));

  EXPECT_EQ(mark({}, b), 1u);
  EXPECT_EQ(unread("erin"), 1u);
}

TEST_F(NotifierTest, StatsCountWhatWasStored) {
  Notify("gina", "1");
  Notify("gina", "2");
  pb::GetStatsResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(
      server_.stub().GetStats(&context, pb::GetStatsRequest(), &response).ok());
  EXPECT_EQ(response.stored_notifications(), 2u);
  EXPECT_EQ(response.published_total(), 2u);
  EXPECT_GT(response.store_bytes(), 0u);
  EXPECT_EQ(response.live_connections(), 0u);
}

TEST_F(NotifierTest, IssueTokenIsUnimplementedWithoutATokenKey) {
  pb::IssueTokenRequest request;
  request.set_user_id("alice");
  pb::IssueTokenResponse response;
  grpc::ClientContext context;
  grpc::Status status = server_.stub().IssueToken(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(status.error_message(), HasSubstr("--token_key_file"));
}

// Every validation rule (docs/DESIGN.md, Names and validation): the status, the
// field named, and nothing stored.
struct BadNotify {
  std::string name;
  std::string user_id, event, data, key;
  std::string field;
};

void PrintTo(const BadNotify& bad, std::ostream* os) { *os << bad.name; }

class NotifyUserValidationTest
    : public NotifierTest,
      public ::testing::WithParamInterface<BadNotify> {};

TEST_P(NotifyUserValidationTest, IsRejectedNamingTheFieldAndStoresNothing) {
  const BadNotify& bad = GetParam();
  pb::NotifyUserRequest request;
  request.set_user_id(bad.user_id);
  request.set_event(bad.event);
  request.set_data(bad.data);
  request.set_idempotency_key(bad.key);
  pb::NotifyUserResponse response;
  grpc::ClientContext context;
  grpc::Status status = server_.stub().NotifyUser(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr(bad.field));
  EXPECT_EQ(StoredCount(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    SpecRules, NotifyUserValidationTest,
    ::testing::Values(
        BadNotify{"EmptyUser", "", "", "d", "", "user_id"},
        BadNotify{"LongUser", std::string(129, 'u'), "", "d", "", "user_id"},
        BadNotify{"UserWithSpace", "a b", "", "d", "", "user_id"},
        BadNotify{"UserWithSlash", "a/b", "", "d", "", "user_id"},
        BadNotify{"UserWithNewline", "a\nb", "", "d", "", "user_id"},
        BadNotify{"UserWithUtf8", "j\xc3\xa9r\xc3\xb4me", "", "d", "",
                  "user_id"},
        BadNotify{"LongEvent", "u", std::string(65, 'e'), "d", "", "event"},
        BadNotify{"EventWithColon", "u", "a:b", "d", "", "event"},
        BadNotify{"EventWithNewline", "u", "a\nevent: x", "d", "", "event"},
        BadNotify{"EventWithSpace", "u", "a b", "d", "", "event"},
        BadNotify{"DataOverLimit", "u", "", std::string(64 * 1024 + 1, 'd'), "",
                  "data"},
        BadNotify{"LongKey", "u", "", "d", std::string(129, 'k'),
                  "idempotency_key"}),
    [](const auto& info) { return info.param.name; });

struct BadPublish {
  std::string name;
  std::string channel, event;
  std::string field;
};

void PrintTo(const BadPublish& bad, std::ostream* os) { *os << bad.name; }

class PublishValidationTest : public NotifierTest,
                              public ::testing::WithParamInterface<BadPublish> {
};

TEST_P(PublishValidationTest, IsRejectedNamingTheFieldAndStoresNothing) {
  const BadPublish& bad = GetParam();
  pb::PublishRequest request;
  request.set_channel(bad.channel);
  request.set_event(bad.event);
  request.set_data("d");
  pb::PublishResponse response;
  grpc::ClientContext context;
  grpc::Status status = server_.stub().Publish(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr(bad.field));
  EXPECT_EQ(StoredCount(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    SpecRules, PublishValidationTest,
    ::testing::Values(
        BadPublish{"EmptyChannel", "", "", "channel"},
        BadPublish{"LongChannel", std::string(201, 'c'), "", "channel"},
        BadPublish{"ChannelWithComma", "a,b", "", "channel"},
        BadPublish{"ChannelWithSpace", "a b", "", "channel"},
        BadPublish{"ReservedUserPrefix", "user:alice", "", "channel"},
        BadPublish{"BadEvent", "news", "bad event", "event"}),
    [](const auto& info) { return info.param.name; });

TEST_F(NotifierTest, LimitsAtTheEdgeOfTheRulesAreAccepted) {
  pb::NotifyUserRequest request;
  request.set_user_id(std::string(128, 'u'));
  request.set_event(std::string(64, 'e'));
  request.set_data(std::string(64 * 1024, 'd'));
  request.set_idempotency_key(std::string(128, 'k'));
  pb::NotifyUserResponse response;
  grpc::ClientContext context;
  EXPECT_TRUE(server_.stub().NotifyUser(&context, request, &response).ok());

  pb::PublishRequest publish;
  publish.set_channel(std::string(200, 'c'));
  publish.set_data("");
  pb::PublishResponse published;
  grpc::ClientContext context2;
  EXPECT_TRUE(server_.stub().Publish(&context2, publish, &published).ok());
}

TEST_F(NotifierTest, AnOversizedMessageIsRefusedByTransportAndStoresNothing) {
  pb::NotifyUserRequest request;
  request.set_user_id("u");
  request.set_data(std::string(4 << 20, 'd'));
  pb::NotifyUserResponse response;
  grpc::ClientContext context;
  grpc::Status status = server_.stub().NotifyUser(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(StoredCount(), 0u);
}

TEST_F(NotifierTest, ListNeedsATargetAndABoundedLimit) {
  pb::ListNotificationsRequest none;
  pb::ListNotificationsResponse response;
  grpc::ClientContext c1;
  grpc::Status s1 = server_.stub().ListNotifications(&c1, none, &response);
  EXPECT_EQ(s1.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s1.error_message(), HasSubstr("target"));

  pb::ListNotificationsRequest big;
  big.set_user_id("u");
  big.set_limit(501);
  grpc::ClientContext c2;
  grpc::Status s2 = server_.stub().ListNotifications(&c2, big, &response);
  EXPECT_EQ(s2.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s2.error_message(), HasSubstr("limit"));
}

TEST_F(NotifierTest, MarkReadRejectsTooManyIdsAndEmptyRequests) {
  pb::MarkReadRequest request;
  request.set_user_id("u");
  pb::MarkReadResponse response;
  grpc::ClientContext c1;
  EXPECT_EQ(server_.stub().MarkRead(&c1, request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  for (int i = 0; i < 1001; ++i) request.add_ids(i + 1);
  grpc::ClientContext c2;
  grpc::Status s = server_.stub().MarkRead(&c2, request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("ids"));
}

}  // namespace
}  // namespace notifyd
