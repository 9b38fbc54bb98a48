// Thin RAII layer over one libpq connection, used by the PostgreSQL store.
//
// A PgConnection is confined to one thread at a time; the store gives each
// of its threads its own. Every call blocks until the server answers.
// Queries send typed parameters and read results in binary format, so
// values need no quoting or escaping and bytes (a payload with NULs) arrive
// exactly as they were sent.
//
// Errors become absl::Status: a lost connection or a server shutting down
// is UNAVAILABLE, anything else the server refuses is INTERNAL; the message
// is the server's, with its SQLSTATE, which PgSqlState() returns.
#ifndef NOTIFYD_STORAGE_POSTGRES_CONNECTION_H_
#define NOTIFYD_STORAGE_POSTGRES_CONNECTION_H_

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct pg_conn;
struct pg_result;

namespace notifyd::storage {

// The SQLSTATE of a status returned by PgConnection ("" when it has none,
// e.g. the connection was lost).
std::string PgSqlState(const absl::Status& status);

// `url` with its password (if any) replaced by "***", for messages and logs.
std::string RedactPostgresUrl(absl::string_view url);

// One query parameter, typed so the server needs no inference. Text and
// Bytes refer to the caller's bytes: they must outlive the query.
class PgParam {
 public:
  static PgParam Int(int64_t value);
  static PgParam Bool(bool value);
  static PgParam Text(absl::string_view value);
  static PgParam Bytes(absl::string_view value);
  static PgParam NullText();
  static PgParam IntArray(const std::vector<int64_t>& values);
  static PgParam TextArray(const std::vector<std::string>& values);

 private:
  friend class PgConnection;
  PgParam(unsigned type, int format) : type_(type), format_(format) {}
  const char* data() const { return owned_ ? value_.data() : view_.data(); }
  int size() const {
    return static_cast<int>(owned_ ? value_.size() : view_.size());
  }

  unsigned type_;
  int format_;  // 0 text, 1 binary
  bool null_ = false;
  bool owned_ = false;
  std::string value_;       // when owned_
  absl::string_view view_;  // otherwise
};

// The rows of one query. Column accessors expect the column's SQL type:
// Int for smallint/integer/bigint, Bool for boolean, Bytes for text/bytea.
class PgResult {
 public:
  explicit PgResult(pg_result* result) : result_(result) {}
  PgResult(PgResult&& other) noexcept : result_(other.result_) {
    other.result_ = nullptr;
  }
  PgResult& operator=(PgResult&& other) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult();

  int rows() const;
  bool IsNull(int row, int column) const;
  int64_t Int(int row, int column) const;
  bool Bool(int row, int column) const;
  std::string Bytes(int row, int column) const;
  // Rows an INSERT/UPDATE/DELETE affected.
  uint64_t AffectedRows() const;

 private:
  friend class PgConnection;
  pg_result* raw() const { return result_; }

  pg_result* result_;
};

class PgConnection {
 public:
  // Connects to `url` (postgres:// or postgresql://). A malformed URL is
  // INVALID_ARGUMENT; a server that cannot be reached or refuses us is
  // UNAVAILABLE. Messages name the server, never the password.
  static absl::StatusOr<std::unique_ptr<PgConnection>> Connect(
      const std::string& url);

  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;
  ~PgConnection();

  // Runs one or more statements without parameters, discarding rows
  // (migrations, BEGIN, COMMIT...).
  absl::Status Exec(const std::string& sql);
  // Runs one statement with parameters $1, $2, ...
  absl::StatusOr<PgResult> Query(absl::string_view sql,
                                 std::initializer_list<PgParam> params = {});

  // Whether the connection is gone (the server restarted, the network
  // dropped); every query fails until Reconnect() succeeds.
  bool Broken() const;
  // Whether a transaction is open (possibly failed) on the connection.
  bool InTransaction() const;
  // Re-establishes a broken connection; OK at once when it is not broken.
  absl::Status EnsureOpen();

  // The URL without its password.
  const std::string& description() const { return description_; }

 private:
  PgConnection(pg_conn* conn, std::string description)
      : conn_(conn), description_(std::move(description)) {}
  absl::Status ErrorFrom(pg_result* result);

  pg_conn* conn_;
  std::string description_;
};

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_POSTGRES_CONNECTION_H_
