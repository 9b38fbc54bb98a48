// The SQLite implementation of Store (see store.h for the contract).
//
// Threading model:
//  - One writer thread owns the only read-write connection. Append and
//    MarkRead just enqueue; the writer takes everything queued (up to
//    max_batch) and commits it as one transaction, so concurrent callers
//    share one transaction (group commit). Under load (the last commit
//    carried several calls) it first waits up to commit_delay for more.
//  - Write callbacks run on one completer thread, in commit (id) order, only
//    after COMMIT has returned (and synced); the writer meanwhile commits the
//    next batch.
//  - `reader_threads` threads, each with its own read-only connection, serve
//    List, Replay, ReadIdRange, LastCommittedId, UnreadCount, Stats and Ping.
//    WAL mode lets them read while the writer commits.
//  - A checkpointer thread copies the WAL into the database file in the
//    background (wal_checkpointer.h), so no commit waits for a checkpoint.
//  - When retention or max_per_channel is set, a pruner thread wakes every
//    prune_interval, finds what to delete on its own read-only connection and
//    deletes it in batches of prune_batch rows, each batch one task in the
//    writer queue, so a publish never waits behind more than one batch.
//
// Close() stops the pruner, lets the writer and readers finish what is
// already queued, then joins the threads and closes the database. Calls made
// after Close() fail with UNAVAILABLE "store is closed"; to honour "never on
// the caller's thread" that callback runs on a short-lived thread of its own.
// Callbacks must not call Close(): it would wait for the thread running them.
#ifndef NOTIFYD_STORAGE_SQLITE_STORE_H_
#define NOTIFYD_STORAGE_SQLITE_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/handoff_queue.h"
#include "storage/store.h"
#include "storage/wal_checkpointer.h"

namespace notifyd::storage {

class Connection;

struct SqliteStoreOptions {
  // Database file. Its directory must exist and be writable; it is not
  // created, so a mistyped path fails loudly instead of storing elsewhere.
  std::string path;
  // FULL syncs the WAL on every commit: an acknowledged append survives a
  // power cut. NORMAL may lose the last commits on power loss (not on a
  // process crash) in exchange for throughput.
  bool synchronous_full = true;
  // Rows older than this are pruned. Zero keeps them forever.
  absl::Duration retention = absl::ZeroDuration();
  // Only the newest max_per_channel rows of each channel are kept. Zero: no
  // limit.
  uint64_t max_per_channel = 0;
  absl::Duration prune_interval = absl::Seconds(30);
  // Rows deleted per writer task; bounds how long a prune delays a publish.
  int prune_batch = 1000;
  int reader_threads = 2;
  // Most calls committed in one transaction.
  size_t max_batch = 512;
  // Group commit under load: when the previous commit carried more than one
  // call, the writer holds the next one until commit_delay_batch calls are
  // queued or the oldest has waited commit_delay, so more calls share one
  // sync. A caller alone never waits. Zero turns the wait off.
  absl::Duration commit_delay = absl::Milliseconds(1);
  size_t commit_delay_batch = 16;
  // When the WAL is copied back into the database file (wal_checkpointer.h).
  WalCheckpointOptions checkpoint;
  // SQLite page cache of the writer connection, in KiB. The indexes that
  // every append touches stay in memory instead of being read back.
  int writer_cache_kib = 64 * 1024;
  // Called on the writer thread after each successful commit. Must be cheap.
  std::function<void(const CommitStats&)> on_commit;
  // Wall clock in Unix milliseconds, for created_at_ms and retention.
  // Unset: the system clock. Tests inject a fake one.
  std::function<int64_t()> now_ms;
};

class SqliteStore final : public Store {
 public:
  // Opens or creates the database, applies pending migrations and starts
  // the threads. Fails with a message naming the path when the file cannot
  // be opened, and with FAILED_PRECONDITION when its schema is newer than
  // this binary.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(
      SqliteStoreOptions options);

