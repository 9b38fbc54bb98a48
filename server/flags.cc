#include "server/flags.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/flag_file.h"

namespace {
// Every flag that sets an option takes that option's default: AppOptions
// and the structs it holds are where defaults live (one per option).
const notifyd::server::AppOptions& Default() {
  static const auto* const options = new notifyd::server::AppOptions();
  return *options;
}
}  // namespace

// Every flag of notifyd, with its default and help (what --help lists).
ABSL_FLAG(std::string, grpc_listen, Default().grpc_listen,
          "host:port of the gRPC API");
ABSL_FLAG(std::string, http_listen, Default().edge.listen,
          "host:port of the SSE edge and the inbox page");
ABSL_FLAG(std::string, admin_listen, Default().admin_listen,
          "host:port of /metrics, /healthz and /readyz for operators (plain "
          "HTTP; a non-loopback address needs --api_keys_file or "
          "--insecure); empty: none");
ABSL_FLAG(std::string, store, Default().store,
          "sqlite (the file at --db), memory (for tests and demos, not "
          "durable) or postgres://user:password@host/db (shared by several "
          "instances)");
ABSL_FLAG(std::string, bus, Default().bus,
          "local (this process) or redis://[:password@]host:port: every "
          "instance's streams get every notification (needs a postgres "
          "--store)");
ABSL_FLAG(std::string, db, Default().db, "SQLite store file");
ABSL_FLAG(std::string, synchronous,
          Default().synchronous_full ? "full" : "normal",
          "SQLite sync on commit: full (durable on power loss) or normal");
ABSL_FLAG(absl::Duration, commit_delay, Default().commit_delay,
          "under concurrent load, how long a write may wait for others to "
          "share its commit and sync (0 to 100ms; 0: never waits)");
ABSL_FLAG(absl::Duration, retention, Default().retention,
          "delete notifications older than this (e.g. 720h); 0 keeps all");
ABSL_FLAG(uint64_t, max_per_channel, Default().max_per_channel,
          "keep at most this many newest notifications per channel; 0 = all");
ABSL_FLAG(absl::Duration, prune_interval, Default().prune_interval,
          "how often retention runs");
ABSL_FLAG(uint64_t, max_push_subscriptions, Default().max_push_subscriptions,
          "most Web Push subscriptions one user keeps (a browser each)");
ABSL_FLAG(bool, push_allow_private, Default().edge.push_allow_private,
          "FOR TESTS ONLY: accept Web Push endpoints on loopback, private "
          "and single-label hosts, and send pushes there (a push service "
          "stand-in on 127.0.0.1)");
ABSL_FLAG(std::string, vapid_key_file, Default().vapid_key_file,
          "Web Push: the VAPID private key (PEM, from `notifyctl "
          "vapid-keygen`); empty: no pushes and GET /v1/push/key answers 404");
ABSL_FLAG(std::string, vapid_subject, Default().push.vapid_subject,
          "Web Push: the operator's contact push services see (mailto: or "
          "https: URL); needed with --vapid_key_file");
ABSL_FLAG(absl::Duration, push_delay, Default().push_scheduler.delay,
          "Web Push: how long a notification waits for a live stream or to "
          "be seen before it is pushed (0 to 24h)");
ABSL_FLAG(int, push_threads, Default().push.threads,
          "Web Push: sender threads (1 to 16)");
ABSL_FLAG(uint64_t, push_max_queue, Default().push.max_queue,
          "Web Push: pushes the sender holds at once (queued, in flight, "
          "waiting to retry); more wait in the store");
ABSL_FLAG(uint64_t, push_max_in_flight, Default().push.max_in_flight,
          "Web Push: requests (and connections) under way at once");
ABSL_FLAG(int, push_max_attempts, Default().push.max_attempts,
          "Web Push: requests per push on 429, 5xx and connection errors "
          "(1 to 20)");
ABSL_FLAG(absl::Duration, push_backoff_base, Default().push.backoff_base,
          "Web Push: first retry delay, doubled each retry");
ABSL_FLAG(absl::Duration, push_backoff_cap, Default().push.backoff_cap,
          "Web Push: longest retry delay (and longest Retry-After honoured)");
ABSL_FLAG(absl::Duration, push_connect_timeout, Default().push.connect_timeout,
          "Web Push: resolving, connecting and the TLS handshake");
