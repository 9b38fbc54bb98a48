#include "server/grpc_front.h"

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/names.h"
#include "spdlog/spdlog.h"
#include "storage/store.h"

namespace notifyd::server {
namespace {

constexpr char kServiceName[] = "notify.v1.Notifier";
// Room for the fields around the payload in a request, NotifyUsers' list
// of user ids included (each at most kMaxUserIdBytes and a 3-byte tag and
// length): about 1.3 MB.
constexpr int kMessageOverheadBytes =
    16 * 1024 +
    static_cast<int>(storage::kMaxAppendMany * (notifyd::kMaxUserIdBytes + 3));
// How long Stop() lets calls in flight finish. gRPC's graceful GOAWAY also
// waits here for every client's PING ack, which an idle client sends only
// when its backup poller runs (every 5 s by default).
constexpr auto kDrainDeadline = std::chrono::seconds(10);
// Connection limits that need no flag (see ApplyLimits).
constexpr int kMaxMetadataBytes = 16 * 1024;
constexpr absl::Duration kHandshakeTimeout = absl::Seconds(10);
constexpr absl::Duration kConnectionAgeGrace = absl::Seconds(30);
constexpr absl::Duration kKeepaliveTime = absl::Minutes(1);
constexpr absl::Duration kKeepaliveTimeout = absl::Seconds(20);
constexpr absl::Duration kMinClientPingInterval = absl::Seconds(10);
// A stream's receive window (see ApplyLimits).
constexpr int kStreamLookaheadBytes = 256 * 1024;

// Limits every gRPC connection gets (docs/DESIGN.md, Limits: no caller can
// hold unbounded memory or stop other callers).
void ApplyLimits(const AppOptions& options, grpc::ServerBuilder& builder) {
  auto ms = [](absl::Duration d) {
    return static_cast<int>(absl::ToInt64Milliseconds(d));
  };
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_payload_bytes) +
                                   kMessageOverheadBytes);
  builder.AddChannelArgument(
      GRPC_ARG_MAX_CONCURRENT_STREAMS,
      static_cast<int>(options.max_grpc_streams_per_connection));
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, kMaxMetadataBytes);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             ms(kHandshakeTimeout));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             ms(options.grpc_max_connection_idle));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                             ms(options.grpc_max_connection_age));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                             ms(kConnectionAgeGrace));
  // Keepalive: the server pings quiet connections to find dead peers, and
  // enforces how often a client may ping (a ping flood earns a GOAWAY).
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, ms(kKeepaliveTime));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             ms(kKeepaliveTimeout));
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      ms(kMinClientPingInterval));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  // A stream's receive window stays at a fixed look-ahead: with gRPC's
  // bandwidth-delay probing it grows with the transfer rate, and a
  // PublishStream producer that does not read its answers (so notifyd
  // stops reading its messages) could park up to the whole resource quota
  // in the transport. Held this way, a stream costs at most its look-ahead
  // plus --max_stream_inflight messages (docs/BENCHMARKS.md).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES,
                             kStreamLookaheadBytes);
}

void SetServing(grpc::Server& server, bool serving) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  health->SetServingStatus("", serving);
  health->SetServingStatus(kServiceName, serving);
}

}  // namespace

GrpcFront::GrpcFront(const AppOptions& options, const FdBudget& fds,
                     std::shared_ptr<grpc::ServerCredentials> credentials,
                     Metrics& metrics)
    : options_(options),
      fds_(fds),
      credentials_(std::move(credentials)),
      metrics_(metrics) {}

absl::StatusOr<std::unique_ptr<GrpcFront>> GrpcFront::Bind(
    const AppOptions& options, const FdBudget& fds,
    std::shared_ptr<grpc::ServerCredentials> credentials, Metrics& metrics) {
  std::unique_ptr<GrpcFront> front(
      new GrpcFront(options, fds, std::move(credentials), metrics));
  if (options.tls_cert_file.empty()) {
    absl::StatusOr<std::unique_ptr<GrpcAcceptor>> acceptor = GrpcAcceptor::Bind(
        options.grpc_listen, options.max_grpc_connections, metrics);
    if (!acceptor.ok()) return acceptor.status();
    front->acceptor_ = *std::move(acceptor);
    front->port_ = front->acceptor_->port();
  }
  return front;
}

GrpcFront::~GrpcFront() { Stop(); }

absl::Status GrpcFront::Start(Services services) {
  if (services.api_keys && !acceptor_) {
    auth_processor_ = std::make_shared<api::ApiKeyAuthProcessor>(
        services.api_keys, std::move(services.on_rejected));
    credentials_->SetAuthMetadataProcessor(auth_processor_);
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int bound_port = 0;
  if (!acceptor_) {
    builder.AddListeningPort(options_.grpc_listen, credentials_, &bound_port);
  }
  for (grpc::Service* service : services.services) {
    builder.RegisterService(service);
  }
  ApplyLimits(options_, builder);
  grpc::ResourceQuota quota("notifyd-grpc");
  quota.Resize(options_.grpc_memory_limit_bytes);
  builder.SetResourceQuota(quota);
  server_ = builder.BuildAndStart();
  if (server_ && acceptor_) acceptor_->Start(server_.get());
  if (server_ && !acceptor_ && bound_port != 0) {
    port_ = bound_port;
    // gRPC 1.51's own listener gives up after one EMFILE: guard its
    // accept4 calls with the gRPC share and a descriptor ceiling.
    auto& rejected =
        metrics_.GetCounter("notifyd_limit_rejections_total",
                            "Requests and connections refused by a limit",
                            {{"limit", "grpc_connections"}});
    guard_ = AcceptGuard::Protect(
        bound_port,
        {.max_connections = options_.max_grpc_connections,
         .fd_ceiling = AcceptGuard::Ceiling(fds_)},
        [&rejected](uint64_t shed) { rejected.Inc(shed); });
    guard_ready_ = guard_.get();
    if (!AcceptGuard::Interposed()) {
      Log(spdlog::level::warn,
          "grpc: the accept guard is not in effect in this executable (it "
          "does not export accept4): a connection flood can stop the TLS "
          "listener");
    }
  }
  if (!server_ || port() == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for gRPC on --grpc_listen=", options_.grpc_listen,
        " (address in use or invalid?)"));
  }
  SetServing(*server_, true);
  return absl::OkStatus();
}

void GrpcFront::SetApiKeys(std::shared_ptr<const api::ApiKeySet> keys) {
  if (auth_processor_) auth_processor_->SetApiKeys(std::move(keys));
}

bool GrpcFront::accepting() const {
  if (acceptor_) return acceptor_->accepting();
  const AcceptGuard* guard = guard_ready_.load();
  return guard == nullptr || guard->accepting();
}

void GrpcFront::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (acceptor_) acceptor_->Stop();
  if (!server_) return;
  SetServing(*server_, false);
  server_->Shutdown(std::chrono::system_clock::now() + kDrainDeadline);
  server_->Wait();
  // gRPC's listener is closed: no accept4 runs on it any more.
  guard_ready_ = nullptr;
  guard_.reset();
}

}  // namespace notifyd::server
