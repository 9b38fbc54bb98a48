#include "server/push_scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "common/log.h"
#include "common/log_limiter.h"
#include "server/push_payload.h"
#include "spdlog/spdlog.h"

namespace notifyd::server {
namespace {

// Clocks of the instances writing to a shared store may differ this much:
// a notification committed by time T was created by T plus this.
constexpr absl::Duration kClockMargin = absl::Seconds(1);
// At most this many (time, last id) samples are kept over a delay.
constexpr int kSamplesPerDelay = 64;

using Rows = std::vector<std::shared_ptr<const storage::Notification>>;

}  // namespace

absl::Status PushSchedulerOptions::Validate() const {
  if (delay < absl::ZeroDuration() || delay > absl::Hours(24)) {
    return absl::InvalidArgumentError("--push_delay must be 0 to 24h");
  }
  if (poll_interval < absl::Milliseconds(10) ||
      poll_interval > absl::Minutes(1)) {
    return absl::InvalidArgumentError(
        "push poll interval must be 10ms to 1 minute");
  }
  if (batch < 1 || batch > storage::kMaxPushCandidates) {
    return absl::InvalidArgumentError(
        absl::StrCat("push batch must be 1 to ", storage::kMaxPushCandidates));
  }
  if (ttl < absl::ZeroDuration() || ttl > push::kMaxTtl) {
    return absl::InvalidArgumentError("push ttl must be 0 to 4 weeks");
  }
  if (max_age <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("push max age must be > 0");
  }
  return absl::OkStatus();
}

struct PushScheduler::Counters {
  explicit Counters(Metrics& m)
      : delivered(Outcome(m, "delivered")),
        gone(Outcome(m, "gone")),
        rejected(Outcome(m, "rejected")),
        failed(Outcome(m, "failed")),
        skipped_live(Skipped(m, "live")),
        skipped_stale(Skipped(m, "stale")),
        skipped_unsubscribed(Skipped(m, "unsubscribed")),
        skipped_claimed(Skipped(m, "claimed_elsewhere")),
        removed(m.GetCounter("notifyd_push_subscriptions_removed_total",
                             "Push subscriptions removed because their push "
                             "service answered 404 or 410")),
        queue(m.GetGauge("notifyd_push_queue",
                         "Pushes the sender holds: queued, in flight or "
                         "waiting to retry")),
        in_flight(
            m.GetGauge("notifyd_push_in_flight", "Push requests under way")) {}

  static Counter& Outcome(Metrics& m, const char* outcome) {
    return m.GetCounter("notifyd_pushes_total",
                        "Web Push messages (one per subscription) by outcome",
                        {{"outcome", outcome}});
  }
  static Counter& Skipped(Metrics& m, const char* reason) {
    return m.GetCounter("notifyd_push_skipped_total",
                        "Push candidates marked pushed without a push, by "
                        "reason (live: a stream of this instance had it)",
                        {{"reason", reason}});
  }
  Counter& ForOutcome(push::Outcome outcome) {
    switch (outcome) {
      case push::Outcome::kDelivered:
        return delivered;
      case push::Outcome::kGone:
        return gone;
      case push::Outcome::kRejected:
        return rejected;
      case push::Outcome::kFailed:
        break;
    }
    return failed;
  }
  // A line for a push that was not delivered, at most a few a second.
  void LogProblem(absl::string_view what, const absl::Status& status) {
    uint64_t dropped = 0;
    if (!log_limit.Allow(&dropped)) return;
    Log(spdlog::level::warn,
        absl::StrCat(what, LogLimiter::DroppedNote(dropped)),
        {{"error", status.ToString()}});
  }

  Counter &delivered, &gone, &rejected, &failed;
  Counter &skipped_live, &skipped_stale, &skipped_unsubscribed,
      &skipped_claimed;
  Counter& removed;
  Gauge &queue, &in_flight;
  LogLimiter log_limit;
};

absl::StatusOr<std::unique_ptr<PushScheduler>> PushScheduler::Start(
    PushSchedulerOptions options, push::PushOptions push_options,
    push::VapidKey key, storage::Store& store, LiveCheck live,
    Metrics& metrics) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  const size_t max_queue = push_options.max_queue;
  absl::StatusOr<std::unique_ptr<push::Sender>> sender =
      push::Sender::Create(std::move(push_options), std::move(key));
  if (!sender.ok()) return sender.status();
  std::unique_ptr<PushScheduler> scheduler(new PushScheduler(
      options, max_queue, store, *std::move(sender), std::move(live), metrics));
  scheduler->thread_ = std::thread([s = scheduler.get()] { s->Run(); });
  return scheduler;
}

