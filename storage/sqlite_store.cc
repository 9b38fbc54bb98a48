#include "storage/sqlite_store.h"

#include <algorithm>
#include <filesystem>
#include <future>
#include <limits>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"
#include "storage/migrations.h"
#include "storage/sqlite_connection.h"

namespace notifyd::storage {
namespace {

constexpr char kColumns[] = "id, channel, event, data, created_at_ms, read";

// Ids and bounds arrive as uint64 but SQLite integers are int64. Ids never
// exceed int64, so a larger bound means "no bound".
int64_t ClampId(uint64_t id) {
  return static_cast<int64_t>(
      std::min<uint64_t>(id, std::numeric_limits<int64_t>::max()));
}

Notification ReadRow(Statement& stmt) {
  Notification n;
  n.id = static_cast<uint64_t>(stmt.ColumnInt(0));
  n.channel = stmt.ColumnText(1);
  n.event = stmt.ColumnText(2);
  n.data = stmt.ColumnText(3);
  n.created_at_ms = stmt.ColumnInt(4);
  n.read = stmt.ColumnInt(5) != 0;
  return n;
}

// Appends every row `stmt` yields to `out`.
absl::Status ReadRows(Statement& stmt, std::vector<Notification>& out) {
  for (;;) {
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
    out.push_back(ReadRow(stmt));
  }
}

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
  virtual ~WriteOp() = default;
  // Runs inside the batch transaction, in a savepoint of its own.
  virtual absl::Status Run(Connection& db) = 0;
  // After the transaction ends: Run's status, or the failure that rolled
  // the whole batch back.
  virtual void Finish(absl::Status status) = 0;
};

template <typename T>
class SqliteStore::TypedWriteOp final : public SqliteStore::WriteOp {
 public:
  TypedWriteOp(std::function<absl::StatusOr<T>(Connection&)> fn,
               Callback<T> done)
      : fn_(std::move(fn)), done_(std::move(done)) {}

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

