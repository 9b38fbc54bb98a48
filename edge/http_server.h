// The SSE edge: an HTTP/1.1 server (Boost.Beast) for browsers, and the
// same server in its admin role for operators (routes in edge/routes.h).
//
//   GET /v1/stream   Server-Sent Events for the caller's user channel plus
//                    ?channels=a,b; resumes from Last-Event-ID (public)
//   GET /v1/inbox, GET /v1/inbox/counts, POST /v1/inbox/state
//                    the caller's inbox as JSON (edge/inbox_api.h; public)
//   GET /healthz     200 "ok" while the process serves (both)
//   GET /readyz      200 after SetReady(true) while this listener accepts,
//                    every ready_check passes and the store answers Ping
//                    (admin)
//   GET /metrics     Prometheus text format (admin)
//   GET /            the inbox page (web/), embedded or from web_root
//                    (public)
//
// Each connection runs on its own strand, in two parts: an HTTP session
// reads and answers requests and, on /v1/stream, once the caller is
// authenticated and within the stream limits, hands the socket to an SSE
// stream on the same strand. A stream has at most one write in flight and
// coalesces everything queued meanwhile into the next write.
// Frames come from the Hub (live) or the Store (replay) and are merged by a
// StreamQueue, so a resumed stream has no gap and no duplicate.
//
// With tls_cert_file/tls_key_file the same listener serves HTTPS only: a
// TLS handshake (bounded by idle_timeout), then the same HTTP/SSE handling.
// Every option, its default and its check: edge/edge_options.h.
//
// Threading: Start/Shutdown/SetReady from the owner's thread (SetReady and
// port() are also safe from any thread). `io_threads` threads run all
// network I/O; store callbacks are posted back onto the connection strands;
// the hub queues frames from its publisher thread and wakes a stream's
// writer on its strand.
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
#include "common/metrics.h"
#include "edge/edge_options.h"
#include "edge/hub.h"
#include "storage/store.h"

namespace notifyd::edge {

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
  // False while accepting fails (out of descriptors); any thread.
  bool accepting() const;
  // Stops accepting, ends every stream after flushing what it has queued
  // (bounded by write_timeout), closes other connections and joins the
  // threads. Idempotent.
  void Shutdown();

  class Impl;  // public for the parts of http_server.cc only

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_HTTP_SERVER_H_
