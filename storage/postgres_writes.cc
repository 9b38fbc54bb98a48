// The writes of the PostgreSQL store (postgres_queries.h): the primitives
// of WriteTransaction (store_backend.h) and the id counter, on the writer's
// connection inside the batch transaction.
#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "storage/flag_sql.h"
#include "storage/inbox.h"
#include "storage/postgres_push.h"
#include "storage/postgres_queries.h"
#include "storage/postgres_rows.h"

// The queries are static, not in the unnamed namespace, so that
// QueryTransaction finds them by argument-dependent lookup.
namespace notifyd::storage {

using pg_rows::ClampId;
using pg_rows::ClampIds;
using pg_rows::Columns;
using pg_rows::FlagRows;
using pg_rows::kFlagColumns;
using pg_rows::Live;
using pg_rows::OneInt;
using pg_rows::RowAt;

// --- Writes: on the writer's connection, inside the batch transaction,
// which holds the id counter's lock (postgres_store.cc): no batch of
// another instance writes meanwhile, and each statement sees every earlier
// batch's commit.

// The row stored under (channel, key), or null. Also sees rows inserted
// earlier in the same (uncommitted) transaction, so a repeat in one batch
// is a duplicate too.
static absl::StatusOr<std::shared_ptr<const Notification>> RowByKey(
    PgWriter& writer, const std::string& channel, const std::string& key) {
  static const std::string* const sql = new std::string(
      absl::StrCat("SELECT ", Columns("n"),
                   " FROM notifications n"
                   " WHERE n.channel = $1 AND n.idempotency_key = $2"));
  absl::StatusOr<PgResult> r =
      writer.db.Query(*sql, {PgParam::Text(channel), PgParam::Text(key)});
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return std::shared_ptr<const Notification>();
  return std::make_shared<const Notification>(RowAt(*r, 0));
}

// RowByKey for every row with a key in one query (one round trip, not one
// per row): the pairs as arrays, joined to the idempotency index, each
// found row with its position.
static absl::StatusOr<std::vector<std::shared_ptr<const Notification>>>
RowsByKeys(PgWriter& writer, const std::vector<const AppendRequest*>& rows) {
  std::vector<std::string> channels, keys;
  std::vector<size_t> at;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i]->idempotency_key.empty()) continue;
    channels.push_back(rows[i]->channel);
    keys.push_back(rows[i]->idempotency_key);
    at.push_back(i);
  }
  std::vector<std::shared_ptr<const Notification>> found(rows.size());
  if (at.empty()) return found;
  static const std::string* const sql = new std::string(absl::StrCat(
      "SELECT t.o, ", Columns("n"),
      " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(c, k, o)"
      " JOIN notifications n ON n.channel = t.c AND n.idempotency_key = t.k"));
  absl::StatusOr<PgResult> r = writer.db.Query(
      *sql, {PgParam::TextArray(channels), PgParam::TextArray(keys)});
  if (!r.ok()) return r.status();
  for (int row = 0; row < r->rows(); ++row) {
    const int64_t o = r->Int(row, 0);
    if (o < 1 || o > static_cast<int64_t>(at.size())) {
      return absl::InternalError("store: key lookup out of range");
    }
    found[at[o - 1]] = std::make_shared<const Notification>(RowAt(*r, row, 1));
  }
  return found;
}

