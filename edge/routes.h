// Every path the edge serves, in one table that routing, the metrics' path
// label, the listener roles and CORS preflights all read (docs/DESIGN.md,
// "Rooms").
//
//   public listener (browsers)
//   GET /v1/stream            SSE
//   GET /v1/inbox             inbox page (JSON; edge/inbox_api.h)
//   GET /v1/inbox/counts      counts (JSON)
//   POST /v1/inbox/state      state change (JSON)
//   POST, DELETE /v1/push/subscriptions  Web Push subscriptions (JSON;
//                             edge/push_api.h)
//   GET /v1/push/key          the server's VAPID public key (JSON)
//   GET /healthz              liveness
//   GET /, assets             the inbox page
//   GET /v1/client.js         the browser client (web/client.js)
//   GET /v1/sw.js             its service worker (web/sw.js)
//
//   admin listener (operators and publishers)
//   GET /metrics              Prometheus text
//   GET /healthz              liveness
//   GET /readyz               readiness
//   POST /v1/notify/{user_id} publishing (JSON; edge/publish_api.h)
//   POST /v1/publish/{channel}
//
// The admin listener keeps what names callers and internals (the metrics
// label every gRPC call with its API key's name) and what publishers call
// away from the port the internet reaches. Beast-free; thread-safe
// (constant data).
#ifndef NOTIFYD_EDGE_ROUTES_H_
#define NOTIFYD_EDGE_ROUTES_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace notifyd::edge {

// Which set of routes a listener serves.
enum class EdgeRole : uint8_t { kPublic, kAdmin };

enum class RouteId : uint8_t {
  kStream,
  kInboxList,
  kInboxCounts,
  kInboxState,
  kHealth,
  kReady,
  kMetrics,
  kWebFile,
  kNotifyUser,  // POST /v1/notify/{user_id}
  kPublish,     // POST /v1/publish/{channel}
  kPushSubscriptions,
  kPushKey,
};

// The methods a route answers, as a bit set (OPTIONS, the CORS preflight,
// is answered on every route).
enum Method : uint8_t { kGet = 1, kHead = 2, kPost = 4, kDelete = 8 };

// Most bytes of a request body on the routes that take one (the 413 past
// it is answered before the body is read).
inline constexpr size_t kMaxInboxStateBodyBytes = 16 * 1024;
// A push subscription: an endpoint of at most 2048 bytes
// (storage::kMaxPushEndpointBytes), two keys and JSON around them.
inline constexpr size_t kMaxPushBodyBytes = 4 * 1024;
// A route's max_body_bytes when its body is a notification's data: the
// limit is --max_payload_bytes (EdgeOptions::max_payload_bytes; BodyLimit).
inline constexpr size_t kPayloadBody = static_cast<size_t>(-1);

struct Route {
  // Exact, or a pattern "/prefix/{name}": every path that starts with
  // "/prefix/" (the rest of the path is the parameter; Matches); web files
  // are matched by IsKnownWebPath.
  absl::string_view path;
  RouteId id;
  bool on_public;
  bool on_admin;
  uint8_t methods;  // Method bits
  // The request headers a page on another origin may send (a preflight's
  // Access-Control-Allow-Headers); empty: only the CORS-safelisted ones.
  absl::string_view cors_headers = {};
  // Most bytes of a request body; 0: the route takes no body (413);
  // kPayloadBody: --max_payload_bytes.
  size_t max_body_bytes = 0;

  bool Allows(uint8_t method) const { return (methods & method) != 0; }
  // Whether `request_path` is this route's: equal to `path`, or for a
  // pattern, starting with its prefix.
  bool Matches(absl::string_view request_path) const;
};

inline constexpr Route kRoutes[] = {
    {"/v1/stream", RouteId::kStream, true, false, kGet,
     "Authorization, Last-Event-ID, Cache-Control"},
    {"/v1/inbox", RouteId::kInboxList, true, false, kGet, "Authorization"},
    {"/v1/inbox/counts", RouteId::kInboxCounts, true, false, kGet,
     "Authorization"},
    {"/v1/inbox/state", RouteId::kInboxState, true, false, kPost,
     "Authorization, Content-Type", kMaxInboxStateBodyBytes},
    {"/v1/push/subscriptions", RouteId::kPushSubscriptions, true, false,
     kPost | kDelete, "Authorization, Content-Type", kMaxPushBodyBytes},
    {"/v1/push/key", RouteId::kPushKey, true, false, kGet},
    {"/healthz", RouteId::kHealth, true, true, kGet | kHead},
    {"/readyz", RouteId::kReady, false, true, kGet | kHead},
    {"/metrics", RouteId::kMetrics, false, true, kGet | kHead},
    {"/v1/notify/{user_id}", RouteId::kNotifyUser, false, true, kPost,
     "Authorization", kPayloadBody},
    {"/v1/publish/{channel}", RouteId::kPublish, false, true, kPost,
     "Authorization", kPayloadBody},
};

// The JSON inbox routes (edge/inbox_api.h).
inline bool IsInboxRoute(RouteId id) {
  return id == RouteId::kInboxList || id == RouteId::kInboxCounts ||
         id == RouteId::kInboxState;
}

// The publishing routes (edge/publish_api.h).
inline bool IsPublishRoute(RouteId id) {
  return id == RouteId::kNotifyUser || id == RouteId::kPublish;
}

// The Web Push routes (edge/push_api.h).
inline bool IsPushRoute(RouteId id) {
  return id == RouteId::kPushSubscriptions || id == RouteId::kPushKey;
}

// The routes that answer JSON, errors included ({"error":"..."}).
inline bool IsJsonRoute(RouteId id) {
  return IsInboxRoute(id) || IsPublishRoute(id) || IsPushRoute(id);
}

// The most bytes of a request body `route` takes, with
// `max_payload_bytes` for kPayloadBody.
inline size_t BodyLimit(const Route& route, size_t max_payload_bytes) {
  return route.max_body_bytes == kPayloadBody ? max_payload_bytes
                                              : route.max_body_bytes;
}

// The route `path` names on a listener of `role`; nullopt: 404. Web files
// (the page and its assets) are served on the public listener only.
std::optional<Route> FindRoute(absl::string_view path, EdgeRole role);

// The methods `route` answers, as a preflight's Access-Control-Allow-Methods
// and a 405's Allow list them, in the order GET, HEAD, POST, DELETE,
// OPTIONS: e.g. "GET, HEAD, OPTIONS", "GET, OPTIONS" or "POST, DELETE,
// OPTIONS".
std::string AllowedMethods(const Route& route);

// The label of notifyd_http_requests_total{path}: a route's path (a
// pattern's as written: "/v1/notify/{user_id}"), "/" for the page, "other"
// for the rest (assets included), so a scan of random paths cannot grow the
// metric without bound.
absl::string_view PathLabel(absl::string_view path);

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_ROUTES_H_
