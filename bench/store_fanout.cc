// store_fanout: the SQLite store's AppendMany alone, without gRPC, the bus
// or streams (docs/BENCHMARKS.md, "Fan-out"): where NotifyUsers' time goes
// between the raw insert loop (sqlite_peer) and the whole server
// (publish_bench --rpc=notify_users).
//
// `--concurrency` threads each call AppendManySync with `--per_call`
// requests for consecutive users out of `--users` (user:u<N>, as
// publish_bench names them), so concurrent calls share group commits as the
// server's do. Prints notifications/s.
//
//   store_fanout --db=DIR/notify.db [--per_call=1000] [--concurrency=8]
//                [--duration=10s]
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "storage/sqlite_store.h"

ABSL_FLAG(std::string, db, "", "SQLite store file (created when missing)");
ABSL_FLAG(int, per_call, 1000, "requests per AppendMany");
ABSL_FLAG(int, users, 100000, "distinct user channels written to");
ABSL_FLAG(int, concurrency, 8, "threads calling AppendMany");
ABSL_FLAG(int, payload_bytes, 64, "bytes of each notification's data");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "measured time");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int per_call = absl::GetFlag(FLAGS_per_call);
  const int users = absl::GetFlag(FLAGS_users);
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  if (absl::GetFlag(FLAGS_db).empty() || per_call < 1 || users < per_call ||
      concurrency < 1) {
    std::fprintf(stderr,
                 "store_fanout: --db=FILE, --per_call >= 1, --users >= "
                 "--per_call, --concurrency >= 1\n");
    return 2;
  }
  std::printf("$ %s\n# %s\n", notifyd::bench::CommandLine(argc, argv).c_str(),
              notifyd::bench::MachineSummary().c_str());
  notifyd::storage::SqliteStoreOptions options;
  options.path = absl::GetFlag(FLAGS_db);
  auto store = notifyd::storage::OpenSqliteStore(options);
  if (!store.ok()) {
    std::fprintf(stderr, "store_fanout: %s\n",
                 store.status().ToString().c_str());
    return 1;
  }
  const std::string data(absl::GetFlag(FLAGS_payload_bytes), 'x');
  std::atomic<uint64_t> next_user{0};
  std::atomic<uint64_t> stored{0};
  std::atomic<bool> failed{false};
  const absl::Time end = absl::Now() + absl::GetFlag(FLAGS_duration);
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&] {
      while (absl::Now() < end && !failed.load()) {
        const uint64_t first = next_user.fetch_add(per_call);
        std::vector<notifyd::storage::AppendRequest> requests(per_call);
        for (int i = 0; i < per_call; ++i) {
          requests[i].channel = absl::StrCat("user:u", (first + i) % users);
          requests[i].event = "notification";
          requests[i].data = data;
        }
        auto results =
            notifyd::storage::AppendManySync(**store, std::move(requests));
        if (!results.ok()) {
          std::fprintf(stderr, "store_fanout: %s\n",
                       results.status().ToString().c_str());
          failed = true;
          return;
        }
        stored += results->size();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (failed.load()) return 1;
  std::printf(
      "store AppendMany: %.0f notifications/s (%llu in %.1f s, %d per call, "
      "%d threads)\n",
      stored.load() / seconds, static_cast<unsigned long long>(stored.load()),
      seconds, per_call, concurrency);
  return 0;
}
