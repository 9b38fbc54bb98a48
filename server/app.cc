#include "server/app.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "api/api_keys.h"
#include "api/embedded_descriptors.h"
#include "api/notifier_service.h"
#include "api/publisher.h"
#include "api/reflection_service.h"
#include "bus/bus.h"
#include "common/build_info.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/names.h"
#include "common/process_metrics.h"
#include "edge/hub.h"
#include "push/vapid.h"
#include "server/backends.h"
#include "server/grpc_front.h"
#include "server/http_publishing.h"
#include "server/push_scheduler.h"
#include "server/tls.h"
#include "spdlog/spdlog.h"
#include "storage/store.h"

namespace notifyd::server {
namespace {

// Scrapers and probes: a handful; part of the descriptor reserve.
constexpr size_t kAdminConnections = 32;

// The admin listener: the edge's options with the admin routes, a few
// connections, one thread, plain HTTP (it belongs on loopback or a private
// network), the readiness of everything else, and HTTP publishing through
// `publisher`.
edge::EdgeOptions AdminOptions(const AppOptions& options,
                               std::vector<edge::ReadyCheck> ready_checks,
                               api::Publisher& publisher) {
  edge::EdgeOptions admin;
  admin.listen = options.admin_listen;
  admin.role = edge::EdgeRole::kAdmin;
  admin.io_threads = 1;
  admin.max_connections = kAdminConnections;
  admin.max_header_bytes = options.edge.max_header_bytes;
  admin.idle_timeout = options.edge.idle_timeout;
  admin.write_timeout = options.edge.write_timeout;
  admin.ready_checks = std::move(ready_checks);
  admin.publish = HttpPublishing(publisher, options.max_publish_rate);
  admin.max_payload_bytes = options.max_payload_bytes;
  return admin;
}

}  // namespace

// Where the records the store writes by itself (expiry's deletions) go: the
// bus, from the moment it is open until it closes, so every stream of the
// user learns of them (docs/DESIGN.md, The inbox). The store opens before
// the bus and closes after it; records written outside that window reach
// streams through replay only.
class RecordSink {
 public:
  void Attach(bus::Bus* bus) {
    absl::MutexLock lock(&mu_);
    bus_ = bus;
  }
  // Store completer thread, in commit order. Bus::Publish never blocks.
  void Publish(std::vector<std::shared_ptr<const storage::Notification>> rows) {
    absl::MutexLock lock(&mu_);
    if (bus_ == nullptr) return;
    for (auto& row : rows) bus_->Publish(std::move(row));
  }

 private:
  absl::Mutex mu_;
  bus::Bus* bus_ ABSL_GUARDED_BY(mu_) = nullptr;
};

struct App::Parts {
  AppOptions options;
  Metrics metrics;
  // Outlives the store, whose expirer holds it.
  std::shared_ptr<RecordSink> record_sink = std::make_shared<RecordSink>();
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<bus::Bus> bus;
  std::function<void()> close_bus;
  std::unique_ptr<edge::Hub> hub;
  // NotifyUser, Publish, NotifyUsers over gRPC and HTTP publishing on the
  // admin listener (api/publisher.h); declared before what calls it.
  std::unique_ptr<api::Publisher> publisher;
  std::unique_ptr<edge::EdgeServer> edge;
  std::unique_ptr<edge::EdgeServer> admin;  // --admin_listen
  std::unique_ptr<api::NotifierService> service;
  // grpc.reflection.v1alpha, from the embedded descriptors (with comments).
  std::unique_ptr<api::ReflectionService> reflection;
  // The gRPC server, its listener and limits (server/grpc_front.h).
  std::unique_ptr<GrpcFront> grpc;
  // --vapid_key_file: Web Push (server/push_scheduler.h).
  std::unique_ptr<PushScheduler> push_scheduler;
  bool shut_down = false;
  // Responsive()'s Ping in flight; set when the store answered it.
  std::shared_ptr<absl::Notification> ping_answered;

