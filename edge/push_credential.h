// The credential of a push subscription (docs/DESIGN.md, Web Push): a
// random secret handed to the browser when it registers the subscription
// (POST /v1/push/subscriptions), which its service worker, holding no
// access token, shows to mark what it displayed as seen and read:
//
//   POST /v1/inbox/state
//   Authorization: Push <credential>
//
// Like a token in the Authorization header it is CSRF-safe: no browser
// attaches it on its own. The store keeps only its SHA-256
// (storage::PushSubscription::secret_sha256), so a leaked database lets
// nobody change state; removing the subscription revokes it.
//
// Pure functions; thread-safe.
#ifndef NOTIFYD_EDGE_PUSH_CREDENTIAL_H_
#define NOTIFYD_EDGE_PUSH_CREDENTIAL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace notifyd::edge {

// The credential an Authorization header carries under the Push scheme
// ("Push <credential>", the scheme in any case), or empty when it carries
// none.
absl::string_view PushCredentialOf(absl::string_view authorization);

// A new credential: 32 random bytes (from OpenSSL's CSPRNG) as 43
// base64url characters. INTERNAL when the generator fails.
absl::StatusOr<std::string> NewPushCredential();

// What the store keeps of `credential`: its SHA-256, 32 raw bytes.
std::string PushCredentialHash(absl::string_view credential);

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_PUSH_CREDENTIAL_H_
