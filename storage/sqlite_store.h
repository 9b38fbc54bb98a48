// The SQLite store: the store engine (store_engine.h) on one SQLite file.
//
// What SQLite adds to the engine's threads (docs/DESIGN.md, Threading):
//  - The writer thread owns the only read-write connection and commits each
//    batch as one BEGIN IMMEDIATE transaction, synced per synchronous_full.
//    A call that fails is undone alone: an append is a single statement
//    that undoes itself; other writes run inside a savepoint.
//  - Each reader thread has a read-only connection; WAL mode lets them read
//    while the writer commits.
//  - A checkpointer thread copies the WAL into the database file in the
//    background (wal_checkpointer.h), so no commit waits for a checkpoint.
//  - The pruner finds what to delete on a read-only connection of its own
//    and deletes through the writer, one batch per writer task.
#ifndef NOTIFYD_STORAGE_SQLITE_STORE_H_
#define NOTIFYD_STORAGE_SQLITE_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/store_engine.h"
#include "storage/wal_checkpointer.h"

namespace notifyd::storage {

struct SqliteStoreOptions : StoreOptions {
  // Database file. Its directory must exist and be writable; it is not
  // created, so a mistyped path fails loudly instead of storing elsewhere.
  std::string path;
  // FULL syncs the WAL on every commit: an acknowledged append survives a
  // power cut. NORMAL may lose the last commits on power loss (not on a
  // process crash) in exchange for throughput.
  bool synchronous_full = true;
  // When the WAL is copied back into the database file (wal_checkpointer.h).
  WalCheckpointOptions checkpoint;
  // SQLite page cache of the writer connection, in KiB. The indexes that
  // every append touches stay in memory instead of being read back.
  int writer_cache_kib = 64 * 1024;
};

// Opens or creates the database, applies pending migrations and starts the
// store's threads. Fails with INVALID_ARGUMENT for options out of range
// (StoreOptions::Validate), with a message naming the path when the file
// cannot be opened, and with FAILED_PRECONDITION when the file cannot use
// WAL mode or its schema is newer than this binary.
absl::StatusOr<std::unique_ptr<StoreEngine>> OpenSqliteStore(
    const SqliteStoreOptions& options);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_SQLITE_STORE_H_
