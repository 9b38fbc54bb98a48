#include "edge/web_assets.h"

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace notifyd::edge {
namespace {

const char* ContentTypeFor(absl::string_view name) {
  if (absl::EndsWith(name, ".html")) return "text/html; charset=utf-8";
  if (absl::EndsWith(name, ".js")) return "text/javascript; charset=utf-8";
  if (absl::EndsWith(name, ".css")) return "text/css; charset=utf-8";
  if (absl::EndsWith(name, ".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

// Files served under a URL path other than "/" + their name, and only there.
struct Alias {
  absl::string_view url_path;
  absl::string_view name;
};
constexpr Alias kAliases[] = {
    {"/", "index.html"},
    {"/v1/client.js", "client.js"},  // the versioned browser client (README)
    {"/v1/sw.js", "sw.js"},          // its service worker (Web Push)
};

// The file name a URL path names, before the table lookup; empty: none.
absl::string_view NameFor(absl::string_view url_path) {
  for (const Alias& a : kAliases) {
    if (url_path == a.url_path) return a.name;
  }
  if (url_path.empty() || url_path.front() != '/') return {};
  absl::string_view name = url_path.substr(1);
  for (const Alias& a : kAliases) {
    if (name == a.name && a.url_path != "/") return {};
  }
  return name;
}

// The embedded file a URL path names. Looking names up in this table is what
// keeps "../" and friends out, for the web_root case too.
const internal::EmbeddedFile* Find(absl::string_view url_path) {
  absl::string_view name = NameFor(url_path);
  if (name.empty()) return nullptr;
  for (size_t i = 0; i < internal::kEmbeddedFileCount; ++i) {
    if (name == internal::kEmbeddedFiles[i].name) {
      return &internal::kEmbeddedFiles[i];
    }
  }
  return nullptr;
}

}  // namespace

bool IsKnownWebPath(absl::string_view url_path) {
  return Find(url_path) != nullptr;
}

absl::StatusOr<WebFile> LoadWebFile(absl::string_view url_path,
                                    const std::string& web_root) {
  const internal::EmbeddedFile* file = Find(url_path);
  if (file == nullptr) return absl::NotFoundError("not found");
  absl::string_view name = file->name;

  WebFile out;
  out.content_type = ContentTypeFor(name);
  out.service_worker = name == "sw.js";
  if (web_root.empty()) {
    out.body.assign(reinterpret_cast<const char*>(file->data), file->size);
    return out;
  }
  std::string path = absl::StrCat(web_root, "/", file->name);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream body;
  if (!in || !(body << in.rdbuf())) {
    return absl::UnavailableError(absl::StrCat("cannot read ", path));
  }
  out.body = std::move(body).str();
  return out;
}

}  // namespace notifyd::edge
