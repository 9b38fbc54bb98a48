// OrderedDelivery: the sequencer of a bus shared by several instances.
// Notifications arrive from the network in any order (instance A commits
// 10-15, B then commits 16-20, and Redis may carry 16-20 first), but a
// stream must see ids in dense, ascending order: a stream that got 16 and
// resumes with Last-Event-ID 16 would never see 10-15. So this class
// releases notifications to its listeners strictly in id order, each id
// once, and fills holes from the store.
//
// Contract (relies on storage/store.h): ids are dense and assigned in
// commit order across instances, so holding id N proves every id < N is
// committed, and the store can be asked for them.
//  - Offer(n): n->id < next_id is dropped (duplicate or old); == next_id
//    is released, with every held consecutive successor; > next_id is held
//    (bounded by max_held / max_held_bytes; past them it is not kept, and a
//    fill fetches it from the store instead).
//  - A gap (an id proven committed but not released) open for gap_timeout
//    is filled by `fill`; ids the store no longer has (retention) are
//    skipped. Every check_interval, `last_committed_id` is asked too, so a
//    notification committed by an instance that died before publishing is
//    still released (after gap_timeout more, unless it arrives meanwhile).
//  - Start(last) releases nothing at or below `last`: those are durable and
//    a stream opened later replays them from the store.
//
// Threading: thread-safe, no threads of its own. Poll() must be called
// periodically (every few milliseconds to tens of milliseconds) to run the
// timers; it and every callback use the injected clock, so tests drive time
// by hand. Listeners are called one at a time, in id order, on whichever
// thread released the notification (an Offer caller or a store thread
// finishing a fill), never under the lock Offer needs: a thread that finds
// another one delivering queues its notifications to it and returns.
// `fill` and `last_committed_id` are called without locks held and may
// call `done` on any thread, even inline.
//
// Ownership: created as a shared_ptr; store callbacks hold only a weak_ptr,
// so a late callback after the owner dropped it is ignored. Close() stops
// every delivery: once it returns, no listener is called again.
#ifndef NOTIFYD_BUS_ORDERED_DELIVERY_H_
#define NOTIFYD_BUS_ORDERED_DELIVERY_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/log_limiter.h"
#include "storage/notification.h"
#include "storage/store.h"

namespace notifyd::bus {

using NotificationPtr = std::shared_ptr<const storage::Notification>;

struct OrderedDeliveryOptions {
  // Committed notifications with after_id < id <= up_to_id, ascending, at
  // most `limit` (Store::ReadIdRange). Fewer than `limit` rows means the
  // rest of the range was deleted.
  using FillFunction =
      std::function<void(uint64_t after_id, uint64_t up_to_id, uint32_t limit,
                         storage::Callback<std::vector<NotificationPtr>> done)>;
  // The largest committed id (Store::LastCommittedId).
  using LastCommittedFunction =
      std::function<void(storage::Callback<uint64_t> done)>;
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  FillFunction fill = nullptr;                        // required
  LastCommittedFunction last_committed_id = nullptr;  // required
  // How long a missing id may be waited for before it is read from the
  // store: longer than a publish normally takes to cross the bus.
  absl::Duration gap_timeout = absl::Milliseconds(100);
  // How often the store is asked for its last committed id.
  absl::Duration check_interval = absl::Seconds(1);
  size_t max_held = 10000;
  size_t max_held_bytes = size_t{64} << 20;
  uint32_t fill_limit = 500;  // rows per fill call
  Clock clock = [] { return std::chrono::steady_clock::now(); };
};

struct OrderedDeliveryStats {
  uint64_t released = 0;    // notifications handed to the listeners
  uint64_t held = 0;        // offers that waited for an earlier id
  uint64_t duplicates = 0;  // offers dropped as already released
  uint64_t overflow = 0;    // offers not held because the cap was reached
  uint64_t fills = 0;       // fill calls made
  uint64_t fill_errors = 0;
  uint64_t filled = 0;   // released notifications that came from a fill
  uint64_t skipped = 0;  // ids the store no longer had
};

class OrderedDelivery : public std::enable_shared_from_this<OrderedDelivery> {
 public:
  // Returns how many live streams the notification was queued to.
  using Listener = std::function<size_t(const NotificationPtr&)>;

