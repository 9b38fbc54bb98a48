// The inbox model shared by every store (docs/DESIGN.md, The inbox): which
// channels are inboxes, what counts a notification adds to, and the records
// a change leaves in the channel's stream.
//
// A user's inbox is their `user:` channel. Each notification in it has
// per-user state: seen, read and archived, each the time it was set (0 =
// not set). Unread = neither read nor archived; unseen = not seen. The
// counts of each inbox are kept, in the same commit as every change, by the
// write operations (write_ops.h) through the primitives of
// WriteTransaction (store_backend.h).
#ifndef NOTIFYD_STORAGE_INBOX_H_
#define NOTIFYD_STORAGE_INBOX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "storage/notification.h"

namespace notifyd::storage {

inline constexpr absl::string_view kInboxPrefix = "user:";

// Whether `channel` is an inbox, with per-user state and counts.
inline bool IsInbox(absl::string_view channel) {
  return channel.substr(0, kInboxPrefix.size()) == kInboxPrefix;
}

// The event names of the records (notification.h). Nobody else may publish
// under them, nor under kCountsEvent, which the edge sends beside them.
inline constexpr absl::string_view kStateEvent = "state";
inline constexpr absl::string_view kDeletedEvent = "deleted";
inline constexpr absl::string_view kCountsEvent = "counts";

// One of the flags of per-user state.
enum class Flag { kSeen, kRead, kArchived };

// A notification's state as a write left it (changed) or found it
// (deleted). `channel` is filled by the deletes that span channels.
struct FlagRow {
  uint64_t id = 0;
  std::string channel;
  int64_t seen_at_ms = 0;
  int64_t read_at_ms = 0;
  int64_t archived_at_ms = 0;
  bool record = false;
};

// What a notification with this state adds to its inbox's counts (a record
// adds nothing).
struct CountDelta {
  int64_t unread = 0;
  int64_t unseen = 0;
  bool empty() const { return unread == 0 && unseen == 0; }
};
CountDelta Contribution(const FlagRow& row);

// The index range ("box") a notification lies in, which listings seek by:
// 0 unread, 1 read, 2 archived, 3 a record. Stored beside the flags.
int BoxOf(int64_t read_at_ms, int64_t archived_at_ms);
inline constexpr int kRecordBox = 3;

// The data of a state record: {"ids":[…]} and/or {"up_to_id":N}, then the
// flags that were set, e.g. {"ids":[4,7],"seen":true,"read":true}.
std::string StateRecordData(const std::vector<uint64_t>& ids, uint64_t up_to_id,
                            bool seen, const bool* read, const bool* archived);

// The data of a deletion record: {"ids":[…]}.
std::string DeletionRecordData(const std::vector<uint64_t>& ids);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_INBOX_H_
