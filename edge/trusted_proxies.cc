#include "edge/trusted_proxies.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace notifyd::edge {
namespace {

namespace ip = boost::asio::ip;

// IPv4-mapped IPv6 ("::ffff:10.0.0.1", how a dual-stack socket reports an
// IPv4 peer) as the IPv4 address it is.
ip::address Unmapped(const ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  }
  return a;
}

// A hop as a proxy writes it, without quotes, brackets or port:
// "[2001:db8::1]:80" and "192.0.2.1:80" name their address; a bare IPv6
// address (more than one colon) has no port to strip.
std::optional<ip::address> HopAddress(absl::string_view hop) {
  hop = absl::StripAsciiWhitespace(hop);
  if (absl::ConsumePrefix(&hop, "[")) {
    size_t close = hop.find(']');
    if (close == absl::string_view::npos) return std::nullopt;
    hop = hop.substr(0, close);
  } else if (std::count(hop.begin(), hop.end(), ':') == 1) {
    hop = hop.substr(0, hop.find(':'));
  }
  boost::system::error_code ec;
  ip::address a = ip::make_address(std::string(hop), ec);
  if (ec) return std::nullopt;
  return Unmapped(a);
}

// Splits at `sep` outside double quotes (a quoted-string may hold one).
std::vector<absl::string_view> SplitOutsideQuotes(absl::string_view s,
                                                  char sep) {
  std::vector<absl::string_view> parts;
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && quoted) {
      ++i;
    } else if (s[i] == '"') {
      quoted = !quoted;
    } else if (s[i] == sep && !quoted) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(s.substr(start));
  return parts;
}

// The last kMaxHops of a list, so a header of thousands of hops costs
// no more than one of kMaxHops.
template <typename T>
void KeepLast(std::vector<T>& v) {
  if (v.size() > TrustedProxies::kMaxHops) {
    v.erase(v.begin(), v.end() - TrustedProxies::kMaxHops);
  }
}

}  // namespace

absl::StatusOr<TrustedProxies> TrustedProxies::Parse(
    const std::vector<std::string>& entries) {
  if (entries.size() > kMaxEntries) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--trusted_proxies takes at most ", kMaxEntries, " entries"));
  }
  TrustedProxies proxies;
  for (const std::string& entry : entries) {
    absl::string_view text = absl::StripAsciiWhitespace(entry);
    boost::system::error_code ec;
    if (text.find('/') == absl::string_view::npos) {
      ip::address a = ip::make_address(std::string(text), ec);
      if (!ec) {
        a = Unmapped(a);
        if (a.is_v4()) {
          proxies.v4_.emplace_back(a.to_v4(), 32);
        } else {
          proxies.v6_.emplace_back(a.to_v6(), 128);
        }
        continue;
      }
    } else if (text.find(':') == absl::string_view::npos) {
      ip::network_v4 n = ip::make_network_v4(std::string(text), ec);
      // The network, not a host in it: 10.1.2.3/8 means 10.0.0.0/8.
      if (!ec) {
        proxies.v4_.push_back(n.canonical());
        continue;
      }
    } else {
      ip::network_v6 n = ip::make_network_v6(std::string(text), ec);
      if (!ec) {
        proxies.v6_.push_back(n.canonical());
        continue;
      }
    }
    return absl::InvalidArgumentError(
        absl::StrCat("--trusted_proxies: \"", text,
                     "\" is not an IP address or a CIDR block (like "
                     "10.0.0.0/8 or fd00::/8)"));
  }
  return proxies;
}

bool TrustedProxies::Trusts(const ip::address& address) const {
  const ip::address a = Unmapped(address);
  if (a.is_v4()) {
    const ip::address_v4 v4 = a.to_v4();
    return std::any_of(v4_.begin(), v4_.end(), [&](const ip::network_v4& n) {
      return (v4.to_uint() & n.netmask().to_uint()) == n.network().to_uint();
    });
  }
  const ip::network_v6 host(a.to_v6(), 128);
  return std::any_of(v6_.begin(), v6_.end(), [&](const ip::network_v6& n) {
    return host == n || host.is_subnet_of(n);
  });
}

std::vector<std::string> ForwardedFor(absl::string_view header) {
  std::vector<absl::string_view> elements = SplitOutsideQuotes(header, ',');
  KeepLast(elements);
  std::vector<std::string> hops;
  for (absl::string_view element : elements) {
    for (absl::string_view pair : SplitOutsideQuotes(element, ';')) {
      std::pair<absl::string_view, absl::string_view> kv =
          absl::StrSplit(pair, absl::MaxSplits('=', 1));
      if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(kv.first),
                                  "for")) {
        continue;
      }
      absl::string_view value = absl::StripAsciiWhitespace(kv.second);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      hops.emplace_back(value);
      break;
    }
  }
  return hops;
}

std::string TrustedProxies::ClientAddress(
    const ip::address& peer, absl::string_view forwarded,
    absl::string_view x_forwarded_for) const {
  ip::address client = Unmapped(peer);
  if (!Trusts(client)) return client.to_string();
  std::vector<std::string> hops;
  if (!forwarded.empty()) {
    hops = ForwardedFor(forwarded);
  } else if (!x_forwarded_for.empty()) {
    std::vector<absl::string_view> parts = absl::StrSplit(x_forwarded_for, ',');
    KeepLast(parts);
    for (absl::string_view part : parts) hops.emplace_back(part);
  }
  for (auto hop = hops.rbegin(); hop != hops.rend(); ++hop) {
    std::optional<ip::address> a = HopAddress(*hop);
    if (!a) break;  // nobody trusted said what lies left of it
    client = *a;
    if (!Trusts(client)) break;
  }
  return client.to_string();
}

}  // namespace notifyd::edge
