// Helpers shared by the benchmark tools: clocks, the timestamped payload the
// SSE latency measurement relies on, gRPC channel set-up, an open-loop
// scheduler, and reading a server's memory from /proc.
//
// Threading: every function is thread-safe (no shared state) unless noted.
#ifndef NOTIFYD_BENCH_BENCH_UTIL_H_
#define NOTIFYD_BENCH_BENCH_UTIL_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"

namespace notifyd::bench {

using SteadyClock = std::chrono::steady_clock;

// CLOCK_REALTIME in ns. The publisher and the SSE reader may be different
// processes, so the end-to-end stamp must use a clock both share; steady
// clocks are per-boot and fine too on one machine, but realtime also works
// across machines with NTP.
int64_t RealtimeNs();

// Nanoseconds of a steady duration.
inline int64_t Ns(SteadyClock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}
// The steady clock now, in ns (one process's own clock: for latencies
// measured where both ends are in the same process).
inline int64_t SteadyNs() { return Ns(SteadyClock::now().time_since_epoch()); }

// {"t":<t_ns>,"seq":<seq>,"pad":"xxx..."} padded so the whole payload is at
// least `min_bytes` long. Readers find the send time with ParseStamp.
std::string StampedPayload(int64_t t_ns, uint64_t seq, size_t min_bytes);

// Finds "t":<digits> in an SSE data line (or a whole payload). False when
// absent, so unrelated events (resets, pings) are not counted as latency.
bool ParseStamp(std::string_view data, int64_t* t_ns);

// `n` channels to `target` that do not share a TCP connection (each gets a
// distinct channel argument, so gRPC's subchannel pool cannot merge them),
// each connected before returning. Insecure credentials: the benchmarks run
// on loopback, where notifyd needs no publisher auth. Without `bdp_probe`
// a channel's receive window stays at HTTP/2's 64 KiB per stream (what a
// client that does not read leaves in the server).
absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> MakeChannels(
    const std::string& target, int n, absl::Duration connect_timeout,
    bool bdp_probe = true);

// Open-loop schedule: calls issue(seq, due) for seq = 0, 1, ... at
// `rate` per second from the calling thread until `duration` has elapsed,
// where due is the intended send time. When the caller falls behind, the
// late calls are issued at once (never skipped) and keep their original
// `due`, so latency measured from `due` includes the queueing a real client
// would see (no coordinated omission). Returns how many were issued.
uint64_t RunOpenLoop(
    double rate, absl::Duration duration,
    const std::function<void(uint64_t seq, SteadyClock::time_point due)>&
        issue);

// Converts a steady time point into CLOCK_REALTIME ns, using an offset
// sampled once at start (so stamps do not jump with NTP slews mid-run).
int64_t ToRealtimeNs(SteadyClock::time_point t);

// Resident set of `pid` (VmRSS) in bytes, plus that of all its descendants
// when `with_children` (nginx keeps connections in its worker processes).
// -1 when /proc cannot be read.
int64_t ReadRssBytes(pid_t pid, bool with_children);

// The argv joined with spaces, for printing how a figure was produced.
std::string CommandLine(int argc, char** argv);

// "Linux 6.1 x86_64, 2 cpus, <model>": printed with every run.
std::string MachineSummary();

// "CODE message" of a failed call, "" for OK: how the tools report errors.
std::string StatusText(const grpc::Status& status);

// One unary call on gRPC's callback API, its state owned until it is over:
// `start(context, request, response, on_done)` begins it (a lambda calling,
// say, stub->async()->NotifyUser with those), and `done(status, response)`
// runs once, on a gRPC thread, when it ends.
template <typename Request, typename Response, typename Start, typename Done>
void CallUnary(Request request, Start start, Done done) {
  struct Call {
    grpc::ClientContext context;
    Request request;
    Response response;
  };
  auto* call = new Call;
  call->request = std::move(request);
  std::function<void(grpc::Status)> on_done =
      [call, done = std::move(done)](grpc::Status status) {
        done(status, call->response);
        delete call;
      };
  start(&call->context, &call->request, &call->response, std::move(on_done));
}

// Counts calls in flight, so that a run ends only once every callback has
// run (the callbacks refer to the run's state). Thread-safe.
class InFlight {
 public:
  void Add();
  void Done();
  int64_t n();
  // Whether the count reached zero within `timeout` (default: waits for
  // as long as that takes).
  bool WaitZero(absl::Duration timeout = absl::InfiniteDuration());

 private:
  absl::Mutex mu_;
  int64_t n_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace notifyd::bench

#endif  // NOTIFYD_BENCH_BENCH_UTIL_H_
