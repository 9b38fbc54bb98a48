// The shared state of the SSE edge (EdgeServer::Impl) and what it shares
// with its sessions: Beast/Asio aliases, small helpers, the limit names and
// SessionBase.
//
// Internal: one of the three parts of the one translation unit that compiles
// Beast (http_server.cc includes it and http_session.h; nothing else does).
// Threading: see each member; the registry and counters are thread-safe,
// options and collaborators immutable after Start().
#ifndef NOTIFYD_EDGE_EDGE_SERVER_IMPL_H_
#define NOTIFYD_EDGE_EDGE_SERVER_IMPL_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl/context.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "boost/beast/http/status.hpp"
#include "boost/beast/ssl/ssl_stream.hpp"
#include "common/log_limiter.h"
#include "edge/http_server.h"
#include "edge/hub.h"
#include "edge/identity.h"
#include "edge/metrics.h"
#include "edge/open_rate_limiter.h"
#include "edge/routes.h"

namespace notifyd::edge {
namespace internal {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using beast::error_code;
// beast::ssl_stream (not net::ssl::stream): it flattens a scatter write into
// one TLS record instead of one record per buffer, which matters for a
// stream's coalesced batches of small frames.
using TlsStream = beast::ssl_stream<tcp::socket>;

// Names of notifyd_limit_rejections_total{limit=...}.
constexpr const char* kLimitConnections = "connections";
constexpr const char* kLimitConnectionsPerAddress = "connections_per_address";
constexpr const char* kLimitStreamsPerUser = "streams_per_user";
constexpr const char* kLimitChannelsPerStream = "channels_per_stream";
constexpr const char* kLimitHeaderBytes = "header_bytes";
constexpr const char* kLimitRequestTimeout = "request_timeout";
constexpr const char* kLimitStreamOpenRate = "stream_open_rate";

// Why a new connection is refused. It is answered at once (a canned 503 or
// 429 over plain TCP, nothing over TLS) and closed without being read, so
// a flood of connections holds no descriptor past its accept.
enum class Admission : uint8_t {
  kOk,
  kTooManyConnections,
  kTooManyFromAddress
};

// What the server's registry and Shutdown need from a session, whatever its
// transport.
class SessionBase : public Subscriber {
 public:
  // Any thread. Graceful: a stream flushes what it queued, then closes.
  virtual void Close(bool graceful) = 0;
};

}  // namespace internal

// Shared state of the server: options, collaborators, metrics, the io
// context and the registry of live sessions (for limits and Shutdown).
class EdgeServer::Impl {
 public:
  using Admission = internal::Admission;
  using SessionBase = internal::SessionBase;

  Impl(EdgeOptions options, storage::Store& store, Hub& hub, Metrics& metrics)
      : options(std::move(options)),
        store(store),
        hub(hub),
        metrics(metrics),
        connections(metrics.GetGauge("notifyd_http_connections",
                                     "Open HTTP connections")),
        streams_replaying(metrics.GetGauge("notifyd_streams",
                                           "Open SSE streams by state",
                                           {{"state", "replaying"}})),
        streams_live(metrics.GetGauge("notifyd_streams",
                                      "Open SSE streams by state",
                                      {{"state", "live"}})),
        replayed(metrics.GetCounter("notifyd_events_replayed_total",
                                    "Stored notifications replayed to "
                                    "resuming SSE streams")),
        slow_consumers(metrics.GetCounter(
            "notifyd_slow_consumer_disconnects_total",
            "SSE streams closed because their queue exceeded "
            "max_queue_bytes")),
        acceptor(boost::asio::make_strand(ioc)),
        accept_retry(acceptor.get_executor()) {
    identity.insecure_dev_identity = this->options.insecure_dev_identity;
    identity.verifier = this->options.token_verifier;
    identity.cookie_name = this->options.token_cookie;
    // Registered up front so every limit shows (as 0) in /metrics.
    for (const char* limit :
         {internal::kLimitConnections, internal::kLimitConnectionsPerAddress,
          internal::kLimitStreamsPerUser, internal::kLimitChannelsPerStream,
          internal::kLimitHeaderBytes, internal::kLimitRequestTimeout,
          internal::kLimitStreamOpenRate}) {
      LimitRejected(limit, /*count=*/false);
    }
  }