  ~SqliteStore() override;

  void Append(AppendRequest request, Callback<AppendResult> done) override;
  void List(ListQuery query, Callback<std::vector<Notification>> done) override;
  void Replay(ReplayQuery query, Callback<ReplayPage> done) override;
  void MarkRead(MarkReadRequest request, Callback<uint64_t> done) override;
  void UnreadCount(std::string channel, Callback<uint64_t> done) override;
  void Stats(Callback<StoreStats> done) override;
  void ReadIdRange(
      uint64_t after_id, uint64_t up_to_id, uint32_t limit,
      Callback<std::vector<std::shared_ptr<const Notification>>> done) override;
  void LastCommittedId(Callback<uint64_t> done) override;
  void Ping(Callback<bool> done) override;
  void Close() override;

  // Runs one retention pass now, on the caller's thread (never a store
  // thread), and returns how many rows it deleted. The background pruner
  // does the same every prune_interval.
  absl::StatusOr<uint64_t> PruneNow();

  // Most channels one Replay accepts; more fail with INVALID_ARGUMENT.
  static constexpr size_t kMaxReplayChannels = 64;

 private:
  // What a write op runs, which decides how its failure is undone.
  enum class Writes { kOneStatement, kSeveralStatements };
  class WriteOp;
  template <typename T>
  class TypedWriteOp;
  using ReadTask = std::function<void(Connection&)>;

  explicit SqliteStore(SqliteStoreOptions options);

  absl::Status Start();
  int64_t NowMs() const;

  template <typename T, typename Fn>
  void SubmitWrite(Writes writes, Fn fn, Callback<T> done);
  template <typename T, typename Fn>
  void SubmitRead(Fn fn, Callback<T> done);

  // A committed (or failed) batch waiting for its callbacks.
  struct Completed {
    std::vector<std::unique_ptr<WriteOp>> ops;
    std::vector<absl::Status> results;
  };

  void WriterLoop();
  // Commits the batch and returns it with each call's outcome.
  Completed CommitBatch(std::vector<std::unique_ptr<WriteOp>> batch);
  void CompleterLoop();
  void ReaderLoop(Connection* connection);
  void PrunerLoop();
  absl::StatusOr<uint64_t> PruneLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(prune_mu_);
  // Runs `del` as one writer task and waits for it; returns rows deleted.
  absl::StatusOr<uint64_t> DeleteBatch(
      std::function<absl::StatusOr<uint64_t>(Connection&)> del);
  bool Stopping();

  const SqliteStoreOptions options_;

  // Serialises Close() so a second caller blocks until the first is done.
  absl::Mutex close_mu_;
  bool closed_ ABSL_GUARDED_BY(close_mu_) = false;

  HandoffQueue<std::unique_ptr<WriteOp>> write_queue_;
  // Callbacks run on their own thread, in commit order, so the writer is
  // already committing the next batch while this one's callers are answered
  // (answering a gRPC call costs about as much as storing it).
  HandoffQueue<Completed> complete_queue_;
  HandoffQueue<ReadTask> read_queue_;

  // Held for a whole prune pass: the pruner and PruneNow share a connection.
  absl::Mutex prune_mu_;
  std::unique_ptr<Connection> prune_db_ ABSL_GUARDED_BY(prune_mu_);

  // Wakes the pruner early when the store closes.
  absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;

  // Each owned by one thread once started; set up before the threads start
  // and torn down after they are joined.
  std::unique_ptr<Connection> write_db_;
  std::unique_ptr<WalCheckpointer> checkpointer_;
  std::vector<std::unique_ptr<Connection>> read_dbs_;

  std::thread writer_;
  std::thread completer_;
  std::vector<std::thread> readers_;
  std::thread pruner_;
};

// Opens a SqliteStore; the factory the server uses.
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    SqliteStoreOptions options);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_SQLITE_STORE_H_