PushScheduler::PushScheduler(PushSchedulerOptions options, size_t max_queue,
                             storage::Store& store,
                             std::unique_ptr<push::Sender> sender,
                             LiveCheck live, Metrics& metrics)
    : options_(options),
      max_queue_(max_queue),
      store_(store),
      sender_(std::move(sender)),
      live_(std::move(live)),
      counters_(std::make_shared<Counters>(metrics)) {}

PushScheduler::~PushScheduler() { Stop(); }

void PushScheduler::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_.Notify();
  if (thread_.joinable()) thread_.join();
  sender_->Stop();
  UpdateQueueGauges();
}

void PushScheduler::Run() {
  do {
    Poll();
    UpdateQueueGauges();
  } while (!stopping_.WaitForNotificationWithTimeout(options_.poll_interval));
}

void PushScheduler::UpdateQueueGauges() {
  push::Sender::Stats stats = sender_->stats();
  counters_->queue.Set(static_cast<int64_t>(stats.queued));
  counters_->in_flight.Set(static_cast<int64_t>(stats.in_flight));
}

void PushScheduler::Poll() {
  const absl::Time now = absl::Now();
  const absl::Duration sample_every =
      std::max(options_.poll_interval, options_.delay / kSamplesPerDelay);
  if (samples_.empty() || now - samples_.back().first >= sample_every) {
    absl::StatusOr<uint64_t> last = storage::LastCommittedIdSync(store_);
    if (last.ok()) samples_.emplace_back(now, *last);
  }
  const absl::Time cutoff = now - options_.delay;
  while (!samples_.empty() && samples_.front().first + kClockMargin <= cutoff) {
    examined_floor_ = std::max(examined_floor_, samples_.front().second);
    samples_.pop_front();
  }
  while (!stopping_.HasBeenNotified()) {
    absl::StatusOr<Rows> rows = storage::PushCandidatesSync(
        store_, {.after_id = after_id_,
                 .created_at_or_before_ms = absl::ToUnixMillis(cutoff),
                 .limit = options_.batch});
    if (!rows.ok()) {
      counters_->LogProblem("push: cannot read candidates", rows.status());
      return;
    }
    if (!HandleBatch(*rows)) return;
    if (rows->size() < options_.batch) {
      // Every id up to the floor was examined by now: none is walked again.
      after_id_ = std::max(after_id_, examined_floor_);
      return;
    }
  }
}

