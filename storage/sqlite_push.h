// The Web Push queries of the SQLite store (push.h; migration 0005): the
// push primitives of WriteTransaction and the push reads of StoreReader
// (store_backend.h), with the names QueryReader and QueryTransaction find by
// argument-dependent lookup. sqlite_queries.cc (reads) and sqlite_writes.cc
// (writes) include it. Each runs on the connection of the thread that
// calls it.
#ifndef NOTIFYD_STORAGE_SQLITE_PUSH_H_
#define NOTIFYD_STORAGE_SQLITE_PUSH_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/notification.h"
#include "storage/push.h"
#include "storage/sqlite_connection.h"

namespace notifyd::storage {

// --- Reads.
absl::StatusOr<std::vector<PushSubscription>> PushSubscriptionRows(
    Connection& db, const std::string& channel);
absl::StatusOr<std::optional<PushSubscription>> PushSubscriptionBySecretRow(
    Connection& db, const std::string& secret_sha256);
// Walks the primary key up from query.after_id (never the channel index,
// which would read every unseen row of every subscribed user to sort them).
absl::StatusOr<std::vector<std::shared_ptr<const Notification>>>
PushCandidateRows(Connection& db, const PushCandidatesQuery& query,
                  int64_t now_ms);

// --- Writes, in the writer's transaction.
absl::StatusOr<std::optional<PushSubscription>> PushSubscriptionByEndpoint(
    Connection& db, const std::string& endpoint);
absl::StatusOr<uint64_t> CountPushSubscriptionsOf(Connection& db,
                                                  const std::string& channel);
absl::Status UpsertPushSubscriptionRow(Connection& db,
                                       const PushSubscription& subscription);
absl::StatusOr<bool> DeletePushSubscriptionRow(Connection& db,
                                               const std::string& endpoint,
                                               const std::string& channel);
absl::StatusOr<uint64_t> InsertPushedRows(Connection& db,
                                          const std::vector<uint64_t>& ids,
                                          int64_t now_ms);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_SQLITE_PUSH_H_
