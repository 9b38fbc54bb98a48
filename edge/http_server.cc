// Listener, connection session and routing of the SSE edge. This is the only
// translation unit that includes Boost.Beast (slow to compile); everything it
// can delegate lives in Beast-free files (hub, stream_queue, sse_frame,
// stream_request, identity, web_assets, metrics).
//
// Shape follows Beast's advanced server: a Listener accepts on its strand
// and hands each socket to a Session on a new strand. A Session reads one
// request at a time; plain requests are answered (keep-alive allowed),
// /v1/stream turns the session into a stream until either side closes.
//
// Session is a template over the transport (plain TCP or TLS) so both share
// every line of HTTP/SSE handling; only the handshake and the raw-socket
// operations (peer watch, half-close, linger) differ.
#include "edge/http_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/dispatch.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/ssl/context.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http/empty_body.hpp"
#include "boost/beast/http/parser.hpp"
#include "boost/beast/http/read.hpp"
#include "boost/beast/http/string_body.hpp"
#include "boost/beast/http/write.hpp"
#include "boost/beast/ssl/ssl_stream.hpp"
#include "common/log_limiter.h"
#include "common/thread_name.h"
#include "edge/sse_frame.h"
#include "edge/stream_queue.h"
#include "edge/stream_request.h"
#include "edge/web_assets.h"
#include "openssl/ssl.h"
#include "spdlog/spdlog.h"

namespace notifyd::edge {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using beast::error_code;
using Strand = net::strand<net::io_context::executor_type>;
// beast::ssl_stream (not net::ssl::stream): it flattens a scatter write into
// one TLS record instead of one record per buffer, which matters for a
// stream's coalesced batches of small frames.
using TlsStream = beast::ssl_stream<tcp::socket>;

// How long a closing connection keeps draining the client's unread bytes so
// the kernel does not answer them with a RST that would eat our response.
constexpr auto kLingerTime = std::chrono::seconds(2);
// Upper bound for Shutdown() to let streams flush.
constexpr absl::Duration kMaxShutdownGrace = absl::Seconds(10);

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

absl::string_view View(beast::string_view s) { return {s.data(), s.size()}; }

// The label used for notifyd_http_requests_total: a fixed set, so a scan of
// random paths cannot grow the metric without bound.
const char* PathLabel(absl::string_view path) {
  for (const char* known : {"/v1/stream", "/healthz", "/readyz", "/metrics"}) {
    if (path == known) return known;
  }
  return path == "/" ? "/" : "other";
}

http::status HttpStatusFor(const absl::Status& s) {
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
    default:
      return http::status::internal_server_error;
  }
}

// Names of notifyd_limit_rejections_total{limit=...}.
constexpr const char* kLimitConnections = "connections";
constexpr const char* kLimitConnectionsPerAddress = "connections_per_address";
constexpr const char* kLimitStreamsPerUser = "streams_per_user";
constexpr const char* kLimitChannelsPerStream = "channels_per_stream";
constexpr const char* kLimitHeaderBytes = "header_bytes";
constexpr const char* kLimitRequestTimeout = "request_timeout";

// Why a new connection is refused (it still reads one request and answers
// it, so the client sees a status instead of a reset).
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

}  // namespace

