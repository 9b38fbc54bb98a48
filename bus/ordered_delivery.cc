#include "bus/ordered_delivery.h"

#include <algorithm>
#include <utility>

#include "common/log.h"

namespace notifyd::bus {
namespace {

// What a held notification costs, roughly: the struct, its strings and the
// map node.
size_t HeldBytes(const storage::Notification& n) {
  return sizeof(storage::Notification) + n.channel.size() + n.event.size() +
         n.data.size() + 64;
}

}  // namespace

std::shared_ptr<OrderedDelivery> OrderedDelivery::Create(
    OrderedDeliveryOptions options) {
  return std::shared_ptr<OrderedDelivery>(
      new OrderedDelivery(std::move(options)));
}

OrderedDelivery::OrderedDelivery(OrderedDeliveryOptions options)
    : options_(std::move(options)),
      gap_timeout_(absl::ToChronoNanoseconds(options_.gap_timeout)),
      check_interval_(absl::ToChronoNanoseconds(options_.check_interval)) {
  const auto now = options_.clock();
  gap_since_ = now;
  last_check_ = now;
}

OrderedDelivery::~OrderedDelivery() { Close(); }

void OrderedDelivery::AddListener(Listener listener) {
  absl::MutexLock lock(&listeners_mu_);
  listeners_.push_back(std::move(listener));
}

void OrderedDelivery::Start(uint64_t last_committed_id) {
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    if (started_ || closed_) return;
    started_ = true;
    next_id_ = last_committed_id + 1;
    known_committed_ = std::max(known_committed_, last_committed_id);
    // Offers that came before Start: those at or below the start point are
    // durable already; the rest wait for their predecessors as usual.
    ReleaseHeldLocked();
    gap_since_ = options_.clock();
    last_check_ = gap_since_;
    actions = FinishLocked();
  }
  Run(std::move(actions), nullptr);
}

size_t OrderedDelivery::Offer(NotificationPtr n) {
  if (n == nullptr) return 0;
  const storage::Notification* mine = n.get();
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return 0;
    const uint64_t id = n->id;
    if (started_ && id < next_id_) {
      ++stats_.duplicates;
      return 0;
    }
    if (started_ && id == next_id_) {
      const uint64_t old_next = next_id_;
      ReleaseLocked(std::move(n));
      ReleaseHeldLocked();
      NoteProgressLocked(old_next);
    } else {
      // Holding id proves every smaller id is committed.
      LearnCommittedLocked(id);
      HoldLocked(std::move(n));
    }
    actions = FinishLocked();
  }
  return Run(std::move(actions), mine);
}

void OrderedDelivery::Poll() {
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    if (!started_ || closed_) return;
    const auto now = options_.clock();
    if (GapOpenLocked() && !fill_in_flight_ && now - gap_since_ >= gap_timeout_)
      fill_now_ = true;
    const bool check =
        !check_in_flight_ && now - last_check_ >= check_interval_;
    if (check) {
      check_in_flight_ = true;
      last_check_ = now;
    }
    actions = FinishLocked();
    actions.check = check;
  }
  Run(std::move(actions), nullptr);
}

void OrderedDelivery::CatchUp() {
  {
    absl::MutexLock lock(&mu_);
    if (!started_ || closed_) return;
  }
  CheckLastCommitted(/*fill_at_once=*/true);
}

void OrderedDelivery::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  held_.clear();
  held_bytes_ = 0;
  ready_.clear();
  // A listener call in progress elsewhere finishes before Close returns;
  // the deliverer itself (a listener closing the bus) must not wait for
  // itself.
  while (delivering_ && deliverer_ != std::this_thread::get_id()) {
    delivered_.Wait(&mu_);
  }
}

uint64_t OrderedDelivery::next_id() const {
  absl::MutexLock lock(&mu_);
  return next_id_;
}

OrderedDeliveryStats OrderedDelivery::Stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

