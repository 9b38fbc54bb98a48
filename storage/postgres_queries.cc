#include "storage/postgres_queries.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

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

// The columns every row query selects, in the order RowAt reads them.
std::string Columns(absl::string_view table) {
  return absl::StrCat(table, ".id, ", table, ".channel, ", table, ".event, ",
                      table, ".created_at_ms, ", table, ".read, ", table,
                      ".data");
}

Notification RowAt(const PgResult& r, int row, int first_column = 0) {
  Notification n;
  n.id = static_cast<uint64_t>(r.Int(row, first_column));
  n.channel = r.Bytes(row, first_column + 1);
  n.event = r.Bytes(row, first_column + 2);
  n.created_at_ms = r.Int(row, first_column + 3);
  n.read = r.Bool(row, first_column + 4);
  n.data = r.Bytes(row, first_column + 5);
  return n;
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

absl::StatusOr<uint64_t> Affected(absl::StatusOr<PgResult> r) {
  if (!r.ok()) return r.status();
  return r->AffectedRows();
}

}  // namespace

// --- Writes

// Returns the stored row for (channel, idempotency_key) as a duplicate, or
// inserts a new row stamped `now_ms` with the next id. One round trip.
static absl::StatusOr<Inserted> InsertNotification(PgWriter& writer,
                                                   const AppendRequest& r,
                                                   int64_t now_ms) {
  const int64_t id = writer.last_id + 1;
  absl::StatusOr<PgResult> result;
  if (r.idempotency_key.empty()) {
    result = writer.db.Query(
        "INSERT INTO notifications (id, channel, event, created_at_ms, data)"
        " VALUES ($1, $2, $3, $4, $5)",
        {PgParam::Int(id), PgParam::Text(r.channel), PgParam::Text(r.event),
         PgParam::Int(now_ms), PgParam::Bytes(r.data)});
  } else {
    // The stored row when the key was seen (a repeat earlier in this batch
    // is seen too), else the INSERT.
    static const std::string* const sql = new std::string(absl::StrCat(
        "WITH existing AS (SELECT ", Columns("n"),
        " FROM notifications n"
        " WHERE n.channel = $2 AND n.idempotency_key = $6),"
        " inserted AS (INSERT INTO notifications"
        " (id, channel, event, created_at_ms, idempotency_key, data)"
        " SELECT $1, $2, $3, $4, $6, $5"
        " WHERE NOT EXISTS (SELECT 1 FROM existing))"
        " SELECT * FROM existing"));
    result = writer.db.Query(
        *sql, {PgParam::Int(id), PgParam::Text(r.channel),
               PgParam::Text(r.event), PgParam::Int(now_ms),
               PgParam::Bytes(r.data), PgParam::Text(r.idempotency_key)});
  }
  if (!result.ok()) return result.status();
  if (result->rows() > 0) {  // a duplicate takes no id
    auto original = std::make_shared<const Notification>(RowAt(*result, 0));
    const uint64_t original_id = original->id;
    return Inserted{original_id, std::move(original), /*duplicate=*/true};
  }
  writer.last_id = id;
  return Inserted{static_cast<uint64_t>(id), nullptr, /*duplicate=*/false};
}

// One statement, so it changes all or nothing. Returns how many rows went
// from unread to read.
static absl::StatusOr<uint64_t> MarkRows(PgWriter& writer,
                                         const MarkReadRequest& request) {
  std::vector<int64_t> ids;
  ids.reserve(request.ids.size());
  for (uint64_t id : request.ids) ids.push_back(ClampId(id));
  // "read = false" keeps an id named twice, or also covered by up_to_id,
  // from counting twice; the channel condition ignores other channels' ids.
  return Affected(writer.db.Query(
      "UPDATE notifications SET read = true"
      " WHERE channel = $1 AND read = false"
      " AND (id <= $2 OR id = ANY($3))",
      {PgParam::Text(request.channel), PgParam::Int(ClampId(request.up_to_id)),
       PgParam::IntArray(ids)}));
}

// The oldest rows in id order while they were created before `cutoff_ms`,
// at most `limit`: it stops at the first newer row.
static absl::StatusOr<uint64_t> DeleteOldestCreatedBefore(PgWriter& writer,
                                                          int64_t cutoff_ms,
                                                          int64_t limit) {
  return Affected(writer.db.Query(
      "WITH oldest AS (SELECT id, created_at_ms FROM notifications"
      " ORDER BY id LIMIT $2),"
      " stop AS (SELECT min(id) AS id FROM oldest"
      " WHERE created_at_ms >= $1)"
      " DELETE FROM notifications WHERE id IN (SELECT id FROM oldest"
      " WHERE id < coalesce((SELECT id FROM stop),"
      " 9223372036854775807))",
      {PgParam::Int(cutoff_ms), PgParam::Int(limit)}));
}

