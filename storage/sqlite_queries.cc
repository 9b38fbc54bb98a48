#include "storage/sqlite_queries.h"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <memory>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "storage/flag_sql.h"
#include "storage/inbox.h"
#include "storage/sqlite_push.h"
#include "storage/sqlite_rows.h"

// The reads of the SQLite store (sqlite_queries.h); the writes are in
// sqlite_writes.cc. The queries are static, not in the unnamed namespace, so
// that QueryReader finds them by argument-dependent lookup.
namespace notifyd::storage {
namespace {

using sqlite_rows::ClampId;
using sqlite_rows::kColumns;
using sqlite_rows::ReadRow;

// Not expired at ?N.
std::string Live(int now_param) {
  return absl::StrCat(" AND (expires_at_ms = 0 OR expires_at_ms > ?", now_param,
                      ")");
}
// Appends every row `stmt` yields to `out`.
absl::Status ReadRows(Statement& stmt, std::vector<Notification>& out) {
  for (;;) {
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
    out.push_back(ReadRow(stmt));
  }
}

// The index on (channel, box, id) holds a channel's rows box by box, each
// range in id order (flag_sql.h). A query over several boxes in id order
// reads each range, bounded by the limit, and merges them.

enum class Direction { kNewestFirst, kOldestFirst };

// Appends to `rows` at most `limit` unexpired rows of `channel` in one
// box that meet `condition`, with ids below `before`, newest first.
absl::Status ReadRange(Connection& db, const std::string& channel, int box,
                       const char* condition, int64_t before, uint32_t limit,
                       int64_t now_ms, std::vector<Notification>& rows) {
  absl::StatusOr<Statement> stmt = db.Prepare(absl::StrCat(
      "SELECT ", kColumns,
      " FROM notifications WHERE channel = ?1 AND box = ?2 AND id < ?3",
      condition, Live(5), " ORDER BY id DESC LIMIT ?4"));
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, channel);
  stmt->BindInt(2, box);
  stmt->BindInt(3, before);
  stmt->BindInt(4, limit);
  stmt->BindInt(5, now_ms);
  return ReadRows(*stmt, rows);
}

// Puts the rows that ReadRange gathered from several ranges in `direction`
// and keeps the first `limit`.
void MergeByIdAndTruncate(std::vector<Notification>& rows, Direction direction,
                          size_t limit) {
  std::sort(rows.begin(), rows.end(),
            [direction](const Notification& a, const Notification& b) {
              return direction == Direction::kNewestFirst ? a.id > b.id
                                                          : a.id < b.id;
            });
  if (rows.size() > limit) rows.resize(limit);
}

// Runs `fn` in one read transaction, so that the queries it makes see one
// snapshot (a row marked read in between would otherwise show in both
// ranges or in neither).
template <typename Fn>
auto InReadTransaction(Connection& db, Fn fn) -> decltype(fn()) {
  if (absl::Status s = db.Exec("BEGIN"); !s.ok()) return s;
  auto result = fn();
  db.Exec("COMMIT").IgnoreError();  // read-only: nothing to lose
  return result;
}
}  // namespace

// --- Reads: on a read-only connection.

// The largest id ever stored: the newest row's, or the high-water mark when
// the newest rows were pruned.
static absl::StatusOr<uint64_t> ReadLastId(Connection& db) {
  absl::StatusOr<int64_t> id = db.QueryInt(
      "SELECT max(coalesce((SELECT max(id) FROM notifications), 0),"
      " (SELECT id FROM id_high_water))");
  if (!id.ok()) return id.status();
  return static_cast<uint64_t>(*id);
}

static absl::StatusOr<std::vector<Notification>> ListRows(
    Connection& db, const ListQuery& query, int64_t now_ms) {
  return InReadTransaction(
      db, [&]() -> absl::StatusOr<std::vector<Notification>> {
        std::vector<Notification> rows;
        const int64_t before =
            ClampId(query.before_id == 0 ? std::numeric_limits<uint64_t>::max()
                                         : query.before_id);
        const FilterSql filter = ListFilterSql(query.filter);
        for (int box : filter.boxes) {
          if (absl::Status s =
                  ReadRange(db, query.channel, box, filter.condition, before,
                            query.limit, now_ms, rows);
              !s.ok()) {
            return s;
          }
        }
        MergeByIdAndTruncate(rows, Direction::kNewestFirst, query.limit);
        return rows;
      });
}

namespace {

// Appends to `ids` the ids of at most `limit` unexpired rows of `channel`
// in one box with ids above `after_id`, ascending. The index on (channel,
// box, id) finds them; only a candidate's row head is read for its expiry,
// never its payload (the last column).
absl::Status ReadReplayIds(Connection& db, const std::string& channel, int box,
                           int64_t after_id, int64_t limit, int64_t now_ms,
                           std::vector<int64_t>& ids) {
  absl::StatusOr<Statement> stmt = db.Prepare(absl::StrCat(
      "SELECT id FROM notifications WHERE channel = ?1 AND box = ?2"
      " AND id > ?3",
      Live(5), " ORDER BY id LIMIT ?4"));
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, channel);
  stmt->BindInt(2, box);
  stmt->BindInt(3, after_id);
  stmt->BindInt(4, limit);
  stmt->BindInt(5, now_ms);
  for (;;) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
    ids.push_back(stmt->ColumnInt(0));
  }
}

