// OrderedDelivery releases notifications to its listeners in dense id
// order, each once, whatever order they are offered in, and reads from the
// store what never arrives. Time is a manual clock: nothing here sleeps.
#include "bus/ordered_delivery.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd::bus {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

NotificationPtr Note(uint64_t id) {
  auto n = std::make_shared<storage::Notification>();
  n->id = id;
  n->channel = "news";
  n->event = "notification";
  n->data = absl::StrCat("payload ", id);
  return n;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> ids(last - first + 1);
  std::iota(ids.begin(), ids.end(), first);
  return ids;
}

class ManualClock {
 public:
  std::chrono::steady_clock::time_point Now() const {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += absl::ToChronoNanoseconds(d);
  }

 private:
  mutable absl::Mutex mu_;
  std::chrono::steady_clock::time_point now_ ABSL_GUARDED_BY(mu_) =
      std::chrono::steady_clock::time_point() + std::chrono::hours(1);
};

// Plays the database: committed rows by id. Answers fills inline unless
// told to hold them until AnswerFills().
class FakeStore {
 public:
  struct FillCall {
    uint64_t after_id;
    uint64_t up_to_id;
    bool operator==(const FillCall&) const = default;
  };

  void Commit(uint64_t first, uint64_t last) {
    absl::MutexLock lock(&mu_);
    for (uint64_t id = first; id <= last; ++id) rows_[id] = Note(id);
    last_committed_ = std::max(last_committed_, last);
  }
  void Delete(uint64_t id) {
    absl::MutexLock lock(&mu_);
    rows_.erase(id);
  }
  void DeferFills() {
    absl::MutexLock lock(&mu_);
    defer_ = true;
  }
  void FailNextFill() {
    absl::MutexLock lock(&mu_);
    fail_next_ = true;
  }
  // Completes the deferred fills, reading the rows as they are now.
  void AnswerFills() {
    std::vector<std::function<void()>> pending;
    {
      absl::MutexLock lock(&mu_);
      pending.swap(pending_);
      defer_ = false;
    }
    for (auto& answer : pending) answer();
  }
  std::vector<FillCall> fills() const {
    absl::MutexLock lock(&mu_);
    return fills_;
  }
  int checks() const {
    absl::MutexLock lock(&mu_);
    return checks_;
  }

  OrderedDeliveryOptions::FillFunction Fill() {
    return [this](uint64_t after, uint64_t up_to, uint32_t limit,
                  storage::Callback<std::vector<NotificationPtr>> done) {
      auto answer = [this, after, up_to, limit, done = std::move(done)] {
        std::vector<NotificationPtr> rows;
        bool fail = false;
        {
          absl::MutexLock lock(&mu_);
          fail = std::exchange(fail_next_, false);
          for (auto it = rows_.upper_bound(after);
               it != rows_.end() && it->first <= up_to && rows.size() < limit;
               ++it) {
            rows.push_back(it->second);
          }
        }
        if (fail) {
          done(absl::UnavailableError("database restarting"));
        } else {
          done(std::move(rows));
        }
      };
      {
        absl::MutexLock lock(&mu_);
        fills_.push_back({after, up_to});
        if (defer_) {
          pending_.push_back(std::move(answer));
          return;
        }
      }
      answer();  // inline, as a store answering from a cache could
    };
  }
  OrderedDeliveryOptions::LastCommittedFunction LastCommitted() {
    return [this](storage::Callback<uint64_t> done) {
      uint64_t last = 0;
      {
        absl::MutexLock lock(&mu_);
        ++checks_;
        last = last_committed_;
      }
      done(last);
    };
  }

 private:
  mutable absl::Mutex mu_;
  std::map<uint64_t, NotificationPtr> rows_ ABSL_GUARDED_BY(mu_);
  uint64_t last_committed_ ABSL_GUARDED_BY(mu_) = 0;
  bool defer_ ABSL_GUARDED_BY(mu_) = false;
  bool fail_next_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::function<void()>> pending_ ABSL_GUARDED_BY(mu_);
  std::vector<FillCall> fills_ ABSL_GUARDED_BY(mu_);
  int checks_ ABSL_GUARDED_BY(mu_) = 0;
};

