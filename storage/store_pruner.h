// The pruning schedule every store shares (store_engine.h): retention by
// age and max_per_channel, written once for every database.
//
// A pass deletes in batches of prune_batch rows, taking them out of their
// inboxes' counts in the same transaction (no record: a stream learns of
// retention only through a `reset` on resume): first the oldest rows
// while they are older than `retention`, then, channel by channel, what
// exceeds max_per_channel (found on the backend's own snapshot, off the
// writer). Each batch runs where the backend wants it
// (StoreBackend::PruneTransaction): as a writer task through `on_writer`,
// so a publish waits behind at most one batch, or beside the writer, one
// transaction per batch. A pass stops early once Stop() was called.
//
// Threading: a thread of its own runs a pass every prune_interval when
// retention or max_per_channel is set; PruneNow() runs one on the caller's
// thread. Passes take turns. All methods are thread-safe.
#ifndef NOTIFYD_STORAGE_STORE_PRUNER_H_
#define NOTIFYD_STORAGE_STORE_PRUNER_H_

#include <cstdint>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/store_backend.h"
#include "storage/store_options.h"

namespace notifyd::storage {

// One delete batch; returns the rows it deleted.
using PruneStep = std::function<absl::StatusOr<uint64_t>(WriteTransaction&)>;

class StorePruner {
 public:
  // Runs `step` as a writer task and waits for its outcome.
  using OnWriter = std::function<absl::StatusOr<uint64_t>(PruneStep step)>;

  // `options` and `backend` must outlive Stop(). Starts no thread yet.
  StorePruner(const StoreOptions& options, StoreBackend& backend,
              OnWriter on_writer);
  // Stop()s.
  ~StorePruner();

  StorePruner(const StorePruner&) = delete;
  StorePruner& operator=(const StorePruner&) = delete;

  // Starts the background thread when retention or max_per_channel is set.
  void Start();

  // Ends the background thread and waits for a pass in progress (which
  // stops after its current batch); later passes fail with UNAVAILABLE.
  // Idempotent. The writer must still run meanwhile.
  void Stop();

  // Runs one pass now on the caller's thread (never a store thread) and
  // returns how many rows it deleted: 0 when neither retention nor
  // max_per_channel is set, UNAVAILABLE after Stop().
  absl::StatusOr<uint64_t> PruneNow();

 private:
  void Loop();
  absl::StatusOr<uint64_t> PassLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pass_mu_);
  bool Stopping();

  const StoreOptions& options_;
  StoreBackend& backend_;
  const OnWriter on_writer_;

  // Held for a whole pass: the thread and PruneNow take turns.
  absl::Mutex pass_mu_;
  bool stopped_ ABSL_GUARDED_BY(pass_mu_) = false;

  // Wakes the thread early and ends passes when Stop() is called.
  absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;

  std::thread thread_;
};

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_STORE_PRUNER_H_
