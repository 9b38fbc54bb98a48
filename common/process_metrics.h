// Prometheus' standard process metrics, under the names every Prometheus
// client library exports, so stock dashboards and alerts work unchanged:
//   process_cpu_seconds_total      user + system CPU time (counter)
//   process_resident_memory_bytes  resident set size
//   process_open_fds               open file descriptors
//   process_max_fds                the descriptor limit (RLIMIT_NOFILE, soft)
//   process_start_time_seconds     when the process started, Unix seconds
//
// Computed at scrape time, by a collector (Metrics::AddCollector) on the
// thread that renders /metrics: the admin listener's I/O thread. That is
// allowed there because every source is an in-memory kernel read that never
// waits on a disk or a lock another thread holds: /proc/self/stat (one
// small read), the entries of /proc/self/fd (one getdents call per few
// hundred descriptors: well under a millisecond at the 20,000 a process
// may open) and getrlimit. Linux only (/proc); a value that cannot be read
// keeps its last one (0 at first) and the others are still set.
//
// Thread-safe.
#ifndef NOTIFYD_COMMON_PROCESS_METRICS_H_
#define NOTIFYD_COMMON_PROCESS_METRICS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "common/metrics.h"

namespace notifyd {

struct ProcessStats {
  double cpu_seconds = 0;
  uint64_t resident_bytes = 0;
  uint64_t open_fds = 0;  // the one that lists them is not counted
  uint64_t max_fds = 0;
  double start_time_seconds = 0;
};

// This process's stats now; UNAVAILABLE naming what could not be read.
absl::StatusOr<ProcessStats> ReadProcessStats();

// Registers the process_* metrics in `metrics`, refreshed on every render
// (the collector holds references into `metrics` only).
void AddProcessMetrics(Metrics& metrics);

}  // namespace notifyd

#endif  // NOTIFYD_COMMON_PROCESS_METRICS_H_