// The listener: records ids and notices overlapping calls.
class Recorder {
 public:
  OrderedDelivery::Listener Listener(size_t recipients = 1) {
    return [this, recipients](const NotificationPtr& n) {
      if (in_call_.exchange(true)) overlaps_.fetch_add(1);
      {
        absl::MutexLock lock(&mu_);
        ids_.push_back(n->id);
      }
      in_call_.store(false);
      return recipients;
    };
  }
  std::vector<uint64_t> ids() const {
    absl::MutexLock lock(&mu_);
    return ids_;
  }
  int overlaps() const { return overlaps_.load(); }

 private:
  mutable absl::Mutex mu_;
  std::vector<uint64_t> ids_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> in_call_{false};
  std::atomic<int> overlaps_{0};
};

class OrderedDeliveryTest : public ::testing::Test {
 protected:
  std::shared_ptr<OrderedDelivery> Make(OrderedDeliveryOptions options = {}) {
    options.fill = store_.Fill();
    options.last_committed_id = store_.LastCommitted();
    options.gap_timeout = kGapTimeout;
    options.check_interval = kCheckInterval;
    options.clock = [this] { return clock_.Now(); };
    auto delivery = OrderedDelivery::Create(std::move(options));
    delivery->AddListener(recorder_.Listener());
    return delivery;
  }

  static constexpr absl::Duration kGapTimeout = absl::Milliseconds(100);
  static constexpr absl::Duration kCheckInterval = absl::Seconds(1);
  ManualClock clock_;
  FakeStore store_;
  Recorder recorder_;
};

TEST_F(OrderedDeliveryTest, ReleasesInOrderOfferedIdsAtOnce) {
  auto delivery = Make();
  delivery->Start(0);
  for (uint64_t id : {1, 2, 3}) {
    EXPECT_EQ(delivery->Offer(Note(id)), 1u) << "released at once: " << id;
  }
  EXPECT_THAT(recorder_.ids(), ElementsAre(1, 2, 3));
  EXPECT_EQ(delivery->next_id(), 4u);
}

TEST_F(OrderedDeliveryTest, HoldsLaterIdsUntilTheGapCloses) {
  auto delivery = Make();
  delivery->Start(9);
  EXPECT_EQ(delivery->Offer(Note(12)), 0u);
  EXPECT_EQ(delivery->Offer(Note(11)), 0u);
  EXPECT_THAT(recorder_.ids(), IsEmpty());
  delivery->Offer(Note(10));
  EXPECT_THAT(recorder_.ids(), ElementsAre(10, 11, 12));
  EXPECT_EQ(delivery->Stats().held, 2u);
  EXPECT_THAT(store_.fills(), IsEmpty()) << "no fill when the gap closed";
}

TEST_F(OrderedDeliveryTest, DropsDuplicatesAndOldIds) {
  auto delivery = Make();
  delivery->Start(0);
  delivery->Offer(Note(1));
  delivery->Offer(Note(2));
  EXPECT_EQ(delivery->Offer(Note(1)), 0u);  // released already
  delivery->Offer(Note(5));
  delivery->Offer(Note(5));  // held already
  delivery->Offer(Note(3));
  delivery->Offer(Note(4));
  delivery->Offer(Note(2));
  EXPECT_THAT(recorder_.ids(), ElementsAre(1, 2, 3, 4, 5));
  EXPECT_EQ(delivery->Stats().duplicates, 3u);
}

TEST_F(OrderedDeliveryTest, FillsAGapThatStaysOpenPastTheTimeout) {
  store_.Commit(1, 5);
  auto delivery = Make();
  delivery->Start(0);
  delivery->Offer(Note(1));
  delivery->Offer(Note(4));  // 2 and 3 were lost on the way
  delivery->Offer(Note(5));
  clock_.Advance(kGapTimeout - absl::Milliseconds(1));
  delivery->Poll();
  EXPECT_THAT(store_.fills(), IsEmpty()) << "waited for them to arrive";

  clock_.Advance(absl::Milliseconds(1));
  delivery->Poll();
  // Holding 5 proves everything up to 5 is committed.
  EXPECT_THAT(store_.fills(), ElementsAre(FakeStore::FillCall{1, 5}));
  EXPECT_THAT(recorder_.ids(), ElementsAre(1, 2, 3, 4, 5))
      << "fill rows merged with the held ones, each once";
  EXPECT_EQ(delivery->Stats().filled, 2u);
}

