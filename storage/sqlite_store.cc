#include "storage/sqlite_store.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "storage/migrations.h"
#include "storage/sqlite_connection.h"
#include "storage/sqlite_queries.h"
#include "storage/store_backend.h"

namespace notifyd::storage {
namespace {

// Throws away a failed batch: some errors (disk full, I/O error) have
// already ended the transaction.
void RollBack(Connection& db) {
  if (!db.Autocommit()) db.Exec("ROLLBACK").IgnoreError();
}

class SqliteBackend final : public StoreBackend {
 public:
  static absl::StatusOr<StoreParts> Open(const SqliteStoreOptions& options);

  bool CommitBatch(const std::vector<std::unique_ptr<WriteOp>>& ops,
                   std::vector<absl::Status>& results) override;

  void AfterBatch() override { checkpointer_->OnWriterIdle(); }

  // One writer: the deletes take turns with the batches.
  absl::StatusOr<WriteTransaction*> PruneTransaction() override {
    return nullptr;
  }

  absl::StatusOr<std::vector<ChannelCut>> FindChannelCuts(
      int64_t keep) override {
    return storage::FindChannelCuts(*prune_db_, keep);
  }

 private:
  absl::Status SetUpWriter(const SqliteStoreOptions& options);

  // Destroyed bottom up, after the readers: the read-write connection last, so
  // that it is the one that checkpoints the WAL into the file and removes it.
  std::unique_ptr<Connection> write_db_;
  std::unique_ptr<WriteTransaction> txn_;
  std::unique_ptr<WalCheckpointer> checkpointer_;
  std::unique_ptr<Connection> prune_db_;  // the pruner's turn only
};

absl::Status SqliteBackend::SetUpWriter(const SqliteStoreOptions& options) {
  Connection& db = *write_db_;
  {
    // Scoped: a statement not yet reset would hold a lock on the schema.
    absl::StatusOr<Statement> wal = db.Prepare("PRAGMA journal_mode=WAL");
    if (!wal.ok()) return wal.status();
    absl::StatusOr<bool> row = wal->Step();
    if (!row.ok()) return row.status();
    // WAL is what lets readers run during commits; some filesystems (no
    // shared memory) cannot do it, and we would rather refuse than crawl.
    if (!*row || wal->ColumnText(0) != "wal") {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot open store at ", options.path,
                       ": WAL mode is not supported there"));
    }
  }
  if (absl::Status s =
          db.Exec(options.synchronous_full ? "PRAGMA synchronous=FULL"
                                           : "PRAGMA synchronous=NORMAL");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = db.Exec(
          absl::StrCat("PRAGMA cache_size=-", options.writer_cache_kib));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ApplyMigrations(db.db()); !s.ok()) {
    return absl::Status(
        s.code(), absl::StrCat("store at ", options.path, ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<StoreParts> SqliteBackend::Open(
    const SqliteStoreOptions& options) {
  auto backend = std::make_unique<SqliteBackend>();
  std::vector<std::unique_ptr<StoreReader>> readers;
  const std::string& path = options.path;
  absl::StatusOr<std::unique_ptr<Connection>> db =
      Connection::Open(path, Connection::Mode::kReadWrite);
  if (!db.ok()) return db.status();
  backend->write_db_ = std::move(*db);
  backend->txn_ = NewTransaction(*backend->write_db_);
  if (absl::Status s = backend->SetUpWriter(options); !s.ok()) return s;

  // Read-only connections open after the writer set WAL mode and the schema
  // exists, so they see both: one per reader, one for the pruner.
  for (int i = 0; i <= options.readers; ++i) {
    absl::StatusOr<std::unique_ptr<Connection>> reader =
        Connection::Open(path, Connection::Mode::kReadOnly);
    if (!reader.ok()) return reader.status();
    if (i == options.readers) {
      backend->prune_db_ = std::move(*reader);
    } else {
      readers.push_back(NewReader(std::move(*reader)));
    }
  }

  absl::StatusOr<std::unique_ptr<Connection>> own =
      Connection::Open(path, Connection::Mode::kReadWrite);
  if (!own.ok()) return own.status();
  // A connection learns that the database is in WAL mode on its first read;
  // until then a checkpoint through it silently does nothing.
  if (absl::Status s = (*own)->Exec("PRAGMA journal_mode"); !s.ok()) return s;
  backend->checkpointer_ = std::make_unique<WalCheckpointer>(
      *backend->write_db_, std::move(*own), options.checkpoint);
  return StoreParts{std::move(backend), std::move(readers)};
}

bool SqliteBackend::CommitBatch(
    const std::vector<std::unique_ptr<WriteOp>>& ops,
    std::vector<absl::Status>& results) {
  Connection& db = *write_db_;
  absl::Status txn = db.Exec("BEGIN IMMEDIATE");
  for (size_t i = 0; txn.ok() && i < ops.size(); ++i) {
    // One bad call fails only its own caller. A single statement undoes
    // itself when it fails; several need a savepoint (two more statements,
    // so appends, the hot path, go without: their first statement is the
    // one that may fail alone, and a failure after it ends the batch).
    const bool savepoint = ops[i]->kind() != WriteOp::Kind::kAppend;
    if (savepoint) {
      txn = db.Exec("SAVEPOINT op");
      if (!txn.ok()) break;
    }
    results[i] = ops[i]->Run(*txn_);
    if (!results[i].ok()) {
      // Some errors (disk full, I/O error) end the whole transaction; then
      // the batch fails as a whole.
      if (db.Autocommit() || EndsBatch(results[i])) {
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
  if (txn.ok()) return true;
  Log(spdlog::level::err, "store: commit failed",
      {{"calls", ops.size()}, {"error", txn.ToString()}});
  RollBack(db);
  for (absl::Status& r : results) r = txn;
  return false;
}

}  // namespace

absl::StatusOr<std::unique_ptr<StoreEngine>> OpenSqliteStore(
    const SqliteStoreOptions& options) {
  return StoreEngine::Open(options,
                           [&options] { return SqliteBackend::Open(options); });
}

}  // namespace notifyd::storage
