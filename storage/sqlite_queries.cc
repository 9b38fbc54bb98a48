#include "storage/sqlite_queries.h"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <memory>
#include <system_error>

#include "absl/strings/str_cat.h"

// The queries are static, not in the unnamed namespace, so that QueryReader
// and QueryTransaction find them by argument-dependent lookup.
namespace notifyd::storage {
namespace {

constexpr char kColumns[] = "id, channel, event, data, created_at_ms, read";

// Ids and bounds arrive as uint64 but SQLite integers are int64. Ids never
// exceed int64, so a larger bound means "no bound".
int64_t ClampId(uint64_t id) {
  return static_cast<int64_t>(
      std::min<uint64_t>(id, std::numeric_limits<int64_t>::max()));
}

Notification ReadRow(Statement& stmt) {
  Notification n;
  n.id = static_cast<uint64_t>(stmt.ColumnInt(0));
  n.channel = stmt.ColumnText(1);
  n.event = stmt.ColumnText(2);
  n.data = stmt.ColumnText(3);
  n.created_at_ms = stmt.ColumnInt(4);
  n.read = stmt.ColumnInt(5) != 0;
  return n;
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

// The index on (channel, read, id) holds a channel's unread rows, then its
// read ones, each range in id order. A query over the whole channel in id
// order reads both ranges, each bounded by the limit, and merges them.
constexpr int kReadStates[] = {0, 1};

enum class Direction { kNewestFirst, kOldestFirst };

// Appends to `rows` at most `limit` rows of `channel` in one read state,
// beyond `bound`: ids below it newest first, or above it oldest first.
absl::Status ReadRange(Connection& db, const std::string& channel, int read,
                       Direction direction, int64_t bound, uint32_t limit,
                       std::vector<Notification>& rows) {
  absl::StatusOr<Statement> stmt = db.Prepare(absl::StrCat(
      "SELECT ", kColumns,
      " FROM notifications WHERE channel = ?1 AND read = ?2 AND id ",
      direction == Direction::kNewestFirst ? "< ?3 ORDER BY id DESC"
                                           : "> ?3 ORDER BY id",
      " LIMIT ?4"));
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, channel);
  stmt->BindInt(2, read);
  stmt->BindInt(3, bound);
  stmt->BindInt(4, limit);
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

absl::StatusOr<uint64_t> RunForChanges(Statement& stmt, Connection& db) {
  if (absl::Status s = stmt.Run(); !s.ok()) return s;
  return static_cast<uint64_t>(db.Changes());
}

// Before any delete: the newest row may be among the deleted, and ids
// continue from the larger of the newest remaining row and this mark.
absl::Status RaiseIdHighWater(Connection& db) {
  return db.Exec(
      "UPDATE id_high_water SET id ="
      " max(id, coalesce((SELECT max(id) FROM notifications), 0))");
}

}  // namespace

// --- Writes: on the writer connection, inside its transaction.

// Returns the stored row for (channel, idempotency_key) as a duplicate, or
// inserts a new row stamped `now_ms` and returns its id.
static absl::StatusOr<Inserted> InsertNotification(Connection& db,
                                                   const AppendRequest& request,
                                                   int64_t now_ms) {
  const bool has_key = !request.idempotency_key.empty();
  if (has_key) {
    // Within a batch this also sees rows inserted earlier in the same
    // (uncommitted) transaction, so a repeat in one batch is a duplicate too.
    absl::StatusOr<Statement> find = db.Prepare(absl::StrCat(
        "SELECT ", kColumns,
        " FROM notifications WHERE channel = ?1 AND idempotency_key = ?2"));
    if (!find.ok()) return find.status();
    find->BindText(1, request.channel);
    find->BindText(2, request.idempotency_key);
    absl::StatusOr<bool> row = find->Step();
    if (!row.ok()) return row.status();
    if (*row) {
      auto original = std::make_shared<const Notification>(ReadRow(*find));
      const uint64_t id = original->id;
      return Inserted{id, std::move(original), /*duplicate=*/true};
    }
  }

  // The id is one past the newest row or the high-water mark of deleted
  // ones (migration 0003), read inside this write transaction: two seeks,
  // no page written.
  absl::StatusOr<Statement> insert = db.Prepare(
      "INSERT INTO notifications"
      " (id, channel, event, data, created_at_ms, idempotency_key)"
      " VALUES ((SELECT max(id, coalesce((SELECT max(id) FROM notifications),"
      " 0)) + 1 FROM id_high_water), ?1, ?2, ?3, ?4, ?5)");
  if (!insert.ok()) return insert.status();
  insert->BindText(1, request.channel);
  insert->BindText(2, request.event);
  insert->BindText(3, request.data);
  insert->BindInt(4, now_ms);
  if (has_key) {
    insert->BindText(5, request.idempotency_key);
  } else {
    insert->BindNull(5);
  }
  // Not RETURNING, which stages its output in a temporary table first.
  if (absl::Status s = insert->Run(); !s.ok()) return s;
  return Inserted{static_cast<uint64_t>(db.LastInsertRowId()), nullptr,
                  /*duplicate=*/false};
}

// Returns how many rows went from unread to read.
static absl::StatusOr<uint64_t> MarkRows(Connection& db,
                                         const MarkReadRequest& request) {
  // "read = 0" keeps an id named twice, or also covered by up_to_id, from
  // being counted twice; the channel condition ignores other channels' ids.
  uint64_t changed = 0;
  if (request.up_to_id > 0) {
    absl::StatusOr<Statement> update = db.Prepare(
        "UPDATE notifications SET read = 1"
        " WHERE channel = ?1 AND id <= ?2 AND read = 0");
    if (!update.ok()) return update.status();
    update->BindText(1, request.channel);
    update->BindInt(2, ClampId(request.up_to_id));
    absl::StatusOr<uint64_t> n = RunForChanges(*update, db);
    if (!n.ok()) return n.status();
    changed += *n;
  }
  for (uint64_t id : request.ids) {
    absl::StatusOr<Statement> update = db.Prepare(
        "UPDATE notifications SET read = 1"
        " WHERE channel = ?1 AND id = ?2 AND read = 0");
    if (!update.ok()) return update.status();
    update->BindText(1, request.channel);
    update->BindInt(2, ClampId(id));
    absl::StatusOr<uint64_t> n = RunForChanges(*update, db);
    if (!n.ok()) return n.status();
    changed += *n;
  }
  return changed;
}

// Deletes the oldest rows in id order while they were created before
// `cutoff_ms`, at most `limit`. It stops at the first newer row, so after the
// clock was stepped back no row is deleted before it is old enough; the rows
// behind it wait until it is.
static absl::StatusOr<uint64_t> DeleteOldestCreatedBefore(Connection& db,
                                                          int64_t cutoff_ms,
                                                          int64_t limit) {
  int64_t last_old_id = 0;
  {
    absl::StatusOr<Statement> oldest = db.Prepare(
        "SELECT id, created_at_ms FROM notifications ORDER BY id LIMIT ?1");
    if (!oldest.ok()) return oldest.status();
    oldest->BindInt(1, limit);
    for (;;) {
      absl::StatusOr<bool> row = oldest->Step();
      if (!row.ok()) return row.status();
      if (!*row || oldest->ColumnInt(1) >= cutoff_ms) break;
      last_old_id = oldest->ColumnInt(0);
    }
  }
  if (last_old_id == 0) return 0;
  if (absl::Status s = RaiseIdHighWater(db); !s.ok()) return s;
  absl::StatusOr<Statement> stmt =
      db.Prepare("DELETE FROM notifications WHERE id <= ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->BindInt(1, last_old_id);
  return RunForChanges(*stmt, db);
}

// Deletes at most `limit` rows of `channel` with ids up to `max_id`.
static absl::StatusOr<uint64_t> DeleteChannelUpTo(Connection& db,
                                                  const std::string& channel,
                                                  int64_t max_id,
                                                  int64_t limit) {
  if (absl::Status s = RaiseIdHighWater(db); !s.ok()) return s;
  // No order needed, so one query over both read states: "read IN" lets it
  // seek to the id bound within each. SQLite is built without
  // DELETE ... LIMIT, hence the subquery.
  absl::StatusOr<Statement> stmt = db.Prepare(
      "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications"
      " WHERE channel = ?1 AND read IN (0, 1) AND id <= ?2 LIMIT ?3)");
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, channel);
  stmt->BindInt(2, max_id);
  stmt->BindInt(3, limit);
  return RunForChanges(*stmt, db);
}

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
    Connection& db, const ListQuery& query) {
  return InReadTransaction(
      db, [&]() -> absl::StatusOr<std::vector<Notification>> {
        std::vector<Notification> rows;
        const int64_t before =
            ClampId(query.before_id == 0 ? std::numeric_limits<uint64_t>::max()
                                         : query.before_id);
        for (int read : kReadStates) {
          if (read != 0 && query.unread_only) break;
          if (absl::Status s =
                  ReadRange(db, query.channel, read, Direction::kNewestFirst,
                            before, query.limit, rows);
              !s.ok()) {
            return s;
          }
        }
        MergeByIdAndTruncate(rows, Direction::kNewestFirst, query.limit);
        return rows;
      });
}

namespace {

// Appends to `ids` the ids of at most `limit` rows of `channel` in one read
// state with ids above `after_id`, ascending. The index on (channel, read,
// id) covers the query, so no row, let alone a payload, is read.
absl::Status ReadReplayIds(Connection& db, const std::string& channel, int read,
                           int64_t after_id, int64_t limit,
                           std::vector<int64_t>& ids) {
  absl::StatusOr<Statement> stmt = db.Prepare(
      "SELECT id FROM notifications WHERE channel = ?1 AND read = ?2"
      " AND id > ?3 ORDER BY id LIMIT ?4");
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, channel);
  stmt->BindInt(2, read);
  stmt->BindInt(3, after_id);
  stmt->BindInt(4, limit);
  for (;;) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
    ids.push_back(stmt->ColumnInt(0));
  }
}

