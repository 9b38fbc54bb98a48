// The contract of storage::Store (storage/store.h), written once and run
// against every implementation: store_contract_test.cc and
// retention_contract_test.cc hold the tests, and each implementation's test
// binary instantiates them with a StoreHarness of its own:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContractTest,
//                            ::testing::Values(SqliteStoreUnderTest()),
//                            StoreUnderTestName);
//
// What only one implementation does (SQLite's WAL, PostgreSQL's several
// instances on one database...) stays in that implementation's own tests.
//
// The helpers here are inline and free of any implementation so that every
// storage test may use them without linking the contract tests.
#ifndef NOTIFYD_TESTS_STORAGE_STORE_CONTRACT_TEST_H_
#define NOTIFYD_TESTS_STORAGE_STORE_CONTRACT_TEST_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "storage/push.h"
#include "storage/store.h"
#include "storage/store_engine.h"

namespace notifyd::storage::testing {

// Blocking and asynchronous shorthands shared by the storage tests.
struct StoreTestHelpers {
  // Appends and expects success; an empty result when it failed.
  static AppendResult Append(Store& store, std::string channel,
                             std::string event = "e", std::string data = "{}",
                             std::string key = "") {
    absl::StatusOr<AppendResult> result =
        AppendSync(store, {std::move(channel), std::move(event),
                           std::move(data), std::move(key)});
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : AppendResult{};
  }

  static std::future<absl::StatusOr<AppendResult>> AppendAsync(
      Store& store, AppendRequest request) {
    auto promise =
        std::make_shared<std::promise<absl::StatusOr<AppendResult>>>();
    store.Append(std::move(request),
                 [promise](absl::StatusOr<AppendResult> result) {
                   promise->set_value(std::move(result));
                 });
    return promise->get_future();
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
};

// What a contract test may set when it opens a store; the harness maps it
// onto the implementation's options. The defaults are StoreOptions' own
// (storage/store_engine.h), so an unset field means what it means in
// production.
struct StoreSettings {
  absl::Duration retention = absl::ZeroDuration();
  uint64_t max_per_channel = 0;
  absl::Duration prune_interval = absl::Seconds(30);
  int prune_batch = 1000;
  // Long, unlike production's, so that no expiry commit slips into a test
  // that counts commits or holds the writer; expiry tests call ExpireNow()
  // or set it.
  absl::Duration expiry_interval = absl::Hours(1);
  std::function<void(std::vector<std::shared_ptr<const Notification>>)>
      on_records;
  std::function<void(const CommitStats&)> on_commit;
  size_t max_push_subscriptions = kDefaultMaxPushSubscriptions;
};

// A writer held by StoreHarness::HoldWriter.
struct Hold {
  // Notify to let the writer go on.
  std::shared_ptr<absl::Notification> release;
  // The held append's outcome.
  std::future<absl::StatusOr<AppendResult>> append;
};

// One implementation of Store as the contract tests see it: a fresh, empty
// database per test, a fake clock, and the few things a test does that each
// database does its own way. One harness per test; it outlives the stores
// it opened.
class StoreHarness {
 public:
  virtual ~StoreHarness() = default;

  // Creates the test's empty database. Called once, before anything else;
  // may fail the test with ASSERT_*.
  virtual void SetUp() {}

  // Opens (or re-opens) a store on the test's database. Every store it
  // opens reads the harness clock and passes its commits through the writer
  // gate (see HoldWriter).
  virtual absl::StatusOr<std::unique_ptr<Store>> Open(
      StoreSettings settings) = 0;

  // StoreEngine::PruneNow() on a store that Open() returned: not part of
  // Store, since production only prunes in the background.
  absl::StatusOr<uint64_t> PruneNow(Store& store) {
    auto* engine = dynamic_cast<StoreEngine*>(&store);
    if (engine == nullptr) {
      return absl::InvalidArgumentError("not a store this harness opened");
    }
    return engine->PruneNow();
  }

  // StoreEngine::ExpireNow() on a store that Open() returned.
  absl::StatusOr<uint64_t> ExpireNow(Store& store) {
    auto* engine = dynamic_cast<StoreEngine*>(&store);
    if (engine == nullptr) {
      return absl::InvalidArgumentError("not a store this harness opened");
    }
    return engine->ExpireNow();
  }

  // Which statement RejectWrites fails.
  enum class Write { kInsert, kMarkRead };

  // Behind the store's back (a trigger, as an operator might add), fails
  // every insert of a row whose event is `event`, or every mark-read of
  // such a row, with "rejected by test".
  virtual void RejectWrites(Write write, const std::string& event) = 0;

  // How many rows with this id a connection of its own sees: only committed
  // ones. Callable from a store's callback thread.
  virtual int64_t CommittedRowsWithId(uint64_t id) = 0;

  // Records in the test's database, as a newer notifyd would, that its
  // schema is at `version`. False when the database has no schema
  // (memory).
  virtual bool SetSchemaVersion(int version) = 0;

  // The fake wall clock every store of the harness reads.
  int64_t NowMs() const { return now_ms_.load(); }
  // Negative steps it back, as an NTP correction may.
  void AdvanceClock(absl::Duration by) {
    now_ms_ += absl::ToInt64Milliseconds(by);
  }

