#include "storage/write_records.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace notifyd::storage {
namespace {

// The sum of what `rows` added to their inbox's counts, negated: what
// deleting them takes away.
CountDelta Removed(const WriteTransaction::Rows& rows) {
  CountDelta delta;
  for (const FlagRow& row : rows) delta = Minus(delta, Contribution(row));
  return delta;
}

std::vector<uint64_t> SortedIds(const WriteTransaction::Rows& rows) {
  std::vector<uint64_t> ids;
  ids.reserve(rows.size());
  for (const FlagRow& row : rows) ids.push_back(row.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Notification>> InsertRecord(
    WriteTransaction& txn, const std::string& channel, Notification::Kind kind,
    std::string data, int64_t now_ms, Counts counts,
    const std::string& trace_id) {
  AppendRequest request;
  request.channel = channel;
  request.event = std::string(
      kind == Notification::Kind::kStateRecord ? kStateEvent : kDeletedEvent);
  request.data = std::move(data);
  absl::StatusOr<uint64_t> id = txn.InsertRow(request, now_ms, kind);
  if (!id.ok()) return id.status();
  auto record = std::make_shared<Notification>();
  record->id = *id;
  record->channel = std::move(request.channel);
  record->event = std::move(request.event);
  record->data = std::move(request.data);
  record->created_at_ms = now_ms;
  record->kind = kind;
  record->has_counts = true;
  record->counts = counts;
  record->trace_id = trace_id;
  return record;
}

absl::StatusOr<std::shared_ptr<const Notification>> RecordDeletion(
    WriteTransaction& txn, const std::string& channel,
    const WriteTransaction::Rows& rows, int64_t now_ms, Counts* counts,
    const std::string& trace_id) {
  absl::StatusOr<Counts> after = txn.AddCounts(channel, Removed(rows));
  if (!after.ok()) return after.status();
  if (counts != nullptr) *counts = *after;
  return InsertRecord(txn, channel, Notification::Kind::kDeletionRecord,
                      DeletionRecordData(SortedIds(rows)), now_ms, *after,
                      trace_id);
}

}  // namespace notifyd::storage
