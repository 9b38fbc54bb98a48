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
#include "api/tokens.h"
#include "common/fd_budget.h"
#include "common/metrics.h"
#include "edge/http_server.h"
#include "server/app_options.h"

namespace notifyd::server {

class App {
 public:
  static absl::StatusOr<std::unique_ptr<App>> Start(AppOptions options);
  ~App();

  App(const App&) = delete;
  App& operator=(const App&) = delete;

  int grpc_port() const;
  uint16_t http_port() const;
  uint16_t admin_port() const;      // 0 without an admin listener
  std::string grpc_target() const;  // "127.0.0.1:<port>" style, for clients
  // The registry /metrics renders; thread-safe.
  const Metrics& metrics() const;

  // Reads --api_keys_file again and, when it parses, makes its keys the
  // ones checked from the next call on (notifyd does this on SIGHUP).
  // Returns the number of keys, or the error that kept the old keys in
  // place; FAILED_PRECONDITION when started without a keys file.
  absl::StatusOr<size_t> ReloadApiKeys();

  // Whether the process still does work, for a watchdog (systemd's): the
  // store's threads answer a Ping within `deadline` (a Ping that answers
  // "unavailable" counts: the database may be down while notifyd is well,
  // and restarting notifyd would not bring it back). Blocks up to `deadline`; a
  // Ping still unanswered from a previous call is waited for instead of sending
  // another. Not from an I/O or store thread; one caller at a time; not
  // after Shutdown().
  bool Responsive(absl::Duration deadline);

  void Shutdown();

 private:
  struct Parts;
  explicit App(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace notifyd::server

#endif  // NOTIFYD_SERVER_APP_H_
