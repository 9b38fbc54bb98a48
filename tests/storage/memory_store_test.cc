// The in-memory store (storage/memory_store.h): the Store and retention
// contracts (store_contract_test.cc, retention_contract_test.cc) on the
// same engine as SQLite and PostgreSQL, and what only memory has: a
// database object that outlives its stores and can be shared.
#include "storage/memory_store.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/storage/store_contract_test.h"

namespace notifyd::storage {
namespace {

using ::testing::ElementsAre;
using testing::RetentionContractTest;
using testing::StoreContractTest;

// A fresh database per harness (so per test).
class MemoryHarness
    : public testing::StoreHarnessFor<MemoryStoreOptions, &OpenMemoryStore> {
 public:
  MemoryDatabase& database() { return *database_; }

  // StoreHarness:
  void RejectWrites(Write write, const std::string& event) override {
    const MemoryDatabase::Write rejected =
        write == Write::kInsert ? MemoryDatabase::Write::kInsert
                                : MemoryDatabase::Write::kMarkRead;
    database_->SetWriteCheck(
        [rejected, event](MemoryDatabase::Write w, const Notification& row) {
          return w == rejected && row.event == event
                     ? absl::InternalError("rejected by test")
                     : absl::OkStatus();
        });
  }

  int64_t CommittedRowsWithId(uint64_t id) override {
    return database_->CountRowsWithId(id);
  }

  bool SetSchemaVersion(int) override { return false; }

 protected:
  void SetDatabase(MemoryStoreOptions& options) override {
    options.database = database_;
  }

 private:
  const std::shared_ptr<MemoryDatabase> database_ =
      std::make_shared<MemoryDatabase>();
};

// Both contracts in one binary: memory needs no set-up to share.
INSTANTIATE_TEST_SUITE_P(
    Memory, StoreContractTest,
    ::testing::Values(testing::UnderTest<MemoryHarness>("MemoryStore")),
    testing::StoreUnderTestName);
INSTANTIATE_TEST_SUITE_P(
    Memory, RetentionContractTest,
    ::testing::Values(testing::UnderTest<MemoryHarness>("MemoryStore")),
    testing::StoreUnderTestName);

class MemoryStoreTest : public ::testing::Test,
                        public testing::StoreTestHelpers {
 protected:
  std::unique_ptr<StoreEngine> Open() {
    return harness_.OpenOrFail(harness_.Options());
  }

  MemoryHarness harness_;
};

// Like several instances on one PostgreSQL database: one sequence of ids.
TEST_F(MemoryStoreTest, StoresOnOneDatabaseShareItsRowsAndIds) {
  auto a = Open();
  auto b = Open();

  uint64_t first = Append(*a, "c", "e", "from a").notification->id;
  uint64_t second = Append(*b, "c", "e", "from b").notification->id;
  AppendResult again = Append(*b, "c", "e", "from b", "key");
  AppendResult duplicate = Append(*a, "c", "e", "from a", "key");

  EXPECT_EQ(first, 1u);
  EXPECT_EQ(second, 2u);
  EXPECT_TRUE(duplicate.duplicate);
  EXPECT_EQ(duplicate.notification->id, again.notification->id);
  EXPECT_THAT(Ids(*ListSync(*a, {"c"})), ElementsAre(3, 2, 1));
}

TEST_F(MemoryStoreTest, DeleteBelowKeepsTheIdsTaken) {
  auto store = Open();
  for (int i = 0; i < 4; ++i) Append(*store, "user:c");

  EXPECT_EQ(harness_.database().DeleteBelow(4), 3u);

  EXPECT_THAT(Ids(*ReplaySync(*store, {{"user:c"}, 0, 10})), ElementsAre(4));
  EXPECT_EQ(Append(*store, "user:c").notification->id, 5u);
  EXPECT_EQ(*UnreadCountSync(*store, "user:c"), 2u);
}

TEST_F(MemoryStoreTest, OptionsOutOfRangeAreRefused) {
  MemoryStoreOptions options = harness_.Options();
  options.readers = 0;

  auto store = OpenMemoryStore(options);

  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(store.status().message(), ::testing::HasSubstr("readers"));
}

}  // namespace
}  // namespace notifyd::storage