ABSL_FLAG(absl::Duration, push_request_timeout, Default().push.request_timeout,
          "Web Push: sending a request and reading its answer");
ABSL_FLAG(absl::Duration, push_idle_timeout, Default().push.idle_timeout,
          "Web Push: close a kept-alive connection unused this long");
ABSL_FLAG(std::string, push_ca_file, Default().push.ca_file,
          "Web Push: PEM CAs push services must chain to; empty: the "
          "system's trust store");
ABSL_FLAG(uint64_t, max_payload_bytes, Default().max_payload_bytes,
          "largest accepted `data`, in bytes");
ABSL_FLAG(uint64_t, max_fanout_bytes, Default().max_fanout_bytes,
          "NotifyUsers: most bytes of `data` times its user_ids in one call "
          "(each user's copy is stored and delivered); at least "
          "--max_payload_bytes");
ABSL_FLAG(bool, insecure, Default().insecure,
          "allow gRPC on a non-loopback address without publisher auth "
          "(no --api_keys_file and no --tls_client_ca), and the admin "
          "listener without --api_keys_file");
ABSL_FLAG(std::string, api_keys_file, Default().api_keys_file,
          "publisher API keys, one name:key per line (keys >= 16 bytes); "
          "callers send `authorization: Bearer <key>`");
ABSL_FLAG(std::string, tls_cert, Default().tls_cert_file,
          "PEM certificate chain: serve gRPC and HTTP over TLS");
ABSL_FLAG(std::string, tls_key, Default().tls_key_file,
          "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, Default().tls_client_ca_file,
          "PEM CA certificates: gRPC requires client certificates signed by "
          "them (mutual TLS)");
ABSL_FLAG(uint64_t, max_stream_inflight, Default().max_stream_inflight,
          "PublishStream: messages read ahead of their answers; past it "
          "notifyd stops reading and flow control holds the producer");
ABSL_FLAG(double, max_publish_rate, Default().max_publish_rate,
          "NotifyUser+Publish calls per second per API key (burst = rate); "
          "0 = unlimited");
ABSL_FLAG(int, io_threads, Default().edge.io_threads,
          "threads serving HTTP/SSE");
ABSL_FLAG(absl::Duration, heartbeat, Default().edge.heartbeat,
          "interval of `: ping` comments on idle streams");
ABSL_FLAG(int, retry_ms, Default().edge.retry_ms,
          "reconnect delay announced to browsers");
ABSL_FLAG(uint64_t, max_queue_bytes, Default().edge.max_queue_bytes,
          "a stream whose unsent bytes exceed this is disconnected");
ABSL_FLAG(std::vector<std::string>, cors_origins, Default().edge.cors_origins,
          "origins allowed to open streams from other sites (or *)");
ABSL_FLAG(std::vector<std::string>, trusted_proxies,
          Default().edge.trusted_proxies,
          "proxies (CIDRs or addresses) whose Forwarded/X-Forwarded-For "
          "name the client address used for limits and logs");
ABSL_FLAG(uint64_t, max_connections, Default().edge.max_connections,
          "HTTP connections in total (503 at once past it); 0 = fit to the "
          "process's descriptor limit beside the gRPC share and a reserve");
ABSL_FLAG(uint64_t, max_grpc_connections, Default().max_grpc_connections,
          "gRPC connections in total (closed at once past it, plaintext "
          "gRPC); 0 = 1/16 of the descriptor limit, 16 to 256");
ABSL_FLAG(uint32_t, max_grpc_streams_per_connection,
          Default().max_grpc_streams_per_connection,
          "concurrent calls on one gRPC connection "
          "(SETTINGS_MAX_CONCURRENT_STREAMS)");
ABSL_FLAG(uint64_t, grpc_memory_limit, Default().grpc_memory_limit_bytes,
          "bytes gRPC may use for connections and calls (resource quota)");
ABSL_FLAG(absl::Duration, grpc_max_connection_idle,
          Default().grpc_max_connection_idle,
          "close a gRPC connection with no call for this long");
ABSL_FLAG(absl::Duration, grpc_max_connection_age,
          Default().grpc_max_connection_age,
          "close any gRPC connection after this long (calls in flight get "
          "30s to finish; clients reconnect)");
