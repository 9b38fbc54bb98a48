// What every store takes (store_engine.h), whatever its database. Each
// database's options extend it (SqliteStoreOptions, PostgresStoreOptions,
// MemoryStoreOptions); the defaults here are the only ones.
#ifndef NOTIFYD_STORAGE_STORE_OPTIONS_H_
#define NOTIFYD_STORAGE_STORE_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "storage/push.h"
#include "storage/store.h"

namespace notifyd::storage {

struct StoreOptions {
  // Rows older than this are pruned. Zero keeps them forever.
  absl::Duration retention = absl::ZeroDuration();
  // Only the newest max_per_channel rows of each channel are kept. Zero: no
  // limit.
  uint64_t max_per_channel = 0;
  // How often the pruner runs when retention or max_per_channel is set.
  absl::Duration prune_interval = absl::Seconds(30);
  // Rows per delete batch; bounds how long a prune delays a publish (or,
  // beside the writer, holds row locks).
  int prune_batch = 1000;
  // Reader threads, each with a connection of its own.
  int readers = 2;
  // Most calls committed in one transaction.
  size_t max_batch = 512;
  // Group commit under load: when the previous commit carried more than one
  // call, the writer holds the next one until commit_delay_batch calls are
  // queued or the oldest has waited commit_delay, so more calls share one
  // sync (docs/BENCHMARKS.md). A caller alone never waits. Zero turns the
  // wait off.
  absl::Duration commit_delay = absl::Milliseconds(1);
  size_t commit_delay_batch = 16;
  // How often expired notifications are looked for (and deleted, with a
  // deletion record per inbox). Lists, counts and replay leave them out from
  // their expiry on regardless.
  absl::Duration expiry_interval = absl::Seconds(1);
  // Most push subscriptions one user keeps (storage/push.h); a new one
  // past it is refused with RESOURCE_EXHAUSTED. At least 1.
  size_t max_push_subscriptions = kDefaultMaxPushSubscriptions;
  // Called on the completer thread, in commit order, with the records the
  // store wrote by itself (expiry), so that they reach live streams like
  // the records of state changes do. Must not block for long.
  std::function<void(std::vector<std::shared_ptr<const Notification>>)>
      on_records;
  // Called on the writer thread after each successful commit. Must be cheap.
  std::function<void(const CommitStats&)> on_commit;
  // Wall clock in Unix milliseconds, for created_at_ms and retention.
  // Unset: the system clock. Tests inject a fake one.
  std::function<int64_t()> now_ms;

  // OK, or INVALID_ARGUMENT naming the first field out of range.
  absl::Status Validate() const;
  // now_ms(), or the system clock. Thread-safe if now_ms is.
  int64_t NowMs() const;
};

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_STORE_OPTIONS_H_
