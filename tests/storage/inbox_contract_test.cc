// The inbox part of the Store contract (storage/store.h, storage/inbox.h):
// per-user state, counts kept as things change, records of changes in the
// stream, deletes, collapse keys and expiry (the counts against a brute-force
// count: inbox_counts_contract_test.cc). Run against every store by
// the binaries that instantiate StoreContractTest (store_contract_test.h).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/inbox.h"
#include "storage/store.h"
#include "tests/storage/store_contract_test.h"

namespace notifyd::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::StoreContractTest;
using testing::StoreSettings;

using Rows = std::vector<std::shared_ptr<const Notification>>;

StateChange Change(std::string channel, std::vector<uint64_t> ids) {
  StateChange change;
  change.channel = std::move(channel);
  change.ids = std::move(ids);
  return change;
}

StateChange Seen(std::string channel, std::vector<uint64_t> ids) {
  StateChange change = Change(std::move(channel), std::move(ids));
  change.seen = true;
  return change;
}

StateChange Read(std::string channel, std::vector<uint64_t> ids, bool read) {
  StateChange change = Change(std::move(channel), std::move(ids));
  change.read = read;
  return change;
}

StateChange Archived(std::string channel, std::vector<uint64_t> ids,
                     bool archived) {
  StateChange change = Change(std::move(channel), std::move(ids));
  change.archived = archived;
  return change;
}

std::vector<uint64_t> ListIds(Store& store, const std::string& channel,
                              ListFilter filter) {
  auto rows = ListSync(store, {channel, 0, 100, filter});
  EXPECT_TRUE(rows.ok()) << rows.status();
  return rows.ok() ? StoreContractTest::Ids(*rows) : std::vector<uint64_t>{};
}

Counts CountsOf(Store& store, const std::string& channel) {
  auto counts = GetCountsSync(store, channel);
  EXPECT_TRUE(counts.ok()) << counts.status();
  return counts.ok() ? *counts : Counts{};
}

// --- Counts and state
// ---------------------------------------------------------

TEST_P(StoreContractTest, InboxNotificationsCarryTheCountsAfterThem) {
  auto store = Open();
  AppendResult first = Append(*store, "user:u");
  AppendResult second = Append(*store, "user:u");
  AppendResult named = Append(*store, "news");

  EXPECT_TRUE(first.notification->has_counts);
  EXPECT_EQ(first.notification->counts, (Counts{1, 1}));
  EXPECT_EQ(second.notification->counts, (Counts{2, 2}));
  EXPECT_FALSE(second.notification->seen());
  EXPECT_FALSE(named.notification->has_counts);
  EXPECT_EQ(CountsOf(*store, "user:u"), (Counts{2, 2}));
  // Named channels are live topics without per-user state.
  EXPECT_EQ(CountsOf(*store, "news"), (Counts{0, 0}));
  EXPECT_EQ(CountsOf(*store, "user:nobody"), (Counts{0, 0}));
}

TEST_P(StoreContractTest, MarkingSeenCommitsAStateRecordWithTheCounts) {
  auto store = Open();
  uint64_t a = Append(*store, "user:u").notification->id;
  uint64_t b = Append(*store, "user:u").notification->id;
  uint64_t c = Append(*store, "user:u").notification->id;

  auto result = ChangeStateSync(*store, Seen("user:u", {b, a, a}));

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->changed, 2u);
  EXPECT_EQ(result->counts, (Counts{3, 1}));
  ASSERT_NE(result->record, nullptr);
  const Notification& record = *result->record;
  EXPECT_EQ(record.id, c + 1);
  EXPECT_EQ(record.channel, "user:u");
  EXPECT_EQ(record.event, "state");
  EXPECT_EQ(record.data, R"({"ids":[1,2],"seen":true})");
  EXPECT_EQ(record.kind, Notification::Kind::kStateRecord);
  EXPECT_EQ(record.counts, (Counts{3, 1}));
  EXPECT_EQ(CountsOf(*store, "user:u"), (Counts{3, 1}));
  // In the stream for replay, never in a listing.
  auto replay = ReplaySync(*store, {{"user:u"}, c, 10});
  ASSERT_TRUE(replay.ok()) << replay.status();
  ASSERT_EQ(replay->notifications.size(), 1u);
  EXPECT_EQ(replay->notifications[0]->event, "state");
  EXPECT_TRUE(replay->notifications[0]->is_record());
  EXPECT_EQ(replay->notifications[0]->data, record.data);
  EXPECT_THAT(ListIds(*store, "user:u", ListFilter::kInbox),
              ElementsAre(c, b, a));
  EXPECT_THAT(ListIds(*store, "user:u", ListFilter::kUnseen), ElementsAre(c));
}