TEST_F(OrderedDeliveryTest, AnOfferArrivingDuringAFillIsNotDeliveredTwice) {
  store_.Commit(1, 4);
  store_.DeferFills();
  auto delivery = Make();
  delivery->Start(0);
  delivery->Offer(Note(3));
  clock_.Advance(kGapTimeout);
  delivery->Poll();
  ASSERT_THAT(store_.fills(), ElementsAre(FakeStore::FillCall{0, 3}));
  delivery->Offer(Note(1));  // late, while the fill is in flight
  delivery->Offer(Note(4));
  EXPECT_THAT(recorder_.ids(), ElementsAre(1));
  store_.AnswerFills();
  EXPECT_THAT(recorder_.ids(), ElementsAre(1, 2, 3, 4));
}

TEST_F(OrderedDeliveryTest, SkipsIdsTheStoreNoLongerHas) {
  store_.Commit(1, 6);
  store_.Delete(2);  // retention removed them before the fill
  store_.Delete(3);
  auto delivery = Make();
  delivery->Start(0);
  delivery->Offer(Note(1));
  delivery->Offer(Note(5));
  clock_.Advance(kGapTimeout);
  delivery->Poll();
  EXPECT_THAT(recorder_.ids(), ElementsAre(1, 4, 5));
  EXPECT_EQ(delivery->Stats().skipped, 2u);
  delivery->Offer(Note(6));
  EXPECT_THAT(recorder_.ids(), ElementsAre(1, 4, 5, 6));
}

TEST_F(OrderedDeliveryTest, FillsALongRangePageByPage) {
  store_.Commit(1, 7);
  auto delivery = Make({.fill_limit = 2});
  delivery->Start(0);
  delivery->Offer(Note(7));
  clock_.Advance(kGapTimeout);
  delivery->Poll();
  EXPECT_THAT(recorder_.ids(), ElementsAreArray(Range(1, 7)));
  EXPECT_THAT(store_.fills(),
              ElementsAre(FakeStore::FillCall{0, 7}, FakeStore::FillCall{2, 7},
                          FakeStore::FillCall{4, 7}));
}

TEST_F(OrderedDeliveryTest, AFailedFillIsRetriedAfterAnotherTimeout) {
  store_.Commit(1, 3);
  store_.FailNextFill();
  auto delivery = Make();
  delivery->Start(0);
  delivery->Offer(Note(3));
  clock_.Advance(kGapTimeout);
  delivery->Poll();
  EXPECT_THAT(recorder_.ids(), IsEmpty());
  EXPECT_EQ(delivery->Stats().fill_errors, 1u);
  delivery->Poll();
  EXPECT_EQ(store_.fills().size(), 1u) << "no retry in a tight loop";
  clock_.Advance(kGapTimeout);
  delivery->Poll();
  EXPECT_THAT(recorder_.ids(), ElementsAre(1, 2, 3));
}

TEST_F(OrderedDeliveryTest, PeriodicCheckDeliversAnIdThatWasNeverPublished) {
  // The instance that committed 2 and 3 crashed before publishing them.
  store_.Commit(1, 3);
  auto delivery = Make();
  delivery->Start(0);
  delivery->Offer(Note(1));
  delivery->Poll();
  EXPECT_EQ(store_.checks(), 0) << "not due yet";
  clock_.Advance(kCheckInterval);
  delivery->Poll();
  EXPECT_EQ(store_.checks(), 1);
  EXPECT_THAT(recorder_.ids(), ElementsAre(1)) << "their messages may be "
                                                  "in flight: wait first";
  clock_.Advance(kGapTimeout);
  delivery->Poll();
  EXPECT_THAT(recorder_.ids(), ElementsAre(1, 2, 3));
}

TEST_F(OrderedDeliveryTest, PeriodicCheckRacingAPublishReadsNothing) {
  store_.Commit(1, 2);
  auto delivery = Make();
  delivery->Start(0);
  delivery->Offer(Note(1));
  clock_.Advance(kCheckInterval);
  delivery->Poll();          // learns 2 is committed
  delivery->Offer(Note(2));  // and its message arrives right after
  clock_.Advance(kGapTimeout);
  delivery->Poll();
  EXPECT_THAT(recorder_.ids(), ElementsAre(1, 2));
  EXPECT_THAT(store_.fills(), IsEmpty());
}

