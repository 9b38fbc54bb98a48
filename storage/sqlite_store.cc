#include "storage/sqlite_store.h"

#include <algorithm>
#include <future>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/thread_name.h"
#include "spdlog/spdlog.h"
#include "storage/migrations.h"
#include "storage/sqlite_connection.h"
#include "storage/sqlite_queries.h"

namespace notifyd::storage {
namespace {

absl::Status Closed() { return absl::UnavailableError("store is closed"); }

// Delivers a failure on a thread of its own: the contract forbids calling
// back on the caller's thread, and the store's threads are gone after Close.
template <typename F>
void CallBackLater(F f) {
  std::thread(std::move(f)).detach();
}

}  // namespace

class SqliteStore::WriteOp {
 public:
  explicit WriteOp(Writes writes) : writes_(writes) {}
  virtual ~WriteOp() = default;
  // Runs inside the batch transaction; a failure must undo only this op's
  // own changes (see Writes).
  virtual absl::Status Run(Connection& db) = 0;
  // After the transaction ends: Run's status, or the failure that rolled
  // the whole batch back.
  virtual void Finish(absl::Status status) = 0;

  Writes writes() const { return writes_; }
  absl::Time queued_at() const { return queued_at_; }

 private:
  const Writes writes_;
  const absl::Time queued_at_ = absl::Now();
};

template <typename T>
class SqliteStore::TypedWriteOp final : public SqliteStore::WriteOp {
 public:
  TypedWriteOp(Writes writes, std::function<absl::StatusOr<T>(Connection&)> fn,
               Callback<T> done)
      : WriteOp(writes), fn_(std::move(fn)), done_(std::move(done)) {}

  absl::Status Run(Connection& db) override {
    result_ = fn_(db);
    return result_.status();
  }

  void Finish(absl::Status status) override {
    if (status.ok()) {
      done_(std::move(result_));
    } else {
      done_(std::move(status));
    }
  }

 private:
  std::function<absl::StatusOr<T>(Connection&)> fn_;
  Callback<T> done_;
  absl::StatusOr<T> result_ = absl::UnknownError("not run");
};

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    SqliteStoreOptions options) {
  absl::StatusOr<std::unique_ptr<SqliteStore>> store =
      SqliteStore::Open(std::move(options));
  if (!store.ok()) return store.status();
  return std::unique_ptr<Store>(std::move(*store));
}

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(
    SqliteStoreOptions options) {
  std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(options)));
  if (absl::Status s = store->Start(); !s.ok()) return s;
  return store;
}

SqliteStore::SqliteStore(SqliteStoreOptions options)
    : options_(std::move(options)) {}

SqliteStore::~SqliteStore() { Close(); }

absl::Status SqliteStore::Start() {
  const std::string& path = options_.path;
  absl::StatusOr<std::unique_ptr<Connection>> db =
      Connection::Open(path, Connection::Mode::kReadWrite);
  if (!db.ok()) return db.status();
  write_db_ = std::move(*db);

  {
    absl::StatusOr<Statement> stmt =
        write_db_->Prepare("PRAGMA journal_mode=WAL");
    if (!stmt.ok()) return stmt.status();
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    // WAL is what lets readers run during commits; some filesystems (no
    // shared memory) cannot do it, and we would rather refuse than crawl.
    if (!*row || stmt->ColumnText(0) != "wal") {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot open store at ", path, ": WAL mode is not supported there"));
    }
  }
  if (absl::Status s = write_db_->Exec(options_.synchronous_full
                                           ? "PRAGMA synchronous=FULL"
                                           : "PRAGMA synchronous=NORMAL");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = write_db_->Exec(
          absl::StrCat("PRAGMA cache_size=-", options_.writer_cache_kib));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ApplyMigrations(write_db_->db()); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("store at ", path, ": ", s.message()));
  }

  // Read-only connections open after the writer set WAL mode and the schema
  // exists, so they see both.
  const int readers = std::max(1, options_.reader_threads);
  for (int i = 0; i < readers + 1; ++i) {
    absl::StatusOr<std::unique_ptr<Connection>> reader =
        Connection::Open(path, Connection::Mode::kReadOnly);
    if (!reader.ok()) return reader.status();
    read_dbs_.push_back(std::move(*reader));
  }
  {
    absl::MutexLock lock(&prune_mu_);
    prune_db_ = std::move(read_dbs_.back());
  }
  read_dbs_.pop_back();
  {
    absl::StatusOr<std::unique_ptr<Connection>> own =
        Connection::Open(path, Connection::Mode::kReadWrite);
    if (!own.ok()) return own.status();
    // A connection learns that the database is in WAL mode on its first
    // read; until then a checkpoint through it silently does nothing.
    if (absl::Status s = (*own)->Exec("PRAGMA journal_mode"); !s.ok()) {
      return s;
    }
    checkpointer_ = std::make_unique<WalCheckpointer>(
        *write_db_, std::move(*own), options_.checkpoint);
  }

  completer_ = std::thread([this] {
    NameThisThread("store-complete");
    CompleterLoop();
  });
  writer_ = std::thread([this] {
    NameThisThread("store-writer");
    WriterLoop();
  });
  for (auto& reader : read_dbs_) {
    readers_.emplace_back([this, conn = reader.get()] {
      NameThisThread("store-reader");
      ReaderLoop(conn);
    });
  }
  if (options_.retention > absl::ZeroDuration() ||
      options_.max_per_channel > 0) {
    pruner_ = std::thread([this] {
      NameThisThread("store-pruner");
      PrunerLoop();
    });
  }
  return absl::OkStatus();
}

