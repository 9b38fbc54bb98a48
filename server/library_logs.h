// Log lines written by the libraries notifyd embeds (libprotobuf and gRPC
// core) go through spdlog like notifyd's own, and are rate-limited
// (docs/DESIGN.md, Limits: logs are rate-limited whatever produces them).
// Left alone, both print straight to stderr, and a client can make them
// print without bound: libprotobuf logs one ERROR line for each request
// with invalid UTF-8 in a string field (from any caller when no API keys
// are configured).
//
// Each library has its own LogLimiter: at most kLibraryLogBurst lines per
// kLibraryLogInterval; the next line that passes after some were dropped
// says how many (field `dropped`). Lines keep their library's severity and
// are logged like notifyd's own (common/log.h: text or JSON), the library's
// message as the message, with fields `library` ("protobuf" or "grpc") and
// `source` (its file:line).
// Which lines gRPC produces is still decided by its own verbosity setting
// (GRPC_VERBOSITY, default ERROR); spdlog's level then filters as usual,
// before the limiter counts a line. libprotobuf's FATAL lines are never
// dropped.
#ifndef NOTIFYD_SERVER_LIBRARY_LOGS_H_
#define NOTIFYD_SERVER_LIBRARY_LOGS_H_

#include "absl/time/time.h"

namespace notifyd::server {

inline constexpr int kLibraryLogBurst = 10;
inline constexpr absl::Duration kLibraryLogInterval = absl::Seconds(1);

// Installs the handlers in libprotobuf and gRPC core. Call once, early in
// main, after spdlog is configured and before any thread uses protobuf or
// gRPC (libprotobuf's SetLogHandler is not thread-safe); calling it again
// changes nothing. The handlers themselves are thread-safe and log through
// common/log.h.
void RouteLibraryLogsToSpdlog();

}  // namespace notifyd::server

#endif  // NOTIFYD_SERVER_LIBRARY_LOGS_H_
