// What an SSE stream reads from the store before it goes live, and how it
// queues it (docs/DESIGN.md, The replay path and The inbox): Beast-free,
// so the logic is tested without sockets (tests/edge/stream_start_test.cc).
//
// Every stream starts with a store read while its StreamQueue holds live
// frames (StreamQueue::BeginReplay):
//  - a fresh stream reads only its user's counts, as of the newest id;
//  - a resuming stream (Last-Event-ID) reads pages of what it missed, each
//    bounded by rows and by half the queue's bytes, with the counts read
//    after each page. The first page decides whether to send `reset`
//    (history older than the client's id was pruned, or the id is from
//    another store) and sets the floor of ids the client already has.
// The stream asks NextQuery(), reads the store, hands the page to OnPage()
// and, while OnPage says `more`, reads the next page once the queue has
// drained; when it says done, the stream calls StreamQueue::FinishReplay().
//
// Threading: one stream's strand; not thread-safe.
#ifndef NOTIFYD_EDGE_STREAM_START_H_
#define NOTIFYD_EDGE_STREAM_START_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "edge/stream_queue.h"
#include "storage/store.h"

namespace notifyd::edge {

class StreamStart {
 public:
  struct Limits {
    uint32_t replay_page = 500;        // rows per page (at least 1)
    size_t max_queue_bytes = 1 << 20;  // the stream queue's bound
  };

  // What OnPage queued, for the stream to act on.
  struct Step {
    bool wake = false;      // a push returned kWake: schedule the writer
    bool overflow = false;  // the queue overflowed: cut the stream
    bool more = false;      // read the next page once the queue drained
    uint64_t replayed = 0;  // notification and record frames queued
  };

  // `last_event_id` is the client's, absent for a fresh stream.
  StreamStart(std::optional<uint64_t> last_event_id, Limits limits);

  bool resuming() const { return resuming_; }

  // The next store read of a stream on `channels` (its user's own first;
  // the stream keeps them, so every stream does not hold a second copy);
  // `queue` tells where the replay stands.
  storage::ReplayQuery NextQuery(const std::vector<std::string>& channels,
                                 const StreamQueue& queue) const;

  // Queues what `page` (the answer to NextQuery) holds into `queue`:
  // reset, counts, and the page's frames within the queue's bound.
  Step OnPage(const storage::ReplayPage& page, StreamQueue& queue);

 private:
  const Limits limits_;
  const bool resuming_;
  // The client's id, moved past rows that were read but never queued (so
  // no page is read twice for them) and, for another store's id, to the
  // store's newest.
  uint64_t last_event_id_;
  bool first_page_ = true;
};

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_STREAM_START_H_