TEST_P(StoreContractTest, ReadingSeesAndUnreadingDoesNotUnsee) {
  auto store = Open();
  uint64_t a = Append(*store, "user:u").notification->id;
  Append(*store, "user:u");

  auto read = ChangeStateSync(*store, Read("user:u", {a}, true));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->record->data, R"({"ids":[1],"seen":true,"read":true})");
  EXPECT_EQ(read->counts, (Counts{1, 1}));
  auto rows = ListSync(*store, {"user:u", 0, 10});
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ((*rows)[1].read_at_ms, harness().NowMs());
  EXPECT_EQ((*rows)[1].seen_at_ms, harness().NowMs());

  auto unread = ChangeStateSync(*store, Read("user:u", {a}, false));
  ASSERT_TRUE(unread.ok()) << unread.status();
  EXPECT_EQ(unread->record->data, R"({"ids":[1],"read":false})");
  EXPECT_EQ(unread->counts, (Counts{2, 1}));
  EXPECT_THAT(ListIds(*store, "user:u", ListFilter::kUnread),
              ElementsAre(a + 1, a));
}

TEST_P(StoreContractTest, ArchivedNotificationsLeaveTheInboxAndUnread) {
  auto store = Open();
  uint64_t a = Append(*store, "user:u").notification->id;
  uint64_t b = Append(*store, "user:u").notification->id;

  auto archived = ChangeStateSync(*store, Archived("user:u", {a}, true));

  ASSERT_TRUE(archived.ok()) << archived.status();
  // Archived unread is not unread; it is still unseen.
  EXPECT_EQ(archived->counts, (Counts{1, 2}));
  EXPECT_THAT(ListIds(*store, "user:u", ListFilter::kInbox), ElementsAre(b));
  EXPECT_THAT(ListIds(*store, "user:u", ListFilter::kArchived), ElementsAre(a));
  EXPECT_THAT(ListIds(*store, "user:u", ListFilter::kUnseen),
              ElementsAre(b, a));
  // Reading it while archived leaves unread alone; unarchiving a read one
  // does not make it unread.
  ASSERT_TRUE(ChangeStateSync(*store, Read("user:u", {a}, true)).ok());
  EXPECT_EQ(CountsOf(*store, "user:u"), (Counts{1, 1}));
  auto back = ChangeStateSync(*store, Archived("user:u", {a}, false));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->counts, (Counts{1, 1}));
  EXPECT_THAT(ListIds(*store, "user:u", ListFilter::kInbox), ElementsAre(b, a));
}

TEST_P(StoreContractTest, UpToIdChangesEverythingAtOrBelowIt) {
  auto store = Open();
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Append(*store, "user:u").notification->id);
  }
  StateChange change = Change("user:u", {ids[4]});
  change.up_to_id = ids[2];
  change.read = true;

  auto result = ChangeStateSync(*store, change);

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->changed, 4u);
  EXPECT_EQ(result->record->data,
            R"({"ids":[5],"up_to_id":3,"seen":true,"read":true})");
  EXPECT_EQ(result->counts, (Counts{1, 1}));
  EXPECT_THAT(ListIds(*store, "user:u", ListFilter::kUnread),
              ElementsAre(ids[3]));
}

TEST_P(StoreContractTest, AChangeThatChangesNothingWritesNothing) {
  auto store = Open();
  uint64_t a = Append(*store, "user:u").notification->id;
  uint64_t other = Append(*store, "user:v").notification->id;
  ASSERT_TRUE(ChangeStateSync(*store, Seen("user:u", {a})).ok());
  const uint64_t last = *LastCommittedIdSync(*store);

  // Already seen; another user's id; an unknown id; the record's own id.
  auto again = ChangeStateSync(*store, Seen("user:u", {a, other, 999, last}));

  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->changed, 0u);
  EXPECT_EQ(again->record, nullptr);
  EXPECT_EQ(*LastCommittedIdSync(*store), last);
  EXPECT_EQ(CountsOf(*store, "user:v"), (Counts{1, 1}));
  EXPECT_THAT(ListIds(*store, "user:v", ListFilter::kUnseen),
              ElementsAre(other));
}

