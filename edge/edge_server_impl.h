// The shared state of the SSE edge (EdgeServer::Impl) and what it shares
// with the two parts of a connection, the HTTP session (http_session.h) and
// the SSE stream (sse_stream.h): Beast/Asio aliases, small helpers, the
// limit names, SessionBase and the RegistryEntry they pass between them.
//
// Internal: one of the parts of the one translation unit that compiles
// Beast (http_server.cc, which lists them, includes it, and so do the other
// parts; nothing else does).
// Threading: see each member; the registry and counters are thread-safe,
// options and collaborators immutable after Start().
#ifndef NOTIFYD_EDGE_EDGE_SERVER_IMPL_H_
#define NOTIFYD_EDGE_EDGE_SERVER_IMPL_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
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
#include "boost/beast/core/error.hpp"
#include "boost/beast/core/string.hpp"
#include "boost/beast/http/field.hpp"
#include "boost/beast/http/status.hpp"
#include "common/log_limiter.h"
#include "common/metrics.h"
#include "edge/http_server.h"
#include "edge/hub.h"
#include "edge/identity.h"
#include "edge/inbox_api.h"
#include "edge/open_rate_limiter.h"
#include "edge/push_api.h"
#include "edge/routes.h"
#include "edge/tls_socket.h"
#include "edge/trusted_proxies.h"

namespace notifyd::edge {
namespace internal {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using beast::error_code;
// OpenSSL on the socket itself (tls_socket.h): a TLS connection keeps no
// buffers while idle, and a scatter write of small frames is one record.
using TlsStream = TlsSocket;
using Impl = EdgeServer::Impl;

// Names of notifyd_limit_rejections_total{limit=...}.
constexpr const char* kLimitConnections = "connections";
constexpr const char* kLimitConnectionsPerAddress = "connections_per_address";
constexpr const char* kLimitStreamsPerUser = "streams_per_user";
constexpr const char* kLimitChannelsPerStream = "channels_per_stream";
constexpr const char* kLimitHeaderBytes = "header_bytes";
constexpr const char* kLimitRequestTimeout = "request_timeout";
constexpr const char* kLimitStreamOpenRate = "stream_open_rate";
// An HTTP/2 connection closed for a flood of frames that cost work
// (h2_max_control_frames_per_second).
constexpr const char* kLimitH2Flood = "h2_control_frames";

// How long a closing connection keeps draining the client's unread bytes so
// the kernel does not answer them with a RST that would eat our last words
// (a response, a GOAWAY).
constexpr absl::Duration kLingerTime = absl::Seconds(2);

// Why a new connection is refused. It is answered at once (a canned 503 or
// 429 over plain TCP, nothing over TLS) and closed without being read, so
// a flood of connections holds no descriptor past its accept.
enum class Admission : uint8_t {
  kOk,
  kTooManyConnections,
  kTooManyFromAddress
};

// What the server's registry and Shutdown need from either part of a
// connection (HttpSession or SseStream), whatever its transport.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Any thread. Graceful: a stream flushes what it queued, then closes.
  virtual void Close(bool graceful) = 0;
};

inline std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

inline absl::string_view View(beast::string_view s) {
  return {s.data(), s.size()};
}

// The answer to a request refused with `s`.
inline http::status HttpStatusFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnauthenticated:
      return http::status::unauthorized;
    case absl::StatusCode::kPermissionDenied:
      return http::status::forbidden;
    case absl::StatusCode::kNotFound:
      return http::status::not_found;
    case absl::StatusCode::kResourceExhausted:
      return http::status::too_many_requests;
    case absl::StatusCode::kUnavailable:
      return http::status::service_unavailable;
    case absl::StatusCode::kInvalidArgument:
      return http::status::bad_request;
    // The edge's own uses (edge/inbox_api.h): a request body over its
    // limit, and one in a media type the route does not take.
    case absl::StatusCode::kOutOfRange:
      return http::status::payload_too_large;
    case absl::StatusCode::kFailedPrecondition:
      return http::status::unsupported_media_type;
    default:
      return http::status::internal_server_error;
  }
}

