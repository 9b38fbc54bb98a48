// Parsing of HTTP request targets and of the /v1/stream parameters
// (?channels=, ?last_event_id= / Last-Event-ID). No I/O, no Beast.
//
// Every error is INVALID_ARGUMENT (RESOURCE_EXHAUSTED for "too many
// channels", so the edge can count that limit) with a short message naming
// the offending parameter or value, meant to be sent back as the 400 body.
#ifndef NOTIFYD_EDGE_STREAM_REQUEST_H_
#define NOTIFYD_EDGE_STREAM_REQUEST_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace notifyd::edge {

// An origin-form target ("/path?query"), percent-decoded.
struct HttpTarget {
  std::string path;
  std::vector<std::pair<std::string, std::string>> params;

  // Value of the first `key` parameter, or nullptr.
  const std::string* Find(absl::string_view key) const;
};

absl::StatusOr<HttpTarget> ParseTarget(absl::string_view target);

// "a,b,c" → {"a","b","c"}: empty items skipped, duplicates removed (first
// kept). Each name must be a valid channel (SPEC §2) and must not use the
// reserved "user:" prefix (the user channel is implied by the identity).
// More than `max_channels` distinct names is RESOURCE_EXHAUSTED.
absl::StatusOr<std::vector<std::string>> ParseChannelList(absl::string_view csv,
                                                          size_t max_channels);

// A decimal uint64 (no sign, no spaces, no overflow). Empty means "none"
// (nullopt), as EventSource sends no id before it has seen one.
absl::StatusOr<std::optional<uint64_t>> ParseLastEventId(
    absl::string_view text);

struct StreamRequest {
  std::vector<std::string> channels;  // extra channels, validated
  std::optional<uint64_t> last_event_id;
};

// The Last-Event-ID header (when present) wins over ?last_event_id=: a
// reconnecting EventSource sends the header with its newest id while the
// URL still carries the id the page started from.
//
// A parameter that decides what the stream reads or who reads it
// (kSingleValuedParams) may appear at most once: with "first wins" a proxy
// or filter that checks the last copy and the edge would disagree about the
// request, so a repeat is INVALID_ARGUMENT instead.
inline constexpr absl::string_view kSingleValuedParams[] = {
    "channels", "last_event_id", "user", "access_token"};

absl::StatusOr<StreamRequest> ParseStreamRequest(
    const HttpTarget& target, std::optional<absl::string_view> last_event_id,
    size_t max_channels);

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_STREAM_REQUEST_H_
