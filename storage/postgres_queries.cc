#include "storage/postgres_queries.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "storage/flag_sql.h"
#include "storage/inbox.h"

// The queries are static, not in the unnamed namespace, so that QueryReader
// and QueryTransaction find them by argument-dependent lookup.
namespace notifyd::storage {
namespace {

// Ids and bounds arrive as uint64 but PostgreSQL's bigint is int64. Ids
// never exceed int64, so a larger bound means "no bound".
int64_t ClampId(uint64_t id) {
  return static_cast<int64_t>(
      std::min<uint64_t>(id, std::numeric_limits<int64_t>::max()));
}

std::vector<int64_t> ClampIds(const std::vector<uint64_t>& ids) {
  std::vector<int64_t> clamped;
  clamped.reserve(ids.size());
  for (uint64_t id : ids) clamped.push_back(ClampId(id));
  return clamped;
}

// The columns every row query selects, in the order RowAt reads them.
std::string Columns(absl::string_view table) {
  std::vector<std::string> columns;
  for (absl::string_view column :
       {"id", "channel", "event", "created_at_ms", "box", "seen_at_ms",
        "read_at_ms", "archived_at_ms", "expires_at_ms", "collapse_key",
        "data"}) {
    columns.push_back(absl::StrCat(table, ".", column));
  }
  return absl::StrJoin(columns, ", ");
}

Notification RowAt(const PgResult& r, int row, int first_column = 0) {
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

// What the deletes and flag changes return of each row (RETURNING), in the
// order FlagRows reads them.
constexpr char kFlagColumns[] =
    "id, channel, seen_at_ms, read_at_ms, archived_at_ms, box";

absl::StatusOr<std::vector<FlagRow>> FlagRows(absl::StatusOr<PgResult> r) {
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
std::string Live(absl::string_view table, int now_param) {
  return absl::StrCat(" AND (", table, ".expires_at_ms = 0 OR ", table,
                      ".expires_at_ms > $", now_param, ")");
}

// The one integer a statement yields (a count, or the id counter, the only
// table that may lack its row).
absl::StatusOr<uint64_t> OneInt(absl::StatusOr<PgResult> r) {
  if (!r.ok()) return r.status();
  if (r->rows() != 1) {
    return absl::InternalError("store: notify_id_counter has no row");
  }
  return static_cast<uint64_t>(r->Int(0, 0));
}

}  // namespace

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

// --- Reads: each one statement, and so one snapshot.

static absl::StatusOr<std::vector<Notification>> ListRows(
    PgConnection& db, const ListQuery& query, int64_t now_ms) {
  // Each box of the filter is a range of the channel's index in id order:
  // read each (bounded by the limit, past expired rows) and merge, in one
  // statement and so one snapshot (a row changing box in between would
  // otherwise show in both ranges or in neither).
  const FilterSql filter = ListFilterSql(query.filter);
  std::vector<std::string> ranges;
  for (int box : filter.boxes) {
    ranges.push_back(absl::StrCat(
        "(SELECT ", Columns("n"),
        " FROM notifications n WHERE n.channel = $1 AND n.box = ", box,
        " AND n.id < $2", filter.condition, Live("n", 4),
        " ORDER BY n.id DESC LIMIT $3)"));
  }
  const std::string sql =
      absl::StrCat("SELECT * FROM (", absl::StrJoin(ranges, " UNION ALL "),
                   ") AS page ORDER BY id DESC LIMIT $3");
  const uint64_t before = query.before_id == 0
                              ? std::numeric_limits<uint64_t>::max()
                              : query.before_id;
  absl::StatusOr<PgResult> r = db.Query(
      sql, {PgParam::Text(query.channel), PgParam::Int(ClampId(before)),
            PgParam::Int(query.limit), PgParam::Int(now_ms)});
  if (!r.ok()) return r.status();
  std::vector<Notification> rows;
  rows.reserve(r->rows());
  for (int i = 0; i < r->rows(); ++i) rows.push_back(RowAt(*r, i));
  return rows;
}

// One page as Store::Replay describes it (channels distinct); only the
// page's payloads are read.
static absl::StatusOr<ReplayPage> ReplayRows(PgConnection& db,
                                             const ReplayQuery& query,
                                             int64_t now_ms) {
  // One statement, so one snapshot: the page, oldest_id and
  // last_committed_id agree.
  //  - ids: the page's candidates, per channel and box (kAllBoxes) an index
  //    range bounded by limit + 1 (the extra id tells whether more follow),
  //    past expired rows, merged.
  //  - sized: their running total of data bytes. octet_length() reads the
  //    size from a TOASTed value's header, not the value.
  //  - page: the candidates within the limit and the byte budget (the first
  //    always), the only payloads read.
  //  - oldest: the smallest id held on the channels, expired or not.
  // Columns 0-2 are the oldest id, the last committed id and whether more
  // rows follow; a page with no rows still yields one row.
  static const std::string* const sql = new std::string(absl::StrCat(
      "WITH c AS (SELECT unnest($1::text[]) AS channel),"
      " s(box) AS (VALUES ",
      absl::StrJoin(kAllBoxes, ", ",
                    [](std::string* out, int box) {
                      absl::StrAppend(out, "(", box, ")");
                    }),
      "),"
      " ids AS (SELECT p.id FROM c CROSS JOIN s CROSS JOIN LATERAL"
      " (SELECT n.id FROM notifications n WHERE n.channel = c.channel"
      " AND n.box = s.box AND n.id > $2",
      Live("n", 5),
      " ORDER BY n.id LIMIT $3 + 1)"
      " AS p ORDER BY p.id LIMIT $3 + 1),"
      " sized AS (SELECT ids.id, row_number() OVER w AS rn,"
      " sum(octet_length(n.data)) OVER w AS total"
      " FROM ids JOIN notifications n ON n.id = ids.id"
      " WINDOW w AS (ORDER BY ids.id ROWS UNBOUNDED PRECEDING)),"
      " page AS (SELECT id FROM sized WHERE rn <= $3"
      " AND (rn = 1 OR $4 = 0 OR total <= $4)),"
      " oldest AS (SELECT coalesce(min(f.id), 0) AS id"
      " FROM c CROSS JOIN s CROSS JOIN LATERAL"
      " (SELECT n.id FROM notifications n WHERE n.channel = c.channel"
      " AND n.box = s.box ORDER BY n.id LIMIT 1) AS f)"
      " SELECT oldest.id, (SELECT last_id FROM notify_id_counter),"
      " (SELECT count(*) FROM ids) > (SELECT count(*) FROM page), ",
      Columns("n"),
      " FROM oldest LEFT JOIN (page JOIN notifications n"
      " ON n.id = page.id) ON true ORDER BY n.id"));
  absl::StatusOr<PgResult> r = db.Query(
      *sql, {PgParam::TextArray(query.channels),
             PgParam::Int(ClampId(query.after_id)), PgParam::Int(query.limit),
             PgParam::Int(ClampId(query.max_bytes)), PgParam::Int(now_ms)});
  if (!r.ok()) return r.status();
  ReplayPage page;
  if (r->rows() > 0) {
    page.oldest_id = static_cast<uint64_t>(r->Int(0, 0));
    page.last_committed_id = static_cast<uint64_t>(r->Int(0, 1));
    page.more = r->Bool(0, 2);
  }
  for (int i = 0; i < r->rows(); ++i) {
    if (r->IsNull(i, 3)) continue;  // the empty page's row
    page.notifications.push_back(
        std::make_shared<const Notification>(RowAt(*r, i, 3)));
  }
  return page;
}

// Every channel's rows with after_id < id <= up_to_id, ascending, at most
// `limit`.
static absl::StatusOr<std::vector<std::shared_ptr<const Notification>>>
IdRangeRows(PgConnection& db, uint64_t after_id, uint64_t up_to_id,
            uint32_t limit) {
  static const std::string* const sql =
      new std::string(absl::StrCat("SELECT ", Columns("n"),
                                   " FROM notifications n WHERE n.id > $1"
                                   " AND n.id <= $2 ORDER BY n.id LIMIT $3"));
  absl::StatusOr<PgResult> r =
      db.Query(*sql, {PgParam::Int(ClampId(after_id)),
                      PgParam::Int(ClampId(up_to_id)), PgParam::Int(limit)});
  if (!r.ok()) return r.status();
  std::vector<std::shared_ptr<const Notification>> rows;
  rows.reserve(r->rows());
  for (int i = 0; i < r->rows(); ++i) {
    rows.push_back(std::make_shared<const Notification>(RowAt(*r, i)));
  }
  return rows;
}

static absl::StatusOr<uint64_t> ReadLastId(PgConnection& db) {
  // Raised in the same transaction as the rows it numbers, so every id up
  // to the committed value is committed (or was pruned).
  return OneInt(db.Query("SELECT last_id FROM notify_id_counter"));
}

// The kept counts, less what expired notifications not yet deleted add to
// them (a range of the expiry index that the expirer keeps short), in one
// statement and so one snapshot. Clamped at 0, like SQLite's.
static absl::StatusOr<Counts> CountsRow(PgConnection& db,
                                        const std::string& channel,
                                        int64_t now_ms) {
  absl::StatusOr<PgResult> r = db.Query(
      "SELECT greatest(0, coalesce(k.unread, 0) - e.unread),"
      " greatest(0, coalesce(k.unseen, 0) - e.unseen)"
      " FROM (SELECT count(*) FILTER (WHERE box = 0) AS unread,"
      " count(*) FILTER (WHERE seen_at_ms = 0) AS unseen"
      " FROM notifications WHERE expires_at_ms > 0 AND expires_at_ms <= $2"
      " AND channel = $1 AND box < 3) AS e"
      " LEFT JOIN inbox_counts k ON k.channel = $1",
      {PgParam::Text(channel), PgParam::Int(now_ms)});
  if (!r.ok()) return r.status();
  if (r->rows() != 1) return Counts{};
  return Counts{static_cast<uint64_t>(r->Int(0, 0)),
                static_cast<uint64_t>(r->Int(0, 1))};
}

static absl::StatusOr<bool> HasExpired(PgConnection& db, int64_t now_ms) {
  absl::StatusOr<PgResult> r = db.Query(
      "SELECT EXISTS (SELECT 1 FROM notifications WHERE expires_at_ms > 0"
      " AND expires_at_ms <= $1)",
      {PgParam::Int(now_ms)});
  if (!r.ok()) return r.status();
  return r->rows() == 1 && r->Bool(0, 0);
}

static absl::StatusOr<StoreStats> ReadStats(PgConnection& db) {
  // Tables, TOASTed payloads and indexes: the disk the store uses.
  absl::StatusOr<PgResult> r = db.Query(
      "SELECT (SELECT count(*) FROM notifications),"
      " pg_total_relation_size('notifications')"
      " + pg_total_relation_size('inbox_counts')");
  if (!r.ok()) return r.status();
  return StoreStats{.notifications = static_cast<uint64_t>(r->Int(0, 0)),
                    .bytes = static_cast<uint64_t>(r->Int(0, 1))};
}

static absl::StatusOr<bool> PingDatabase(PgConnection& db) {
  // Touches the table, so a database without the schema shows up.
  absl::StatusOr<PgResult> r = db.Query("SELECT 1 FROM notifications LIMIT 1");
  if (!r.ok()) return r.status();
  return true;
}

absl::StatusOr<std::vector<ChannelCut>> FindChannelCuts(PgConnection& db,
                                                        int64_t keep) {
  // Notifications only: records do not count towards max_per_channel, but
  // those up to a cut go with the notifications (DeleteChannelUpTo).
  absl::StatusOr<PgResult> over = db.Query(
      "SELECT channel FROM notifications WHERE box < 3 GROUP BY channel"
      " HAVING count(*) > $1",
      {PgParam::Int(keep)});
  if (!over.ok()) return over.status();
  std::vector<ChannelCut> cuts;
  for (int i = 0; i < over->rows(); ++i) {
    std::string channel = over->Bytes(i, 0);
    // The newest keep + 1 ids of each box, merged: the last is the cut.
    absl::StatusOr<PgResult> cut = db.Query(
        "SELECT p.id FROM (VALUES (0), (1), (2)) AS s(box) CROSS JOIN LATERAL"
        " (SELECT n.id FROM notifications n WHERE n.channel = $1"
        " AND n.box = s.box ORDER BY n.id DESC LIMIT $2) AS p"
        " ORDER BY p.id DESC OFFSET $3 LIMIT 1",
        {PgParam::Text(channel), PgParam::Int(keep + 1), PgParam::Int(keep)});
    if (!cut.ok()) return cut.status();
    if (cut->rows() == 0) continue;
    cuts.push_back({std::move(channel), cut->Int(0, 0)});
  }
  return cuts;
}

// After a failed read: whether the connection had dropped and is open again.
static bool ReadAgain(PgConnection& db) {
  return db.Broken() && db.EnsureOpen().ok();
}

std::unique_ptr<StoreReader> NewReader(std::unique_ptr<PgConnection> db) {
  return std::make_unique<QueryReader<PgConnection>>(std::move(db));
}

std::unique_ptr<WriteTransaction> NewTransaction(PgWriter& writer) {
  return std::make_unique<QueryTransaction<PgWriter>>(writer);
}

}  // namespace notifyd::storage
