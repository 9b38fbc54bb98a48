// Where a push message goes: a subscription's endpoint URL taken apart for
// the HTTP client, and the SSRF rule for the addresses its host resolves
// to. Subscriptions come from browsers, that is from anyone: an endpoint
// must be https (the only scheme push services use) and, unless the
// operator allows it for tests, must not lead into the operator's own
// network (loopback, private, link-local, unique-local, multicast and
// other non-global ranges, IPv4 and IPv6 alike).
//
// Pure functions: thread-safe.
#ifndef NOTIFYD_PUSH_ENDPOINT_H_
#define NOTIFYD_PUSH_ENDPOINT_H_

#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace notifyd::push {

// Longest endpoint URL accepted (real ones are under 600 bytes).
inline constexpr size_t kMaxEndpointBytes = 2048;

struct Endpoint {
  std::string host;  // to resolve: a name, or an address without brackets
  uint16_t port = 443;
  std::string target;  // path and query, "/" when empty
  // "https://host[:port]" with the port only when not 443 and IPv6 hosts in
  // brackets: the VAPID `aud` and the HTTP Host header (without the scheme).
  std::string origin;
  std::string host_header;       // host[:port] as sent in Host
  bool host_is_address = false;  // an IP literal: no SNI
};

// Takes apart an absolute https URL with a host; INVALID_ARGUMENT saying
// why for anything else (another scheme, userinfo, a fragment, no host,
// port 0, over kMaxEndpointBytes, not a URL).
absl::StatusOr<Endpoint> ParseEndpoint(absl::string_view url);

// Whether `address` is globally routable: false for IPv4 0/8, 10/8,
// 100.64/10, 127/8, 169.254/16, 172.16/12, 192.0.0/24, 192.0.2/24,
// 192.168/16, 198.18/15, 198.51.100/24, 203.0.113/24, 224/4 and 240/4; for
// IPv6, false outside the global unicast 2000::/3 (so for ::, ::1,
// fc00::/7 unique-local, fe80::/10 link-local, ff00::/8 multicast, ...)
// and for 2001:db8::/32. IPv4-mapped (::ffff:0:0/96), IPv4-compatible
// (::/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses are judged
// by the IPv4 address they carry.
bool IsPublicAddress(const boost::asio::ip::address& address);

}  // namespace notifyd::push

#endif  // NOTIFYD_PUSH_ENDPOINT_H_