ABSL_FLAG(uint64_t, max_channels_per_stream,
          Default().edge.max_channels_per_stream,
          "extra channels one stream may ask for");
ABSL_FLAG(uint64_t, max_header_bytes, Default().edge.max_header_bytes,
          "largest HTTP request header (HTTP/2: header list size)");
ABSL_FLAG(bool, http2, Default().edge.http2,
          "offer HTTP/2 (ALPN h2) besides HTTP/1.1 on the TLS HTTP listener");
ABSL_FLAG(uint32_t, h2_max_concurrent_streams,
          Default().edge.h2_max_concurrent_streams,
          "streams one HTTP/2 connection may have open (1 to 10000)");
ABSL_FLAG(uint32_t, h2_max_control_frames_per_second,
          Default().edge.h2_max_control_frames_per_second,
          "SETTINGS, PING, RST_STREAM, PRIORITY, empty DATA and invalid "
          "frames one HTTP/2 connection may send per second; past it: "
          "GOAWAY and closed");
ABSL_FLAG(uint64_t, max_streams_per_user, Default().edge.max_streams_per_user,
          "open SSE streams one user may hold (429 past it); 0 = unlimited");
ABSL_FLAG(double, stream_open_rate, Default().edge.stream_open_rate,
          "SSE stream opens per second per user once --stream_open_burst is "
          "spent (over it: 200 with only `retry:`, no replay); 0 = unlimited");
ABSL_FLAG(uint64_t, stream_open_burst, Default().edge.stream_open_burst,
          "SSE stream opens one user may make at once");
ABSL_FLAG(uint64_t, max_connections_per_address,
          Default().edge.max_connections_per_address,
          "HTTP connections from one client address (429 past it); "
          "0 = unlimited");
ABSL_FLAG(absl::Duration, idle_timeout, Default().edge.idle_timeout,
          "time allowed to send a request's headers");
ABSL_FLAG(absl::Duration, write_timeout, Default().edge.write_timeout,
          "a stream that cannot take a write for this long is closed");
ABSL_FLAG(bool, insecure_dev_identity, Default().edge.insecure_dev_identity,
          "DEVELOPMENT ONLY: accept ?user= on /v1/stream without a token");
ABSL_FLAG(std::string, web_root, Default().edge.web_root,
          "serve the inbox page from this directory instead of the binary");
ABSL_FLAG(std::string, token_key_file, "",
          "HS256 secret (>= 32 bytes) for subscriber tokens: verifies them "
          "and lets IssueToken mint them");
ABSL_FLAG(std::string, token_public_key_file, "",
          "PEM public key: verify RS256/ES256 subscriber tokens instead");
ABSL_FLAG(std::string, token_private_key_file, "",
          "PEM private key matching --token_public_key_file, for IssueToken");
ABSL_FLAG(std::string, token_algorithm, "",
          "HS256 (with --token_key_file), RS256 or ES256 (with a public key)");
ABSL_FLAG(std::string, token_cookie, Default().edge.token_cookie,
          "cookie that may carry the subscriber token");
ABSL_FLAG(std::string, token_issuer, "", "required `iss` of tokens, if set");
ABSL_FLAG(std::string, token_audience, "", "required `aud` of tokens, if set");
ABSL_FLAG(absl::Duration, max_token_ttl, notifyd::api::TokenConfig().max_ttl,
          "longest lifetime IssueToken grants");
ABSL_FLAG(std::string, ready_file, "",
          "once serving, write the bound ports here as JSON (for scripts "
          "and tests that listen on port 0)");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error");
ABSL_FLAG(std::string, log_format, "text",
          "text, or json: one JSON object per line (ts, level, msg and "
          "fields such as user, channel, id, peer, trace_id)");

