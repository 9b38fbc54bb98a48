#include "server/backends.h"

#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bus/redis_bus.h"
#include "storage/memory_store.h"
#include "storage/postgres_store.h"
#include "storage/sqlite_store.h"

namespace notifyd::server {

using bus::Bus;
using bus::NewInProcessBus;
using bus::NewRedisBus;
using bus::RedisBus;
using bus::RedisBusOptions;
using bus::RedisBusStats;

namespace {

constexpr char kSqlite[] = "sqlite";
constexpr char kMemory[] = "memory";
constexpr char kLocalBus[] = "local";

bool IsRedisUrl(const std::string& bus) {
  return absl::StartsWith(bus, "redis://");
}

absl::Status EnsureParentDirectory(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return absl::OkStatus();
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create directory ", parent.string(),
                     " for --db=", path, ": ", ec.message()));
  }
  return absl::OkStatus();
}

// Every store reports each group commit the same way.
std::function<void(const storage::CommitStats&)> CommitMetrics(
    Metrics& metrics) {
  Histogram& commit_seconds =
      metrics.GetHistogram("notifyd_store_commit_seconds",
                           "Time to commit and sync one group of appends");
  Histogram& queued_seconds = metrics.GetHistogram(
      "notifyd_store_queued_seconds",
      "How long the oldest call of each group commit waited for the writer");
  Counter& committed_calls = metrics.GetCounter(
      "notifyd_store_committed_calls_total",
      "Write calls committed; over notifyd_store_commit_seconds_count, the "
      "calls per group commit");
  return [&commit_seconds, &queued_seconds,
          &committed_calls](const storage::CommitStats& commit) {
    commit_seconds.Observe(commit.commit_seconds);
    queued_seconds.Observe(commit.queued_seconds);
    committed_calls.Inc(commit.calls);
  };
}

// What every store takes from the flags. --commit_delay is SQLite's
// (README): PostgreSQL and memory commit at once.
void SetStoreOptions(const StoreChoice& choice, Metrics& metrics,
                     storage::StoreOptions& options) {
  options.retention = choice.retention;
  options.max_per_channel = choice.max_per_channel;
  options.prune_interval = choice.prune_interval;
  options.max_push_subscriptions = choice.max_push_subscriptions;
  options.commit_delay = absl::ZeroDuration();
  options.on_commit = CommitMetrics(metrics);
  options.on_records = choice.on_records;
}

absl::StatusOr<std::unique_ptr<storage::Store>> OpenSqlite(
    const StoreChoice& choice, Metrics& metrics) {
  if (absl::Status s = EnsureParentDirectory(choice.db); !s.ok()) return s;
  storage::SqliteStoreOptions options;
  SetStoreOptions(choice, metrics, options);
  options.path = choice.db;
  options.synchronous_full = choice.synchronous_full;
  options.commit_delay = choice.commit_delay;
  const char* kCheckpointHelp =
      "Time to copy the WAL into the database file; `writer` ones delay the "
      "next commit, `background` ones run beside it";
  Histogram* checkpoint_seconds[2] = {
      &metrics.GetHistogram("notifyd_store_checkpoint_seconds", kCheckpointHelp,
                            {{"by", "background"}}),
      &metrics.GetHistogram("notifyd_store_checkpoint_seconds", kCheckpointHelp,
                            {{"by", "writer"}})};
  options.checkpoint.on_checkpoint = [checkpoint_seconds](bool on_writer,
                                                          double seconds) {
    checkpoint_seconds[on_writer ? 1 : 0]->Observe(seconds);
  };
  return storage::OpenSqliteStore(options);
}

absl::StatusOr<std::unique_ptr<storage::Store>> OpenPostgres(
    const StoreChoice& choice, Metrics& metrics) {
  storage::PostgresStoreOptions options;
  SetStoreOptions(choice, metrics, options);
  options.url = choice.store;
  return storage::OpenPostgresStore(options);
}

absl::StatusOr<std::unique_ptr<storage::Store>> OpenMemory(
    const StoreChoice& choice, Metrics& metrics) {
  storage::MemoryStoreOptions options;
  SetStoreOptions(choice, metrics, options);
  return storage::OpenMemoryStore(options);
}

