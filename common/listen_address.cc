#include "common/listen_address.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace notifyd {

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view value,
                                                 absl::string_view flag) {
  size_t colon = value.rfind(':');
  uint32_t port = 0;
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(value.substr(colon + 1), &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", flag, " '", value, "' (want host:port)"));
  }
  absl::string_view host = value.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return ListenAddress{std::string(host), static_cast<uint16_t>(port)};
}

}  // namespace notifyd
