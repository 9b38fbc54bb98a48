// A listener's "host:port" flag value, split: `host` without IPv6 brackets
// (empty: every address), `port` (0: an ephemeral port).
//
// Thread-safe: a plain function.
#ifndef NOTIFYD_COMMON_LISTEN_ADDRESS_H_
#define NOTIFYD_COMMON_LISTEN_ADDRESS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace notifyd {

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
