#include "edge/routes.h"

#include "edge/web_assets.h"

namespace notifyd::edge {

std::optional<Route> FindRoute(absl::string_view path, EdgeRole role) {
  for (const Route& r : kRoutes) {
    if (r.path != path) continue;
    if (role == EdgeRole::kPublic ? r.on_public : r.on_admin) return r;
    return std::nullopt;
  }
  if (role == EdgeRole::kPublic && IsKnownWebPath(path)) {
    return Route{path, RouteId::kWebFile, true, false, true};
  }
  return std::nullopt;
}

absl::string_view AllowedMethods(const Route& route) {
  return route.head_allowed ? "GET, HEAD, OPTIONS" : "GET, OPTIONS";
}

absl::string_view PathLabel(absl::string_view path) {
  for (const Route& r : kRoutes) {
    if (r.path == path) return r.path;
  }
  return path == "/" ? "/" : "other";
}

}  // namespace notifyd::edge
