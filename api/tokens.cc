#include "api/tokens.h"

#include <jwt.h>

#include <boost/json.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/validation.h"

namespace notifyd::api {
namespace {

struct JwtDeleter {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtDeleter>;

absl::Status Unauthenticated(absl::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("invalid token: ", why));
}

jwt_alg_t AlgorithmOf(const std::string& name) {
  if (name == "HS256") return JWT_ALG_HS256;
  if (name == "RS256") return JWT_ALG_RS256;
  if (name == "ES256") return JWT_ALG_ES256;
  return JWT_ALG_INVAL;
}

// The JSON object in a base64url segment, or nullopt.
std::optional<boost::json::object> DecodeSegment(absl::string_view segment) {
  std::string json;
  if (!absl::WebSafeBase64Unescape(segment, &json)) return std::nullopt;
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(json, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.as_object());
}

bool IsBase64UrlChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
         c == '_';
}

// A compact JWS as text: three base64url segments joined by '.', at most
// kMaxTokenBytes. Checked before anything parses the token, since libjwt
// reads a C string (a NUL would hide whatever follows it) and absl's base64
// decoder skips padding and whitespace.
absl::Status CheckTokenText(absl::string_view token) {
  if (token.empty()) return Unauthenticated("missing");
  if (token.size() > kMaxTokenBytes) {
    return Unauthenticated(
        absl::StrCat("too long (over ", kMaxTokenBytes, " bytes)"));
  }
  int dots = 0;
  for (char c : token) {
    if (c == '.') {
      ++dots;
    } else if (!IsBase64UrlChar(c)) {
      return Unauthenticated("malformed (a byte outside base64url)");
    }
  }
  if (dots != 2) return Unauthenticated("malformed (not three segments)");
  return absl::OkStatus();
}

// Reads a NumericDate claim (RFC 7519 §2) as whole Unix seconds; absent
// leaves `out` unset. A value that is not a number, not whole, negative or
// past kMaxNumericDate is an error naming the claim: nothing is converted
// before it is known to fit.
absl::Status NumericDateClaim(const boost::json::object& claims,
                              const char* name, std::optional<int64_t>& out) {
  const boost::json::value* v = claims.if_contains(name);
  if (v == nullptr) return absl::OkStatus();
  auto bad = [name](absl::string_view why) {
    return Unauthenticated(
        absl::StrCat("malformed time claim: ", name, " ", why));
  };
  if (v->is_int64()) {
    if (v->as_int64() < 0) return bad("is negative");
    if (v->as_int64() > kMaxNumericDate) return bad("is out of range");
    out = v->as_int64();
  } else if (v->is_uint64()) {
    // Boost.JSON only uses uint64 for values above INT64_MAX.
    if (v->as_uint64() > static_cast<uint64_t>(kMaxNumericDate)) {
      return bad("is out of range");
    }
    out = static_cast<int64_t>(v->as_uint64());
  } else if (v->is_double()) {
    // Exponent notation (1.9e9) or a fraction: accepted only when whole.
    const double d = v->as_double();
    if (!std::isfinite(d) || d != std::trunc(d)) {
      return bad("is not a whole number of seconds");
    }
    if (d < 0) return bad("is negative");
    if (d > static_cast<double>(kMaxNumericDate)) return bad("is out of range");
    out = static_cast<int64_t>(d);
  } else {
    return bad("is not a number");
  }
  return absl::OkStatus();
}

// An ES256 signature is R||S, two 32-byte big-endian integers below the
// order n of P-256. (R, S) and (R, n-S) both verify, so only the low one
// (S <= n/2) is accepted, and minted.
constexpr size_t kEs256ScalarBytes = 32;
constexpr unsigned char kP256Order[kEs256ScalarBytes] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17,
    0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};
constexpr unsigned char kP256HalfOrder[kEs256ScalarBytes] = {
    0x7F, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xDE, 0x73, 0x7D, 0x56, 0xD3, 0x8B,
    0xCF, 0x42, 0x79, 0xDC, 0xE5, 0x61, 0x7E, 0x31, 0x92, 0xA8};

// The decoded R||S of an ES256 token's signature segment, or nullopt.
std::optional<std::string> Es256Signature(absl::string_view segment) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(segment, &raw) ||
      raw.size() != 2 * kEs256ScalarBytes) {
    return std::nullopt;
  }
  return raw;
}

