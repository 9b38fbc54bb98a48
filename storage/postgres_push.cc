#include "storage/postgres_push.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/postgres_rows.h"

namespace notifyd::storage {
namespace {

using pg_rows::ClampId;
using pg_rows::ClampIds;
using pg_rows::Columns;
using pg_rows::Live;
using pg_rows::SharedRows;

// The columns of a subscription, in the order SubscriptionAt reads them.
constexpr char kSubscriptionColumns[] =
    "channel, endpoint, p256dh, auth, secret_sha256, created_at_ms";

PushSubscription SubscriptionAt(const PgResult& r, int row) {
  return PushSubscription{.channel = r.Bytes(row, 0),
                          .endpoint = r.Bytes(row, 1),
                          .p256dh = r.Bytes(row, 2),
                          .auth = r.Bytes(row, 3),
                          .secret_sha256 = r.Bytes(row, 4),
                          .created_at_ms = r.Int(row, 5)};
}

// The one subscription a query yields, or nullopt.
absl::StatusOr<std::optional<PushSubscription>> OneSubscription(
    absl::StatusOr<PgResult> r) {
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return std::optional<PushSubscription>();
  return std::optional<PushSubscription>(SubscriptionAt(*r, 0));
}

}  // namespace

absl::StatusOr<std::vector<PushSubscription>> PushSubscriptionRows(
    PgConnection& db, const std::string& channel) {
  absl::StatusOr<PgResult> r =
      db.Query(absl::StrCat("SELECT ", kSubscriptionColumns,
                            " FROM push_subscriptions WHERE channel = $1"
                            " ORDER BY created_at_ms, endpoint"),
               {PgParam::Text(channel)});
  if (!r.ok()) return r.status();
  std::vector<PushSubscription> rows;
  rows.reserve(r->rows());
  for (int i = 0; i < r->rows(); ++i) rows.push_back(SubscriptionAt(*r, i));
  return rows;
}

absl::StatusOr<std::optional<PushSubscription>> PushSubscriptionBySecretRow(
    PgConnection& db, const std::string& secret_sha256) {
  return OneSubscription(db.Query(
      absl::StrCat("SELECT ", kSubscriptionColumns,
                   " FROM push_subscriptions WHERE secret_sha256 = $1"),
      {PgParam::Bytes(secret_sha256)}));
}

absl::StatusOr<std::vector<std::shared_ptr<const Notification>>>
PushCandidateRows(PgConnection& db, const PushCandidatesQuery& query,
                  int64_t now_ms) {
  static const std::string* const sql = new std::string(absl::StrCat(
      "SELECT ", Columns("n"),
      " FROM notifications n WHERE n.id > $1 AND n.box = 0"
      " AND n.seen_at_ms = 0 AND n.created_at_ms <= $2",
      Live("n", 4),
      " AND EXISTS (SELECT 1 FROM push_subscriptions s"
      " WHERE s.channel = n.channel)"
      " AND NOT EXISTS (SELECT 1 FROM push_sent p WHERE p.id = n.id)"
      " ORDER BY n.id LIMIT $3"));
  return SharedRows(
      db.Query(*sql, {PgParam::Int(ClampId(query.after_id)),
                      PgParam::Int(query.created_at_or_before_ms),
                      PgParam::Int(query.limit), PgParam::Int(now_ms)}));
}

absl::StatusOr<std::optional<PushSubscription>> PushSubscriptionByEndpoint(
    PgWriter& writer, const std::string& endpoint) {
  return OneSubscription(writer.db.Query(
      absl::StrCat("SELECT ", kSubscriptionColumns,
                   " FROM push_subscriptions WHERE endpoint = $1"),
      {PgParam::Text(endpoint)}));
}

absl::StatusOr<uint64_t> CountPushSubscriptionsOf(PgWriter& writer,
                                                  const std::string& channel) {
  absl::StatusOr<PgResult> r = writer.db.Query(
      "SELECT count(*) FROM push_subscriptions WHERE channel = $1",
      {PgParam::Text(channel)});
  if (!r.ok()) return r.status();
  return r->rows() == 1 ? static_cast<uint64_t>(r->Int(0, 0)) : 0;
}

absl::Status UpsertPushSubscriptionRow(PgWriter& writer,
                                       const PushSubscription& s) {
  return writer.db
      .Query(
          absl::StrCat("INSERT INTO push_subscriptions (", kSubscriptionColumns,
                       ") VALUES ($1, $2, $3, $4, $5, $6)"
                       " ON CONFLICT (endpoint) DO UPDATE SET"
                       " channel = EXCLUDED.channel,"
                       " p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth,"
                       " secret_sha256 = EXCLUDED.secret_sha256,"
                       " created_at_ms = EXCLUDED.created_at_ms"),
          {PgParam::Text(s.channel), PgParam::Text(s.endpoint),
           PgParam::Bytes(s.p256dh), PgParam::Bytes(s.auth),
           PgParam::Bytes(s.secret_sha256), PgParam::Int(s.created_at_ms)})
      .status();
}

absl::StatusOr<bool> DeletePushSubscriptionRow(PgWriter& writer,
                                               const std::string& endpoint,
                                               const std::string& channel) {
  absl::StatusOr<PgResult> r = writer.db.Query(
      "DELETE FROM push_subscriptions WHERE endpoint = $1"
      " AND ($2 = '' OR channel = $2)",
      {PgParam::Text(endpoint), PgParam::Text(channel)});
  if (!r.ok()) return r.status();
  return r->AffectedRows() > 0;
}

absl::StatusOr<uint64_t> InsertPushedRows(PgWriter& writer,
                                          const std::vector<uint64_t>& ids,
                                          int64_t now_ms) {
  absl::StatusOr<PgResult> r = writer.db.Query(
      "INSERT INTO push_sent (id, pushed_at_ms)"
      " SELECT id, $2 FROM notifications"
      " WHERE id = ANY($1) AND box < 3 AND left(channel, 5) = 'user:'"
      " ON CONFLICT (id) DO NOTHING",
      {PgParam::IntArray(ClampIds(ids)), PgParam::Int(now_ms)});
  if (!r.ok()) return r.status();
  return r->AffectedRows();
}

}  // namespace notifyd::storage
