// The process's file descriptors, shared out between the listeners so that
// no flood on one listener can starve another or the store (docs/DESIGN.md,
// "Limits"). A process that reaches its descriptor limit fails every
// accept(), open() and socket() at once; gRPC 1.51's own listener never
// accepts again after such a failure. So notifyd never lets its connections
// reach the limit: each listener gets a connection cap, and what is left is a
// reserve for the store, the bus, gRPC's internals and the logs.
//
//   limit = http + grpc + reserve
//
// Flags may set `http` (--max_connections) and `grpc`
// (--max_grpc_connections); 0 takes the share PlanFdBudget picks. A plan
// whose caps do not fit the limit is refused with a message naming the
// flags, so a deployment that could be starved does not start.
//
// Thread-safe: plain functions.
#ifndef NOTIFYD_COMMON_FD_BUDGET_H_
#define NOTIFYD_COMMON_FD_BUDGET_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace notifyd {

// Descriptors kept back for everything that is not a client connection:
// the store's files and connections, the bus, epoll and wake-up
// descriptors, the log, listening sockets and the acceptors' spare
// descriptor. Generous on purpose: SQLite keeps three files per connection,
// PostgreSQL one socket per pooled connection.
inline constexpr uint64_t kFdReserve = 128;
// The smallest descriptor limit notifyd runs under.
inline constexpr uint64_t kMinFdLimit = 256;

struct FdBudget {
  uint64_t limit = 0;    // RLIMIT_NOFILE (soft) of the process
  uint64_t http = 0;     // HTTP connections in total
  uint64_t grpc = 0;     // gRPC connections in total
  uint64_t reserve = 0;  // limit - http - grpc
};

// Raises the soft RLIMIT_NOFILE to the hard limit (as servers do; the hard
// limit is what the administrator allowed) and returns the soft limit in
// force afterwards. Never fails: when raising is refused, the current soft
// limit is returned.
uint64_t RaiseFdLimit();

// Shares `limit` out. `http` or `grpc` 0 means "choose": gRPC callers are
// services (few long-lived connections), so gRPC gets 1/16 of what is left
// after the reserve, between 16 and 256, and HTTP the rest. Fails with
// INVALID_ARGUMENT naming --max_connections / --max_grpc_connections and
// the limit when the caps asked for do not fit beside kFdReserve, or when
// the limit is below kMinFdLimit.
absl::StatusOr<FdBudget> PlanFdBudget(uint64_t limit, uint64_t http,
                                      uint64_t grpc);

}  // namespace notifyd

#endif  // NOTIFYD_COMMON_FD_BUDGET_H_
