// publish_bench: how fast notifyd acknowledges durable writes, measured
// against the cheapest RPC the same server answers (grpc.health.v1.Health/
// Check, a no-op), so the figure says what durability and fan-out cost rather
// than what the machine or gRPC cost.
//
// Closed loop: --concurrency callers each keep exactly one call in flight
// (callback API, spread over --grpc_channels TCP connections) for
// --duration after --warmup; prints calls/s and p50/p99/max for Health/Check
// and for NotifyUser (or Publish), and their ratio.
//
// Open loop (--rate > 0): sends are scheduled at a fixed rate whatever the
// server does, and latency is measured from the scheduled time, so a server
// that stalls cannot hide its stall by slowing the client down.
//
// Each payload carries {"t":<CLOCK_REALTIME ns>} so an SSE reader (sse_load)
// can measure end-to-end latency of the same run.
#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "bench/latency_histogram.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "notify/v1/notify.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "notifyd gRPC host:port");
ABSL_FLAG(int, concurrency, 64, "closed loop: calls kept in flight");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10),
          "measured time of each run");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(2),
          "unmeasured time before each run");
ABSL_FLAG(double, rate, 0,
          "open loop: calls/s to offer (0 skips the open-loop runs)");
ABSL_FLAG(bool, closed, true, "run the closed-loop runs");
ABSL_FLAG(int, users, 1000, "distinct user ids (or channels) written to");
ABSL_FLAG(int, grpc_channels, 4,
          "gRPC channels (TCP connections) the calls are spread over");
ABSL_FLAG(int, payload_bytes, 64, "minimum size of each payload");
ABSL_FLAG(std::string, rpc, "notify_user",
          "notify_user, publish, or notify_users (fan-out: "
          "--users_per_call distinct users per call, walking --users)");
ABSL_FLAG(int, users_per_call, 1000, "notify_users: user ids per call");
ABSL_FLAG(bool, health, true, "also measure Health/Check (the no-op ceiling)");
ABSL_FLAG(int, max_in_flight, 20000,
          "open loop: calls beyond this many outstanding are counted as "
          "dropped instead of sent (protects the client's memory)");
ABSL_FLAG(std::string, json_out, "",
          "also write the figures as one JSON object to this file");

namespace notifyd::bench {
namespace {

using notify::v1::Notifier;

// A call kind: Start() begins one RPC and runs done(ok, error) exactly once
// on a gRPC callback thread. Implementations are thread-safe.
class CallKind {
 public:
  virtual ~CallKind() = default;
  virtual std::string Name() const = 0;
  // Notifications one successful call stores.
  virtual int NotificationsPerCall() const { return 1; }
  virtual void Start(uint64_t seq, int64_t stamp_ns,
                     std::function<void(bool, const std::string&)> done) = 0;
};

class HealthCheck final : public CallKind {
 public:
  explicit HealthCheck(std::vector<std::shared_ptr<grpc::Channel>> channels) {
    for (auto& c : channels)
      stubs_.push_back(std::make_unique<grpc::GenericStub>(c));
  }
  std::string Name() const override { return "Health/Check"; }
  void Start(uint64_t seq, int64_t,
             std::function<void(bool, const std::string&)> done) override {
    struct Call {
      grpc::ClientContext ctx;
      grpc::ByteBuffer request;
      grpc::ByteBuffer response;
    };
    auto* call = new Call;
    // HealthCheckRequest{service: ""} encodes to zero bytes. A zero-length
    // slice (not a default ByteBuffer, which holds no buffer at all) is what
    // the serializer expects.
    grpc::Slice empty("", 0);
    call->request = grpc::ByteBuffer(&empty, 1);
    stubs_[seq % stubs_.size()]->UnaryCall(
        &call->ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(),
        &call->request, &call->response,
        [call, done = std::move(done)](grpc::Status status) {
          bool ok = status.ok();
          std::string error;
          if (ok) {
            // HealthCheckResponse{status: SERVING (1)} is the two bytes
            // 08 01; anything else means the server is not serving.
            std::vector<grpc::Slice> slices;
            call->response.Dump(&slices);
            std::string bytes;
            for (auto& s : slices) {
              bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
            }
            if (bytes != std::string("\x08\x01", 2)) {
              ok = false;
              error = "health status is not SERVING";
            }
          } else {
            error = StatusText(status);
          }
          delete call;
          done(ok, error);
        });
  }