TEST_P(StoreContractTest, StateChangesOutsideTheLimitsAreRefused) {
  auto store = Open();
  uint64_t a = Append(*store, "news").notification->id;

  auto named = ChangeStateSync(*store, Seen("news", {a}));
  auto no_flag = ChangeStateSync(*store, Change("user:u", {a}));
  auto no_ids = ChangeStateSync(*store, Seen("user:u", {}));
  auto too_many = ChangeStateSync(
      *store, Seen("user:u", std::vector<uint64_t>(kMaxChangeIds + 1, 1)));
  auto no_target = DeleteSync(*store, {"user:u", {}, ""});
  auto long_key = DeleteSync(
      *store, {"user:u", {}, std::string(kMaxCollapseKeyBytes + 1, 'k')});

  EXPECT_EQ(named.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(named.status().message(), HasSubstr("inbox"));
  EXPECT_EQ(no_flag.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(no_ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(too_many.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(no_target.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(long_key.status().code(), absl::StatusCode::kInvalidArgument);
}

// What a stream of the user reads first: the counts, and where the stream
// stands, without a row.
TEST_P(StoreContractTest, AReplayPageCanCarryTheCountsOfAnInbox) {
  auto store = Open();
  Append(*store, "user:u");
  uint64_t b = Append(*store, "user:u").notification->id;
  ReplayQuery query{{"user:u", "news"}, 0, 0};
  query.counts_channel = "user:u";

  auto start = ReplaySync(*store, query);
  query.limit = 10;
  auto page = ReplaySync(*store, query);
  query.counts_channel = "news";
  auto named = ReplaySync(*store, query);

  ASSERT_TRUE(start.ok() && page.ok() && named.ok());
  EXPECT_THAT(start->notifications, IsEmpty());
  EXPECT_FALSE(start->more);
  EXPECT_EQ(start->last_committed_id, b);
  ASSERT_TRUE(start->counts.has_value());
  EXPECT_EQ(*start->counts, (Counts{2, 2}));
  EXPECT_EQ(page->notifications.size(), 2u);
  EXPECT_EQ(*page->counts, (Counts{2, 2}));
  EXPECT_EQ(*named->counts, (Counts{0, 0}));
}

// --- Deletes and collapse keys
// ------------------------------------------------

TEST_P(StoreContractTest, DeletingRemovesFromListsCountsAndReplay) {
  auto store = Open();
  uint64_t a = Append(*store, "user:u").notification->id;
  uint64_t b = Append(*store, "user:u").notification->id;
  uint64_t other = Append(*store, "user:v").notification->id;

  auto deleted = DeleteSync(*store, {"user:u", {a, other}, ""});

  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->changed, 1u);
  EXPECT_EQ(deleted->counts, (Counts{1, 1}));
  ASSERT_NE(deleted->record, nullptr);
  EXPECT_EQ(deleted->record->event, "deleted");
  EXPECT_EQ(deleted->record->data, R"({"ids":[1]})");
  EXPECT_EQ(deleted->record->kind, Notification::Kind::kDeletionRecord);
  EXPECT_THAT(ListIds(*store, "user:u", ListFilter::kInbox), ElementsAre(b));
  EXPECT_THAT(ListIds(*store, "user:v", ListFilter::kInbox),
              ElementsAre(other));
  auto replay = ReplaySync(*store, {{"user:u"}, 0, 10});
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_THAT(Ids(*replay), ElementsAre(b, deleted->record->id));
  // Ids stay taken.
  EXPECT_EQ(Append(*store, "user:u").notification->id, deleted->record->id + 1);
}

TEST_P(StoreContractTest, ACollapseKeyReplacesTheOlderNotification) {
  auto store = Open();
  AppendRequest request{"user:u", "build", "failing", ""};
  request.collapse_key = "build-42";
  auto first = AppendSync(*store, request);
  request.data = "fixed";
  auto second = AppendSync(*store, request);

  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->replaced, nullptr);
  ASSERT_NE(second->replaced, nullptr);
  EXPECT_EQ(second->replaced->id, second->notification->id - 1);
  EXPECT_EQ(second->replaced->event, "deleted");
  EXPECT_EQ(second->replaced->data, R"({"ids":[1]})");
  EXPECT_EQ(second->replaced->counts, (Counts{0, 0}));
  EXPECT_EQ(second->notification->counts, (Counts{1, 1}));
  EXPECT_EQ(second->notification->collapse_key, "build-42");
  auto rows = ListSync(*store, {"user:u"});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].data, "fixed");
  EXPECT_EQ((*rows)[0].collapse_key, "build-42");
  EXPECT_EQ(CountsOf(*store, "user:u"), (Counts{1, 1}));
}

TEST_P(StoreContractTest, ACollapseKeyReplacesOnNamedChannelsWithoutARecord) {
  auto store = Open();
  AppendRequest request{"status", "e", "old", ""};
  request.collapse_key = "k";
  ASSERT_TRUE(AppendSync(*store, request).ok());
  request.data = "new";
  auto second = AppendSync(*store, request);

  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->replaced, nullptr);
  auto rows = ListSync(*store, {"status"});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].data, "new");
}

