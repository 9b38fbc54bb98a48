#include "edge/routes.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "edge/web_assets.h"

namespace notifyd::edge {

std::optional<Route> FindRoute(absl::string_view path, EdgeRole role) {
  for (const Route& r : kRoutes) {
    if (r.path != path) continue;
    if (role == EdgeRole::kPublic ? r.on_public : r.on_admin) return r;
    return std::nullopt;
  }
  if (role == EdgeRole::kPublic && IsKnownWebPath(path)) {
    return Route{path, RouteId::kWebFile, true, false, kGet | kHead};
  }
  return std::nullopt;
}

std::string AllowedMethods(const Route& route) {
  std::string out;
  for (auto [bit, name] : {std::pair{kGet, "GET"}, std::pair{kHead, "HEAD"},
                           std::pair{kPost, "POST"}}) {
    if (route.Allows(bit)) absl::StrAppend(&out, name, ", ");
  }
  return absl::StrCat(out, "OPTIONS");
}

absl::string_view PathLabel(absl::string_view path) {
  for (const Route& r : kRoutes) {
    if (r.path == path) return r.path;
  }
  return path == "/" ? "/" : "other";
}

}  // namespace notifyd::edge
