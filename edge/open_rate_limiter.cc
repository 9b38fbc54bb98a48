#include "edge/open_rate_limiter.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"

namespace notifyd::edge {

OpenRateLimiter::OpenRateLimiter(double rate_per_second, double burst,
                                 size_t max_keys)
    : rate_(rate_per_second),
      burst_(std::max(1.0, burst)),
      max_keys_(max_keys),
      refill_time_(rate_per_second > 0
                       ? absl::Seconds(std::max(1.0, burst) / rate_per_second)
                       : absl::ZeroDuration()) {}

absl::Duration OpenRateLimiter::TryAcquire(absl::string_view key,
                                           absl::Time now) {
  if (unlimited()) return absl::ZeroDuration();
  absl::MutexLock lock(&mu_);
  if (now >= next_sweep_) {
    SweepLocked(now);
    next_sweep_ = now + refill_time_;
  }
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) return absl::ZeroDuration();
    it = buckets_.emplace(key, Bucket{.tokens = burst_, .updated = now}).first;
  } else if (now > it->second.updated) {
    Bucket& bucket = it->second;
    double elapsed = absl::ToDoubleSeconds(now - bucket.updated);
    bucket.tokens = std::min(burst_, bucket.tokens + elapsed * rate_);
    bucket.updated = now;
  }
  Bucket& bucket = it->second;
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    return absl::ZeroDuration();
  }
  return std::max(absl::Nanoseconds(1),
                  absl::Seconds((1.0 - bucket.tokens) / rate_));
}

size_t OpenRateLimiter::tracked_keys() const {
  absl::MutexLock lock(&mu_);
  return buckets_.size();
}

void OpenRateLimiter::SweepLocked(absl::Time now) {
  absl::erase_if(buckets_, [&](const auto& entry) {
    const Bucket& bucket = entry.second;
    double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - bucket.updated));
    return bucket.tokens + elapsed * rate_ >= burst_;
  });
}

}  // namespace notifyd::edge
