// inbox_bench: the performance goals of the inbox (issue #13,
// docs/BENCHMARKS.md "The inbox"), against a running notifyd started with
// --insecure_dev_identity (the user is ?user=, on every inbox route).
//
//   --scenario=get   One HTTP/1.1 keep-alive connection sends --requests
//                    sequential GETs of --path (after --warmup_requests
//                    unmeasured ones) and times each from the first byte
//                    written to the last byte of the response read. Every
//                    answer must be 200. E.g.
//                    --path='/v1/inbox/counts?user=big'.
//
//   --scenario=tabs  "Other tabs": how long a state change posted for one
//                    tab takes to reach the user's other open streams
//                    (bench/inbox_tabs.h says exactly what is measured).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "bench/http_conn.h"
#include "bench/inbox_tabs.h"
#include "bench/latency_histogram.h"

ABSL_FLAG(std::string, scenario, "get", "get or tabs");
ABSL_FLAG(std::string, target, "127.0.0.1:8080", "notifyd HTTP host:port");
ABSL_FLAG(std::string, path, "/v1/inbox/counts?user=big",
          "get: the request target");
ABSL_FLAG(int, requests, 5000, "get: measured requests");
ABSL_FLAG(int, warmup_requests, 500, "get: unmeasured requests first");
ABSL_FLAG(absl::Duration, max_time, absl::Seconds(60),
          "get: stop measuring after this long even if fewer than --requests "
          "were made (warm-up stops after a tenth of it)");
// The tabs flags default to TabsOptions' own defaults.
static const notifyd::bench::TabsOptions kTabs;
ABSL_FLAG(int, users, kTabs.users, "tabs: users state changes are spread over");
ABSL_FLAG(int, stream_users, kTabs.stream_users,
          "tabs: users u0.. that hold streams");
ABSL_FLAG(int, streams_per_user, kTabs.streams_per_user,
          "tabs: streams each of them holds");
ABSL_FLAG(std::string, user_prefix, kTabs.user_prefix,
          "tabs: user id = prefix + index");
ABSL_FLAG(int, source_addrs, kTabs.source_addrs,
          "tabs: spread streams over 127.0.0.1 .. 127.0.0.<N>");
ABSL_FLAG(int, threads, kTabs.threads, "tabs: I/O threads reading the streams");
ABSL_FLAG(int, connect_concurrency, kTabs.connect_concurrency,
          "tabs: streams in set-up at once");
ABSL_FLAG(int, list_limit, kTabs.list_limit,
          "tabs: unread ids listed per user (<= 500)");
ABSL_FLAG(double, rate, kTabs.rate, "tabs: state changes per second");
ABSL_FLAG(absl::Duration, warmup, kTabs.warmup,
          "tabs: unmeasured posting first");
ABSL_FLAG(absl::Duration, duration, kTabs.duration, "tabs: measured posting");
ABSL_FLAG(int, pub_connections, kTabs.pub_connections,
          "tabs: keep-alive connections (one thread each) posting changes");
ABSL_FLAG(absl::Duration, drain_timeout, kTabs.drain_timeout,
          "tabs: how long to wait for outstanding deliveries");
ABSL_FLAG(uint32_t, seed, kTabs.seed, "tabs: seed of the user draw");

