// Keeps a flood of one kind of log line (a client retrying with a bad API
// key, a port scan, a descriptor shortage) from filling the log and the
// disk: at most `burst` lines pass per `interval`, and the first line that
// passes after some were dropped can say how many.
//
// Thread-safe.
#ifndef NOTIFYD_COMMON_LOG_LIMITER_H_
#define NOTIFYD_COMMON_LOG_LIMITER_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace notifyd {

class LogLimiter {
 public:
  explicit LogLimiter(int burst = 10,
                      absl::Duration interval = absl::Seconds(1));

  // True when a line may be logged now; then *dropped is the number of
  // lines refused since the previous one that passed (usually 0).
  bool Allow(uint64_t* dropped, absl::Time now = absl::Now());

  // " (N similar lines dropped)", or "" for 0: a suffix for the line.
  static std::string DroppedNote(uint64_t dropped);

 private:
  const int burst_;
  const absl::Duration interval_;

  absl::Mutex mu_;
  absl::Time window_start_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int passed_in_window_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace notifyd

#endif  // NOTIFYD_COMMON_LOG_LIMITER_H_
