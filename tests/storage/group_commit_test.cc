#include <algorithm>
#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "storage/sqlite_store.h"
#include "tests/storage/store_test_util.h"

namespace notifyd::storage {
namespace {

class GroupCommitTest : public testing::StoreTest {};

TEST_F(GroupCommitTest, ConcurrentAppendsShareCommitsAndAllSurvive) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 200;
  std::atomic<int> commits{0};
  std::atomic<size_t> committed_calls{0};
  SqliteStoreOptions options = Options();
  options.on_commit = [&](double seconds, size_t batch) {
    EXPECT_GE(seconds, 0.0);
    ++commits;
    committed_calls += batch;
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

}  // namespace
}  // namespace notifyd::storage
