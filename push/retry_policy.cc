#include "push/retry_policy.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace notifyd::push {
namespace {

constexpr absl::Duration kLongest = absl::Hours(24 * 365 * 10);

}  // namespace

Outcome ClassifyHttpStatus(int status) {
  if (status == 200 || status == 201 || status == 202) {
    return Outcome::kDelivered;
  }
  if (status == 404 || status == 410) return Outcome::kGone;
  if (status == 429 || (status >= 500 && status <= 599)) {
    return Outcome::kFailed;
  }
  return Outcome::kRejected;
}

bool IsRetryableError(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status);
}

std::optional<absl::Duration> ParseRetryAfter(absl::string_view value,
                                              absl::Time now) {
  value = absl::StripAsciiWhitespace(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      })) {
    int64_t seconds = 0;
    if (value.size() > 10 || !absl::SimpleAtoi(value, &seconds)) {
      return kLongest;
    }
    return std::min(absl::Seconds(seconds), kLongest);
  }
  // asctime pads the day with a space ("Nov  6"): fold runs of spaces.
  std::string text;
  for (char c : value) {
    if (c != ' ' || text.empty() || text.back() != ' ') text.push_back(c);
  }
  static constexpr const char* kFormats[] = {
      "%a, %d %b %Y %H:%M:%S GMT",  // IMF-fixdate
      "%A, %d-%b-%y %H:%M:%S GMT",  // RFC 850
      "%a %b %d %H:%M:%S %Y",       // asctime
  };
  for (const char* format : kFormats) {
    absl::Time at;
    std::string error;
    if (absl::ParseTime(format, text, absl::UTCTimeZone(), &at, &error)) {
      return std::clamp(at - now, absl::ZeroDuration(), kLongest);
    }
  }
  return std::nullopt;
}

absl::Duration Backoff(int attempts, absl::Duration base, absl::Duration cap,
                       double jitter) {
  const int doublings = std::clamp(attempts - 1, 0, 62);
  absl::Duration step = base * std::ldexp(1.0, doublings);
  if (step > cap) step = cap;
  jitter = std::clamp(jitter, 0.0, 1.0);
  return step / 2 + (step / 2) * jitter;
}

}  // namespace notifyd::push