void SqliteStore::Close() {
  absl::MutexLock close_lock(&close_mu_);
  if (closed_) return;
  closed_ = true;

  {
    absl::MutexLock lock(&stop_mu_);
    stopping_ = true;
  }
  if (pruner_.joinable()) pruner_.join();
  // Each stage drains what the one before it handed over, in order.
  write_queue_.Close();
  if (writer_.joinable()) writer_.join();
  complete_queue_.Close();
  if (completer_.joinable()) completer_.join();
  read_queue_.Close();
  for (std::thread& reader : readers_) reader.join();
  readers_.clear();

  read_dbs_.clear();
  {
    absl::MutexLock lock(&prune_mu_);
    prune_db_.reset();
  }
  checkpointer_.reset();
  // Last, so the read-write connection is the one that checkpoints the WAL
  // into the database file and removes it.
  write_db_.reset();
}

int64_t SqliteStore::NowMs() const {
  return options_.now_ms ? options_.now_ms() : absl::ToUnixMillis(absl::Now());
}

template <typename T, typename Fn>
void SqliteStore::SubmitWrite(Writes writes, Fn fn, Callback<T> done) {
  std::unique_ptr<WriteOp> op =
      std::make_unique<TypedWriteOp<T>>(writes, std::move(fn), std::move(done));
  if (write_queue_.Push(op)) return;
  CallBackLater([op = std::move(op)] { op->Finish(Closed()); });
}

template <typename T, typename Fn>
void SqliteStore::SubmitRead(Fn fn, Callback<T> done) {
  ReadTask task = [fn = std::move(fn), done](Connection& db) mutable {
    done(fn(db));
  };
  if (read_queue_.Push(task)) return;
  CallBackLater([done = std::move(done)] { done(Closed()); });
}

void SqliteStore::WriterLoop() {
  const size_t max_batch = std::max<size_t>(1, options_.max_batch);
  std::vector<std::unique_ptr<WriteOp>> batch;
  const size_t delayed_batch = std::min(max_batch, options_.commit_delay_batch);
  size_t previous_batch = 0;
  // Returns false once closed and drained: everything queued before Close()
  // has run.
  while (write_queue_.PopUpTo(max_batch, batch)) {
    // Calls overlapped the last commit, so more are likely on their way:
    // letting them join this one costs the oldest call at most commit_delay
    // and saves syncs and WAL pages (the same leaf pages are written once
    // per commit, not once per call). A lone caller never waits.
    if (previous_batch > 1 && batch.size() < delayed_batch &&
        options_.commit_delay > absl::ZeroDuration()) {
      write_queue_.PopUpToBy(delayed_batch - batch.size(),
                             batch.front()->queued_at() + options_.commit_delay,
                             batch);
    }
    previous_batch = batch.size();
    Completed done = CommitBatch(std::move(batch));
    batch.clear();
    complete_queue_.Push(done);
    // After the callers of this batch are on their way, not before.
    checkpointer_->OnWriterIdle();
  }
}

