// The queue between the store's threads: callers hand work to the writer
// and readers, the writer hands commits to the syncer, the syncer to the
// completer.
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
  // Queues `item` (moving from it) and wakes one consumer. Once the queue is
  // closed, returns false and leaves `item` with the caller.
  bool Push(T& item) {
    absl::MutexLock lock(&mu_);
    if (closed_) return false;
    items_.push_back(std::move(item));
    cv_.Signal();
    return true;
  }

  // Waits until the queue holds something, then moves up to `max` items,
  // oldest first, onto the end of `out`. Returns false only when the queue
  // is closed and empty: everything pushed before Close() is still popped.
  bool PopUpTo(size_t max, std::vector<T>& out) {
    absl::MutexLock lock(&mu_);
    while (items_.empty() && !closed_) cv_.Wait(&mu_);
    if (items_.empty()) return false;
    for (size_t n = 0; n < max && !items_.empty(); ++n) {
      out.push_back(std::move(items_.front()));
      items_.pop_front();
    }
    return true;
  }

  // Waits until the queue holds `max` items, is closed, or `deadline`
  // passes, then moves up to `max` items (possibly none) onto `out`.
  void PopUpToBy(size_t max, absl::Time deadline, std::vector<T>& out) {
    absl::MutexLock lock(&mu_);
    while (items_.size() < max && !closed_) {
      if (cv_.WaitWithDeadline(&mu_, deadline)) break;
    }
    for (size_t n = 0; n < max && !items_.empty(); ++n) {
      out.push_back(std::move(items_.front()));
      items_.pop_front();
    }
  }

  // Refuses further pushes and wakes every consumer.
  void Close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    cv_.SignalAll();
  }

 private:
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<T> items_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_HANDOFF_QUEUE_H_
