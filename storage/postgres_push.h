// The Web Push queries of the PostgreSQL store (push.h; migration
// postgres/0003): the push primitives of WriteTransaction, on the writer
// inside its batch transaction, and the push reads of StoreReader
// (store_backend.h), with the names QueryReader and QueryTransaction find by
// argument-dependent lookup. postgres_queries.cc (reads) and
// postgres_writes.cc (writes) include it.
#ifndef NOTIFYD_STORAGE_POSTGRES_PUSH_H_
#define NOTIFYD_STORAGE_POSTGRES_PUSH_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/notification.h"
#include "storage/postgres_connection.h"
#include "storage/postgres_queries.h"
#include "storage/push.h"

namespace notifyd::storage {

// --- Reads, each one statement.
absl::StatusOr<std::vector<PushSubscription>> PushSubscriptionRows(
    PgConnection& db, const std::string& channel);
absl::StatusOr<std::optional<PushSubscription>> PushSubscriptionBySecretRow(
    PgConnection& db, const std::string& secret_sha256);
// Walks the primary key up from query.after_id.
absl::StatusOr<std::vector<std::shared_ptr<const Notification>>>
PushCandidateRows(PgConnection& db, const PushCandidatesQuery& query,
                  int64_t now_ms);

// --- Writes, in the batch transaction (which holds the id counter's lock,
// so no other instance's batch changes a subscription in between).
absl::StatusOr<std::optional<PushSubscription>> PushSubscriptionByEndpoint(
    PgWriter& writer, const std::string& endpoint);
absl::StatusOr<uint64_t> CountPushSubscriptionsOf(PgWriter& writer,
                                                  const std::string& channel);
absl::Status UpsertPushSubscriptionRow(PgWriter& writer,
                                       const PushSubscription& subscription);
absl::StatusOr<bool> DeletePushSubscriptionRow(PgWriter& writer,
                                               const std::string& endpoint,
                                               const std::string& channel);
absl::StatusOr<uint64_t> InsertPushedRows(PgWriter& writer,
                                          const std::vector<uint64_t>& ids,
                                          int64_t now_ms);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_POSTGRES_PUSH_H_
