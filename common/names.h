// The naming rules that the gRPC API and the stream edge share
// (docs/DESIGN.md, Names and validation; Security): which user ids and channel
// names are valid, a user's own channel, and how a token's channel grants
// match. One definition, so a name the API accepts is exactly a name a stream
// may ask for.
//
// Pure functions over their arguments: thread-safe.
#ifndef NOTIFYD_COMMON_NAMES_H_
#define NOTIFYD_COMMON_NAMES_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace notifyd {

inline constexpr size_t kMaxUserIdBytes = 128;
inline constexpr size_t kMaxChannelBytes = 200;
inline constexpr absl::string_view kUserIdCharset = "[A-Za-z0-9._@:-]";
inline constexpr absl::string_view kChannelCharset = "[A-Za-z0-9._@:/-]";
// Channels that start with this belong to one user (NotifyUser writes them).
inline constexpr absl::string_view kUserChannelPrefix = "user:";

// Index of the first byte of `s` outside `charset_extra` and [A-Za-z0-9],
// or npos when there is none.
size_t FirstInvalidByte(absl::string_view s, absl::string_view charset_extra);

// 1-128 bytes of [A-Za-z0-9._@:-].
bool IsValidUserId(absl::string_view user_id);
inline constexpr absl::string_view kUserIdPunctuation = "._@:-";

// 1-200 bytes of [A-Za-z0-9._@:/-]. User channels are valid names too.
bool IsValidChannelName(absl::string_view channel);
inline constexpr absl::string_view kChannelPunctuation = "._@:/-";

// "user:<user_id>".
std::string UserChannel(absl::string_view user_id);

// True when one of `grants` names `channel` exactly, or ends in '*' and
// the rest is a prefix of it ("team/*" grants "team/a", not "team"). A lone
// "*" grants nothing: every grant names at least a prefix. Matching is
// byte for byte, so no other spelling of a name is granted.
bool ChannelGranted(const std::vector<std::string>& grants,
                    absl::string_view channel);

}  // namespace notifyd

#endif  // NOTIFYD_COMMON_NAMES_H_
