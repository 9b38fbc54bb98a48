#include "edge/edge_options.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "edge/h2_limits.h"
#include "edge/push_request.h"
#include "edge/trusted_proxies.h"
#include "storage/push.h"
#include "storage/store.h"

namespace notifyd::edge {
namespace {

// The smallest --max_queue_bytes: room for one notification of the largest
// payload notifyd accepts by default, with its framing.
constexpr size_t kMinQueueBytes = 64 * 1024 + 1024;

}  // namespace

absl::Status EdgeOptions::Validate() const {
  auto invalid = [](absl::string_view flag, absl::string_view rule) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " must be ", rule));
  };
  if (io_threads < 1) return invalid("--io_threads", ">= 1");
  if (heartbeat <= absl::ZeroDuration()) return invalid("--heartbeat", "> 0");
  if (retry_ms < 0) return invalid("--retry_ms", ">= 0");
  if (max_queue_bytes < kMinQueueBytes) {
    return invalid("--max_queue_bytes",
                   absl::StrCat(">= ", kMinQueueBytes, " (one notification)"));
  }
  if (max_channels_per_stream + 1 > storage::kMaxReplayChannels) {
    return invalid("--max_channels_per_stream",
                   absl::StrCat("at most ", storage::kMaxReplayChannels - 1,
                                ": a stream replays its user channel and "
                                "these in one store read of at most ",
                                storage::kMaxReplayChannels, " channels"));
  }
  if (replay_page < 1 || replay_page > storage::kMaxPageRows) {
    return invalid("the replay page",
                   absl::StrCat("between 1 and ", storage::kMaxPageRows));
  }
  if (max_header_bytes < 1024) return invalid("--max_header_bytes", ">= 1024");
  if (h2_max_concurrent_streams < 1 || h2_max_concurrent_streams > 10000) {
    return invalid("--h2_max_concurrent_streams", "between 1 and 10000");
  }
  if (h2_max_control_frames_per_second < 10 ||
      h2_max_control_frames_per_second > kH2MaxControlFramesPerSecond) {
    return invalid(
        "--h2_max_control_frames_per_second",
        absl::StrCat("between 10 and ", kH2MaxControlFramesPerSecond));
  }
  if (idle_timeout <= absl::ZeroDuration() ||
      write_timeout <= absl::ZeroDuration()) {
    return invalid("--idle_timeout and --write_timeout", "> 0");
  }
  if (!(stream_open_rate >= 0)) return invalid("--stream_open_rate", ">= 0");
  if (absl::StatusOr<TrustedProxies> proxies =
          TrustedProxies::Parse(trusted_proxies);
      !proxies.ok()) {
    return proxies.status();
  }
  if (token_cookie.empty() ||
      token_cookie.find_first_of("=; \t") != std::string::npos) {
    return invalid("--token_cookie",
                   "a cookie name without '=', ';' or spaces");
  }
  if (!push_public_key.empty()) {
    absl::StatusOr<std::string> point = DecodeBase64Url(
        push_public_key, "the push public key", storage::kPushP256dhBytes);
    if (!point.ok()) return point.status();
    if (!CheckP256Point(*point).ok()) {
      return absl::InvalidArgumentError(
          "the push public key must be a point on P-256");
    }
  }
  return absl::OkStatus();
}

}  // namespace notifyd::edge
