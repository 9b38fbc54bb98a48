// Who is asking for a stream. A separate concept so the development identity
// (?user=) can be replaced by a token verifier (JWT; docs/DESIGN.md,
// "Security") without touching the HTTP code: EdgeOptions carries an optional
// TokenVerifier.
//
// Pure functions; thread-safe as long as the verifier is.
#ifndef NOTIFYD_EDGE_IDENTITY_H_
#define NOTIFYD_EDGE_IDENTITY_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/names.h"

namespace notifyd::edge {

struct Identity {
  std::string user;
  // Extra channels the holder may read (besides user:<user>): exact names,
  // or a prefix ending in '*' ("team:*").
  std::vector<std::string> channels;
  // True for the development identity: any valid extra channel.
  bool all_channels = false;
};

// Verifies a bearer token: OK with the identity it names, UNAUTHENTICATED
// for a missing, forged, expired or malformed token. It gets the token text
// exactly as sent (percent-decoded from a query), NUL bytes and all, and
// must refuse anything that is not a well-formed token.
using TokenVerifier =
    std::function<absl::StatusOr<Identity>(absl::string_view token)>;

// The credential-bearing parts of a request, as raw text.
struct AuthInputs {
  absl::string_view authorization;  // Authorization header
  absl::string_view access_token;   // ?access_token=
  absl::string_view cookie;         // Cookie header (access_token=...)
  absl::string_view dev_user;       // ?user=
  bool has_dev_user = false;
};

struct IdentityOptions {
  // Accept ?user= without proof. Development only.
  bool insecure_dev_identity = false;
  TokenVerifier verifier;  // empty: tokens are not accepted
  // Cookie that may carry the token.
  std::string cookie_name = "access_token";
};

// The value of cookie `name` in a Cookie header ("a=1; name=v"), or empty.
absl::string_view TokenFromCookie(absl::string_view cookie,
                                  absl::string_view name);

// A token (header, then query, then cookie) wins over ?user=. Errors:
// UNAUTHENTICATED (missing/invalid credentials), INVALID_ARGUMENT (bad
// user id syntax). Messages are short and safe to send to the client.
absl::StatusOr<Identity> Authenticate(const AuthInputs& in,
                                      const IdentityOptions& options);

// PERMISSION_DENIED naming the first extra channel `id` may not read.
absl::Status Authorize(const Identity& id,
                       const std::vector<std::string>& extra_channels);

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_IDENTITY_H_
