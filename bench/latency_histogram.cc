#include "bench/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>

namespace notifyd::bench {

namespace {
// Values below kSub are exact (bucket == value); above, one group of kSub/2
// buckets per power of two. 64 - kSubBits groups cover all of uint64.
constexpr int kGroups = 64 - 7 + 1;
}  // namespace

LatencyHistogram::LatencyHistogram() : buckets_(kSub + kGroups * kSub / 2) {}

int LatencyHistogram::BucketOf(uint64_t v) {
  if (v < kSub) return static_cast<int>(v);
  int msb = 63 - std::countl_zero(v);      // >= kSubBits
  int shift = msb - (kSubBits - 1);        // keeps kSubBits significant bits
  int sub = static_cast<int>(v >> shift);  // in [kSub/2, kSub)
  return kSub + (shift - 1) * (kSub / 2) + (sub - kSub / 2);
}

uint64_t LatencyHistogram::UpperBoundOf(int bucket) {
  if (bucket < kSub) return static_cast<uint64_t>(bucket);
  int rel = bucket - kSub;
  int shift = rel / (kSub / 2) + 1;
  uint64_t top = static_cast<uint64_t>(rel % (kSub / 2) + kSub / 2);
  return ((top + 1) << shift) - 1;
}

void LatencyHistogram::Record(int64_t ns) {
  if (ns < 0) ns = 0;
  ++buckets_[BucketOf(static_cast<uint64_t>(ns))];
  ++count_;
  sum_ += ns;
  max_ = std::max(max_, ns);
  min_ = std::min(min_, ns);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  max_ = std::max(max_, other.max_);
  min_ = std::min(min_, other.min_);
}

void LatencyHistogram::Reset() { *this = LatencyHistogram(); }

int64_t LatencyHistogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * count_));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      return std::min<int64_t>(static_cast<int64_t>(UpperBoundOf(i)), max_);
    }
  }
  return max_;
}

std::string LatencyHistogram::Summary() const {
  char buf[200];
  std::snprintf(buf, sizeof buf, "p50=%s p99=%s p99.9=%s max=%s (n=%llu)",
                FormatNs(Percentile(0.50)).c_str(),
                FormatNs(Percentile(0.99)).c_str(),
                FormatNs(Percentile(0.999)).c_str(), FormatNs(max_).c_str(),
                static_cast<unsigned long long>(count_));
  return buf;
}

std::string LatencyHistogram::MsSummary() const {
  char buf[240];
  std::snprintf(buf, sizeof buf,
                "p50=%.3fms p90=%.3fms p99=%.3fms p99.9=%.3fms max=%.3fms "
                "mean=%.3fms (n=%llu)",
                Percentile(0.50) / 1e6, Percentile(0.90) / 1e6,
                Percentile(0.99) / 1e6, Percentile(0.999) / 1e6, max_ / 1e6,
                mean_ns() / 1e6, static_cast<unsigned long long>(count_));
  return buf;
}

std::string FormatNs(double ns) {
  char buf[32];
  if (ns < 1e3) {
    std::snprintf(buf, sizeof buf, "%.0fns", ns);
  } else if (ns < 1e6) {
    std::snprintf(buf, sizeof buf, "%.1fus", ns / 1e3);
  } else if (ns < 1e9) {
    std::snprintf(buf, sizeof buf, "%.2fms", ns / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.2fs", ns / 1e9);
  }
  return buf;
}

}  // namespace notifyd::bench
