// The in-memory store: the store engine (store_engine.h) on a database held
// in this process's memory. For tests and demos: NOT DURABLE. Everything is
// gone when the process ends, and "committed" means applied under the
// database's lock, not synced anywhere.
//
// Otherwise it keeps the whole Store contract (store.h) like the SQLite and
// PostgreSQL stores, through the same engine and write operations (threads,
// group commit, callback order, close, pruning, expiry, inbox counts and
// records): dense ids in commit order that are never reused, idempotency
// and collapse keys per channel, replay pages sized by rows and bytes,
// listings by filter, state changes, deletes, ReadIdRange and
// LastCommittedId, retention by age and max_per_channel, push
// subscriptions and pushed marks. A call that fails
// halfway is undone from a log of what it changed.
//
// The database outlives the stores opened on it, as a file does: a test can
// close a store and open another on the same rows, and several stores on
// one database behave like several instances on one PostgreSQL database.
#ifndef NOTIFYD_STORAGE_MEMORY_STORE_H_
#define NOTIFYD_STORAGE_MEMORY_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/inbox.h"
#include "storage/push.h"
#include "storage/store_engine.h"

namespace notifyd::storage {

// The rows of one in-memory database. Thread-safe; readers share its lock,
// a batch of writes holds it alone.
class MemoryDatabase {
 public:
  // Which write a WriteCheck is asked about.
  enum class Write { kInsert, kMarkRead };
  // Test hook, like a trigger: asked about every row about to be inserted
  // (the new row) or to have its read flag changed (the row before); a
  // failure fails that call, which then changes nothing. Called under the
  // database's lock.
  using WriteCheck = std::function<absl::Status(Write, const Notification&)>;

  void SetWriteCheck(WriteCheck check);
  // How many rows hold this id: 0 or 1.
  int64_t CountRowsWithId(uint64_t id);
  // Deletes every row with a smaller id, as retention would (counts
  // included); returns how many. Ids stay taken.
  uint64_t DeleteBelow(uint64_t id);

 private:
  friend class MemoryBackend;
  friend class MemoryReader;

  struct Row {
    std::shared_ptr<const Notification> notification;
    std::string idempotency_key;  // empty: none
    int64_t pushed_at_ms = 0;     // 0: not pushed (storage/push.h)
  };

  // Adds `row` and everything that points at it.
  void Put(Row row) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the row and everything that points at it; returns it.
  Row Erase(uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A notification's state as the writes report it.
  static FlagRow FlagsOf(const Notification& n);
  // Adds `delta` to an inbox's counts.
  Counts AddCounts(const std::string& channel, int64_t unread, int64_t unseen)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::map<uint64_t, Row> rows_ ABSL_GUARDED_BY(mu_);
  // Each channel's ids.
  std::map<std::string, std::set<uint64_t>> channels_ ABSL_GUARDED_BY(mu_);
  // (channel, idempotency_key) -> id.
  std::map<std::pair<std::string, std::string>, uint64_t> keys_
      ABSL_GUARDED_BY(mu_);
  // (channel, collapse_key) -> ids.
  std::map<std::pair<std::string, std::string>, std::set<uint64_t>> collapse_
      ABSL_GUARDED_BY(mu_);
  // (expires_at_ms, id) of the rows that expire.
  std::set<std::pair<int64_t, uint64_t>> expiry_ ABSL_GUARDED_BY(mu_);
  // Each inbox's counts.
  std::map<std::string, Counts> counts_ ABSL_GUARDED_BY(mu_);
  // Push subscriptions by endpoint.
  std::map<std::string, PushSubscription> push_subscriptions_
      ABSL_GUARDED_BY(mu_);
  // The largest id ever taken.
  uint64_t last_id_ ABSL_GUARDED_BY(mu_) = 0;
  // What the rows' strings take, plus a fixed cost per row.
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  WriteCheck check_ ABSL_GUARDED_BY(mu_);
};

struct MemoryStoreOptions : StoreOptions {
  // The database to open; null: a new, empty one.
  std::shared_ptr<MemoryDatabase> database;
};

// Starts a store on `options.database` (or a new one). Fails only with
// INVALID_ARGUMENT for options out of range (StoreOptions::Validate).
absl::StatusOr<std::unique_ptr<StoreEngine>> OpenMemoryStore(
    const MemoryStoreOptions& options);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_MEMORY_STORE_H_
