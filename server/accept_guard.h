// Keeps gRPC's own listening socket (the one gRPC 1.51 opens for a TLS
// --grpc_listen, which notifyd cannot take over: see server/grpc_acceptor.h)
// from ever failing an accept, and caps the connections it takes
// (docs/DESIGN.md, "Limits").
//
// Why: gRPC 1.51's listener (tcp_server_posix.cc, on_read) re-arms after
// accept4() fails with EAGAIN or ECONNABORTED only; any other errno, EMFILE
// included, logs "Failed accept4" and the port never accepts again, even
// after the flood leaves.
//
// How: this file defines accept4() in the notifyd executable. libgrpc.so
// calls accept4 through its PLT, and a definition in the executable that a
// linked shared library references is exported and found first, so gRPC's
// calls land here (Interposed() checks it; `nm -D notifyd | grep accept4`
// shows it). The real accept4 is found with dlsym(RTLD_NEXT). A call on a
// socket that is not a protected listener goes straight through, with one
// atomic load when nothing is protected, and one getsockname() per new
// listening descriptor otherwise (the answer is cached).
//
// On a protected listener (a listening socket bound to a port given to
// Protect; found by getsockname() on its first accept, then cached):
//   - a connection is shed (closed at once) when its descriptor number is
//     at or above `fd_ceiling`, or when `max_connections` connections this
//     guard let through are still open (checked like GrpcAcceptor: fstat of
//     each, inode compared, only when the cap is reached);
//   - when the real accept4 fails with EMFILE or ENFILE, a spare descriptor
//     (/dev/null, opened at the first Protect) is closed, the pending
//     connection accepted and closed, and the spare reopened;
//   - shedding continues until the listen queue is empty (gRPC's epoll is
//     edge-triggered: a connection left queued would wait for the next
//     one), and the call then fails with EAGAIN, on which gRPC re-arms;
//     the first admissible connection met is returned instead;
//   - ENOBUFS/ENOMEM, and the errors Linux passes on from a pending
//     connection (ENETDOWN, EPROTO, EHOSTUNREACH, ...), become
//     ECONNABORTED; EAGAIN, EINTR and errors of the listener itself (EBADF,
//     EINVAL at shutdown) pass through.
// Each shed connection is counted (the `on_shed` callback, for a metric)
// and logged through a LogLimiter.
//
// Thread-safety: accept4() may be called from any number of threads at
// once (gRPC accepts from its pollers); Protect and the destructor from
// any thread. The registry and the spare descriptor each have a mutex.
#ifndef NOTIFYD_SERVER_ACCEPT_GUARD_H_
#define NOTIFYD_SERVER_ACCEPT_GUARD_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "common/fd_budget.h"

namespace notifyd::server {

class AcceptGuard {
 public:
  struct Limits {
    // Connections let through and still open, at most (the budget's gRPC
    // share, FdBudget::grpc).
    uint64_t max_connections = 0;
    // An accepted descriptor numbered this or higher is shed (Ceiling()).
    uint64_t fd_ceiling = 0;
  };

  // The descriptor numbers a flood of gRPC connections may never take: the
  // top half of the reserve (limit - reserve/2), so the store, the bus and
  // notifyd's own descriptors can still open while HTTP holds its cap and
  // gRPC its share. (The HTTP cap itself is protected by max_connections:
  // a ceiling low enough to protect it alone would refuse every gRPC
  // connection while an HTTP flood holds the low numbers.)
  static uint64_t Ceiling(const FdBudget& budget);

  // True when accept4() as called from shared libraries resolves to this
  // file's definition, i.e. the guard is in effect in this process.
  static bool Interposed();

  // Guards the listening sockets bound to `port` (> 0) until the returned
  // object is destroyed. `on_shed(n)` is called, from the accepting
  // thread and without any lock held, with the number of connections one
  // accept4 call shed; it must be thread-safe. Destroy the guard only once
  // the listener is closed (no accept4 on it may be running).
  static std::unique_ptr<AcceptGuard> Protect(
      int port, Limits limits, std::function<void(uint64_t)> on_shed);
  ~AcceptGuard();

  AcceptGuard(const AcceptGuard&) = delete;
  AcceptGuard& operator=(const AcceptGuard&) = delete;

  // False for one second after an accept on the listener ran out of
  // descriptors (EMFILE, ENFILE): /readyz reports it.
  bool accepting() const;

  // Connections this guard let through that are still open (fstat each).
  uint64_t OpenConnections() const;

  struct State;  // shared with accept4(); defined in accept_guard.cc

 private:
  explicit AcceptGuard(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace notifyd::server

#endif  // NOTIFYD_SERVER_ACCEPT_GUARD_H_
