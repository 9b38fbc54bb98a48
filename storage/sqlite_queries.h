// The SQL behind each Store call on SQLite.
//
// The store engine (store_engine.h) decides which thread and transaction a
// call runs in; the queries only talk to the database. They are functions
// of sqlite_queries.cc (reads) and sqlite_writes.cc (writes) with the names
// and arguments of postgres_queries.cc's (InsertNotification, AddToCounts,
// ListRows, ReplayRows...), which QueryReader and QueryTransaction
// (store_backend.h) turn into what the engine calls. This header hands
// those out.
//
// Each object is confined to one thread at a time, like its connection.
#ifndef NOTIFYD_STORAGE_SQLITE_QUERIES_H_
#define NOTIFYD_STORAGE_SQLITE_QUERIES_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/sqlite_connection.h"
#include "storage/store_backend.h"

namespace notifyd::storage {

// The reads, on a read-only connection (which it owns).
std::unique_ptr<StoreReader> NewReader(std::unique_ptr<Connection> db);

// The writes, on the read-write connection `db` (not owned) inside the
// writer's transaction. The deletes keep ids from being reused (migration
// 0003) with a second statement, so they run where a failure undoes the
// whole call (a savepoint).
std::unique_ptr<WriteTransaction> NewTransaction(Connection& db);

// For each channel holding more than `keep` rows: the newest id that may be
// deleted so that `keep` rows remain.
absl::StatusOr<std::vector<ChannelCut>> FindChannelCuts(Connection& db,
                                                        int64_t keep);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_SQLITE_QUERIES_H_
