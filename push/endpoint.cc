#include "push/endpoint.h"

#include <array>
#include <boost/url/parse.hpp>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace notifyd::push {
namespace {

namespace ip = boost::asio::ip;

struct V4Block {
  uint32_t network;
  int bits;
};

constexpr uint32_t V4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

constexpr std::array<V4Block, 14> kNonPublicV4 = {{
    {V4(0, 0, 0, 0), 8},        // "this network"
    {V4(10, 0, 0, 0), 8},       // private
    {V4(100, 64, 0, 0), 10},    // carrier-grade NAT
    {V4(127, 0, 0, 0), 8},      // loopback
    {V4(169, 254, 0, 0), 16},   // link-local
    {V4(172, 16, 0, 0), 12},    // private
    {V4(192, 0, 0, 0), 24},     // IETF protocol assignments
    {V4(192, 0, 2, 0), 24},     // documentation
    {V4(192, 168, 0, 0), 16},   // private
    {V4(198, 18, 0, 0), 15},    // benchmarking
    {V4(198, 51, 100, 0), 24},  // documentation
    {V4(203, 0, 113, 0), 24},   // documentation
    {V4(224, 0, 0, 0), 4},      // multicast
    {V4(240, 0, 0, 0), 4},      // reserved, broadcast
}};

bool PublicV4(uint32_t v) {
  for (const V4Block& block : kNonPublicV4) {
    const uint32_t mask = ~uint32_t{0} << (32 - block.bits);
    if ((v & mask) == block.network) return false;
  }
  return true;
}

uint32_t V4At(const ip::address_v6::bytes_type& b, size_t at) {
  return V4(b[at], b[at + 1], b[at + 2], b[at + 3]);
}

bool PublicV6(const ip::address_v6& address) {
  const ip::address_v6::bytes_type b = address.to_bytes();
  auto zeros = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      if (b[i] != 0) return false;
    }
    return true;
  };
  // IPv4 carried inside IPv6: judged by the IPv4 address.
  if (zeros(0, 10) && b[10] == 0xff && b[11] == 0xff) {
    return PublicV4(V4At(b, 12));  // ::ffff:a.b.c.d
  }
  if (zeros(0, 12)) return PublicV4(V4At(b, 12));  // ::a.b.c.d, ::, ::1
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b &&
      zeros(4, 12)) {
    return PublicV4(V4At(b, 12));  // NAT64
  }
  if (b[0] == 0x20 && b[1] == 0x02) return PublicV4(V4At(b, 2));  // 6to4
  if ((b[0] & 0xe0) != 0x20) return false;  // not global unicast
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) {
    return false;  // documentation
  }
  return true;
}

// Host names as DNS has them (letters, digits, '-', '_', '.').
bool PlainHostName(absl::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' &&
        c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<Endpoint> ParseEndpoint(absl::string_view url) {
  auto invalid = [](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("push endpoint ", why));
  };
  if (url.size() > kMaxEndpointBytes) {
    return invalid(
        absl::StrCat("is longer than ", kMaxEndpointBytes, " bytes"));
  }
  auto parsed =
      boost::urls::parse_absolute_uri(std::string_view(url.data(), url.size()));
  if (!parsed) return invalid("is not an absolute URL");
  const boost::urls::url_view& u = *parsed;
  if (u.scheme_id() != boost::urls::scheme::https) {
    return invalid("must be an https URL");
  }
  if (u.has_userinfo()) return invalid("must not carry user information");
  // Boost.URL 1.81 ends the authority at the first byte it cannot take and
  // reads the rest as a rootless path ("https://h:12x/p" is port 12, path
  // "x/p"): after an authority, a path must start with '/'.
  if (!u.encoded_path().empty() && u.encoded_path().front() != '/') {
    return invalid("has an invalid authority (host or port)");
  }
  if (u.has_fragment()) return invalid("must not carry a fragment");
  Endpoint e;
  std::string url_host;
  switch (u.host_type()) {
    case boost::urls::host_type::name:
      e.host = absl::AsciiStrToLower(std::string(u.host_name()));
      if (!PlainHostName(e.host)) return invalid("has an invalid host name");
      url_host = e.host;
      break;
    case boost::urls::host_type::ipv4:
      e.host = std::string(u.host_address());
      e.host_is_address = true;
      url_host = e.host;
      break;
    case boost::urls::host_type::ipv6:
      e.host = absl::AsciiStrToLower(std::string(u.host_address()));
      e.host_is_address = true;
      url_host = absl::StrCat("[", e.host, "]");
      break;
    default:
      return invalid("must name a host");
  }
  if (u.has_port() && !u.port().empty()) {
    if (u.port_number() == 0) return invalid("port must be 1 to 65535");
    e.port = u.port_number();
  }
  e.host_header =
      e.port == 443 ? url_host : absl::StrCat(url_host, ":", e.port);
  e.origin = absl::StrCat("https://", e.host_header);
  // An empty path is "/", also before a query.
  e.target = std::string(u.encoded_target());
  if (e.target.empty() || e.target.front() != '/') e.target.insert(0, 1, '/');
  return e;
}

bool IsPublicAddress(const boost::asio::ip::address& address) {
  if (address.is_v4()) return PublicV4(address.to_v4().to_uint());
  return PublicV6(address.to_v6());
}

}  // namespace notifyd::push