bool PushScheduler::HandleBatch(const Rows& rows) {
  if (rows.empty()) return true;
  const int64_t stale_before_ms =
      absl::ToUnixMillis(absl::Now() - options_.delay - options_.max_age);
  // The subscriptions of every user in the batch with no live stream,
  // read at once.
  enum class Kind { kStale, kLive, kOffline };
  std::vector<Kind> kinds(rows.size());
  absl::flat_hash_map<std::string, size_t> channel_index;
  std::vector<std::string> channels;
  for (size_t i = 0; i < rows.size(); ++i) {
    const storage::Notification& n = *rows[i];
    if (n.created_at_ms < stale_before_ms) {
      kinds[i] = Kind::kStale;
    } else if (live_(n.channel)) {
      kinds[i] = Kind::kLive;
    } else {
      kinds[i] = Kind::kOffline;
      if (channel_index.emplace(n.channel, channels.size()).second) {
        channels.push_back(n.channel);
      }
    }
  }
  std::vector<absl::StatusOr<std::vector<storage::PushSubscription>>> subs(
      channels.size(), absl::UnknownError("not answered"));
  {
    // Shared: the last callback may still be inside DecrementCount when
    // Wait returns.
    auto answered = std::make_shared<absl::BlockingCounter>(
        static_cast<int>(channels.size()));
    for (size_t i = 0; i < channels.size(); ++i) {
      store_.ListPushSubscriptions(
          channels[i],
          [slot = &subs[i], answered](
              absl::StatusOr<std::vector<storage::PushSubscription>> result) {
            *slot = std::move(result);
            answered->DecrementCount();
          });
    }
    answered->Wait();
  }

  const size_t queued = sender_->stats().queued;
  size_t room = max_queue_ > queued ? max_queue_ - queued : 0;
  std::vector<uint64_t> mark_only;
  std::vector<Claim> claims;
  uint64_t handled = after_id_;
  bool complete = true;
  for (size_t i = 0; i < rows.size() && complete; ++i) {
    const std::shared_ptr<const storage::Notification>& n = rows[i];
    switch (kinds[i]) {
      case Kind::kStale:
        counters_->skipped_stale.Inc();
        mark_only.push_back(n->id);
        break;
      case Kind::kLive:
        counters_->skipped_live.Inc();
        mark_only.push_back(n->id);
        break;
      case Kind::kOffline: {
        const auto& found = subs[channel_index.at(n->channel)];
        if (!found.ok()) {
          counters_->LogProblem("push: cannot read subscriptions",
                                found.status());
          complete = false;
          continue;
        }
        // A browser that subscribed after the notification was not
        // waiting for it.
        Claim claim;
        claim.notification = n;
        for (const storage::PushSubscription& s : *found) {
          if (s.created_at_ms <= n->created_at_ms) {
            claim.subscriptions.push_back(s);
          }
        }
        if (claim.subscriptions.empty()) {
          counters_->skipped_unsubscribed.Inc();
          mark_only.push_back(n->id);
          break;
        }
        if (claim.subscriptions.size() > room) {
          complete = false;  // the sender is full: the rest waits
          continue;
        }
        room -= claim.subscriptions.size();
        claims.push_back(std::move(claim));
        break;
      }
    }
    handled = n->id;
  }

  bool marked = true;
  for (size_t at = 0; at < mark_only.size(); at += storage::kMaxChangeIds) {
    const size_t end = std::min(mark_only.size(), at + storage::kMaxChangeIds);
    absl::StatusOr<uint64_t> done = storage::MarkPushedSync(
        store_,
        std::vector<uint64_t>(mark_only.begin() + at, mark_only.begin() + end));
    if (!done.ok()) {
      counters_->LogProblem("push: cannot mark notifications", done.status());
      marked = false;
    }
  }
  ClaimAll(claims);
  for (const Claim& claim : claims) {
    if (claim.claimed) {
      SendAll(claim);
    } else {
      counters_->skipped_claimed.Inc();
    }
  }
  // What was not marked comes back from the store on the next poll.
  if (marked) after_id_ = handled;
  return complete && marked;
}

void PushScheduler::ClaimAll(std::vector<Claim>& claims) {
  auto answered =
      std::make_shared<absl::BlockingCounter>(static_cast<int>(claims.size()));
  auto counters = counters_;
  for (Claim& claim : claims) {
    store_.MarkPushed(
        {claim.notification->id},
        [&claim, answered, counters](absl::StatusOr<uint64_t> recorded) {
          if (!recorded.ok()) {
            counters->LogProblem("push: cannot claim a notification",
                                 recorded.status());
          }
          // 0: another instance recorded it first, and pushes it.
          claim.claimed = recorded.ok() && *recorded == 1;
          answered->DecrementCount();
        });
  }
  answered->Wait();
}

void PushScheduler::SendAll(const Claim& claim) {
  const storage::Notification& n = *claim.notification;
  push::Message message;
  message.payload = PushPayload(n);
  message.collapse_key = n.collapse_key;
  message.ttl = options_.ttl;
  if (n.expires_at_ms != 0) {
    message.ttl =
        std::clamp(absl::FromUnixMillis(n.expires_at_ms) - absl::Now(),
                   absl::ZeroDuration(), message.ttl);
  }
  for (const storage::PushSubscription& s : claim.subscriptions) {
    absl::Status sent = sender_->Send(
        {.endpoint = s.endpoint, .p256dh = s.p256dh, .auth = s.auth}, message,
        [counters = counters_, store = &store_,
         endpoint = s.endpoint](const push::Result& result) {
          counters->ForOutcome(result.outcome).Inc();
          if (result.outcome == push::Outcome::kGone) {
            store->RemovePushSubscription(
                {.endpoint = endpoint, .channel = ""},
                [counters](absl::StatusOr<bool> removed) {
                  if (removed.ok() && *removed) counters->removed.Inc();
                });
          } else if (result.outcome != push::Outcome::kDelivered) {
            counters->LogProblem("push: not delivered", result.status);
          }
        });
    if (!sent.ok()) {
      (absl::IsInvalidArgument(sent) ? counters_->rejected : counters_->failed)
          .Inc();
      counters_->LogProblem("push: not sent", sent);
    }
  }
}

}  // namespace notifyd::server
