// Every path the edge serves, in one table that routing, the metrics' path
// label, the listener roles and CORS preflights all read (docs/DESIGN.md,
// "Rooms").
//
//   public listener (browsers)         admin listener (operators)
//   GET /v1/stream  SSE                GET /metrics  Prometheus text
//   GET /healthz    liveness           GET /healthz  liveness
//   GET /, assets   the inbox page     GET /readyz   readiness
//
// The admin listener keeps what names callers and internals (the metrics
// label every gRPC call with its API key's name) away from the port the
// internet reaches. Beast-free; thread-safe (constant data).
#ifndef NOTIFYD_EDGE_ROUTES_H_
#define NOTIFYD_EDGE_ROUTES_H_

#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

namespace notifyd::edge {

// Which set of routes a listener serves.
enum class EdgeRole : uint8_t { kPublic, kAdmin };

enum class RouteId : uint8_t { kStream, kHealth, kReady, kMetrics, kWebFile };

struct Route {
  absl::string_view path;  // exact; web files are matched by IsKnownWebPath
  RouteId id;
  bool on_public;
  bool on_admin;
  bool head_allowed;  // HEAD as well as GET
  // The request headers a page on another origin may send (a preflight's
  // Access-Control-Allow-Headers); empty: only the CORS-safelisted ones.
  absl::string_view cors_headers = {};
};

inline constexpr Route kRoutes[] = {
    {"/v1/stream", RouteId::kStream, true, false, false,
     "Authorization, Last-Event-ID, Cache-Control"},
    {"/healthz", RouteId::kHealth, true, true, true},
    {"/readyz", RouteId::kReady, false, true, true},
    {"/metrics", RouteId::kMetrics, false, true, true},
};

// The route `path` names on a listener of `role`; nullopt: 404. Web files
// (the page and its assets) are served on the public listener only.
std::optional<Route> FindRoute(absl::string_view path, EdgeRole role);

// The methods `route` answers, as a preflight's Access-Control-Allow-Methods
// lists them: "GET, HEAD, OPTIONS" or "GET, OPTIONS".
absl::string_view AllowedMethods(const Route& route);

// The label of notifyd_http_requests_total{path}: a route's path, "/" for
// the page, "other" for the rest (assets included), so a scan of random
// paths cannot grow the metric without bound.
absl::string_view PathLabel(absl::string_view path);

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_ROUTES_H_
