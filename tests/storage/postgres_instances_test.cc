// Several notifyd instances on one PostgreSQL database (postgres_test_util.h:
// the binary's server, a fresh database per test): ids dense and in commit
// order across instances, an append waiting for another instance's commit,
// inbox counts kept right when instances change and prune one inbox, and
// idempotency keys shared by all.
#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "storage/postgres_store.h"
#include "tests/storage/postgres_test_util.h"

namespace notifyd::storage {
namespace {

using testing::Hold;
using testing::PostgresStoreTest;

// --- Several instances on one database -------------------------------------

TEST_F(PostgresStoreTest,
       TwoInstancesAppendingConcurrentlyGetDenseDistinctIds) {
  constexpr int kThreads = 3;
  constexpr int kPerThread = 40;
  struct Instance {
    std::unique_ptr<StoreEngine> store;
    absl::Mutex mu;
    std::vector<uint64_t> seen ABSL_GUARDED_BY(mu);  // in callback order
  };
  Instance instances[2];
  for (Instance& instance : instances) instance.store = Open();

  absl::BlockingCounter pending(2 * kThreads * kPerThread);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (Instance& instance : instances) {
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          instance.store->Append(
              {"c" + std::to_string(t), "e", std::to_string(i), "", 0, ""},
              [&](absl::StatusOr<AppendResult> r) {
                if (r.ok()) {
                  absl::MutexLock lock(&instance.mu);
                  instance.seen.push_back(r->notification->id);
                } else {
                  ++failures;
                }
                pending.DecrementCount();
              });
        }
      });
    }
  }
  for (std::thread& t : threads) t.join();
  pending.Wait();

  EXPECT_EQ(failures.load(), 0);
  std::set<uint64_t> all;
  size_t total = 0;
  for (Instance& instance : instances) {
    absl::MutexLock lock(&instance.mu);
    // Each instance's callbacks ran in commit order: its own ids ascending.
    EXPECT_TRUE(std::is_sorted(instance.seen.begin(), instance.seen.end()));
    EXPECT_FALSE(instance.seen.empty());
    all.insert(instance.seen.begin(), instance.seen.end());
    total += instance.seen.size();
  }
  // Distinct, and dense from 1: no id lost or taken twice.
  EXPECT_EQ(all.size(), total);
  ASSERT_EQ(total, size_t{2 * kThreads * kPerThread});
  EXPECT_EQ(*all.begin(), 1u);
  EXPECT_EQ(*all.rbegin(), total);
  EXPECT_EQ(*LastCommittedIdSync(*instances[0].store), total);
  EXPECT_EQ(*LastCommittedIdSync(*instances[1].store), total);
  EXPECT_EQ(SqlInt("SELECT count(*) FROM notifications"),
            static_cast<int64_t>(total));
}

TEST_F(PostgresStoreTest, AnAppendWaitsForAnotherInstancesCommitAndFollowsIt) {
  auto a = Open();
  auto b = Open();
  Append(*b, "warm-up");  // b's connections are up and the row exists

  // a's batch holds the id counter inside its open transaction.
  Hold hold = HoldWriter(*a);
  auto b_append = AppendAsync(*b, {"b", "e", "{}", "", 0, ""});

  EXPECT_EQ(b_append.wait_for(std::chrono::milliseconds(500)),
            std::future_status::timeout)
      << "b committed while a held the id counter";
  // What b's readers see is only what is committed: not a's held row.
  EXPECT_EQ(*LastCommittedIdSync(*b), 1u);
  hold.release->Notify();

  absl::StatusOr<AppendResult> held = hold.append.get();
  absl::StatusOr<AppendResult> after = b_append.get();
  ASSERT_TRUE(held.ok()) << held.status();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(held->notification->id, 2u);
  EXPECT_EQ(after->notification->id, held->notification->id + 1);
}

TEST_F(PostgresStoreTest, InstancesChangingAndPruningOneInboxKeepItsCounts) {
  // Two instances append to, change and delete from the same inbox at
  // once while a third prunes it: their batches take turns on the id
  // counter, so the counts kept stay those of the rows.
  PostgresStoreOptions pruning = Options();
  pruning.max_per_channel = 30;
  pruning.prune_batch = 7;
  std::unique_ptr<StoreEngine> stores[] = {Open(), Open(), Open(pruning)};
  const std::string inbox = "user:shared";
  for (int i = 0; i < 40; ++i) Append(*stores[0], inbox);

  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < 2; ++s) {
    threads.emplace_back([&, s] {
      Store& store = *stores[s];
      for (int i = 0; i < 60; ++i) {
        absl::StatusOr<AppendResult> appended =
            AppendSync(store, {inbox, "e", "{}", "", 0, ""});
        if (!appended.ok()) {
          ++failures;
          continue;
        }
        const uint64_t id = appended->notification->id;
        StateChange change;
        change.channel = inbox;
        change.ids = {id, id - 3};
        switch (i % 4) {
          case 0:
            change.seen = true;
            break;
          case 1:
            change.read = true;
            break;
          case 2:
            change.archived = true;
            change.up_to_id = id - 10;
            break;
          case 3:
            change.read = false;
            change.up_to_id = id - 5;
            break;
        }
        if (!ChangeStateSync(store, change).ok()) ++failures;
        if (i % 7 == 0 && !DeleteSync(store, {inbox, {id - 1}, ""}).ok()) {
          ++failures;
        }
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 10; ++i) {
      if (!stores[2]->PruneNow().ok()) ++failures;
    }
  });
  for (std::thread& t : threads) t.join();
  absl::StatusOr<uint64_t> pruned = stores[2]->PruneNow();

  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(SqlInt("SELECT count(*) FROM notifications WHERE box < 3"), 30);
  EXPECT_GT(SqlInt("SELECT count(*) FROM notifications WHERE box = 3"), 0);
  const Counts kept = *GetCountsSync(*stores[0], inbox);
  EXPECT_EQ(static_cast<int64_t>(kept.unread),
            SqlInt("SELECT count(*) FROM notifications WHERE channel = '" +
                   inbox + "' AND box = 0"));
  EXPECT_EQ(static_cast<int64_t>(kept.unseen),
            SqlInt("SELECT count(*) FROM notifications WHERE channel = '" +
                   inbox + "' AND box < 3 AND seen_at_ms = 0"));
}

TEST_F(PostgresStoreTest, AnIdempotencyKeySeenByOneInstanceIsADuplicateOnAll) {
  auto a = Open();
  auto b = Open();
  AppendResult original = Append(*a, "c", "e", "from a", "key");

  AppendResult again = Append(*b, "c", "e", "from b", "key");

  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.notification->id, original.notification->id);
  EXPECT_EQ(again.notification->data, "from a");
}

}  // namespace
}  // namespace notifyd::storage