  static std::shared_ptr<OrderedDelivery> Create(
      OrderedDeliveryOptions options);
  ~OrderedDelivery();
  OrderedDelivery(const OrderedDelivery&) = delete;
  OrderedDelivery& operator=(const OrderedDelivery&) = delete;

  // Call before Start.
  void AddListener(Listener listener);

  // Releases from last_committed_id + 1 on. Offers made before Start are
  // held and sorted out here.
  void Start(uint64_t last_committed_id);

  // Returns the listeners' recipient count when this call delivered `n`
  // itself, else 0 (held, duplicate, or queued to a thread delivering).
  size_t Offer(NotificationPtr n);

  // Runs the timers (gap timeout, periodic last-committed check).
  void Poll();

  // Messages may have been lost (the bus reconnected): asks the store for
  // its last committed id now and fills up to it at once.
  void CatchUp();

  // Idempotent. Waits for a delivery in progress on another thread.
  void Close();

  uint64_t next_id() const;
  OrderedDeliveryStats Stats() const;

 private:
  struct FillCall {
    uint64_t after_id = 0;
    uint64_t up_to_id = 0;
  };
  // What a locked section decided to do once the lock is released.
  struct Actions {
    std::optional<FillCall> fill;
    bool check = false;
    bool deliver = false;  // this thread became the deliverer
  };

  explicit OrderedDelivery(OrderedDeliveryOptions options);

  bool GapOpenLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves next_id_ and every held consecutive successor to ready_.
  void ReleaseHeldLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseLocked(NotificationPtr n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HoldLocked(NotificationPtr n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseHeldLocked(std::map<uint64_t, NotificationPtr>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Raises known_committed_; a gap that opens starts its timeout now.
  void LearnCommittedLocked(uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Restarts the gap timeout when next_id_ moved past `old_next`.
  void NoteProgressLocked(uint64_t old_next) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Actions FinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs what FinishLocked decided; returns the recipients of `mine` when
  // this thread delivered it.
  size_t Run(Actions actions, const storage::Notification* mine);
  size_t Deliver(const storage::Notification* mine);
  void CheckLastCommitted(bool fill_at_once);
  void OnLastCommitted(absl::StatusOr<uint64_t> last, bool fill_at_once);
  void OnFilled(FillCall call, absl::StatusOr<std::vector<NotificationPtr>>);

  const OrderedDeliveryOptions options_;
  const std::chrono::steady_clock::duration gap_timeout_;
  const std::chrono::steady_clock::duration check_interval_;
  LogLimiter error_log_;

  // Held by the one delivering thread while it calls listeners; Offer never
  // takes it.
  absl::Mutex listeners_mu_;
  std::vector<Listener> listeners_ ABSL_GUARDED_BY(listeners_mu_);

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Largest id known to be committed (held, dropped over the cap, or told
  // by the store); a gap is open while next_id_ <= known_committed_.
  uint64_t known_committed_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, NotificationPtr> held_ ABSL_GUARDED_BY(mu_);
  size_t held_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Released, in id order, waiting for the delivering thread.
  std::deque<NotificationPtr> ready_ ABSL_GUARDED_BY(mu_);
  bool delivering_ ABSL_GUARDED_BY(mu_) = false;
  std::thread::id deliverer_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point gap_since_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point last_check_ ABSL_GUARDED_BY(mu_);
  bool fill_now_ ABSL_GUARDED_BY(mu_) = false;  // without waiting gap_timeout
  bool fill_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool check_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar delivered_;  // signalled when delivering_ turns false
  OrderedDeliveryStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace notifyd::bus

#endif  // NOTIFYD_BUS_ORDERED_DELIVERY_H_