  writer_ = std::thread([this] { WriterLoop(); });
  for (auto& reader : read_dbs_) {
    readers_.emplace_back([this, conn = reader.get()] { ReaderLoop(conn); });
  }
  if (options_.retention > absl::ZeroDuration() ||
      options_.max_per_channel > 0) {
    pruner_ = std::thread([this] { PrunerLoop(); });
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
  {
    absl::MutexLock lock(&write_mu_);
    write_closed_ = true;
    write_cv_.SignalAll();
  }
  if (writer_.joinable()) writer_.join();
  {
    absl::MutexLock lock(&read_mu_);
    read_closed_ = true;
    read_cv_.SignalAll();
  }
  for (std::thread& reader : readers_) reader.join();
  readers_.clear();

  read_dbs_.clear();
  {
    absl::MutexLock lock(&prune_mu_);
    prune_db_.reset();
  }
  // Last, so the read-write connection is the one that checkpoints the WAL
  // into the database file and removes it.
  write_db_.reset();
}

int64_t SqliteStore::NowMs() const {
  return options_.now_ms ? options_.now_ms() : absl::ToUnixMillis(absl::Now());
}

template <typename T, typename Fn>
void SqliteStore::SubmitWrite(Fn fn, Callback<T> done) {
  auto op = std::make_unique<TypedWriteOp<T>>(std::move(fn), std::move(done));
  {
    absl::MutexLock lock(&write_mu_);
    if (!write_closed_) {
      write_queue_.push_back(std::move(op));
      write_cv_.Signal();
      return;
    }
  }
  CallBackLater([op = std::move(op)] { op->Finish(Closed()); });
}

template <typename T, typename Fn>
void SqliteStore::SubmitRead(Fn fn, Callback<T> done) {
  {
    absl::MutexLock lock(&read_mu_);
    if (!read_closed_) {
      read_queue_.push_back(
          [fn = std::move(fn), done](Connection& db) mutable { done(fn(db)); });
      read_cv_.Signal();
      return;
    }
  }
  CallBackLater([done = std::move(done)] { done(Closed()); });
}

void SqliteStore::WriterLoop() {
  const size_t max_batch = std::max<size_t>(1, options_.max_batch);
  std::vector<std::unique_ptr<WriteOp>> batch;
  for (;;) {
    {
      absl::MutexLock lock(&write_mu_);
      while (write_queue_.empty() && !write_closed_) write_cv_.Wait(&write_mu_);
      // Closed and drained: everything queued before Close() has run.
      if (write_queue_.empty()) return;
      while (!write_queue_.empty() && batch.size() < max_batch) {
        batch.push_back(std::move(write_queue_.front()));
        write_queue_.pop_front();
      }
    }
    CommitBatch(batch);
    batch.clear();
  }
}

void SqliteStore::CommitBatch(std::vector<std::unique_ptr<WriteOp>>& batch) {
  Connection& db = *write_db_;
  const absl::Time start = absl::Now();
  std::vector<absl::Status> results(batch.size());
  absl::Status txn = db.Exec("BEGIN IMMEDIATE");
  for (size_t i = 0; txn.ok() && i < batch.size(); ++i) {
    // A savepoint per call: one bad row fails only its own caller.
    txn = db.Exec("SAVEPOINT op");
    if (!txn.ok()) break;
    results[i] = batch[i]->Run(db);
    if (!results[i].ok()) {
      // Fails when the error already rolled back the whole transaction
      // (disk full, I/O error); then the batch fails as a whole.
      txn = db.Exec("ROLLBACK TO op");
      if (!txn.ok()) break;
    }
    txn = db.Exec("RELEASE op");
  }
  if (txn.ok()) txn = db.Exec("COMMIT");
  if (txn.ok()) {
    if (options_.on_commit) {
      options_.on_commit(absl::ToDoubleSeconds(absl::Now() - start),
                         batch.size());
    }
  } else {
    spdlog::error("store: commit of {} calls failed: {}", batch.size(),
                  txn.ToString());
    if (!db.Autocommit()) db.Exec("ROLLBACK").IgnoreError();
  }
  // Only now, with the batch durable (or known lost), may callers hear back.
  for (size_t i = 0; i < batch.size(); ++i) {
    batch[i]->Finish(txn.ok() ? results[i] : txn);
  }
}

void SqliteStore::ReaderLoop(Connection* db) {
  for (;;) {
    ReadTask task;
    {
      absl::MutexLock lock(&read_mu_);
      while (read_queue_.empty() && !read_closed_) read_cv_.Wait(&read_mu_);
      if (read_queue_.empty()) return;
      task = std::move(read_queue_.front());
      read_queue_.pop_front();
    }
    task(*db);
  }
}

absl::StatusOr<AppendResult> SqliteStore::DoAppend(Connection& db,
                                                   AppendRequest& request) {
  const bool has_key = !request.idempotency_key.empty();
  if (has_key) {
    // Within a batch this also sees rows inserted earlier in the same
    // (uncommitted) transaction, so a repeat in one batch is a duplicate too.
    absl::StatusOr<Statement> find = db.Prepare(absl::StrCat(
        "SELECT ", kColumns,
        " FROM notifications WHERE channel = ?1 AND idempotency_key = ?2"));
    if (!find.ok()) return find.status();
    find->BindText(1, request.channel);
    find->BindText(2, request.idempotency_key);
    absl::StatusOr<bool> row = find->Step();
    if (!row.ok()) return row.status();
    if (*row) {
      return AppendResult{std::make_shared<const Notification>(ReadRow(*find)),
                          /*duplicate=*/true};
    }
  }

  absl::StatusOr<Statement> insert = db.Prepare(
      "INSERT INTO notifications"
      " (channel, event, data, created_at_ms, idempotency_key)"
      " VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id");
  if (!insert.ok()) return insert.status();
  const int64_t now = NowMs();
  insert->BindText(1, request.channel);
  insert->BindText(2, request.event);
  insert->BindText(3, request.data);
  insert->BindInt(4, now);
  if (has_key) {
    insert->BindText(5, request.idempotency_key);
  } else {
    insert->BindNull(5);
  }
  absl::StatusOr<bool> row = insert->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::InternalError("INSERT returned no id");
  auto n = std::make_shared<Notification>();
  n->id = static_cast<uint64_t>(insert->ColumnInt(0));
  if (absl::Status s = insert->Run(); !s.ok()) return s;
  n->channel = std::move(request.channel);
  n->event = std::move(request.event);
  n->data = std::move(request.data);
  n->created_at_ms = now;
  return AppendResult{std::move(n), /*duplicate=*/false};
}

void SqliteStore::Append(AppendRequest request, Callback<AppendResult> done) {
  SubmitWrite<AppendResult>(
      [this, request = std::move(request)](Connection& db) mutable {
        return DoAppend(db, request);
      },
      std::move(done));
}

void SqliteStore::MarkRead(MarkReadRequest request, Callback<uint64_t> done) {
  SubmitWrite<uint64_t>(
      [request =
           std::move(request)](Connection& db) -> absl::StatusOr<uint64_t> {
        // "read = 0" keeps an id named twice, or also covered by up_to_id,
        // from being counted twice.
        uint64_t changed = 0;
        if (request.up_to_id > 0) {
          absl::StatusOr<Statement> update = db.Prepare(
              "UPDATE notifications SET read = 1"
              " WHERE channel = ?1 AND id <= ?2 AND read = 0");
          if (!update.ok()) return update.status();
          update->BindText(1, request.channel);
          update->BindInt(2, ClampId(request.up_to_id));
          if (absl::Status s = update->Run(); !s.ok()) return s;
          changed += db.Changes();
        }
        for (uint64_t id : request.ids) {
          absl::StatusOr<Statement> update = db.Prepare(
              "UPDATE notifications SET read = 1"
              " WHERE channel = ?1 AND id = ?2 AND read = 0");
          if (!update.ok()) return update.status();
          update->BindText(1, request.channel);
          update->BindInt(2, ClampId(id));
          if (absl::Status s = update->Run(); !s.ok()) return s;
          changed += db.Changes();
        }
        return changed;
      },
      std::move(done));
}

void SqliteStore::List(ListQuery query,
                       Callback<std::vector<Notification>> done) {
  SubmitRead<std::vector<Notification>>(
      [query = std::move(query)](
          Connection& db) -> absl::StatusOr<std::vector<Notification>> {
        absl::StatusOr<Statement> stmt = db.Prepare(
            absl::StrCat("SELECT ", kColumns,
                         " FROM notifications WHERE channel = ?1 AND id < ?2",
                         query.unread_only ? " AND read = 0" : "",
                         " ORDER BY id DESC LIMIT ?3"));
        if (!stmt.ok()) return stmt.status();
        stmt->BindText(1, query.channel);
        stmt->BindInt(2, query.before_id == 0 ? ClampId(UINT64_MAX)
                                              : ClampId(query.before_id));
        stmt->BindInt(3, query.limit);
        std::vector<Notification> rows;
        if (absl::Status s = ReadRows(*stmt, rows); !s.ok()) return s;
        return rows;
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
      [query = std::move(query)](
          Connection& db) mutable -> absl::StatusOr<ReplayPage> {
        std::sort(query.channels.begin(), query.channels.end());
        query.channels.erase(
            std::unique(query.channels.begin(), query.channels.end()),
            query.channels.end());
        // One snapshot, so oldest_id agrees with the page.
        if (absl::Status s = db.Exec("BEGIN"); !s.ok()) return s;
        absl::StatusOr<ReplayPage> page = [&]() -> absl::StatusOr<ReplayPage> {
          // Per channel, each an index range scan bounded by `limit`, then
          // merged: cheaper than one IN query that sorts every matching row.
          std::vector<Notification> rows;
          ReplayPage page;
          for (const std::string& channel : query.channels) {
            absl::StatusOr<Statement> stmt = db.Prepare(absl::StrCat(
                "SELECT ", kColumns,
                " FROM notifications WHERE channel = ?1 AND id > ?2"
                " ORDER BY id LIMIT ?3"));
            if (!stmt.ok()) return stmt.status();
            stmt->BindText(1, channel);
            stmt->BindInt(2, ClampId(query.after_id));
            stmt->BindInt(3, query.limit);
            if (absl::Status s = ReadRows(*stmt, rows); !s.ok()) return s;

            absl::StatusOr<Statement> oldest = db.Prepare(
                "SELECT id FROM notifications WHERE channel = ?1"
                " ORDER BY id LIMIT 1");
            if (!oldest.ok()) return oldest.status();
            oldest->BindText(1, channel);
            absl::StatusOr<bool> row = oldest->Step();
            if (!row.ok()) return row.status();
            if (*row) {
              uint64_t id = static_cast<uint64_t>(oldest->ColumnInt(0));
              if (page.oldest_id == 0 || id < page.oldest_id) {
                page.oldest_id = id;
              }
            }
          }
          std::sort(rows.begin(), rows.end(),
                    [](const Notification& a, const Notification& b) {
                      return a.id < b.id;
                    });
          if (rows.size() > query.limit) rows.resize(query.limit);
          page.notifications.reserve(rows.size());
          for (Notification& n : rows) {
            page.notifications.push_back(
                std::make_shared<const Notification>(std::move(n)));
          }
          return page;
        }();
        db.Exec("COMMIT").IgnoreError();
        return page;
      },
      std::move(done));
}

void SqliteStore::UnreadCount(std::string channel, Callback<uint64_t> done) {
  SubmitRead<uint64_t>(
      [channel =
           std::move(channel)](Connection& db) -> absl::StatusOr<uint64_t> {
        absl::StatusOr<Statement> stmt = db.Prepare(
            "SELECT COUNT(*) FROM notifications"
            " WHERE channel = ?1 AND read = 0");
        if (!stmt.ok()) return stmt.status();
        stmt->BindText(1, channel);
        absl::StatusOr<bool> row = stmt->Step();
        if (!row.ok()) return row.status();
        return static_cast<uint64_t>(*row ? stmt->ColumnInt(0) : 0);
      },
      std::move(done));
}

void SqliteStore::Stats(Callback<StoreStats> done) {
  SubmitRead<StoreStats>(
      [path = options_.path](Connection& db) -> absl::StatusOr<StoreStats> {
        absl::StatusOr<int64_t> count =
            db.QueryInt("SELECT COUNT(*) FROM notifications");
        if (!count.ok()) return count.status();
        absl::StatusOr<int64_t> pages = db.QueryInt("PRAGMA page_count");
        if (!pages.ok()) return pages.status();
        absl::StatusOr<int64_t> page_size = db.QueryInt("PRAGMA page_size");
        if (!page_size.ok()) return page_size.status();
        StoreStats stats;
        stats.notifications = static_cast<uint64_t>(*count);
        stats.bytes = static_cast<uint64_t>(*pages * *page_size);
        // The WAL holds committed data not yet checkpointed: it is disk the
        // store uses too.
        std::error_code ec;
        uintmax_t wal = std::filesystem::file_size(path + "-wal", ec);
        if (!ec) stats.bytes += wal;
        return stats;
      },
      std::move(done));
}

void SqliteStore::Ping(Callback<bool> done) {
  SubmitRead<bool>(
      [](Connection& db) -> absl::StatusOr<bool> {
        // Touches the table, not just the connection, so a vanished or
        // corrupt file shows up.
        absl::StatusOr<int64_t> ok = db.QueryInt(
            "SELECT COUNT(*) FROM (SELECT 1 FROM notifications"
            " LIMIT 1)");
        if (!ok.ok()) return ok.status();
        return true;
      },
      std::move(done));
}

bool SqliteStore::Stopping() {
  absl::MutexLock lock(&stop_mu_);
  return stopping_;
}

absl::StatusOr<uint64_t> SqliteStore::DeleteBatch(
    std::string sql, std::function<void(Statement&)> bind) {
  std::promise<absl::StatusOr<uint64_t>> promise;
  std::future<absl::StatusOr<uint64_t>> future = promise.get_future();
  SubmitWrite<uint64_t>(
      [sql = std::move(sql),
       bind = std::move(bind)](Connection& db) -> absl::StatusOr<uint64_t> {
        absl::StatusOr<Statement> stmt = db.Prepare(sql);
        if (!stmt.ok()) return stmt.status();
        bind(*stmt);
        if (absl::Status s = stmt->Run(); !s.ok()) return s;
        return static_cast<uint64_t>(db.Changes());
      },
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
      absl::StatusOr<uint64_t> n = DeleteBatch(
          "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications"
          " WHERE created_at_ms < ?1 LIMIT ?2)",
          [cutoff, batch](Statement& stmt) {
            stmt.BindInt(1, cutoff);
            stmt.BindInt(2, batch);
          });
      if (!n.ok()) return n.status();
      deleted += *n;
      if (*n < static_cast<uint64_t>(batch) || Stopping()) break;
    }
  }

  if (options_.max_per_channel > 0) {
    const int64_t keep = ClampId(options_.max_per_channel);
    // Found on the pruner's own snapshot. New rows only get larger ids, so
    // deleting at or below the (keep+1)-th newest id as of the snapshot
    // still leaves at least `keep` rows.
    std::vector<std::pair<std::string, int64_t>> cuts;
    {
      absl::StatusOr<Statement> over = prune_db_->Prepare(
          "SELECT channel FROM notifications GROUP BY channel"
          " HAVING COUNT(*) > ?1");
      if (!over.ok()) return over.status();
      over->BindInt(1, keep);
      std::vector<std::string> channels;
      for (;;) {
        absl::StatusOr<bool> row = over->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        channels.push_back(over->ColumnText(0));
      }
      for (std::string& channel : channels) {
        absl::StatusOr<Statement> cut = prune_db_->Prepare(
            "SELECT id FROM notifications WHERE channel = ?1"
            " ORDER BY id DESC LIMIT 1 OFFSET ?2");
        if (!cut.ok()) return cut.status();
        cut->BindText(1, channel);
        cut->BindInt(2, keep);
        absl::StatusOr<bool> row = cut->Step();
        if (!row.ok()) return row.status();
        if (*row) cuts.emplace_back(std::move(channel), cut->ColumnInt(0));
      }
    }
    for (const auto& [channel, cut_id] : cuts) {
      for (;;) {
        if (Stopping()) return deleted;
        absl::StatusOr<uint64_t> n = DeleteBatch(
            "DELETE FROM notifications WHERE id IN (SELECT id FROM"
            " notifications WHERE channel = ?1 AND id <= ?2 LIMIT ?3)",
            [&channel, cut_id = cut_id, batch](Statement& stmt) {
              stmt.BindText(1, channel);
              stmt.BindInt(2, cut_id);
              stmt.BindInt(3, batch);
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
