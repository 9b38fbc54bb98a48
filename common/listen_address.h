// A listener's "host:port" flag value, split: `host` without IPv6 brackets
// (empty: every address), `port` (0: an ephemeral port); and the default
// addresses of notifyd's listeners.
//
// Thread-safe: a plain function.
#ifndef NOTIFYD_COMMON_LISTEN_ADDRESS_H_
#define NOTIFYD_COMMON_LISTEN_ADDRESS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace notifyd {

// Where notifyd listens unless told otherwise (--grpc_listen, --http_listen,
// --admin_listen), and so where its own clients (notifyctl) look first.
inline constexpr absl::string_view kDefaultGrpcListen = "127.0.0.1:50051";
inline constexpr absl::string_view kDefaultHttpListen = "127.0.0.1:8080";
inline constexpr absl::string_view kDefaultAdminListen = "127.0.0.1:8081";

struct ListenAddress {
  std::string host;
  uint16_t port = 0;
};

// INVALID_ARGUMENT "invalid <flag> '<value>' (want host:port)" when there is
// no ':' or the port is not a number up to 65535.
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view value,
                                                 absl::string_view flag);

}  // namespace notifyd

#endif  // NOTIFYD_COMMON_LISTEN_ADDRESS_H_
