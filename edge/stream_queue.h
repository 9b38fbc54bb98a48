// The outgoing queue of one SSE stream: merges replayed and live frames into
// one id-ordered sequence with no gap and no duplicate, bounds memory, and
// tells the writer when to wake. Beast-free so it can be tested alone.
//
// Life of a resumed stream:
//   BeginReplay(after)   (before the stream subscribes to the hub)
//   PushLive(...)*       live frames are HELD while replaying
//   PushReplay(...)*     pages read from the store, in id order
//   FinishReplay()       held frames with id > last replayed id are queued
//   PushLive(...)*       queued directly; ids <= last queued id are dropped
// A live-only stream skips the first four steps.
//
// Writer protocol: a Push* that returns kWake means the writer was idle and
// the caller must schedule it (post to the session strand). The writer then
// calls TakeBatch() until it returns false; between a kWake and that false,
// no other push returns kWake, so at most one write is ever in flight.
//
// Memory bound: queued + in-flight + held bytes above `max_bytes` makes the
// push return kOverflow and closes the queue: the subscriber is too slow and
// is disconnected rather than waited for (docs/DESIGN.md, "Limits").
//
// Threading: all methods are thread-safe (one small mutex). PushLive is
// called from the hub's publisher thread; everything else from the session
// strand.
#ifndef NOTIFYD_EDGE_STREAM_QUEUE_H_
#define NOTIFYD_EDGE_STREAM_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "edge/sse_frame.h"

namespace notifyd::edge {

class StreamQueue {
 public:
  enum class PushResult {
    kQueued,    // queued; a writer is already scheduled
    kWake,      // queued; caller must schedule the writer
    kHeld,      // held until FinishReplay()
    kDropped,   // duplicate (id already queued) or queue closed
    kOverflow,  // over max_bytes: the queue is now closed
  };

  explicit StreamQueue(size_t max_bytes) : max_bytes_(max_bytes) {}
  StreamQueue(const StreamQueue&) = delete;
  StreamQueue& operator=(const StreamQueue&) = delete;

  // `resume_after` is the client's Last-Event-ID: it already has every id
  // up to it, so live frames at or below it are dropped too. (With several
  // instances a client may have seen an id on another instance before this
  // one's bus delivers it.) It may be called again, with a higher value,
  // until the first replayed frame is pushed: the edge starts with 0 and
  // sets the floor once the store's first page says whether the client's
  // id is one this store handed out.
  void BeginReplay(uint64_t resume_after);
  // Notification frames from the hub (any thread).
  PushResult PushLive(const FramePtr& frame);
  // Frames read from the store, ascending ids; duplicates dropped.
  PushResult PushReplay(const FramePtr& frame);
  // Control frames (id 0: preamble, ping, reset): queued, never held.
  PushResult PushControl(const FramePtr& frame);
  // Ends the replay phase; returns kWake when held frames were queued and
  // the writer must be scheduled.
  PushResult FinishReplay();

  // Moves every queued frame into `out` (cleared first) and marks them in
  // flight. Returns false, and marks the writer idle, when nothing is queued.
  bool TakeBatch(std::vector<FramePtr>* out);

  // Stops accepting frames; later pushes return kDropped.
  void Close();

  bool closed() const;
  bool replaying() const;
  uint64_t last_id() const;  // highest notification id queued so far
  size_t pending_bytes() const;

 private:
  PushResult QueueLocked(const FramePtr& frame)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_bytes_;
  mutable absl::Mutex mu_;
  std::vector<FramePtr> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<FramePtr> held_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t in_flight_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t held_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_id_ ABSL_GUARDED_BY(mu_) = 0;
  bool writer_active_ ABSL_GUARDED_BY(mu_) = false;
  bool replaying_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_STREAM_QUEUE_H_
