// Decides what is pushed (docs/DESIGN.md, Web Push): every poll it reads
// the store's push candidates (storage/push.h: unseen, unpushed
// notifications of inboxes with a push subscription, created at least
// `delay` ago), and for each, oldest first:
//  - the user has a live stream on this instance (`live`): the stream
//    delivered it; it is marked pushed (MarkPushed) and not sent;
//  - it is more than max_age late (found after a long stop), or no
//    subscription of the user is older than it: marked, not sent;
//  - otherwise it is claimed with MarkPushed of its id alone, and only when
//    that call recorded it (another instance sharing the store did not
//    claim it first) it is handed to the push::Sender for each of the
//    user's subscriptions. Marked before sent: a crash or stop in between
//    loses that push rather than sending it twice.
// When the sender's queue has no room for a candidate's subscriptions, the
// poll stops before it, leaving it and the rest unmarked for the next
// poll: memory stays bounded by the sender's max_queue.
//
// The sender's outcomes: 404/410 (kGone) remove the subscription from the
// store; every outcome is counted in notifyd_pushes_total.
//
// Threading and ownership: one thread of its own polls the store (with the
// blocking *Sync calls: never a gRPC or I/O thread) and calls Send; the
// sender's threads run the outcome callbacks. The scheduler owns the
// sender; the store, `live` and the metrics must outlive it. Stop() (and
// the destructor) joins the thread, then stops the sender: pushes still
// queued there are dropped (they were marked). Not thread-safe: one owner.
#ifndef NOTIFYD_SERVER_PUSH_SCHEDULER_H_
#define NOTIFYD_SERVER_PUSH_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "push/push_sender.h"
#include "storage/store.h"

namespace notifyd::server {

struct PushSchedulerOptions {
  // --push_delay: how long a notification waits for a stream or its user
  // before it is pushed. 0 to 24 hours.
  absl::Duration delay = absl::Seconds(30);
  // How often the store is asked when the last poll found nothing more to
  // do. 10 ms to 1 minute.
  absl::Duration poll_interval = absl::Milliseconds(250);
  // Candidates read at once: 1 to storage::kMaxPushCandidates.
  uint32_t batch = 500;
  // TTL of a push (how long the push service keeps it for an offline
  // browser), or the notification's expiry left when sooner. 0 to
  // push::kMaxTtl.
  absl::Duration ttl = absl::Hours(24);
  // Notifications found more than this after their delay ended are not
  // pushed (after a long stop no user wants a day of old pushes). > 0.
  absl::Duration max_age = absl::Hours(24);

  // OK, or INVALID_ARGUMENT naming the first option out of range
  // (--push_delay for delay).
  absl::Status Validate() const;
};

class PushScheduler {
 public:
  // Whether a user's channel has a live stream on this instance.
  using LiveCheck = std::function<bool(const std::string& channel)>;

  // Validates `options`, creates the sender (push::Sender::Create: its
  // errors are returned) and starts polling.
  static absl::StatusOr<std::unique_ptr<PushScheduler>> Start(
      PushSchedulerOptions options, push::PushOptions push_options,
      push::VapidKey key, storage::Store& store, LiveCheck live,
      Metrics& metrics);
  ~PushScheduler();
  PushScheduler(const PushScheduler&) = delete;
  PushScheduler& operator=(const PushScheduler&) = delete;

  // Joins the polling thread, then stops the sender. Idempotent.
  void Stop();

 private:
  struct Counters;
  // One candidate to claim and send, with the subscriptions it goes to.
  struct Claim {
    std::shared_ptr<const storage::Notification> notification;
    std::vector<storage::PushSubscription> subscriptions;
    bool claimed = false;
  };

  PushScheduler(PushSchedulerOptions options, size_t max_queue,
                storage::Store& store, std::unique_ptr<push::Sender> sender,
                LiveCheck live, Metrics& metrics);
  void Run();
  // One poll: batches until one is short or the sender is full.
  void Poll();
  // Handles `rows`; false when it stopped early (sender full, store error,
  // stopping), with after_id_ left at the last row handled.
  bool HandleBatch(
      const std::vector<std::shared_ptr<const storage::Notification>>& rows);
  // MarkPushed of each claim's id alone, all at once; sets `claimed`.
  void ClaimAll(std::vector<Claim>& claims);
  void SendAll(const Claim& claim);
  void UpdateQueueGauges();

  const PushSchedulerOptions options_;
  const size_t max_queue_;  // the sender's
  storage::Store& store_;
  std::unique_ptr<push::Sender> sender_;
  const LiveCheck live_;
  // Shared with the outcome callbacks (a removal's answer may come late).
  std::shared_ptr<Counters> counters_;
  // The polling thread's own state.
  uint64_t after_id_ = 0;
  // (time, last committed id) samples: once a sample's time is past the
  // candidates' cutoff, every id up to its id was examined and after_id_
  // may skip to it (ids nobody subscribed to are not walked again).
  std::deque<std::pair<absl::Time, uint64_t>> samples_;
  uint64_t examined_floor_ = 0;
  absl::Notification stopping_;
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace notifyd::server

#endif  // NOTIFYD_SERVER_PUSH_SCHEDULER_H_