void SqliteStore::CompleterLoop() {
  std::vector<Completed> ready;
  while (complete_queue_.PopUpTo(std::numeric_limits<size_t>::max(), ready)) {
    for (Completed& done : ready) {
      for (size_t i = 0; i < done.ops.size(); ++i) {
        done.ops[i]->Finish(std::move(done.results[i]));
      }
    }
    ready.clear();
  }
}

SqliteStore::Completed SqliteStore::CommitBatch(
    std::vector<std::unique_ptr<WriteOp>> batch) {
  Connection& db = *write_db_;
  const absl::Time start = absl::Now();
  std::vector<absl::Status> results(batch.size());
  absl::Status txn = db.Exec("BEGIN IMMEDIATE");
  for (size_t i = 0; txn.ok() && i < batch.size(); ++i) {
    // One bad call fails only its own caller. A single statement undoes
    // itself when it fails; several need a savepoint (two more statements,
    // so appends, the hot path, go without).
    const bool savepoint = batch[i]->writes() == Writes::kSeveralStatements;
    if (savepoint) {
      txn = db.Exec("SAVEPOINT op");
      if (!txn.ok()) break;
    }
    results[i] = batch[i]->Run(db);
    if (!results[i].ok()) {
      // Some errors (disk full, I/O error) end the whole transaction; then
      // the batch fails as a whole.
      if (db.Autocommit()) {
        txn = results[i];
        break;
      }
      if (savepoint) {
        txn = db.Exec("ROLLBACK TO op");
        if (!txn.ok()) break;
      }
    }
    if (savepoint) txn = db.Exec("RELEASE op");
  }
  if (txn.ok()) txn = db.Exec("COMMIT");
  if (txn.ok()) {
    if (options_.on_commit) {
      options_.on_commit(CommitStats{
          .commit_seconds = absl::ToDoubleSeconds(absl::Now() - start),
          .calls = batch.size(),
          .queued_seconds =
              absl::ToDoubleSeconds(start - batch.front()->queued_at())});
    }
  } else {
    spdlog::error("store: commit of {} calls failed: {}", batch.size(),
                  txn.ToString());
    if (!db.Autocommit()) db.Exec("ROLLBACK").IgnoreError();
  }
  // Callers hear back (on the completer thread) only now that the batch is
  // durable or known lost.
  if (!txn.ok()) {
    for (absl::Status& r : results) r = txn;
  }
  return Completed{.ops = std::move(batch), .results = std::move(results)};
}

void SqliteStore::ReaderLoop(Connection* db) {
  std::vector<ReadTask> tasks;
  while (read_queue_.PopUpTo(1, tasks)) {
    tasks.front()(*db);
    tasks.clear();
  }
}

void SqliteStore::Append(AppendRequest request, Callback<AppendResult> done) {
  // Its only write is the INSERT (the idempotency look-up only reads).
  SubmitWrite<AppendResult>(
      Writes::kOneStatement,
      [this, request = std::move(request)](Connection& db) mutable {
        return InsertNotification(db, request, NowMs());
      },
      std::move(done));
}

void SqliteStore::MarkRead(MarkReadRequest request, Callback<uint64_t> done) {
  SubmitWrite<uint64_t>(
      Writes::kSeveralStatements,
      [request = std::move(request)](Connection& db) {
        return MarkRows(db, request);
      },
      std::move(done));
}

void SqliteStore::List(ListQuery query,
                       Callback<std::vector<Notification>> done) {
  SubmitRead<std::vector<Notification>>(
      [query = std::move(query)](Connection& db) {
        return ListRows(db, query);
      },
      std::move(done));
}

void SqliteStore::Replay(ReplayQuery query, Callback<ReplayPage> done) {
  if (query.channels.size() > kMaxReplayChannels) {
    CallBackLater([done = std::move(done)] {
      done(absl::InvalidArgumentError(absl::StrCat(
          "replay takes at most ", kMaxReplayChannels, " channels")));
    });
    return;
  }
  SubmitRead<ReplayPage>(
      [query = std::move(query)](Connection& db) mutable {
        return ReplayRows(db, std::move(query));
      },
      std::move(done));
}

