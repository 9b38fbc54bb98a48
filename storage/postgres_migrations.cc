#include "storage/postgres_migrations.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace notifyd::storage {
namespace {

// Key of the advisory lock that serialises migrations: "notifyd1" in ASCII,
// unlikely to collide with an application sharing the database.
constexpr int64_t kMigrationLockKey = 0x6e6f746966796431;

// The newest applied version, 0 for a database notifyd never touched.
absl::StatusOr<int64_t> CurrentVersion(PgConnection& db) {
  absl::StatusOr<PgResult> exists =
      db.Query("SELECT to_regclass('notify_schema_migrations') IS NOT NULL");
  if (!exists.ok()) return exists.status();
  if (!exists->Bool(0, 0)) return 0;
  absl::StatusOr<PgResult> version = db.Query(
      "SELECT coalesce(max(version), 0)::bigint FROM notify_schema_migrations");
  if (!version.ok()) return version.status();
  return version->Int(0, 0);
}

// Runs every migration newer than the database's version. The caller holds
// the transaction.
absl::Status ApplyPending(PgConnection& db,
                          const std::vector<Migration>& migrations) {
  // Whoever held the lock before us may have migrated already.
  if (absl::StatusOr<PgResult> lock =
          db.Query("SELECT pg_advisory_xact_lock($1)",
                   {PgParam::Int(kMigrationLockKey)});
      !lock.ok()) {
    return lock.status();
  }
  if (absl::Status s =
          db.Exec("CREATE TABLE IF NOT EXISTS notify_schema_migrations ("
                  " version INTEGER PRIMARY KEY,"
                  " name TEXT NOT NULL,"
                  " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
      !s.ok()) {
    return s;
  }
  absl::StatusOr<int64_t> current = CurrentVersion(db);
  if (!current.ok()) return current.status();
  return ApplyNewer(*current, migrations, [&db](const Migration& m) {
    if (absl::Status s = db.Exec(m.sql); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("migration ", m.name,
                                                 " failed: ", s.message()));
    }
    return db
        .Query(
            "INSERT INTO notify_schema_migrations (version, name)"
            " VALUES ($1, $2)",
            {PgParam::Int(m.version), PgParam::Text(m.name)})
        .status();
  });
}

}  // namespace

absl::Status ApplyPostgresMigrations(PgConnection& db) {
  return ApplyPostgresMigrations(db, EmbeddedPostgresMigrations());
}

absl::Status ApplyPostgresMigrations(PgConnection& db,
                                     const std::vector<Migration>& migrations) {
  if (absl::Status s = CheckMigrationOrder(migrations); !s.ok()) return s;
  if (migrations.empty()) return absl::OkStatus();
  const int newest = migrations.back().version;

  // The common case (already up to date) takes no lock and writes nothing.
  absl::StatusOr<int64_t> current = CurrentVersion(db);
  if (!current.ok()) return current.status();
  if (*current > newest) return SchemaTooNew(*current, newest);
  if (*current == newest) return absl::OkStatus();

  if (absl::Status s = db.Exec("BEGIN"); !s.ok()) return s;
  absl::Status status = ApplyPending(db, migrations);
  if (status.ok()) status = db.Exec("COMMIT");
  if (!status.ok() && db.InTransaction()) db.Exec("ROLLBACK").IgnoreError();
  return status;
}

}  // namespace notifyd::storage
