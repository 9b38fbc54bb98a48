#include "storage/postgres_store.h"

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/log.h"
#include "storage/postgres_connection.h"
#include "storage/postgres_migrations.h"
#include "storage/postgres_queries.h"
#include "storage/store_backend.h"

namespace notifyd::storage {
namespace {

// Whether an error says nothing about the call that met it, so the whole
// batch fails rather than that call alone: the connection is gone
// (08, or no SQLSTATE at all), a deadlock or serialization failure (40),
// the server is out of resources (53), shutting down (57) or broken (58,
// XX).
bool FailsWholeBatch(const absl::Status& status, const PgConnection& db) {
  if (db.Broken() || status.code() == absl::StatusCode::kUnavailable) {
    return true;
  }
  const std::string state = PgSqlState(status);
  if (state.size() < 2) return true;
  for (absl::string_view cls : {"08", "40", "53", "57", "58", "XX"}) {
    if (absl::StartsWith(state, cls)) return true;
  }
  return false;
}

// How often a batch that lost a deadlock or serialization conflict runs
// again before its callers get the error.
constexpr int kMaxConflictRetries = 3;

void RollBack(PgConnection& db) {
  if (db.InTransaction()) db.Exec("ROLLBACK").IgnoreError();
}

// A connection that writes, with its queries.
struct WriteConnection {
  explicit WriteConnection(std::unique_ptr<PgConnection> connection)
      : db(std::move(connection)), writer{*db}, txn(NewTransaction(writer)) {}
  std::unique_ptr<PgConnection> db;
  PgWriter writer;
  std::unique_ptr<WriteTransaction> txn;
};

class PostgresBackend final : public StoreBackend {
 public:
  static absl::StatusOr<StoreParts> Open(const PostgresStoreOptions& options);

  bool CommitBatch(const std::vector<std::unique_ptr<WriteOp>>& ops,
                   std::vector<absl::Status>& results) override;

  // Each prune batch is a writer task in a batch transaction, like every
  // other write: its deletes take rows out of inbox_counts, which the
  // batches change too, and under the id counter's lock no two
  // transactions of notifyd ever wait on each other's rows.
  absl::StatusOr<WriteTransaction*> PruneTransaction() override {
    return nullptr;
  }

  absl::StatusOr<std::vector<ChannelCut>> FindChannelCuts(
      int64_t keep) override;

 private:
  explicit PostgresBackend(const PostgresStoreOptions& options)
      : url_(options.url), before_commit_(options.before_commit) {}

  // One try at committing `ops`; on the failure of one op, sets *failed to
  // its index. Sets *commit_sent once COMMIT went out: a failure after it
  // leaves the outcome unknown.
  absl::Status TryCommit(const std::vector<WriteOp*>& ops, size_t* failed,
                         bool* commit_sent);

