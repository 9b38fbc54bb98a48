// HTTP publishing on the admin listener (docs/DESIGN.md, "Publishing over
// HTTP"), for curl and scripts:
//
//   POST
//   /v1/notify/{user_id}?event=E&idempotency_key=K&expires_at=T&collapse_key=C
//   POST /v1/publish/{channel}?…  (the same parameters, each optional)
//        Authorization: Bearer <API key>  (when API keys are configured)
//        body: the notification's data, byte for byte, whatever its
//        Content-Type; at most --max_payload_bytes (413 past it, refused
//        before it is read); Content-Length (a chunked body is refused)
//        200 {"notification":{"id","channel","event","data","created_at",
//             "seen","read","archived","expires_at","collapse_key"},
//             "duplicate":false,"live_recipients":N}
//
// The edge reads the HTTP request: the recipient from the path, the other
// fields from the query (ParsePublishRequest), and writes the answer
// (ReplyOf). Publishing itself (the API key, validation, the publish rate,
// the store and the bus) is api::Publisher's (api/publisher.h), which the
// edge does not know: App hands it in as EdgeOptions::publish, a
// PublishFunction (server/http_publishing.h), so that gRPC and HTTP share
// one set of rules and errors.
//
// The path: the recipient is the rest of the path after /v1/notify/ or
// /v1/publish/, each segment percent-decoded; a channel may span segments
// ("/v1/publish/news/eu" is news/eu). Refused with 400, naming the field:
// a percent-encoded '/' (%2F: "a%2Fb" and "a/b" would be one channel to
// notifyd and two paths to a proxy), '.' and '..' segments (clients and
// proxies resolve them), and empty segments between others (…//…, a
// trailing '/'). The recipient's own checks are the publisher's: an empty
// one is "user_id is required", a user id with '/' has a character
// outside the set, a channel starting "user:" is reserved.
//
// Errors are absl::Status values sent as {"error":"<message>"} and mapped
// by HttpStatusFor (edge_server_impl.h): INVALID_ARGUMENT 400 (the message
// names the field, as over gRPC), UNAUTHENTICATED 401 (WWW-Authenticate:
// Bearer), RESOURCE_EXHAUSTED 429 (Retry-After), UNAVAILABLE 503 (the
// store is closed; also while the listener is starting or shutting down),
// OUT_OF_RANGE 413; a store failure is 500 "store error". Messages are
// printable ASCII; request values are echoed through EscapeForEcho only.
//
// Beast-free; pure functions (thread-safe).
#ifndef NOTIFYD_EDGE_PUBLISH_API_H_
#define NOTIFYD_EDGE_PUBLISH_API_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "edge/inbox_api.h"
#include "edge/routes.h"
#include "edge/stream_request.h"
#include "storage/notification.h"

namespace notifyd::edge {

// Where the notification goes: a user's inbox or a named channel.
enum class PublishTarget : uint8_t { kUser, kChannel };

// The query parameters of the publishing routes, each at most once.
inline constexpr absl::string_view kPublishParams[] = {
    "event", "idempotency_key", "expires_at", "collapse_key"};

// One publishing request as the edge read it. `data` and `authorization`
// are views into the HTTP request, valid during the PublishFunction call
// only (it copies what it keeps).
struct PublishCall {
  PublishTarget target = PublishTarget::kUser;
  std::string name;  // the user id or channel, percent-decoded
  // From the query, percent-decoded; empty: not given.
  std::string event;
  std::string idempotency_key;
  std::string collapse_key;
  std::optional<absl::Time> expires_at;
  absl::string_view data;  // the body
  // The Authorization header (at most one: CheckRequestHeader); absent
  // when not sent.
  std::optional<absl::string_view> authorization;
  std::string peer;  // the client's address, for logs; may be empty
  // Of the request's traceparent header (common/trace_context.h), a view
  // like `data`; empty: none.
  absl::string_view trace_id;
};

// What became of a PublishCall.
struct PublishOutcome {
  // OK: stored, or a duplicate of what the idempotency key stored before.
  absl::Status status;
  std::shared_ptr<const storage::Notification> notification;
  bool duplicate = false;
  size_t live_recipients = 0;  // streams of this process it was queued to
  // With RESOURCE_EXHAUSTED: when a retry may pass (Retry-After); zero:
  // not said.
  absl::Duration retry_after = absl::ZeroDuration();
};

// Publishes `call`, then calls `done` exactly once, on any thread: at once
// for a refusal, else from the store's thread after the commit. Neither
// may block.
using PublishFunction = std::function<void(
    const PublishCall& call, std::function<void(PublishOutcome)> done)>;

// The recipient, parameters and expiry a request to `route` (kNotifyUser
// or kPublish) asks for; `raw_target` is its request-target as received
// (the path's segments are checked before decoding), `target` the same
// parsed. data, authorization, peer and trace_id are left for the caller to
// fill.
// INVALID_ARGUMENT for the path rules above, a parameter not in
// kPublishParams or given twice, or an expires_at ParseExpiresAt refuses.
absl::StatusOr<PublishCall> ParsePublishRequest(RouteId route,
                                                absl::string_view raw_target,
                                                const HttpTarget& target);

// expires_at: an RFC 3339 time ("2025-06-01T12:00:00Z", any offset,
// fractional seconds allowed) or Unix seconds (digits only:
// "1748779200"). INVALID_ARGUMENT naming expires_at otherwise. Whether
// the time lies ahead (and within --retention) is the publisher's check.
absl::StatusOr<absl::Time> ParseExpiresAt(absl::string_view text);

// {"notification":{…NotificationJson…,"collapse_key":"…" or null},
//  "duplicate":…,"live_recipients":N}
std::string EncodePublished(const PublishOutcome& outcome);

// The answer to `outcome`: 200 with EncodePublished, or its refusal
// (a store's internal failure as "store error", as the inbox's), with its
// Retry-After.
ApiReply ReplyOf(const PublishOutcome& outcome);

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_PUBLISH_API_H_