// The smallest id of `channel` in one read state, 0 when it has none.
absl::StatusOr<uint64_t> OldestId(Connection& db, const std::string& channel,
                                  int read) {
  absl::StatusOr<Statement> oldest = db.Prepare(
      "SELECT min(id) FROM notifications WHERE channel = ?1 AND read = ?2");
  if (!oldest.ok()) return oldest.status();
  oldest->BindText(1, channel);
  oldest->BindInt(2, read);
  absl::StatusOr<bool> row = oldest->Step();
  if (!row.ok()) return row.status();
  if (!*row || oldest->ColumnIsNull(0)) return 0;
  return static_cast<uint64_t>(oldest->ColumnInt(0));
}

absl::StatusOr<ReplayPage> ReplayInTransaction(Connection& db,
                                               const ReplayQuery& query) {
  // First the page's candidate ids: per channel and read state an index
  // range bounded by limit + 1 (the extra id tells whether more follow),
  // merged. Cheaper than one IN query that may sort every matching row.
  const int64_t candidates = int64_t{query.limit} + 1;
  std::vector<int64_t> ids;
  ReplayPage page;
  for (const std::string& channel : query.channels) {
    for (int read : kReadStates) {
      if (absl::Status s = ReadReplayIds(
              db, channel, read, ClampId(query.after_id), candidates, ids);
          !s.ok()) {
        return s;
      }
      absl::StatusOr<uint64_t> oldest = OldestId(db, channel, read);
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
                                             const ReplayQuery& query) {
  // One snapshot, so oldest_id and last_committed_id agree with the page.
  return InReadTransaction(db, [&] { return ReplayInTransaction(db, query); });
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

static absl::StatusOr<uint64_t> CountUnread(Connection& db,
                                            const std::string& channel) {
  absl::StatusOr<Statement> stmt = db.Prepare(
      "SELECT COUNT(*) FROM notifications WHERE channel = ?1 AND read = 0");
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, channel);
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  return static_cast<uint64_t>(*row ? stmt->ColumnInt(0) : 0);
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
        "SELECT channel FROM notifications GROUP BY channel"
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
        "SELECT id FROM notifications WHERE channel = ?1"
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

std::unique_ptr<WriteTransaction> NewTransaction(Connection& db) {
  return std::make_unique<QueryTransaction<Connection>>(db);
}

}  // namespace notifyd::storage
