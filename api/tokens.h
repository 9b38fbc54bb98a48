// Subscriber tokens (docs/DESIGN.md, Security): JWTs whose `sub` is the user
// id, `channels` the extra channels the holder may read (exact names, or a
// prefix ending in `*`) and `exp` is required. Signing and verification are
// libjwt's; this file adds the policy libjwt leaves to callers: the algorithm
// is pinned by configuration (a token naming `none` or another algorithm is
// refused before its signature is looked at), the text must be a plain compact
// JWS (base64url segments and exactly two '.', at most kMaxTokenBytes), ES256
// signatures must be low-S (the malleable high-S twin of a valid signature
// is refused), the time claims must be whole, non-negative seconds within
// kMaxNumericDate, and claims are checked with a small clock skew.
//
// TokenAuthority is immutable after construction: thread-safe.
#ifndef NOTIFYD_API_TOKENS_H_
#define NOTIFYD_API_TOKENS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace notifyd::api {

// The longest token accepted, and so the longest Issue mints: the single
// limit both sides use. 4096 bytes leaves room for the token in a query
// string, a cookie or an Authorization header under the edge's default
// 8192-byte header limit, and dozens of channel grants (use prefix
// grants such as "team:*" for more).
inline constexpr size_t kMaxTokenBytes = 4096;

// The latest `exp`, `nbf` or `iat` accepted: 9999-12-31T23:59:59Z, in Unix
// seconds. Bounding the claims keeps the clock-skew arithmetic far from
// int64 overflow.
inline constexpr int64_t kMaxNumericDate = 253'402'300'799;

struct TokenConfig {
  // "HS256" (key is the shared secret), "RS256" or "ES256" (key is a PEM
  // public key for verifying; private_key a PEM private key for issuing).
  std::string algorithm = "HS256";
  std::string key;
  std::string private_key;
  std::string issuer;    // checked (and set when issuing) when non-empty
  std::string audience;  // likewise
  absl::Duration clock_skew = absl::Seconds(30);
  absl::Duration default_ttl = absl::Hours(1);
  absl::Duration max_ttl = absl::Hours(24);
};

struct TokenClaims {
  std::string user_id;
  std::vector<std::string> channels;  // grants; a trailing '*' is a prefix
  int64_t expires_at = 0;             // Unix seconds
};

class TokenAuthority {
 public:
  // Fails when the algorithm is unknown or the key cannot be used.
  static absl::StatusOr<TokenAuthority> Create(TokenConfig config);

  // UNAUTHENTICATED with a short reason on any failure.
  absl::StatusOr<TokenClaims> Verify(absl::string_view token,
                                     absl::Time now = absl::Now()) const;

  // A token for `user_id` and `channels`, valid for ttl (0: the default,
  // capped by max_ttl). FAILED_PRECONDITION when no signing key is set;
  // INVALID_ARGUMENT naming `channels` when the token would be longer than
  // kMaxTokenBytes (Verify would refuse it). ES256 tokens are low-S.
  absl::StatusOr<std::pair<std::string, int64_t>> Issue(
      const std::string& user_id, const std::vector<std::string>& channels,
      absl::Duration ttl, absl::Time now = absl::Now()) const;

  bool CanIssue() const;

 private:
  explicit TokenAuthority(TokenConfig config) : config_(std::move(config)) {}
  TokenConfig config_;
};

}  // namespace notifyd::api

#endif  // NOTIFYD_API_TOKENS_H_
