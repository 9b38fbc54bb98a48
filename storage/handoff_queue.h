// The queue between the store's threads: callers hand work to the writer
// and readers, the writer hands committed batches to the completer.
//
// Threading: thread-safe; any number of producers and consumers.
#ifndef NOTIFYD_STORAGE_HANDOFF_QUEUE_H_
#define NOTIFYD_STORAGE_HANDOFF_QUEUE_H_

#include <cstddef>
#include <deque>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace notifyd::storage {

template <typename T>
class HandoffQueue {
 public:
  // Queues `item` (moving from it). Once the queue is closed, returns false
  // and leaves `item` with the caller.
  //
  // Consumers wait on absl::Mutex conditions, not a condition variable: the
  // pushing thread evaluates them as it unlocks and wakes a consumer only
  // when what it waits for holds. A writer gathering a batch is therefore
  // woken once for the batch, not once per call (each wake-up is a context
  // switch, and on two cores it takes a CPU from the threads producing).
  bool Push(T& item) {
    absl::MutexLock lock(&mu_);
    if (closed_) return false;
    items_.push_back(std::move(item));
    return true;
  }

  // Waits until the queue holds something, then moves up to `max` items,
  // oldest first, onto the end of `out`. Returns false only when the queue
  // is closed and empty: everything pushed before Close() is still popped.
  bool PopUpTo(size_t max, std::vector<T>& out) {
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !items_.empty() || closed_;
    };
    absl::MutexLock lock(&mu_, absl::Condition(&ready));
    if (items_.empty()) return false;
    MoveUpTo(max, out);
    return true;
  }

  // Waits until the queue holds `max` items, is closed, or `deadline`
  // passes, then moves up to `max` items (possibly none) onto `out`.
  void PopUpToBy(size_t max, absl::Time deadline, std::vector<T>& out) {
    auto ready = [this, max]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return items_.size() >= max || closed_;
    };
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
    MoveUpTo(max, out);
  }

  // Refuses further pushes and wakes every consumer.
  void Close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }

 private:
  void MoveUpTo(size_t max, std::vector<T>& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (size_t n = 0; n < max && !items_.empty(); ++n) {
      out.push_back(std::move(items_.front()));
      items_.pop_front();
    }
  }

  absl::Mutex mu_;
  std::deque<T> items_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_HANDOFF_QUEUE_H_