// The TCP socket under a transport, for what bypasses TLS: closing,
// half-closing, and draining or watching bytes that will never be read as
// requests (after a response with Connection: close, or on a stream).
template <typename Stream>
tcp::socket& TcpOf(Stream& stream) {
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    return stream.next_layer();
  } else {
    return stream;
  }
}

// The peer of `stream`'s socket as "address:port", for logs; empty when
// it is gone. One getpeername call: for the rare line, not every request.
template <typename Stream>
std::string SocketPeer(Stream& stream) {
  error_code ec;
  tcp::endpoint peer = TcpOf(stream).remote_endpoint(ec);
  if (ec) return "";
  return absl::StrCat(peer.address().to_string(), ":", peer.port());
}

// A connection's deadline, on its strand: Arm runs `on_expiry` once `d`
// has passed, unless Disarm, Cancel or another Arm comes first.
// `on_expiry` must hold its owner (a shared_ptr), which holds the Deadline.
class Deadline {
 public:
  explicit Deadline(const net::any_io_executor& strand) : timer_(strand) {}

  template <typename F>
  void Arm(absl::Duration d, F on_expiry) {
    timer_.expires_after(ToChrono(d));
    timer_.async_wait([this, f = std::move(on_expiry)](error_code ec) mutable {
      // A handler that was already queued when the deadline moved sees
      // success; the expiry check tells the two apart.
      if (ec || timer_.expiry() > std::chrono::steady_clock::now()) return;
      f();
    });
  }
  void Disarm() {
    timer_.expires_at(std::chrono::steady_clock::time_point::max());
  }
  void Cancel() { timer_.cancel(); }

 private:
  net::steady_timer timer_;
};

// Adds Access-Control-Allow-Origin to `fields` when `request`'s Origin is
// one of `allowed` (or "*" is).
template <typename Fields, typename Request>
void AddCors(Fields& fields, const Request& request,
             const std::vector<std::string>& allowed) {
  auto it = request.find(http::field::origin);
  if (it == request.end()) return;
  absl::string_view origin = View(it->value());
  bool any = std::find(allowed.begin(), allowed.end(), "*") != allowed.end();
  bool listed =
      std::find(allowed.begin(), allowed.end(), origin) != allowed.end();
  if (!any && !listed) return;
  fields.set(http::field::access_control_allow_origin, it->value());
  fields.set(http::field::vary, "Origin");
  if (listed) fields.set(http::field::access_control_allow_credentials, "true");
}

}  // namespace internal

