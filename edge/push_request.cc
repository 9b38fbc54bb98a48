#include "edge/push_request.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "boost/json/parse.hpp"
#include "boost/json/value.hpp"
#include "boost/url/parse.hpp"
#include "boost/url/url_view.hpp"
#include "push/endpoint.h"
#include "push/p256.h"
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
  // The sender's rule for the addresses a name resolves to, applied to an
  // address written in the URL.
  switch (url.host_type()) {
    case urls::host_type::ipv4:
      if (!push::IsPublicAddress(
              boost::asio::ip::address_v4(url.host_ipv4_address().to_uint()))) {
        return Invalid(kPrivate);
      }
      return absl::OkStatus();
    case urls::host_type::ipv6:
      if (!push::IsPublicAddress(boost::asio::ip::address_v6(
              url.host_ipv6_address().to_bytes()))) {
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
  if (!push::P256PublicKey(raw).ok()) {
    return Invalid("keys.p256dh must be an uncompressed point on P-256");
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
