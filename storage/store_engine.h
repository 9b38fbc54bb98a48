// The one implementation of Store's machinery (store.h), on which every
// database runs as a StoreBackend (store_backend.h): SQLite, PostgreSQL and
// memory differ only in their connections and queries.
//
// Threading model (docs/DESIGN.md, Threading):
//  - One writer thread. Append, ChangeState and Delete just enqueue (as the
//    operations of write_ops.h); the writer takes
//    everything queued (up to max_batch) and hands it to the backend as one
//    batch (group commit). Under load (the last batch carried several
//    calls) it first waits up to commit_delay for commit_delay_batch calls,
//    so more calls share one sync; a caller alone never waits.
//  - One completer thread runs the write callbacks, one at a time and in
//    commit (id) order, only once the batch is committed, while the writer
//    commits the next batch.
//  - `readers` reader threads, one StoreReader each, serve List, Replay,
//    ReadIdRange, LastCommittedId, GetCounts, Stats, Ping and the push
//    reads (ListPushSubscriptions, FindPushSubscription, PushCandidates).
//  - An expirer thread asks a reader every expiry_interval whether any
//    notification expired and, if so, deletes them in writer batches of
//    prune_batch (write_ops.h, MakeExpireOp).
//  - When retention or max_per_channel is set, a pruner thread
//    (store_pruner.h) runs a pass every prune_interval: batches of
//    prune_batch rows, each on the writer or beside it as the backend
//    chooses, so a publish waits behind at most one batch.
//
// Close() stops the pruner, lets the writer, completer and readers finish
// what is already queued, joins them and then destroys the backend (which
// closes its connections). No callback runs after Close() returns, except
// those of calls made after it: they fail with UNAVAILABLE "store is
// closed" on a short-lived thread of their own (never the caller's).
// Callbacks must not call Close(): it would wait for their own thread.
#ifndef NOTIFYD_STORAGE_STORE_ENGINE_H_
#define NOTIFYD_STORAGE_STORE_ENGINE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/handoff_queue.h"
#include "storage/store.h"
#include "storage/store_backend.h"
#include "storage/store_options.h"
#include "storage/store_pruner.h"

namespace notifyd::storage {

class StoreEngine final : public Store {
 public:
  using OpenBackend = absl::FunctionRef<absl::StatusOr<StoreParts>()>;

  // Validates `options`, then opens the backend with `open` (connections,
  // migrations) and starts the threads on it. Fails with what Validate() or
  // `open` returned; nothing is left running then.
  static absl::StatusOr<std::unique_ptr<StoreEngine>> Open(
      const StoreOptions& options, OpenBackend open);

  // Close()s.
  ~StoreEngine() override;

  void Append(AppendRequest request, Callback<AppendResult> done) override;
  void AppendMany(std::vector<AppendRequest> requests,
                  Callback<std::vector<AppendResult>> done) override;
  void List(ListQuery query, Callback<std::vector<Notification>> done) override;
  void Replay(ReplayQuery query, Callback<ReplayPage> done) override;
  void ChangeState(StateChange change, Callback<ChangeResult> done) override;
  void Delete(DeleteRequest request, Callback<ChangeResult> done) override;
  void GetCounts(std::string channel, Callback<Counts> done) override;
  void Stats(Callback<StoreStats> done) override;
  void ReadIdRange(
      uint64_t after_id, uint64_t up_to_id, uint32_t limit,
      Callback<std::vector<std::shared_ptr<const Notification>>> done) override;
  void LastCommittedId(Callback<uint64_t> done) override;
  void Ping(Callback<bool> done) override;
  void PutPushSubscription(PushSubscription subscription,
                           Callback<PushPutResult> done) override;
  void RemovePushSubscription(PushRemoval removal,
                              Callback<bool> done) override;
  void ListPushSubscriptions(
      std::string channel,
      Callback<std::vector<PushSubscription>> done) override;
  void FindPushSubscription(std::string secret_sha256,
                            Callback<PushSubscription> done) override;
  void MarkPushed(std::vector<uint64_t> ids, Callback<uint64_t> done) override;
  void PushCandidates(
      PushCandidatesQuery query,
      Callback<std::vector<std::shared_ptr<const Notification>>> done) override;
  void Close() override;

  // Runs one retention pass now, on the caller's thread (never a store
  // thread), and returns how many rows it deleted; 0 when neither
  // retention nor max_per_channel is set, UNAVAILABLE once closed. The
  // background pruner does the same every prune_interval.
  absl::StatusOr<uint64_t> PruneNow() { return pruner_.PruneNow(); }

  // Deletes every notification expired by now, on the caller's thread (never
  // a store thread), and returns how many; UNAVAILABLE once closed. The
  // expirer thread does the same every expiry_interval.
  absl::StatusOr<uint64_t> ExpireNow();

 private:
  using ReadTask = std::function<void(StoreReader&)>;

  // A committed (or failed) batch waiting for its callbacks.
  struct Completed {
    std::vector<std::unique_ptr<WriteOp>> ops;
    std::vector<absl::Status> results;
  };

  StoreEngine(const StoreOptions& options, StoreParts parts);
  void Start();

  void SubmitWrite(std::unique_ptr<WriteOp> op);
  template <typename T, typename Fn>
  void SubmitRead(Fn fn, Callback<T> done);

  void WriterLoop();
  // Commits the batch and returns it with each call's outcome.
  Completed CommitBatch(std::vector<std::unique_ptr<WriteOp>> batch);
  void CompleterLoop();
  void ReaderLoop(StoreReader& reader);
  void ExpirerLoop();
  // Runs one delete batch as a writer task and waits for it.
  absl::StatusOr<uint64_t> DeleteOnWriter(PruneStep step);

  const StoreOptions options_;
  // Used by the engine's threads; destroyed by Close() once they are joined.
  StoreParts parts_;

  // Serialises Close() so a second caller blocks until the first is done.
  absl::Mutex close_mu_;
  bool closed_ ABSL_GUARDED_BY(close_mu_) = false;

  HandoffQueue<std::unique_ptr<WriteOp>> write_queue_;
  // Callbacks run on their own thread, in commit order, so the writer is
  // already committing the next batch while this one's callers are answered
  // (answering a gRPC call costs about as much as storing it).
  HandoffQueue<Completed> complete_queue_;
  HandoffQueue<ReadTask> read_queue_;

  StorePruner pruner_;

  // Ends the expirer's wait when Close() is called.
  absl::Mutex expirer_mu_;
  bool expirer_stopping_ ABSL_GUARDED_BY(expirer_mu_) = false;
  // One expiry pass at a time (the expirer's or an ExpireNow()).
  absl::Mutex expire_pass_mu_;
  std::thread expirer_;

  std::thread writer_;
  std::thread completer_;
  std::vector<std::thread> readers_;
};

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_STORE_ENGINE_H_