// The bus keeps its own counts; each scrape copies them (counters only
// ever grow, so adding the difference keeps them counters).
void ExportBusMetrics(const RedisBus& bus, Metrics& metrics) {
  struct Exported {
    Counter* counter;
    uint64_t RedisBusStats::*field;
  };
  auto counter = [&metrics](const char* name, const char* help) {
    return &metrics.GetCounter(name, help);
  };
  std::vector<Exported> exported = {
      {counter("notifyd_bus_sent_total",
               "Notifications this instance published to Redis"),
       &RedisBusStats::sent},
      {counter("notifyd_bus_received_total",
               "Notifications received from other instances over Redis"),
       &RedisBusStats::received},
      {counter("notifyd_bus_queue_overflow_total",
               "Notifications not sent to Redis because its queue was full "
               "(other instances read them from the store)"),
       &RedisBusStats::queue_overflow},
      {counter("notifyd_bus_malformed_total",
               "Messages on the Redis channel dropped as unreadable"),
       &RedisBusStats::malformed},
      {counter("notifyd_bus_reconnects_total",
               "Redis subscriptions re-established after a lost connection"),
       &RedisBusStats::reconnects},
  };
  Counter& filled = metrics.GetCounter(
      "notifyd_bus_filled_total",
      "Notifications read from the store because the bus had not delivered "
      "them in time");
  Gauge& connected = metrics.GetGauge("notifyd_bus_connected",
                                      "1 while the Redis bus is connected");
  metrics.AddCollector([&bus, exported, &filled, &connected] {
    const RedisBusStats stats = bus.Stats();
    for (const Exported& e : exported) {
      const uint64_t value = stats.*e.field;
      if (value > e.counter->Value())
        e.counter->Inc(value - e.counter->Value());
    }
    if (stats.delivery.filled > filled.Value()) {
      filled.Inc(stats.delivery.filled - filled.Value());
    }
    connected.Set(bus.Healthy() ? 1 : 0);
  });
}

}  // namespace

bool IsPostgresUrl(const std::string& store) {
  return absl::StartsWith(store, "postgres://") ||
         absl::StartsWith(store, "postgresql://");
}

absl::Status ValidateBackends(const StoreChoice& store, const BusChoice& bus) {
  if (store.store != kSqlite && store.store != kMemory &&
      !IsPostgresUrl(store.store)) {
    return absl::InvalidArgumentError(
        "--store must be sqlite (the file at --db), memory (not durable) or "
        "a postgres:// URL");
  }
  if (bus.bus != kLocalBus && !IsRedisUrl(bus.bus)) {
    return absl::InvalidArgumentError(
        "--bus must be local (this process only) or a redis:// URL");
  }
  if (IsRedisUrl(bus.bus) && !IsPostgresUrl(store.store)) {
    return absl::InvalidArgumentError(
        "--bus=redis://... needs --store=postgres://...: instances that share "
        "a bus must share their store too, and a SQLite file (or memory) "
        "belongs to one process");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<storage::Store>> OpenStore(
    const StoreChoice& choice, Metrics& metrics) {
  if (IsPostgresUrl(choice.store)) return OpenPostgres(choice, metrics);
  if (choice.store == kMemory) return OpenMemory(choice, metrics);
  return OpenSqlite(choice, metrics);
}

absl::StatusOr<OpenedBus> OpenBus(const BusChoice& choice,
                                  storage::Store& store, Metrics& metrics,
                                  Bus::Listener listener) {
  OpenedBus opened;
  if (!IsRedisUrl(choice.bus)) {
    opened.bus = NewInProcessBus();
    opened.bus->AddListener(std::move(listener));
    opened.close = [] {};
    return opened;
  }
  RedisBusOptions options;
  options.url = choice.bus;
  options.fill = [&store](uint64_t after_id, uint64_t up_to_id, uint32_t limit,
                          auto done) {
    store.ReadIdRange(after_id, up_to_id, limit, std::move(done));
  };
  options.last_committed_id = [&store](storage::Callback<uint64_t> done) {
    store.LastCommittedId(std::move(done));
  };
  absl::StatusOr<std::unique_ptr<RedisBus>> bus =
      NewRedisBus(std::move(options));
  if (!bus.ok()) return bus.status();
  RedisBus* redis = bus->get();
  redis->AddListener(std::move(listener));
  if (absl::Status s = redis->Start(); !s.ok()) return s;
  ExportBusMetrics(*redis, metrics);
  opened.healthy = [redis] { return redis->Healthy(); };
  opened.close = [redis] { redis->Close(); };
  opened.bus = std::move(*bus);
  return opened;
}

}  // namespace notifyd::server
