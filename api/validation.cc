#include "api/validation.h"

#include "absl/container/flat_hash_map.h"
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

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t tail = 0;           // continuation bytes that follow
    unsigned char low = 0x80;  // bounds of the first of them
    unsigned char high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      tail = 1;
    } else if (lead == 0xE0) {
      tail = 2;
      low = 0xA0;
    } else if (lead == 0xED) {
      tail = 2;
      high = 0x9F;
    } else if (lead >= 0xE1 && lead <= 0xEF) {
      tail = 2;
    } else if (lead == 0xF0) {
      tail = 3;
      low = 0x90;
    } else if (lead == 0xF4) {
      tail = 3;
      high = 0x8F;
    } else if (lead >= 0xF1 && lead <= 0xF3) {
      tail = 3;
    } else {
      return false;
    }
    if (s.size() - i - 1 < tail) return false;
    for (size_t k = 1; k <= tail; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (b < (k == 1 ? low : 0x80) || b > (k == 1 ? high : 0xBF)) {
        return false;
      }
    }
    i += tail + 1;
  }
  return true;
}

absl::Status ValidateUserId(absl::string_view field, absl::string_view value) {
  return ValidateName(field, value, kMaxUserIdBytes, kUserIdPunctuation,
                      kUserIdCharset);
}

absl::Status ValidateUserIds(absl::string_view field,
                             const std::vector<absl::string_view>& ids,
                             size_t max) {
  if (ids.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must name at least one user"));
  }
  if (ids.size() > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " has ", ids.size(), " entries; at most ", max, " are allowed"));
  }
  absl::flat_hash_map<absl::string_view, size_t> seen;
  seen.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string entry = absl::StrCat(field, "[", i, "]");
    if (absl::Status s = ValidateUserId(entry, ids[i]); !s.ok()) return s;
    auto [it, inserted] = seen.emplace(ids[i], i);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          entry, " repeats ", field, "[", it->second, "] (\"", ids[i], "\")"));
    }
  }
  return absl::OkStatus();
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
  for (absl::string_view reserved : kReservedEvents) {
    if (value == reserved) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, " \"", value,
          "\" is reserved: state, deleted, counts and reset are the events "
          "of the inbox's streams"));
    }
  }
  return ValidateName(field, value, kMaxEventBytes, "._-", "[A-Za-z0-9._-]");
}

absl::Status ValidateData(absl::string_view field, absl::string_view value,
                          size_t max_bytes) {
  if (value.size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is ", value.size(), " bytes; at most ", max_bytes,
                     " are allowed (--max_payload_bytes)"));
  }
  return ValidateUtf8(field, value);
}

absl::Status ValidateUtf8(absl::string_view field, absl::string_view value) {
  if (IsValidUtf8(value)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, " is not valid UTF-8"));
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
  return ValidateUtf8(field, value);
}

absl::Status ValidateCollapseKey(absl::string_view field,
                                 absl::string_view value) {
  if (value.size() > kMaxCollapseKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is ", value.size(), " bytes; at most ",
                     kMaxCollapseKeyBytes, " are allowed"));
  }
  for (size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    // C1 controls U+0080-U+009F are 0xC2 0x80-0x9F in UTF-8.
    const bool c1 = c == 0xC2 && i + 1 < value.size() &&
                    static_cast<unsigned char>(value[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(value[i + 1]) <= 0x9F;
    if (c < 0x20 || c == 0x7F || c1) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " has a control character at byte ", i));
    }
  }
  return ValidateUtf8(field, value);
}

absl::Status ValidateExpiresAt(absl::string_view field, int64_t seconds,
                               int32_t nanos, absl::Time now,
                               absl::Duration retention,
                               int64_t* expires_at_ms) {
  // The range of google.protobuf.Timestamp: 0001-01-01 to 9999-12-31.
  constexpr int64_t kMinSeconds = -62135596800;
  constexpr int64_t kMaxSeconds = 253402300799;
  if (seconds < kMinSeconds || seconds > kMaxSeconds || nanos < 0 ||
      nanos > 999999999) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is not a valid timestamp (seconds ", seconds,
                     ", nanos ", nanos, ")"));
  }
  const absl::Time at =
      absl::FromUnixSeconds(seconds) + absl::Nanoseconds(nanos);
  if (at <= now) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is ", absl::FormatTime(at, absl::UTCTimeZone()),
                     ", not in the future (now is ",
                     absl::FormatTime(now, absl::UTCTimeZone()), ")"));
  }
  if (retention > absl::ZeroDuration() && at > now + retention) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " is ", absl::FormatTime(at, absl::UTCTimeZone()),
        ", beyond the retention of ", absl::FormatDuration(retention),
        " (--retention): at most ",
        absl::FormatTime(now + retention, absl::UTCTimeZone())));
  }
  *expires_at_ms = absl::ToUnixMillis(
      absl::Ceil(at - absl::UnixEpoch(), absl::Milliseconds(1)) +
      absl::UnixEpoch());
  return absl::OkStatus();
}

std::string EffectiveEvent(absl::string_view event) {
  return std::string(event.empty() ? kDefaultEvent : event);
}

absl::Status FirstError(std::initializer_list<absl::Status> checks) {
  for (const absl::Status& s : checks) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace notifyd::api
