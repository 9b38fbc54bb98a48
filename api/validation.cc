#include "api/validation.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace notifyd::api {
namespace {

// Checks length bounds and charset; `extra` lists allowed punctuation.
absl::Status ValidateName(absl::string_view field, absl::string_view value,
                          size_t max_bytes, absl::string_view extra,
                          absl::string_view charset_text) {
  if (value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  }
  if (value.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is ", value.size(),
                                                   " bytes; at most ",
                                                   max_bytes, " are allowed"));
  }
  if (size_t i = FirstInvalidByte(value, extra); i != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " has a character outside ", charset_text, " at byte ", i));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateUserId(absl::string_view field, absl::string_view value) {
  return ValidateName(field, value, kMaxUserIdBytes, kUserIdPunctuation,
                      kUserIdCharset);
}

absl::Status ValidatePublicChannel(absl::string_view field,
                                   absl::string_view value) {
  if (size_t star = value.find('*'); star != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " has '*' at byte ", star,
        ": wildcards are not supported (a token grants a prefix with one "
        "'*' after it, e.g. team/*)"));
  }
  if (absl::Status s = ValidateName(field, value, kMaxChannelBytes,
                                    kChannelPunctuation, kChannelCharset);
      !s.ok()) {
    return s;
  }
  if (absl::StartsWith(value, kUserChannelPrefix)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " may not start with \"user:\": use NotifyUser for users"));
  }
  return absl::OkStatus();
}

absl::Status ValidateEvent(absl::string_view field, absl::string_view value) {
  if (value.empty()) return absl::OkStatus();
  return ValidateName(field, value, kMaxEventBytes, "._-", "[A-Za-z0-9._-]");
}

absl::Status ValidateData(absl::string_view field, absl::string_view value,
                          size_t max_bytes) {
  if (value.size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is ", value.size(), " bytes; at most ", max_bytes,
                     " are allowed (--max_payload_bytes)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateIdempotencyKey(absl::string_view field,
                                    absl::string_view value) {
  if (value.size() > kMaxIdempotencyKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is ", value.size(), " bytes; at most ",
                     kMaxIdempotencyKeyBytes, " are allowed"));
  }
  if (value.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " may not contain NUL"));
  }
  return absl::OkStatus();
}

std::string EffectiveEvent(absl::string_view event) {
  return std::string(event.empty() ? kDefaultEvent : event);
}

}  // namespace notifyd::api
