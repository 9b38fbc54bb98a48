// The inbox part of the Store contract, checked the slow way: an inbox's
// unread and unseen counts, which every store keeps as things change
// (storage/inbox.h), must equal a count of its rows after any mix of
// appends, state changes, deletes, collapse keys, expiry and retention. Run
// against every store by the binaries that instantiate StoreContractTest
// (store_contract_test.h).
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "storage/inbox.h"
#include "storage/store.h"
#include "tests/storage/store_contract_test.h"

namespace notifyd::storage {
namespace {

using testing::StoreContractTest;
using testing::StoreSettings;

// Counts by listing every notification, as GetCounts must not.
Counts BruteForceCounts(Store& store, const std::string& channel) {
  auto count = [&](ListFilter filter) {
    uint64_t n = 0;
    uint64_t before = 0;
    for (;;) {
      auto rows = ListSync(store, {channel, before, kMaxPageRows, filter});
      EXPECT_TRUE(rows.ok()) << rows.status();
      if (!rows.ok() || rows->empty()) return n;
      n += rows->size();
      before = rows->back().id;
    }
  };
  return Counts{count(ListFilter::kUnread), count(ListFilter::kUnseen)};
}

// Thousands of random appends (some with collapse keys or expiry), state
// changes, deletes, expiry and retention passes, several at a time so they
// share commits; after each round every inbox's counts must equal a
// brute-force count.
TEST_P(StoreContractTest, CountsMatchABruteForceCountAfterRandomOperations) {
  constexpr int kRounds = 250;
  constexpr int kOpsPerRound = 8;
  StoreSettings settings;
  settings.max_per_channel = 60;
  settings.prune_batch = 7;
  auto store = Open(std::move(settings));
  for (uint32_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    // Inboxes of their own per seed, so each run starts empty.
    const std::string tag = std::to_string(seed);
    const std::vector<std::string> inboxes = {"user:a" + tag, "user:b" + tag,
                                              "user:c" + tag};
    std::mt19937 random(seed);
    auto pick = [&random](size_t n) {
      return static_cast<size_t>(random() % n);
    };
    std::map<std::string, std::vector<uint64_t>> ids;  // may hold deleted ids

    for (int round = 0; round < kRounds; ++round) {
      std::vector<std::future<absl::Status>> pending;
      for (int i = 0; i < kOpsPerRound; ++i) {
        const std::string& inbox = inboxes[pick(inboxes.size())];
        std::vector<uint64_t>& known = ids[inbox];
        auto some_ids = [&] {
          std::vector<uint64_t> chosen;
          for (size_t n = pick(4); n > 0 && !known.empty(); --n) {
            chosen.push_back(known[pick(known.size())]);
          }
          if (chosen.empty()) chosen.push_back(999999);
          return chosen;
        };
        auto promise = std::make_shared<std::promise<absl::Status>>();
        pending.push_back(promise->get_future());
        const size_t op = pick(10);
        if (op < 4) {
          AppendRequest request{inbox, "e", "x", ""};
          if (pick(4) == 0)
            request.collapse_key = "k" + std::to_string(pick(3));
          if (pick(5) == 0) {
            request.expires_at_ms =
                harness().NowMs() + 1000 * static_cast<int64_t>(1 + pick(5));
          }
          if (pick(6) == 0)
            request.idempotency_key = "i" + std::to_string(pick(20));
          store->Append(request,
                        [promise, &known](absl::StatusOr<AppendResult> r) {
                          if (r.ok()) known.push_back(r->notification->id);
                          promise->set_value(r.status());
                        });
        } else if (op < 8) {
          StateChange change;
          change.channel = inbox;
          change.ids = some_ids();
          if (pick(4) == 0 && !known.empty()) {
            change.up_to_id = known[pick(known.size())];
          }
          const size_t flags = 1 + pick(7);
          change.seen = (flags & 1) != 0 && pick(2) == 0;
          if ((flags & 2) != 0) change.read = pick(2) == 0;
          if ((flags & 4) != 0) change.archived = pick(2) == 0;
          if (!change.seen && !change.read && !change.archived)
            change.seen = true;
          store->ChangeState(change, [promise](absl::StatusOr<ChangeResult> r) {
            promise->set_value(r.status());
          });
        } else {
          DeleteRequest request{inbox, {}, ""};
          if (pick(3) == 0) {
            request.collapse_key = "k" + std::to_string(pick(3));
          } else {
            request.ids = some_ids();
          }
          store->Delete(request, [promise](absl::StatusOr<ChangeResult> r) {
            promise->set_value(r.status());
          });
        }
      }
      for (auto& done : pending) ASSERT_TRUE(done.get().ok());
      if (pick(5) == 0) harness().AdvanceClock(absl::Milliseconds(700));
      if (pick(10) == 0) {
        ASSERT_TRUE(harness().ExpireNow(*store).ok());
      }
      if (pick(15) == 0) {
        ASSERT_TRUE(harness().PruneNow(*store).ok());
      }
      for (const std::string& inbox : inboxes) {
        auto counts = GetCountsSync(*store, inbox);
        ASSERT_TRUE(counts.ok()) << counts.status();
        ASSERT_EQ(*counts, BruteForceCounts(*store, inbox))
            << inbox << " after round " << round;
      }
    }
  }
}

}  // namespace
}  // namespace notifyd::storage
