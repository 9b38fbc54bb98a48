// The Web Push part of the Store contract (storage/store.h, storage/push.h):
// each user's push subscriptions within their limit, the credential lookup,
// the pushed marks and the push candidates, and how they live with deletes,
// expiry, collapse keys and retention. Run against every store by the
// binaries that instantiate StoreContractTest (store_contract_test.h).
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/push.h"
#include "storage/store.h"
#include "tests/storage/store_contract_test.h"

namespace notifyd::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::StoreContractTest;
using testing::StoreSettings;
using testing::StoreTestHelpers;

using Rows = std::vector<std::shared_ptr<const Notification>>;

// A subscription of `user` at `endpoint`, its keys and secret hash made of
// `fill` so that two made with different fills differ in every key.
PushSubscription Subscription(const std::string& user,
                              const std::string& endpoint, char fill = 'a') {
  PushSubscription s;
  s.channel = "user:" + user;
  s.endpoint = endpoint;
  s.p256dh = std::string(kPushP256dhBytes, fill);
  s.p256dh[0] = '\x04';
  s.auth = std::string(kPushAuthBytes, fill);
  s.secret_sha256 = std::string(kPushSecretHashBytes, fill);
  // Each endpoint its own secret.
  for (size_t i = 0; i < endpoint.size() && i < kPushSecretHashBytes; ++i) {
    s.secret_sha256[i] = endpoint[endpoint.size() - 1 - i];
  }
  return s;
}

constexpr char kA[] = "https://push.example/a";
constexpr char kB[] = "https://push.example/b";
constexpr char kC[] = "https://push.example/c";

class PushContract {
 public:
  static bool Put(Store& store, PushSubscription s) {
    absl::StatusOr<PushPutResult> put = PutPushSubscriptionSync(store, s);
    EXPECT_TRUE(put.ok()) << put.status();
    return put.ok() && put->created;
  }

  static std::vector<std::string> Endpoints(Store& store,
                                            const std::string& user) {
    absl::StatusOr<std::vector<PushSubscription>> list =
        ListPushSubscriptionsSync(store, "user:" + user);
    EXPECT_TRUE(list.ok()) << list.status();
    std::vector<std::string> endpoints;
    if (!list.ok()) return endpoints;
    for (const PushSubscription& s : *list) endpoints.push_back(s.endpoint);
    return endpoints;
  }

  static std::vector<uint64_t> Candidates(Store& store, int64_t created_by_ms,
                                          uint64_t after_id = 0,
                                          uint32_t limit = 100) {
    absl::StatusOr<Rows> rows =
        PushCandidatesSync(store, {.after_id = after_id,
                                   .created_at_or_before_ms = created_by_ms,
                                   .limit = limit});
    EXPECT_TRUE(rows.ok()) << rows.status();
    std::vector<uint64_t> ids;
    if (!rows.ok()) return ids;
    for (const auto& n : *rows) ids.push_back(n->id);
    return ids;
  }
};

// --- Subscriptions

TEST_P(StoreContractTest, PushSubscriptionsAreStoredPerUserOldestFirst) {
  auto store = Open();
  EXPECT_TRUE(PushContract::Put(*store, Subscription("alice", kB)));
  const int64_t first_at = harness().NowMs();
  harness().AdvanceClock(absl::Seconds(1));
  EXPECT_TRUE(PushContract::Put(*store, Subscription("alice", kA)));
  EXPECT_TRUE(PushContract::Put(*store, Subscription("bob", kC)));

  auto list = ListPushSubscriptionsSync(*store, "user:alice");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  PushSubscription expected = Subscription("alice", kB);
  expected.created_at_ms = first_at;
  EXPECT_EQ((*list)[0], expected);
  EXPECT_EQ((*list)[1].endpoint, kA);
  EXPECT_EQ((*list)[1].created_at_ms, first_at + 1000);
  EXPECT_THAT(PushContract::Endpoints(*store, "bob"), ElementsAre(kC));
  EXPECT_THAT(PushContract::Endpoints(*store, "carol"), IsEmpty());
}

