// Parses the --bus flag: redis://[[user]:password@]host[:port][/db].
// The password never appears in an error message or in HostPort().
#ifndef NOTIFYD_BUS_REDIS_URL_H_
#define NOTIFYD_BUS_REDIS_URL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace notifyd::bus {

struct RedisEndpoint {
  std::string host;  // a name or an address, IPv6 without brackets
  int port = 6379;
  std::string user;      // empty: the default user (AUTH <password>)
  std::string password;  // empty: no AUTH
  // Accepted for familiarity; pub/sub channels are server-wide in Redis,
  // so it isolates nothing (the channel name does).
  int db = 0;

  // "host:port" ("[::1]:6379" for IPv6), for logs and errors.
  std::string HostPort() const;
};

// INVALID_ARGUMENT naming what is wrong, without echoing the URL.
absl::StatusOr<RedisEndpoint> ParseRedisUrl(absl::string_view url);

}  // namespace notifyd::bus

#endif  // NOTIFYD_BUS_REDIS_URL_H_
