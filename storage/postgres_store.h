// The PostgreSQL store: the store engine (store_engine.h) on a database
// that several notifyd instances share. Every libpq call blocks, on the
// engine's threads only.
//
// What PostgreSQL adds to the engine's threads (docs/DESIGN.md, Threading):
//  - The writer thread owns the only connection that writes and commits
//    each batch as ONE transaction; with synchronous_commit (forced on for
//    these transactions when the server has it off) COMMIT returns once the
//    batch is on disk.
//  - Each reader thread has a connection of its own.
//  - The pruner's deletes (prune_batch rows each) are writer tasks,
//    committed in batches like every other write: they take rows out of
//    the inbox counts (inbox_counts) that the batches change too. The
//    pruner only finds the channels over max_per_channel on a connection
//    of its own, opened on the first pass that needs it.
//
// Ids: every batch first locks the one row of notify_id_counter (SELECT
// ... FOR UPDATE), numbers the rows it inserts (notifications, and the
// records of inbox changes) last_id + 1, + 2, ..., stores the new last_id
// when it took any, and commits. The row lock lasts until COMMIT, so the
// batches of all instances take turns: ids are dense and in commit order
// across instances, a deleted id is never handed out again, and each batch
// sees the inbox state, counts and idempotency keys that the batches
// before it committed, without two of them ever deadlocking on each
// other's rows.
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
#ifndef NOTIFYD_STORAGE_POSTGRES_STORE_H_
#define NOTIFYD_STORAGE_POSTGRES_STORE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/store_engine.h"

namespace notifyd::storage {

struct PostgresStoreOptions : StoreOptions {
  // postgres://user:password@host:port/database?sslmode=... (or
  // postgresql://); any libpq URL parameter works. connect_timeout defaults
  // to 10 s.
  std::string url;
  // Test hook: called on the writer thread inside each batch transaction
  // (each holds the id counter's lock), after its calls ran and right
  // before COMMIT. Blocking in it holds the lock.
  std::function<void()> before_commit;
};

// Connects, applies pending migrations and starts the store's threads.
// Options out of range fail with INVALID_ARGUMENT
// (StoreOptions::Validate), a malformed URL with INVALID_ARGUMENT, an
// unreachable server with UNAVAILABLE (messages name the server, never the
// password), a schema newer than this binary with FAILED_PRECONDITION.
absl::StatusOr<std::unique_ptr<StoreEngine>> OpenPostgresStore(
    const PostgresStoreOptions& options);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_POSTGRES_STORE_H_