 private:
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;
};

class WriteCall final : public CallKind {
 public:
  WriteCall(std::vector<std::shared_ptr<grpc::Channel>> channels, bool publish,
            int users, int payload_bytes)
      : publish_(publish), users_(users), payload_bytes_(payload_bytes) {
    for (auto& c : channels) stubs_.push_back(Notifier::NewStub(c));
  }
  std::string Name() const override {
    return publish_ ? "Publish" : "NotifyUser";
  }
  void Start(uint64_t seq, int64_t stamp_ns,
             std::function<void(bool, const std::string&)> done) override {
    std::string data = StampedPayload(stamp_ns, seq, payload_bytes_);
    std::string key = absl::StrCat("u", seq % users_);
    auto finish = [done = std::move(done)](const grpc::Status& status,
                                           const auto&) {
      done(status.ok(), StatusText(status));
    };
    Notifier::Stub* stub = stubs_[seq % stubs_.size()].get();
    if (publish_) {
      notify::v1::PublishRequest request;
      request.set_channel(absl::StrCat("bench.", key));
      request.set_data(std::move(data));
      CallUnary<notify::v1::PublishRequest, notify::v1::PublishResponse>(
          std::move(request),
          [stub](auto* context, auto* request, auto* response, auto on_done) {
            stub->async()->Publish(context, request, response,
                                   std::move(on_done));
          },
          finish);
    } else {
      notify::v1::NotifyUserRequest request;
      request.set_user_id(key);
      request.set_data(std::move(data));
      CallUnary<notify::v1::NotifyUserRequest, notify::v1::NotifyUserResponse>(
          std::move(request),
          [stub](auto* context, auto* request, auto* response, auto on_done) {
            stub->async()->NotifyUser(context, request, response,
                                      std::move(on_done));
          },
          finish);
    }
  }

 private:
  std::vector<std::unique_ptr<Notifier::Stub>> stubs_;
  const bool publish_;
  const int users_;
  const int payload_bytes_;
};

// NotifyUsers: one payload to `per_call` users per call, the users taken in
// turn from u0..u<users-1>, so every call writes to per_call inboxes.
class NotifyUsersCall final : public CallKind {
 public:
  NotifyUsersCall(std::vector<std::shared_ptr<grpc::Channel>> channels,
                  int users, int per_call, int payload_bytes)
      : users_(users), per_call_(per_call), payload_bytes_(payload_bytes) {
    for (auto& c : channels) stubs_.push_back(Notifier::NewStub(c));
  }
  std::string Name() const override { return "NotifyUsers"; }
  int NotificationsPerCall() const override { return per_call_; }
  void Start(uint64_t seq, int64_t stamp_ns,
             std::function<void(bool, const std::string&)> done) override {
    notify::v1::NotifyUsersRequest request;
    const uint64_t first = seq * static_cast<uint64_t>(per_call_);
    for (int i = 0; i < per_call_; ++i) {
      request.add_user_ids(absl::StrCat("u", (first + i) % users_));
    }
    request.set_data(StampedPayload(stamp_ns, seq, payload_bytes_));
    Notifier::Stub* stub = stubs_[seq % stubs_.size()].get();
    CallUnary<notify::v1::NotifyUsersRequest, notify::v1::NotifyUsersResponse>(
        std::move(request),
        [stub](auto* context, auto* request, auto* response, auto on_done) {
          stub->async()->NotifyUsers(context, request, response,
                                     std::move(on_done));
        },
        [done = std::move(done)](const grpc::Status& status, const auto&) {
          done(status.ok(), StatusText(status));
        });
  }

 private:
  std::vector<std::unique_ptr<Notifier::Stub>> stubs_;
  const int users_;
  const int per_call_;
  const int payload_bytes_;
};

struct RunResult {
  std::string name;
  std::string mode;  // "closed" or "rate"
  double offered_rate = 0;
  double calls_per_s = 0;
  int per_call = 1;  // notifications stored by one call
  uint64_t ok = 0;
  uint64_t errors = 0;
  uint64_t dropped = 0;
  std::string first_error;
  LatencyHistogram latency;
};

// Collects completions from many callback threads. A mutex is cheap next to
// an RPC (a few hundred thousand completions per second at most).
class Recorder {
 public:
  void Record(bool ok, const std::string& error, int64_t latency_ns) {
    absl::MutexLock lock(&mu_);
    if (ok) {
      ++ok_;
      latency_.Record(latency_ns);
    } else {
      ++errors_;
      if (first_error_.empty()) first_error_ = error;
    }
  }
  void Fill(RunResult* r) {
    absl::MutexLock lock(&mu_);
    r->ok = ok_;
    r->errors = errors_;
    r->first_error = first_error_;
    r->latency = latency_;
  }

