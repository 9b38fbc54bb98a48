#include "push/push_message.h"

#include <openssl/sha.h>

#include <algorithm>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "push/ece.h"

namespace notifyd::push {
namespace {

bool IsBase64UrlChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
         c == '_';
}

absl::string_view UrgencyName(Urgency urgency) {
  switch (urgency) {
    case Urgency::kVeryLow:
      return "very-low";
    case Urgency::kLow:
      return "low";
    case Urgency::kNormal:
      return "normal";
    case Urgency::kHigh:
      return "high";
  }
  return "normal";
}

}  // namespace

absl::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kDelivered:
      return "delivered";
    case Outcome::kGone:
      return "gone";
    case Outcome::kRejected:
      return "rejected";
    case Outcome::kFailed:
      return "failed";
  }
  return "failed";
}

absl::StatusOr<Subscription> SubscriptionFromJsonKeys(std::string endpoint,
                                                      absl::string_view p256dh,
                                                      absl::string_view auth) {
  Subscription subscription;
  subscription.endpoint = std::move(endpoint);
  for (auto [name, text, out] :
       {std::make_tuple("p256dh", p256dh, &subscription.p256dh),
        std::make_tuple("auth", auth, &subscription.auth)}) {
    const bool alphabet = std::all_of(text.begin(), text.end(), [](char c) {
      return IsBase64UrlChar(c) || c == '=';
    });
    if (!alphabet || !absl::WebSafeBase64Unescape(text, out)) {
      return absl::InvalidArgumentError(
          absl::StrCat("subscription key ", name, " is not base64url"));
    }
  }
  return subscription;
}

absl::Status ValidateMessage(const Message& message) {
  if (message.payload.size() > kMaxPlaintextBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "push payload is ", message.payload.size(), " bytes; at most ",
        kMaxPlaintextBytes, " fit an encrypted push message"));
  }
  if (message.ttl < absl::ZeroDuration() || message.ttl > kMaxTtl) {
    return absl::InvalidArgumentError(absl::StrCat(
        "push TTL must be between 0 and ", absl::FormatDuration(kMaxTtl)));
  }
  if (message.collapse_key.size() > kMaxCollapseKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "push collapse key is longer than ", kMaxCollapseKeyBytes, " bytes"));
  }
  return absl::OkStatus();
}

std::string TopicFor(absl::string_view collapse_key) {
  if (collapse_key.size() <= kMaxTopicChars) {
    bool fits = true;
    for (char c : collapse_key) fits = fits && IsBase64UrlChar(c);
    if (fits) return std::string(collapse_key);
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(collapse_key.data()),
         collapse_key.size(), digest);
  // 24 bytes are exactly 32 base64 characters, without padding.
  return absl::WebSafeBase64Escape(absl::string_view(
      reinterpret_cast<const char*>(digest), kMaxTopicChars / 4 * 3));
}

std::vector<std::pair<std::string, std::string>> PushHeaders(
    const Message& message) {
  std::vector<std::pair<std::string, std::string>> headers = {
      {"TTL", absl::StrCat(absl::ToInt64Seconds(message.ttl))},
      {"Urgency", std::string(UrgencyName(message.urgency))},
      {"Content-Encoding", "aes128gcm"},
      {"Content-Type", "application/octet-stream"},
  };
  if (!message.collapse_key.empty()) {
    headers.emplace_back("Topic", TopicFor(message.collapse_key));
  }
  return headers;
}

}  // namespace notifyd::push
