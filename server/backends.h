// The store and the bus notifyd runs on, chosen by --store and --bus
// (docs/DESIGN.md, Several instances): SQLite and the in-process bus are
// the zero-setup default; PostgreSQL and Redis let several instances behind
// a load balancer share one history and one live stream.
//
// Functions, no state: App calls them once at start, from its own thread.
// They block while they connect (never call them on a store thread).
#ifndef NOTIFYD_SERVER_BACKENDS_H_
#define NOTIFYD_SERVER_BACKENDS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bus/bus.h"
#include "common/metrics.h"
#include "storage/store.h"

namespace notifyd::server {

struct StoreChoice {
  // "sqlite" (the file at `db`), "memory" (for tests and demos, not
  // durable) or a postgres:// or postgresql:// URL.
  std::string store = "sqlite";
  std::string db = "./var/notify.db";
  bool synchronous_full = true;  // SQLite only; PostgreSQL syncs per commit
  absl::Duration commit_delay = absl::Milliseconds(1);  // SQLite only
  absl::Duration retention = absl::ZeroDuration();
  uint64_t max_per_channel = 0;
  absl::Duration prune_interval = absl::Seconds(30);
  size_t max_push_subscriptions = storage::kDefaultMaxPushSubscriptions;
  // Where the records the store writes by itself go (StoreOptions).
  std::function<void(std::vector<std::shared_ptr<const storage::Notification>>)>
      on_records;
};

struct BusChoice {
  std::string bus = "local";  // "local" or a redis:// URL
};

// INVALID_ARGUMENT naming the flag when --store or --bus is neither a known
// name nor a URL of a supported scheme, or when --bus=redis:// is paired with
// SQLite or memory (either belongs to one process, so other instances could
// neither replay nor fill from it).
absl::Status ValidateBackends(const StoreChoice& store, const BusChoice& bus);

// True for a PostgreSQL URL (then `db` is unused).
bool IsPostgresUrl(const std::string& store);

// Opens (creating and migrating) the chosen store; its commit timings go to
// `metrics` (notifyd_store_*).
absl::StatusOr<std::unique_ptr<storage::Store>> OpenStore(
    const StoreChoice& choice, Metrics& metrics);

// A started bus with `listener` registered, reading gaps from `store`
// (which must outlive it). `healthy` is set to what /readyz should ask
// (empty for the in-process bus, which cannot fail).
struct OpenedBus {
  std::unique_ptr<bus::Bus> bus;
  std::function<bool()> healthy;
  std::function<void()> close;  // stops its threads; idempotent
};
// A shared bus's counts appear in `metrics` (notifyd_bus_*).
absl::StatusOr<OpenedBus> OpenBus(const BusChoice& choice,
                                  storage::Store& store, Metrics& metrics,
                                  bus::Bus::Listener listener);

}  // namespace notifyd::server

#endif  // NOTIFYD_SERVER_BACKENDS_H_