bool OrderedDelivery::GapOpenLocked() const {
  return started_ && next_id_ <= known_committed_;
}

void OrderedDelivery::ReleaseLocked(NotificationPtr n) {
  next_id_ = n->id + 1;
  ++stats_.released;
  ready_.push_back(std::move(n));
}

void OrderedDelivery::ReleaseHeldLocked() {
  while (!held_.empty() && held_.begin()->first <= next_id_) {
    auto it = held_.begin();
    if (it->first == next_id_) {
      ReleaseLocked(it->second);
    } else {
      ++stats_.duplicates;  // at or below the start point
    }
    EraseHeldLocked(it);
  }
}

void OrderedDelivery::EraseHeldLocked(
    std::map<uint64_t, NotificationPtr>::iterator it) {
  held_bytes_ -= HeldBytes(*it->second);
  held_.erase(it);
}

void OrderedDelivery::HoldLocked(NotificationPtr n) {
  const uint64_t id = n->id;
  if (held_.contains(id)) {
    ++stats_.duplicates;
    return;
  }
  const size_t bytes = HeldBytes(*n);
  if (held_.size() >= options_.max_held ||
      held_bytes_ + bytes > options_.max_held_bytes) {
    // Not kept: known_committed_ already covers it, so the fill that starts
    // now reads it back from the store.
    ++stats_.overflow;
    fill_now_ = true;
    if (uint64_t dropped = 0; error_log_.Allow(&dropped)) {
      Log(spdlog::level::warn,
          "bus: notifications held waiting for an id; filling from the store",
          {{"held", held_.size()},
           {"waiting_for_id", next_id_},
           LogField::NonZero("dropped", dropped)});
    }
    return;
  }
  held_bytes_ += bytes;
  held_.emplace(id, std::move(n));
  ++stats_.held;
}

void OrderedDelivery::LearnCommittedLocked(uint64_t id) {
  if (id <= known_committed_) return;
  const bool was_open = GapOpenLocked();
  known_committed_ = id;
  if (!was_open && GapOpenLocked()) gap_since_ = options_.clock();
}

void OrderedDelivery::NoteProgressLocked(uint64_t old_next) {
  // The timeout measures how long the *current* next id has been missing.
  if (next_id_ != old_next) gap_since_ = options_.clock();
}

OrderedDelivery::Actions OrderedDelivery::FinishLocked() {
  Actions actions;
  if (closed_) return actions;
  if (!GapOpenLocked()) fill_now_ = false;
  if (started_ && fill_now_ && !fill_in_flight_) {
    actions.fill =
        FillCall{.after_id = next_id_ - 1, .up_to_id = known_committed_};
    fill_in_flight_ = true;
    fill_now_ = false;
    ++stats_.fills;
  }
  if (!ready_.empty() && !delivering_) {
    delivering_ = true;
    deliverer_ = std::this_thread::get_id();
    actions.deliver = true;
  }
  return actions;
}

size_t OrderedDelivery::Run(Actions actions,
                            const storage::Notification* mine) {
  if (actions.fill) {
    const FillCall call = *actions.fill;
    Log(spdlog::level::debug, "bus: filling ids from the store",
        {{"from_id", call.after_id + 1}, {"to_id", call.up_to_id}});
    std::weak_ptr<OrderedDelivery> weak = weak_from_this();
    options_.fill(call.after_id, call.up_to_id, options_.fill_limit,
                  [weak, call](absl::StatusOr<std::vector<NotificationPtr>> r) {
                    if (auto self = weak.lock()) {
                      self->OnFilled(call, std::move(r));
                    }
                  });
  }
  if (actions.check) CheckLastCommitted(/*fill_at_once=*/false);
  return actions.deliver ? Deliver(mine) : 0;
}

