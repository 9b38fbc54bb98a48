#include "edge/push_request.h"

#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "boost/json/parse.hpp"
#include "boost/json/value.hpp"
#include "boost/url/parse.hpp"
#include "boost/url/url_view.hpp"
#include "storage/push.h"

namespace notifyd::edge {
namespace {

namespace json = boost::json;
namespace urls = boost::urls;

absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(message);
}

// The body as a JSON object, or why not.
absl::StatusOr<json::object> ParseObject(absl::string_view body) {
  json::error_code ec;
  json::value value =
      json::parse(json::string_view(body.data(), body.size()), ec);
  if (ec) return Invalid(absl::StrCat("malformed JSON: ", ec.message()));
  if (!value.is_object()) return Invalid("the body must be a JSON object");
  return std::move(value.as_object());
}

// The string member `name` of `object`; INVALID_ARGUMENT naming `path`
// when it is missing or not a string.
absl::StatusOr<std::string> StringMember(const json::object& object,
                                         absl::string_view name,
                                         absl::string_view path) {
  const json::value* v =
      object.if_contains(json::string_view(name.data(), name.size()));
  if (v == nullptr || !v->is_string()) {
    return Invalid(absl::StrCat(path, " must be a string"));
  }
  return std::string(v->as_string());
}

absl::Status CheckEndpointSize(absl::string_view endpoint) {
  if (endpoint.empty()) return Invalid("endpoint must not be empty");
  if (endpoint.size() > storage::kMaxPushEndpointBytes) {
    return Invalid(absl::StrCat("endpoint must be at most ",
                                storage::kMaxPushEndpointBytes, " bytes"));
  }
  return absl::OkStatus();
}

// Whether an IPv4 address (host order) lies in a range no push service
// uses: "this network", private, shared, loopback, link-local, the IETF
// protocol block, documentation, benchmarking, multicast, reserved and
// broadcast.
bool IsNonPublicV4(uint32_t a) {
  struct Range {
    uint32_t base;
    int bits;
  };
  static constexpr Range kRanges[] = {
      {0x00000000, 8},  {0x0a000000, 8},  {0x64400000, 10}, {0x7f000000, 8},
      {0xa9fe0000, 16}, {0xac100000, 12}, {0xc0000000, 24}, {0xc0000200, 24},
      {0xc0a80000, 16}, {0xc6120000, 15}, {0xc6336400, 24}, {0xcb007100, 24},
      {0xe0000000, 4},  {0xf0000000, 4},
  };
  for (const Range& r : kRanges) {
    const uint32_t mask = ~uint32_t{0} << (32 - r.bits);
    if ((a & mask) == r.base) return true;
  }
  return false;
}

// The same for IPv6: unspecified, loopback, IPv4-mapped and NAT64 forms
// of a non-public IPv4 address, unique-local (fc00::/7), link-local
// (fe80::/10), site-local (fec0::/10), multicast and documentation.
bool IsNonPublicV6(const std::array<unsigned char, 16>& b) {
  const auto v4_at_end = [&b] {
    return uint32_t{b[12]} << 24 | uint32_t{b[13]} << 16 |
           uint32_t{b[14]} << 8 | uint32_t{b[15]};
  };
  bool zero_prefix = true;
  for (int i = 0; i < 10; ++i) zero_prefix = zero_prefix && b[i] == 0;
  if (zero_prefix && b[10] == 0 && b[11] == 0) return true;  // ::, ::1, ::/96
  if (zero_prefix && b[10] == 0xff && b[11] == 0xff) {
    return IsNonPublicV4(v4_at_end());  // ::ffff:a.b.c.d
  }
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {
    return IsNonPublicV4(v4_at_end());  // 64:ff9b::a.b.c.d
  }
  if ((b[0] & 0xfe) == 0xfc) return true;                  // fc00::/7
  if (b[0] == 0xfe && (b[1] & 0x80) == 0x80) return true;  // fe80::/9
  if (b[0] == 0xff) return true;                           // ff00::/8
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) {
    return true;  // 2001:db8::/32
  }
  return false;
}

}  // namespace

absl::Status CheckPushEndpoint(absl::string_view endpoint, bool allow_private) {
  if (absl::Status s = CheckEndpointSize(endpoint); !s.ok()) return s;
  auto parsed = urls::parse_absolute_uri(
      urls::string_view(endpoint.data(), endpoint.size()));
  if (!parsed) return Invalid("endpoint must be an absolute URL");
  const urls::url_view& url = *parsed;
  if (url.scheme_id() != urls::scheme::https) {
    return Invalid("endpoint must be an https URL");
  }
  if (!url.has_authority() || url.encoded_host().empty()) {
    return Invalid("endpoint must name a host");
  }
  if (url.has_userinfo()) return Invalid("endpoint must not carry user info");
  if (allow_private) return absl::OkStatus();
  constexpr absl::string_view kPrivate =
      "endpoint host is a loopback, private or reserved address";
  switch (url.host_type()) {
    case urls::host_type::ipv4:
      if (IsNonPublicV4(url.host_ipv4_address().to_uint())) {
        return Invalid(kPrivate);
      }
      return absl::OkStatus();
    case urls::host_type::ipv6:
      if (IsNonPublicV6(url.host_ipv6_address().to_bytes())) {
        return Invalid(kPrivate);
      }
      return absl::OkStatus();
    case urls::host_type::name: {
      std::string host = absl::AsciiStrToLower(url.host());
      absl::string_view name = absl::StripSuffix(host, ".");
      if (name == "localhost" || absl::EndsWith(name, ".localhost")) {
        return Invalid("endpoint host must not be localhost");
      }
      if (!absl::StrContains(name, '.')) {
        return Invalid(
            "endpoint host must be a fully qualified name (with a dot)");
      }
      return absl::OkStatus();
    }
    default:
      return Invalid("endpoint host must be a name or an IP address");
  }
}

