// The Notifier's per-caller counters: notifyd_grpc_calls_total{method,code,
// caller}. Each counter is
// looked up in the registry once per (method, code, caller) and counted
// without a lock afterwards, so the hot path never takes the registry's
// mutex (common/metrics.h).
//
// Callers are found by name in an open-addressing table of pointers that
// readers probe without a lock; a caller seen for the first time (API keys
// are reloaded at run time) is added under a mutex. The table only grows: a
// full one is replaced by one twice its size, and the old one is kept for
// readers still probing it (at most as many slots as the current one, in
// all). Callers are never removed, like the publish-rate buckets
// (api/rate_limiter.h): they are the names in the API keys file plus
// "anonymous" and "unauthenticated".
//
// Thread-safe. The Metrics registry must outlive this object; a Caller
// reference stays valid for its lifetime.
#ifndef NOTIFYD_API_CALL_COUNTERS_H_
#define NOTIFYD_API_CALL_COUNTERS_H_

#include <grpcpp/support/status.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"

namespace notifyd::api {

class CallCounters {
 public:
  // One caller's counters, each null until first counted. Opaque outside
  // this class but for its name.
  struct Caller {
    Caller(std::string caller_name, size_t slots);
    const std::string name;
    // notifyd_grpc_calls_total, indexed by method * codes + code.
    const std::unique_ptr<std::atomic<Counter*>[]> calls;
  };

  // `method_names` label the methods, indexed as Calls' `method`.
  CallCounters(Metrics& metrics, std::vector<std::string> method_names);
  ~CallCounters();
  CallCounters(const CallCounters&) = delete;
  CallCounters& operator=(const CallCounters&) = delete;

  // The caller named `name`, added on first sight; never fails.
  Caller& Find(absl::string_view name);

  // The counter of `caller`'s calls of method `method` (an index into the
  // method names) that ended with `code`; a code that is not canonical
  // counts as UNKNOWN, as GrpcCodeName names it.
  Counter& Calls(Caller& caller, size_t method, grpc::StatusCode code);

 private:
  struct Table;

  static Caller* Lookup(const Table& table, absl::string_view name);
  static void Insert(const Table& table, Caller* caller);

  Metrics& metrics_;
  const std::vector<std::string> method_names_;
  std::atomic<const Table*> table_{nullptr};
  absl::Mutex mu_;
  // Every table made; the last is table_.
  std::vector<std::unique_ptr<Table>> tables_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Caller>> callers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace notifyd::api

#endif  // NOTIFYD_API_CALL_COUNTERS_H_
