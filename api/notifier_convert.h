// Conversions between the store's types and notify.v1 messages, shared by
// the Notifier's handler files (notifier_handlers.cc,
// notifier_inbox_handlers.cc). Pure functions: thread-safe.
#ifndef NOTIFYD_API_NOTIFIER_CONVERT_H_
#define NOTIFYD_API_NOTIFIER_CONVERT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/validation.h"
#include "notify/v1/notify.pb.h"
#include "storage/notification.h"
#include "storage/store.h"

namespace notifyd::api {

// Every field of a notification, its per-user state and lifecycle included
// (timestamps left absent when their time is 0).
void ToProto(const storage::Notification& n, notify::v1::Notification* out);

void ToProto(const storage::Counts& counts, notify::v1::Counts* out);

// Unix milliseconds as a Timestamp (negative times included).
void ToTimestamp(int64_t unix_ms, google::protobuf::Timestamp* out);

// The listing `filter` and `unread_only` ask for. INVALID_ARGUMENT for an
// enum value this server does not know, or unread_only with a filter other
// than FILTER_UNREAD or the default.
absl::StatusOr<storage::ListFilter> ToListFilter(notify::v1::Filter filter,
                                                 bool unread_only);

// The ids a deletion record names: its data is {"ids":[…]}
// (storage/inbox.h, DeletionRecordData). INTERNAL when it does not parse.
absl::StatusOr<std::vector<uint64_t>> RecordIds(absl::string_view data);

// The channel that a request's `target` oneof names: `user:<user_id>` or a
// named channel, each checked (api/validation.h); INVALID_ARGUMENT when
// neither is given.
template <typename Request>
absl::StatusOr<std::string> TargetChannel(const Request& request) {
  if (request.has_user_id()) {
    absl::Status valid = ValidateUserId("user_id", request.user_id());
    if (!valid.ok()) return valid;
    return UserChannel(request.user_id());
  }
  if (request.has_channel()) {
    absl::Status valid = ValidatePublicChannel("channel", request.channel());
    if (!valid.ok()) return valid;
    return request.channel();
  }
  return absl::InvalidArgumentError(
      "target: one of user_id or channel is required");
}

// OK when `count` ids fit one call (storage::kMaxChangeIds), else
// INVALID_ARGUMENT naming `field`; `more` is advice appended to it.
absl::Status ValidateIdCount(absl::string_view field, size_t count,
                             absl::string_view more);

}  // namespace notifyd::api

#endif  // NOTIFYD_API_NOTIFIER_CONVERT_H_
