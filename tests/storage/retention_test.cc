// SQLite store retention: the retention contract (retention_contract_test.cc)
// against SQLite, and how SQLite prunes: through its single writer, a batch
// per writer task, so a publish waits behind at most one batch.
#include <atomic>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "storage/sqlite_store.h"
#include "tests/storage/store_contract_test.h"
#include "tests/storage/store_test_util.h"

namespace notifyd::storage {
namespace {

using testing::RetentionContractTest;

INSTANTIATE_TEST_SUITE_P(Sqlite, RetentionContractTest,
                         ::testing::Values(testing::SqliteStoreUnderTest()),
                         testing::StoreUnderTestName);

class RetentionTest : public testing::StoreTest {};

TEST_F(RetentionTest, PrunesInSmallBatchesSoPublishesNeverWaitLong) {
  std::atomic<int> commits{0};
  SqliteStoreOptions options = Options();
  options.retention = absl::Hours(1);
  options.prune_batch = 2;
  options.on_commit = [&](const CommitStats&) { ++commits; };
  auto store = Open(options);
  for (int i = 0; i < 7; ++i) Append(*store, "a");
  harness_.AdvanceClock(absl::Hours(2));
  commits = 0;

  auto deleted = store->PruneNow();

  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 7u);
  EXPECT_EQ(commits.load(), 4);  // 2 + 2 + 2 + 1
}

}  // namespace
}  // namespace notifyd::storage