absl::StatusOr<std::string> DecodeBase64Url(absl::string_view text,
                                            absl::string_view name,
                                            size_t bytes) {
  absl::string_view digits = text;
  size_t padding = 0;
  while (absl::ConsumeSuffix(&digits, "=")) ++padding;
  const bool alphabet =
      !digits.empty() && padding <= 2 &&
      std::all_of(digits.begin(), digits.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
               c == '_';
      });
  std::string raw;
  if (!alphabet || digits.size() % 4 == 1 ||
      (padding > 0 && (digits.size() + padding) % 4 != 0) ||
      !absl::WebSafeBase64Unescape(digits, &raw)) {
    return Invalid(absl::StrCat(name, " must be base64url"));
  }
  if (raw.size() != bytes) {
    return Invalid(absl::StrCat(name, " must decode to ", bytes, " bytes, not ",
                                raw.size()));
  }
  return raw;
}

std::string EncodeBase64Url(absl::string_view raw) {
  return absl::WebSafeBase64Escape(raw);
}

absl::Status CheckP256Point(absl::string_view raw) {
  constexpr absl::string_view kNotOnCurve =
      "keys.p256dh must be an uncompressed point on P-256";
  if (raw.size() != storage::kPushP256dhBytes || raw[0] != '\x04') {
    return Invalid(kNotOnCurve);
  }
  std::unique_ptr<EC_GROUP, decltype(&EC_GROUP_free)> group(
      EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1), &EC_GROUP_free);
  if (group == nullptr) return absl::InternalError("P-256 is not available");
  std::unique_ptr<EC_POINT, decltype(&EC_POINT_free)> point(
      EC_POINT_new(group.get()), &EC_POINT_free);
  if (point == nullptr) return absl::InternalError("out of memory");
  // oct2point refuses a point off the curve; is_on_curve says so again.
  if (EC_POINT_oct2point(group.get(), point.get(),
                         reinterpret_cast<const unsigned char*>(raw.data()),
                         raw.size(), nullptr) != 1 ||
      EC_POINT_is_on_curve(group.get(), point.get(), nullptr) != 1) {
    return Invalid(kNotOnCurve);
  }
  return absl::OkStatus();
}

absl::StatusOr<PushSubscriptionBody> ParsePushSubscription(
    absl::string_view body, bool allow_private) {
  absl::StatusOr<json::object> object = ParseObject(body);
  if (!object.ok()) return object.status();
  PushSubscriptionBody out;
  absl::StatusOr<std::string> endpoint =
      StringMember(*object, "endpoint", "endpoint");
  if (!endpoint.ok()) return endpoint.status();
  if (absl::Status s = CheckPushEndpoint(*endpoint, allow_private); !s.ok()) {
    return s;
  }
  out.endpoint = *std::move(endpoint);
  if (const json::value* expiry = object->if_contains("expirationTime");
      expiry != nullptr && !expiry->is_null() && !expiry->is_number()) {
    return Invalid("expirationTime must be null or a number");
  }
  const json::value* keys = object->if_contains("keys");
  if (keys == nullptr || !keys->is_object()) {
    return Invalid("keys must be an object with p256dh and auth");
  }
  absl::StatusOr<std::string> p256dh =
      StringMember(keys->as_object(), "p256dh", "keys.p256dh");
  if (!p256dh.ok()) return p256dh.status();
  absl::StatusOr<std::string> auth =
      StringMember(keys->as_object(), "auth", "keys.auth");
  if (!auth.ok()) return auth.status();
  absl::StatusOr<std::string> point =
      DecodeBase64Url(*p256dh, "keys.p256dh", storage::kPushP256dhBytes);
  if (!point.ok()) return point.status();
  if (absl::Status s = CheckP256Point(*point); !s.ok()) return s;
  absl::StatusOr<std::string> secret =
      DecodeBase64Url(*auth, "keys.auth", storage::kPushAuthBytes);
  if (!secret.ok()) return secret.status();
  out.p256dh = *std::move(point);
  out.auth = *std::move(secret);
  return out;
}

absl::StatusOr<std::string> ParsePushEndpoint(absl::string_view body) {
  absl::StatusOr<json::object> object = ParseObject(body);
  if (!object.ok()) return object.status();
  absl::StatusOr<std::string> endpoint =
      StringMember(*object, "endpoint", "endpoint");
  if (!endpoint.ok()) return endpoint.status();
  if (absl::Status s = CheckEndpointSize(*endpoint); !s.ok()) return s;
  return endpoint;
}

}  // namespace notifyd::edge
