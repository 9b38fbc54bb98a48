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
  // Notification id; 0 for control frames (comments, retry, reset, counts),
  // which are never deduplicated or counted as events.
  uint64_t id = 0;
  std::string bytes;
  // Where an inbox's `counts` event starts in `bytes` (npos: none), and the
  // id of the entry they are the counts after. A stream writes counts only
  // when they are newer than the last it wrote (docs/DESIGN.md, The inbox),
  // else the bytes before counts_at.
  size_t counts_at = std::string::npos;
  uint64_t counts_as_of = 0;
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

// Same, for a stored notification or record; the frame carries n.id. When
// the entry carries its inbox's counts, an `event: counts` follows in the
// same frame (see CountsFrame).
absl::StatusOr<FramePtr> EncodeNotification(const storage::Notification& n);

// "event: counts\ndata: {\"unread\":N,\"unseen\":M}\n\n", no id: line, as
// of entry `as_of_id`.
FramePtr CountsFrame(const storage::Counts& counts, uint64_t as_of_id);

// "retry: <ms>\n: connected\n\n": the first bytes of every stream.
std::string EncodePreamble(int retry_ms);

// "event: reset\ndata: <oldest_id>\n\n" (no id: line, so the browser's
// last-event-id is not moved by it).
FramePtr ResetFrame(uint64_t oldest_id);

// ": ping\n\n", one shared instance.
const FramePtr& PingFrame();

// What one stream writes of the frames it is given, in order: an inbox's
// counts only when they are as of a newer entry than the last it wrote
// (entries committed before the stream's first read arrive live after the
// counts that already include them), else the bytes before them. One per
// stream; not thread-safe.
class CountsCursor {
 public:
  // The bytes of `frame` to write; empty: none.
  absl::string_view BytesToWrite(const Frame& frame);

 private:
  uint64_t as_of_ = 0;
  bool written_ = false;
};

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_SSE_FRAME_H_
