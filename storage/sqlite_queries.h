// The SQL behind each Store call, as plain functions on a Connection.
//
// SqliteStore decides which thread and transaction a call runs in; these
// functions only talk to the database. Keeping them apart lets each side be
// read (and changed) without the other.
#ifndef NOTIFYD_STORAGE_SQLITE_QUERIES_H_
#define NOTIFYD_STORAGE_SQLITE_QUERIES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/sqlite_connection.h"
#include "storage/store.h"

namespace notifyd::storage {

// Writes; run on the writer connection inside its transaction.

// Returns the stored row for (channel, idempotency_key) as a duplicate, or
// inserts a new row stamped `now_ms`. Moves the strings out of `request`.
absl::StatusOr<AppendResult> InsertNotification(Connection& db,
                                                AppendRequest& request,
                                                int64_t now_ms);
// Returns how many rows went from unread to read.
absl::StatusOr<uint64_t> MarkRows(Connection& db,
                                  const MarkReadRequest& request);
// The deletes keep ids from being reused (see migration 0003) with a second
// statement, so run them where a failure undoes the whole op.
//
// Deletes the oldest rows in id order while they were created before
// `cutoff_ms`, at most `limit`. It stops at the first newer row, so after the
// clock was stepped back no row is deleted before it is old enough; the rows
// behind it wait until it is.
absl::StatusOr<uint64_t> DeleteOldestCreatedBefore(Connection& db,
                                                   int64_t cutoff_ms,
                                                   int64_t limit);
// Deletes at most `limit` rows of `channel` with ids up to `max_id`.
absl::StatusOr<uint64_t> DeleteChannelUpTo(Connection& db,
                                           const std::string& channel,
                                           int64_t max_id, int64_t limit);

// Reads; run on a read-only connection.

absl::StatusOr<std::vector<Notification>> ListRows(Connection& db,
                                                   const ListQuery& query);
// One page as Store::Replay describes it, in one read transaction: the
// candidate ids come from the channel index alone, and only the page's rows
// (and the first that did not fit in max_bytes) are read.
absl::StatusOr<ReplayPage> ReplayRows(Connection& db, ReplayQuery query);
// Every channel's rows with after_id < id <= up_to_id, ascending, at most
// `limit`.
absl::StatusOr<std::vector<std::shared_ptr<const Notification>>> IdRangeRows(
    Connection& db, uint64_t after_id, uint64_t up_to_id, uint32_t limit);
// The largest id ever stored: the newest row's, or the high-water mark when
// the newest rows were pruned.
absl::StatusOr<uint64_t> ReadLastId(Connection& db);
absl::StatusOr<uint64_t> CountUnread(Connection& db,
                                     const std::string& channel);
// `path` is the database file, to add the size of its WAL.
absl::StatusOr<StoreStats> ReadStats(Connection& db, const std::string& path);
absl::StatusOr<bool> PingDatabase(Connection& db);
// For each channel holding more than `keep` rows: the newest id that may be
// deleted so that `keep` rows remain.
absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> FindChannelCuts(
    Connection& db, int64_t keep);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_SQLITE_QUERIES_H_
