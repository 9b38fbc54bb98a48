// What notifyd is started with (App::Start; main fills it from flags once)
// and the checks on it that need no running part: limits, the descriptor
// plan, the choice of store and bus. Beast- and gRPC-free.
#ifndef NOTIFYD_SERVER_APP_OPTIONS_H_
#define NOTIFYD_SERVER_APP_OPTIONS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/tokens.h"
#include "common/fd_budget.h"
#include "common/listen_address.h"
#include "edge/edge_options.h"
#include "push/push_options.h"
#include "server/backends.h"
#include "server/push_scheduler.h"

namespace notifyd::server {

// Largest --max_payload_bytes: gRPC's receive limit is this plus room for
// the other fields, and must fit an int.
inline constexpr size_t kMaxPayloadBytesLimit = 16u << 20;

struct AppOptions {
  std::string grpc_listen = std::string(kDefaultGrpcListen);
  // "sqlite" (the file at `db`) or a postgres:// URL; "local" or a
  // redis:// URL (see server/backends.h).
  std::string store = "sqlite";
  std::string bus = "local";
  std::string db = "./var/notify.db";
  bool synchronous_full = true;
  absl::Duration commit_delay = absl::Milliseconds(1);
  absl::Duration retention = absl::ZeroDuration();  // zero: keep forever
  uint64_t max_per_channel = 0;                     // zero: unlimited
  absl::Duration prune_interval = absl::Seconds(30);
  size_t max_payload_bytes = 64 * 1024;
  // Most Web Push subscriptions per user (storage/push.h).
  size_t max_push_subscriptions = storage::kDefaultMaxPushSubscriptions;
  // Web Push (docs/DESIGN.md, Web Push): the VAPID private key (PEM, made by
  // `notifyctl vapid-keygen`); empty: no pushes, and GET /v1/push/key
  // answers 404. With it, `push` configures the sender (its allow_private
  // follows edge.push_allow_private) and `push_scheduler` what is pushed
  // when.
  std::string vapid_key_file;
  push::PushOptions push;
  PushSchedulerOptions push_scheduler;
  // NotifyUsers: most bytes of `data` times recipients in one call (each
  // user's row carries its own copy), at least max_payload_bytes.
  uint64_t max_fanout_bytes = 64 << 20;
  // Publisher authentication (docs/DESIGN.md, Security). gRPC on a
  // non-loopback address needs api_keys_file or tls_client_ca_file, or
  // `insecure`.
  std::string api_keys_file;  // name:key lines; empty: no API keys
  std::string tls_cert_file;  // PEM; with tls_key_file: gRPC over TLS
  std::string tls_key_file;
  std::string tls_client_ca_file;  // PEM CAs; non-empty: mutual TLS
  // Serve gRPC (and the admin listener) on a non-loopback address without
  // publisher authentication.
  bool insecure = false;
  // NotifyUser + Publish per second per API key (one shared "anonymous"
  // bucket without keys); 0 = unlimited.
  double max_publish_rate = 0;
  // PublishStream: messages read ahead of their answers (1 to 100,000).
  size_t max_stream_inflight = 256;
  // Subscriber tokens; absent: streams accept no tokens and IssueToken is
  // UNIMPLEMENTED.
  std::optional<api::TokenConfig> tokens;
  bool enable_edge = true;
  edge::EdgeOptions edge;
  // /metrics, /healthz and /readyz for operators, away from the browsers'
  // port (plain HTTP: on loopback, or elsewhere with api_keys_file or
  // `insecure`; see ValidateExposure). Empty: no admin listener.
  std::string admin_listen = std::string(kDefaultAdminListen);
  // gRPC connections in total, refused at accept past it (plaintext:
  // server/grpc_acceptor.h; TLS: server/accept_guard.h); with
  // edge.max_connections shared out of the process's descriptor limit by
  // App::Start (common/fd_budget.h). 0 = fit to the limit.
  uint64_t max_grpc_connections = 0;
  // HTTP/2 streams (calls) one gRPC connection may have open at once;
  // advertised as SETTINGS_MAX_CONCURRENT_STREAMS.
  uint32_t max_grpc_streams_per_connection = 100;
  // gRPC's resource quota: the memory it accounts for connections and
  // calls (buffers, not every allocation); under pressure it shrinks its
  // buffers and flow-control windows.
  uint64_t grpc_memory_limit_bytes = 256ull << 20;
  // A gRPC connection with no call for this long is closed (the client
  // reconnects when it next calls).
  absl::Duration grpc_max_connection_idle = absl::Minutes(5);
  // No connection lives longer than this (plus a grace period for calls in
  // flight): a caller holding calls open without finishing them is cut off.
  absl::Duration grpc_max_connection_age = absl::Minutes(30);
};

// FAILED_PRECONDITION, naming the flags that would fix it, when a listener
// would be open to other machines without authentication: gRPC on a
// non-loopback address without API keys or mutual TLS, or the admin
// listener on one without API keys (docs/DESIGN.md, Security). `insecure`
// allows both. App::Start checks this first.
absl::Status ValidateExposure(const AppOptions& options);

// INVALID_ARGUMENT naming the flag of the first option out of range: the
// service's own limits, the edge's (EdgeOptions::Validate), and the rules
// between them (a framed notification fits a stream's queue). App::Start
// checks this too; notifyd's main calls it first to report bad flags as a
// usage error.
absl::Status ValidateLimits(const AppOptions& options);

// The descriptor budget the options would get in this process (raising
// the soft limit to the hard one first): INVALID_ARGUMENT naming the flags
// when --max_connections and --max_grpc_connections do not fit. App::Start
// applies it; main calls it first to report bad flags as a usage error.
absl::StatusOr<FdBudget> PlanDescriptors(const AppOptions& options);

// INVALID_ARGUMENT naming the flag when --store or --bus cannot work
// (ValidateBackends); App::Start checks this too.
absl::Status ValidateStoreAndBus(const AppOptions& options);

// The host part of "host:port", without an IPv6 address's brackets.
std::string HostOf(const std::string& listen);

// True when the host part of "host:port" is a loopback address.
bool IsLoopbackListen(const std::string& listen);

// The store the options choose, as OpenStore takes it.
StoreChoice StoreChoiceOf(const AppOptions& options);

}  // namespace notifyd::server

#endif  // NOTIFYD_SERVER_APP_OPTIONS_H_