  const std::string url_;
  const std::function<void()> before_commit_;
  // The writer's, whose last_id each batch sets.
  std::unique_ptr<WriteConnection> write_;
  // The server's synchronous_commit is off: each batch turns it on.
  bool force_synchronous_commit_ = false;
  // The pruner's, for FindChannelCuts off the writer, opened on the first
  // pass that prunes by max_per_channel; the pruner's turn only.
  std::unique_ptr<PgConnection> cuts_db_;
};

absl::StatusOr<StoreParts> PostgresBackend::Open(
    const PostgresStoreOptions& options) {
  std::unique_ptr<PostgresBackend> backend(new PostgresBackend(options));
  std::vector<std::unique_ptr<StoreReader>> readers;
  absl::StatusOr<std::unique_ptr<PgConnection>> db =
      PgConnection::Connect(options.url);
  if (!db.ok()) return db.status();
  backend->write_ = std::make_unique<WriteConnection>(std::move(*db));
  PgConnection& writer = *backend->write_->db;
  if (absl::Status s = ApplyPostgresMigrations(writer); !s.ok()) {
    return absl::Status(
        s.code(),
        absl::StrCat("store at ", writer.description(), ": ", s.message()));
  }
  // An acknowledged append must survive a crash. Stronger settings
  // (remote_apply for synchronous replicas...) are the operator's to keep;
  // only "off", which acknowledges before the WAL is flushed, is overridden.
  absl::StatusOr<bool> sync_off = SynchronousCommitIsOff(writer);
  if (!sync_off.ok()) return sync_off.status();
  if (*sync_off) {
    Log(spdlog::level::warn,
        "store: synchronous_commit is off; turning it on for notifyd's "
        "writes, which are acknowledged only once durable",
        {{"postgres", writer.description()}});
    // Per transaction, so it holds on a reconnected session too.
    backend->force_synchronous_commit_ = true;
  }
  for (int i = 0; i < options.readers; ++i) {
    absl::StatusOr<std::unique_ptr<PgConnection>> reader =
        PgConnection::Connect(options.url);
    if (!reader.ok()) return reader.status();
    readers.push_back(NewReader(std::move(*reader)));
  }
  return StoreParts{std::move(backend), std::move(readers)};
}

absl::StatusOr<std::vector<ChannelCut>> PostgresBackend::FindChannelCuts(
    int64_t keep) {
  if (cuts_db_ == nullptr) {
    absl::StatusOr<std::unique_ptr<PgConnection>> db =
        PgConnection::Connect(url_);
    if (!db.ok()) return db.status();
    cuts_db_ = std::move(*db);
  }
  if (absl::Status s = cuts_db_->EnsureOpen(); !s.ok()) return s;
  return storage::FindChannelCuts(*cuts_db_, keep);
}

bool PostgresBackend::CommitBatch(
    const std::vector<std::unique_ptr<WriteOp>>& ops,
    std::vector<absl::Status>& results) {
  PgConnection& db = *write_->db;
  // The calls still to commit, and where each sits in `ops`.
  std::vector<WriteOp*> pending;
  std::vector<size_t> position;
  for (size_t i = 0; i < ops.size(); ++i) {
    pending.push_back(ops[i].get());
    position.push_back(i);
  }
  bool reconnected = false;
  int conflicts = 0;
  // Each retry drops one call, or is the one reconnection or one of
  // kMaxConflictRetries, so this ends.
  while (!pending.empty()) {
    size_t failed = pending.size();
    bool commit_sent = false;
    absl::Status status = db.EnsureOpen();
    if (status.ok()) status = TryCommit(pending, &failed, &commit_sent);
    if (status.ok()) return true;
    // The connection dropped before COMMIT, so nothing was stored: try
    // once more on a new one, and the callers never notice. Likewise when
    // the server chose this transaction as a deadlock victim (against a
    // session other than notifyd's batches, which take turns on the id
    // counter, e.g. an operator's): it was rolled back whole.
    if (!commit_sent && db.Broken() && !reconnected) {
      reconnected = true;
      continue;
    }
    if (!commit_sent && !db.Broken() &&
        absl::StartsWith(PgSqlState(status), "40") &&
        conflicts < kMaxConflictRetries) {
      ++conflicts;
      continue;
    }
    if (db.Broken() && commit_sent) {
      status = absl::UnavailableError(absl::StrCat(
          status.message(),
          " (the connection was lost during COMMIT: the calls may or may "
          "not be stored)"));
    }
    if (failed == pending.size()) {
      Log(spdlog::level::err, "store: commit failed",
          {{"calls", pending.size()}, {"error", status.ToString()}});
      for (size_t p : position) results[p] = status;
      return false;
    }
    // Only that call fails; the others go again without it.
    results[position[failed]] = std::move(status);
    pending.erase(pending.begin() + failed);
    position.erase(position.begin() + failed);
  }
  return false;
}

absl::Status PostgresBackend::TryCommit(const std::vector<WriteOp*>& ops,
                                        size_t* failed, bool* commit_sent) {
  PgConnection& db = *write_->db;
  if (absl::Status s = db.Exec(force_synchronous_commit_
                                   ? "BEGIN; SET LOCAL synchronous_commit = on"
                                   : "BEGIN");
      !s.ok()) {
    RollBack(db);
    return s;
  }
  // Every batch locks the id counter first, not only those that take ids
  // (an append, a change that commits a record): held until COMMIT, it
  // makes the batches of all instances take turns. So each statement sees
  // every earlier batch's commit (READ COMMITTED reads a new snapshot per
  // statement), an idempotency key or a collapse key cannot be written by
  // another instance between the lookup and the insert, and two batches
  // that change the same inbox's rows and counts never deadlock. A batch
  // that takes no id pays one statement for it.
  PgWriter& writer = write_->writer;
  absl::StatusOr<int64_t> last = LockIdCounter(db);
  if (!last.ok()) {
    RollBack(db);
    return last.status();
  }
  writer.last_id = *last;
  const int64_t first_id = writer.last_id;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (absl::Status s = ops[i]->Run(*write_->txn); !s.ok()) {
      if (!FailsWholeBatch(s, db)) *failed = i;
      RollBack(db);
      return s;
    }
  }
  if (writer.last_id != first_id) {
    if (absl::Status s = SaveLastId(db, writer.last_id); !s.ok()) {
      RollBack(db);
      return s;
    }
  }
  if (before_commit_) before_commit_();
  // The batch never runs COMMIT on a failed transaction (which PostgreSQL
  // would answer with a silent ROLLBACK), so an OK here means committed,
  // and with synchronous_commit on, flushed.
  *commit_sent = true;
  if (absl::Status s = db.Exec("COMMIT"); !s.ok()) {
    RollBack(db);
    return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<StoreEngine>> OpenPostgresStore(
    const PostgresStoreOptions& options) {
  return StoreEngine::Open(
      options, [&options] { return PostgresBackend::Open(options); });
}

}  // namespace notifyd::storage
