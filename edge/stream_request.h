// Parsing of HTTP request targets, of the header rules every request must
// meet, and of the /v1/stream parameters (?channels=, ?last_event_id= /
// Last-Event-ID). No I/O, no Beast.
//
// Every error is INVALID_ARGUMENT (RESOURCE_EXHAUSTED for "too many
// channels", so the edge can count that limit) with a short message naming
// the offending parameter, header or value, meant to be sent back as the 400
// body. A value from the request is echoed only through EscapeForEcho, so
// every message is printable ASCII.
#ifndef NOTIFYD_EDGE_STREAM_REQUEST_H_
#define NOTIFYD_EDGE_STREAM_REQUEST_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace notifyd::edge {

// An origin-form target ("/path?query"), percent-decoded.
struct HttpTarget {
  std::string path;
  std::vector<std::pair<std::string, std::string>> params;

  // Value of the first `key` parameter, or nullptr.
  const std::string* Find(absl::string_view key) const;
};

absl::StatusOr<HttpTarget> ParseTarget(absl::string_view target);

// `text` made safe to echo in an error body: printable ASCII is kept, a
// backslash becomes "\\" and every other byte (control, DEL, non-ASCII)
// "\xNN", so what a client sent can neither end a line nor reach a
// terminal or a content sniffer as raw bytes, and the escaping is
// unambiguous. The result is printable ASCII.
std::string EscapeForEcho(absl::string_view text);

// One header field line of a request, as received (name in any case).
struct HeaderField {
  absl::string_view name;
  absl::string_view value;
};

// Header fields that decide who a request is for or what it reads, and
// Host: each may appear at most once. With "first wins" a proxy or filter
// that checks another copy and the edge would disagree about the request,
// so a repeat is INVALID_ARGUMENT ("header given more than once: <name>"),
// as for kSingleValuedParams. Cookie included: RFC 6265 §5.4 lets a client
// send one Cookie line only, and an HTTP/2 hop must join its cookie fields
// into one before forwarding over HTTP/1.1 (RFC 9113 §8.2.3).
inline constexpr absl::string_view kSingleValuedHeaders[] = {
    "Host", "Authorization", "Last-Event-ID", "Cookie"};

// The header rules of every request to the edge, whatever its path:
// - No Transfer-Encoding, whatever its value ("Transfer-Encoding not
//   accepted"). The edge accepts no request body; a coding other than a
//   final "chunked" would leave the body's bytes to be read as the next
//   request (smuggling, RFC 9112 §6.3), and a chunked body is refused the
//   same way so that every Transfer-Encoding gets one answer.
// - HTTP/1.1 and later: a Host field (HTTP/1.0 may omit it) whose value is
//   empty or a host[:port] (RFC 9112 §3.2).
// - kSingleValuedHeaders at most once each.
// `version` is 10 * major + minor (11 for HTTP/1.1), as Beast gives it.
absl::Status CheckRequestHeader(unsigned version,
                                absl::Span<const HeaderField> fields);

// "a,b,c" → {"a","b","c"}: empty items skipped, duplicates removed (first
// kept). Each name must be a valid channel (docs/DESIGN.md, "Names and
// validation") and must not use the reserved "user:" prefix (the user channel
// is implied by the identity). More than `max_channels` distinct names is
// RESOURCE_EXHAUSTED.
absl::StatusOr<std::vector<std::string>> ParseChannelList(absl::string_view csv,
                                                          size_t max_channels);

// A decimal uint64 (no sign, no spaces, no overflow). Empty means "none"
// (nullopt), as EventSource sends no id before it has seen one.
absl::StatusOr<std::optional<uint64_t>> ParseLastEventId(
    absl::string_view text);

struct StreamRequest {
  std::vector<std::string> channels;  // extra channels, validated
  std::optional<uint64_t> last_event_id;
  // Of the request's traceparent (common/trace_context.h), for the
  // stream's log lines; empty: none. Not parsed by ParseStreamRequest: the
  // caller sets it from the header.
  std::string trace_id;
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
