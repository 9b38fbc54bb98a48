// Helpers shared by the SqliteStore tests: a store in a temporary directory
// with a controllable clock, and a way to hold the writer thread so several
// calls land in one batch deterministically.
#ifndef NOTIFYD_TESTS_STORAGE_STORE_TEST_UTIL_H_
#define NOTIFYD_TESTS_STORAGE_STORE_TEST_UTIL_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "storage/sqlite_store.h"
#include "tests/storage/temp_dir.h"

namespace notifyd::storage::testing {

class StoreTest : public ::testing::Test {
 protected:
  // Defaults a test may adjust before calling Open().
  SqliteStoreOptions Options() {
    SqliteStoreOptions options;
    options.path = dir_.File("notifyd.db");
    options.now_ms = [this] { return now_ms_.load(); };
    return options;
  }

  // Every store a test opens passes each commit through the writer gate
  // (see HoldWriter) after the test's own on_commit, if any.
  std::unique_ptr<SqliteStore> Open(SqliteStoreOptions options) {
    options.on_commit = [this, inner = std::move(options.on_commit)](
                            const CommitStats& commit) {
      if (inner) inner(commit);
      PassWriterGate();
    };
    absl::StatusOr<std::unique_ptr<SqliteStore>> store =
        SqliteStore::Open(std::move(options));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  std::unique_ptr<SqliteStore> Open() { return Open(Options()); }

  static AppendResult Append(Store& store, std::string channel,
                             std::string event = "e", std::string data = "{}",
                             std::string key = "") {
    absl::StatusOr<AppendResult> result =
        AppendSync(store, {std::move(channel), std::move(event),
                           std::move(data), std::move(key)});
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : AppendResult{};
  }

  static std::vector<uint64_t> Ids(const std::vector<Notification>& rows) {
    std::vector<uint64_t> ids;
    for (const Notification& n : rows) ids.push_back(n.id);
    return ids;
  }

  static std::vector<uint64_t> Ids(const ReplayPage& page) {
    std::vector<uint64_t> ids;
    for (const auto& n : page.notifications) ids.push_back(n->id);
    return ids;
  }

  // Commits one append and keeps the writer thread inside that commit
  // until the returned notification is notified: calls made meanwhile
  // queue up and are committed together in the next batch. (Callbacks run
  // on the completer thread, so blocking one would not hold the writer.)
  std::shared_ptr<absl::Notification> HoldWriter(Store& store) {
    auto held = std::make_shared<absl::Notification>();
    auto release = std::make_shared<absl::Notification>();
    {
      absl::MutexLock lock(&gate_mu_);
      gate_held_ = held;
      gate_release_ = release;
    }
    store.Append({"hold", "e", "{}", ""}, [](absl::StatusOr<AppendResult>) {});
    held->WaitForNotification();
    return release;
  }

 private:
  // Runs on the writer thread after each commit; blocks the first commit
  // after HoldWriter armed the gate.
  void PassWriterGate() {
    std::shared_ptr<absl::Notification> held, release;
    {
      absl::MutexLock lock(&gate_mu_);
      held = std::move(gate_held_);
      release = std::move(gate_release_);
    }
    if (!release) return;
    held->Notify();
    release->WaitForNotification();
  }

  absl::Mutex gate_mu_;
  std::shared_ptr<absl::Notification> gate_held_ ABSL_GUARDED_BY(gate_mu_);
  std::shared_ptr<absl::Notification> gate_release_ ABSL_GUARDED_BY(gate_mu_);

 protected:
  TempDir dir_;
  std::atomic<int64_t> now_ms_{1'700'000'000'000};
};

}  // namespace notifyd::storage::testing

#endif  // NOTIFYD_TESTS_STORAGE_STORE_TEST_UTIL_H_
