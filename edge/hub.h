// The hub: which live streams listen on which channel, and fan-out of each
// published notification to them.
//
// Publish() encodes a notification ONCE into an immutable shared Frame and
// hands the same frame to every subscriber of its channel. Subscribers only
// queue it (and wake their own writer), so Publish never waits on a socket.
//
// Threading: thread-safe. The channel map is split into kShards shards by
// channel hash, each under its own reader/writer mutex, so publishing takes
// one shard's reader lock and never a global lock; subscribe and
// unsubscribe take the writer lock of the shards of their channels only.
// Publish is expected from one thread at a time (the store's commit order);
// each subscriber then sees frames in id order.
#ifndef NOTIFYD_EDGE_HUB_H_
#define NOTIFYD_EDGE_HUB_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "edge/sse_frame.h"
#include "storage/notification.h"

namespace notifyd::edge {

// A live stream as the hub sees it.
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  // Called on the publisher's thread, possibly under a hub shard lock: must
  // not block and must not call back into the Hub. Returns false when the
  // subscriber is closed (or just closed itself, e.g. on overflow); the hub
  // then stops delivering to it.
  virtual bool Deliver(const FramePtr& frame) = 0;
};

class Hub {
 public:
  static constexpr size_t kShards = 16;

  explicit Hub(Metrics& metrics);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Queues `n` to every subscriber of n->channel; returns how many accepted
  // it, and logs that at debug with n's id, channel and trace id. A
  // notification whose event name cannot be framed is logged and dropped
  // (returns 0); the store validated it, so this is a bug guard.
  size_t Publish(const std::shared_ptr<const storage::Notification>& n);

  // Registers `subscriber` on `channels` (distinct names). The hub keeps
  // only a weak reference. Every Subscribe must be paired with exactly one
  // Unsubscribe with the same channels, also after Deliver returned false.
  void Subscribe(const std::shared_ptr<Subscriber>& subscriber,
                 const std::vector<std::string>& channels);
  void Unsubscribe(const Subscriber* subscriber,
                   const std::vector<std::string>& channels);

  uint64_t Connections() const;  // subscribed (live or replaying) streams
  // Channels with the most subscribers, descending, at most n.
  std::vector<std::pair<std::string, uint64_t>> TopChannels(size_t n) const;
  // Notifications queued to streams by Publish, summed over streams.
  uint64_t DeliveredTotal() const;
  // Subscribers of one channel (for tests and stats).
  size_t SubscriberCount(const std::string& channel) const;

 private:
  using SubscriberMap =
      absl::flat_hash_map<const Subscriber*, std::weak_ptr<Subscriber>>;
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, SubscriberMap> channels
        ABSL_GUARDED_BY(mu);
  };

  Shard& ShardFor(const std::string& channel) const;
  // Publish's fan-out of `frame` to the subscribers of `channel`.
  size_t FanOut(const std::string& channel, const FramePtr& frame);
  // Removes entries whose subscriber is gone or refused a frame.
  void Prune(const std::string& channel,
             const std::vector<std::pair<const Subscriber*,
                                         std::weak_ptr<Subscriber>>>& dead);

  mutable std::array<Shard, kShards> shards_;
  std::atomic<uint64_t> connections_{0};
  Counter& published_;
  Counter& delivered_;
};

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_HUB_H_
