// The proxies whose word on the client address is taken (--trusted_proxies;
// docs/DESIGN.md, "Behind a proxy"). A connection from one of them carries
// the client's address in `Forwarded` (RFC 7239) or `X-Forwarded-For`; from
// anyone else those headers are ignored, since any client can send them.
//
// The address a request is counted and logged under is found as nginx's
// realip module does with `real_ip_recursive on`: walk the forwarded chain
// from the right (the hop nearest this server), skip every address that is
// itself a trusted proxy, and take the first that is not. When every hop is
// trusted, the leftmost is taken. An entry that is not an IP address
// ("unknown", an obfuscated `_name`, garbage) ends the walk: what lies to
// its left was said by nobody trusted, so the last trusted hop before it
// is the answer. `Forwarded` wins over `X-Forwarded-For` when both are sent
// (nginx sends the latter; RFC 7239 proxies the former). At most
// kMaxHops entries are read, from the right.
//
// Immutable after Parse: Trusts and ClientAddress are thread-safe.
#ifndef NOTIFYD_EDGE_TRUSTED_PROXIES_H_
#define NOTIFYD_EDGE_TRUSTED_PROXIES_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "boost/asio/ip/address.hpp"
#include "boost/asio/ip/network_v4.hpp"
#include "boost/asio/ip/network_v6.hpp"

namespace notifyd::edge {

class TrustedProxies {
 public:
  // Hops of a forwarded chain read at most, from the right.
  static constexpr size_t kMaxHops = 32;
  // Most entries --trusted_proxies takes.
  static constexpr size_t kMaxEntries = 256;

  // None: no proxy is trusted, every request is the peer's own.
  TrustedProxies() = default;

  // Each entry a CIDR ("10.0.0.0/8", "fd00::/8") or one address
  // ("127.0.0.1", "::1"). An IPv4 entry also covers the IPv4-mapped IPv6
  // form of its addresses. INVALID_ARGUMENT naming the first entry that is
  // neither, or when there are more than kMaxEntries.
  static absl::StatusOr<TrustedProxies> Parse(
      const std::vector<std::string>& entries);

  bool empty() const { return v4_.empty() && v6_.empty(); }
  bool Trusts(const boost::asio::ip::address& address) const;

  // The client address of a request that arrived from `peer` with these
  // header values (empty: absent), as text (IPv4-mapped IPv6 addresses as
  // IPv4). `peer` itself when it is not trusted or no header names anyone.
  std::string ClientAddress(const boost::asio::ip::address& peer,
                            absl::string_view forwarded,
                            absl::string_view x_forwarded_for) const;

 private:
  std::vector<boost::asio::ip::network_v4> v4_;
  std::vector<boost::asio::ip::network_v6> v6_;
};

// The `for=` addresses of a Forwarded header, leftmost first, unquoted and
// without brackets or ports ("[2001:db8::1]:4711" -> "2001:db8::1");
// elements without `for=` are skipped. Only the last kMaxHops elements
// are read. Exposed for tests.
std::vector<std::string> ForwardedFor(absl::string_view header);

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_TRUSTED_PROXIES_H_