  // Appends one notification and keeps the store's writer at the gate
  // until `release` is notified, so calls made meanwhile queue up and are
  // committed together in the next batch. Where the gate is depends on the
  // implementation (after the commit in SQLite, before COMMIT with the id
  // counter locked in PostgreSQL); the contract tests rely only on the
  // batching. (Callbacks run on another thread than the writer, so
  // blocking one would not hold it.)
  Hold HoldWriter(Store& store) {
    auto held = std::make_shared<absl::Notification>();
    auto release = std::make_shared<absl::Notification>();
    {
      absl::MutexLock lock(&gate_mu_);
      gate_held_ = held;
      gate_release_ = release;
    }
    Hold hold{release,
              StoreTestHelpers::AppendAsync(store, {"hold", "e", "{}", ""})};
    held->WaitForNotification();
    return hold;
  }

 protected:
  // For the implementation's now_ms option.
  std::function<int64_t()> Clock() {
    return [this] { return now_ms_.load(); };
  }

  // For the implementation's commit hook, on the writer thread: blocks the
  // first commit after HoldWriter armed the gate.
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

  // Puts the gate in `options`' commit hook, after the hook already there
  // (if any): the gate for a database whose commit hook runs on the writer.
  void GateAfterEachCommit(StoreOptions& options) {
    options.on_commit = [this, inner = std::move(options.on_commit)](
                            const CommitStats& commit) {
      if (inner) inner(commit);
      PassWriterGate();
    };
  }

 private:
  std::atomic<int64_t> now_ms_{1'700'000'000'000};

  absl::Mutex gate_mu_;
  std::shared_ptr<absl::Notification> gate_held_ ABSL_GUARDED_BY(gate_mu_);
  std::shared_ptr<absl::Notification> gate_release_ ABSL_GUARDED_BY(gate_mu_);
};

// What every harness shares: the mapping of StoreSettings onto the
// database's options (a StoreOptions), and opening them with `open`
// (OpenSqliteStore...). An implementation names the test's database in the
// options, and may move the writer gate.
template <typename ConcreteOptions,
          absl::StatusOr<std::unique_ptr<StoreEngine>> (*open)(
              const ConcreteOptions&)>
class StoreHarnessFor : public StoreHarness {
 public:
  // Defaults a test may adjust before opening: the test's database and the
  // harness clock.
  ConcreteOptions Options() {
    ConcreteOptions options;
    SetDatabase(options);
    options.now_ms = Clock();
    return options;
  }

  // Opens a store that passes its commits through the writer gate (see
  // HoldWriter).
  absl::StatusOr<std::unique_ptr<StoreEngine>> OpenConcrete(
      ConcreteOptions options) {
    AddWriterGate(options);
    return open(options);
  }

  // OpenConcrete, expecting success; null when it failed.
  std::unique_ptr<StoreEngine> OpenOrFail(ConcreteOptions options) {
    absl::StatusOr<std::unique_ptr<StoreEngine>> store =
        OpenConcrete(std::move(options));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  absl::StatusOr<std::unique_ptr<Store>> Open(StoreSettings settings) final {
    ConcreteOptions options = Options();
    options.retention = settings.retention;
    options.max_per_channel = settings.max_per_channel;
    options.prune_interval = settings.prune_interval;
    options.prune_batch = settings.prune_batch;
    options.expiry_interval = settings.expiry_interval;
    options.on_records = std::move(settings.on_records);
    options.on_commit = std::move(settings.on_commit);
    options.max_push_subscriptions = settings.max_push_subscriptions;
    absl::StatusOr<std::unique_ptr<StoreEngine>> store =
        OpenConcrete(std::move(options));
    if (!store.ok()) return store.status();
    return std::unique_ptr<Store>(std::move(*store));
  }

 protected:
  // Points `options` at the test's database.
  virtual void SetDatabase(ConcreteOptions& options) = 0;

  // By default after each commit, once the options' own commit hook ran.
  virtual void AddWriterGate(ConcreteOptions& options) {
    GateAfterEachCommit(options);
  }
};

// The parameter of the contract suites: which implementation, and how to
// make its harness (one per test).
struct StoreUnderTest {
  std::string name;
  std::function<std::unique_ptr<StoreHarness>()> make_harness;
};

// The parameter for a store whose harness is `Harness`.
template <typename Harness>
StoreUnderTest UnderTest(std::string name) {
  return {std::move(name), [] { return std::make_unique<Harness>(); }};
}

// Names the instantiated tests after the implementation, and failure
// messages print it instead of the parameter's bytes.
inline std::string StoreUnderTestName(
    const ::testing::TestParamInfo<StoreUnderTest>& info) {
  return info.param.name;
}
inline void PrintTo(const StoreUnderTest& store, std::ostream* os) {
  *os << store.name;
}

// What every Store promises (store.h): append, list, replay, mark read,
// ids, reads and close.
class StoreContractTest : public ::testing::TestWithParam<StoreUnderTest>,
                          public StoreTestHelpers {
 protected:
  void SetUp() override {
    harness_ = GetParam().make_harness();
    ASSERT_NE(harness_, nullptr);
    ASSERT_NO_FATAL_FAILURE(harness_->SetUp());
  }

  StoreHarness& harness() { return *harness_; }

  // Opens a store and expects success; null when it failed.
  std::unique_ptr<Store> Open(StoreSettings settings = {}) {
    absl::StatusOr<std::unique_ptr<Store>> store =
        harness_->Open(std::move(settings));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

 private:
  std::unique_ptr<StoreHarness> harness_;
};

// What retention (retention, max_per_channel) promises, for every Store.
class RetentionContractTest : public StoreContractTest {};

}  // namespace notifyd::storage::testing

#endif  // NOTIFYD_TESTS_STORAGE_STORE_CONTRACT_TEST_H_
