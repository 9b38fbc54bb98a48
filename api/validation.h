// Validation of the public API's inputs (docs/DESIGN.md, Names and
// validation). Pure functions, no state:
// thread-safe. Each returns OK or INVALID_ARGUMENT with a message that starts
// with the offending field's name, so callers can show it as is.
#ifndef NOTIFYD_API_VALIDATION_H_
#define NOTIFYD_API_VALIDATION_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/names.h"

namespace notifyd::api {

using ::notifyd::kMaxChannelBytes;
using ::notifyd::kMaxUserIdBytes;
using ::notifyd::kUserChannelPrefix;
using ::notifyd::UserChannel;

inline constexpr size_t kMaxEventBytes = 64;
inline constexpr size_t kMaxIdempotencyKeyBytes = 128;
inline constexpr absl::string_view kDefaultEvent = "notification";

// 1-128 bytes of [A-Za-z0-9._@:-].
absl::Status ValidateUserId(absl::string_view field, absl::string_view value);

// 1-200 bytes of [A-Za-z0-9._@:/-], not starting with "user:". A '*' is
// refused as a wildcard ("wildcards are not supported"), before the charset.
absl::Status ValidatePublicChannel(absl::string_view field,
                                   absl::string_view value);

// Empty, or 1-64 bytes of [A-Za-z0-9._-].
absl::Status ValidateEvent(absl::string_view field, absl::string_view value);

// At most max_bytes; any content.
absl::Status ValidateData(absl::string_view field, absl::string_view value,
                          size_t max_bytes);

// At most 128 bytes; any content but NUL.
absl::Status ValidateIdempotencyKey(absl::string_view field,
                                    absl::string_view value);

// The event name that is stored: `event`, or "notification" when empty.
std::string EffectiveEvent(absl::string_view event);

}  // namespace notifyd::api

#endif  // NOTIFYD_API_VALIDATION_H_