// Shared state of the server: options, collaborators, metrics, the io
// context and the registry of live sessions (for limits and Shutdown).
class EdgeServer::Impl {
 public:
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
        acceptor(net::make_strand(ioc)),
        accept_retry(acceptor.get_executor()) {
    identity.insecure_dev_identity = this->options.insecure_dev_identity;
    identity.verifier = this->options.token_verifier;
    identity.cookie_name = this->options.token_cookie;
    // Registered up front so every limit shows (as 0) in /metrics.
    for (const char* limit :
         {kLimitConnections, kLimitConnectionsPerAddress, kLimitStreamsPerUser,
          kLimitChannelsPerStream, kLimitHeaderBytes, kLimitRequestTimeout}) {
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

  void CountRequest(absl::string_view path, http::status code) {
    metrics
        .GetCounter("notifyd_http_requests_total",
                    "HTTP requests by path and status code",
                    {{"path", PathLabel(path)},
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
  std::atomic<bool> ready{false};
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
  std::optional<net::ssl::context> tls;

  // Declared last so it is destroyed first: pending handlers own sessions,
  // whose destructors still use the members above.
  net::io_context ioc;
  tcp::acceptor acceptor;
  net::steady_timer accept_retry;
};

namespace {

using Impl = EdgeServer::Impl;

// One connection over `Stream` (tcp::socket or TlsStream). Lives as long as
// an operation (read, write, timer, store call) holds a reference. All
// members are touched on the strand only, except queue_ (thread-safe) and
// the immutable ones, which Deliver() uses from the hub's thread.
template <typename Stream>
class Session : public SessionBase,
                public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // `address`: the client address the session is counted against in the
  // server's per-address registry (empty: not counted).
  Session(Impl& server, tcp::socket socket, std::string address)
      : server_(server),
        stream_(MakeStream(server, std::move(socket))),
        address_(std::move(address)),
        deadline_(stream_.get_executor()),
        heartbeat_(stream_.get_executor()),
        queue_(server.options.max_queue_bytes) {
    server_.connections.Add(1);
  }

  ~Session() override {
    if (subscribed_) server_.hub.Unsubscribe(this, channels_);
    ReleaseStream();
    if (stream_state_ == StreamState::kReplaying) {
      server_.streams_replaying.Add(-1);
    } else if (stream_state_ == StreamState::kLive) {
      server_.streams_live.Add(-1);
    }
    server_.connections.Add(-1);
    server_.Deregister(this, address_);
  }

  void Start(Admission admission) {
    admission_ = admission;
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) {
        self->Handshake();
      } else {
        self->ReadRequest();
      }
    });
  }

  // Hub thread. Never blocks: queues and, when the writer is idle, posts it.
  bool Deliver(const FramePtr& frame) override {
    switch (queue_.PushLive(frame)) {
      case StreamQueue::PushResult::kWake:
        net::post(stream_.get_executor(),
                  [self = this->shared_from_this()] { self->WriteNext(); });
        return true;
      case StreamQueue::PushResult::kQueued:
      case StreamQueue::PushResult::kHeld:
        return true;
      case StreamQueue::PushResult::kDropped:
        return !queue_.closed();
      case StreamQueue::PushResult::kOverflow:
        OnOverflow();
        return false;
    }
    return false;
  }

  void Close(bool graceful) override {
    net::dispatch(stream_.get_executor(),
                  [self = this->shared_from_this(), graceful] {
                    graceful ? self->CloseGracefully() : self->Abort();
                  });
  }

 private:
  enum class StreamState : uint8_t { kNone, kReplaying, kLive };

  static Stream MakeStream(Impl& server, tcp::socket socket) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *server.tls);
    } else {
      return socket;
    }
  }

  // The TCP socket under the transport, for what bypasses TLS: closing,
  // half-closing, and draining or watching bytes that will never be read
  // as requests (after a response with Connection: close, or on a stream).
  tcp::socket& Tcp() {
    if constexpr (kTls) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  // ---- TLS -----------------------------------------------------------------

  // Bounded by idle_timeout like a request header, so a client that opens a
  // connection and never finishes the handshake is cut off.
  void Handshake() {
    if constexpr (kTls) {
      ArmDeadline(server_.options.idle_timeout);
      stream_.async_handshake(
          net::ssl::stream_base::server,
          [self = this->shared_from_this()](error_code ec) {
            self->DisarmDeadline();
            if (ec) {
              spdlog::debug("edge: TLS handshake failed: {}", ec.message());
              return self->Abort();
            }
            self->ReadRequest();
          });
    }
  }

  // ---- Deadline (header read, response and stream writes) ----------------

  void ArmDeadline(absl::Duration d) {
    deadline_.expires_after(ToChrono(d));
    deadline_.async_wait([self = this->shared_from_this()](error_code ec) {
      // A handler that was already queued when the deadline moved sees
      // success; the expiry check tells the two apart.
      if (ec || self->deadline_.expiry() > std::chrono::steady_clock::now()) {
        return;
      }
      spdlog::debug("edge: connection timed out");
      // A request that started arriving but did not complete in time (a
      // slowloris client, say); an idle keep-alive connection is not one.
      if (self->reading_request_ &&
          (self->parser_->got_some() || self->buffer_->size() > 0)) {
        self->server_.LimitRejected(kLimitRequestTimeout);
      }
      self->Abort();
    });
  }
  void DisarmDeadline() {
    deadline_.expires_at(std::chrono::steady_clock::time_point::max());
  }

  // ---- HTTP request/response phase ---------------------------------------

  void ReadRequest() {
    if (closed_ || closing_) return Abort();
    request_ = {};
    parser_ = std::make_unique<http::request_parser<http::empty_body>>();
    parser_->header_limit(
        static_cast<std::uint32_t>(server_.options.max_header_bytes));
    if (!buffer_) {
      buffer_.emplace(server_.options.max_header_bytes + 1024);
    }
    // One deadline for the whole header, not reset as bytes arrive: a
    // client trickling a byte at a time is cut off all the same.
    ArmDeadline(server_.options.idle_timeout);
    reading_request_ = true;
    http::async_read(stream_, *buffer_, *parser_,
                     [self = this->shared_from_this()](error_code ec, size_t) {
                       self->OnRequest(ec);
                     });
  }

  void OnRequest(error_code ec) {
    DisarmDeadline();
    reading_request_ = false;
    if (ec == http::error::end_of_stream || closed_) return Abort();
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      server_.LimitRejected(kLimitHeaderBytes);
      return SendError("other", http::status::request_header_fields_too_large,
                       "request header too large", /*keep_alive=*/false);
    }
    if (ec == http::error::unexpected_body || ec == http::error::body_limit) {
      return SendError("/", http::status::payload_too_large,
                       "request body not accepted", false);
    }
    // Anything else the parser rejects (request line, field syntax, version)
    // is answered, so a confused client learns why; EOF mid-request has
    // nobody left to answer.
    if (ec.category() ==
            http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::partial_message) {
      return SendError("other", http::status::bad_request,
                       "malformed HTTP request", false);
    }
    if (ec) {
      if (ec != net::error::operation_aborted) {
        spdlog::debug("edge: read failed: {}", ec.message());
      }
      return Abort();
    }
    request_ = parser_->release();
    parser_.reset();
    Route();
  }

  void Route() {
    const auto& req = request_;
    absl::StatusOr<HttpTarget> target = ParseTarget(View(req.target()));
    if (!target.ok()) {
      return SendError("other", http::status::bad_request,
                       target.status().message(), false);
    }
    const std::string& path = target->path;
    if (admission_ == Admission::kTooManyConnections) {
      server_.LimitRejected(kLimitConnections);
      return SendError(path, http::status::service_unavailable,
                       "too many connections", false);
    }
    if (admission_ == Admission::kTooManyFromAddress) {
      server_.LimitRejected(kLimitConnectionsPerAddress);
      return SendError(path, http::status::too_many_requests,
                       "too many connections from this address", false);
    }
    if (req.method() == http::verb::options) return SendPreflight(path);

    bool get = req.method() == http::verb::get;
    bool head = req.method() == http::verb::head;
    bool known = path == "/v1/stream" || path == "/healthz" ||
                 path == "/readyz" || path == "/metrics" ||
                 IsKnownWebPath(path);
    if (!known) {
      return SendError(path, http::status::not_found, "not found",
                       req.keep_alive());
    }
    if (!get && !(head && path != "/v1/stream")) {
      return SendError(path, http::status::method_not_allowed,
                       "method not allowed", req.keep_alive());
    }
    if (path == "/v1/stream") return StartStream(*target);
    if (path == "/healthz") {
      return Send(path, http::status::ok, "text/plain; charset=utf-8", "ok\n");
    }
    if (path == "/metrics") {
      return Send(path, http::status::ok, "text/plain; version=0.0.4",
                  server_.metrics.RenderText());
    }
    if (path == "/readyz") return CheckReady();
    absl::StatusOr<WebFile> file = LoadWebFile(path, server_.options.web_root);
    if (!file.ok()) {
      return SendError(path, HttpStatusFor(file.status()),
                       file.status().message(), req.keep_alive());
    }
    Send(path, http::status::ok, file->content_type, std::move(file->body));
  }

  void CheckReady() {
    if (!server_.ready.load()) {
      return Send("/readyz", http::status::service_unavailable,
                  "text/plain; charset=utf-8", "not ready\n");
    }
    server_.StoreCallStarted();
    server_.store.Ping([self =
                            this->shared_from_this()](absl::StatusOr<bool> ok) {
      bool up = ok.ok() && *ok;
      Impl& server = self->server_;
      net::post(self->stream_.get_executor(), [self, up] {
        self->Send("/readyz",
                   up ? http::status::ok : http::status::service_unavailable,
                   "text/plain; charset=utf-8",
                   up ? "ready\n" : "store unavailable\n");
      });
      server.StoreCallDone();
    });
  }

  // Adds Access-Control-Allow-Origin when the request's Origin is allowed.
  template <typename Fields>
  void AddCors(Fields& fields) const {
    auto it = request_.find(http::field::origin);
    if (it == request_.end()) return;
    absl::string_view origin = View(it->value());
    const auto& allowed = server_.options.cors_origins;
    bool any = std::find(allowed.begin(), allowed.end(), "*") != allowed.end();
    bool listed =
        std::find(allowed.begin(), allowed.end(), origin) != allowed.end();
    if (!any && !listed) return;
    fields.set(http::field::access_control_allow_origin, it->value());
    fields.set(http::field::vary, "Origin");
    if (listed)
      fields.set(http::field::access_control_allow_credentials, "true");
  }

  void SendPreflight(absl::string_view path) {
    auto res = std::make_shared<http::response<http::string_body>>(
        http::status::no_content, request_.version());
    AddCors(*res);
    res->set(http::field::access_control_allow_methods, "GET, HEAD, OPTIONS");
    res->set(http::field::access_control_allow_headers,
             "Authorization, Last-Event-ID, Cache-Control");
    res->set(http::field::access_control_max_age, "600");
    res->keep_alive(request_.keep_alive());
    WriteResponse(path, std::move(res));
  }

  void SendError(absl::string_view path, http::status status,
                 absl::string_view message, bool keep_alive) {
    Send(path, status, "text/plain; charset=utf-8", absl::StrCat(message, "\n"),
         keep_alive);
  }

  void Send(absl::string_view path, http::status status,
            absl::string_view content_type, std::string body,
            std::optional<bool> keep_alive = std::nullopt) {
    // HTTP/1.0 clients get 1.0; anything else (including a request that
    // never parsed, or claimed HTTP/2.0) gets what we speak.
    auto res = std::make_shared<http::response<http::string_body>>(
        status, request_.version() == 10 ? 10 : 11);
    res->set(http::field::server, "notifyd");
    res->set(http::field::content_type,
             beast::string_view(content_type.data(), content_type.size()));
    res->set(http::field::cache_control, "no-store");
    AddCors(*res);
    bool head = request_.method() == http::verb::head;
    size_t length = body.size();
    if (!head) res->body() = std::move(body);
    res->content_length(length);
    res->keep_alive(keep_alive.value_or(request_.keep_alive()));
    WriteResponse(path, std::move(res));
  }

  void WriteResponse(absl::string_view path,
                     std::shared_ptr<http::response<http::string_body>> res) {
    server_.CountRequest(path, res->result());
    ArmDeadline(server_.options.write_timeout);
    http::async_write(
        stream_, *res,
        [self = this->shared_from_this(), res](error_code ec, size_t) {
          self->DisarmDeadline();
          if (ec) return self->Abort();
          if (res->keep_alive() && !self->closing_) {
            return self->ReadRequest();
          }
          self->Linger();
        });
  }

  // Half-closes, then drains what the client still sends (up to
  // kLingerTime) so our response is not lost to a RST.
  void Linger() {
    error_code ec;
    Tcp().shutdown(tcp::socket::shutdown_send, ec);
    if (ec || !buffer_ || closing_) return Abort();
    deadline_.expires_after(kLingerTime);
    deadline_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (!ec) self->Abort();
    });
    DrainInput();
  }
  void DrainInput() {
    buffer_->clear();
    Tcp().async_read_some(
        buffer_->prepare(512),
        [self = this->shared_from_this()](error_code ec, size_t) {
          if (ec) return self->Abort();
          self->DrainInput();
        });
  }

  // ---- Stream phase --------------------------------------------------------

  void StartStream(const HttpTarget& target) {
    std::optional<absl::string_view> header_id;
    if (auto it = request_.find("Last-Event-ID"); it != request_.end()) {
      header_id = View(it->value());
    }
    absl::StatusOr<StreamRequest> params = ParseStreamRequest(
        target, header_id, server_.options.max_channels_per_stream);
    if (!params.ok()) {
      if (params.status().code() == absl::StatusCode::kResourceExhausted) {
        server_.LimitRejected(kLimitChannelsPerStream);
      }
      return SendError(target.path, http::status::bad_request,
                       params.status().message(), false);
    }
    AuthInputs auth;
    if (auto it = request_.find(http::field::authorization);
        it != request_.end()) {
      auth.authorization = View(it->value());
    }
    if (auto it = request_.find(http::field::cookie); it != request_.end()) {
      auth.cookie = View(it->value());
    }
    if (const std::string* t = target.Find("access_token")) {
      auth.access_token = *t;
    }
    if (const std::string* u = target.Find("user")) {
      auth.dev_user = *u;
      auth.has_dev_user = true;
    }
    absl::StatusOr<Identity> id = Authenticate(auth, server_.identity);
    absl::Status allowed =
        id.ok() ? Authorize(*id, params->channels) : id.status();
    if (!allowed.ok()) {
      return SendError(target.path, HttpStatusFor(allowed), allowed.message(),
                       false);
    }
    if (!server_.AcquireStream(id->user)) {
      server_.LimitRejected(kLimitStreamsPerUser);
      return SendError(target.path, http::status::too_many_requests,
                       "too many streams for this user", false);
    }
    stream_user_ = id->user;

    // Build the response head by hand: the body is an endless event stream
    // delimited by connection close, so Beast's serializer adds nothing.
    std::string head =
        "HTTP/1.1 200 OK\r\n"
        "Server: notifyd\r\n"
        "Content-Type: text/event-stream\r\n"
        "Cache-Control: no-cache\r\n"
        "X-Accel-Buffering: no\r\n"
        "Connection: close\r\n";
    http::fields cors;
    AddCors(cors);
    for (const auto& field : cors) {
      absl::StrAppend(&head, View(field.name_string()), ": ",
                      View(field.value()), "\r\n");
    }
    absl::StrAppend(&head, "\r\n", EncodePreamble(server_.options.retry_ms));
    server_.CountRequest(target.path, http::status::ok);

    // The request is done with: release its memory before the stream lives
    // on for hours.
    request_ = {};
    buffer_.reset();

    channels_ = std::move(params->channels);
    // The user's own channel may also be listed explicitly; subscribe once.
    const std::string own = UserChannel(id->user);
    channels_.erase(std::remove(channels_.begin(), channels_.end(), own),
                    channels_.end());
    channels_.insert(channels_.begin(), own);
    last_event_id_ = params->last_event_id.value_or(0);
    bool resume = params->last_event_id.has_value();
    if (resume) {
      queue_.BeginReplay();
      stream_state_ = StreamState::kReplaying;
      server_.streams_replaying.Add(1);
    } else {
      stream_state_ = StreamState::kLive;
      server_.streams_live.Add(1);
    }
    // Subscribe BEFORE reading the store: anything committed after the
    // replay's snapshot is then guaranteed to arrive live (held until the
    // replay ends), so nothing falls between the two.
    server_.hub.Subscribe(this->shared_from_this(), channels_);
    subscribed_ = true;

    Push(queue_.PushControl(
        std::make_shared<const Frame>(Frame{0, std::move(head)})));
    if (resume) FetchReplayPage();
    ArmHeartbeat();
    WatchPeer();
  }

  // Acts on a push made from the strand.
  void Push(StreamQueue::PushResult r) {
    if (r == StreamQueue::PushResult::kWake) WriteNext();
    if (r == StreamQueue::PushResult::kOverflow) OnOverflow();
  }

  void OnOverflow() {
    server_.slow_consumers.Inc();
    if (uint64_t dropped = 0; server_.slow_consumer_log.Allow(&dropped)) {
      spdlog::info("edge: closing slow SSE consumer on {}{}",
                   channels_.empty() ? "" : channels_.front(),
                   LogLimiter::DroppedNote(dropped));
    }
    net::post(stream_.get_executor(),
              [self = this->shared_from_this()] { self->Abort(); });
  }

  void FetchReplayPage() {
    replay_more_ = false;
    replay_in_flight_ = true;
    storage::ReplayQuery q;
    q.channels = channels_;
    q.after_id = std::max(last_event_id_, queue_.last_id());
    q.limit = server_.options.replay_page;
    server_.StoreCallStarted();
    server_.store.Replay(
        std::move(q), [self = this->shared_from_this()](
                          absl::StatusOr<storage::ReplayPage> page) mutable {
          Impl& server = self->server_;
          auto executor = self->stream_.get_executor();
          net::post(executor,
                    [self = std::move(self), page = std::move(page)]() mutable {
                      self->OnReplayPage(std::move(page));
                    });
          server.StoreCallDone();
        });
  }

  void OnReplayPage(absl::StatusOr<storage::ReplayPage> page) {
    replay_in_flight_ = false;
    if (closed_ || closing_) return;
    if (!page.ok()) {
      // The client will reconnect with its Last-Event-ID and try again.
      spdlog::warn("edge: replay failed: {}", page.status().ToString());
      return Abort();
    }
    if (first_page_) {
      first_page_ = false;
      if (page->oldest_id > 0 && last_event_id_ + 1 < page->oldest_id) {
        Push(queue_.PushControl(ResetFrame(page->oldest_id)));
      }
    }
    for (const auto& n : page->notifications) {
      absl::StatusOr<FramePtr> frame = EncodeNotification(*n);
      if (!frame.ok()) continue;
      StreamQueue::PushResult r = queue_.PushReplay(*frame);
      if (r == StreamQueue::PushResult::kDropped) continue;
      if (r == StreamQueue::PushResult::kOverflow) return OnOverflow();
      server_.replayed.Inc();
      Push(r);
    }
    if (page->notifications.size() >= server_.options.replay_page &&
        server_.options.replay_page > 0) {
      // More to read: fetch the next page once this one is written, so a
      // long history streams at the client's pace instead of piling up.
      replay_more_ = true;
      if (!writing_) WriteNext();
      return;
    }
    stream_state_ = StreamState::kLive;
    server_.streams_replaying.Add(-1);
    server_.streams_live.Add(1);
    Push(queue_.FinishReplay());
  }

  void WriteNext() {
    if (writing_ || closed_) return;
    if (!queue_.TakeBatch(&batch_)) {
      batch_.shrink_to_fit();
      buffers_.clear();
      buffers_.shrink_to_fit();
      if (closing_) return FinishGracefulClose();
      if (replay_more_ && !replay_in_flight_) FetchReplayPage();
      return;
    }
    buffers_.clear();
    for (const FramePtr& f : batch_) buffers_.push_back(net::buffer(f->bytes));
    writing_ = true;
    ArmDeadline(server_.options.write_timeout);
    net::async_write(stream_, buffers_,
                     [self = this->shared_from_this()](error_code ec, size_t) {
                       self->OnWrite(ec);
                     });
  }

  void OnWrite(error_code ec) {
    writing_ = false;
    DisarmDeadline();
    batch_.clear();
    if (ec) {
      if (ec != net::error::operation_aborted) {
        spdlog::debug("edge: stream write failed: {}", ec.message());
      }
      return Abort();
    }
    WriteNext();
  }

  void ArmHeartbeat() {
    heartbeat_.expires_after(ToChrono(server_.options.heartbeat));
    heartbeat_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (ec || self->closed_ || self->closing_) return;
      self->Push(self->queue_.PushControl(PingFrame()));
      self->ArmHeartbeat();
    });
  }

  // A stream never reads, so without this a vanished client would only be
  // noticed at the next write. Waiting for readability costs no buffer.
  void WatchPeer() {
    Tcp().async_wait(tcp::socket::wait_read,
                     [self = this->shared_from_this()](error_code ec) {
                       if (ec || self->closed_) return;
                       // A readiness wake-up is not proof of EOF: peek without
                       // blocking and only treat a zero-byte read as the peer
                       // closing. Anything else the client sends on a stream is
                       // discarded.
                       char discard[512];
                       for (;;) {
                         ssize_t got =
                             ::recv(self->Tcp().native_handle(), discard,
                                    sizeof(discard), MSG_DONTWAIT);
                         if (got > 0) continue;
                         if (got == 0) return self->Abort();  // orderly close
                         if (errno == EINTR) continue;
                         if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                         return self->Abort();  // reset or other error
                       }
                       self->WatchPeer();
                     });
  }

  // ---- Closing -------------------------------------------------------------

  void CloseGracefully() {
    if (closed_) return;
    closing_ = true;
    if (stream_state_ == StreamState::kNone) {
      // Mid-request: a pending read is abandoned; a response being written
      // finishes first (closing_ stops keep-alive).
      if (!writing_response()) Abort();
      return;
    }
    queue_.Close();
    heartbeat_.cancel();
    if (!writing_) WriteNext();
  }

  // Over TLS this ends with a TCP FIN and no close_notify: the stream has no
  // length, so a client cannot mistake the cut for a complete response, and
  // waiting for the peer's close_notify would hold shutdown for nothing.
  void FinishGracefulClose() {
    error_code ec;
    Tcp().shutdown(tcp::socket::shutdown_send, ec);
    Abort();
  }

  void Abort() {
    if (closed_) return;
    closed_ = true;
    queue_.Close();
    if (subscribed_) {
      server_.hub.Unsubscribe(this, channels_);
      subscribed_ = false;
    }
    ReleaseStream();
    error_code ec;
    deadline_.cancel();
    heartbeat_.cancel();
    Tcp().close(ec);
  }

  // Gives back this stream's place in the user's max_streams_per_user.
  void ReleaseStream() {
    if (stream_user_.empty()) return;
    server_.ReleaseStream(stream_user_);
    stream_user_.clear();
  }

  // True while a plain response is on the wire (the deadline is armed and
  // no read is pending).
  bool writing_response() const { return parser_ == nullptr; }

  Impl& server_;
  Stream stream_;
  const std::string address_;  // see the constructor
  net::steady_timer deadline_;
  net::steady_timer heartbeat_;
  // Request phase only; reset when a stream starts.
  std::optional<beast::flat_buffer> buffer_;
  // Heap-allocated: the parser is large and a stream no longer needs it.
  std::unique_ptr<http::request_parser<http::empty_body>> parser_;
  http::request<http::empty_body> request_;
  // Stream phase.
  StreamQueue queue_;
  std::vector<std::string> channels_;  // user channel first
  std::vector<FramePtr> batch_;        // frames of the write in flight
  std::vector<net::const_buffer> buffers_;
  uint64_t last_event_id_ = 0;
  StreamState stream_state_ = StreamState::kNone;
  std::string stream_user_;  // counted in streams_per_user; empty: not
  Admission admission_ = Admission::kOk;
  bool reading_request_ = false;
  bool subscribed_ = false;
  bool writing_ = false;
  bool first_page_ = true;
  bool replay_more_ = false;
  bool replay_in_flight_ = false;
  bool closing_ = false;
  bool closed_ = false;
};

}  // namespace