  void LimitRejected(const char* limit, bool count = true) {
    Counter& c = metrics.GetCounter("notifyd_limit_rejections_total",
                                    "Requests and connections refused by a "
                                    "limit",
                                    {{"limit", limit}});
    if (count) c.Inc();
  }

  void CountRequest(absl::string_view path, boost::beast::http::status code) {
    metrics
        .GetCounter("notifyd_http_requests_total",
                    "HTTP requests by path and status code",
                    {{"path", std::string(PathLabel(path))},
                     {"code", absl::StrCat(static_cast<unsigned>(code))}})
        .Inc();
  }

  // Registry of sessions. Register also counts the session against its
  // client address (`address` empty: not counted) and says whether a limit
  // is exceeded; the session is registered either way, so it can answer
  // 503/429 and close, and Deregister undoes both.
  Admission Register(const std::shared_ptr<SessionBase>& s,
                     const std::string& address);
  void Deregister(const SessionBase* s, const std::string& address);

  // Counts one more stream for `user`; false (nothing counted) when the user
  // already has max_streams_per_user. ReleaseStream undoes an Acquire.
  bool AcquireStream(const std::string& user);
  void ReleaseStream(const std::string& user);

  // Loads the certificate and key when TLS is configured. The error names
  // the file that could not be used.
  absl::Status LoadTls();

  // Store calls in flight: Shutdown waits for them so no callback posts
  // into a destroyed io_context.
  void StoreCallStarted() {
    absl::MutexLock lock(&store_mu);
    ++store_calls;
  }
  void StoreCallDone() {
    absl::MutexLock lock(&store_mu);
    --store_calls;
  }

  absl::Status Listen();
  void Accept();
  // Out of descriptors: accepts and closes one waiting connection through
  // spare_fd. Acceptor strand only.
  void ShedOne();
  void Shutdown();

  const EdgeOptions options;
  IdentityOptions identity;
  storage::Store& store;
  Hub& hub;
  Metrics& metrics;
  Gauge& connections;
  Gauge& streams_replaying;
  Gauge& streams_live;
  Counter& replayed;
  Counter& slow_consumers;
  // A burst of slow consumers (a stalled network) would log one line each.
  LogLimiter slow_consumer_log;
  // Stream opens per user (stream_open_rate); thread-safe.
  OpenRateLimiter stream_opens{options.stream_open_rate,
                               static_cast<double>(options.stream_open_burst)};
  LogLimiter accept_log;
  std::atomic<bool> ready{false};
  // False while accept() fails (out of descriptors): /readyz says so.
  std::atomic<bool> accepting{true};
  // Kept open so that, out of descriptors, one can be freed to accept and
  // close a waiting connection instead of leaving it queued (ShedOne).
  int spare_fd = -1;
  std::atomic<uint16_t> bound_port{0};
  bool started = false;
  bool shut_down = false;
  std::vector<std::thread> threads;

  absl::Mutex sessions_mu;
  absl::flat_hash_map<const SessionBase*, std::weak_ptr<SessionBase>> sessions
      ABSL_GUARDED_BY(sessions_mu);
  // Open connections by client address, when max_connections_per_address
  // is set.
  absl::flat_hash_map<std::string, size_t> per_address
      ABSL_GUARDED_BY(sessions_mu);

  absl::Mutex streams_mu;
  absl::flat_hash_map<std::string, size_t> streams_per_user
      ABSL_GUARDED_BY(streams_mu);

  absl::Mutex store_mu;
  int store_calls ABSL_GUARDED_BY(store_mu) = 0;

  // Set by Start() when tls_cert_file/tls_key_file are.
  std::optional<boost::asio::ssl::context> tls;

  // Declared last so it is destroyed first: pending handlers own sessions,
  // whose destructors still use the members above.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor;
  boost::asio::steady_timer accept_retry;
};

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_EDGE_SERVER_IMPL_H_
