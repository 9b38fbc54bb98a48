// The PostgreSQL implementation of Store (see store.h for the contract),
// for several notifyd instances sharing one database.
//
// Threading model (every libpq call blocks, on these threads only):
//  - One writer thread owns the only connection that writes. Append and
//    MarkRead just enqueue; the writer takes everything queued (up to
//    max_batch) and commits it as ONE transaction (group commit: calls that
//    arrive while a commit is in flight share the next one).
//  - Write callbacks run on one completer thread, in commit (id) order, only
//    after COMMIT has returned (synchronous_commit: the commit is on disk),
//    while the writer already commits the next batch.
//  - `reader_connections` threads, each with its own connection, serve List,
//    Replay, ReadIdRange, LastCommittedId, UnreadCount, Stats and Ping.
//  - When retention or max_per_channel is set, a pruner thread deletes old
//    rows every prune_interval on its own connection, prune_batch rows per
//    transaction, never touching the id counter.
//
// Ids: a batch with appends first locks the one row of notify_id_counter
// (SELECT ... FOR UPDATE), numbers its successful appends last_id + 1, + 2,
// ..., stores the new last_id and commits. The row lock lasts until COMMIT,
// so a batch of another instance takes its ids only after this one is
// committed: ids are dense and in commit order across instances, and a
// deleted id is never handed out again.
//
// A failing call fails only its caller. PostgreSQL aborts the whole
// transaction on an error, so the writer rolls the batch back and runs it
// again without that call (fresh ids, so no hole); savepoints would cost
// round trips and a subtransaction per call on the hot path. Errors that
// are not about one call (connection lost, server shutting down, out of
// disk) fail the whole batch; a batch chosen as a deadlock victim runs
// again, up to 3 times.
//
// A dropped connection (server restart, failover) is re-established on the
// next call. A read that met it runs once more, and so does a batch that
// met it before COMMIT (nothing was stored). When it drops during COMMIT
// the outcome is unknown: those callers get UNAVAILABLE saying so.
//
// Close() stops the pruner, lets the writer and readers finish what is
// already queued, then joins the threads and closes the connections. Calls
// made after Close() fail with UNAVAILABLE "store is closed" on a
// short-lived thread of their own. Callbacks must not call Close().
#ifndef NOTIFYD_STORAGE_POSTGRES_STORE_H_
#define NOTIFYD_STORAGE_POSTGRES_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/handoff_queue.h"
#include "storage/store.h"

namespace notifyd::storage {

class PgConnection;

struct PostgresStoreOptions {
  // postgres://user:password@host:port/database?sslmode=... (or
  // postgresql://); any libpq URL parameter works. connect_timeout defaults
  // to 10 s.
  std::string url;
  // Rows older than this are pruned. Zero keeps them forever.
  absl::Duration retention = absl::ZeroDuration();
  // Only the newest max_per_channel rows of each channel are kept. Zero: no
  // limit.
  uint64_t max_per_channel = 0;
  absl::Duration prune_interval = absl::Seconds(30);
  // Rows deleted per transaction; bounds how long a prune holds row locks.
  int prune_batch = 1000;
  int reader_connections = 2;
  // Most calls committed in one transaction.
  size_t max_batch = 512;
  // Called on the writer thread after each successful commit. Must be cheap.
  std::function<void(const CommitStats&)> on_commit;
  // Test hook: called on the writer thread inside each batch transaction
  // that holds the id counter's lock, after the ids are assigned and right
  // before COMMIT. Blocking in it holds the lock.
  std::function<void()> before_commit;
  // Wall clock in Unix milliseconds, for created_at_ms and retention.
  // Unset: the system clock. Tests inject a fake one.
  std::function<int64_t()> now_ms;
};

class PostgresStore final : public Store {
 public:
  // Connects, applies pending migrations and starts the threads. A
  // malformed URL fails with INVALID_ARGUMENT, an unreachable server with
  // UNAVAILABLE (messages name the server, never the password), a schema
  // newer than this binary with FAILED_PRECONDITION.
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(
      PostgresStoreOptions options);

  ~PostgresStore() override;

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
  class WriteOp;
  class AppendOp;
  class MarkReadOp;
  using ReadTask = std::function<void(PgConnection&)>;

  explicit PostgresStore(PostgresStoreOptions options);

  absl::Status Start();
  int64_t NowMs() const;
  void SubmitWrite(std::unique_ptr<WriteOp> op);
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
  // One try at committing `ops`; on the failure of one op, sets *failed to
  // its index. Sets *commit_sent once COMMIT went out: a failure after it
  // leaves the outcome unknown.
  absl::Status TryCommit(const std::vector<WriteOp*>& ops, size_t* failed,
                         bool* commit_sent);
  void CompleterLoop();
  void ReaderLoop(PgConnection* connection);
  void PrunerLoop();
  absl::StatusOr<uint64_t> PruneLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(prune_mu_);
  bool Stopping();

  const PostgresStoreOptions options_;

  // Serialises Close() so a second caller blocks until the first is done.
  absl::Mutex close_mu_;
  bool closed_ ABSL_GUARDED_BY(close_mu_) = false;

  HandoffQueue<std::unique_ptr<WriteOp>> write_queue_;
  HandoffQueue<Completed> complete_queue_;
  HandoffQueue<ReadTask> read_queue_;

  // Held for a whole prune pass: the pruner and PruneNow share a connection,
  // opened on the first pass that has something to prune.
  absl::Mutex prune_mu_;
  std::unique_ptr<PgConnection> prune_db_ ABSL_GUARDED_BY(prune_mu_);
  bool prune_closed_ ABSL_GUARDED_BY(prune_mu_) = false;

  // Wakes the pruner early when the store closes.
  absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;

  // Each owned by one thread once started; set up before the threads start
  // and torn down after they are joined.
  std::unique_ptr<PgConnection> write_db_;
  // The server's synchronous_commit is off: each batch turns it on.
  bool force_synchronous_commit_ = false;
  std::vector<std::unique_ptr<PgConnection>> read_dbs_;

  std::thread writer_;
  std::thread completer_;
  std::vector<std::thread> readers_;
  std::thread pruner_;
};

// Opens a PostgresStore; the factory the server uses for --store=postgres://.
absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(
    PostgresStoreOptions options);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_POSTGRES_STORE_H_
