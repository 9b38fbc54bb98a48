#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/sqlite_store.h"
#include "tests/storage/store_test_util.h"

namespace notifyd::storage {
namespace {

using ::testing::ElementsAre;

class GroupCommitTest : public testing::StoreTest {
 protected:
  // A commit delay no test waits out: a call that waits for company is
  // committed only when company arrives or the store closes.
  SqliteStoreOptions OptionsRecordingBatches() {
    SqliteStoreOptions options = Options();
    options.commit_delay = absl::Hours(1);
    options.commit_delay_batch = 3;
    options.on_commit = [this](const CommitStats& commit) {
      absl::MutexLock lock(&mu_);
      batches_.push_back(commit.calls);
    };
    return options;
  }

  std::vector<size_t> Batches() {
    absl::MutexLock lock(&mu_);
    return batches_;
  }

  static std::future<absl::StatusOr<AppendResult>> AppendAsync(
      Store& store, std::string channel) {
    auto promise =
        std::make_shared<std::promise<absl::StatusOr<AppendResult>>>();
    store.Append({std::move(channel), "e", "{}", ""},
                 [promise](absl::StatusOr<AppendResult> result) {
                   promise->set_value(std::move(result));
                 });
    return promise->get_future();
  }

  // Commits two calls together, then queues one more: as it follows a
  // commit of several calls, the writer holds it for company.
  std::future<absl::StatusOr<AppendResult>> QueueACallAfterABusyCommit(
      Store& store) {
    auto release = HoldWriter(store);
    auto a = AppendAsync(store, "a");
    auto b = AppendAsync(store, "b");
    release->Notify();
    EXPECT_TRUE(a.get().ok());
    EXPECT_TRUE(b.get().ok());
    return AppendAsync(store, "c");
  }

 private:
  absl::Mutex mu_;
  std::vector<size_t> batches_ ABSL_GUARDED_BY(mu_);
};

TEST_F(GroupCommitTest, ConcurrentAppendsShareCommitsAndAllSurvive) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 200;
  std::atomic<int> commits{0};
  std::atomic<size_t> committed_calls{0};
  SqliteStoreOptions options = Options();
  options.on_commit = [&](const CommitStats& commit) {
    EXPECT_GE(commit.commit_seconds, 0.0);
    ++commits;
    committed_calls += commit.calls;
  };

  absl::Mutex mu;
  std::vector<uint64_t> ids;
  {
    auto store = Open(options);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::vector<uint64_t> mine;
        for (int i = 0; i < kPerThread; ++i) {
          auto result = AppendSync(*store, {"channel-" + std::to_string(t % 4),
                                            "e", std::to_string(i), ""});
          ASSERT_TRUE(result.ok()) << result.status();
          mine.push_back(result->notification->id);
        }
        // Each caller sees its own appends in increasing id order.
        EXPECT_TRUE(std::is_sorted(mine.begin(), mine.end()));
        absl::MutexLock lock(&mu);
        ids.insert(ids.end(), mine.begin(), mine.end());
      });
    }
    for (std::thread& thread : threads) thread.join();
  }

  constexpr size_t kTotal = kThreads * kPerThread;
  ASSERT_EQ(ids.size(), kTotal);
  EXPECT_EQ(std::set<uint64_t>(ids.begin(), ids.end()).size(), kTotal);
  EXPECT_EQ(committed_calls.load(), kTotal);
  EXPECT_LT(commits.load(), static_cast<int>(kTotal))
      << "every append got its own commit: no batching happened";

  // Everything acknowledged is there after reopening.
  auto store = Open(Options());
  std::vector<uint64_t> stored;
  uint64_t after = 0;
  for (;;) {
    auto page = ReplaySync(
        *store,
        {{"channel-0", "channel-1", "channel-2", "channel-3"}, after, 500});
    ASSERT_TRUE(page.ok()) << page.status();
    if (page->notifications.empty()) break;
    for (const auto& n : page->notifications) stored.push_back(n->id);
    after = stored.back();
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(stored, ids);
}

TEST_F(GroupCommitTest, ACallerAloneNeverWaitsForCompany) {
  auto store = Open(OptionsRecordingBatches());
  // Each would wait the hour-long commit delay if a lone call waited.
  for (int i = 0; i < 3; ++i) Append(*store, "solo");
  EXPECT_THAT(Batches(), ElementsAre(1, 1, 1));
}

TEST_F(GroupCommitTest, UnderLoadACallWaitsUntilEnoughCallsShareItsCommit) {
  auto store = Open(OptionsRecordingBatches());
  auto c = QueueACallAfterABusyCommit(*store);
  EXPECT_EQ(c.wait_for(std::chrono::milliseconds(200)),
            std::future_status::timeout)
      << "committed alone right after a commit of several calls";
  auto d = AppendAsync(*store, "d");
  auto e = AppendAsync(*store, "e");
  ASSERT_TRUE(c.get().ok());
  ASSERT_TRUE(d.get().ok());
  ASSERT_TRUE(e.get().ok());
  // The HoldWriter call, a and b, then c with its company (commit_delay_batch).
  EXPECT_THAT(Batches(), ElementsAre(1, 2, 3));
}

TEST_F(GroupCommitTest, CloseCommitsACallStillWaitingForCompany) {
  auto store = Open(OptionsRecordingBatches());
  auto c = QueueACallAfterABusyCommit(*store);
  store->Close();
  absl::StatusOr<AppendResult> result = c.get();
  ASSERT_TRUE(result.ok()) << result.status();

  store = Open(Options());
  auto listed = ListSync(*store, {"c"});
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, result->notification->id);
}

TEST_F(GroupCommitTest, ACommitReportsHowLongItsOldestCallWaitedForTheWriter) {
  absl::Mutex mu;
  std::vector<CommitStats> commits;
  SqliteStoreOptions options = Options();
  options.on_commit = [&](const CommitStats& commit) {
    absl::MutexLock lock(&mu);
    commits.push_back(commit);
  };
  auto store = Open(options);

  auto release = HoldWriter(*store);
  auto a = AppendAsync(*store, "a");
  auto b = AppendAsync(*store, "b");
  constexpr absl::Duration kHeld = absl::Milliseconds(50);
  absl::SleepFor(kHeld);
  release->Notify();
  ASSERT_TRUE(a.get().ok());
  ASSERT_TRUE(b.get().ok());

  absl::MutexLock lock(&mu);
  // The HoldWriter call, then a and b together.
  ASSERT_EQ(commits.size(), 2u);
  EXPECT_EQ(commits[1].calls, 2u);
  // a was queued before the writer was held up, so it waited at least that.
  EXPECT_GE(commits[1].queued_seconds, absl::ToDoubleSeconds(kHeld));
  EXPECT_GE(commits[1].commit_seconds, 0.0);
}

}  // namespace
}  // namespace notifyd::storage