// Shared state of the server: options, collaborators, metrics, the io
// context and the registry of open connections (for limits and Shutdown).
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
        inbox(
            store, identity, this->options.cors_origins,
            this->options.publish_record
                ? this->options.publish_record
                : [&hub](std::shared_ptr<const storage::Notification>
                             n) { hub.Publish(n); }),
        push(store, identity, this->options.cors_origins,
             this->options.push_public_key, this->options.push_allow_private),
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
          internal::kLimitStreamOpenRate, internal::kLimitH2Flood}) {
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

  // Registry of connections, each under the part that holds its socket
  // (used through a RegistryEntry). Register also counts the connection
  // against its client address (`address` empty: not counted) and says
  // whether a limit is exceeded; it is registered either way, so it can
  // answer 503/429 and close, and Deregister undoes both.
  Admission Register(const std::shared_ptr<SessionBase>& s,
                     const std::string& address);
  void Deregister(const SessionBase* s, const std::string& address);
  // Moves a connection's count from client address `from` to `to` (either
  // may be empty: not counted) and says whether `to` is now over
  // max_connections_per_address: a connection from a trusted proxy, whose
  // requests name their client (edge/trusted_proxies.h). Counted either
  // way; Deregister with `to` undoes it.
  Admission Readdress(const std::string& from, const std::string& to);
  // Replaces `from` with `to` in the registry, counts unchanged: the HTTP
  // session handing its connection to an SSE stream.
  void Handover(const SessionBase* from,
                const std::shared_ptr<SessionBase>& to);

  // Answers a connection over a limit at once, without reading it, and
  // closes it, so it holds its descriptor no longer than this call. Over
  // TLS (`tls`) nothing can be said before a handshake: only closed.
  void Refuse(boost::asio::ip::tcp::socket& socket, Admission admission,
              bool tls);

  // Counts one more stream for `user`; false (nothing counted) when the user
  // already has max_streams_per_user. ReleaseStream undoes an Acquire.
  bool AcquireStream(const std::string& user);
  void ReleaseStream(const std::string& user);

  // What /readyz answers: calls done(ready, body) at once, or on the
  // store's thread once it answered Ping (after SetReady(true), this
  // listener accepting and every ready_check passing).
  void CheckReady(std::function<void(bool ready, std::string body)> done);

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
  // Checked by options.Validate() before Start uses it.
  const TrustedProxies trusted_proxies =
      TrustedProxies::Parse(options.trusted_proxies).value_or(TrustedProxies());
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
  // One entry per open connection: its HTTP session, or its SSE stream.
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
  // The JSON inbox routes (edge/inbox_api.h); thread-safe.
  const InboxApi inbox;
  // The Web Push routes (edge/push_api.h); thread-safe.
  const PushApi push;

  // Declared last so it is destroyed first: pending handlers own sessions
  // and streams, whose destructors still use the members above.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor;
  boost::asio::steady_timer accept_retry;
};

namespace internal {

// One connection's place in the server's registry (the connection limits,
// Shutdown) and in notifyd_http_connections, from accept to close. It goes
// with the socket: the HTTP session owns it from accept; on /v1/stream the
// session moves it to the SSE stream it hands the socket to, which takes
// it over (Transfer) so that Shutdown reaches the stream. Released once,
// by the destruction of its last owner; a moved-from entry releases
// nothing. Used by one owner at a time: at accept, then on the strand.
class RegistryEntry {
 public:
  RegistryEntry(EdgeServer::Impl& server, std::string address)
      : server_(&server), address_(std::move(address)) {
    server_->connections.Add(1);
  }
  RegistryEntry(RegistryEntry&& other) noexcept
      : server_(std::exchange(other.server_, nullptr)),
        address_(std::move(other.address_)),
        owner_(std::exchange(other.owner_, nullptr)) {}
  RegistryEntry& operator=(RegistryEntry&&) = delete;
  ~RegistryEntry() {
    if (server_ == nullptr) return;
    server_->connections.Add(-1);
    if (owner_ != nullptr) server_->Deregister(owner_, address_);
  }

  // Registers `owner`, counting it against its client address, and says
  // whether a limit is exceeded (the entry is registered either way).
  Admission Register(const std::shared_ptr<SessionBase>& owner) {
    owner_ = owner.get();
    return server_->Register(owner, address_);
  }
  // Counts the connection under client address `address` from now on
  // (EdgeServer::Impl::Readdress).
  Admission Readdress(std::string address) {
    Admission a = server_->Readdress(address_, address);
    address_ = std::move(address);
    return a;
  }
  const std::string& address() const { return address_; }
  // Makes `owner`, the socket's new holder, the one Shutdown closes.
  void Transfer(const std::shared_ptr<SessionBase>& owner) {
    server_->Handover(owner_, owner);
    owner_ = owner.get();
  }

 private:
  EdgeServer::Impl* server_;
  std::string address_;  // empty: not counted per address
  const SessionBase* owner_ = nullptr;
};

// A connection's registry entry as a base class, so that a part holding it
// before its other bases deregisters after they are gone.
struct RegistryHolder {
  RegistryEntry entry_;
};

}  // namespace internal
}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_EDGE_SERVER_IMPL_H_
