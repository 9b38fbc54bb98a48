// The notifyd process in one object: opens the store, builds the bus, the
// SSE edge and the gRPC server, and wires them. Tests start it in-process
// on port 0; main() starts it from flags.
//
// Start() either returns a running App or an error that says what could not
// start (nothing is left running). Shutdown() is idempotent and ordered:
// stop accepting gRPC calls and finish those in flight, then end every
// stream, then close the store. Not thread-safe: one owner calls it.
#ifndef NOTIFYD_SERVER_APP_H_
#define NOTIFYD_SERVER_APP_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "edge/http_server.h"
#include "server/tokens.h"

namespace notifyd::server {

struct AppOptions {
  std::string grpc_listen = "127.0.0.1:50051";
  std::string db = "./var/notify.db";
  bool synchronous_full = true;
  absl::Duration retention = absl::ZeroDuration();  // zero: keep forever
  uint64_t max_per_channel = 0;                     // zero: unlimited
  absl::Duration prune_interval = absl::Seconds(30);
  size_t max_payload_bytes = 64 * 1024;
  // Serve gRPC on a non-loopback address without publisher authentication.
  bool insecure = false;
  // Subscriber tokens; absent: streams accept no tokens and IssueToken is
  // UNIMPLEMENTED.
  std::optional<TokenConfig> tokens;
  bool enable_edge = true;
  edge::EdgeOptions edge;
};

class App {
 public:
  static absl::StatusOr<std::unique_ptr<App>> Start(AppOptions options);
  ~App();

  App(const App&) = delete;
  App& operator=(const App&) = delete;

  int grpc_port() const;
  uint16_t http_port() const;
  std::string grpc_target() const;  // "127.0.0.1:<port>" style, for clients

  void Shutdown();

 private:
  struct Parts;
  explicit App(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

// True when the host part of "host:port" is a loopback address.
bool IsLoopbackListen(const std::string& listen);

}  // namespace notifyd::server

#endif  // NOTIFYD_SERVER_APP_H_