// Inserts a new row stamped `now_ms` with the next id (writer.last_id + 1,
// which it then advances) and returns the id. A failed insert takes no id.
static absl::StatusOr<uint64_t> InsertNotification(PgWriter& writer,
                                                   const AppendRequest& r,
                                                   int64_t now_ms,
                                                   Notification::Kind kind) {
  const int64_t id = writer.last_id + 1;
  auto text_or_null = [](const std::string& value) {
    return value.empty() ? PgParam::NullText() : PgParam::Text(value);
  };
  absl::StatusOr<PgResult> result = writer.db.Query(
      "INSERT INTO notifications (id, channel, event, created_at_ms,"
      " idempotency_key, box, expires_at_ms, collapse_key, data)"
      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
      {PgParam::Int(id), PgParam::Text(r.channel), PgParam::Text(r.event),
       PgParam::Int(now_ms), text_or_null(r.idempotency_key),
       PgParam::Int(kind == Notification::Kind::kNotification ? 0 : kRecordBox),
       PgParam::Int(r.expires_at_ms), text_or_null(r.collapse_key),
       PgParam::Bytes(r.data)});
  if (!result.ok()) return result.status();
  writer.last_id = id;
  return static_cast<uint64_t>(id);
}

// Adds `delta` to the counts of inbox `channel`; a missing entry counts
// from zero. Not INSERT ... ON CONFLICT DO UPDATE: PostgreSQL checks the
// CHECK constraints of the row it proposes to insert before it looks for
// the conflict, so a negative delta (a read, a delete) would fail there
// even when the entry exists. An update, else an insert, in one statement;
// two batches cannot both insert the same entry, since they take turns on
// the id counter (and if they could, the second would fail on the primary
// key, not count wrong).
static absl::StatusOr<Counts> AddToCounts(PgWriter& writer,
                                          const std::string& channel,
                                          CountDelta delta) {
  absl::StatusOr<PgResult> r = writer.db.Query(
      "WITH updated AS (UPDATE inbox_counts"
      " SET unread = unread + $2, unseen = unseen + $3 WHERE channel = $1"
      " RETURNING unread, unseen),"
      " inserted AS (INSERT INTO inbox_counts (channel, unread, unseen)"
      " SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM updated)"
      " RETURNING unread, unseen)"
      " SELECT unread, unseen FROM updated"
      " UNION ALL SELECT unread, unseen FROM inserted",
      {PgParam::Text(channel), PgParam::Int(delta.unread),
       PgParam::Int(delta.unseen)});
  if (!r.ok()) return r.status();
  if (r->rows() != 1) {
    return absl::InternalError("store: inbox_counts upsert was empty");
  }
  return Counts{static_cast<uint64_t>(r->Int(0, 0)),
                static_cast<uint64_t>(r->Int(0, 1))};
}