Admission Impl::Register(const std::shared_ptr<SessionBase>& s,
                         const std::string& address) {
  absl::MutexLock lock(&sessions_mu);
  sessions.emplace(s.get(), s);
  size_t from_address = address.empty() ? 0 : ++per_address[address];
  if (sessions.size() > options.max_connections) {
    return Admission::kTooManyConnections;
  }
  if (options.max_connections_per_address > 0 &&
      from_address > options.max_connections_per_address) {
    return Admission::kTooManyFromAddress;
  }
  return Admission::kOk;
}

void Impl::Deregister(const SessionBase* s, const std::string& address) {
  absl::MutexLock lock(&sessions_mu);
  sessions.erase(s);
  if (address.empty()) return;
  auto it = per_address.find(address);
  if (it != per_address.end() && --it->second == 0) per_address.erase(it);
}

bool Impl::AcquireStream(const std::string& user) {
  absl::MutexLock lock(&streams_mu);
  size_t& n = streams_per_user[user];
  if (options.max_streams_per_user > 0 && n >= options.max_streams_per_user) {
    if (n == 0) streams_per_user.erase(user);
    return false;
  }
  ++n;
  return true;
}

void Impl::ReleaseStream(const std::string& user) {
  absl::MutexLock lock(&streams_mu);
  auto it = streams_per_user.find(user);
  if (it != streams_per_user.end() && --it->second == 0) {
    streams_per_user.erase(it);
  }
}

