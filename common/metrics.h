// A tiny Prometheus registry: counters, gauges and fixed-bucket histograms,
// rendered in the text exposition format 0.0.4 for /metrics.
//
// Threading: everything is thread-safe. Metric updates (Inc/Add/Set/Observe)
// are lock-free atomics, so hot paths never contend. Get*() takes the
// registry mutex to find or create the metric; callers on hot paths should
// look a metric up once and keep the reference, which stays valid for the
// registry's lifetime.
#ifndef NOTIFYD_COMMON_METRICS_H_
#define NOTIFYD_COMMON_METRICS_H_

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace notifyd {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Add(int64_t d) { value_.fetch_add(d, std::memory_order_relaxed); }
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  int64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// A value copied in at scrape time, by a collector (Metrics::AddCollector),
// from what the process does not count itself: its CPU seconds, its memory.
// Rendered exactly (shortest round-trip form) as a counter or a gauge,
// whichever it was registered as.
class Sample {
 public:
  void Set(double v) {
    bits_.store(std::bit_cast<uint64_t>(v), std::memory_order_relaxed);
  }
  double Value() const {
    return std::bit_cast<double>(bits_.load(std::memory_order_relaxed));
  }

 private:
  std::atomic<uint64_t> bits_{0};  // a double, bit-cast (0.0)
};

// Latency histogram in seconds with fixed buckets (the upper bounds below
// plus +Inf). Fixed buckets keep Observe() allocation- and lock-free.
class Histogram {
 public:
  static constexpr std::array<double, 12> kBounds = {
      .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5};

  void Observe(double seconds);

  // Snapshot for rendering and tests; buckets are NOT cumulative here.
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  double Sum() const;
  uint64_t BucketCount(size_t i) const {  // i == kBounds.size(): +Inf
    return buckets_[i].load(std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_bits_{0};  // a double, bit-cast, CAS-updated
};

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Finds or creates the metric `name` with `labels`; the same name and
  // labels always return the same object. `help` is taken from the first
  // registration. Asking for an existing name with a different type (or an
  // invalid name) logs an error and returns a metric that is not rendered,
  // so a programming error never crashes the server.
  Counter& GetCounter(const std::string& name, const std::string& help,
                      const MetricLabels& labels = {});
  Gauge& GetGauge(const std::string& name, const std::string& help,
                  const MetricLabels& labels = {});
  Histogram& GetHistogram(const std::string& name, const std::string& help,
                          const MetricLabels& labels = {});
  // A Sample rendered with "# TYPE counter" (it only rises, like CPU
  // seconds) or "# TYPE gauge".
  Sample& GetSampledCounter(const std::string& name, const std::string& help,
                            const MetricLabels& labels = {});
  Sample& GetSampledGauge(const std::string& name, const std::string& help,
                          const MetricLabels& labels = {});

  // Runs `collect` at the start of every RenderText, on the rendering
  // thread and without the registry's lock, so values another module keeps
  // (a shared bus's counts) can be copied into metrics of this registry.
  // It must be thread-safe and outlive the registry's use.
  void AddCollector(std::function<void()> collect);

  // Prometheus text exposition format 0.0.4, families sorted by name.
  std::string RenderText() const;

  // True for [a-zA-Z_:][a-zA-Z0-9_:]*.
  static bool IsValidName(const std::string& name);

 private:
  enum class Type {
    kCounter,
    kGauge,
    kHistogram,
    kSampledCounter,
    kSampledGauge
  };
  struct Family;

  // Returns the family's slot for `labels`, creating it; nullptr on a
  // name/type error.
  Family* FindFamily(const std::string& name, const std::string& help,
                     Type type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Sample& GetSample(const std::string& name, const std::string& help, Type type,
                    const MetricLabels& labels);

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> collectors_ ABSL_GUARDED_BY(mu_);
  // Returned for misuse; never rendered.
  Counter orphan_counter_;
  Gauge orphan_gauge_;
  Histogram orphan_histogram_;
  Sample orphan_sample_;
};

}  // namespace notifyd

#endif  // NOTIFYD_COMMON_METRICS_H_
