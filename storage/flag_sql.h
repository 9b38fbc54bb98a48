// The SQL of a per-user flag change (WriteTransaction::SetFlag), the same
// for SQLite and PostgreSQL: which rows it matches and what it sets, the
// index range (`box`, migrations 0004 and postgres/0002) kept in step with
// the flags. `now` is the placeholder of the time it is set at.
#ifndef NOTIFYD_STORAGE_FLAG_SQL_H_
#define NOTIFYD_STORAGE_FLAG_SQL_H_

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "storage/inbox.h"
#include "storage/store.h"

namespace notifyd::storage {

struct FlagSql {
  std::string set;        // after SET
  std::string condition;  // rows whose flag is not already so
};

inline FlagSql FlagChangeSql(Flag flag, bool on, absl::string_view now) {
  switch (flag) {
    case Flag::kSeen:
      return on ? FlagSql{absl::StrCat("seen_at_ms = ", now), "seen_at_ms = 0"}
                : FlagSql{"seen_at_ms = 0", "seen_at_ms <> 0"};
    case Flag::kRead:
      return on ? FlagSql{absl::StrCat("read_at_ms = ", now,
                                       ", box = CASE WHEN archived_at_ms <> 0"
                                       " THEN 2 ELSE 1 END"),
                          "read_at_ms = 0"}
                : FlagSql{
                      "read_at_ms = 0, box = CASE WHEN archived_at_ms <> 0"
                      " THEN 2 ELSE 0 END",
                      "read_at_ms <> 0"};
    case Flag::kArchived:
      return on ? FlagSql{absl::StrCat("archived_at_ms = ", now, ", box = 2"),
                          "archived_at_ms = 0"}
                : FlagSql{
                      "archived_at_ms = 0, box = CASE WHEN read_at_ms <> 0"
                      " THEN 1 ELSE 0 END",
                      "archived_at_ms <> 0"};
  }
  return {};
}

// The boxes a listing reads, and the extra condition it puts on them.
struct FilterSql {
  std::vector<int> boxes;
  const char* condition = "";
};

inline FilterSql ListFilterSql(ListFilter filter) {
  switch (filter) {
    case ListFilter::kInbox:
      return {{0, 1}, ""};
    case ListFilter::kUnread:
      return {{0}, ""};
    case ListFilter::kUnseen:
      return {{0, 1, 2}, " AND seen_at_ms = 0"};
    case ListFilter::kArchived:
      return {{2}, ""};
  }
  return {};
}

// Every box a stream replays: notifications and records.
inline constexpr int kAllBoxes[] = {0, 1, 2, kRecordBox};

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_FLAG_SQL_H_
