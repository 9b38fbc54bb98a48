// The writes of the SQLite store (sqlite_queries.h): the primitives of
// WriteTransaction (store_backend.h) on the writer connection, inside its
// transaction.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/flag_sql.h"
#include "storage/inbox.h"
#include "storage/sqlite_push.h"
#include "storage/sqlite_queries.h"
#include "storage/sqlite_rows.h"

// The queries are static, not in the unnamed namespace, so that
// QueryTransaction finds them by argument-dependent lookup.
namespace notifyd::storage {
namespace {

using sqlite_rows::ClampId;
using sqlite_rows::JsonIds;
using sqlite_rows::kColumns;
using sqlite_rows::ReadRow;

// Adds ?2 unread and ?3 unseen to the counts of inbox ?1 (AddToCounts).
constexpr char kAddCountsSql[] =
    "INSERT INTO inbox_counts (channel, unread, unseen)"
    " VALUES (?1, max(?2, 0), max(?3, 0))"
    " ON CONFLICT (channel) DO UPDATE SET"
    " unread = unread + ?2, unseen = unseen + ?3";
constexpr char kReadCountsSql[] =
    "SELECT unread, unseen FROM inbox_counts WHERE channel = ?1";

// What the deletes and flag changes return of each row, read by
// ReadFlagRow.
constexpr char kFlagColumns[] =
    "id, channel, seen_at_ms, read_at_ms, archived_at_ms, box";
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

// RowByKey for each row with a key: lookups in the local file are as
// cheap one by one.
static absl::StatusOr<std::vector<std::shared_ptr<const Notification>>>
RowsByKeys(Connection& db, const std::vector<const AppendRequest*>& rows) {
  std::vector<std::shared_ptr<const Notification>> found(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i]->idempotency_key.empty()) continue;
    absl::StatusOr<std::shared_ptr<const Notification>> row =
        RowByKey(db, rows[i]->channel, rows[i]->idempotency_key);
    if (!row.ok()) return row.status();
    found[i] = *std::move(row);
  }
  return found;
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
  absl::StatusOr<Statement> upsert = db.Prepare(kAddCountsSql);
  if (!upsert.ok()) return upsert.status();
  upsert->BindText(1, channel);
  upsert->BindInt(2, delta.unread);
  upsert->BindInt(3, delta.unseen);
  if (absl::Status s = upsert->Run(); !s.ok()) return s;
  absl::StatusOr<Statement> read = db.Prepare(kReadCountsSql);
  if (!read.ok()) return read.status();
  read->BindText(1, channel);
  absl::StatusOr<bool> row = read->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::InternalError("store: inbox_counts lost its row");
  return Counts{static_cast<uint64_t>(read->ColumnInt(0)),
                static_cast<uint64_t>(read->ColumnInt(1))};
}

// AppendMany's rows: the next id read once (InsertNotification's two
// seeks), then one prepared insert per row, bound with what differs.
static absl::StatusOr<std::vector<uint64_t>> InsertFanOutRows(
    Connection& db, const std::vector<const AppendRequest*>& rows,
    int64_t now_ms) {
  int64_t id = 0;
  {
    absl::StatusOr<Statement> next = db.Prepare(
        "SELECT max(id, coalesce((SELECT max(id) FROM notifications), 0)) + 1"
        " FROM id_high_water");
    if (!next.ok()) return next.status();
    absl::StatusOr<bool> row = next->Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::InternalError("store: id_high_water is empty");
    id = next->ColumnInt(0);
  }
  absl::StatusOr<Statement> insert = db.Prepare(
      "INSERT INTO notifications"
      " (id, channel, event, data, created_at_ms, idempotency_key, box,"
      " expires_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)");
  if (!insert.ok()) return insert.status();
  const AppendRequest& first = *rows.front();
  insert->BindText(3, first.event);
  insert->BindText(4, first.data);
  insert->BindInt(5, now_ms);
  insert->BindInt(7, first.expires_at_ms);
  std::vector<uint64_t> ids;
  ids.reserve(rows.size());
  for (const AppendRequest* row : rows) {
    insert->BindInt(1, id);
    insert->BindText(2, row->channel);
    if (row->idempotency_key.empty()) {
      insert->BindNull(6);
    } else {
      insert->BindText(6, row->idempotency_key);
    }
    if (absl::Status s = insert->Run(); !s.ok()) return s;
    insert->Reset();
    ids.push_back(static_cast<uint64_t>(id++));
  }
  return ids;
}

// AddToCounts for each channel, each statement prepared once.
static absl::StatusOr<std::vector<Counts>> AddToCountsEach(
    Connection& db, const std::vector<const std::string*>& channels,
    CountDelta delta) {
  absl::StatusOr<Statement> upsert = db.Prepare(kAddCountsSql);
  if (!upsert.ok()) return upsert.status();
  absl::StatusOr<Statement> read = db.Prepare(kReadCountsSql);
  if (!read.ok()) return read.status();
  upsert->BindInt(2, delta.unread);
  upsert->BindInt(3, delta.unseen);
  std::vector<Counts> counts;
  counts.reserve(channels.size());
  for (const std::string* channel : channels) {
    upsert->BindText(1, *channel);
    if (absl::Status s = upsert->Run(); !s.ok()) return s;
    upsert->Reset();
    read->BindText(1, *channel);
    absl::StatusOr<bool> row = read->Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::InternalError("store: inbox_counts lost its row");
    counts.push_back(Counts{static_cast<uint64_t>(read->ColumnInt(0)),
                            static_cast<uint64_t>(read->ColumnInt(1))});
    read->Reset();
  }
  return counts;
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

std::unique_ptr<WriteTransaction> NewTransaction(Connection& db) {
  return std::make_unique<QueryTransaction<Connection>>(db);
}

}  // namespace notifyd::storage
