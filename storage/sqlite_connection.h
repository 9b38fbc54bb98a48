// Thin RAII layer over one sqlite3 connection, used by the SQLite store.
//
// A Connection is confined to one thread at a time (it is opened with
// SQLITE_OPEN_NOMUTEX); the store gives each of its threads its own. Prepared
// statements are cached per connection for its lifetime, since the store runs
// the same few statements millions of times.
#ifndef NOTIFYD_STORAGE_SQLITE_CONNECTION_H_
#define NOTIFYD_STORAGE_SQLITE_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct sqlite3;
struct sqlite3_stmt;

namespace notifyd::storage {

// Maps an SQLite result code to a Status: conditions that may pass (busy,
// locked, I/O, full disk, read-only) are UNAVAILABLE, the rest INTERNAL.
absl::Status SqliteStatus(sqlite3* db, int rc, absl::string_view what);

// A cached statement in use. Resets and unbinds on destruction so the next
// user starts clean and no read transaction is held open by a half-stepped
// query.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameter indexes start at 1, as in SQLite.
  void BindInt(int index, int64_t value);
  void BindText(int index, absl::string_view value);
  void BindBlob(int index, absl::string_view value);
  void BindNull(int index);

  // True when a row is available, false when the statement is done.
  absl::StatusOr<bool> Step();
  // Steps to completion, for statements that return no rows.
  absl::Status Run();
  // Makes the statement ready to run again, keeping its bindings (for a
  // loop that binds only what changes).
  void Reset();

  // Column indexes start at 0. ColumnText reads a BLOB's bytes too.
  int64_t ColumnInt(int index);
  std::string ColumnText(int index);
  bool ColumnIsNull(int index);

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class Connection {
 public:
  enum class Mode { kReadWrite, kReadOnly };

  // Opens (creating in kReadWrite) the database at `path`. Errors name the
  // path, since they are usually a misconfigured --db flag.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(
      const std::string& path, Mode mode);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Returns the cached statement for `sql`, preparing it on first use.
  absl::StatusOr<Statement> Prepare(const std::string& sql);
  // Runs one statement without parameters, discarding any rows.
  absl::Status Exec(const std::string& sql);
  // Runs a query yielding a single integer (PRAGMA page_count and the like).
  absl::StatusOr<int64_t> QueryInt(const std::string& sql);

  // Rows changed by the most recent INSERT/UPDATE/DELETE.
  int64_t Changes();
  // False while a transaction is open.
  bool Autocommit();
  // Rowid of the last row this connection inserted.
  int64_t LastInsertRowId();

  sqlite3* db() { return db_; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}

  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_SQLITE_CONNECTION_H_
