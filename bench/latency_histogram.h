// Log-linear latency histogram for the benchmark tools.
//
// Values are nanoseconds. Each power of two is split into 128 linear
// sub-buckets, so a reported percentile is within 1/128 (< 0.8%) of the true
// sample, and memory stays fixed (a few tens of KiB) however many samples a
// run records: the SSE benchmarks record tens of millions of deliveries.
//
// Threading: not thread-safe. Each thread records into its own histogram;
// Merge() combines them after the threads are done.
#ifndef NOTIFYD_BENCH_LATENCY_HISTOGRAM_H_
#define NOTIFYD_BENCH_LATENCY_HISTOGRAM_H_

#include <cstdint>
#include <string>
#include <vector>

namespace notifyd::bench {

class LatencyHistogram {
 public:
  LatencyHistogram();

  // Negative values (clock skew between publisher and reader) count as 0.
  void Record(int64_t ns);
  void Merge(const LatencyHistogram& other);
  void Reset();

  uint64_t count() const { return count_; }
  int64_t max_ns() const { return max_; }
  int64_t min_ns() const { return count_ == 0 ? 0 : min_; }
  double mean_ns() const {
    return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_;
  }
  // q in [0, 1]; the upper bound of the bucket holding the q-th sample,
  // capped at the true maximum. 0 when empty.
  int64_t Percentile(double q) const;

  // "p50=1.23ms p99=4.56ms max=7.89ms (n=1000)".
  std::string Summary() const;
  // Every figure in ms with three decimals, for scripts that compare runs:
  // "p50=0.123ms p90=... p99=... p99.9=... max=... mean=... (n=1000)".
  std::string MsSummary() const;

 private:
  static constexpr int kSubBits = 7;  // 128 sub-buckets per power of two
  static constexpr int kSub = 1 << kSubBits;
  static int BucketOf(uint64_t v);
  static uint64_t UpperBoundOf(int bucket);

  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  int64_t max_ = 0;
  int64_t min_ = INT64_MAX;
  __int128 sum_ = 0;
};

// "850us", "1.23ms", "2.5s": human units for a nanosecond figure.
std::string FormatNs(double ns);

}  // namespace notifyd::bench

#endif  // NOTIFYD_BENCH_LATENCY_HISTOGRAM_H_