TEST_P(StoreContractTest, PuttingAnEndpointAgainReplacesItsKeys) {
  auto store = Open();
  ASSERT_TRUE(PushContract::Put(*store, Subscription("alice", kA, 'a')));

  auto again = PutPushSubscriptionSync(*store, Subscription("alice", kA, 'z'));

  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->created);
  auto list = ListPushSubscriptionsSync(*store, "user:alice");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].p256dh, Subscription("alice", kA, 'z').p256dh);
  EXPECT_EQ((*list)[0].auth, std::string(kPushAuthBytes, 'z'));
}

// One endpoint is one browser profile: whoever registered it last owns it.
TEST_P(StoreContractTest, AnEndpointPutByAnotherUserMovesToThem) {
  auto store = Open();
  ASSERT_TRUE(PushContract::Put(*store, Subscription("alice", kA)));

  EXPECT_TRUE(PushContract::Put(*store, Subscription("bob", kA)));

  EXPECT_THAT(PushContract::Endpoints(*store, "alice"), IsEmpty());
  EXPECT_THAT(PushContract::Endpoints(*store, "bob"), ElementsAre(kA));
}

TEST_P(StoreContractTest, AUserKeepsAtMostMaxPushSubscriptions) {
  StoreSettings settings;
  settings.max_push_subscriptions = 2;
  auto store = Open(settings);
  ASSERT_TRUE(PushContract::Put(*store, Subscription("alice", kA)));
  ASSERT_TRUE(PushContract::Put(*store, Subscription("alice", kB)));
  ASSERT_TRUE(PushContract::Put(*store, Subscription("bob", kC)));

  auto third = PutPushSubscriptionSync(*store, Subscription("alice", kC));

  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(), HasSubstr("at most 2"));
  // Nothing moved: bob keeps the endpoint alice could not take.
  EXPECT_THAT(PushContract::Endpoints(*store, "alice"), ElementsAre(kA, kB));
  EXPECT_THAT(PushContract::Endpoints(*store, "bob"), ElementsAre(kC));
  // Replacing one of her own is no new subscription.
  auto replaced =
      PutPushSubscriptionSync(*store, Subscription("alice", kA, 'q'));
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  EXPECT_FALSE(replaced->created);
  // Once one is gone, there is room again.
  ASSERT_TRUE(*RemovePushSubscriptionSync(*store, {kB, "user:alice"}));
  EXPECT_TRUE(PushContract::Put(*store, Subscription("alice", kC)));
}