 private:
  absl::Mutex mu_;
  uint64_t ok_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t errors_ ABSL_GUARDED_BY(mu_) = 0;
  std::string first_error_ ABSL_GUARDED_BY(mu_);
  LatencyHistogram latency_ ABSL_GUARDED_BY(mu_);
};

RunResult RunClosed(CallKind& kind, int concurrency, absl::Duration warmup,
                    absl::Duration duration) {
  const auto start = SteadyClock::now();
  const auto measure_from = start + absl::ToChronoNanoseconds(warmup);
  const auto measure_to = measure_from + absl::ToChronoNanoseconds(duration);
  Recorder recorder;
  InFlight in_flight;
  std::atomic<uint64_t> seq{0};

  // Each slot issues its next call from the previous call's callback, so
  // exactly `concurrency` calls are outstanding until the end.
  std::function<void()> issue = [&] {
    auto t0 = SteadyClock::now();
    if (t0 >= measure_to) {
      in_flight.Done();
      return;
    }
    uint64_t s = seq.fetch_add(1, std::memory_order_relaxed);
    kind.Start(s, ToRealtimeNs(t0), [&, t0](bool ok, const std::string& err) {
      auto t1 = SteadyClock::now();
      // Only calls that both started and ended inside the window count, so
      // the rate is not inflated by warm-up calls finishing late.
      if (t0 >= measure_from && t1 <= measure_to) {
        recorder.Record(ok, err, Ns(t1 - t0));
      }
      issue();
    });
  };
  for (int i = 0; i < concurrency; ++i) in_flight.Add();
  for (int i = 0; i < concurrency; ++i) issue();
  in_flight.WaitZero();

  RunResult r;
  r.name = kind.Name();
  r.per_call = kind.NotificationsPerCall();
  r.mode = "closed";
  recorder.Fill(&r);
  r.calls_per_s = r.ok / absl::ToDoubleSeconds(duration);
  return r;
}

RunResult RunRate(CallKind& kind, double rate, absl::Duration warmup,
                  absl::Duration duration, int max_in_flight) {
  Recorder recorder;
  InFlight in_flight;
  std::atomic<int> outstanding{0};
  std::atomic<uint64_t> dropped{0};
  const auto start = SteadyClock::now();
  const auto measure_from = start + absl::ToChronoNanoseconds(warmup);
  in_flight.Add();  // held by the scheduler itself
  uint64_t issued = RunOpenLoop(
      rate, warmup + duration, [&](uint64_t seq, SteadyClock::time_point due) {
        bool measured = due >= measure_from;
        if (outstanding.load(std::memory_order_relaxed) >= max_in_flight) {
          if (measured) dropped.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        outstanding.fetch_add(1, std::memory_order_relaxed);
        in_flight.Add();
        kind.Start(seq, ToRealtimeNs(due),
                   [&, due, measured](bool ok, const std::string& err) {
                     if (measured) {
                       recorder.Record(ok, err, Ns(SteadyClock::now() - due));
                     }
                     outstanding.fetch_sub(1, std::memory_order_relaxed);
                     in_flight.Done();
                   });
      });
  auto scheduled_end = SteadyClock::now();
  in_flight.Done();
  in_flight.WaitZero();
  (void)issued;
  (void)scheduled_end;

  RunResult r;
  r.name = kind.Name();
  r.per_call = kind.NotificationsPerCall();
  r.mode = "rate";
  r.offered_rate = rate;
  recorder.Fill(&r);
  r.dropped = dropped.load();
  r.calls_per_s = r.ok / absl::ToDoubleSeconds(duration);
  return r;
}

void Print(const RunResult& r) {
  std::string label =
      r.mode == "closed"
          ? absl::StrCat("closed-loop ", r.name)
          : absl::StrCat("open-loop ", r.name, " @", r.offered_rate, "/s");
  std::printf("%-34s %10.0f calls/s  %s  errors=%llu dropped=%llu\n",
              label.c_str(), r.calls_per_s, r.latency.Summary().c_str(),
              static_cast<unsigned long long>(r.errors),
              static_cast<unsigned long long>(r.dropped));
  if (r.per_call > 1) {
    std::printf("  = %.0f notifications/s (%d per call)\n",
                r.calls_per_s * r.per_call, r.per_call);
  }
  if (!r.first_error.empty()) {
    std::printf("  first error: %s\n", r.first_error.c_str());
  }
  std::fflush(stdout);
}

std::string Json(const RunResult& r) {
  return absl::StrCat("{\"name\":\"", r.name, "\",\"mode\":\"", r.mode,
                      "\",\"offered_rate\":", r.offered_rate,
                      ",\"calls_per_s\":", r.calls_per_s,
                      ",\"notifications_per_s\":", r.calls_per_s * r.per_call,
                      ",\"ok\":", r.ok, ",\"errors\":", r.errors,
                      ",\"dropped\":", r.dropped,
                      ",\"p50_ns\":", r.latency.Percentile(0.5),
                      ",\"p99_ns\":", r.latency.Percentile(0.99),
                      ",\"p999_ns\":", r.latency.Percentile(0.999),
                      ",\"max_ns\":", r.latency.max_ns(), "}");
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "publish_bench: NotifyUser throughput and latency against the "
      "Health/Check ceiling.\nUsage: publish_bench --target=127.0.0.1:50051 "
      "[--concurrency=64] [--duration=10s] [--rate=5000]");
  absl::ParseCommandLine(argc, argv);
  std::printf("$ %s\n# %s\n", CommandLine(argc, argv).c_str(),
              MachineSummary().c_str());

  const std::string target = absl::GetFlag(FLAGS_target);
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const absl::Duration warmup = absl::GetFlag(FLAGS_warmup);
  const double rate = absl::GetFlag(FLAGS_rate);
  const std::string rpc = absl::GetFlag(FLAGS_rpc);
  if (concurrency < 1 || absl::GetFlag(FLAGS_users) < 1 ||
      absl::GetFlag(FLAGS_grpc_channels) < 1 || rate < 0 ||
      duration <= absl::ZeroDuration() ||
      absl::GetFlag(FLAGS_users_per_call) < 1 ||
      absl::GetFlag(FLAGS_users_per_call) > absl::GetFlag(FLAGS_users) ||
      (rpc != "notify_user" && rpc != "publish" && rpc != "notify_users")) {
    std::fprintf(stderr,
                 "publish_bench: --concurrency, --users, --grpc_channels, "
                 "--users_per_call must be >= 1 (and --users_per_call <= "
                 "--users), --duration > 0, --rpc notify_user, publish or "
                 "notify_users\n");
    return 2;
  }
  auto channels = MakeChannels(target, absl::GetFlag(FLAGS_grpc_channels),
                               absl::Seconds(10));
  if (!channels.ok()) {
    std::fprintf(stderr, "publish_bench: %s\n",
                 std::string(channels.status().message()).c_str());
    return 1;
  }
  HealthCheck health(*channels);
  std::unique_ptr<CallKind> write_kind;
  if (rpc == "notify_users") {
    write_kind =
        std::make_unique<NotifyUsersCall>(*channels, absl::GetFlag(FLAGS_users),
                                          absl::GetFlag(FLAGS_users_per_call),
                                          absl::GetFlag(FLAGS_payload_bytes));
  } else {
    write_kind = std::make_unique<WriteCall>(
        *channels, rpc == "publish", absl::GetFlag(FLAGS_users),
        absl::GetFlag(FLAGS_payload_bytes));
  }
  CallKind& write = *write_kind;
  std::printf(
      "# target=%s concurrency=%d grpc_channels=%d users=%d payload>=%dB "
      "warmup=%s duration=%s\n",
      target.c_str(), concurrency, absl::GetFlag(FLAGS_grpc_channels),
      absl::GetFlag(FLAGS_users), absl::GetFlag(FLAGS_payload_bytes),
      absl::FormatDuration(warmup).c_str(),
      absl::FormatDuration(duration).c_str());

  std::vector<RunResult> results;
  bool any_error = false;
  if (absl::GetFlag(FLAGS_closed)) {
    if (absl::GetFlag(FLAGS_health)) {
      results.push_back(RunClosed(health, concurrency, warmup, duration));
      Print(results.back());
    }
    results.push_back(RunClosed(write, concurrency, warmup, duration));
    Print(results.back());
    if (absl::GetFlag(FLAGS_health) && results[0].calls_per_s > 0) {
      std::printf("ratio %s/Health: %.3f (%.1f%%)\n", write.Name().c_str(),
                  results[1].calls_per_s / results[0].calls_per_s,
                  100.0 * results[1].calls_per_s / results[0].calls_per_s);
    }
  }
  if (rate > 0) {
    int max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
    results.push_back(RunRate(write, rate, warmup, duration, max_in_flight));
    Print(results.back());
    if (absl::GetFlag(FLAGS_health)) {
      results.push_back(RunRate(health, rate, warmup, duration, max_in_flight));
      Print(results.back());
    }
  }
  for (const RunResult& r : results) any_error |= r.errors > 0 || r.ok == 0;

  if (std::string path = absl::GetFlag(FLAGS_json_out); !path.empty()) {
    std::string json = absl::StrCat("{\"command\":\"", CommandLine(argc, argv),
                                    "\",\"runs\":[");
    for (size_t i = 0; i < results.size(); ++i) {
      if (i > 0) json += ',';
      json += Json(results[i]);
    }
    json += "]}\n";
    FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr || std::fputs(json.c_str(), f) < 0 ||
        std::fclose(f) != 0) {
      std::fprintf(stderr, "publish_bench: cannot write %s\n", path.c_str());
      return 1;
    }
  }
  return any_error ? 1 : 0;
}

}  // namespace
}  // namespace notifyd::bench

int main(int argc, char** argv) { return notifyd::bench::Main(argc, argv); }
