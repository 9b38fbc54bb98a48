// Schema migrations for the PostgreSQL store.
//
// The schema comes only from migrations/postgres/NNNN_name.sql, embedded
// into the binary at build time (cmake/embed_migrations.cmake); the number
// is the schema version. Each applied version is a row of
// notify_schema_migrations, so the database itself says which migrations it
// has. (The SQLite store's migrations are separate: migrations.h.)
//
// Migrations are append-only: never edit one that has shipped, add a new
// file instead.
#ifndef NOTIFYD_STORAGE_POSTGRES_MIGRATIONS_H_
#define NOTIFYD_STORAGE_POSTGRES_MIGRATIONS_H_

#include <vector>

#include "absl/status/status.h"
#include "storage/migrations.h"
#include "storage/postgres_connection.h"

namespace notifyd::storage {

// The PostgreSQL migrations compiled into this binary, ascending by version.
const std::vector<Migration>& EmbeddedPostgresMigrations();

// Brings `db` up to the newest embedded PostgreSQL migration.
absl::Status ApplyPostgresMigrations(PgConnection& db);

// Brings `db` up to the newest of `migrations` (ascending by version).
//
// Pending migrations run in one transaction together with the version rows,
// after pg_advisory_xact_lock, so a failure leaves the database as it was
// and of several instances starting at once one migrates while the others
// wait, then find nothing left to do. An up-to-date database is only read.
// A database whose version is newer than the newest migration is refused
// with FAILED_PRECONDITION: old code on a newer schema could corrupt it.
//
// Must be called outside any transaction on `db`.
absl::Status ApplyPostgresMigrations(PgConnection& db,
                                     const std::vector<Migration>& migrations);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_POSTGRES_MIGRATIONS_H_
