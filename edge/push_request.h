// What a browser sends to POST and DELETE /v1/push/subscriptions
// (edge/push_api.h), parsed and checked before anything is stored
// (docs/DESIGN.md, Web Push): the body of PushSubscription.toJSON(), an
// endpoint notifyd will later send requests to, and the browser's keys.
//
// The endpoint must be an absolute https URL of at most
// storage::kMaxPushEndpointBytes bytes, without user info, whose host is a
// name with a dot (not `localhost`, `*.localhost` nor a single label an
// internal resolver would complete) or a globally routable IP literal
// (push::IsPublicAddress, the rule the sender applies to the addresses a
// name resolves to): a subscription must not turn the sender into a way into
// the operator's network. `allow_private` (--push_allow_private, for tests
// against a push service on loopback) lifts the host rules. (A public name
// that resolves to a private address is the sender's to refuse when it
// connects.)
//
// Pure functions; thread-safe. Messages are printable ASCII and never echo
// the request.
#ifndef NOTIFYD_EDGE_PUSH_REQUEST_H_
#define NOTIFYD_EDGE_PUSH_REQUEST_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace notifyd::edge {

// A subscription as the browser gave it, its keys decoded.
struct PushSubscriptionBody {
  std::string endpoint;
  std::string p256dh;  // 65 bytes: an uncompressed point on P-256
  std::string auth;    // 16 bytes
};

// The body of POST /v1/push/subscriptions: a JSON object with "endpoint"
// (a string; CheckPushEndpoint), "keys" (an object with "p256dh" and
// "auth", base64url strings; DecodeBase64Url, CheckP256Point) and
// optionally "expirationTime" (null or a number; not kept). Other members
// are ignored, as browsers may add some. INVALID_ARGUMENT naming what is
// wrong otherwise.
absl::StatusOr<PushSubscriptionBody> ParsePushSubscription(
    absl::string_view body, bool allow_private);

// The body of DELETE /v1/push/subscriptions: {"endpoint": "<string>"} (other
// members ignored); the endpoint as given, 1 to kMaxPushEndpointBytes bytes,
// not checked as a URL (it may be one the rules no longer admit).
absl::StatusOr<std::string> ParsePushEndpoint(absl::string_view body);

// OK when `endpoint` may receive pushes (see above); INVALID_ARGUMENT
// saying why not.
absl::Status CheckPushEndpoint(absl::string_view endpoint, bool allow_private);

// `text` in the URL-safe base64 alphabet (RFC 4648 section 5), padding
// tolerated, decoded; INVALID_ARGUMENT naming `name` when it is not, or
// does not decode to exactly `bytes` bytes.
absl::StatusOr<std::string> DecodeBase64Url(absl::string_view text,
                                            absl::string_view name,
                                            size_t bytes);

// `raw` without padding in the URL-safe alphabet.
std::string EncodeBase64Url(absl::string_view raw);

// OK when `raw` is an uncompressed point (0x04, X, Y) on P-256;
// INVALID_ARGUMENT otherwise.
absl::Status CheckP256Point(absl::string_view raw);

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_PUSH_REQUEST_H_