// The refused call fails alone: calls committed in the same batch stand.
TEST_P(StoreContractTest, ARefusedSubscriptionLeavesItsBatchAlone) {
  StoreSettings settings;
  settings.max_push_subscriptions = 1;
  auto store = Open(settings);
  ASSERT_TRUE(PushContract::Put(*store, Subscription("alice", kA)));
  testing::Hold hold = harness().HoldWriter(*store);
  auto promise =
      std::make_shared<std::promise<absl::StatusOr<PushPutResult>>>();
  store->PutPushSubscription(Subscription("alice", kB),
                             [promise](absl::StatusOr<PushPutResult> r) {
                               promise->set_value(std::move(r));
                             });
  auto appended =
      StoreTestHelpers::AppendAsync(*store, {"user:bob", "e", "{}"});
  hold.release->Notify();

  ASSERT_TRUE(hold.append.get().ok());
  EXPECT_EQ(promise->get_future().get().status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(appended.get().ok());
  EXPECT_THAT(PushContract::Endpoints(*store, "alice"), ElementsAre(kA));
}

TEST_P(StoreContractTest, AUserRemovesOnlyTheirOwnSubscription) {
  auto store = Open();
  ASSERT_TRUE(PushContract::Put(*store, Subscription("alice", kA)));

  auto by_bob = RemovePushSubscriptionSync(*store, {kA, "user:bob"});
  ASSERT_TRUE(by_bob.ok()) << by_bob.status();
  EXPECT_FALSE(*by_bob);
  EXPECT_THAT(PushContract::Endpoints(*store, "alice"), ElementsAre(kA));

  auto by_alice = RemovePushSubscriptionSync(*store, {kA, "user:alice"});
  ASSERT_TRUE(by_alice.ok()) << by_alice.status();
  EXPECT_TRUE(*by_alice);
  EXPECT_THAT(PushContract::Endpoints(*store, "alice"), IsEmpty());
  EXPECT_FALSE(*RemovePushSubscriptionSync(*store, {kA, "user:alice"}));
}

// What a sender does when the push service answers 404 or 410.
TEST_P(StoreContractTest, ASubscriptionIsRemovedByItsEndpointAlone) {
  auto store = Open();
  ASSERT_TRUE(PushContract::Put(*store, Subscription("alice", kA)));
  ASSERT_TRUE(PushContract::Put(*store, Subscription("alice", kB)));

  auto removed = RemovePushSubscriptionSync(*store, {kA, ""});

  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_TRUE(*removed);
  EXPECT_THAT(PushContract::Endpoints(*store, "alice"), ElementsAre(kB));
  EXPECT_FALSE(*RemovePushSubscriptionSync(*store, {"https://unknown/", ""}));
}

TEST_P(StoreContractTest, ASubscriptionIsFoundByItsSecretUntilRemoved) {
  auto store = Open();
  const PushSubscription a = Subscription("alice", kA);
  ASSERT_TRUE(PushContract::Put(*store, a));
  ASSERT_TRUE(PushContract::Put(*store, Subscription("bob", kB)));

  auto found = FindPushSubscriptionSync(*store, a.secret_sha256);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->channel, "user:alice");
  EXPECT_EQ(found->endpoint, kA);

  EXPECT_EQ(
      FindPushSubscriptionSync(*store, std::string(kPushSecretHashBytes, '?'))
          .status()
          .code(),
      absl::StatusCode::kNotFound);
  ASSERT_TRUE(*RemovePushSubscriptionSync(*store, {kA, ""}));
  EXPECT_EQ(FindPushSubscriptionSync(*store, a.secret_sha256).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, PushSubscriptionsOfTheWrongShapeAreRefused) {
  auto store = Open();
  auto refused = [&](PushSubscription s, const std::string& what) {
    auto put = PutPushSubscriptionSync(*store, std::move(s));
    EXPECT_EQ(put.status().code(), absl::StatusCode::kInvalidArgument) << what;
    EXPECT_THAT(put.status().message(), HasSubstr(what));
  };
  PushSubscription s = Subscription("alice", kA);
  s.channel = "news";
  refused(s, "inboxes");
  s = Subscription("alice", "");
  refused(s, "endpoint is required");
  s = Subscription("alice", "https://push.example/" +
                                std::string(kMaxPushEndpointBytes, 'x'));
  refused(s, "at most 2048 bytes");
  s = Subscription("alice", kA);
  s.p256dh.pop_back();
  refused(s, "p256dh has 65 bytes, not 64");
  s = Subscription("alice", kA);
  s.auth += "x";
  refused(s, "auth has 16 bytes, not 17");
  s = Subscription("alice", kA);
  s.secret_sha256.clear();
  refused(s, "secret_sha256");
  EXPECT_THAT(PushContract::Endpoints(*store, "alice"), IsEmpty());

  EXPECT_EQ(RemovePushSubscriptionSync(*store, {"", ""}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MarkPushedSync(*store, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MarkPushedSync(*store, std::vector<uint64_t>(kMaxChangeIds + 1, 1))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PushCandidatesSync(*store, {.limit = kMaxPushCandidates + 1})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// An endpoint of exactly the limit is stored (the one past it is not,
// above).
TEST_P(StoreContractTest, AnEndpointOfTheMaximumLengthIsStored) {
  auto store = Open();
  const std::string longest =
      "https://push.example/" + std::string(kMaxPushEndpointBytes - 21, 'x');
  ASSERT_EQ(longest.size(), kMaxPushEndpointBytes);
  EXPECT_TRUE(PushContract::Put(*store, Subscription("alice", longest)));
  EXPECT_THAT(PushContract::Endpoints(*store, "alice"), ElementsAre(longest));
}

TEST_P(StoreContractTest, PushSubscriptionsAndMarksOutliveTheStore) {
  uint64_t id = 0;
  {
    auto store = Open();
    ASSERT_TRUE(PushContract::Put(*store, Subscription("alice", kA)));
    id = Append(*store, "user:alice").notification->id;
    Append(*store, "user:alice");
    ASSERT_EQ(*MarkPushedSync(*store, {id}), 1u);
    store->Close();
  }
  auto store = Open();  // a restart

  EXPECT_THAT(PushContract::Endpoints(*store, "alice"), ElementsAre(kA));
  EXPECT_THAT(PushContract::Candidates(*store, harness().NowMs()),
              ElementsAre(id + 1));
}

// --- Candidates and pushed marks

TEST_P(StoreContractTest, PushCandidatesAreTheUnseenOfSubscribedUsers) {
  auto store = Open();
  ASSERT_TRUE(PushContract::Put(*store, Subscription("alice", kA)));
  const uint64_t fresh = Append(*store, "user:alice").notification->id;
  Append(*store, "user:bob");  // no subscription
  Append(*store, "news");      // a named channel
  const uint64_t seen = Append(*store, "user:alice").notification->id;
  const uint64_t read = Append(*store, "user:alice").notification->id;
  const uint64_t archived = Append(*store, "user:alice").notification->id;
  AppendRequest soon{"user:alice", "e", "{}", ""};
  soon.expires_at_ms = harness().NowMs() + 1000;
  ASSERT_TRUE(AppendSync(*store, soon).ok());
  const uint64_t deleted = Append(*store, "user:alice").notification->id;
  ASSERT_TRUE(
      ChangeStateSync(*store,
                      {.channel = "user:alice", .ids = {seen}, .seen = true})
          .ok());
  StateChange read_change{.channel = "user:alice", .ids = {read}};
  read_change.read = true;
  ASSERT_TRUE(ChangeStateSync(*store, read_change).ok());
  StateChange archive{.channel = "user:alice", .ids = {archived}};
  archive.archived = true;
  ASSERT_TRUE(ChangeStateSync(*store, archive).ok());
  ASSERT_TRUE(
      DeleteSync(*store, {.channel = "user:alice", .ids = {deleted}}).ok());
  const int64_t created_by = harness().NowMs();
  harness().AdvanceClock(absl::Seconds(1));  // `soon` expired
  const uint64_t newer = Append(*store, "user:alice").notification->id;

  // The state and deletion records are in alice's inbox too: never
  // candidates.
  EXPECT_THAT(PushContract::Candidates(*store, created_by), ElementsAre(fresh));
  // The creation bound is inclusive; the newest one is due a second later.
  EXPECT_THAT(PushContract::Candidates(*store, harness().NowMs()),
              ElementsAre(fresh, newer));
}

TEST_P(StoreContractTest, PushCandidatesPageByIdAndLimit) {
  auto store = Open();
  ASSERT_TRUE(PushContract::Put(*store, Subscription("alice", kA)));
  ASSERT_TRUE(PushContract::Put(*store, Subscription("bob", kB)));
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Append(*store, i % 2 == 0 ? "user:alice" : "user:bob")
                      .notification->id);
  }
  const int64_t now = harness().NowMs();

  EXPECT_THAT(PushContract::Candidates(*store, now, 0, 2),
              ElementsAre(ids[0], ids[1]));
  EXPECT_THAT(PushContract::Candidates(*store, now, ids[1], 2),
              ElementsAre(ids[2], ids[3]));
  EXPECT_THAT(PushContract::Candidates(*store, now, ids[3], 2),
              ElementsAre(ids[4]));
  EXPECT_THAT(PushContract::Candidates(*store, now, ids[4], 2), IsEmpty());
  EXPECT_THAT(PushContract::Candidates(*store, now, 0, 0), IsEmpty());
}

TEST_P(StoreContractTest, MarkedNotificationsAreNoLongerCandidates) {
  auto store = Open();
  ASSERT_TRUE(PushContract::Put(*store, Subscription("alice", kA)));
  const uint64_t a = Append(*store, "user:alice").notification->id;
  const uint64_t b = Append(*store, "user:alice").notification->id;
  const uint64_t c = Append(*store, "user:alice").notification->id;
  const uint64_t bob = Append(*store, "user:bob").notification->id;
  const uint64_t named = Append(*store, "news").notification->id;
  auto record = ChangeStateSync(
      *store, {.channel = "user:alice", .ids = {c}, .seen = true});
  ASSERT_TRUE(record.ok()) << record.status();

  // Inbox notifications are marked (bob's too: whether he has a browser to
  // push to is the sender's business); a named channel's, a record and an
  // unknown id are not, nor an id named twice.
  auto marked = MarkPushedSync(
      *store, {a, b, a, bob, named, record->record->id, 999'999});
  ASSERT_TRUE(marked.ok()) << marked.status();
  EXPECT_EQ(*marked, 3u);
  EXPECT_EQ(*MarkPushedSync(*store, {a, b}), 0u);

  const uint64_t d = Append(*store, "user:alice").notification->id;
  EXPECT_THAT(PushContract::Candidates(*store, harness().NowMs()),
              ElementsAre(d));
}

TEST_P(StoreContractTest, AUserWithoutSubscriptionsHasNoCandidates) {
  auto store = Open();
  ASSERT_TRUE(PushContract::Put(*store, Subscription("alice", kA)));
  const uint64_t id = Append(*store, "user:alice").notification->id;
  EXPECT_THAT(PushContract::Candidates(*store, harness().NowMs()),
              ElementsAre(id));

  ASSERT_TRUE(*RemovePushSubscriptionSync(*store, {kA, ""}));

  EXPECT_THAT(PushContract::Candidates(*store, harness().NowMs()), IsEmpty());
}

// A pushed mark never stands in the way of the notification's deletion:
// by id, by collapse key, by expiry or by retention. Marking a deleted one
// marks nothing.
TEST_P(StoreContractTest, PushedNotificationsAreDeletedLikeAnyOther) {
  StoreSettings settings;
  settings.retention = absl::Hours(1);
  auto store = Open(settings);
  ASSERT_TRUE(PushContract::Put(*store, Subscription("alice", kA)));
  const uint64_t old = Append(*store, "user:alice").notification->id;
  AppendRequest keyed{"user:alice", "e", "{}", ""};
  keyed.collapse_key = "k";
  const uint64_t collapsed = AppendSync(*store, keyed)->notification->id;
  AppendRequest soon{"user:alice", "e", "{}", ""};
  soon.expires_at_ms = harness().NowMs() + 1000;
  const uint64_t expiring = AppendSync(*store, soon)->notification->id;
  harness().AdvanceClock(absl::Hours(2));
  const uint64_t by_id = Append(*store, "user:alice").notification->id;
  ASSERT_EQ(*MarkPushedSync(*store, {old, collapsed, expiring, by_id}), 4u);

  auto deleted = DeleteSync(*store, {.channel = "user:alice", .ids = {by_id}});
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->changed, 1u);
  auto replacing = AppendSync(*store, keyed);  // replaces `collapsed`
  ASSERT_TRUE(replacing.ok()) << replacing.status();
  ASSERT_NE(replacing->replaced, nullptr);
  EXPECT_EQ(replacing->replaced->data,
            absl::StrCat("{\"ids\":[", collapsed, "]}"));
  auto expired = harness().ExpireNow(*store);
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 1u);
  auto pruned = harness().PruneNow(*store);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_GE(*pruned, 1u);  // `old` (and the records before the cut)

  EXPECT_EQ(ListSync(*store, {"user:alice", 0, 10})->size(), 1u);
  EXPECT_EQ(*MarkPushedSync(*store, {old, collapsed, expiring, by_id}), 0u);
  EXPECT_THAT(PushContract::Candidates(*store, harness().NowMs()),
              ElementsAre(replacing->notification->id));
}

}  // namespace
}  // namespace notifyd::storage
