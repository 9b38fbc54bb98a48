// The records an inbox's stream carries (notification.h: state and deletion
// records) as the write operations (write_ops.h, append_ops.h) commit them,
// through the primitives of WriteTransaction (store_backend.h). Written once
// for every database (docs/DESIGN.md, The inbox).
//
// Each call runs on the writer thread inside the batch's transaction; a
// failure leaves its operation to be undone by the savepoint or the batch's
// retry.
#ifndef NOTIFYD_STORAGE_WRITE_RECORDS_H_
#define NOTIFYD_STORAGE_WRITE_RECORDS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/inbox.h"
#include "storage/notification.h"
#include "storage/store_backend.h"

namespace notifyd::storage {

inline CountDelta Minus(CountDelta a, CountDelta b) {
  return {a.unread - b.unread, a.unseen - b.unseen};
}
inline CountDelta Plus(CountDelta a, CountDelta b) {
  return {a.unread + b.unread, a.unseen + b.unseen};
}

// Commits a record of `kind` (a state or a deletion record) on inbox
// `channel`, stamped `now_ms`, and returns it as the stream will carry it,
// with `counts` and the trace id of the request that caused it (empty:
// none; not stored).
absl::StatusOr<std::shared_ptr<const Notification>> InsertRecord(
    WriteTransaction& txn, const std::string& channel, Notification::Kind kind,
    std::string data, int64_t now_ms, Counts counts,
    const std::string& trace_id);

// Takes `rows` (deleted from inbox `channel`, not empty) out of its counts
// and commits the deletion record naming them, for the request of
// `trace_id` (as InsertRecord). On success *counts (when not null) holds
// the counts after.
absl::StatusOr<std::shared_ptr<const Notification>> RecordDeletion(
    WriteTransaction& txn, const std::string& channel,
    const WriteTransaction::Rows& rows, int64_t now_ms, Counts* counts,
    const std::string& trace_id);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_WRITE_RECORDS_H_
