// The SSE edge: an HTTP/1.1 server (Boost.Beast) for browsers.
//
//   GET /v1/stream   Server-Sent Events for the caller's user channel plus
//                    ?channels=a,b; resumes from Last-Event-ID (SPEC §3)
//   GET /healthz     200 "ok" while the process serves
//   GET /readyz      200 after SetReady(true) while the store answers Ping
//                    (and bus_healthy, when given, is true)
//   GET /metrics     Prometheus text format
//   GET /            the inbox page (web/), embedded or from web_root
//
// Each connection runs on its own strand; a stream has at most one write in
// flight and coalesces everything queued meanwhile into the next write.
// Frames come from the Hub (live) or the Store (replay) and are merged by a
// StreamQueue, so a resumed stream has no gap and no duplicate.
//
// With tls_cert_file/tls_key_file the same listener serves HTTPS only: a
// TLS handshake (bounded by idle_timeout), then the same HTTP/SSE handling.
//
// Threading: Start/Shutdown/SetReady from the owner's thread (SetReady and
// port() are also safe from any thread). `io_threads` threads run all
// network I/O; store callbacks are posted back onto the session strands.
// The Store, Hub and Metrics must outlive this object.
#ifndef NOTIFYD_EDGE_HTTP_SERVER_H_
#define NOTIFYD_EDGE_HTTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "edge/hub.h"
#include "edge/identity.h"
#include "edge/metrics.h"
#include "storage/store.h"

namespace notifyd::edge {

struct EdgeOptions {
  std::string listen = "127.0.0.1:8080";  // host:port; port 0 = ephemeral
  int io_threads = 2;
  absl::Duration heartbeat = absl::Seconds(15);
  int retry_ms = 2000;
  size_t max_queue_bytes = 1 << 20;
  std::vector<std::string> cors_origins;  // "*" allowed
  // HTTPS when both are set: PEM certificate chain and private key, TLS 1.2
  // or newer. Start() fails naming the file when one cannot be loaded.
  std::string tls_cert_file, tls_key_file;
  // Limits (SPEC §5). Each refusal counts in
  // notifyd_limit_rejections_total{limit=...} and answers a short body.
  size_t max_connections = 20000;  // over it: 503
  // Open connections from one client IP; over it: 429. 0 = unlimited
  size_t max_connections_per_address = 0;
  // Open streams whose identity is this user (its user channel), counted
  // until they close; over it: 429. 0 = unlimited.
  size_t max_streams_per_user = 16;
  size_t max_channels_per_stream = 32;  // extra channels, besides user:<id>
  size_t max_header_bytes = 8192;       // request line + fields; over it: 431
  // Idle keep-alive time, and the total time a request header (and a TLS
  // handshake) may take to arrive: not reset per byte, so a client that
  // trickles its header is cut off.
  absl::Duration idle_timeout = absl::Seconds(30);
  absl::Duration write_timeout = absl::Seconds(30);
  bool insecure_dev_identity = false;  // ?user= accepted only when true
  std::string web_root;                // empty: embedded page
  uint32_t replay_page = 500;
  // Verifies access tokens (JWT, SPEC §5); empty: tokens answer 401.
  TokenVerifier token_verifier;
  // Name of the cookie that may carry the token (--token_cookie).
  std::string token_cookie = "access_token";
  // When set, /readyz also needs it to answer true: a bus shared with
  // other instances (Redis) that is connected. Called on I/O threads, so it
  // must be quick and thread-safe.
  std::function<bool()> bus_healthy;
};

class EdgeServer {
 public:
  EdgeServer(EdgeOptions options, storage::Store& store, Hub& hub,
             Metrics& metrics);
  ~EdgeServer();  // calls Shutdown()
  EdgeServer(const EdgeServer&) = delete;
  EdgeServer& operator=(const EdgeServer&) = delete;

  // Binds and starts the I/O threads. The error names the address.
  absl::Status Start();
  uint16_t port() const;  // the bound port, after Start()
  void SetReady(bool ready);
  // Stops accepting, ends every stream after flushing what it has queued
  // (bounded by write_timeout), closes other connections and joins the
  // threads. Idempotent.
  void Shutdown();

  class Impl;  // public for the session code in http_session.h only

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_HTTP_SERVER_H_
