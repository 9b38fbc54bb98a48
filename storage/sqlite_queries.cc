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

// The queries are static, not in the unnamed namespace, so that QueryReader
// and QueryTransaction find them by argument-dependent lookup.
namespace notifyd::storage {
namespace {

constexpr char kColumns[] =
    "id, channel, event, created_at_ms, box, seen_at_ms, read_at_ms,"
    " archived_at_ms, expires_at_ms, collapse_key, data";

// What the deletes and flag changes return of each row, read by
// ReadFlagRow.
constexpr char kFlagColumns[] =
    "id, channel, seen_at_ms, read_at_ms, archived_at_ms, box";

// Not expired at ?N.
std::string Live(int now_param) {
  return absl::StrCat(" AND (expires_at_ms = 0 OR expires_at_ms > ?", now_param,
                      ")");
}

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

FlagRow ReadFlagRow(Statement& stmt) {
  return FlagRow{.id = static_cast<uint64_t>(stmt.ColumnInt(0)),
                 .channel = stmt.ColumnText(1),
                 .seen_at_ms = stmt.ColumnInt(2),
                 .read_at_ms = stmt.ColumnInt(3),
                 .archived_at_ms = stmt.ColumnInt(4),
                 .record = stmt.ColumnInt(5) == kRecordBox};
}

// Appends every row `stmt` yields, as ReadFlagRow reads it, to `out`.
absl::Status ReadFlagRows(Statement& stmt, std::vector<FlagRow>& out) {
  for (;;) {
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
    out.push_back(ReadFlagRow(stmt));
  }
}

// `ids` as the JSON array that json_each() takes.
std::string JsonIds(const std::vector<uint64_t>& ids) {
  std::string json = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    absl::StrAppend(&json, i == 0 ? "" : ",", ClampId(ids[i]));
  }
  json += "]";
  return json;
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

// Before any delete: the newest row may be among the deleted, and ids
// continue from the larger of the newest remaining row and this mark.
absl::Status RaiseIdHighWater(Connection& db) {
  return db.Exec(
      "UPDATE id_high_water SET id ="
      " max(id, coalesce((SELECT max(id) FROM notifications), 0))");
}

// Runs a statement that returns kFlagColumns (RETURNING) with `bind`
// binding its parameters, and appends the rows to `out`.
template <typename Bind>
absl::Status RunForRows(Connection& db, const std::string& sql, Bind bind,
                        std::vector<FlagRow>& out) {
  absl::StatusOr<Statement> stmt = db.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  bind(*stmt);
  return ReadFlagRows(*stmt, out);
}

}  // namespace

// --- Writes: on the writer connection, inside its transaction.

// The row stored under (channel, key), or null. Within a batch this also
// sees rows inserted earlier in the same (uncommitted) transaction, so a
// repeat in one batch is a duplicate too.
static absl::StatusOr<std::shared_ptr<const Notification>> RowByKey(
    Connection& db, const std::string& channel, const std::string& key) {
  absl::StatusOr<Statement> find = db.Prepare(absl::StrCat(
      "SELECT ", kColumns,
      " FROM notifications WHERE channel = ?1 AND idempotency_key = ?2"));
  if (!find.ok()) return find.status();
  find->BindText(1, channel);
  find->BindText(2, key);
  absl::StatusOr<bool> row = find->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::shared_ptr<const Notification>();
  return std::make_shared<const Notification>(ReadRow(*find));
}

// Inserts a new row stamped `now_ms` and returns its id.
static absl::StatusOr<uint64_t> InsertNotification(Connection& db,
                                                   const AppendRequest& request,
                                                   int64_t now_ms,
                                                   Notification::Kind kind) {
  // The id is one past the newest row or the high-water mark of deleted
  // ones (migration 0003), read inside this write transaction: two seeks,
  // no page written.
  absl::StatusOr<Statement> insert = db.Prepare(
      "INSERT INTO notifications"
      " (id, channel, event, data, created_at_ms, idempotency_key, box,"
      " expires_at_ms, collapse_key)"
      " VALUES ((SELECT max(id, coalesce((SELECT max(id) FROM notifications),"
      " 0)) + 1 FROM id_high_water), ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!insert.ok()) return insert.status();
  insert->BindText(1, request.channel);
  insert->BindText(2, request.event);
  insert->BindText(3, request.data);
  insert->BindInt(4, now_ms);
  auto text_or_null = [&](int index, const std::string& value) {
    if (value.empty()) {
      insert->BindNull(index);
    } else {
      insert->BindText(index, value);
    }
  };
  text_or_null(5, request.idempotency_key);
  insert->BindInt(6,
                  kind == Notification::Kind::kNotification ? 0 : kRecordBox);
  insert->BindInt(7, request.expires_at_ms);
  text_or_null(8, request.collapse_key);
  // Not RETURNING, which stages its output in a temporary table first.
  if (absl::Status s = insert->Run(); !s.ok()) return s;
  return static_cast<uint64_t>(db.LastInsertRowId());
}

static absl::StatusOr<Counts> AddToCounts(Connection& db,
                                          const std::string& channel,
                                          CountDelta delta) {
  // SQLite checks the CHECK constraints on the row it would insert even
  // when the conflict turns it into an update, so a negative delta goes in
  // through the update alone (a missing entry never goes below zero). Not
  // RETURNING, whose temporary table costs every append an allocation the
  // size of a page cache (and the kernel a trim of it).
  absl::StatusOr<Statement> upsert = db.Prepare(
      "INSERT INTO inbox_counts (channel, unread, unseen)"
      " VALUES (?1, max(?2, 0), max(?3, 0))"
      " ON CONFLICT (channel) DO UPDATE SET"
      " unread = unread + ?2, unseen = unseen + ?3");
  if (!upsert.ok()) return upsert.status();
  upsert->BindText(1, channel);
  upsert->BindInt(2, delta.unread);
  upsert->BindInt(3, delta.unseen);
  if (absl::Status s = upsert->Run(); !s.ok()) return s;
  absl::StatusOr<Statement> read =
      db.Prepare("SELECT unread, unseen FROM inbox_counts WHERE channel = ?1");
  if (!read.ok()) return read.status();
  read->BindText(1, channel);
  absl::StatusOr<bool> row = read->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::InternalError("store: inbox_counts lost its row");
  return Counts{static_cast<uint64_t>(read->ColumnInt(0)),
                static_cast<uint64_t>(read->ColumnInt(1))};
}

// Sets or clears `flag` on the notifications named by `ids` or up to
// `up_to_id`: one statement over the channel's index ranges for the one,
// one over the ids for the other (an OR of both would read every row).
static absl::StatusOr<std::vector<FlagRow>> SetFlagOn(
    Connection& db, const std::string& channel,
    const std::vector<uint64_t>& ids, uint64_t up_to_id, Flag flag, bool on,
    int64_t now_ms) {
  const FlagSql sql = FlagChangeSql(flag, on, "?3");
  std::vector<FlagRow> rows;
  auto bind = [&](Statement& stmt) {
    stmt.BindText(1, channel);
    stmt.BindInt(3, now_ms);
  };
  if (up_to_id > 0) {
    if (absl::Status s = RunForRows(
            db,
            absl::StrCat("UPDATE notifications SET ", sql.set,
                         " WHERE channel = ?1 AND box IN (0, 1, 2)"
                         " AND id <= ?2 AND ",
                         sql.condition, " RETURNING ", kFlagColumns),
            [&](Statement& stmt) {
              bind(stmt);
              stmt.BindInt(2, ClampId(up_to_id));
            },
            rows);
        !s.ok()) {
      return s;
    }
  }
  if (!ids.empty()) {
    if (absl::Status s = RunForRows(
            db,
            absl::StrCat("UPDATE notifications SET ", sql.set,
                         " WHERE id IN (SELECT value FROM json_each(?2))"
                         " AND channel = ?1 AND box < 3 AND ",
                         sql.condition, " RETURNING ", kFlagColumns),
            [&](Statement& stmt) {
              bind(stmt);
              stmt.BindText(2, JsonIds(ids));
            },
            rows);
        !s.ok()) {
      return s;
    }
  }
  return rows;
}

// Deletes the notifications of `channel` named by `ids` or carrying
// `collapse_key`.
static absl::StatusOr<std::vector<FlagRow>> DeleteNamed(
    Connection& db, const std::string& channel,
    const std::vector<uint64_t>& ids, const std::string& collapse_key) {
  std::vector<FlagRow> rows;
  if (absl::Status s = RaiseIdHighWater(db); !s.ok()) return s;
  if (!ids.empty()) {
    if (absl::Status s = RunForRows(
            db,
            absl::StrCat("DELETE FROM notifications"
                         " WHERE id IN (SELECT value FROM json_each(?2))"
                         " AND channel = ?1 AND box < 3 RETURNING ",
                         kFlagColumns),
            [&](Statement& stmt) {
              stmt.BindText(1, channel);
              stmt.BindText(2, JsonIds(ids));
            },
            rows);
        !s.ok()) {
      return s;
    }
  }
  if (!collapse_key.empty()) {
    if (absl::Status s = RunForRows(
            db,
            absl::StrCat("DELETE FROM notifications WHERE channel = ?1"
                         " AND collapse_key = ?2 AND box < 3 RETURNING ",
                         kFlagColumns),
            [&](Statement& stmt) {
              stmt.BindText(1, channel);
              stmt.BindText(2, collapse_key);
            },
            rows);
        !s.ok()) {
      return s;
    }
  }
  return rows;
}

// At most `limit` notifications expired at `now_ms`, soonest expired first.
static absl::StatusOr<std::vector<FlagRow>> DeleteExpiredBy(Connection& db,
                                                            int64_t now_ms,
                                                            int64_t limit) {
  if (absl::Status s = RaiseIdHighWater(db); !s.ok()) return s;
  std::vector<FlagRow> rows;
  if (absl::Status s = RunForRows(
          db,
          absl::StrCat("DELETE FROM notifications WHERE id IN (SELECT id"
                       " FROM notifications WHERE expires_at_ms > 0"
                       " AND expires_at_ms <= ?1 ORDER BY expires_at_ms"
                       " LIMIT ?2) RETURNING ",
                       kFlagColumns),
          [&](Statement& stmt) {
            stmt.BindInt(1, now_ms);
            stmt.BindInt(2, limit);
          },
          rows);
      !s.ok()) {
    return s;
  }
  return rows;
}

// Deletes the oldest rows in id order while they were created before
// `cutoff_ms`, at most `limit`. It stops at the first newer row, so after the
// clock was stepped back no row is deleted before it is old enough; the rows
// behind it wait until it is.
static absl::StatusOr<std::vector<FlagRow>> DeleteOldestCreatedBefore(
    Connection& db, int64_t cutoff_ms, int64_t limit) {
  std::vector<FlagRow> rows;
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
  if (last_old_id == 0) return rows;
  if (absl::Status s = RaiseIdHighWater(db); !s.ok()) return s;
  if (absl::Status s = RunForRows(
          db,
          absl::StrCat("DELETE FROM notifications WHERE id <= ?1 RETURNING ",
                       kFlagColumns),
          [&](Statement& stmt) { stmt.BindInt(1, last_old_id); }, rows);
      !s.ok()) {
    return s;
  }
  return rows;
}

// Deletes at most `limit` rows of `channel` with ids up to `max_id`.
static absl::StatusOr<std::vector<FlagRow>> DeleteChannelUpTo(
    Connection& db, const std::string& channel, int64_t max_id, int64_t limit) {
  if (absl::Status s = RaiseIdHighWater(db); !s.ok()) return s;
  // No order needed, so one query over every box: "box IN" lets it seek to
  // the id bound within each. SQLite is built without DELETE ... LIMIT,
  // hence the subquery.
  std::vector<FlagRow> rows;
  if (absl::Status s = RunForRows(
          db,
          absl::StrCat("DELETE FROM notifications WHERE id IN (SELECT id"
                       " FROM notifications WHERE channel = ?1"
                       " AND box IN (0, 1, 2, 3) AND id <= ?2 LIMIT ?3)"
                       " RETURNING ",
                       kFlagColumns),
          [&](Statement& stmt) {
            stmt.BindText(1, channel);
            stmt.BindInt(2, max_id);
            stmt.BindInt(3, limit);
          },
          rows);
      !s.ok()) {
    return s;
  }
  return rows;
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

std::unique_ptr<WriteTransaction> NewTransaction(Connection& db) {
  return std::make_unique<QueryTransaction<Connection>>(db);
}

}  // namespace notifyd::storage
