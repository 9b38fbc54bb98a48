#include "server/app.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <functional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "edge/hub.h"
#include "edge/metrics.h"
#include "server/api_keys.h"
#include "server/backends.h"
#include "server/bus.h"
#include "server/notifier_service.h"
#include "server/tls.h"
#include "spdlog/spdlog.h"

namespace notifyd::server {
namespace {

constexpr char kServiceName[] = "notify.v1.Notifier";
// Room for the fields around the payload in a request.
constexpr int kMessageOverheadBytes = 16 * 1024;
constexpr auto kGrpcDrainDeadline = std::chrono::seconds(10);

std::string HostOf(const std::string& listen) {
  size_t colon = listen.rfind(':');
  std::string host =
      colon == std::string::npos ? listen : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

StoreChoice StoreChoiceOf(const AppOptions& options) {
  return {.store = options.store,
          .db = options.db,
          .synchronous_full = options.synchronous_full,
          .commit_delay = options.commit_delay,
          .retention = options.retention,
          .max_per_channel = options.max_per_channel,
          .prune_interval = options.prune_interval};
}

}  // namespace

bool IsLoopbackListen(const std::string& listen) {
  std::string host = HostOf(listen);
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

absl::Status ValidateLimits(const AppOptions& options) {
  if (options.max_payload_bytes == 0 ||
      options.max_payload_bytes > kMaxPayloadBytesLimit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_payload_bytes must be between 1 and ", kMaxPayloadBytesLimit));
  }
  if (!(options.max_publish_rate >= 0)) {  // also refuses NaN
    return absl::InvalidArgumentError("--max_publish_rate must be >= 0");
  }
  return absl::OkStatus();
}

absl::Status ValidateStoreAndBus(const AppOptions& options) {
  return ValidateBackends(StoreChoiceOf(options), {.bus = options.bus});
}

struct App::Parts {
  AppOptions options;
  edge::Metrics metrics;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<Bus> bus;
  std::function<void()> close_bus;
  std::unique_ptr<edge::Hub> hub;
  std::unique_ptr<edge::EdgeServer> edge;
  std::unique_ptr<NotifierService> service;
  std::unique_ptr<grpc::Server> grpc_server;
  int grpc_port = 0;
  bool shut_down = false;
};

App::App(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

App::~App() { Shutdown(); }

absl::StatusOr<std::unique_ptr<App>> App::Start(AppOptions options) {
  // Publishers are authenticated by an API key or a client certificate;
  // on loopback only local processes can call, which the host already
  // trusts.
  const bool authenticated =
      !options.api_keys_file.empty() || !options.tls_client_ca_file.empty();
  if (!IsLoopbackListen(options.grpc_listen) && !authenticated &&
      !options.insecure) {
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing to serve gRPC on non-loopback --grpc_listen=",
        options.grpc_listen,
        " without publisher authentication; configure --api_keys_file or "
        "mutual TLS (--tls_cert, --tls_key, --tls_client_ca), or pass "
        "--insecure to allow unauthenticated publishers"));
  }
  if (absl::Status s = ValidateLimits(options); !s.ok()) return s;
  if (absl::Status s = ValidateStoreAndBus(options); !s.ok()) return s;
  // Files are read before anything starts, so a bad one leaves nothing
  // running.
  std::shared_ptr<const ApiKeySet> api_keys;
  if (!options.api_keys_file.empty()) {
    absl::StatusOr<ApiKeySet> loaded = ApiKeySet::Load(options.api_keys_file);
    if (!loaded.ok()) return loaded.status();
    api_keys = std::make_shared<const ApiKeySet>(*std::move(loaded));
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      GrpcServerCredentials({.cert_file = options.tls_cert_file,
                             .key_file = options.tls_key_file,
                             .client_ca_file = options.tls_client_ca_file});
  if (!credentials.ok()) return credentials.status();
  auto parts = std::make_unique<Parts>();
  parts->options = options;
  Parts& p = *parts;

  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      OpenStore(StoreChoiceOf(options), p.metrics);
  if (!store.ok()) return store.status();
  p.store = std::move(*store);

  p.hub = std::make_unique<edge::Hub>(p.metrics);
  edge::Hub* hub = p.hub.get();
  absl::StatusOr<OpenedBus> bus =
      OpenBus({.bus = options.bus}, *p.store, p.metrics,
              [hub](const std::shared_ptr<const storage::Notification>& n) {
                return hub->Publish(n);
              });
  if (!bus.ok()) {
    p.store->Close();
    return bus.status();
  }
  p.bus = std::move(bus->bus);
  p.close_bus = std::move(bus->close);
  options.edge.bus_healthy = std::move(bus->healthy);

  std::shared_ptr<const TokenAuthority> authority;
  if (options.tokens) {
    absl::StatusOr<TokenAuthority> created =
        TokenAuthority::Create(*options.tokens);
    if (!created.ok()) {
      p.close_bus();
      p.store->Close();
      return created.status();
    }
    authority = std::make_shared<const TokenAuthority>(*std::move(created));
    options.edge.token_verifier =
        [authority](absl::string_view token) -> absl::StatusOr<edge::Identity> {
      absl::StatusOr<TokenClaims> claims = authority->Verify(token);
      if (!claims.ok()) return claims.status();
      return edge::Identity{.user = std::move(claims->user_id),
                            .channels = std::move(claims->channels),
                            .all_channels = false};
    };
  }

  if (options.enable_edge) {
    p.edge = std::make_unique<edge::EdgeServer>(options.edge, *p.store, *p.hub,
                                                p.metrics);
    if (absl::Status s = p.edge->Start(); !s.ok()) {
      p.close_bus();
      p.store->Close();
      return s;
    }
  }

  NotifierOptions service_options;
  service_options.max_payload_bytes = options.max_payload_bytes;
  service_options.api_keys = api_keys;
  service_options.max_publish_rate = options.max_publish_rate;
  service_options.live_stats = [hub](size_t top_n) {
    return LiveStats{.connections = hub->Connections(),
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
  p.service = std::make_unique<NotifierService>(service_options, *p.store,
                                                *p.bus, p.metrics);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.grpc_listen, *credentials, &p.grpc_port);
  builder.RegisterService(p.service.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_payload_bytes) +
                                   kMessageOverheadBytes);
  p.grpc_server = builder.BuildAndStart();
  if (!p.grpc_server || p.grpc_port == 0) {
    if (p.grpc_server) p.grpc_server->Shutdown();
    if (p.edge) p.edge->Shutdown();
    p.close_bus();
    p.store->Close();
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for gRPC on --grpc_listen=", options.grpc_listen,
        " (address in use or invalid?)"));
  }
  grpc::HealthCheckServiceInterface* health =
      p.grpc_server->GetHealthCheckService();
  health->SetServingStatus("", true);
  health->SetServingStatus(kServiceName, true);
  if (p.edge) p.edge->SetReady(true);
  spdlog::info(
      "notifyd serving gRPC on {} (port {}, {}, {}), SSE on port {}, store "
      "{}, bus {}",
      options.grpc_listen, p.grpc_port,
      options.tls_client_ca_file.empty()
          ? (options.tls_cert_file.empty() ? "plaintext" : "TLS")
          : "mutual TLS",
      api_keys ? absl::StrCat(api_keys->size(), " API keys")
               : std::string("no API keys"),
      p.edge ? p.edge->port() : 0,
      // A URL may hold a password: name the kind only.
      IsPostgresUrl(options.store) ? std::string("postgres") : options.db,
      options.bus == "local" ? "local" : "redis");
  return std::unique_ptr<App>(new App(std::move(parts)));
}

absl::StatusOr<size_t> App::ReloadApiKeys() {
  const std::string& path = parts_->options.api_keys_file;
  if (path.empty()) {
    return absl::FailedPreconditionError(
        "no --api_keys_file to reload: notifyd started without API keys");
  }
  absl::StatusOr<ApiKeySet> loaded = ApiKeySet::Load(path);
  if (!loaded.ok()) return loaded.status();
  size_t count = loaded->size();
  parts_->service->SetApiKeys(
      std::make_shared<const ApiKeySet>(*std::move(loaded)));
  return count;
}

int App::grpc_port() const { return parts_->grpc_port; }

uint16_t App::http_port() const {
  return parts_->edge ? parts_->edge->port() : 0;
}

const edge::Metrics& App::metrics() const { return parts_->metrics; }

std::string App::grpc_target() const {
  return absl::StrCat(HostOf(parts_->options.grpc_listen), ":",
                      parts_->grpc_port);
}

void App::Shutdown() {
  Parts& p = *parts_;
  if (p.shut_down) return;
  p.shut_down = true;
  spdlog::info("notifyd shutting down: draining gRPC calls");
  if (p.edge) p.edge->SetReady(false);
  grpc::HealthCheckServiceInterface* health =
      p.grpc_server->GetHealthCheckService();
  health->SetServingStatus("", false);
  health->SetServingStatus(kServiceName, false);
  p.grpc_server->Shutdown(std::chrono::system_clock::now() +
                          kGrpcDrainDeadline);
  p.grpc_server->Wait();
  if (p.edge) {
    spdlog::info("notifyd shutting down: ending streams");
    p.edge->Shutdown();
  }
  // Before the store: a shared bus reads gaps from it.
  p.close_bus();
  p.store->Close();
  spdlog::info("notifyd stopped; store closed");
}

}  // namespace notifyd::server