  // Stops what has been started, in order: stop accepting gRPC calls and
  // finish those in flight, end every stream, then the bus, then the store.
  // Parts never started are skipped; idempotent.
  void Stop();
  // Start()'s way out: stops what has been started, returns `status`.
  absl::Status Fail(absl::Status status) {
    Stop();
    return status;
  }
};

void App::Parts::Stop() {
  if (shut_down) return;
  shut_down = true;
  const bool served = grpc && grpc->started();
  if (served) {
    Log(spdlog::level::info, "notifyd shutting down: draining gRPC calls");
  }
  if (edge) edge->SetReady(false);
  if (admin) admin->SetReady(false);
  // First: while streams still end, users would look offline to it.
  if (push_scheduler) push_scheduler->Stop();
  if (grpc) grpc->Stop();
  if (edge) {
    Log(spdlog::level::info, "notifyd shutting down: ending streams");
    edge->Shutdown();
  }
  if (admin) admin->Shutdown();
  // Before the store: a shared bus reads gaps from it.
  record_sink->Attach(nullptr);
  if (close_bus) close_bus();
  if (store) {
    store->Close();
    if (served) Log(spdlog::level::info, "notifyd stopped; store closed");
  }
}

App::App(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

App::~App() { Shutdown(); }

absl::StatusOr<std::unique_ptr<App>> App::Start(AppOptions options) {
  if (absl::Status s = ValidateExposure(options); !s.ok()) return s;
  if (absl::Status s = ValidateLimits(options); !s.ok()) return s;
  if (absl::Status s = ValidateStoreAndBus(options); !s.ok()) return s;
  absl::StatusOr<FdBudget> fds = PlanDescriptors(options);
  if (!fds.ok()) return fds.status();
  options.edge.max_connections = fds->http;
  options.max_grpc_connections = fds->grpc;
  Log(spdlog::level::info, "descriptors planned",
      {{"fd_limit", fds->limit},
       {"http_connections", fds->http},
       {"grpc_connections", fds->grpc},
       {"fd_reserve", fds->reserve}});
  // Files are read before anything starts, so a bad one leaves nothing
  // running.
  std::shared_ptr<const api::ApiKeySet> api_keys;
  if (!options.api_keys_file.empty()) {
    absl::StatusOr<api::ApiKeySet> loaded =
        api::ApiKeySet::Load(options.api_keys_file);
    if (!loaded.ok()) return loaded.status();
    api_keys = std::make_shared<const api::ApiKeySet>(*std::move(loaded));
  }
  std::optional<push::VapidKey> vapid_key;
  if (!options.vapid_key_file.empty()) {
    absl::StatusOr<push::VapidKey> key =
        push::VapidKey::FromFile(options.vapid_key_file);
    if (!key.ok()) return key.status();
    options.edge.push_public_key = key->public_key_base64url();
    options.push.allow_private = options.edge.push_allow_private;
    vapid_key = *std::move(key);
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      GrpcServerCredentials({.cert_file = options.tls_cert_file,
                             .key_file = options.tls_key_file,
                             .client_ca_file = options.tls_client_ca_file});
  if (!credentials.ok()) return credentials.status();
  auto parts = std::make_unique<Parts>();
  parts->options = options;
  Parts& p = *parts;

  StoreChoice store_choice = StoreChoiceOf(options);
  store_choice.on_records =
      [sink = p.record_sink](
          std::vector<std::shared_ptr<const storage::Notification>> rows) {
        sink->Publish(std::move(rows));
      };
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      OpenStore(store_choice, p.metrics);
  if (!store.ok()) return store.status();
  p.store = std::move(*store);

  // The process, and what it was built from (common/process_metrics.h).
  AddProcessMetrics(p.metrics);
  p.metrics
      .GetGauge("notifyd_build_info",
                "The running binary: always 1, with its version and commit",
                {{"version", kBuildVersion}, {"commit", kBuildCommit}})
      .Set(1);
  p.hub = std::make_unique<edge::Hub>(p.metrics);
  edge::Hub* hub = p.hub.get();
  absl::StatusOr<OpenedBus> bus =
      OpenBus({.bus = options.bus}, *p.store, p.metrics,
              [hub](const std::shared_ptr<const storage::Notification>& n) {
                return hub->Publish(n);
              });
  if (!bus.ok()) return p.Fail(bus.status());
  p.bus = std::move(bus->bus);
  p.close_bus = std::move(bus->close);
  p.record_sink->Attach(p.bus.get());
  std::vector<edge::ReadyCheck> ready_checks;
  if (bus->healthy) ready_checks.push_back({"bus", std::move(bus->healthy)});

  std::shared_ptr<const api::TokenAuthority> authority;
  if (options.tokens) {
    absl::StatusOr<api::TokenAuthority> created =
        api::TokenAuthority::Create(*options.tokens);
    if (!created.ok()) return p.Fail(created.status());
    authority =
        std::make_shared<const api::TokenAuthority>(*std::move(created));
    options.edge.token_verifier =
        [authority](absl::string_view token) -> absl::StatusOr<edge::Identity> {
      absl::StatusOr<api::TokenClaims> claims = authority->Verify(token);
      if (!claims.ok()) return claims.status();
      return edge::Identity{.user = std::move(claims->user_id),
                            .channels = std::move(claims->channels),
                            .all_channels = false};
    };
  }

  absl::StatusOr<std::unique_ptr<GrpcFront>> grpc =
      GrpcFront::Bind(options, *fds, *credentials, p.metrics);
  if (!grpc.ok()) return p.Fail(grpc.status());
  p.grpc = *std::move(grpc);
  GrpcFront* grpc_front = p.grpc.get();
  ready_checks.push_back(
      {"gRPC listener", [grpc_front] { return grpc_front->accepting(); }});

  // The records of POST /v1/inbox/state reach every stream as the store's
  // own do.
  options.edge.publish_record =
      [sink = p.record_sink](std::shared_ptr<const storage::Notification> n) {
        sink->Publish({std::move(n)});
      };
  if (options.enable_edge) {
    p.edge = std::make_unique<edge::EdgeServer>(options.edge, *p.store, *p.hub,
                                                p.metrics);
    if (absl::Status s = p.edge->Start(); !s.ok()) return p.Fail(s);
    edge::EdgeServer* public_edge = p.edge.get();
    ready_checks.push_back(
        {"HTTP listener", [public_edge] { return public_edge->accepting(); }});
  }
  p.publisher = std::make_unique<api::Publisher>(
      api::PublisherOptions{.max_payload_bytes = options.max_payload_bytes,
                            .max_fanout_bytes = options.max_fanout_bytes,
                            .api_keys = api_keys,
                            .max_publish_rate = options.max_publish_rate,
                            .retention = options.retention},
      *p.store, *p.bus, p.metrics);
  if (!options.admin_listen.empty()) {
    p.admin = std::make_unique<edge::EdgeServer>(
        AdminOptions(options, std::move(ready_checks), *p.publisher), *p.store,
        *p.hub, p.metrics);
    if (absl::Status s = p.admin->Start(); !s.ok()) return p.Fail(s);
  }

  api::NotifierOptions service_options;
  service_options.max_stream_inflight = options.max_stream_inflight;
  service_options.live_stats = [hub](size_t top_n) {
    return api::LiveStats{.connections = hub->Connections(),
                          .top_channels = hub->TopChannels(top_n),
                          .delivered_total = hub->DeliveredTotal()};
  };
  if (authority && authority->CanIssue()) {
    service_options.issue_token = [authority](
                                      const std::string& user_id,
                                      const std::vector<std::string>& channels,
                                      uint32_t ttl_seconds) {
      return authority->Issue(user_id, channels, absl::Seconds(ttl_seconds));
    };
  }
  p.service = std::make_unique<api::NotifierService>(
      service_options, *p.publisher, *p.store, p.metrics);

  absl::StatusOr<std::unique_ptr<api::ReflectionService>> reflection =
      api::ReflectionService::Create(api::EmbeddedDescriptorSet(), {});
  if (!reflection.ok()) return p.Fail(reflection.status());
  p.reflection = *std::move(reflection);
  api::NotifierService* service = p.service.get();
  if (absl::Status s =
          p.grpc->Start({.services = {p.service.get(), p.reflection.get()},
                         .api_keys = api_keys,
                         .on_rejected =
                             [service](absl::string_view path) {
                               service->CountRejectedAtMetadata(path);
                             }});
      !s.ok()) {
    return p.Fail(s);
  }
  if (vapid_key) {
    absl::StatusOr<std::unique_ptr<PushScheduler>> scheduler =
        PushScheduler::Start(
            options.push_scheduler, options.push, *std::move(vapid_key),
            *p.store,
            [hub](const std::string& channel) {
              return hub->SubscriberCount(channel) > 0;
            },
            p.metrics);
    if (!scheduler.ok()) return p.Fail(scheduler.status());
    p.push_scheduler = *std::move(scheduler);
  }
  if (p.edge) p.edge->SetReady(true);
  if (p.admin) p.admin->SetReady(true);
  Log(spdlog::level::info, "notifyd serving",
      {{"version", kBuildVersion},
       {"commit", kBuildCommit},
       {"grpc_listen", options.grpc_listen},
       {"grpc_port", p.grpc->port()},
       {"grpc_security",
        options.tls_client_ca_file.empty()
            ? (options.tls_cert_file.empty() ? "plaintext" : "TLS")
            : "mutual TLS"},
       {"api_keys", api_keys ? api_keys->size() : 0},
       {"http_port", p.edge ? p.edge->port() : 0},
       {"admin_port", p.admin ? p.admin->port() : 0},
       // A URL may hold a password: name the kind only.
       {"store", IsPostgresUrl(options.store) ? "postgres"
                 : options.store == "memory"  ? "memory (not durable)"
                                              : "sqlite"},
       {"db", IsPostgresUrl(options.store) || options.store == "memory"
                  ? ""
                  : options.db},
       {"bus", options.bus == "local" ? "local" : "redis"},
       {"web_push", p.push_scheduler ? "on" : "off"}});
  return std::unique_ptr<App>(new App(std::move(parts)));
}

absl::StatusOr<size_t> App::ReloadApiKeys() {
  const std::string& path = parts_->options.api_keys_file;
  if (path.empty()) {
    return absl::FailedPreconditionError(
        "no --api_keys_file to reload: notifyd started without API keys");
  }
  absl::StatusOr<api::ApiKeySet> loaded = api::ApiKeySet::Load(path);
  if (!loaded.ok()) return loaded.status();
  size_t count = loaded->size();
  auto keys = std::make_shared<const api::ApiKeySet>(*std::move(loaded));
  parts_->grpc->SetApiKeys(keys);
  parts_->publisher->SetApiKeys(std::move(keys));
  return count;
}

int App::grpc_port() const { return parts_->grpc->port(); }

uint16_t App::http_port() const {
  return parts_->edge ? parts_->edge->port() : 0;
}

uint16_t App::admin_port() const {
  return parts_->admin ? parts_->admin->port() : 0;
}

const Metrics& App::metrics() const { return parts_->metrics; }

std::string App::grpc_target() const {
  return absl::StrCat(HostOf(parts_->options.grpc_listen), ":",
                      parts_->grpc->port());
}

bool App::Responsive(absl::Duration deadline) {
  Parts& p = *parts_;
  if (!p.ping_answered || p.ping_answered->HasBeenNotified()) {
    p.ping_answered = std::make_shared<absl::Notification>();
    p.store->Ping([answered = p.ping_answered](absl::StatusOr<bool>) {
      answered->Notify();
    });
  }
  return p.ping_answered->WaitForNotificationWithTimeout(deadline);
}

void App::Shutdown() { parts_->Stop(); }

}  // namespace notifyd::server
