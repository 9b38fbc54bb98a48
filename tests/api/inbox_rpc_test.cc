// The inbox's gRPC side as a client sees it (docs/DESIGN.md, The inbox): a
// real server on 127.0.0.1 port 0 and the generated stub. MarkRead,
// MarkSeen, SetArchived, GetCounts, DeleteNotifications, the listing's
// filters, expires_at and collapse_key on NotifyUser/Publish, and what each
// refuses.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/server/test_server.h"

namespace notifyd {
namespace {

namespace pb = ::notify::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  out->set_seconds(absl::ToUnixSeconds(t));
  out->set_nanos(0);
}

class InboxRpcTest : public ::testing::Test {
 protected:
  explicit InboxRpcTest(server::AppOptions options = {})
      : server_(std::move(options)) {}

  pb::Notifier::Stub& stub() { return server_.stub(); }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(30));
    return context;
  }

  grpc::Status Send(const pb::NotifyUserRequest& request,
                    pb::NotifyUserResponse* response) {
    return stub().NotifyUser(Context().get(), request, response);
  }

  uint64_t Notify(const std::string& user, const std::string& data) {
    pb::NotifyUserRequest request;
    request.set_user_id(user);
    request.set_data(data);
    pb::NotifyUserResponse response;
    grpc::Status status = Send(request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.notification().id();
  }

  pb::GetCountsResponse Counts(const std::string& user) {
    pb::GetCountsRequest request;
    request.set_user_id(user);
    pb::GetCountsResponse response;
    grpc::Status status = stub().GetCounts(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  pb::ListNotificationsResponse List(const std::string& user,
                                     pb::Filter filter = pb::FILTER_INBOX,
                                     uint32_t limit = 0,
                                     uint64_t before_id = 0) {
    pb::ListNotificationsRequest request;
    request.set_user_id(user);
    request.set_filter(filter);
    request.set_limit(limit);
    request.set_before_id(before_id);
    pb::ListNotificationsResponse response;
    grpc::Status status =
        stub().ListNotifications(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  std::vector<uint64_t> ListIds(const std::string& user,
                                pb::Filter filter = pb::FILTER_INBOX) {
    std::vector<uint64_t> ids;
    const pb::ListNotificationsResponse page = List(user, filter);
    for (const auto& n : page.notifications()) {
      ids.push_back(n.id());
    }
    return ids;
  }

  uint64_t StoredCount() { return testing::StoredCount(stub()); }

  testing::TestServer server_;
};

TEST_F(InboxRpcTest, MarkSeenReadAndUnreadChangeStateAndCounts) {
  uint64_t a = Notify("ann", "a");
  uint64_t b = Notify("ann", "b");
  uint64_t c = Notify("ann", "c");
  EXPECT_EQ(Counts("ann").unread(), 3u);
  EXPECT_EQ(Counts("ann").unseen(), 3u);

  pb::MarkSeenRequest seen;
  seen.set_user_id("ann");
  seen.add_ids(a);
  seen.add_ids(b);
  pb::MarkSeenResponse seen_response;
  ASSERT_TRUE(stub().MarkSeen(Context().get(), seen, &seen_response).ok());
  EXPECT_EQ(seen_response.changed(), 2u);
  EXPECT_EQ(seen_response.counts().unseen(), 1u);
  EXPECT_EQ(seen_response.counts().unread(), 3u);
  EXPECT_THAT(ListIds("ann", pb::FILTER_UNSEEN), ElementsAre(c));

  pb::MarkReadRequest read;
  read.set_user_id("ann");
  read.set_up_to_id(c);
  pb::MarkReadResponse read_response;
  ASSERT_TRUE(stub().MarkRead(Context().get(), read, &read_response).ok());
  EXPECT_EQ(read_response.changed(), 3u);
  EXPECT_EQ(read_response.counts().unread(), 0u);
  EXPECT_EQ(read_response.counts().unseen(), 0u);  // read implies seen
  EXPECT_THAT(ListIds("ann", pb::FILTER_UNREAD), IsEmpty());

  pb::MarkReadRequest unread;
  unread.set_user_id("ann");
  unread.add_ids(b);
  unread.set_unread(true);
  ASSERT_TRUE(stub().MarkRead(Context().get(), unread, &read_response).ok());
  EXPECT_EQ(read_response.changed(), 1u);
  EXPECT_EQ(read_response.counts().unread(), 1u);
  EXPECT_EQ(read_response.counts().unseen(), 0u);  // stays seen

  pb::ListNotificationsResponse all = List("ann");
  ASSERT_EQ(all.notifications_size(), 3);
  const pb::Notification& nb = all.notifications(1);
  EXPECT_EQ(nb.id(), b);
  EXPECT_FALSE(nb.read());
  EXPECT_FALSE(nb.has_read_at());
  EXPECT_TRUE(nb.seen());
  EXPECT_GT(nb.seen_at().seconds(), 1700000000);
  EXPECT_TRUE(all.notifications(0).read());
  EXPECT_TRUE(all.notifications(0).has_read_at());
  EXPECT_FALSE(all.notifications(0).archived());
}

TEST_F(InboxRpcTest, ArchiveLeavesTheInboxAndTheUnreadCount) {
  uint64_t a = Notify("arch", "a");
  uint64_t b = Notify("arch", "b");
  pb::SetArchivedRequest archive;
  archive.set_user_id("arch");
  archive.add_ids(a);
  archive.set_archived(true);
  pb::SetArchivedResponse response;
  ASSERT_TRUE(stub().SetArchived(Context().get(), archive, &response).ok());
  EXPECT_EQ(response.changed(), 1u);
  EXPECT_EQ(response.counts().unread(), 1u);
  EXPECT_THAT(ListIds("arch"), ElementsAre(b));
  EXPECT_THAT(ListIds("arch", pb::FILTER_ARCHIVED), ElementsAre(a));
  pb::ListNotificationsResponse archived = List("arch", pb::FILTER_ARCHIVED);
  EXPECT_TRUE(archived.notifications(0).archived());
  EXPECT_TRUE(archived.notifications(0).has_archived_at());

  archive.set_archived(false);
  ASSERT_TRUE(stub().SetArchived(Context().get(), archive, &response).ok());
  EXPECT_EQ(response.changed(), 1u);
  EXPECT_EQ(response.counts().unread(), 2u);
  EXPECT_THAT(ListIds("arch"), ElementsAre(b, a));
}

TEST_F(InboxRpcTest, IdsOfOtherUsersChangeNothingAndAnswerLikeUnknownIds) {
  uint64_t mine = Notify("owner", "mine");
  uint64_t theirs = Notify("other", "theirs");
  const uint64_t unknown = theirs + 1000;
  auto mark = [&](uint64_t id) {
    pb::MarkReadRequest request;
    request.set_user_id("owner");
    request.add_ids(id);
    pb::MarkReadResponse response;
    grpc::Status status = stub().MarkRead(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.SerializeAsString();
  };
  // The same bytes for another user's id as for an id nobody has.
  EXPECT_EQ(mark(theirs), mark(unknown));
  EXPECT_EQ(Counts("other").unread(), 1u);
  pb::ListNotificationsResponse others = List("other");
  ASSERT_EQ(others.notifications_size(), 1);
  EXPECT_FALSE(others.notifications(0).read());

  pb::DeleteNotificationsRequest remove;
  remove.set_user_id("owner");
  remove.add_ids(theirs);
  pb::DeleteNotificationsResponse removed;
  ASSERT_TRUE(
      stub().DeleteNotifications(Context().get(), remove, &removed).ok());
  EXPECT_EQ(removed.deleted(), 0u);
  pb::DeleteNotificationsRequest unknown_remove = remove;
  unknown_remove.set_ids(0, unknown);
  pb::DeleteNotificationsResponse unknown_removed;
  ASSERT_TRUE(stub()
                  .DeleteNotifications(Context().get(), unknown_remove,
                                       &unknown_removed)
                  .ok());
  EXPECT_EQ(removed.SerializeAsString(), unknown_removed.SerializeAsString());
  EXPECT_THAT(ListIds("other"), ElementsAre(theirs));
  EXPECT_THAT(ListIds("owner"), ElementsAre(mine));
}

TEST_F(InboxRpcTest, OverLimitIdListsAreRefusedAndChangeNothing) {
  uint64_t a = Notify("many", "a");
  pb::MarkReadRequest read;
  read.set_user_id("many");
  for (int i = 0; i < 1001; ++i) read.add_ids(a);
  pb::MarkReadResponse read_response;
  grpc::Status status = stub().MarkRead(Context().get(), read, &read_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("ids has 1001 entries"));

  pb::MarkSeenRequest seen;
  seen.set_user_id("many");
  *seen.mutable_ids() = read.ids();
  pb::MarkSeenResponse seen_response;
  EXPECT_EQ(stub().MarkSeen(Context().get(), seen, &seen_response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  pb::DeleteNotificationsRequest remove;
  remove.set_user_id("many");
  *remove.mutable_ids() = read.ids();
  pb::DeleteNotificationsResponse removed;
  status = stub().DeleteNotifications(Context().get(), remove, &removed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("ids has 1001 entries"));

  // No ids and no up_to_id / collapse key.
  pb::SetArchivedRequest empty;
  empty.set_user_id("many");
  pb::SetArchivedResponse archived;
  EXPECT_EQ(stub().SetArchived(Context().get(), empty, &archived).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  pb::DeleteNotificationsRequest no_target;
  no_target.add_ids(a);
  status = stub().DeleteNotifications(Context().get(), no_target, &removed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("target"));

  EXPECT_EQ(Counts("many").unread(), 1u);
  EXPECT_EQ(Counts("many").unseen(), 1u);
  EXPECT_THAT(ListIds("many"), ElementsAre(a));
}

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

TEST_F(InboxRpcTest, ReservedEventNamesAreRefusedOnEveryChannel) {
  for (const char* event : {"state", "deleted", "counts", "reset"}) {
    pb::NotifyUserRequest request;
    request.set_user_id("res");
    request.set_event(event);
    pb::NotifyUserResponse response;
    grpc::Status status = Send(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), StartsWith("event"));
    EXPECT_THAT(status.error_message(), HasSubstr("reserved"));

    pb::PublishRequest publish;
    publish.set_channel("news");
    publish.set_event(event);
    pb::PublishResponse published;
    status = stub().Publish(Context().get(), publish, &published);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("reserved"));
  }
  EXPECT_EQ(StoredCount(), 0u);
}

TEST_F(InboxRpcTest, NextBeforeIdIsZeroWhenTheLastPageIsExactlyFull) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(Notify("pages", "x"));
  pb::ListNotificationsResponse first = List("pages", pb::FILTER_INBOX, 2);
  ASSERT_EQ(first.notifications_size(), 2);
  EXPECT_EQ(first.next_before_id(), ids[2]);
  pb::ListNotificationsResponse last =
      List("pages", pb::FILTER_INBOX, 2, first.next_before_id());
  ASSERT_EQ(last.notifications_size(), 2);
  EXPECT_EQ(last.notifications(1).id(), ids[0]);
  EXPECT_EQ(last.next_before_id(), 0u);
  // The whole history in one exactly full page.
  EXPECT_EQ(List("pages", pb::FILTER_INBOX, 4).next_before_id(), 0u);
}

TEST_F(InboxRpcTest, UnreadOnlyConflictsWithAnotherFilter) {
  pb::ListNotificationsRequest request;
  request.set_user_id("f");
  request.set_unread_only(true);
  request.set_filter(pb::FILTER_ARCHIVED);
  pb::ListNotificationsResponse response;
  grpc::Status status =
      stub().ListNotifications(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("unread_only"));
  request.set_unread_only(false);
  request.set_filter(static_cast<pb::Filter>(9));
  status = stub().ListNotifications(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("filter"));
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