// The smallest id of `channel` in one box, 0 when it has none.
absl::StatusOr<uint64_t> OldestId(Connection& db, const std::string& channel,
                                  int box) {
  absl::StatusOr<Statement> oldest = db.Prepare(
      "SELECT min(id) FROM notifications WHERE channel = ?1 AND box = ?2");
  if (!oldest.ok()) return oldest.status();
  oldest->BindText(1, channel);
  oldest->BindInt(2, box);
  absl::StatusOr<bool> row = oldest->Step();
  if (!row.ok()) return row.status();
  if (!*row || oldest->ColumnIsNull(0)) return 0;
  return static_cast<uint64_t>(oldest->ColumnInt(0));
}

absl::StatusOr<ReplayPage> ReplayInTransaction(Connection& db,
                                               const ReplayQuery& query,
                                               int64_t now_ms) {
  // First the page's candidate ids: per channel and box an index range
  // bounded by limit + 1 (the extra id tells whether more follow), merged.
  // Cheaper than one IN query that may sort every matching row.
  const int64_t candidates = int64_t{query.limit} + 1;
  std::vector<int64_t> ids;
  ReplayPage page;
  for (const std::string& channel : query.channels) {
    for (int box : kAllBoxes) {
      if (absl::Status s =
              ReadReplayIds(db, channel, box, ClampId(query.after_id),
                            candidates, now_ms, ids);
          !s.ok()) {
        return s;
      }
      absl::StatusOr<uint64_t> oldest = OldestId(db, channel, box);
      if (!oldest.ok()) return oldest.status();
      if (*oldest != 0 && (page.oldest_id == 0 || *oldest < page.oldest_id)) {
        page.oldest_id = *oldest;
      }
    }
  }
  std::sort(ids.begin(), ids.end());
  if (ids.size() > static_cast<size_t>(candidates)) ids.resize(candidates);

  // Then the rows, by id, until the page is full: only the payloads of the
  // page are read, plus the one that turned out not to fit (SQLite cannot
  // tell a TEXT value's size in bytes without reading it).
  static const std::string kRowById =
      absl::StrCat("SELECT ", kColumns, " FROM notifications WHERE id = ?1");
  uint64_t bytes = 0;
  for (size_t i = 0; i < ids.size() && i < query.limit; ++i) {
    absl::StatusOr<Statement> stmt = db.Prepare(kRowById);
    if (!stmt.ok()) return stmt.status();
    stmt->BindInt(1, ids[i]);
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) {
      return absl::InternalError(
          absl::StrCat("store: row ", ids[i], " vanished within a snapshot"));
    }
    Notification n = ReadRow(*stmt);
    if (query.max_bytes > 0 && !page.notifications.empty() &&
        bytes + n.data.size() > query.max_bytes) {
      break;
    }
    bytes += n.data.size();
    page.notifications.push_back(
        std::make_shared<const Notification>(std::move(n)));
  }
  page.more = page.notifications.size() < ids.size();

  absl::StatusOr<uint64_t> last = ReadLastId(db);
  if (!last.ok()) return last.status();
  page.last_committed_id = *last;
  return page;
}

}  // namespace

// One page as Store::Replay describes it (channels distinct), in one read
// transaction: the candidate ids come from the channel index alone, and
// only the page's rows (and the first that did not fit in max_bytes) are
// read.
static absl::StatusOr<ReplayPage> ReplayRows(Connection& db,
                                             const ReplayQuery& query,
                                             int64_t now_ms) {
  // One snapshot, so oldest_id and last_committed_id agree with the page.
  return InReadTransaction(
      db, [&] { return ReplayInTransaction(db, query, now_ms); });
}

// Every channel's rows with after_id < id <= up_to_id, ascending, at most
// `limit`.
static absl::StatusOr<std::vector<std::shared_ptr<const Notification>>>
IdRangeRows(Connection& db, uint64_t after_id, uint64_t up_to_id,
            uint32_t limit) {
  absl::StatusOr<Statement> stmt =
      db.Prepare(absl::StrCat("SELECT ", kColumns,
                              " FROM notifications WHERE id > ?1 AND id <= ?2"
                              " ORDER BY id LIMIT ?3"));
  if (!stmt.ok()) return stmt.status();
  stmt->BindInt(1, ClampId(after_id));
  stmt->BindInt(2, ClampId(up_to_id));
  stmt->BindInt(3, limit);
  std::vector<Notification> rows;
  if (absl::Status s = ReadRows(*stmt, rows); !s.ok()) return s;
  std::vector<std::shared_ptr<const Notification>> shared;
  shared.reserve(rows.size());
  for (Notification& n : rows) {
    shared.push_back(std::make_shared<const Notification>(std::move(n)));
  }
  return shared;
}

