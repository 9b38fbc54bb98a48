// How often one user may open an SSE stream (docs/DESIGN.md, "Limits"): a token
// bucket per key (the user id), refilled at `rate` tokens per second and
// holding at most `burst`. Each stream open takes one token. A browser
// reconnects a few times a minute at most; a client reconnecting in a loop,
// each time making the edge read the store, is held to `rate` opens per second.
//
// Memory is bounded, unlike api/rate_limiter.h whose callers are a fixed
// set: any authenticated user may come by. A bucket that has refilled to
// `burst` is the same as no bucket, so such buckets are dropped by a sweep
// that runs at most once per refill time (burst / rate), touched only by
// the call that finds it due; what remains is the keys seen within about
// two refill times. On top of that at most `max_keys` buckets are held:
// while that many keys are being limited, a key without a bucket is let
// through untracked (the limit fails open rather than locking out users
// it has never seen).
//
// Thread-safe: one mutex around the bucket map, held for arithmetic (and
// an occasional sweep of the map). Never blocks otherwise; time is a
// parameter so tests drive the clock.
#ifndef NOTIFYD_EDGE_OPEN_RATE_LIMITER_H_
#define NOTIFYD_EDGE_OPEN_RATE_LIMITER_H_

#include <cstddef>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace notifyd::edge {

class OpenRateLimiter {
 public:
  static constexpr size_t kDefaultMaxKeys = 100'000;

  // rate_per_second <= 0: unlimited, TryAcquire always succeeds. `burst`
  // below 1 counts as 1.
  OpenRateLimiter(double rate_per_second, double burst,
                  size_t max_keys = kDefaultMaxKeys);

  OpenRateLimiter(const OpenRateLimiter&) = delete;
  OpenRateLimiter& operator=(const OpenRateLimiter&) = delete;

  // Takes one token from `key`'s bucket and returns zero. When the bucket
  // is empty, takes nothing and returns how long until it holds a token
  // again (> 0). `now` should not go backwards; if it does, no tokens are
  // added.
  absl::Duration TryAcquire(absl::string_view key,
                            absl::Time now = absl::Now());

  bool unlimited() const { return rate_ <= 0; }
  // Buckets held now, for tests.
  size_t tracked_keys() const;

 private:
  struct Bucket {
    double tokens;
    absl::Time updated;
  };

  // Removes the buckets that have refilled to `burst` by `now`.
  void SweepLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const double rate_;
  const double burst_;
  const size_t max_keys_;
  // burst / rate: how long an empty bucket takes to refill.
  const absl::Duration refill_time_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  absl::Time next_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_OPEN_RATE_LIMITER_H_