absl::Status Impl::LoadTls() {
  const std::string& cert = options.tls_cert_file;
  const std::string& key = options.tls_key_file;
  if (cert.empty() && key.empty()) return absl::OkStatus();
  if (cert.empty() || key.empty()) {
    return absl::InvalidArgumentError(
        "HTTPS needs both tls_cert_file and tls_key_file");
  }
  tls.emplace(net::ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
  tls->set_options(net::ssl::context::default_workarounds |
                   net::ssl::context::no_compression |
                   net::ssl::context::single_dh_use);
  error_code ec;
  tls->use_certificate_chain_file(cert, ec);
  if (ec) {
    tls.reset();
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot load TLS certificate from ", cert, ": ", ec.message()));
  }
  tls->use_private_key_file(key, net::ssl::context::pem, ec);
  if (ec || SSL_CTX_check_private_key(tls->native_handle()) != 1) {
    std::string why = ec ? ec.message() : "does not match the certificate";
    tls.reset();
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load TLS private key from ", key, ": ", why));
  }
  return absl::OkStatus();
}

absl::Status Impl::Listen() {
  const std::string& listen = options.listen;
  size_t colon = listen.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(listen).substr(colon + 1), &port) ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid HTTP listen address '", listen, "' (want host:port)"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  error_code ec;
  tcp::endpoint endpoint;
  if (host.empty()) {
    endpoint = tcp::endpoint(tcp::v4(), static_cast<uint16_t>(port));
  } else {
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot resolve HTTP listen address '", listen, "': ", ec.message()));
    }
    endpoint = results.begin()->endpoint();
  }
  auto fail = [&](const char* what) {
    return absl::UnavailableError(
        absl::StrCat("cannot ", what, " HTTP on ", listen, ": ", ec.message()));
  };
  if (acceptor.open(endpoint.protocol(), ec)) return fail("open socket for");
  if (acceptor.set_option(net::socket_base::reuse_address(true), ec)) {
    return fail("set SO_REUSEADDR for");
  }
  if (acceptor.bind(endpoint, ec)) return fail("bind");
  if (acceptor.listen(net::socket_base::max_listen_connections, ec)) {
    return fail("listen");
  }
  bound_port = acceptor.local_endpoint(ec).port();
  return absl::OkStatus();
}