TEST_F(OrderedDeliveryTest, CatchUpFillsToTheLastCommittedIdAtOnce) {
  store_.Commit(1, 3);
  auto delivery = Make();
  delivery->Start(0);
  delivery->CatchUp();  // e.g. the bus just resubscribed
  EXPECT_THAT(recorder_.ids(), ElementsAre(1, 2, 3));
  EXPECT_THAT(store_.fills(), ElementsAre(FakeStore::FillCall{0, 3}));
}

TEST_F(OrderedDeliveryTest, StartDiscardsIdsAtOrBelowTheStartPoint) {
  auto delivery = Make();
  delivery->Offer(Note(3));  // offered before Start: held
  delivery->Offer(Note(6));
  delivery->Offer(Note(5));
  EXPECT_THAT(recorder_.ids(), IsEmpty());
  delivery->Start(5);  // 5 and below are durable; streams replay them
  EXPECT_THAT(recorder_.ids(), ElementsAre(6));
  delivery->Offer(Note(4));
  delivery->Offer(Note(5));
  delivery->Offer(Note(7));
  EXPECT_THAT(recorder_.ids(), ElementsAre(6, 7));
}

TEST_F(OrderedDeliveryTest, PastTheHeldCapItFillsWithoutWaiting) {
  store_.Commit(1, 5);
  auto delivery = Make({.max_held = 2});
  delivery->Start(0);
  delivery->Offer(Note(3));
  delivery->Offer(Note(4));
  EXPECT_THAT(store_.fills(), IsEmpty());
  delivery->Offer(Note(5));  // over the cap: not kept, read from the store
  EXPECT_EQ(delivery->Stats().overflow, 1u);
  EXPECT_THAT(store_.fills(), ElementsAre(FakeStore::FillCall{0, 5}));
  EXPECT_THAT(recorder_.ids(), ElementsAre(1, 2, 3, 4, 5));
}

TEST_F(OrderedDeliveryTest, OfferReturnsTheRecipientsOnlyWhenReleasedAtOnce) {
  OrderedDeliveryOptions options;
  options.fill = store_.Fill();
  options.last_committed_id = store_.LastCommitted();
  auto delivery = OrderedDelivery::Create(std::move(options));
  delivery->AddListener(recorder_.Listener(/*recipients=*/3));
  delivery->AddListener(recorder_.Listener(/*recipients=*/4));
  delivery->Start(0);
  EXPECT_EQ(delivery->Offer(Note(2)), 0u);  // held
  EXPECT_EQ(delivery->Offer(Note(1)), 7u);  // 1 is its own; 2 follows
  EXPECT_THAT(recorder_.ids(), ElementsAre(1, 1, 2, 2));
}

TEST_F(OrderedDeliveryTest, NothingIsDeliveredAfterClose) {
  store_.Commit(1, 3);
  store_.DeferFills();
  auto delivery = Make();
  delivery->Start(0);
  delivery->Offer(Note(3));
  clock_.Advance(kGapTimeout);
  delivery->Poll();
  delivery->Close();
  EXPECT_EQ(delivery->Offer(Note(1)), 0u);
  store_.AnswerFills();  // a late store answer is ignored
  delivery.reset();
  EXPECT_THAT(recorder_.ids(), IsEmpty());
}

TEST_F(OrderedDeliveryTest, ConcurrentOffersReachListenersOneAtATimeInOrder) {
  constexpr uint64_t kIds = 20000;
  constexpr int kThreads = 4;
  auto delivery = Make({.max_held = kIds});
  // A slow listener makes overlapping calls likely if they were possible.
  delivery->AddListener([](const NotificationPtr& n) -> size_t {
    if (n->id % 97 == 0) std::this_thread::yield();
    return 0;
  });
  delivery->Start(0);
  // Each thread offers its own share of the ids in a shuffled order, so
  // every thread both holds and releases.
  std::vector<std::vector<uint64_t>> shares(kThreads);
  for (uint64_t id = 1; id <= kIds; ++id) shares[id % kThreads].push_back(id);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    std::shuffle(shares[t].begin(), shares[t].end(), std::mt19937(t));
    threads.emplace_back([&, t] {
      for (uint64_t id : shares[t]) delivery->Offer(Note(id));
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_THAT(recorder_.ids(), ElementsAreArray(Range(1, kIds)));
  EXPECT_EQ(recorder_.overlaps(), 0);
  EXPECT_THAT(store_.fills(), IsEmpty());
}

}  // namespace
}  // namespace notifyd::bus
