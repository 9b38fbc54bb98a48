// Reads a whole file named by a command-line flag (keys, certificates,
// the API keys file), with the one error message every caller gives.
// Stateless: thread-safe.
#ifndef NOTIFYD_COMMON_FLAG_FILE_H_
#define NOTIFYD_COMMON_FLAG_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace notifyd {

// The bytes of `path`, or INVALID_ARGUMENT "cannot read --<flag>=<path>".
absl::StatusOr<std::string> ReadFlagFile(absl::string_view flag,
                                         const std::string& path);

}  // namespace notifyd

#endif  // NOTIFYD_COMMON_FLAG_FILE_H_
