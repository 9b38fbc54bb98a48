#include "edge/sse_frame.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace notifyd::edge {

absl::StatusOr<std::string> EncodeEvent(uint64_t id, absl::string_view event,
                                        absl::string_view data) {
  if (event.find_first_of(absl::string_view("\r\n\0", 3)) !=
      absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "SSE event name must not contain CR, LF or NUL");
  }
  std::string out;
  // Header lines plus one "data: " prefix per line of payload (estimate).
  out.reserve(32 + event.size() + data.size() + 8);
  absl::StrAppend(&out, "id: ", id, "\n");
  if (!event.empty()) absl::StrAppend(&out, "event: ", event, "\n");
  // Every line terminator (CRLF, lone CR, lone LF) ends one data: line. An
  // empty payload is still one (empty) data: line so the event dispatches.
  size_t start = 0;
  while (true) {
    size_t end = data.find_first_of("\r\n", start);
    absl::StrAppend(&out, "data: ",
                    data.substr(start, end == absl::string_view::npos
                                           ? absl::string_view::npos
                                           : end - start),
                    "\n");
    if (end == absl::string_view::npos) break;
    start = end + 1;
    if (data[end] == '\r' && start < data.size() && data[start] == '\n') {
      ++start;
    }
  }
  out += "\n";
  return out;
}

namespace {

std::string CountsEvent(const storage::Counts& counts) {
  return absl::StrCat("event: counts\ndata: {\"unread\":", counts.unread,
                      ",\"unseen\":", counts.unseen, "}\n\n");
}

}  // namespace

absl::StatusOr<FramePtr> EncodeNotification(const storage::Notification& n) {
  absl::StatusOr<std::string> bytes = EncodeEvent(n.id, n.event, n.data);
  if (!bytes.ok()) return bytes.status();
  Frame frame{n.id, *std::move(bytes)};
  if (n.has_counts) {
    frame.counts_at = frame.bytes.size();
    frame.counts_as_of = n.id;
    frame.bytes += CountsEvent(n.counts);
  }
  return std::make_shared<const Frame>(std::move(frame));
}

FramePtr CountsFrame(const storage::Counts& counts, uint64_t as_of_id) {
  return std::make_shared<const Frame>(
      Frame{0, CountsEvent(counts), /*counts_at=*/0, as_of_id});
}

std::string EncodePreamble(int retry_ms) {
  return absl::StrCat("retry: ", retry_ms, "\n: connected\n\n");
}

FramePtr ResetFrame(uint64_t oldest_id) {
  return std::make_shared<const Frame>(
      Frame{0, absl::StrCat("event: reset\ndata: ", oldest_id, "\n\n")});
}

const FramePtr& PingFrame() {
  static const FramePtr* const kPing =
      new FramePtr(std::make_shared<const Frame>(Frame{0, ": ping\n\n"}));
  return *kPing;
}

absl::string_view CountsCursor::BytesToWrite(const Frame& frame) {
  if (frame.counts_at == std::string::npos) return frame.bytes;
  if (written_ && frame.counts_as_of <= as_of_) {
    return absl::string_view(frame.bytes).substr(0, frame.counts_at);
  }
  written_ = true;
  as_of_ = frame.counts_as_of;
  return frame.bytes;
}

}  // namespace notifyd::edge
