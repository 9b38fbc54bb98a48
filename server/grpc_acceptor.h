// Accepts plaintext gRPC connections on a socket notifyd owns and hands each
// one to the grpc::Server (grpc_server_add_channel_from_fd), so that a
// connection flood cannot stop gRPC (docs/DESIGN.md, "Limits"):
//   - gRPC 1.51's own listener gives up for good after one accept() fails
//     with EMFILE; this one backs off and resumes, and while out of
//     descriptors it still drains the listen queue (through a spare
//     descriptor) instead of leaving clients hanging;
//   - at most `max_connections` connections are handed to gRPC; one over
//     the cap is closed at once and counted in
//     notifyd_limit_rejections_total{limit="grpc_connections"}.
// gRPC closes a connection's descriptor itself when the connection ends;
// the acceptor notices by checking, when the cap is reached, which of the
// descriptors it handed over still name the same socket (an fstat each).
// When no connection has arrived for a while it also gives memory freed
// by gRPC back to the system (malloc_trim), so the process returns near its
// baseline after a flood of connections and streams.
//
// Only plaintext: gRPC 1.51 takes descriptors with insecure credentials
// only. With TLS, App keeps gRPC's own listener (see README, Security).
//
// Threading: Bind/Start/Stop from the owner's thread; one accept thread of
// its own; accepting() and OpenConnections() from any thread.
#ifndef NOTIFYD_SERVER_GRPC_ACCEPTOR_H_
#define NOTIFYD_SERVER_GRPC_ACCEPTOR_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/log_limiter.h"
#include "common/metrics.h"

namespace grpc {
class Server;
}

namespace notifyd::server {

class GrpcAcceptor {
 public:
  // Binds and listens on `listen` ("host:port", port 0 = ephemeral). The
  // error names the address. Nothing is accepted before Start().
  static absl::StatusOr<std::unique_ptr<GrpcAcceptor>> Bind(
      const std::string& listen, uint64_t max_connections, Metrics& metrics);
  ~GrpcAcceptor();  // calls Stop()

  GrpcAcceptor(const GrpcAcceptor&) = delete;
  GrpcAcceptor& operator=(const GrpcAcceptor&) = delete;

  int port() const { return port_; }

  // Starts the accept thread, handing connections to `server` (started,
  // and alive until Stop() returns).
  void Start(grpc::Server* server);

  // Stops accepting and closes the listening socket; connections already
  // handed over stay with gRPC. Idempotent.
  void Stop();

  // False while accepting fails for want of descriptors (or after Stop):
  // /readyz reports it.
  bool accepting() const { return accepting_.load(); }

  // Connections handed to gRPC that are still open (checks each one).
  size_t OpenConnections();

 private:
  GrpcAcceptor(int listen_fd, int wake_fd, int port, uint64_t max_connections,
               Metrics& metrics);

  void Run(grpc::Server* server);
  // Handles one accepted socket: hands it over, or closes it over the cap.
  void Admit(grpc::Server* server, int fd);
  // Out of descriptors: accepts and closes one pending connection through
  // the spare descriptor, so the client is told at once.
  void ShedOne();
  // Drops handed-over descriptors gRPC has closed since.
  void Reconcile() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int listen_fd_;
  const int wake_fd_;  // eventfd: Stop() wakes the thread
  const int port_;
  const uint64_t max_connections_;
  int spare_fd_ = -1;  // /dev/null, given up to accept one when at EMFILE
  Counter& rejected_;
  LogLimiter log_;
  std::atomic<bool> accepting_{true};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  absl::Mutex mu_;
  // Descriptors handed to gRPC, with the inode of their socket (a number
  // gRPC closed and the kernel reused names another inode).
  std::vector<std::pair<int, ino_t>> handed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace notifyd::server

#endif  // NOTIFYD_SERVER_GRPC_ACCEPTOR_H_