// The kept counts, less what expired notifications not yet deleted add to
// them: a range of the expiry index that the expirer keeps short.
static absl::StatusOr<Counts> CountsRow(Connection& db,
                                        const std::string& channel,
                                        int64_t now_ms) {
  return InReadTransaction(db, [&]() -> absl::StatusOr<Counts> {
    // The unary + keeps SQLite off the (channel, box, id) index, which for
    // a big inbox would walk every unread row: the expiry index holds only
    // the few expired rows the expirer has not deleted yet
    // (docs/BENCHMARKS.md, The inbox).
    absl::StatusOr<Statement> stmt = db.Prepare(
        "SELECT coalesce((SELECT unread FROM inbox_counts WHERE channel = ?1),"
        " 0) - (SELECT count(*) FROM notifications WHERE expires_at_ms > 0"
        " AND expires_at_ms <= ?2 AND +channel = ?1 AND +box = 0),"
        " coalesce((SELECT unseen FROM inbox_counts WHERE channel = ?1), 0)"
        " - (SELECT count(*) FROM notifications WHERE expires_at_ms > 0"
        " AND expires_at_ms <= ?2 AND +channel = ?1 AND +box < 3"
        " AND seen_at_ms = 0)");
    if (!stmt.ok()) return stmt.status();
    stmt->BindText(1, channel);
    stmt->BindInt(2, now_ms);
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return Counts{};
    return Counts{
        static_cast<uint64_t>(std::max<int64_t>(0, stmt->ColumnInt(0))),
        static_cast<uint64_t>(std::max<int64_t>(0, stmt->ColumnInt(1)))};
  });
}

static absl::StatusOr<bool> HasExpired(Connection& db, int64_t now_ms) {
  absl::StatusOr<Statement> stmt = db.Prepare(
      "SELECT EXISTS (SELECT 1 FROM notifications WHERE expires_at_ms > 0"
      " AND expires_at_ms <= ?1)");
  if (!stmt.ok()) return stmt.status();
  stmt->BindInt(1, now_ms);
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  return *row && stmt->ColumnInt(0) != 0;
}

// The rows, and the size of the database file and its WAL.
static absl::StatusOr<StoreStats> ReadStats(Connection& db) {
  absl::StatusOr<int64_t> count =
      db.QueryInt("SELECT COUNT(*) FROM notifications");
  if (!count.ok()) return count.status();
  absl::StatusOr<int64_t> pages = db.QueryInt("PRAGMA page_count");
  if (!pages.ok()) return pages.status();
  absl::StatusOr<int64_t> page_size = db.QueryInt("PRAGMA page_size");
  if (!page_size.ok()) return page_size.status();
  StoreStats stats;
  stats.notifications = static_cast<uint64_t>(*count);
  stats.bytes = static_cast<uint64_t>(*pages * *page_size);
  // The WAL holds committed data not yet checkpointed: disk the store uses.
  const char* path = sqlite3_db_filename(db.db(), "main");
  std::error_code ec;
  const uintmax_t wal = path == nullptr ? 0
                                        : std::filesystem::file_size(
                                              std::string(path) + "-wal", ec);
  if (!ec) stats.bytes += wal;
  return stats;
}

static absl::StatusOr<bool> PingDatabase(Connection& db) {
  // Touches the table, not just the connection, so a vanished or corrupt
  // file shows up.
  absl::StatusOr<int64_t> ok =
      db.QueryInt("SELECT COUNT(*) FROM (SELECT 1 FROM notifications LIMIT 1)");
  if (!ok.ok()) return ok.status();
  return true;
}

// A failed read never runs again: a local file does not come back.
static bool ReadAgain(Connection&) { return false; }

absl::StatusOr<std::vector<ChannelCut>> FindChannelCuts(Connection& db,
                                                        int64_t keep) {
  std::vector<std::string> channels;
  {
    absl::StatusOr<Statement> over = db.Prepare(
        "SELECT channel FROM notifications WHERE box < 3 GROUP BY channel"
        " HAVING COUNT(*) > ?1");
    if (!over.ok()) return over.status();
    over->BindInt(1, keep);
    for (;;) {
      absl::StatusOr<bool> row = over->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      channels.push_back(over->ColumnText(0));
    }
  }
  std::vector<ChannelCut> cuts;
  for (std::string& channel : channels) {
    absl::StatusOr<Statement> cut = db.Prepare(
        "SELECT id FROM notifications WHERE channel = ?1 AND box < 3"
        " ORDER BY id DESC LIMIT 1 OFFSET ?2");
    if (!cut.ok()) return cut.status();
    cut->BindText(1, channel);
    cut->BindInt(2, keep);
    absl::StatusOr<bool> row = cut->Step();
    if (!row.ok()) return row.status();
    if (*row) cuts.push_back({std::move(channel), cut->ColumnInt(0)});
  }
  return cuts;
}

std::unique_ptr<StoreReader> NewReader(std::unique_ptr<Connection> db) {
  return std::make_unique<QueryReader<Connection>>(std::move(db));
}

}  // namespace notifyd::storage
