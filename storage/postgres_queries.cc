#include "storage/postgres_queries.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "storage/flag_sql.h"
#include "storage/inbox.h"
#include "storage/postgres_push.h"
#include "storage/postgres_rows.h"

// The reads of the PostgreSQL store (postgres_queries.h); the writes are in
// postgres_writes.cc. The queries are static, not in the unnamed namespace,
// so that QueryReader finds them by argument-dependent lookup.
namespace notifyd::storage {

using pg_rows::ClampId;
using pg_rows::ClampIds;
using pg_rows::Columns;
using pg_rows::FlagRows;
using pg_rows::Live;
using pg_rows::OneInt;
using pg_rows::RowAt;
using pg_rows::SharedRows;

// --- Reads: each one statement, and so one snapshot.

static absl::StatusOr<std::vector<Notification>> ListRows(
    PgConnection& db, const ListQuery& query, int64_t now_ms) {
  // Each box of the filter is a range of the channel's index in id order:
  // read each (bounded by the limit, past expired rows) and merge, in one
  // statement and so one snapshot (a row changing box in between would
  // otherwise show in both ranges or in neither). The channel is compared
  // through a sub-select so that the planner does not see its value: for a
  // channel holding most rows it would otherwise walk the primary key
  // backwards past every newer row of other channels (170 ms for the first
  // page of a 1,000,000-row inbox under 320,000 newer rows, against 0.8 ms
  // on the (channel, box, id) index it then always picks).
  const FilterSql filter = ListFilterSql(query.filter);
  std::vector<std::string> ranges;
  for (int box : filter.boxes) {
    ranges.push_back(
        absl::StrCat("(SELECT ", Columns("n"),
                     " FROM notifications n WHERE n.channel = (SELECT $1::text)"
                     " AND n.box = ",
                     box, " AND n.id < $2", filter.condition, Live("n", 4),
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
  return SharedRows(
      db.Query(*sql, {PgParam::Int(ClampId(after_id)),
                      PgParam::Int(ClampId(up_to_id)), PgParam::Int(limit)}));
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

}  // namespace notifyd::storage
