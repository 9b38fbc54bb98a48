// inbox_bench's "tabs" scenario (docs/BENCHMARKS.md, "The inbox"): how long
// a state change made in one tab takes to reach the user's other tabs.
//
// Against a running notifyd started with --insecure_dev_identity (the user
// is ?user=): `stream_users` users (prefix + 0, 1, ...) each hold
// `streams_per_user` SSE streams, and state changes are posted at `rate`/s
// (open loop) for warmup + duration, each for a user drawn uniformly from
// `users` users, as POST /v1/inbox/state {"ids":[ID],"read":true} on one of
// `pub_connections` keep-alive connections ("tab 1"). The ids are the
// users' unread notifications, listed first with GET /v1/inbox?filter=unread
// (so the store must hold some for every user). Latency: from the POST being
// written to `event: state` naming that id arriving on each of the user's
// streams but the first (the first stands for tab 1's own stream and is
// timed apart). Everything runs in this process on one steady clock: the
// sender notes when it wrote each id.
//
// Threading: RunTabs blocks the caller; it runs `threads` I/O threads for the
// streams and `pub_connections` posting threads, and joins them all.
#ifndef NOTIFYD_BENCH_INBOX_TABS_H_
#define NOTIFYD_BENCH_INBOX_TABS_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "bench/http_conn.h"

namespace notifyd::bench {

struct TabsOptions {
  Target target;
  std::string user_prefix = "u";
  int users = 10000;        // state changes are spread over these
  int stream_users = 1000;  // users prefix+0.. that hold streams
  int streams_per_user = 10;
  int source_addrs = 2;  // 127.0.0.1.. the streams connect from
  int threads = 2;       // I/O threads reading the streams
  int connect_concurrency = 256;
  int list_limit = 500;  // unread ids listed per user (<= 500)
  double rate = 1000;    // state changes per second
  absl::Duration warmup = absl::Seconds(2);
  absl::Duration duration = absl::Seconds(15);
  int pub_connections = 32;
  absl::Duration drain_timeout = absl::Seconds(10);
  uint32_t seed = 13;  // of the user draw
};

// Runs the scenario and prints what it measured to stdout. Returns 0 when
// every post was answered 200 and every expected delivery arrived, else 1.
int RunTabs(const TabsOptions& options);

}  // namespace notifyd::bench

#endif  // NOTIFYD_BENCH_INBOX_TABS_H_
