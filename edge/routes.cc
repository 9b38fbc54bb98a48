#include "edge/routes.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "edge/web_assets.h"

namespace notifyd::edge {

namespace {

// A pattern's prefix: "/v1/notify/{user_id}" -> "/v1/notify/"; empty for
// an exact path.
absl::string_view PatternPrefix(absl::string_view path) {
  if (!absl::EndsWith(path, "}")) return {};
  size_t brace = path.rfind('{');
  return brace == absl::string_view::npos ? absl::string_view()
                                          : path.substr(0, brace);
}

}  // namespace

bool Route::Matches(absl::string_view request_path) const {
  absl::string_view prefix = PatternPrefix(path);
  return prefix.empty() ? request_path == path
                        : absl::StartsWith(request_path, prefix);
}

std::optional<Route> FindRoute(absl::string_view path, EdgeRole role) {
  for (const Route& r : kRoutes) {
    if (!r.Matches(path)) continue;
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
  for (auto [bit, name] :
       {std::pair{kGet, "GET"}, std::pair{kHead, "HEAD"},
        std::pair{kPost, "POST"}, std::pair{kDelete, "DELETE"}}) {
    if (route.Allows(bit)) absl::StrAppend(&out, name, ", ");
  }
  return absl::StrCat(out, "OPTIONS");
}

absl::string_view PathLabel(absl::string_view path) {
  for (const Route& r : kRoutes) {
    if (r.Matches(path)) return r.path;
  }
  return path == "/" ? "/" : "other";
}

}  // namespace notifyd::edge
