#include "api/rate_limiter.h"

#include <algorithm>

namespace notifyd::api {

RateLimiter::RateLimiter(double rate_per_second)
    : rate_(rate_per_second), burst_(std::max(1.0, rate_per_second)) {}

bool RateLimiter::TryAcquire(absl::string_view caller, absl::Time now) {
  if (unlimited()) return true;
  absl::MutexLock lock(&mu_);
  auto [it, inserted] =
      buckets_.try_emplace(caller, Bucket{.tokens = burst_, .updated = now});
  Bucket& bucket = it->second;
  if (!inserted && now > bucket.updated) {
    double elapsed = absl::ToDoubleSeconds(now - bucket.updated);
    bucket.tokens = std::min(burst_, bucket.tokens + elapsed * rate_);
    bucket.updated = now;
  }
  if (bucket.tokens < 1.0) return false;
  bucket.tokens -= 1.0;
  return true;
}

}  // namespace notifyd::api
