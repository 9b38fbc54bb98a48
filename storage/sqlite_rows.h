// What the SQLite queries (sqlite_queries.cc, the reads; sqlite_writes.cc,
// the writes) share: the columns every row query selects and how a row is
// read from them. Internal to those two files.
#ifndef NOTIFYD_STORAGE_SQLITE_ROWS_H_
#define NOTIFYD_STORAGE_SQLITE_ROWS_H_

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/inbox.h"
#include "storage/notification.h"
#include "storage/sqlite_connection.h"

namespace notifyd::storage::sqlite_rows {

// The columns every row query selects, in the order ReadRow reads them.
inline constexpr char kColumns[] =
    "id, channel, event, created_at_ms, box, seen_at_ms, read_at_ms,"
    " archived_at_ms, expires_at_ms, collapse_key, data";

// Ids and bounds arrive as uint64 but SQLite integers are int64. Ids never
// exceed int64, so a larger bound means "no bound".
inline int64_t ClampId(uint64_t id) {
  return static_cast<int64_t>(
      std::min<uint64_t>(id, std::numeric_limits<int64_t>::max()));
}

// `ids` as the JSON array that json_each() takes.
inline std::string JsonIds(const std::vector<uint64_t>& ids) {
  std::string json = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    absl::StrAppend(&json, i == 0 ? "" : ",", ClampId(ids[i]));
  }
  json += "]";
  return json;
}

// The row `stmt` is on, selected as kColumns.
inline Notification ReadRow(Statement& stmt) {
  Notification n;
  n.id = static_cast<uint64_t>(stmt.ColumnInt(0));
  n.channel = stmt.ColumnText(1);
  n.event = stmt.ColumnText(2);
  n.created_at_ms = stmt.ColumnInt(3);
  if (stmt.ColumnInt(4) == kRecordBox) {
    n.kind = n.event == kStateEvent ? Notification::Kind::kStateRecord
                                    : Notification::Kind::kDeletionRecord;
  }
  n.seen_at_ms = stmt.ColumnInt(5);
  n.read_at_ms = stmt.ColumnInt(6);
  n.archived_at_ms = stmt.ColumnInt(7);
  n.expires_at_ms = stmt.ColumnInt(8);
  if (!stmt.ColumnIsNull(9)) n.collapse_key = stmt.ColumnText(9);
  n.data = stmt.ColumnText(10);
  return n;
}

}  // namespace notifyd::storage::sqlite_rows

#endif  // NOTIFYD_STORAGE_SQLITE_ROWS_H_
