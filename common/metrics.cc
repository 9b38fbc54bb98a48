#include "common/metrics.h"

#include <bit>
#include <charconv>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace notifyd {

// One metric family: a name, a type and one series per label set. Series are
// heap-allocated so references handed out stay valid as the map grows.
struct Metrics::Family {
  Type type;
  std::string help;
  std::map<MetricLabels, std::unique_ptr<Counter>> counters;
  std::map<MetricLabels, std::unique_ptr<Gauge>> gauges;
  std::map<MetricLabels, std::unique_ptr<Histogram>> histograms;
  std::map<MetricLabels, std::unique_ptr<Sample>> samples;
};

namespace {

// As "# TYPE" says it: a sample is a counter or a gauge.
const char* TypeName(int type) {
  static const char* const kNames[] = {"counter", "gauge", "histogram",
                                       "counter", "gauge"};
  return kNames[type];
}

// HELP text escapes backslash and newline; label values also escape '"'.
std::string Escape(const std::string& s, bool quote) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

// Renders {k="v",...}; `extra` (e.g. le="0.5") is appended last.
std::string LabelText(const MetricLabels& labels, const std::string& extra) {
  if (labels.empty() && extra.empty()) return "";
  std::string out = "{";
  for (const auto& [k, v] : labels) {
    if (out.size() > 1) out += ",";
    absl::StrAppend(&out, k, "=\"", Escape(v, true), "\"");
  }
  if (!extra.empty()) {
    if (out.size() > 1) out += ",";
    out += extra;
  }
  out += "}";
  return out;
}

std::string FormatDouble(double v) { return absl::StrCat(v); }

// The shortest text that reads back as `v` (a start time in seconds needs
// more digits than FormatDouble's six).
std::string FormatExact(double v) {
  char text[32];
  auto [end, ec] = std::to_chars(text, text + sizeof(text), v);
  return ec == std::errc() ? std::string(text, end) : FormatDouble(v);
}

}  // namespace

void Histogram::Observe(double seconds) {
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  uint64_t old_bits = sum_bits_.load(std::memory_order_relaxed);
  while (!sum_bits_.compare_exchange_weak(
      old_bits,
      std::bit_cast<uint64_t>(std::bit_cast<double>(old_bits) + seconds),
      std::memory_order_relaxed)) {
  }
}

double Histogram::Sum() const {
  return std::bit_cast<double>(sum_bits_.load(std::memory_order_relaxed));
}

Metrics::Metrics() = default;
Metrics::~Metrics() = default;

bool Metrics::IsValidName(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 c == ':';
    bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

Metrics::Family* Metrics::FindFamily(const std::string& name,
                                     const std::string& help, Type type) {
  if (!IsValidName(name)) {
    spdlog::error("metrics: invalid metric name '{}'", name);
    return nullptr;
  }
  auto it = families_.find(name);
  if (it == families_.end()) {
    auto family = std::make_unique<Family>();
    family->type = type;
    family->help = help;
    it = families_.emplace(name, std::move(family)).first;
  }
  if (it->second->type != type) {
    spdlog::error("metrics: '{}' registered as {} and asked for as {}", name,
                  TypeName(static_cast<int>(it->second->type)),
                  TypeName(static_cast<int>(type)));
    return nullptr;
  }
  return it->second.get();
}

Counter& Metrics::GetCounter(const std::string& name, const std::string& help,
                             const MetricLabels& labels) {
  absl::MutexLock lock(&mu_);
  Family* f = FindFamily(name, help, Type::kCounter);
  if (f == nullptr) return orphan_counter_;
  auto& slot = f->counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Metrics::GetGauge(const std::string& name, const std::string& help,
                         const MetricLabels& labels) {
  absl::MutexLock lock(&mu_);
  Family* f = FindFamily(name, help, Type::kGauge);
  if (f == nullptr) return orphan_gauge_;
  auto& slot = f->gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Metrics::GetHistogram(const std::string& name,
                                 const std::string& help,
                                 const MetricLabels& labels) {
  absl::MutexLock lock(&mu_);
  Family* f = FindFamily(name, help, Type::kHistogram);
  if (f == nullptr) return orphan_histogram_;
  auto& slot = f->histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>();
  return *slot;
}

Sample& Metrics::GetSample(const std::string& name, const std::string& help,
                           Type type, const MetricLabels& labels) {
  absl::MutexLock lock(&mu_);
  Family* f = FindFamily(name, help, type);
  if (f == nullptr) return orphan_sample_;
  auto& slot = f->samples[labels];
  if (!slot) slot = std::make_unique<Sample>();
  return *slot;
}

Sample& Metrics::GetSampledCounter(const std::string& name,
                                   const std::string& help,
                                   const MetricLabels& labels) {
  return GetSample(name, help, Type::kSampledCounter, labels);
}

Sample& Metrics::GetSampledGauge(const std::string& name,
                                 const std::string& help,
                                 const MetricLabels& labels) {
  return GetSample(name, help, Type::kSampledGauge, labels);
}

void Metrics::AddCollector(std::function<void()> collect) {
  absl::MutexLock lock(&mu_);
  collectors_.push_back(std::move(collect));
}

std::string Metrics::RenderText() const {
  std::vector<std::function<void()>> collectors;
  {
    absl::MutexLock lock(&mu_);
    collectors = collectors_;
  }
  for (const auto& collect : collectors) collect();
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    absl::StrAppend(&out, "# HELP ", name, " ", Escape(f->help, false), "\n");
    absl::StrAppend(&out, "# TYPE ", name, " ",
                    TypeName(static_cast<int>(f->type)), "\n");
    for (const auto& [labels, c] : f->counters) {
      absl::StrAppend(&out, name, LabelText(labels, ""), " ", c->Value(), "\n");
    }
    for (const auto& [labels, g] : f->gauges) {
      absl::StrAppend(&out, name, LabelText(labels, ""), " ", g->Value(), "\n");
    }
    for (const auto& [labels, v] : f->samples) {
      absl::StrAppend(&out, name, LabelText(labels, ""), " ",
                      FormatExact(v->Value()), "\n");
    }
    for (const auto& [labels, h] : f->histograms) {
      // _count is rendered as the +Inf bucket (not count_) so the two always
      // agree even while Observe() runs concurrently.
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= Histogram::kBounds.size(); ++i) {
        cumulative += h->BucketCount(i);
        std::string le =
            i < Histogram::kBounds.size()
                ? absl::StrCat("le=\"", FormatDouble(Histogram::kBounds[i]),
                               "\"")
                : std::string("le=\"+Inf\"");
        absl::StrAppend(&out, name, "_bucket", LabelText(labels, le), " ",
                        cumulative, "\n");
      }
      absl::StrAppend(&out, name, "_sum", LabelText(labels, ""), " ",
                      FormatDouble(h->Sum()), "\n");
      absl::StrAppend(&out, name, "_count", LabelText(labels, ""), " ",
                      cumulative, "\n");
    }
  }
  return out;
}

}  // namespace notifyd
