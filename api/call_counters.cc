#include "api/call_counters.h"

#include <utility>

#include "absl/hash/hash.h"
#include "api/grpc_status.h"

namespace notifyd::api {
namespace {

// grpc::StatusCode runs from OK (0) to UNAUTHENTICATED (16).
constexpr size_t kCodeCount = grpc::StatusCode::UNAUTHENTICATED + 1;
constexpr size_t kInitialSlots = 16;

// The counter in `slot`, looked up with `get` the first time. Two threads
// may both look it up: the registry returns the same counter to both.
template <typename Get>
Counter& Resolve(std::atomic<Counter*>& slot, Get get) {
  Counter* counter = slot.load(std::memory_order_acquire);
  if (counter == nullptr) {
    counter = get();
    slot.store(counter, std::memory_order_release);
  }
  return *counter;
}

}  // namespace

// A power of two of slots, each null or a caller; a slot once set never
// changes.
struct CallCounters::Table {
  explicit Table(size_t n)
      : size(n), slots(std::make_unique<std::atomic<Caller*>[]>(n)) {}
  const size_t size;
  const std::unique_ptr<std::atomic<Caller*>[]> slots;
};

CallCounters::Caller::Caller(std::string caller_name, size_t slots)
    : name(std::move(caller_name)),
      calls(std::make_unique<std::atomic<Counter*>[]>(slots)) {}

CallCounters::CallCounters(Metrics& metrics,
                           std::vector<std::string> method_names)
    : metrics_(metrics), method_names_(std::move(method_names)) {
  absl::MutexLock lock(&mu_);
  tables_.push_back(std::make_unique<Table>(kInitialSlots));
  table_.store(tables_.back().get(), std::memory_order_release);
}

CallCounters::~CallCounters() = default;

CallCounters::Caller& CallCounters::Find(absl::string_view name) {
  if (Caller* caller = Lookup(*table_.load(std::memory_order_acquire), name)) {
    return *caller;
  }
  absl::MutexLock lock(&mu_);
  const Table* table = table_.load(std::memory_order_relaxed);
  if (Caller* caller = Lookup(*table, name)) return *caller;
  Caller* caller =
      callers_
          .emplace_back(std::make_unique<Caller>(
              std::string(name), method_names_.size() * kCodeCount))
          .get();
  // At most half full, so a probe always ends at an empty slot.
  if (2 * callers_.size() > table->size) {
    tables_.push_back(std::make_unique<Table>(2 * table->size));
    for (const auto& each : callers_) Insert(*tables_.back(), each.get());
    table_.store(tables_.back().get(), std::memory_order_release);
  } else {
    Insert(*table, caller);
  }
  return *caller;
}

Counter& CallCounters::Calls(Caller& caller, size_t method,
                             grpc::StatusCode code) {
  auto code_index = static_cast<size_t>(code);
  if (code_index >= kCodeCount) {  // not a canonical code: as GrpcCodeName
    code = grpc::StatusCode::UNKNOWN;
    code_index = static_cast<size_t>(code);
  }
  return Resolve(caller.calls[method * kCodeCount + code_index], [&] {
    return &metrics_.GetCounter(
        "notifyd_grpc_calls_total",
        "gRPC calls by method, code and caller (API key name)",
        {{"method", method_names_[method]},
         {"code", GrpcCodeName(code)},
         {"caller", caller.name}});
  });
}

CallCounters::Caller* CallCounters::Lookup(const Table& table,
                                           absl::string_view name) {
  const size_t mask = table.size - 1;
  for (size_t i = absl::HashOf(name) & mask;; i = (i + 1) & mask) {
    Caller* caller = table.slots[i].load(std::memory_order_acquire);
    if (caller == nullptr || caller->name == name) return caller;
  }
}

void CallCounters::Insert(const Table& table, Caller* caller) {
  const size_t mask = table.size - 1;
  size_t i = absl::HashOf(absl::string_view(caller->name)) & mask;
  while (table.slots[i].load(std::memory_order_relaxed) != nullptr) {
    i = (i + 1) & mask;
  }
  table.slots[i].store(caller, std::memory_order_release);
}

}  // namespace notifyd::api