size_t OrderedDelivery::Deliver(const storage::Notification* mine) {
  size_t mine_recipients = 0;
  for (;;) {
    NotificationPtr n;
    {
      absl::MutexLock lock(&mu_);
      if (closed_ || ready_.empty()) {
        delivering_ = false;
        deliverer_ = std::thread::id();
        delivered_.SignalAll();
        return mine_recipients;
      }
      n = std::move(ready_.front());
      ready_.pop_front();
    }
    size_t recipients = 0;
    {
      absl::ReaderMutexLock lock(&listeners_mu_);
      for (const Listener& listener : listeners_) recipients += listener(n);
    }
    if (n.get() == mine) mine_recipients = recipients;
  }
}

void OrderedDelivery::CheckLastCommitted(bool fill_at_once) {
  std::weak_ptr<OrderedDelivery> weak = weak_from_this();
  options_.last_committed_id([weak, fill_at_once](absl::StatusOr<uint64_t> r) {
    if (auto self = weak.lock())
      self->OnLastCommitted(std::move(r), fill_at_once);
  });
}

void OrderedDelivery::OnLastCommitted(absl::StatusOr<uint64_t> last,
                                      bool fill_at_once) {
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    if (!fill_at_once) check_in_flight_ = false;
    if (closed_) return;
    if (!last.ok()) {
      if (uint64_t dropped = 0; error_log_.Allow(&dropped)) {
        Log(spdlog::level::warn, "bus: cannot read the last committed id",
            {{"error", last.status().ToString()},
             LogField::NonZero("dropped", dropped)});
      }
      return;
    }
    // A committed id nobody published yet opens a gap, filled after
    // gap_timeout unless its message arrives first (the usual case: the
    // check raced a publish in flight).
    LearnCommittedLocked(*last);
    if (fill_at_once) fill_now_ = true;
    actions = FinishLocked();
  }
  Run(std::move(actions), nullptr);
}

void OrderedDelivery::OnFilled(
    FillCall call, absl::StatusOr<std::vector<NotificationPtr>> rows) {
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    fill_in_flight_ = false;
    if (closed_) return;
    if (!rows.ok()) {
      ++stats_.fill_errors;
      // Retried after another gap_timeout, not in a tight loop.
      gap_since_ = options_.clock();
      if (uint64_t dropped = 0; error_log_.Allow(&dropped)) {
        Log(spdlog::level::warn, "bus: cannot read ids from the store",
            {{"from_id", call.after_id + 1},
             {"to_id", call.up_to_id},
             {"error", rows.status().ToString()},
             LogField::NonZero("dropped", dropped)});
      }
      return;
    }
    const std::vector<NotificationPtr>& got = *rows;
    // A short answer covers the whole range (what is missing was deleted);
    // a full one only up to its last row.
    const bool full = got.size() >= options_.fill_limit && !got.empty();
    const uint64_t covered_to =
        full ? std::min(got.back()->id, call.up_to_id) : call.up_to_id;
    const uint64_t old_next = next_id_;
    for (const NotificationPtr& row : got) {
      if (row == nullptr || row->id < next_id_ || row->id > covered_to ||
          held_.contains(row->id)) {
        continue;
      }
      held_bytes_ += HeldBytes(*row);
      held_.emplace(row->id, row);
      ++stats_.filled;
    }
    while (!held_.empty() && held_.begin()->first <= covered_to) {
      auto it = held_.begin();
      if (it->first >= next_id_) {
        stats_.skipped += it->first - next_id_;
        ReleaseLocked(it->second);
      }
      EraseHeldLocked(it);
    }
    if (covered_to >= next_id_) {
      stats_.skipped += covered_to + 1 - next_id_;
      next_id_ = covered_to + 1;
    }
    ReleaseHeldLocked();
    NoteProgressLocked(old_next);
    if (next_id_ != old_next) {
      Log(spdlog::level::debug, "bus: released ids after a fill",
          {{"up_to_id", next_id_ - 1}});
    }
    if (full) fill_now_ = true;  // more rows wait past this page
    actions = FinishLocked();
  }
  Run(std::move(actions), nullptr);
}

}  // namespace notifyd::bus