// True when S, the second half of `raw` (R||S), is above n/2.
bool IsHighS(const std::string& raw) {
  return std::memcmp(raw.data() + kEs256ScalarBytes, kP256HalfOrder,
                     kEs256ScalarBytes) > 0;
}

// Replaces S in `raw` (R||S, with S < n) by n - S.
void NegateS(std::string& raw) {
  int borrow = 0;
  for (size_t i = kEs256ScalarBytes; i-- > 0;) {
    const int s = static_cast<unsigned char>(raw[kEs256ScalarBytes + i]);
    int diff = kP256Order[i] - s - borrow;
    borrow = diff < 0 ? 1 : 0;
    raw[kEs256ScalarBytes + i] = static_cast<char>(diff + 256 * borrow);
  }
}

bool AudienceMatches(const boost::json::value& aud, const std::string& want) {
  if (aud.is_string()) return aud.as_string() == want;
  if (!aud.is_array()) return false;
  for (const auto& v : aud.as_array()) {
    if (v.is_string() && v.as_string() == want) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<TokenAuthority> TokenAuthority::Create(TokenConfig config) {
  if (AlgorithmOf(config.algorithm) == JWT_ALG_INVAL) {
    return absl::InvalidArgumentError(
        absl::StrCat("token algorithm must be HS256, RS256 or ES256, not ",
                     config.algorithm));
  }
  if (config.key.empty()) {
    return absl::InvalidArgumentError("token key is empty");
  }
  if (config.algorithm == "HS256" && config.key.size() < 32) {
    return absl::InvalidArgumentError(
        "an HS256 token key needs at least 32 bytes");
  }
  return TokenAuthority(std::move(config));
}

bool TokenAuthority::CanIssue() const {
  return config_.algorithm == "HS256" || !config_.private_key.empty();
}

absl::StatusOr<TokenClaims> TokenAuthority::Verify(absl::string_view token,
                                                   absl::Time now) const {
  if (absl::Status s = CheckTokenText(token); !s.ok()) return s;
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts[0].empty() || parts[1].empty() || parts[2].empty()) {
    return Unauthenticated("malformed (empty segment)");
  }
  // Pin the algorithm before libjwt sees the token: this is what stops
  // `alg: none` and HS256-signed-with-the-public-key confusion.
  std::optional<boost::json::object> header = DecodeSegment(parts[0]);
  const boost::json::value* alg = header ? header->if_contains("alg") : nullptr;
  if (alg == nullptr || !alg->is_string() ||
      alg->as_string() != config_.algorithm) {
    return Unauthenticated("wrong algorithm");
  }
  // The claims' syntax is checked before the signature (their values count
  // only after it): a number libjwt's JSON parser cannot hold would
  // otherwise read as a bad signature.
  std::optional<boost::json::object> payload = DecodeSegment(parts[1]);
  if (!payload) return Unauthenticated("malformed claims");
  const boost::json::object& claims = *payload;
  std::optional<int64_t> exp, nbf, iat;
  for (auto [name, out] : {std::pair{"exp", &exp}, std::pair{"nbf", &nbf},
                           std::pair{"iat", &iat}}) {
    if (absl::Status s = NumericDateClaim(claims, name, *out); !s.ok()) {
      return s;
    }
  }
  if (config_.algorithm == "ES256") {
    std::optional<std::string> signature = Es256Signature(parts[2]);
    if (!signature) return Unauthenticated("bad signature");
    if (IsHighS(*signature)) {
      return Unauthenticated("bad signature (high S, not canonical)");
    }
  }
  jwt_t* raw = nullptr;
  // CheckTokenText made sure there is no NUL: libjwt sees the whole token.
  std::string nul_terminated(token);
  int rc =
      jwt_decode(&raw, nul_terminated.c_str(),
                 reinterpret_cast<const unsigned char*>(config_.key.data()),
                 static_cast<int>(config_.key.size()));
  JwtPtr jwt(raw);
  if (rc != 0 || !jwt ||
      jwt_get_alg(jwt.get()) != AlgorithmOf(config_.algorithm)) {
    return Unauthenticated("bad signature");
  }
  const int64_t now_s = absl::ToUnixSeconds(now);
  const int64_t skew = absl::ToInt64Seconds(config_.clock_skew);
  if (!exp) return Unauthenticated("no exp");
  if (now_s >= *exp + skew) return Unauthenticated("expired");
  if (nbf && now_s + skew < *nbf) return Unauthenticated("not yet valid");
  if (iat && *iat > now_s + skew) return Unauthenticated("issued in future");
  if (!config_.issuer.empty()) {
    auto iss = claims.find("iss");
    if (iss == claims.end() || !iss->value().is_string() ||
        iss->value().as_string() != config_.issuer) {
      return Unauthenticated("wrong issuer");
    }
  }
  if (!config_.audience.empty()) {
    auto aud = claims.find("aud");
    if (aud == claims.end() ||
        !AudienceMatches(aud->value(), config_.audience)) {
      return Unauthenticated("wrong audience");
    }
  }
  TokenClaims out;
  auto sub = claims.find("sub");
  if (sub == claims.end() || !sub->value().is_string() ||
      !ValidateUserId("sub", std::string(sub->value().as_string())).ok()) {
    return Unauthenticated("bad sub");
  }
  out.user_id = std::string(sub->value().as_string());
  out.expires_at = *exp;
  if (auto ch = claims.find("channels"); ch != claims.end()) {
    if (!ch->value().is_array()) return Unauthenticated("bad channels");
    for (const auto& c : ch->value().as_array()) {
      if (!c.is_string()) return Unauthenticated("bad channels");
      out.channels.emplace_back(c.as_string());
    }
  }
  return out;
}

absl::StatusOr<std::pair<std::string, int64_t>> TokenAuthority::Issue(
    const std::string& user_id, const std::vector<std::string>& channels,
    absl::Duration ttl, absl::Time now) const {
  if (!CanIssue()) {
    return absl::FailedPreconditionError(
        "no signing key: IssueToken needs --token_key_file (HS256) or "
        "--token_private_key_file");
  }
  if (ttl <= absl::ZeroDuration()) ttl = config_.default_ttl;
  ttl = std::min(ttl, config_.max_ttl);
  const int64_t iat = absl::ToUnixSeconds(now);
  const int64_t exp = iat + absl::ToInt64Seconds(ttl);

  boost::json::object claims{{"sub", user_id}, {"iat", iat}, {"exp", exp}};
  boost::json::array grants;
  for (const std::string& c : channels) grants.emplace_back(c);
  claims["channels"] = std::move(grants);
  if (!config_.issuer.empty()) claims["iss"] = config_.issuer;
  if (!config_.audience.empty()) claims["aud"] = config_.audience;

  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return absl::InternalError("jwt_new failed");
  JwtPtr jwt(raw);
  const std::string& key =
      config_.algorithm == "HS256" ? config_.key : config_.private_key;
  if (jwt_add_grants_json(jwt.get(), boost::json::serialize(claims).c_str()) !=
          0 ||
      jwt_set_alg(jwt.get(), AlgorithmOf(config_.algorithm),
                  reinterpret_cast<const unsigned char*>(key.data()),
                  static_cast<int>(key.size())) != 0) {
    return absl::InternalError("cannot build token");
  }
  char* encoded = jwt_encode_str(jwt.get());
  if (encoded == nullptr) return absl::InternalError("cannot sign token");
  std::string token(encoded);
  free(encoded);
  if (config_.algorithm == "ES256") {
    // OpenSSL signs with either S; Verify takes only the low one.
    const size_t dot = token.rfind('.');
    std::optional<std::string> signature =
        Es256Signature(absl::string_view(token).substr(dot + 1));
    if (dot == std::string::npos || !signature) {
      return absl::InternalError("unexpected ES256 signature from libjwt");
    }
    if (IsHighS(*signature)) {
      NegateS(*signature);
      token.resize(dot + 1);
      token += absl::WebSafeBase64Escape(*signature);
    }
  }
  if (token.size() > kMaxTokenBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "channels: ", channels.size(), " grants make a ", token.size(),
        "-byte token; tokens are limited to ", kMaxTokenBytes,
        " bytes (grant fewer channels, or a prefix such as team:*)"));
  }
  return std::make_pair(std::move(token), exp);
}

}  // namespace notifyd::api
