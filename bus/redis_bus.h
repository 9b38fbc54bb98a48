// RedisBus: the Bus of several notifyd instances sharing one database.
// Each notification published on any instance reaches the listeners (the
// SSE hub) of every instance, each in strict, dense id order with no
// duplicate: Redis pub/sub carries the messages, and an OrderedDelivery
// (bus/ordered_delivery.h) puts them in order and reads from the store
// what Redis lost (an outage, a full queue, an instance that crashed
// between commit and publish).
//
// Publish(n) never waits on the network: it queues the message for the
// publisher thread (bounded; overflow is counted and logged, and the other
// instances then fill from the store), and offers n to this instance's
// sequencer directly, so local streams never wait for a Redis round trip.
// Messages carry a random origin id per bus; the subscriber ignores its own.
//
// Threads (owned, joined by Close): `bus-redis-pub` sends queued messages
// (pipelined, in call order), `bus-redis-sub` reads the subscription, and
// `bus-timer` runs the sequencer's timers. The blocking hiredis API on
// threads of our own keeps each connection's state on one thread and needs
// no event loop; the subscriber polls its socket with an eventfd so Close
// wakes it at once. Both sides reconnect with backoff (one warning per
// outage); after resubscribing, a catch-up fill reads up to the store's
// last committed id, since what was published meanwhile is gone.
//
// Listeners run on the subscriber thread, a Publish caller or a store
// thread, one at a time (see OrderedDelivery).
#ifndef NOTIFYD_BUS_REDIS_BUS_H_
#define NOTIFYD_BUS_REDIS_BUS_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bus/bus.h"
#include "bus/ordered_delivery.h"
#include "bus/redis_url.h"
#include "common/log_limiter.h"

struct redisContext;

namespace notifyd::bus {

struct RedisBusOptions {
  std::string url;  // redis://[[user]:password@]host[:port][/db]
  std::string channel = "notifyd:notifications";
  // In production Store::ReadIdRange and Store::LastCommittedId.
  OrderedDeliveryOptions::FillFunction fill;
  OrderedDeliveryOptions::LastCommittedFunction last_committed_id;
  absl::Duration gap_timeout = absl::Milliseconds(100);
  absl::Duration check_interval = absl::Seconds(1);
  size_t max_publish_queue = 100000;  // messages waiting for Redis
  absl::Duration connect_timeout = absl::Seconds(2);
  absl::Duration command_timeout = absl::Seconds(5);
  absl::Duration max_backoff = absl::Seconds(2);
};

struct RedisBusStats {
  uint64_t sent = 0;              // PUBLISH commands Redis acknowledged
  uint64_t queue_overflow = 0;    // messages dropped before reaching Redis
  uint64_t received = 0;          // messages from other instances
  uint64_t malformed = 0;         // messages dropped as unreadable
  uint64_t reconnects = 0;        // subscriptions re-established
  OrderedDeliveryStats delivery;  // this instance's sequencer
};

class RedisBus final : public Bus {
 public:
  ~RedisBus() override;  // Close()
  RedisBus(const RedisBus&) = delete;
  RedisBus& operator=(const RedisBus&) = delete;

  // Connects both sides, subscribes and waits for the confirmation, THEN
  // reads the last committed id and releases from the next one (so no
  // committed id can fall between). UNAVAILABLE naming host:port (never the
  // password) when Redis cannot be reached, or the store cannot answer.
  // Call once, after AddListener; blocks (up to a few timeouts), so never
  // on a store thread.
  absl::Status Start();

  void AddListener(Listener listener) override;
  // The live streams it was queued to when released at once, else 0 (it
  // waits for an earlier id, or another thread is delivering).
  size_t Publish(std::shared_ptr<const storage::Notification> n) override;

  // Connected and subscribed (for /readyz).
  bool Healthy() const;
  // Stops the threads; later publishes are dropped. Idempotent; returns at
  // once unless a thread is inside a blocking connect or command (then
  // within connect_timeout / command_timeout).
  void Close();

  RedisBusStats Stats() const;
  uint64_t origin() const { return origin_; }

 private:
  friend absl::StatusOr<std::unique_ptr<RedisBus>> NewRedisBus(
      RedisBusOptions options);
  RedisBus(RedisBusOptions options, RedisEndpoint endpoint);

  // A connected (and authenticated) context, or the error in *error.
  redisContext* Connect(std::string* error) const;
  bool Subscribe(redisContext* c, std::string* error) const;
  void PublisherLoop(redisContext* c);
  void SubscriberLoop(redisContext* c);
  void TimerLoop();
  // Reads what the socket holds; false when the connection is lost.
  bool ReadMessages(redisContext* c);
  void HandleMessage(absl::string_view payload);
  bool Stopping() const;
  // Sleeps up to `d`; false when Close was called.
  bool WaitUnlessStopping(absl::Duration d);

  const RedisBusOptions options_;
  const RedisEndpoint endpoint_;
  const uint64_t origin_;
  const std::shared_ptr<OrderedDelivery> delivery_;
  LogLimiter malformed_log_;
  LogLimiter overflow_log_;
  int wake_fd_ = -1;  // eventfd: wakes the subscriber's poll on Close

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Waiting for the publisher thread, which encodes them.
  std::deque<std::shared_ptr<const storage::Notification>> queue_
      ABSL_GUARDED_BY(mu_);
  absl::CondVar queue_cv_;  // queue_ grew or stopping_ turned true
  uint64_t queue_overflow_ ABSL_GUARDED_BY(mu_) = 0;

  std::atomic<bool> publisher_up_{false};
  std::atomic<bool> subscribed_{false};
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> malformed_{0};
  std::atomic<uint64_t> reconnects_{0};

  std::thread publisher_;
  std::thread subscriber_;
  std::thread timer_;
};

// Checks the options and parses the URL (INVALID_ARGUMENT); connects
// nothing until Start().
absl::StatusOr<std::unique_ptr<RedisBus>> NewRedisBus(RedisBusOptions options);

}  // namespace notifyd::bus

#endif  // NOTIFYD_BUS_REDIS_BUS_H_
