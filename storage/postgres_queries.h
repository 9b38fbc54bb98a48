// The SQL behind each Store call on PostgreSQL.
//
// The store (postgres_store.h) decides which thread and transaction a call
// runs in; the queries only talk to the database. They are functions of
// postgres_queries.cc (reads) and postgres_writes.cc (writes) with the
// names and arguments of the SQLite ones (InsertNotification, SetFlagOn,
// ListRows, ReplayRows, CountsRow...),
// which QueryReader and QueryTransaction (store_backend.h) turn into what
// the engine calls. This header hands those out, and the queries only
// PostgreSQL has: the id counter shared by every instance.
//
// Every call blocks until the server answers; errors are PgConnection's
// (postgres_connection.h). Each object is confined to one thread at a time,
// like its connection.
#ifndef NOTIFYD_STORAGE_POSTGRES_QUERIES_H_
#define NOTIFYD_STORAGE_POSTGRES_QUERIES_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/postgres_connection.h"
#include "storage/store_backend.h"

namespace notifyd::storage {

// A connection that writes, and the last id its open transaction took: each
// row inserted (a notification or a record) is numbered last_id + 1 and
// advances it. Meaningful only in a transaction that holds the id counter
// (LockIdCounter).
struct PgWriter {
  PgConnection& db;
  int64_t last_id = 0;
};

// The reads, each one statement and so one snapshot, on a connection of
// their own (owned). A read that met a dropped connection (a server
// restart, a failover) runs once more on a new one: reads change nothing.
std::unique_ptr<StoreReader> NewReader(std::unique_ptr<PgConnection> db);

// The writes through `writer` (not owned), in a batch transaction that
// holds the id counter's lock: no batch of another instance writes until
// it ends, so an idempotency key looked up (RowByKey) cannot be stored
// elsewhere before the insert that follows it. No write touches the
// counter row itself (the batch saves last_id), so no id is handed out
// twice.
std::unique_ptr<WriteTransaction> NewTransaction(PgWriter& writer);

// For each channel holding more than `keep` notifications (records not
// counted): the newest id that may be deleted so that `keep` remain.
absl::StatusOr<std::vector<ChannelCut>> FindChannelCuts(PgConnection& db,
                                                        int64_t keep);

// Locks the id counter until the transaction ends and returns its last id:
// another instance's batches wait, so they get later ids and commit later.
absl::StatusOr<int64_t> LockIdCounter(PgConnection& db);
// Stores the counter's new last id, in the transaction that locked it.
absl::Status SaveLastId(PgConnection& db, int64_t last_id);
// Whether the server acknowledges commits before their WAL is flushed.
absl::StatusOr<bool> SynchronousCommitIsOff(PgConnection& db);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_POSTGRES_QUERIES_H_
