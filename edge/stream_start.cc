#include "edge/stream_start.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/status/statusor.h"
#include "edge/sse_frame.h"

namespace notifyd::edge {
namespace {

// Folds one push's result into `step`.
void Note(StreamQueue::PushResult r, StreamStart::Step& step) {
  if (r == StreamQueue::PushResult::kWake) step.wake = true;
  if (r == StreamQueue::PushResult::kOverflow) step.overflow = true;
}

}  // namespace

StreamStart::StreamStart(std::optional<uint64_t> last_event_id, Limits limits)
    : limits_(limits),
      resuming_(last_event_id.has_value()),
      last_event_id_(last_event_id.value_or(0)) {}

storage::ReplayQuery StreamStart::NextQuery(
    const std::vector<std::string>& channels, const StreamQueue& queue) const {
  storage::ReplayQuery q;
  q.counts_channel = channels.front();
  if (!resuming_) {
    // No rows: only the counts, and the newest id they are as of.
    q.channels = {channels.front()};
    q.after_id = std::numeric_limits<uint64_t>::max();
    q.limit = 0;
    return q;
  }
  q.channels = channels;
  q.after_id = std::max(last_event_id_, queue.last_id());
  q.limit = std::max<uint32_t>(1, limits_.replay_page);
  // Half the queue's bound: the page fits beside the live frames held
  // meanwhile, so replay alone never makes a reader a slow consumer.
  q.max_bytes = std::max<uint64_t>(1, limits_.max_queue_bytes / 2);
  return q;
}

StreamStart::Step StreamStart::OnPage(const storage::ReplayPage& page,
                                      StreamQueue& queue) {
  Step step;
  if (resuming_ && first_page_) {
    if (last_event_id_ > page.last_committed_id) {
      // An id this store never handed out: the client's history is from
      // another store (a new or restored database). It refetches its list
      // on the reset, and goes on live from the store's newest id.
      Note(queue.PushControl(ResetFrame(page.oldest_id)), step);
      last_event_id_ = page.last_committed_id;
    } else if (page.oldest_id > 0 && last_event_id_ + 1 < page.oldest_id) {
      Note(queue.PushControl(ResetFrame(page.oldest_id)), step);
    }
    // Live frames up to here are dropped as ones the client has. Nothing
    // with an id has been queued yet, so the floor may still move.
    queue.BeginReplay(last_event_id_);
  }
  first_page_ = false;
  // Replayed entries come without counts; each page's counts are read
  // after it, so they cover it (the first are the stream's first event).
  // The writer leaves out counts older than the last it wrote.
  if (page.counts.has_value()) {
    Note(queue.PushControl(CountsFrame(*page.counts, page.last_committed_id)),
         step);
  }
  if (!resuming_) return step;
  step.more = page.more;
  bool queued_one = false;
  for (const auto& n : page.notifications) {
    absl::StatusOr<FramePtr> frame = EncodeNotification(*n);
    if (!frame.ok()) {
      last_event_id_ = std::max(last_event_id_, n->id);  // never sendable
      continue;
    }
    // What would pass the queue's bound (live frames held meanwhile, or
    // framing bigger than the data) waits for the next page, read once the
    // queue has drained. The first frame always goes, so the replay moves
    // on.
    if (queued_one && queue.pending_bytes() + (*frame)->bytes.size() >
                          limits_.max_queue_bytes) {
      step.more = true;
      break;
    }
    StreamQueue::PushResult r = queue.PushReplay(*frame);
    if (r == StreamQueue::PushResult::kDropped) continue;
    Note(r, step);
    if (step.overflow) return step;
    queued_one = true;
    ++step.replayed;
  }
  return step;
}

}  // namespace notifyd::edge
