#include "storage/migrations.h"

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace notifyd::storage {
namespace {

absl::Status SqliteError(sqlite3* db, absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", sqlite3_errmsg(db)));
}

absl::Status Exec(sqlite3* db, const std::string& sql, absl::string_view what) {
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    return SqliteError(db, what);
  }
  return absl::OkStatus();
}

absl::StatusOr<int> UserVersion(sqlite3* db) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr) !=
      SQLITE_OK) {
    return SqliteError(db, "cannot read schema version");
  }
  int version = 0;
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) version = sqlite3_column_int(stmt, 0);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_ROW) return SqliteError(db, "cannot read schema version");
  return version;
}

// Runs every migration newer than the database's version. The caller holds
// the write transaction.
absl::Status ApplyPending(sqlite3* db,
                          const std::vector<Migration>& migrations) {
  // Read again under the write lock: another process may have migrated
  // between our first look and BEGIN IMMEDIATE.
  absl::StatusOr<int> current = UserVersion(db);
  if (!current.ok()) return current.status();
  const int newest = migrations.back().version;
  if (absl::Status s = ApplyNewer(
          *current, migrations,
          [db](const Migration& m) {
            return Exec(db, m.sql,
                        absl::StrCat("migration ", m.name, " failed"));
          });
      !s.ok()) {
    return s;
  }
  // PRAGMA takes no bound parameters; the version is an int we produced.
  return Exec(db, absl::StrCat("PRAGMA user_version = ", newest),
              "cannot record schema version");
}

}  // namespace

absl::Status ApplyMigrations(sqlite3* db) {
  return ApplyMigrations(db, EmbeddedMigrations());
}

absl::Status CheckMigrationOrder(const std::vector<Migration>& migrations) {
  int previous = 0;
  for (const Migration& m : migrations) {
    if (m.version <= previous) {
      return absl::InvalidArgumentError(absl::StrCat(
          "migration ", m.name, " has version ", m.version,
          ", not greater than the one before it (", previous, ")"));
    }
    previous = m.version;
  }
  return absl::OkStatus();
}

absl::Status SchemaTooNew(int64_t current, int newest) {
  return absl::FailedPreconditionError(
      absl::StrCat("store schema version ", current,
                   " is newer than this notifyd (knows up to ", newest,
                   "); upgrade notifyd"));
}

absl::Status ApplyNewer(
    int64_t current, const std::vector<Migration>& migrations,
    absl::FunctionRef<absl::Status(const Migration&)> apply) {
  const int newest = migrations.empty() ? 0 : migrations.back().version;
  if (current > newest) return SchemaTooNew(current, newest);
  for (const Migration& m : migrations) {
    if (m.version <= current) continue;
    if (absl::Status s = apply(m); !s.ok()) return s;
    Log(spdlog::level::info, "store: applied a migration",
        {{"migration", m.name}});
  }
  return absl::OkStatus();
}

absl::Status ApplyMigrations(sqlite3* db,
                             const std::vector<Migration>& migrations) {
  if (absl::Status s = CheckMigrationOrder(migrations); !s.ok()) return s;
  const int newest = migrations.empty() ? 0 : migrations.back().version;

  // The common case (already up to date) must not take the write lock.
  absl::StatusOr<int> current = UserVersion(db);
  if (!current.ok()) return current.status();
  if (*current > newest) return SchemaTooNew(*current, newest);
  if (*current == newest) return absl::OkStatus();

  if (absl::Status s = Exec(db, "BEGIN IMMEDIATE", "cannot start migration");
      !s.ok()) {
    return s;
  }
  absl::Status status = ApplyPending(db, migrations);
  if (status.ok()) {
    status = Exec(db, "COMMIT", "cannot commit migrations");
  }
  // Some errors (e.g. a full disk) already rolled the transaction back.
  if (!status.ok() && !sqlite3_get_autocommit(db)) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  return status;
}

}  // namespace notifyd::storage