TEST_P(StoreContractTest, DeletingByCollapseKeyRemovesEveryCarrier) {
  auto store = Open();
  AppendRequest keyed{"user:u", "e", "x", ""};
  keyed.collapse_key = "k";
  ASSERT_TRUE(AppendSync(*store, keyed).ok());
  uint64_t plain = Append(*store, "user:u").notification->id;

  auto deleted = DeleteSync(*store, {"user:u", {}, "k"});

  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->changed, 1u);
  EXPECT_THAT(ListIds(*store, "user:u", ListFilter::kInbox),
              ElementsAre(plain));
  EXPECT_EQ(CountsOf(*store, "user:u"), (Counts{1, 1}));
}

TEST_P(StoreContractTest, ADuplicateAppendChangesNoCountsAndCollapsesNothing) {
  auto store = Open();
  AppendRequest request{"user:u", "e", "x", "key-1"};
  request.collapse_key = "k";
  auto first = AppendSync(*store, request);
  auto again = AppendSync(*store, request);

  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->replaced, nullptr);
  EXPECT_EQ(again->notification->id, first->notification->id);
  EXPECT_EQ(CountsOf(*store, "user:u"), (Counts{1, 1}));
  EXPECT_EQ(*LastCommittedIdSync(*store), first->notification->id);
}

// --- Expiry
// -------------------------------------------------------------------

TEST_P(StoreContractTest, ExpiredNotificationsAreGoneAtOnceAndDeletedLater) {
  absl::Mutex mu;
  Rows records;
  StoreSettings settings;
  settings.on_records = [&](Rows written) {
    absl::MutexLock lock(&mu);
    records.insert(records.end(), written.begin(), written.end());
  };
  auto store = Open(std::move(settings));
  AppendRequest soon{"user:u", "e", "soon", ""};
  soon.expires_at_ms = harness().NowMs() + 1000;
  uint64_t expiring = AppendSync(*store, soon)->notification->id;
  uint64_t lasting = Append(*store, "user:u").notification->id;
  EXPECT_EQ(CountsOf(*store, "user:u"), (Counts{2, 2}));

  harness().AdvanceClock(absl::Seconds(2));

  // Before the expirer ran.
  EXPECT_EQ(CountsOf(*store, "user:u"), (Counts{1, 1}));
  EXPECT_THAT(ListIds(*store, "user:u", ListFilter::kInbox),
              ElementsAre(lasting));
  auto replay = ReplaySync(*store, {{"user:u"}, 0, 10});
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_THAT(Ids(*replay), ElementsAre(lasting));
  EXPECT_EQ(harness().CommittedRowsWithId(expiring), 1);

  auto expired = harness().ExpireNow(*store);

  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 1u);
  EXPECT_EQ(harness().CommittedRowsWithId(expiring), 0);
  EXPECT_EQ(CountsOf(*store, "user:u"), (Counts{1, 1}));
  absl::MutexLock lock(&mu);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]->event, "deleted");
  EXPECT_EQ(records[0]->data, "{\"ids\":[" + std::to_string(expiring) + "]}");
  EXPECT_EQ(records[0]->counts, (Counts{1, 1}));
}

TEST_P(StoreContractTest, TheExpirerRunsInTheBackground) {
  absl::Notification got_record;
  StoreSettings settings;
  settings.expiry_interval = absl::Milliseconds(20);
  settings.on_records = [&](Rows) {
    if (!got_record.HasBeenNotified()) got_record.Notify();
  };
  auto store = Open(std::move(settings));
  AppendRequest soon{"user:u", "e", "soon", ""};
  soon.expires_at_ms = harness().NowMs() + 10;
  ASSERT_TRUE(AppendSync(*store, soon).ok());

  harness().AdvanceClock(absl::Seconds(1));

  EXPECT_TRUE(got_record.WaitForNotificationWithTimeout(absl::Seconds(30)));
}

TEST_P(StoreContractTest, RetentionTakesPrunedNotificationsOutOfTheCounts) {
  StoreSettings settings;
  settings.retention = absl::Hours(1);
  auto store = Open(std::move(settings));
  uint64_t old = Append(*store, "user:u").notification->id;
  Append(*store, "user:u");
  ASSERT_TRUE(ChangeStateSync(*store, Seen("user:u", {old})).ok());
  harness().AdvanceClock(absl::Hours(2));
  uint64_t fresh = Append(*store, "user:u").notification->id;

  auto pruned = harness().PruneNow(*store);

  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, 3u);  // two notifications and the state record
  EXPECT_EQ(CountsOf(*store, "user:u"), (Counts{1, 1}));
  EXPECT_THAT(ListIds(*store, "user:u", ListFilter::kInbox),
              ElementsAre(fresh));
}

}  // namespace
}  // namespace notifyd::storage
