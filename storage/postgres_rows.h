// What the PostgreSQL queries (postgres_queries.cc, the reads;
// postgres_writes.cc, the writes) share: the columns a row query selects,
// how a row and a flag row are read, id clamping and the expiry condition.
// Internal to those two files.
#ifndef NOTIFYD_STORAGE_POSTGRES_ROWS_H_
#define NOTIFYD_STORAGE_POSTGRES_ROWS_H_

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "storage/inbox.h"
#include "storage/notification.h"
#include "storage/postgres_connection.h"

namespace notifyd::storage::pg_rows {

// Ids and bounds arrive as uint64 but PostgreSQL's bigint is int64. Ids
// never exceed int64, so a larger bound means "no bound".
inline int64_t ClampId(uint64_t id) {
  return static_cast<int64_t>(
      std::min<uint64_t>(id, std::numeric_limits<int64_t>::max()));
}

inline std::vector<int64_t> ClampIds(const std::vector<uint64_t>& ids) {
  std::vector<int64_t> clamped;
  clamped.reserve(ids.size());
  for (uint64_t id : ids) clamped.push_back(ClampId(id));
  return clamped;
}

// The columns every row query selects, in the order RowAt reads them.
inline std::string Columns(absl::string_view table) {
  std::vector<std::string> columns;
  for (absl::string_view column :
       {"id", "channel", "event", "created_at_ms", "box", "seen_at_ms",
        "read_at_ms", "archived_at_ms", "expires_at_ms", "collapse_key",
        "data"}) {
    columns.push_back(absl::StrCat(table, ".", column));
  }
  return absl::StrJoin(columns, ", ");
}

inline Notification RowAt(const PgResult& r, int row, int first_column = 0) {
  Notification n;
  n.id = static_cast<uint64_t>(r.Int(row, first_column));
  n.channel = r.Bytes(row, first_column + 1);
  n.event = r.Bytes(row, first_column + 2);
  n.created_at_ms = r.Int(row, first_column + 3);
  if (r.Int(row, first_column + 4) == kRecordBox) {
    n.kind = n.event == kStateEvent ? Notification::Kind::kStateRecord
                                    : Notification::Kind::kDeletionRecord;
  }
  n.seen_at_ms = r.Int(row, first_column + 5);
  n.read_at_ms = r.Int(row, first_column + 6);
  n.archived_at_ms = r.Int(row, first_column + 7);
  n.expires_at_ms = r.Int(row, first_column + 8);
  if (!r.IsNull(row, first_column + 9)) {
    n.collapse_key = r.Bytes(row, first_column + 9);
  }
  n.data = r.Bytes(row, first_column + 10);
  return n;
}

// Every row of a query that selected Columns(), shared.
inline absl::StatusOr<std::vector<std::shared_ptr<const Notification>>>
SharedRows(absl::StatusOr<PgResult> r) {
  if (!r.ok()) return r.status();
  std::vector<std::shared_ptr<const Notification>> rows;
  rows.reserve(r->rows());
  for (int i = 0; i < r->rows(); ++i) {
    rows.push_back(std::make_shared<const Notification>(RowAt(*r, i)));
  }
  return rows;
}

// What the deletes and flag changes return of each row (RETURNING), in the
// order FlagRows reads them.
inline constexpr char kFlagColumns[] =
    "id, channel, seen_at_ms, read_at_ms, archived_at_ms, box";

inline absl::StatusOr<std::vector<FlagRow>> FlagRows(
    absl::StatusOr<PgResult> r) {
  if (!r.ok()) return r.status();
  std::vector<FlagRow> rows;
  rows.reserve(r->rows());
  for (int i = 0; i < r->rows(); ++i) {
    rows.push_back(FlagRow{.id = static_cast<uint64_t>(r->Int(i, 0)),
                           .channel = r->Bytes(i, 1),
                           .seen_at_ms = r->Int(i, 2),
                           .read_at_ms = r->Int(i, 3),
                           .archived_at_ms = r->Int(i, 4),
                           .record = r->Int(i, 5) == kRecordBox});
  }
  return rows;
}

// Not expired at $N: expired rows stay stored until the expirer deletes
// them, but no read shows them from their expiry on.
inline std::string Live(absl::string_view table, int now_param) {
  return absl::StrCat(" AND (", table, ".expires_at_ms = 0 OR ", table,
                      ".expires_at_ms > $", now_param, ")");
}

// The one integer a statement yields (a count, or the id counter, the only
// table that may lack its row).
inline absl::StatusOr<uint64_t> OneInt(absl::StatusOr<PgResult> r) {
  if (!r.ok()) return r.status();
  if (r->rows() != 1) {
    return absl::InternalError("store: notify_id_counter has no row");
  }
  return static_cast<uint64_t>(r->Int(0, 0));
}

}  // namespace notifyd::storage::pg_rows

#endif  // NOTIFYD_STORAGE_POSTGRES_ROWS_H_