void SqliteStore::UnreadCount(std::string channel, Callback<uint64_t> done) {
  SubmitRead<uint64_t>([channel = std::move(channel)](
                           Connection& db) { return CountUnread(db, channel); },
                       std::move(done));
}

void SqliteStore::Stats(Callback<StoreStats> done) {
  SubmitRead<StoreStats>(
      [path = options_.path](Connection& db) { return ReadStats(db, path); },
      std::move(done));
}

void SqliteStore::ReadIdRange(
    uint64_t after_id, uint64_t up_to_id, uint32_t limit,
    Callback<std::vector<std::shared_ptr<const Notification>>> done) {
  SubmitRead<std::vector<std::shared_ptr<const Notification>>>(
      [after_id, up_to_id, limit](Connection& db) {
        return IdRangeRows(db, after_id, up_to_id, limit);
      },
      std::move(done));
}

void SqliteStore::LastCommittedId(Callback<uint64_t> done) {
  SubmitRead<uint64_t>([](Connection& db) { return ReadLastId(db); },
                       std::move(done));
}

void SqliteStore::Ping(Callback<bool> done) {
  SubmitRead<bool>([](Connection& db) { return PingDatabase(db); },
                   std::move(done));
}

bool SqliteStore::Stopping() {
  absl::MutexLock lock(&stop_mu_);
  return stopping_;
}

absl::StatusOr<uint64_t> SqliteStore::DeleteBatch(
    std::function<absl::StatusOr<uint64_t>(Connection&)> del) {
  std::promise<absl::StatusOr<uint64_t>> promise;
  std::future<absl::StatusOr<uint64_t>> future = promise.get_future();
  SubmitWrite<uint64_t>(Writes::kSeveralStatements, std::move(del),
                        [&promise](absl::StatusOr<uint64_t> result) {
                          promise.set_value(std::move(result));
                        });
  return future.get();
}

absl::StatusOr<uint64_t> SqliteStore::PruneNow() {
  absl::MutexLock lock(&prune_mu_);
  return PruneLocked();
}

absl::StatusOr<uint64_t> SqliteStore::PruneLocked() {
  if (prune_db_ == nullptr) return Closed();
  const int64_t batch = std::max(1, options_.prune_batch);
  uint64_t deleted = 0;

  if (options_.retention > absl::ZeroDuration()) {
    const int64_t cutoff =
        NowMs() - absl::ToInt64Milliseconds(options_.retention);
    for (;;) {
      absl::StatusOr<uint64_t> n = DeleteBatch([cutoff, batch](Connection& db) {
        return DeleteOldestCreatedBefore(db, cutoff, batch);
      });
      if (!n.ok()) return n.status();
      deleted += *n;
      if (*n < static_cast<uint64_t>(batch) || Stopping()) break;
    }
  }

  if (options_.max_per_channel > 0) {
    // Found on the pruner's own snapshot, off the writer thread. New rows
    // only get larger ids, so deleting up to a cut taken from the snapshot
    // still leaves at least max_per_channel rows.
    const auto keep = static_cast<int64_t>(std::min<uint64_t>(
        options_.max_per_channel, std::numeric_limits<int64_t>::max()));
    absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> cuts =
        FindChannelCuts(*prune_db_, keep);
    if (!cuts.ok()) return cuts.status();
    for (const auto& [channel, cut_id] : *cuts) {
      for (;;) {
        if (Stopping()) return deleted;
        absl::StatusOr<uint64_t> n = DeleteBatch(
            [&channel = channel, cut_id = cut_id, batch](Connection& db) {
              return DeleteChannelUpTo(db, channel, cut_id, batch);
            });
        if (!n.ok()) return n.status();
        deleted += *n;
        if (*n < static_cast<uint64_t>(batch)) break;
      }
    }
  }
  return deleted;
}

void SqliteStore::PrunerLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&stop_mu_);
      stop_mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                                options_.prune_interval);
      if (stopping_) return;
    }
    absl::MutexLock lock(&prune_mu_);
    absl::StatusOr<uint64_t> deleted = PruneLocked();
    if (!deleted.ok()) {
      spdlog::warn("store: retention pass failed: {}",
                   deleted.status().ToString());
    } else if (*deleted > 0) {
      spdlog::info("store: retention removed {} notifications", *deleted);
    }
  }
}

}  // namespace notifyd::storage
