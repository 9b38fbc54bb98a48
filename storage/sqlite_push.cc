#include "storage/sqlite_push.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/sqlite_rows.h"

namespace notifyd::storage {
namespace {

using sqlite_rows::ClampId;
using sqlite_rows::JsonIds;
using sqlite_rows::kColumns;
using sqlite_rows::ReadRow;

// The columns of a subscription, in the order ReadSubscription reads them.
constexpr char kSubscriptionColumns[] =
    "channel, endpoint, p256dh, auth, secret_sha256, created_at_ms";

PushSubscription ReadSubscription(Statement& stmt) {
  return PushSubscription{.channel = stmt.ColumnText(0),
                          .endpoint = stmt.ColumnText(1),
                          .p256dh = stmt.ColumnText(2),
                          .auth = stmt.ColumnText(3),
                          .secret_sha256 = stmt.ColumnText(4),
                          .created_at_ms = stmt.ColumnInt(5)};
}

// The one subscription whose `column` is `value` (bound as a blob when
// `blob`), or nullopt.
absl::StatusOr<std::optional<PushSubscription>> OneSubscription(
    Connection& db, const char* column, const std::string& value, bool blob) {
  absl::StatusOr<Statement> stmt = db.Prepare(
      absl::StrCat("SELECT ", kSubscriptionColumns,
                   " FROM push_subscriptions WHERE ", column, " = ?1"));
  if (!stmt.ok()) return stmt.status();
  if (blob) {
    stmt->BindBlob(1, value);
  } else {
    stmt->BindText(1, value);
  }
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<PushSubscription>();
  return std::optional<PushSubscription>(ReadSubscription(*stmt));
}

}  // namespace

absl::StatusOr<std::vector<PushSubscription>> PushSubscriptionRows(
    Connection& db, const std::string& channel) {
  absl::StatusOr<Statement> stmt =
      db.Prepare(absl::StrCat("SELECT ", kSubscriptionColumns,
                              " FROM push_subscriptions WHERE channel = ?1"
                              " ORDER BY created_at_ms, endpoint"));
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, channel);
  std::vector<PushSubscription> rows;
  for (;;) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return rows;
    rows.push_back(ReadSubscription(*stmt));
  }
}

absl::StatusOr<std::optional<PushSubscription>> PushSubscriptionBySecretRow(
    Connection& db, const std::string& secret_sha256) {
  return OneSubscription(db, "secret_sha256", secret_sha256, /*blob=*/true);
}

absl::StatusOr<std::vector<std::shared_ptr<const Notification>>>
PushCandidateRows(Connection& db, const PushCandidatesQuery& query,
                  int64_t now_ms) {
  // The unary + keeps SQLite off the channel and expiry indexes: in id
  // order from after_id, each row is checked as it comes, and the walk
  // stops at the limit.
  absl::StatusOr<Statement> stmt = db.Prepare(absl::StrCat(
      "SELECT ", kColumns,
      " FROM notifications n WHERE n.id > ?1 AND +n.box = 0"
      " AND +n.seen_at_ms = 0 AND +n.created_at_ms <= ?2"
      " AND (+n.expires_at_ms = 0 OR +n.expires_at_ms > ?4)"
      " AND +n.channel IN (SELECT channel FROM push_subscriptions)"
      " AND NOT EXISTS (SELECT 1 FROM push_sent p WHERE p.id = n.id)"
      " ORDER BY n.id LIMIT ?3"));
  if (!stmt.ok()) return stmt.status();
  stmt->BindInt(1, ClampId(query.after_id));
  stmt->BindInt(2, query.created_at_or_before_ms);
  stmt->BindInt(3, query.limit);
  stmt->BindInt(4, now_ms);
  std::vector<std::shared_ptr<const Notification>> rows;
  for (;;) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return rows;
    rows.push_back(std::make_shared<const Notification>(ReadRow(*stmt)));
  }
}

absl::StatusOr<std::optional<PushSubscription>> PushSubscriptionByEndpoint(
    Connection& db, const std::string& endpoint) {
  return OneSubscription(db, "endpoint", endpoint, /*blob=*/false);
}

absl::StatusOr<uint64_t> CountPushSubscriptionsOf(Connection& db,
                                                  const std::string& channel) {
  absl::StatusOr<Statement> stmt =
      db.Prepare("SELECT count(*) FROM push_subscriptions WHERE channel = ?1");
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, channel);
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  return *row ? static_cast<uint64_t>(stmt->ColumnInt(0)) : 0;
}

absl::Status UpsertPushSubscriptionRow(Connection& db,
                                       const PushSubscription& s) {
  absl::StatusOr<Statement> stmt = db.Prepare(
      absl::StrCat("INSERT OR REPLACE INTO push_subscriptions (",
                   kSubscriptionColumns, ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, s.channel);
  stmt->BindText(2, s.endpoint);
  stmt->BindBlob(3, s.p256dh);
  stmt->BindBlob(4, s.auth);
  stmt->BindBlob(5, s.secret_sha256);
  stmt->BindInt(6, s.created_at_ms);
  return stmt->Run();
}

absl::StatusOr<bool> DeletePushSubscriptionRow(Connection& db,
                                               const std::string& endpoint,
                                               const std::string& channel) {
  absl::StatusOr<Statement> stmt = db.Prepare(
      "DELETE FROM push_subscriptions WHERE endpoint = ?1"
      " AND (?2 = '' OR channel = ?2)");
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, endpoint);
  stmt->BindText(2, channel);
  if (absl::Status s = stmt->Run(); !s.ok()) return s;
  return db.Changes() > 0;
}

absl::StatusOr<uint64_t> InsertPushedRows(Connection& db,
                                          const std::vector<uint64_t>& ids,
                                          int64_t now_ms) {
  absl::StatusOr<Statement> stmt = db.Prepare(
      "INSERT OR IGNORE INTO push_sent (id, pushed_at_ms)"
      " SELECT id, ?2 FROM notifications"
      " WHERE id IN (SELECT value FROM json_each(?1)) AND box < 3"
      " AND substr(channel, 1, 5) = 'user:'");
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, JsonIds(ids));
  stmt->BindInt(2, now_ms);
  if (absl::Status s = stmt->Run(); !s.ok()) return s;
  return static_cast<uint64_t>(db.Changes());
}

}  // namespace notifyd::storage
