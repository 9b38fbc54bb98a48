// Schema migrations for the SQLite store.
//
// The schema comes only from migrations/NNNN_name.sql, embedded into the
// binary at build time (cmake/embed_migrations.cmake). The number is the
// schema version; the newest applied version lives in PRAGMA user_version, so
// the database itself says which migrations it has.
//
// Migrations are append-only: never edit one that has shipped, add a new
// file instead.
#ifndef NOTIFYD_STORAGE_MIGRATIONS_H_
#define NOTIFYD_STORAGE_MIGRATIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

struct sqlite3;

namespace notifyd::storage {

struct Migration {
  int version = 0;   // > 0, strictly increasing along a list
  std::string name;  // file name, for error messages
  std::string sql;   // one or more statements
};

// INVALID_ARGUMENT naming the first migration whose version is not greater
// than the one before it. Shared by the SQLite and PostgreSQL migrators.
absl::Status CheckMigrationOrder(const std::vector<Migration>& migrations);

// FAILED_PRECONDITION: the store's schema (`current`) is newer than the
// newest migration this binary knows.
absl::Status SchemaTooNew(int64_t current, int newest);

// Runs `apply` on each of `migrations` (ascending) newer than `current`, in
// order, logging each one applied, and stops at the first failure.
// FAILED_PRECONDITION (SchemaTooNew) when `current` is newer than the
// newest. Shared by the SQLite and PostgreSQL migrators, which call it
// inside their migration transaction.
absl::Status ApplyNewer(
    int64_t current, const std::vector<Migration>& migrations,
    absl::FunctionRef<absl::Status(const Migration&)> apply);

// The migrations compiled into this binary, ascending by version.
const std::vector<Migration>& EmbeddedMigrations();

// Brings `db` up to the newest embedded migration.
absl::Status ApplyMigrations(sqlite3* db);

// Brings `db` up to the newest of `migrations` (ascending by version).
//
// All pending migrations run in one BEGIN IMMEDIATE transaction together with
// the user_version update, so a failure leaves the database exactly as it was
// and two processes starting at once cannot both migrate. Re-running on an
// up-to-date database writes nothing. A database whose version is newer than
// the newest migration is refused with FAILED_PRECONDITION: running old code
// against a newer schema could silently corrupt it.
//
// Must be called outside any transaction on `db`.
absl::Status ApplyMigrations(sqlite3* db,
                             const std::vector<Migration>& migrations);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_MIGRATIONS_H_