void Impl::Accept() {
  acceptor.async_accept(
      net::make_strand(ioc), [this](error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
        if (ec) {
          // Typically EMFILE: back off instead of spinning on the error.
          spdlog::warn("edge: accept failed: {}", ec.message());
          accept_retry.expires_after(std::chrono::milliseconds(100));
          accept_retry.async_wait([this](error_code ec) {
            if (!ec) Accept();
          });
          return;
        }
        error_code nodelay_ec;
        socket.set_option(tcp::no_delay(true), nodelay_ec);
        std::string address;
        if (options.max_connections_per_address > 0) {
          error_code peer_ec;
          tcp::endpoint peer = socket.remote_endpoint(peer_ec);
          // A peer already gone is not counted; its session fails at once.
          if (!peer_ec) address = peer.address().to_string();
        }
        auto start = [&](auto session) {
          session->Start(Register(session, address));
        };
        if (tls) {
          start(std::make_shared<Session<TlsStream>>(*this, std::move(socket),
                                                     address));
        } else {
          start(std::make_shared<Session<tcp::socket>>(*this, std::move(socket),
                                                       address));
        }
        Accept();
      });
}

void Impl::Shutdown() {
  if (shut_down) return;
  shut_down = true;
  if (!started) return;
  net::post(acceptor.get_executor(), [this] {
    error_code ec;
    acceptor.close(ec);
    accept_retry.cancel();
  });

  auto for_each_session = [this](bool graceful) {
    std::vector<std::shared_ptr<SessionBase>> live;
    {
      absl::MutexLock lock(&sessions_mu);
      for (const auto& [key, weak] : sessions) {
        if (auto s = weak.lock()) live.push_back(std::move(s));
      }
    }
    for (const auto& s : live) s->Close(graceful);
  };
  auto no_sessions = [this] {
    sessions_mu.AssertReaderHeld();
    return sessions.empty();
  };
  for_each_session(/*graceful=*/true);
  absl::Duration grace = std::min(options.write_timeout, kMaxShutdownGrace);
  bool drained;
  {
    absl::MutexLock lock(&sessions_mu);
    drained =
        sessions_mu.AwaitWithTimeout(absl::Condition(&no_sessions), grace);
  }
  if (!drained) {
    spdlog::warn("edge: streams did not flush within {}; closing them",
                 absl::FormatDuration(grace));
    for_each_session(/*graceful=*/false);
  }
  {
    absl::MutexLock lock(&store_mu);
    auto idle = [this] {
      store_mu.AssertReaderHeld();
      return store_calls == 0;
    };
    if (!store_mu.AwaitWithTimeout(absl::Condition(&idle), kMaxShutdownGrace)) {
      spdlog::warn("edge: store calls still pending at shutdown");
    }
  }
  ioc.stop();
  for (std::thread& t : threads) t.join();
  threads.clear();
}

