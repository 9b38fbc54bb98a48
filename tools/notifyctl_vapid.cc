// notifyctl vapid-keygen [FILE]: a new VAPID key for --vapid_key_file
// (push/vapid.h). Needs no server.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "push/vapid.h"
#include "tools/notifyctl_common.h"

namespace notifyd::tools {
namespace {

// Creates `path` (never over an existing file) with mode 0600 and writes
// `text` to it; an error message, or empty on success.
std::string WritePrivateFile(const std::string& path, const std::string& text) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                      S_IRUSR | S_IWUSR);
  if (fd < 0) {
    return absl::StrCat("cannot create ", path, ": ", std::strerror(errno),
                        errno == EEXIST ? " (an existing key is never "
                                          "overwritten)"
                                        : "");
  }
  std::string error;
  size_t written = 0;
  // The umask may only have narrowed 0600; make it exact.
  if (fchmod(fd, S_IRUSR | S_IWUSR) != 0) error = std::strerror(errno);
  while (error.empty() && written < text.size()) {
    const ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = std::strerror(errno);
      break;
    }
    written += static_cast<size_t>(n);
  }
  if (error.empty() && fsync(fd) != 0) error = std::strerror(errno);
  if (close(fd) != 0 && error.empty()) error = std::strerror(errno);
  if (error.empty()) return "";
  unlink(path.c_str());
  return absl::StrCat("cannot write ", path, ": ", error);
}

}  // namespace

int VapidKeygen(const std::vector<std::string>& args) {
  if (args.size() > 2) return Usage("vapid-keygen takes at most a file name");
  absl::StatusOr<push::VapidKey> key = push::VapidKey::Generate();
  absl::StatusOr<std::string> pem =
      key.ok() ? key->ToPem() : absl::StatusOr<std::string>(key.status());
  if (!pem.ok()) return Fail(std::string(pem.status().message()));
  const std::string public_key = key->public_key_base64url();
  if (args.size() == 1 || args[1] == "-") {
    // The key is the output; the public key goes to stderr.
    std::cout << *pem << std::flush;
    std::cerr << "public key (applicationServerKey): " << public_key << "\n";
    return 0;
  }
  if (std::string error = WritePrivateFile(args[1], *pem); !error.empty()) {
    return Fail(error);
  }
  std::cout << public_key << "\n";
  return 0;
}

}  // namespace notifyd::tools