namespace notifyd::server {
namespace {

absl::StatusOr<std::string> ReadKeyFile(const std::string& flag,
                                        const std::string& path) {
  absl::StatusOr<std::string> key = ReadFlagFile(flag, path);
  if (!key.ok()) return key;
  // Secrets written by `echo` or editors end with a newline that is not
  // part of the key.
  while (!key->empty() && (key->back() == '\n' || key->back() == '\r')) {
    key->pop_back();
  }
  return key;
}

absl::StatusOr<std::optional<api::TokenConfig>> TokensFromFlags() {
  std::string secret_file = absl::GetFlag(FLAGS_token_key_file);
  std::string public_file = absl::GetFlag(FLAGS_token_public_key_file);
  if (secret_file.empty() && public_file.empty()) return std::nullopt;
  if (!secret_file.empty() && !public_file.empty()) {
    return absl::InvalidArgumentError(
        "give --token_key_file or --token_public_key_file, not both");
  }
  api::TokenConfig config;
  config.algorithm = absl::GetFlag(FLAGS_token_algorithm);
  if (!secret_file.empty()) {
    if (config.algorithm.empty()) config.algorithm = "HS256";
    auto key = ReadKeyFile("token_key_file", secret_file);
    if (!key.ok()) return key.status();
    config.key = *key;
  } else {
    if (config.algorithm.empty()) config.algorithm = "RS256";
    auto key = ReadKeyFile("token_public_key_file", public_file);
    if (!key.ok()) return key.status();
    config.key = *key;
    if (std::string p = absl::GetFlag(FLAGS_token_private_key_file);
        !p.empty()) {
      auto private_key = ReadKeyFile("token_private_key_file", p);
      if (!private_key.ok()) return private_key.status();
      config.private_key = *private_key;
    }
  }
  config.issuer = absl::GetFlag(FLAGS_token_issuer);
  config.audience = absl::GetFlag(FLAGS_token_audience);
  config.max_ttl = absl::GetFlag(FLAGS_max_token_ttl);
  config.default_ttl = std::min(config.default_ttl, config.max_ttl);
  return config;
}

}  // namespace

absl::StatusOr<AppOptions> OptionsFromFlags() {
  AppOptions o;
  o.grpc_listen = absl::GetFlag(FLAGS_grpc_listen);
  o.store = absl::GetFlag(FLAGS_store);
  o.bus = absl::GetFlag(FLAGS_bus);
  o.db = absl::GetFlag(FLAGS_db);
  std::string sync = absl::GetFlag(FLAGS_synchronous);
  if (sync != "full" && sync != "normal") {
    return absl::InvalidArgumentError(
        absl::StrCat("--synchronous must be full or normal, not ", sync));
  }
  o.synchronous_full = sync == "full";
  o.commit_delay = absl::GetFlag(FLAGS_commit_delay);
  if (o.commit_delay < absl::ZeroDuration() ||
      o.commit_delay > absl::Milliseconds(100)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--commit_delay must be between 0 and 100ms, not ",
                     absl::FormatDuration(o.commit_delay)));
  }
  o.retention = absl::GetFlag(FLAGS_retention);
  o.max_per_channel = absl::GetFlag(FLAGS_max_per_channel);
  o.prune_interval = absl::GetFlag(FLAGS_prune_interval);
  o.max_payload_bytes = absl::GetFlag(FLAGS_max_payload_bytes);
  o.max_push_subscriptions = absl::GetFlag(FLAGS_max_push_subscriptions);
  o.max_fanout_bytes = absl::GetFlag(FLAGS_max_fanout_bytes);
  if (o.retention < absl::ZeroDuration() ||
      o.prune_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--retention must be >= 0 and --prune_interval > 0");
  }
  o.insecure = absl::GetFlag(FLAGS_insecure);
  o.api_keys_file = absl::GetFlag(FLAGS_api_keys_file);
  o.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  o.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  o.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  o.max_publish_rate = absl::GetFlag(FLAGS_max_publish_rate);
  o.max_stream_inflight = absl::GetFlag(FLAGS_max_stream_inflight);
  o.max_grpc_connections = absl::GetFlag(FLAGS_max_grpc_connections);
  o.max_grpc_streams_per_connection =
      absl::GetFlag(FLAGS_max_grpc_streams_per_connection);
  o.grpc_memory_limit_bytes = absl::GetFlag(FLAGS_grpc_memory_limit);
  o.grpc_max_connection_idle = absl::GetFlag(FLAGS_grpc_max_connection_idle);
  o.grpc_max_connection_age = absl::GetFlag(FLAGS_grpc_max_connection_age);
  if (absl::Status s = ValidateStoreAndBus(o); !s.ok()) {
    return s;
  }
  o.edge.listen = absl::GetFlag(FLAGS_http_listen);
  o.admin_listen = absl::GetFlag(FLAGS_admin_listen);
  o.edge.io_threads = absl::GetFlag(FLAGS_io_threads);
  o.edge.heartbeat = absl::GetFlag(FLAGS_heartbeat);
  o.edge.retry_ms = absl::GetFlag(FLAGS_retry_ms);
  o.edge.max_queue_bytes = absl::GetFlag(FLAGS_max_queue_bytes);
  o.edge.cors_origins = absl::GetFlag(FLAGS_cors_origins);
  o.edge.trusted_proxies = absl::GetFlag(FLAGS_trusted_proxies);
  o.edge.max_connections = absl::GetFlag(FLAGS_max_connections);
  o.edge.max_channels_per_stream = absl::GetFlag(FLAGS_max_channels_per_stream);
  o.edge.max_header_bytes = absl::GetFlag(FLAGS_max_header_bytes);
  o.edge.http2 = absl::GetFlag(FLAGS_http2);
  o.edge.h2_max_concurrent_streams =
      absl::GetFlag(FLAGS_h2_max_concurrent_streams);
  o.edge.h2_max_control_frames_per_second =
      absl::GetFlag(FLAGS_h2_max_control_frames_per_second);
  o.edge.max_streams_per_user = absl::GetFlag(FLAGS_max_streams_per_user);
  o.edge.stream_open_rate = absl::GetFlag(FLAGS_stream_open_rate);
  o.edge.stream_open_burst = absl::GetFlag(FLAGS_stream_open_burst);
  o.edge.max_connections_per_address =
      absl::GetFlag(FLAGS_max_connections_per_address);
  // One certificate for both listeners: they are one service to clients.
  o.edge.tls_cert_file = o.tls_cert_file;
  o.edge.tls_key_file = o.tls_key_file;
  o.edge.idle_timeout = absl::GetFlag(FLAGS_idle_timeout);
  o.edge.write_timeout = absl::GetFlag(FLAGS_write_timeout);
  o.edge.insecure_dev_identity = absl::GetFlag(FLAGS_insecure_dev_identity);
  o.edge.push_allow_private = absl::GetFlag(FLAGS_push_allow_private);
  o.edge.token_cookie = absl::GetFlag(FLAGS_token_cookie);
  o.edge.web_root = absl::GetFlag(FLAGS_web_root);
  o.vapid_key_file = absl::GetFlag(FLAGS_vapid_key_file);
  o.push.vapid_subject = absl::GetFlag(FLAGS_vapid_subject);
  o.push.threads = absl::GetFlag(FLAGS_push_threads);
  o.push.max_queue = absl::GetFlag(FLAGS_push_max_queue);
  o.push.max_in_flight = absl::GetFlag(FLAGS_push_max_in_flight);
  o.push.max_attempts = absl::GetFlag(FLAGS_push_max_attempts);
  o.push.backoff_base = absl::GetFlag(FLAGS_push_backoff_base);
  o.push.backoff_cap = absl::GetFlag(FLAGS_push_backoff_cap);
  o.push.connect_timeout = absl::GetFlag(FLAGS_push_connect_timeout);
  o.push.request_timeout = absl::GetFlag(FLAGS_push_request_timeout);
  o.push.idle_timeout = absl::GetFlag(FLAGS_push_idle_timeout);
  o.push.ca_file = absl::GetFlag(FLAGS_push_ca_file);
  o.push.allow_private = o.edge.push_allow_private;
  o.push_scheduler.delay = absl::GetFlag(FLAGS_push_delay);
  auto tokens = TokensFromFlags();
  if (!tokens.ok()) return tokens.status();
  o.tokens = *tokens;
  // Every option is filled: each component's Validate() (through
  // ValidateLimits), then the descriptor plan, which needs the final caps.
  if (absl::Status s = ValidateLimits(o); !s.ok()) return s;
  if (auto fds = PlanDescriptors(o); !fds.ok()) {
    return fds.status();
  }
  return o;
}

ProcessFlags ProcessFlagsFromFlags() {
  return ProcessFlags{.ready_file = absl::GetFlag(FLAGS_ready_file),
                      .log_level = absl::GetFlag(FLAGS_log_level),
                      .log_format = absl::GetFlag(FLAGS_log_format)};
}

}  // namespace notifyd::server
