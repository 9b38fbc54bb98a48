// What one push is (RFC 8030): the subscription it goes to, the message
// (payload and the TTL, Urgency and Topic headers), and the outcome the
// sender reports. Plain data and pure functions: thread-safe.
#ifndef NOTIFYD_PUSH_PUSH_MESSAGE_H_
#define NOTIFYD_PUSH_PUSH_MESSAGE_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace notifyd::push {

// Longest TTL sent (4 weeks, what the large push services keep at most).
inline constexpr absl::Duration kMaxTtl = absl::Hours(24 * 28);
// Longest collapse key accepted (a Topic is derived from any length).
inline constexpr size_t kMaxCollapseKeyBytes = 256;
// RFC 8030 section 5.4: a Topic is at most 32 base64url characters.
inline constexpr size_t kMaxTopicChars = 32;

// A browser's PushSubscription, keys base64url-decoded.
struct Subscription {
  std::string endpoint;  // https URL (push/endpoint.h)
  std::string p256dh;    // the user agent's P-256 public key, 65 bytes
  std::string auth;      // the auth secret, 16 bytes
};

// A Subscription from what PushSubscription.toJSON() gives: the endpoint
// and the keys `p256dh` and `auth` in base64url (padding optional).
// INVALID_ARGUMENT when a key is not base64url; lengths and the endpoint
// are checked by Sender::Send.
absl::StatusOr<Subscription> SubscriptionFromJsonKeys(std::string endpoint,
                                                      absl::string_view p256dh,
                                                      absl::string_view auth);

enum class Urgency { kVeryLow, kLow, kNormal, kHigh };

struct Message {
  std::string payload;  // plaintext, at most kMaxPlaintextBytes (ece.h)
  // How long the push service keeps it for an offline browser: 0 to
  // kMaxTtl, sent in whole seconds.
  absl::Duration ttl = absl::Hours(24);
  Urgency urgency = Urgency::kNormal;
  // A later message with the same key replaces an undelivered earlier one
  // at the push service (the notification's collapse key); empty: none.
  std::string collapse_key;
};

// What became of a message, for the caller to act on.
enum class Outcome {
  kDelivered,  // 200, 201 or 202: the push service took it
  kGone,       // 404 or 410: the subscription is dead; remove it
  kRejected,   // another answer, or a refused endpoint: not retried
  kFailed,     // 429, 5xx or connection errors, retried until max_attempts
};
absl::string_view OutcomeName(Outcome outcome);

struct Result {
  Outcome outcome = Outcome::kFailed;
  int http_status = 0;  // of the last answer; 0 when there was none
  // Tries made: requests, and refusals by the SSRF guard; 0 when the
  // message never got that far (a key off the curve, a stop).
  int attempts = 0;
  // OK when delivered; otherwise why (the push service's status, the
  // connection error, the SSRF refusal, CANCELLED when the sender stopped).
  absl::Status status;
};

// OK when the message can be sent (payload size, ttl range, collapse key
// length); INVALID_ARGUMENT saying why otherwise.
absl::Status ValidateMessage(const Message& message);

// RFC 8030 Topic for a collapse key: the key itself when it is at most 32
// characters of the base64url alphabet, else the base64url of the first 24
// bytes of its SHA-256 (32 characters). Empty for an empty key.
std::string TopicFor(absl::string_view collapse_key);

// The request headers of a push (besides Authorization and the body's):
// TTL, Urgency, Topic (when there is a collapse key), Content-Encoding
// aes128gcm and Content-Type application/octet-stream.
std::vector<std::pair<std::string, std::string>> PushHeaders(
    const Message& message);

}  // namespace notifyd::push

#endif  // NOTIFYD_PUSH_PUSH_MESSAGE_H_
