#include "server/app_options.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace notifyd::server {
namespace {

constexpr uint32_t kMaxGrpcStreamsLimit = 10000;
constexpr uint64_t kMinGrpcMemoryLimit = 16ull << 20;
// The most an SSE frame can be per payload byte (a payload of line breaks:
// each becomes "data: " and a newline), plus its id and event lines.
constexpr size_t kSseLineExpansion = 7;
constexpr size_t kSseFramingAllowance = 1024;

}  // namespace

std::string HostOf(const std::string& listen) {
  size_t colon = listen.rfind(':');
  std::string host =
      colon == std::string::npos ? listen : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

StoreChoice StoreChoiceOf(const AppOptions& options) {
  return {.store = options.store,
          .db = options.db,
          .synchronous_full = options.synchronous_full,
          .commit_delay = options.commit_delay,
          .retention = options.retention,
          .max_per_channel = options.max_per_channel,
          .prune_interval = options.prune_interval,
          .max_push_subscriptions = options.max_push_subscriptions,
          .on_records = nullptr};
}

bool IsLoopbackListen(const std::string& listen) {
  std::string host = HostOf(listen);
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

absl::Status ValidateExposure(const AppOptions& options) {
  // Publishers are authenticated by an API key or a client certificate; on
  // loopback only local processes can call, which the host already trusts.
  const bool authenticated =
      !options.api_keys_file.empty() || !options.tls_client_ca_file.empty();
  if (!IsLoopbackListen(options.grpc_listen) && !authenticated &&
      !options.insecure) {
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing to serve gRPC on non-loopback --grpc_listen=",
        options.grpc_listen,
        " without publisher authentication; configure --api_keys_file or "
        "mutual TLS (--tls_cert, --tls_key, --tls_client_ca), or pass "
        "--insecure to allow unauthenticated publishers"));
  }
  // The admin listener is plain HTTP: a client certificate cannot reach
  // it, so only API keys count.
  if (!options.admin_listen.empty() &&
      !IsLoopbackListen(options.admin_listen) &&
      options.api_keys_file.empty() && !options.insecure) {
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing to serve the admin listener (/metrics, /readyz; plain "
        "HTTP) on non-loopback --admin_listen=",
        options.admin_listen,
        " without API keys; keep it on loopback (the default, ",
        kDefaultAdminListen,
        "), configure --api_keys_file, or pass --insecure to allow it "
        "anyway"));
  }
  return absl::OkStatus();
}

absl::Status ValidateLimits(const AppOptions& options) {
  if (options.max_payload_bytes == 0 ||
      options.max_payload_bytes > kMaxPayloadBytesLimit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_payload_bytes must be between 1 and ", kMaxPayloadBytesLimit));
  }
  if (options.max_fanout_bytes < options.max_payload_bytes) {
    return absl::InvalidArgumentError(
        "--max_fanout_bytes must be at least --max_payload_bytes");
  }
  if (options.max_stream_inflight < 1 ||
      options.max_stream_inflight > 100'000) {
    return absl::InvalidArgumentError(
        "--max_stream_inflight must be between 1 and 100000");
  }
  if (!(options.max_publish_rate >= 0)) {  // also refuses NaN
    return absl::InvalidArgumentError("--max_publish_rate must be >= 0");
  }
  if (options.max_grpc_streams_per_connection == 0 ||
      options.max_grpc_streams_per_connection > kMaxGrpcStreamsLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_grpc_streams_per_connection must be between 1 and ",
                     kMaxGrpcStreamsLimit));
  }
  if (absl::Status s = options.edge.Validate(); !s.ok()) return s;
  if (!options.vapid_key_file.empty()) {
    if (absl::Status s = options.push.Validate(); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(s.message(), " (needed with --vapid_key_file)"));
    }
    if (absl::Status s = options.push_scheduler.Validate(); !s.ok()) return s;
  }
  // Every notification must fit a stream's queue once framed, or a stream
  // could never be sent it and would be cut at each reconnect.
  if (const size_t framed =
          kSseLineExpansion * options.max_payload_bytes + kSseFramingAllowance;
      options.edge.max_queue_bytes < framed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_queue_bytes must be at least ", framed, " (", kSseLineExpansion,
        " x --max_payload_bytes + ", kSseFramingAllowance,
        "): a payload of empty lines takes that much as SSE data: lines"));
  }
  if (options.grpc_memory_limit_bytes < kMinGrpcMemoryLimit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--grpc_memory_limit must be at least ", kMinGrpcMemoryLimit));
  }
  for (auto [flag, d] : {std::pair{"--grpc_max_connection_idle",
                                   options.grpc_max_connection_idle},
                         std::pair{"--grpc_max_connection_age",
                                   options.grpc_max_connection_age}}) {
    if (d < absl::Seconds(1) || d > absl::Hours(24 * 24)) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " must be between 1s and 576h"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<FdBudget> PlanDescriptors(const AppOptions& options) {
  return PlanFdBudget(RaiseFdLimit(), options.edge.max_connections,
                      options.max_grpc_connections);
}

absl::Status ValidateStoreAndBus(const AppOptions& options) {
  return ValidateBackends(StoreChoiceOf(options), {.bus = options.bus});
}

}  // namespace notifyd::server