// AppendMany's rows in one statement (one round trip, not one per row):
// the channels and keys as arrays, the shared payload once, ids from
// writer.last_id + 1 in array order (WITH ORDINALITY).
static absl::StatusOr<std::vector<uint64_t>> InsertFanOutRows(
    PgWriter& writer, const std::vector<const AppendRequest*>& rows,
    int64_t now_ms) {
  std::vector<std::string> channels, keys;
  channels.reserve(rows.size());
  keys.reserve(rows.size());
  for (const AppendRequest* row : rows) {
    channels.push_back(row->channel);
    keys.push_back(row->idempotency_key);
  }
  const AppendRequest& first = *rows.front();
  const int64_t first_id = writer.last_id + 1;
  absl::StatusOr<PgResult> result = writer.db.Query(
      "INSERT INTO notifications (id, channel, event, created_at_ms,"
      " idempotency_key, box, expires_at_ms, collapse_key, data)"
      " SELECT $1 + t.o - 1, t.c, $2, $3, NULLIF(t.k, ''), 0, $4, NULL, $5"
      " FROM unnest($6::text[], $7::text[]) WITH ORDINALITY AS t(c, k, o)",
      {PgParam::Int(first_id), PgParam::Text(first.event), PgParam::Int(now_ms),
       PgParam::Int(first.expires_at_ms), PgParam::Bytes(first.data),
       PgParam::TextArray(channels), PgParam::TextArray(keys)});
  if (!result.ok()) return result.status();
  std::vector<uint64_t> ids(rows.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = first_id + i;
  writer.last_id = first_id + static_cast<int64_t>(rows.size()) - 1;
  return ids;
}

// AddToCounts for every channel in one statement: the entries that exist
// are updated, the others inserted (no channel is in both: they are
// distinct), and the counts come back in the channels' order.
static absl::StatusOr<std::vector<Counts>> AddToCountsEach(
    PgWriter& writer, const std::vector<const std::string*>& channels,
    CountDelta delta) {
  std::vector<std::string> names;
  names.reserve(channels.size());
  for (const std::string* channel : channels) names.push_back(*channel);
  absl::StatusOr<PgResult> r = writer.db.Query(
      "WITH input AS (SELECT c, o FROM unnest($1::text[])"
      " WITH ORDINALITY AS t(c, o)),"
      " updated AS (UPDATE inbox_counts ic"
      " SET unread = ic.unread + $2, unseen = ic.unseen + $3"
      " FROM input WHERE ic.channel = input.c"
      " RETURNING ic.channel, ic.unread, ic.unseen),"
      " inserted AS (INSERT INTO inbox_counts (channel, unread, unseen)"
      " SELECT c, $2, $3 FROM input"
      " WHERE NOT EXISTS (SELECT 1 FROM updated WHERE updated.channel = c)"
      " RETURNING channel, unread, unseen)"
      " SELECT x.unread, x.unseen FROM input JOIN"
      " (SELECT * FROM updated UNION ALL SELECT * FROM inserted) x"
      " ON x.channel = input.c ORDER BY input.o",
      {PgParam::TextArray(names), PgParam::Int(delta.unread),
       PgParam::Int(delta.unseen)});
  if (!r.ok()) return r.status();
  if (r->rows() != static_cast<int>(channels.size())) {
    return absl::InternalError("store: inbox_counts upsert lost entries");
  }
  std::vector<Counts> counts;
  counts.reserve(channels.size());
  for (int i = 0; i < r->rows(); ++i) {
    counts.push_back(Counts{static_cast<uint64_t>(r->Int(i, 0)),
                            static_cast<uint64_t>(r->Int(i, 1))});
  }
  return counts;
}

// Sets or clears `flag` on the notifications of `channel` named by `ids` or
// up to `up_to_id`: one statement, so it changes all or nothing. Only the
// sides given are in it: with both, the plan is a BitmapOr of the
// channel's boxes up to $2 and the primary key for the ids; with the ids
// alone, the primary key (an "id <= 0" left in would have the planner
// intersect it with the channel's whole index range).
static absl::StatusOr<std::vector<FlagRow>> SetFlagOn(
    PgWriter& writer, const std::string& channel,
    const std::vector<uint64_t>& ids, uint64_t up_to_id, Flag flag, bool on,
    int64_t now_ms) {
  const FlagSql sql = FlagChangeSql(flag, on, "$3");
  const char* which = up_to_id == 0 ? "id = ANY($4)"
                      : ids.empty() ? "id <= $2"
                                    : "(id <= $2 OR id = ANY($4))";
  // box IN (0, 1, 2) leaves records out and lets the index seek to the id
  // bound in each box; the flag's condition skips rows already so, which
  // also keeps an id named twice from counting twice.
  return FlagRows(writer.db.Query(
      absl::StrCat("UPDATE notifications SET ", sql.set,
                   " WHERE channel = $1 AND box IN (0, 1, 2) AND ", which,
                   " AND ", sql.condition, " RETURNING ", kFlagColumns),
      {PgParam::Text(channel), PgParam::Int(ClampId(up_to_id)),
       PgParam::Int(now_ms), PgParam::IntArray(ClampIds(ids))}));
}

// Deletes the notifications of `channel` named by `ids` or carrying
// `collapse_key` (none when empty: NULL matches no row). One statement: a
// BitmapOr of the primary key and the collapse index.
static absl::StatusOr<std::vector<FlagRow>> DeleteNamed(
    PgWriter& writer, const std::string& channel,
    const std::vector<uint64_t>& ids, const std::string& collapse_key) {
  return FlagRows(writer.db.Query(
      absl::StrCat("DELETE FROM notifications WHERE channel = $1 AND box < 3"
                   " AND (id = ANY($2) OR collapse_key = $3) RETURNING ",
                   kFlagColumns),
      {PgParam::Text(channel), PgParam::IntArray(ClampIds(ids)),
       collapse_key.empty() ? PgParam::NullText()
                            : PgParam::Text(collapse_key)}));
}

// At most `limit` notifications expired at `now_ms`, soonest expired first:
// a range of the expiry index.
static absl::StatusOr<std::vector<FlagRow>> DeleteExpiredBy(PgWriter& writer,
                                                            int64_t now_ms,
                                                            int64_t limit) {
  return FlagRows(writer.db.Query(
      absl::StrCat("DELETE FROM notifications WHERE id IN (SELECT id"
                   " FROM notifications WHERE expires_at_ms > 0"
                   " AND expires_at_ms <= $1 ORDER BY expires_at_ms"
                   " LIMIT $2) RETURNING ",
                   kFlagColumns),
      {PgParam::Int(now_ms), PgParam::Int(limit)}));
}

// The oldest rows in id order while they were created before `cutoff_ms`,
// at most `limit`: it stops at the first newer row, so after the clock was
// stepped back no row is deleted before it is old enough.
static absl::StatusOr<std::vector<FlagRow>> DeleteOldestCreatedBefore(
    PgWriter& writer, int64_t cutoff_ms, int64_t limit) {
  return FlagRows(writer.db.Query(
      absl::StrCat("WITH oldest AS (SELECT id, created_at_ms FROM notifications"
                   " ORDER BY id LIMIT $2),"
                   " stop AS (SELECT min(id) AS id FROM oldest"
                   " WHERE created_at_ms >= $1)"
                   " DELETE FROM notifications WHERE id IN (SELECT id"
                   " FROM oldest WHERE id < coalesce((SELECT id FROM stop),"
                   " 9223372036854775807)) RETURNING ",
                   kFlagColumns),
      {PgParam::Int(cutoff_ms), PgParam::Int(limit)}));
}

// At most `limit` rows of `channel` (records too) with ids up to `max_id`.
static absl::StatusOr<std::vector<FlagRow>> DeleteChannelUpTo(
    PgWriter& writer, const std::string& channel, int64_t max_id,
    int64_t limit) {
  // No order needed, so one query over every box: "box IN" lets the index
  // seek to the id bound within each.
  return FlagRows(writer.db.Query(
      absl::StrCat("DELETE FROM notifications WHERE id IN (SELECT id"
                   " FROM notifications WHERE channel = $1"
                   " AND box IN (0, 1, 2, 3) AND id <= $2 LIMIT $3)"
                   " RETURNING ",
                   kFlagColumns),
      {PgParam::Text(channel), PgParam::Int(max_id), PgParam::Int(limit)}));
}

absl::StatusOr<int64_t> LockIdCounter(PgConnection& db) {
  absl::StatusOr<uint64_t> last =
      OneInt(db.Query("SELECT last_id FROM notify_id_counter FOR UPDATE"));
  if (!last.ok()) return last.status();
  return static_cast<int64_t>(*last);
}

absl::Status SaveLastId(PgConnection& db, int64_t last_id) {
  return db
      .Query("UPDATE notify_id_counter SET last_id = $1",
             {PgParam::Int(last_id)})
      .status();
}

absl::StatusOr<bool> SynchronousCommitIsOff(PgConnection& db) {
  absl::StatusOr<PgResult> r =
      db.Query("SELECT current_setting('synchronous_commit')");
  if (!r.ok()) return r.status();
  return r->Bytes(0, 0) == "off";
}

std::unique_ptr<WriteTransaction> NewTransaction(PgWriter& writer) {
  return std::make_unique<QueryTransaction<PgWriter>>(writer);
}

}  // namespace notifyd::storage
