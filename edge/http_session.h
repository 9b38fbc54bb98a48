// One HTTP connection of the SSE edge: reads requests, answers the plain
// paths, and turns into a Server-Sent Events stream on /v1/stream.
//
// Session is a template over the transport (plain TCP or TLS) so both share
// every line of HTTP/SSE handling; only the handshake and the raw-socket
// operations (peer watch, half-close, linger) differ.
//
// Internal: one of the three parts of the one translation unit that compiles
// Beast (included by http_server.cc only).
#ifndef NOTIFYD_EDGE_HTTP_SESSION_H_
#define NOTIFYD_EDGE_HTTP_SESSION_H_

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/dispatch.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http/empty_body.hpp"
#include "boost/beast/http/parser.hpp"
#include "boost/beast/http/read.hpp"
#include "boost/beast/http/string_body.hpp"
#include "boost/beast/http/write.hpp"
#include "edge/edge_server_impl.h"
#include "edge/sse_frame.h"
#include "edge/stream_queue.h"
#include "edge/stream_request.h"
#include "edge/web_assets.h"
#include "spdlog/spdlog.h"

namespace notifyd::edge::internal {

using Impl = EdgeServer::Impl;

inline std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

inline absl::string_view View(beast::string_view s) {
  return {s.data(), s.size()};
}

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
    default:
      return http::status::internal_server_error;
  }
}

