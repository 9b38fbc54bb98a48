// Validation of the public API's inputs (docs/DESIGN.md, Names and
// validation). Pure functions, no state:
// thread-safe. Each returns OK or INVALID_ARGUMENT with a message that starts
// with the offending field's name, so callers can show it as is.
#ifndef NOTIFYD_API_VALIDATION_H_
#define NOTIFYD_API_VALIDATION_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/names.h"
#include "storage/inbox.h"
#include "storage/store.h"

namespace notifyd::api {

using ::notifyd::kMaxChannelBytes;
using ::notifyd::kMaxUserIdBytes;
using ::notifyd::kUserChannelPrefix;
using ::notifyd::UserChannel;

inline constexpr size_t kMaxEventBytes = 64;
inline constexpr size_t kMaxIdempotencyKeyBytes = 128;
using ::notifyd::storage::kMaxCollapseKeyBytes;
inline constexpr absl::string_view kDefaultEvent = "notification";

// Event names nobody may publish under, on any channel: the events of the
// inbox's streams (storage/inbox.h: the records' "state" and "deleted", and
// "counts"; the edge's "reset").
inline constexpr absl::string_view kResetEvent = "reset";
inline constexpr absl::string_view kReservedEvents[] = {
    storage::kStateEvent, storage::kDeletedEvent, storage::kCountsEvent,
    kResetEvent};

// 1-128 bytes of [A-Za-z0-9._@:-].
absl::Status ValidateUserId(absl::string_view field, absl::string_view value);

// 1 to `max` distinct user ids, each valid as ValidateUserId says; a
// violation names the entry (`user_ids[7]`), and a repeat both entries.
absl::Status ValidateUserIds(absl::string_view field,
                             const std::vector<absl::string_view>& ids,
                             size_t max);

// 1-200 bytes of [A-Za-z0-9._@:/-], not starting with "user:". A '*' is
// refused as a wildcard ("wildcards are not supported"), before the charset.
absl::Status ValidatePublicChannel(absl::string_view field,
                                   absl::string_view value);

// Empty, or 1-64 bytes of [A-Za-z0-9._-], and none of kReservedEvents.
absl::Status ValidateEvent(absl::string_view field, absl::string_view value);

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
bool IsValidUtf8(absl::string_view s);

// OK when `value` is valid UTF-8, else INVALID_ARGUMENT "<field> is not
// valid UTF-8". The text fields below are checked with it: a gRPC request
// cannot carry anything else (proto3 strings), and an HTTP one must not
// store what a gRPC client could not read back.
absl::Status ValidateUtf8(absl::string_view field, absl::string_view value);

// At most max_bytes of UTF-8; any content.
absl::Status ValidateData(absl::string_view field, absl::string_view value,
                          size_t max_bytes);

// At most 128 bytes of UTF-8; any content but NUL.
absl::Status ValidateIdempotencyKey(absl::string_view field,
                                    absl::string_view value);

// Empty (none), or 1-128 bytes of UTF-8 without control characters (C0,
// DEL, and C1).
absl::Status ValidateCollapseKey(absl::string_view field,
                                 absl::string_view value);

// A google.protobuf.Timestamp given as `seconds` and `nanos`: valid (years
// 1-9999, nanos in [0, 1e9)), strictly after `now` and, when `retention`
// is not zero, no later than now + retention (a notification may not
// outlive the history that holds it). On success *expires_at_ms is the
// time in Unix milliseconds, rounded up.
absl::Status ValidateExpiresAt(absl::string_view field, int64_t seconds,
                               int32_t nanos, absl::Time now,
                               absl::Duration retention,
                               int64_t* expires_at_ms);

// The first failure of `checks` (validations run in order), or OK.
absl::Status FirstError(std::initializer_list<absl::Status> checks);

// The event name that is stored: `event`, or "notification" when empty.
std::string EffectiveEvent(absl::string_view event);

}  // namespace notifyd::api

#endif  // NOTIFYD_API_VALIDATION_H_
