#include "edge/stream_queue.h"

#include <algorithm>
#include <utility>

namespace notifyd::edge {

void StreamQueue::BeginReplay(uint64_t resume_after) {
  absl::MutexLock lock(&mu_);
  replaying_ = true;
  last_id_ = std::max(last_id_, resume_after);
}

StreamQueue::PushResult StreamQueue::QueueLocked(const FramePtr& frame) {
  if (closed_) return PushResult::kDropped;
  if (queued_bytes_ + in_flight_bytes_ + held_bytes_ + frame->bytes.size() >
      max_bytes_) {
    closed_ = true;
    return PushResult::kOverflow;
  }
  queue_.push_back(frame);
  queued_bytes_ += frame->bytes.size();
  if (frame->id != 0) last_id_ = frame->id;
  if (writer_active_) return PushResult::kQueued;
  writer_active_ = true;
  return PushResult::kWake;
}

StreamQueue::PushResult StreamQueue::PushLive(const FramePtr& frame) {
  absl::MutexLock lock(&mu_);
  if (closed_) return PushResult::kDropped;
  if (replaying_) {
    // Held frames count against the bound too: a replay that never ends
    // must not let live traffic grow without limit.
    if (queued_bytes_ + in_flight_bytes_ + held_bytes_ + frame->bytes.size() >
        max_bytes_) {
      closed_ = true;
      return PushResult::kOverflow;
    }
    held_.push_back(frame);
    held_bytes_ += frame->bytes.size();
    return PushResult::kHeld;
  }
  if (frame->id <= last_id_) return PushResult::kDropped;
  return QueueLocked(frame);
}

StreamQueue::PushResult StreamQueue::PushReplay(const FramePtr& frame) {
  absl::MutexLock lock(&mu_);
  if (frame->id <= last_id_) return PushResult::kDropped;
  return QueueLocked(frame);
}

StreamQueue::PushResult StreamQueue::PushControl(const FramePtr& frame) {
  absl::MutexLock lock(&mu_);
  return QueueLocked(frame);
}

StreamQueue::PushResult StreamQueue::FinishReplay() {
  absl::MutexLock lock(&mu_);
  replaying_ = false;
  std::vector<FramePtr> held;
  held.swap(held_);
  held_bytes_ = 0;
  PushResult result = PushResult::kQueued;
  for (const FramePtr& frame : held) {
    // The replay already covered everything up to last_id_ from the store;
    // held frames at or below it are the duplicates we promised to drop.
    if (frame->id <= last_id_) continue;
    PushResult r = QueueLocked(frame);
    if (r == PushResult::kOverflow) return r;
    if (r == PushResult::kWake) result = r;
  }
  return result;
}

bool StreamQueue::TakeBatch(std::vector<FramePtr>* out) {
  out->clear();
  absl::MutexLock lock(&mu_);
  in_flight_bytes_ = 0;
  if (queue_.empty()) {
    writer_active_ = false;
    return false;
  }
  writer_active_ = true;
  out->swap(queue_);
  in_flight_bytes_ = queued_bytes_;
  queued_bytes_ = 0;
  return true;
}

void StreamQueue::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  held_.clear();
  held_bytes_ = 0;
}

bool StreamQueue::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

bool StreamQueue::replaying() const {
  absl::MutexLock lock(&mu_);
  return replaying_;
}

uint64_t StreamQueue::last_id() const {
  absl::MutexLock lock(&mu_);
  return last_id_;
}

size_t StreamQueue::pending_bytes() const {
  absl::MutexLock lock(&mu_);
  return queued_bytes_ + in_flight_bytes_ + held_bytes_;
}

}  // namespace notifyd::edge
