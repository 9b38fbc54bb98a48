// Publish rate per caller (docs/DESIGN.md, Security): one token bucket per
// caller name, refilled at `rate` tokens per second and holding at most `burst`
// (the rate itself, at least 1, so a caller may send a second's worth at once
// after a pause). Each publish takes one token; none left means reject.
//
// Buckets are created on first use and never removed: callers are the
// names in the API keys file plus "anonymous", a small fixed set.
//
// Thread-safe: one mutex around the bucket map. TryAcquire is called once
// per publish and holds the lock only for arithmetic.
#ifndef NOTIFYD_API_RATE_LIMITER_H_
#define NOTIFYD_API_RATE_LIMITER_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace notifyd::api {

class RateLimiter {
 public:
  // rate <= 0: unlimited, TryAcquire always succeeds.
  explicit RateLimiter(double rate_per_second);

  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Takes one token from `caller`'s bucket; false when it is empty. `now`
  // is a parameter so tests drive the clock; it should not go backwards
  // (if it does, no tokens are added).
  bool TryAcquire(absl::string_view caller, absl::Time now = absl::Now());

  bool unlimited() const { return rate_ <= 0; }

 private:
  struct Bucket {
    double tokens;
    absl::Time updated;
  };

  const double rate_;
  const double burst_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace notifyd::api

#endif  // NOTIFYD_API_RATE_LIMITER_H_
