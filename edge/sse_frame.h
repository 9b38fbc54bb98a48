// Server-Sent Events wire encoding (WHATWG HTML, "event stream" format).
//
// A Frame is the encoded bytes of one SSE message plus the notification id it
// carries. Frames are immutable and shared (FramePtr): the hub encodes a
// notification once and every subscribed stream writes the same bytes.
//
// Pure functions, thread-safe, no I/O.
#ifndef NOTIFYD_EDGE_SSE_FRAME_H_
#define NOTIFYD_EDGE_SSE_FRAME_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "storage/notification.h"

namespace notifyd::edge {

struct Frame {
  // Notification id; 0 for control frames (comments, retry, reset), which
  // are never deduplicated or counted as events.
  uint64_t id = 0;
  std::string bytes;
};
using FramePtr = std::shared_ptr<const Frame>;

// "id: <id>\nevent: <event>\ndata: <line>\n...\n". The payload is split on
// CR, LF and CRLF so each line becomes one data: line, which is exactly how
// EventSource joins them back (with LF). An empty event omits the event:
// line (the browser then dispatches "message"). Fails with INVALID_ARGUMENT
// when `event` contains CR, LF or NUL: such a frame would be parsed as
// different fields, so it is never emitted. UTF-8 passes through untouched.
absl::StatusOr<std::string> EncodeEvent(uint64_t id, absl::string_view event,
                                        absl::string_view data);

// Same, for a stored notification; the frame carries n.id.
absl::StatusOr<FramePtr> EncodeNotification(const storage::Notification& n);

// "retry: <ms>\n: connected\n\n": the first bytes of every stream.
std::string EncodePreamble(int retry_ms);

// "event: reset\ndata: <oldest_id>\n\n" (no id: line, so the browser's
// last-event-id is not moved by it).
FramePtr ResetFrame(uint64_t oldest_id);

// ": ping\n\n", one shared instance.
const FramePtr& PingFrame();

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_SSE_FRAME_H_
