// The plaintext of a Web Push message for one notification (README, "The
// payload"): what the service worker (web/sw.js) shows. A JSON object of
// strings, at most kMaxPushPayloadBytes:
//
//   {"id":"42","event":"…","title":"…","body":"…","icon":"…","url":"…",
//    "tag":"<collapse key>","created_at":"<RFC 3339>"}
//
// When the notification's data is a JSON object, title, body, icon and url
// are its string members of those names (other members are left out); when
// it is anything else, or an object with neither title nor body, body is
// the data as text. Members that would be empty are left out; id and
// created_at are always there.
//
// Limits, so the whole always fits: title is shortened to
// kMaxPushTitleBytes, icon and url longer than kMaxPushUrlBytes are left out
// (half a URL is no URL), and body is shortened to what is left. Shortened
// text ends with "…" and is cut between UTF-8 characters. Sizes are of the
// JSON text, escapes included. A pure function: thread-safe.
#ifndef NOTIFYD_SERVER_PUSH_PAYLOAD_H_
#define NOTIFYD_SERVER_PUSH_PAYLOAD_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "storage/notification.h"

namespace notifyd::server {

// Below the 3,993 bytes RFC 8291 leaves in a 4,096-byte push message.
inline constexpr size_t kMaxPushPayloadBytes = 3000;
inline constexpr size_t kMaxPushTitleBytes = 256;
inline constexpr size_t kMaxPushUrlBytes = 512;

std::string PushPayload(const storage::Notification& notification);

// The longest prefix of `text`, cut between UTF-8 characters, whose JSON
// string escape is at most `max_escaped` bytes once "…" is added: `text`
// itself when it fits whole. For the payload and its tests.
std::string ShortenForJson(absl::string_view text, size_t max_escaped);

}  // namespace notifyd::server

#endif  // NOTIFYD_SERVER_PUSH_PAYLOAD_H_
