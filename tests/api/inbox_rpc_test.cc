// The inbox's gRPC side as a client sees it (docs/DESIGN.md, The inbox): a
// real server on 127.0.0.1 port 0 and the generated stub (inbox_rpc_test.h).
// MarkRead, MarkSeen, SetArchived and GetCounts, the listing's filters and
// pages, and what each refuses. Deletes, collapse keys and expiry:
// inbox_lifecycle_rpc_test.cc.
#include "tests/api/inbox_rpc_test.h"

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
using ::testing::IsEmpty;
using ::testing::StartsWith;

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

}  // namespace
}  // namespace notifyd
