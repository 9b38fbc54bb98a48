// notifyd's gRPC server as the network sees it: its listener, the limits
// every connection gets, health and reflection, and the drain at shutdown
// (docs/DESIGN.md, "Limits").
//
// The listener depends on transport security. Plaintext: notifyd's own
// acceptor (server/grpc_acceptor.h) hands each connection to gRPC, so a
// connection flood cannot stop gRPC. TLS: gRPC 1.51 takes connections from
// a descriptor with insecure credentials only, so gRPC's own listener
// stays, guarded by the accept4 interposer (server/accept_guard.h); then
// API keys are checked at the metadata (api/auth_processor.h) as well.
//
// Use: Bind() before anything that reports readiness (accepting() is a
// /readyz check), Start() once the services exist, Stop() first in the
// shutdown order. Not copyable.
//
// Threading: Bind, Start and Stop from the owner's thread; accepting() and
// port() from any thread.
#ifndef NOTIFYD_SERVER_GRPC_FRONT_H_
#define NOTIFYD_SERVER_GRPC_FRONT_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/api_keys.h"
#include "api/auth_processor.h"
#include "common/metrics.h"
#include "server/accept_guard.h"
#include "server/app_options.h"
#include "server/grpc_acceptor.h"

namespace notifyd::server {

class GrpcFront {
 public:
  // What Start() registers and how keyless calls are counted.
  struct Services {
    std::vector<grpc::Service*> services;
    // With TLS and API keys: refuses keyless calls at their metadata and
    // tells `on_rejected` their method path.
    std::shared_ptr<const api::ApiKeySet> api_keys;
    std::function<void(absl::string_view path)> on_rejected;
  };

  // Plaintext: binds options.grpc_listen (its port is port() from now on);
  // fails if it cannot. TLS: binds nothing yet. Nothing is served before
  // Start().
  static absl::StatusOr<std::unique_ptr<GrpcFront>> Bind(
      const AppOptions& options, const FdBudget& fds,
      std::shared_ptr<grpc::ServerCredentials> credentials, Metrics& metrics);

  // Stop()s.
  ~GrpcFront();
  GrpcFront(const GrpcFront&) = delete;
  GrpcFront& operator=(const GrpcFront&) = delete;

  // Builds the server with `services` and the connection limits, starts it
  // and reports SERVING to health checks. UNAVAILABLE when gRPC cannot
  // listen (address in use or invalid).
  absl::Status Start(Services services);

  // Hands reloaded API keys to the metadata check (TLS with API keys);
  // nothing otherwise. Thread-safe.
  void SetApiKeys(std::shared_ptr<const api::ApiKeySet> keys);

  // Whether connections are being accepted (a /readyz check). True with
  // TLS until Start() has guarded gRPC's listener.
  bool accepting() const;
  int port() const { return port_.load(); }
  bool started() const { return server_ != nullptr; }

  // Reports NOT_SERVING, stops accepting, lets calls in flight finish for
  // up to 10 s (then cancels them) and waits for the server to end.
  // Idempotent; nothing when never started.
  void Stop();

 private:
  GrpcFront(const AppOptions& options, const FdBudget& fds,
            std::shared_ptr<grpc::ServerCredentials> credentials,
            Metrics& metrics);

  const AppOptions options_;
  const FdBudget fds_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  Metrics& metrics_;
  std::atomic<int> port_{0};
  // Plaintext only.
  std::unique_ptr<GrpcAcceptor> acceptor_;
  // TLS only: set once gRPC has bound its port.
  std::unique_ptr<AcceptGuard> guard_;
  std::atomic<const AcceptGuard*> guard_ready_{nullptr};
  std::shared_ptr<api::ApiKeyAuthProcessor> auth_processor_;
  std::unique_ptr<grpc::Server> server_;
  bool stopped_ = false;
};

}  // namespace notifyd::server

#endif  // NOTIFYD_SERVER_GRPC_FRONT_H_
