// W3C Trace Context (https://www.w3.org/TR/trace-context/): the trace id
// of a `traceparent` a caller sends on gRPC metadata or an HTTP request,
// which notifyd logs (`trace_id`) with the work the request caused and
// passes on the bus with what it publishes (docs/DESIGN.md, Logs and
// traces). notifyd joins the caller's trace in its logs only: it does not
// start spans or send traceparent on.
//
//   traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
//                version-trace_id (32 hex)-parent_id (16 hex)-flags (2 hex)
//
// Hex is lowercase; neither id may be all zeros; version ff is invalid.
// Version 00 is exactly 55 characters. A later version (01 to fe) may be
// longer, with a '-' after the flags, and is read as version 00 (as the
// specification asks). Anything else is malformed and ignored: the request
// is served as if it had no traceparent, and the value is never logged.
//
// Pure functions; thread-safe.
#ifndef NOTIFYD_COMMON_TRACE_CONTEXT_H_
#define NOTIFYD_COMMON_TRACE_CONTEXT_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace notifyd {

// Length of a trace id: 32 lowercase hex digits.
inline constexpr size_t kTraceIdLength = 32;

// The trace id of a well-formed traceparent value, as a view into it; ""
// when malformed. Looks at no more than the first 56 characters, whatever
// the value's length.
absl::string_view TraceIdFromTraceparent(absl::string_view traceparent);

// True for 32 lowercase hex digits, not all zeros.
bool IsValidTraceId(absl::string_view trace_id);

}  // namespace notifyd

#endif  // NOTIFYD_COMMON_TRACE_CONTEXT_H_
