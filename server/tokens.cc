#include "server/tokens.h"

#include <jwt.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/validation.h"

namespace notifyd::server {
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

// The JSON object in a base64url segment, or null.
boost::json::object DecodeSegment(absl::string_view segment) {
  std::string json;
  if (!absl::WebSafeBase64Unescape(segment, &json)) return {};
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(json, ec);
  if (ec || !value.is_object()) return {};
  return std::move(value.as_object());
}

// Reads an integer claim; absent claims leave `out` unset and return true.
bool IntClaim(const boost::json::object& claims, const char* name,
              std::optional<int64_t>& out) {
  auto it = claims.find(name);
  if (it == claims.end()) return true;
  if (it->value().is_int64()) {
    out = it->value().as_int64();
  } else if (it->value().is_uint64() && it->value().as_uint64() <= INT64_MAX) {
    out = static_cast<int64_t>(it->value().as_uint64());
  } else if (it->value().is_double()) {
    out = static_cast<int64_t>(it->value().as_double());
  } else {
    return false;
  }
  return true;
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
  if (token.empty()) return Unauthenticated("missing");
  if (token.size() > kMaxTokenBytes) return Unauthenticated("too long");
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3 || parts[2].empty()) {
    return Unauthenticated("malformed");
  }
  // Pin the algorithm before libjwt sees the token: this is what stops
  // `alg: none` and HS256-signed-with-the-public-key confusion.
  boost::json::object header = DecodeSegment(parts[0]);
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->value().is_string() ||
      alg->value().as_string() != config_.algorithm) {
    return Unauthenticated("wrong algorithm");
  }
  jwt_t* raw = nullptr;
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
  boost::json::object claims = DecodeSegment(parts[1]);
  std::optional<int64_t> exp, nbf, iat;
  if (!IntClaim(claims, "exp", exp) || !IntClaim(claims, "nbf", nbf) ||
      !IntClaim(claims, "iat", iat)) {
    return Unauthenticated("malformed time claim");
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
  return std::make_pair(std::move(token), exp);
}

}  // namespace notifyd::server