// How long a closing connection keeps draining the client's unread bytes so
// the kernel does not answer them with a RST that would eat our response.
constexpr auto kLingerTime = std::chrono::seconds(2);

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
    if (admission != Admission::kOk) return Refuse(admission);
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

  // A connection over a limit: answered at once, without reading it, and
  // closed, so it holds its descriptor no longer than this call. Over TLS
  // nothing can be said before a handshake, so it is only closed.
  void Refuse(Admission admission) {
    bool per_address = admission == Admission::kTooManyFromAddress;
    server_.LimitRejected(per_address ? kLimitConnectionsPerAddress
                                      : kLimitConnections);
    if constexpr (!kTls) {
      static constexpr absl::string_view kTooMany =
          "HTTP/1.1 503 Service Unavailable\r\n"
          "Content-Type: text/plain; charset=utf-8\r\n"
          "X-Content-Type-Options: nosniff\r\n"
          "Retry-After: 1\r\nContent-Length: 21\r\n"
          "Connection: close\r\n\r\ntoo many connections\n";
      static constexpr absl::string_view kTooManyFromAddress =
          "HTTP/1.1 429 Too Many Requests\r\n"
          "Content-Type: text/plain; charset=utf-8\r\n"
          "X-Content-Type-Options: nosniff\r\n"
          "Retry-After: 1\r\nContent-Length: 39\r\n"
          "Connection: close\r\n\r\ntoo many connections from this address\n";
      absl::string_view answer = per_address ? kTooManyFromAddress : kTooMany;
      // A fresh socket's send buffer always has room for this.
      (void)!::send(Tcp().native_handle(), answer.data(), answer.size(),
                    MSG_DONTWAIT | MSG_NOSIGNAL);
      server_.CountRequest("other", per_address
                                        ? http::status::too_many_requests
                                        : http::status::service_unavailable);
    }
    closed_ = true;
    error_code ec;
    Tcp().shutdown(tcp::socket::shutdown_send, ec);
    Tcp().close(ec);
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
      // Both come after the last field line was read, so the header rules
      // apply: a chunked body gets the same 400 as any Transfer-Encoding.
      if (absl::Status s = CheckHeader(parser_->get()); !s.ok()) {
        return SendError("other", HttpStatusFor(s), s.message(), false);
      }
      return SendError("/", http::status::payload_too_large,
                       "request body not accepted", false);
    }
    if (ec == http::error::bad_transfer_encoding) {
      // Beast's own refusal of a Transfer-Encoding after chunked or after a
      // Content-Length: the answer CheckRequestHeader gives any other.
      return SendError("other", http::status::bad_request,
                       "Transfer-Encoding not accepted", false);
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
    // Refused with the connection closed: after a Transfer-Encoding, say,
    // the bytes that follow are never read as another request.
    if (absl::Status s = CheckHeader(request_); !s.ok()) {
      return SendError("other", HttpStatusFor(s), s.message(), false);
    }
    Route();
  }

  // CheckRequestHeader (stream_request.h) on what the parser read.
  static absl::Status CheckHeader(const http::request<http::empty_body>& req) {
    std::vector<HeaderField> fields;
    for (const auto& field : req) {
      fields.push_back({View(field.name_string()), View(field.value())});
    }
    return CheckRequestHeader(req.version(), fields);
  }

  void Route() {
    const auto& req = request_;
    absl::StatusOr<HttpTarget> target = ParseTarget(View(req.target()));
    if (!target.ok()) {
      return SendError("other", http::status::bad_request,
                       target.status().message(), false);
    }
    const std::string& path = target->path;
    if (req.method() == http::verb::options) return SendPreflight(path);

    bool get = req.method() == http::verb::get;
    bool head = req.method() == http::verb::head;
    std::optional<edge::Route> route = FindRoute(path, server_.options.role);
    if (!route) {
      return SendError(path, http::status::not_found, "not found",
                       req.keep_alive());
    }
    if (!get && !(head && route->head_allowed)) {
      return SendError(path, http::status::method_not_allowed,
                       "method not allowed", req.keep_alive());
    }
    switch (route->id) {
      case RouteId::kStream:
        return StartStream(*target);
      case RouteId::kHealth:
        return Send(path, http::status::ok, "text/plain; charset=utf-8",
                    "ok\n");
      case RouteId::kMetrics:
        return Send(path, http::status::ok, "text/plain; version=0.0.4",
                    server_.metrics.RenderText());
      case RouteId::kReady:
        return CheckReady();
      case RouteId::kWebFile:
        break;
    }
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
    if (!server_.accepting.load()) {
      return Send("/readyz", http::status::service_unavailable,
                  "text/plain; charset=utf-8", "listener unavailable\n");
    }
    for (const ReadyCheck& check : server_.options.ready_checks) {
      if (!check.ok()) {
        return Send("/readyz", http::status::service_unavailable,
                    "text/plain; charset=utf-8",
                    absl::StrCat(check.name, " unavailable\n"));
      }
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
    res->set("X-Content-Type-Options", "nosniff");
    AddCors(*res);
    res->set(http::field::access_control_allow_methods, "GET, HEAD, OPTIONS");
    res->set(http::field::access_control_allow_headers,
             "Authorization, Last-Event-ID, Cache-Control");
    res->set(http::field::access_control_max_age, "600");
    res->keep_alive(request_.keep_alive());
    WriteResponse(path, std::move(res));
  }

  // `message` goes out as text/plain with nosniff. A value from the request
  // belongs in it only through EscapeForEcho; should a raw byte outside
  // printable ASCII still get here, the whole message is escaped, so no
  // echo can split the body or carry control bytes.
  void SendError(absl::string_view path, http::status status,
                 absl::string_view message, bool keep_alive) {
    bool printable = std::all_of(message.begin(), message.end(),
                                 [](char c) { return c >= 0x20 && c < 0x7f; });
    Send(path, status, "text/plain; charset=utf-8",
         absl::StrCat(printable ? std::string(message) : EscapeForEcho(message),
                      "\n"),
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
    res->set("X-Content-Type-Options", "nosniff");
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
    // Last-Event-ID, Authorization and Cookie appear at most once here
    // (CheckRequestHeader), so find() cannot pick one copy of several.
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
    if (absl::Duration wait = server_.stream_opens.TryAcquire(id->user);
        wait > absl::ZeroDuration()) {
      // Not a 429: EventSource gives up for good on anything but a 200. A
      // stream that only says when to come back keeps it reconnecting at
      // the limit's pace, and costs no store read.
      server_.LimitRejected(kLimitStreamOpenRate);
      int64_t retry_ms = std::max<int64_t>(
          server_.options.retry_ms,
          absl::ToInt64Milliseconds(absl::Ceil(wait, absl::Milliseconds(1))));
      return Send(target.path, http::status::ok, "text/event-stream",
                  absl::StrCat("retry: ", retry_ms,
                               "\n: too many stream opens, retry later\n\n"),
                  /*keep_alive=*/false);
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
        "X-Content-Type-Options: nosniff\r\n"
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
      // The floor of ids the client already has is set by the first page
      // (OnReplayPage), once the store said whether last_event_id_ is one
      // of its own ids. Until then live frames are only held.
      queue_.BeginReplay(0);
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
    // last_event_id_ also moves past rows that were read but never queued
    // (see OnReplayPage), so no page is read twice for them.
    q.after_id = std::max(last_event_id_, queue_.last_id());
    q.limit = std::max<uint32_t>(1, server_.options.replay_page);
    // Half the queue's bound: the page fits beside the live frames held
    // meanwhile, so replay alone never makes a reader a slow consumer.
    q.max_bytes = std::max<uint64_t>(1, server_.options.max_queue_bytes / 2);
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
      if (last_event_id_ > page->last_committed_id) {
        // An id this store never handed out: the client's history is from
        // another store (a new or restored database). It refetches its list
        // on the reset, and goes on live from the store's newest id.
        Push(queue_.PushControl(ResetFrame(page->oldest_id)));
        last_event_id_ = page->last_committed_id;
      } else if (page->oldest_id > 0 && last_event_id_ + 1 < page->oldest_id) {
        Push(queue_.PushControl(ResetFrame(page->oldest_id)));
      }
      // Live frames up to here are dropped as ones the client has. The same
      // as passing it to BeginReplay in StartStream: nothing with an id has
      // been queued yet.
      queue_.BeginReplay(last_event_id_);
    }
    bool more = page->more;
    bool queued_one = false;
    for (const auto& n : page->notifications) {
      absl::StatusOr<FramePtr> frame = EncodeNotification(*n);
      if (!frame.ok()) {
        last_event_id_ = std::max(last_event_id_, n->id);  // never sendable
        continue;
      }
      // What would pass the queue's bound (live frames held meanwhile, or
      // framing bigger than the data) waits for the next page, read once
      // the queue has drained. The first frame always goes, so the replay
      // moves on.
      if (queued_one && queue_.pending_bytes() + (*frame)->bytes.size() >
                            server_.options.max_queue_bytes) {
        more = true;
        break;
      }
      StreamQueue::PushResult r = queue_.PushReplay(*frame);
      if (r == StreamQueue::PushResult::kDropped) continue;
      if (r == StreamQueue::PushResult::kOverflow) return OnOverflow();
      queued_one = true;
      server_.replayed.Inc();
      Push(r);
    }
    if (more) {
      // Fetch the next page once this one is written, so a long history
      // streams at the client's pace instead of piling up.
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
  bool reading_request_ = false;
  bool subscribed_ = false;
  bool writing_ = false;
  bool first_page_ = true;
  bool replay_more_ = false;
  bool replay_in_flight_ = false;
  bool closing_ = false;
  bool closed_ = false;
};

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_HTTP_SESSION_H_