namespace notifyd::bench {
namespace {

int RunGet(const Target& target) {
  const std::string path = absl::GetFlag(FLAGS_path);
  HttpConn conn;
  if (absl::Status s = conn.Connect(target); !s.ok()) {
    std::fprintf(stderr, "inbox_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  const std::string request = conn.RequestText("GET", path, {});
  LatencyHistogram h;
  size_t bytes = 0;
  std::string first_body;
  const int warmup = absl::GetFlag(FLAGS_warmup_requests);
  const int total = warmup + absl::GetFlag(FLAGS_requests);
  const int64_t max_ns =
      absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_max_time));
  const int64_t start_ns = SteadyNs();
  int64_t measure_from_ns = 0;
  int warmed = warmup;
  bool capped = false;
  for (int i = 0; i < total; ++i) {
    if (i < warmup && SteadyNs() - start_ns > max_ns / 10) {
      warmed = i;  // warm-up cut short; measure from here
      i = warmup;
    }
    if (i == warmup) measure_from_ns = SteadyNs();
    if (i > warmup && SteadyNs() - measure_from_ns > max_ns) {
      capped = true;
      break;
    }
    int64_t t0 = SteadyNs();
    absl::Status s = conn.Write(request);
    absl::StatusOr<Response> r =
        s.ok() ? conn.Read() : absl::StatusOr<Response>(s);
    int64_t t1 = SteadyNs();
    if (!r.ok() || r->status != 200) {
      std::fprintf(stderr, "inbox_bench: GET %s: %s\n", path.c_str(),
                   r.ok()
                       ? absl::StrCat("HTTP ", r->status, " ", r->body).c_str()
                       : r.status().ToString().c_str());
      return 1;
    }
    if (i == 0) first_body = r->body;
    if (i >= warmup) {
      h.Record(t1 - t0);
      bytes += r->body.size();
    }
  }
  std::printf(
      "GET %s: %llu sequential requests on one keep-alive connection "
      "(after %d unmeasured)%s, %.0f body bytes each\n",
      path.c_str(), static_cast<unsigned long long>(h.count()), warmed,
      capped ? absl::StrCat(", stopped at --max_time=",
                            absl::FormatDuration(absl::GetFlag(FLAGS_max_time)))
                   .c_str()
             : "",
      static_cast<double>(bytes) / std::max<uint64_t>(h.count(), 1));
  std::printf("first body: %s\n",
              first_body.size() > 160
                  ? absl::StrCat(first_body.substr(0, 160), "...").c_str()
                  : first_body.c_str());
  std::printf("latency: %s\n", h.MsSummary().c_str());
  return 0;
}

TabsOptions TabsOptionsFromFlags(const Target& target) {
  TabsOptions o;
  o.target = target;
  o.user_prefix = absl::GetFlag(FLAGS_user_prefix);
  o.users = absl::GetFlag(FLAGS_users);
  o.stream_users = absl::GetFlag(FLAGS_stream_users);
  o.streams_per_user = absl::GetFlag(FLAGS_streams_per_user);
  o.source_addrs = absl::GetFlag(FLAGS_source_addrs);
  o.threads = absl::GetFlag(FLAGS_threads);
  o.connect_concurrency = absl::GetFlag(FLAGS_connect_concurrency);
  o.list_limit = absl::GetFlag(FLAGS_list_limit);
  o.rate = absl::GetFlag(FLAGS_rate);
  o.warmup = absl::GetFlag(FLAGS_warmup);
  o.duration = absl::GetFlag(FLAGS_duration);
  o.pub_connections = absl::GetFlag(FLAGS_pub_connections);
  o.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  o.seed = absl::GetFlag(FLAGS_seed);
  return o;
}

}  // namespace
}  // namespace notifyd::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "inbox_bench --scenario=get|tabs --target=127.0.0.1:PORT [flags]");
  absl::ParseCommandLine(argc, argv);
  using namespace notifyd::bench;
  std::printf("machine: %s\ncommand: %s\n", MachineSummary().c_str(),
              CommandLine(argc, argv).c_str());
  absl::StatusOr<Target> target = ParseTarget(absl::GetFlag(FLAGS_target));
  if (!target.ok()) {
    std::fprintf(stderr, "inbox_bench: %s\n",
                 target.status().ToString().c_str());
    return 2;
  }
  const std::string scenario = absl::GetFlag(FLAGS_scenario);
  int rc;
  if (scenario == "get") {
    rc = RunGet(*target);
  } else if (scenario == "tabs") {
    rc = RunTabs(TabsOptionsFromFlags(*target));
  } else {
    std::fprintf(stderr, "inbox_bench: --scenario must be get or tabs\n");
    return 2;
  }
  std::fflush(stdout);
  return rc;
}