// At most `limit` rows of `channel` with ids up to `max_id`.
static absl::StatusOr<uint64_t> DeleteChannelUpTo(PgWriter& writer,
                                                  const std::string& channel,
                                                  int64_t max_id,
                                                  int64_t limit) {
  // "read IN" lets the index seek to the id bound in both ranges.
  return Affected(writer.db.Query(
      "DELETE FROM notifications WHERE id IN (SELECT id"
      " FROM notifications WHERE channel = $1 AND read IN (false, true)"
      " AND id <= $2 LIMIT $3)",
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

// --- Reads

static absl::StatusOr<std::vector<Notification>> ListRows(
    PgConnection& db, const ListQuery& query) {
  // A channel's unread and read rows are two ranges of the index, each in
  // id order: read both (bounded by the limit) and merge, in one statement
  // and so one snapshot.
  auto range = [](absl::string_view read) {
    return absl::StrCat("(SELECT ", Columns("n"),
                        " FROM notifications n WHERE n.channel = $1"
                        " AND n.read = ",
                        read, " AND n.id < $2 ORDER BY n.id DESC LIMIT $3)");
  };
  std::string sql = absl::StrCat("SELECT * FROM (", range("false"),
                                 query.unread_only ? "" : " UNION ALL ",
                                 query.unread_only ? "" : range("true"),
                                 ") AS page ORDER BY id DESC LIMIT $3");
  const uint64_t before = query.before_id == 0
                              ? std::numeric_limits<uint64_t>::max()
                              : query.before_id;
  absl::StatusOr<PgResult> r =
      db.Query(sql, {PgParam::Text(query.channel),
                     PgParam::Int(ClampId(before)), PgParam::Int(query.limit)});
  if (!r.ok()) return r.status();
  std::vector<Notification> rows;
  rows.reserve(r->rows());
  for (int i = 0; i < r->rows(); ++i) rows.push_back(RowAt(*r, i));
  return rows;
}

// One page as Store::Replay describes it (channels distinct); only the
// page's payloads are read.
static absl::StatusOr<ReplayPage> ReplayRows(PgConnection& db,
                                             const ReplayQuery& query) {
  // One statement, so one snapshot: the page, oldest_id and
  // last_committed_id agree.
  //  - ids: the page's candidates, per channel and read state an index
  //    range bounded by limit + 1 (the extra id tells whether more follow),
  //    merged.
  //  - sized: their running total of data bytes. octet_length() reads the
  //    size from a TOASTed value's header, not the value.
  //  - page: the candidates within the limit and the byte budget (the first
  //    always), the only payloads read.
  // Columns 0-2 are the oldest id, the last committed id and whether more
  // rows follow; a page with no rows still yields one row.
  static const std::string* const sql = new std::string(absl::StrCat(
      "WITH c AS (SELECT unnest($1::text[]) AS channel),"
      " s(read) AS (VALUES (false), (true)),"
      " ids AS (SELECT p.id FROM c CROSS JOIN s CROSS JOIN LATERAL"
      " (SELECT n.id FROM notifications n WHERE n.channel = c.channel"
      " AND n.read = s.read AND n.id > $2 ORDER BY n.id LIMIT $3 + 1)"
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
      " AND n.read = s.read ORDER BY n.id LIMIT 1) AS f)"
      " SELECT oldest.id, (SELECT last_id FROM notify_id_counter),"
      " (SELECT count(*) FROM ids) > (SELECT count(*) FROM page), ",
      Columns("n"),
      " FROM oldest LEFT JOIN (page JOIN notifications n"
      " ON n.id = page.id) ON true ORDER BY n.id"));
  absl::StatusOr<PgResult> r = db.Query(
      *sql, {PgParam::TextArray(query.channels),
             PgParam::Int(ClampId(query.after_id)), PgParam::Int(query.limit),
             PgParam::Int(ClampId(query.max_bytes))});
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

static absl::StatusOr<uint64_t> CountUnread(PgConnection& db,
                                            const std::string& channel) {
  return OneInt(db.Query(
      "SELECT count(*) FROM notifications WHERE channel = $1 AND read = false",
      {PgParam::Text(channel)}));
}

static absl::StatusOr<StoreStats> ReadStats(PgConnection& db) {
  // Table, TOASTed payloads and indexes: the disk the store uses.
  absl::StatusOr<PgResult> r = db.Query(
      "SELECT (SELECT count(*) FROM notifications),"
      " pg_total_relation_size('notifications')");
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
  absl::StatusOr<PgResult> over = db.Query(
      "SELECT channel FROM notifications GROUP BY channel"
      " HAVING count(*) > $1",
      {PgParam::Int(keep)});
  if (!over.ok()) return over.status();
  std::vector<ChannelCut> cuts;
  for (int i = 0; i < over->rows(); ++i) {
    std::string channel = over->Bytes(i, 0);
    absl::StatusOr<PgResult> cut = db.Query(
        "SELECT id FROM ("
        "(SELECT id FROM notifications WHERE channel = $1 AND read = false"
        " ORDER BY id DESC LIMIT $2) UNION ALL"
        " (SELECT id FROM notifications WHERE channel = $1 AND read = true"
        " ORDER BY id DESC LIMIT $2)) AS newest"
        " ORDER BY id DESC OFFSET $3 LIMIT 1",
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
