// The inbox page's files (web/), embedded into the binary at build time so
// the server needs no files on disk; optionally read from --web_root instead
// (handy while editing the page).
//
// Only files that were embedded are ever served, under their plain names, so
// a request path can never reach outside the web root.
// Thread-safe (read-only data; disk reads are independent).
#ifndef NOTIFYD_EDGE_WEB_ASSETS_H_
#define NOTIFYD_EDGE_WEB_ASSETS_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace notifyd::edge {

struct WebFile {
  std::string content_type;
  std::string body;
  // The service worker (/v1/sw.js): served with Service-Worker-Allowed: /,
  // so that a page may register it for its whole origin, not only /v1/.
  bool service_worker = false;
};

// Maps a URL path ("/" is index.html, "/v1/client.js" client.js and
// "/v1/sw.js" sw.js, which "/client.js" and "/sw.js" are not; any other
// file "/<name>") to a known file, from
// `web_root` when it is not empty, else from the embedded copy. NOT_FOUND for
// anything else; UNAVAILABLE when web_root is set but the file cannot be read.
absl::StatusOr<WebFile> LoadWebFile(absl::string_view url_path,
                                    const std::string& web_root);

// True when LoadWebFile would serve `url_path` (without reading it).
bool IsKnownWebPath(absl::string_view url_path);

namespace internal {
// Defined in the .cc that edge/embed_web.cmake generates from web/.
struct EmbeddedFile {
  const char* name;
  const unsigned char* data;
  size_t size;
};
extern const EmbeddedFile kEmbeddedFiles[];
extern const size_t kEmbeddedFileCount;
}  // namespace internal

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_WEB_ASSETS_H_