EdgeServer::EdgeServer(EdgeOptions options, storage::Store& store, Hub& hub,
                       Metrics& metrics)
    : impl_(std::make_shared<Impl>(std::move(options), store, hub, metrics)) {}

EdgeServer::~EdgeServer() { Shutdown(); }

absl::Status EdgeServer::Start() {
  Impl& impl = *impl_;
  if (impl.started || impl.shut_down) {
    return absl::FailedPreconditionError("EdgeServer already started");
  }
  if (absl::Status s = impl.LoadTls(); !s.ok()) return s;
  if (absl::Status s = impl.Listen(); !s.ok()) return s;
  impl.started = true;
  impl.Accept();
  int n = std::max(1, impl.options.io_threads);
  for (int i = 0; i < n; ++i) {
    impl.threads.emplace_back([&impl] {
      NameThisThread("http-io");
      impl.ioc.run();
    });
  }
  spdlog::info("edge: serving {} on {} (port {})", impl.tls ? "HTTPS" : "HTTP",
               impl.options.listen, impl.bound_port.load());
  return absl::OkStatus();
}

uint16_t EdgeServer::port() const { return impl_->bound_port.load(); }

void EdgeServer::SetReady(bool ready) { impl_->ready.store(ready); }

void EdgeServer::Shutdown() { impl_->Shutdown(); }

}  // namespace notifyd::edge
