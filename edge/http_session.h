// One HTTP connection of the SSE edge, the first of its two parts (the
// split of Beast's advanced server example): the TLS handshake, reading
// requests and their deadlines, routing them with the route table
// (edge/routes.h), closing, and the refusal of a connection over a limit.
// A request body is read only for a route that takes one, within its limit
// (routes.h). What the session does with a routed request is in parts of
// its own, bases of HttpSession that reach its state as its friends:
//
//   http_responses.h  writing answers (CORS, errors, 405, preflights),
//                     then keep-alive or linger
//   plain_handler.h   /healthz, /metrics, /readyz, the page and its assets
//   inbox_handler.h   the JSON inbox routes (edge/inbox_api.h)
//   stream_handler.h  /v1/stream: the caller authenticated and the stream
//                     limits applied (edge/stream_admission.h), then the
//                     socket, the request and its parameters handed to an
//                     SseStream (edge/sse_stream.h), the second part, which
//                     takes over the connection's registry entry
//
// Adding a route is its line in the table (routes.h), its case in Route()
// and its handler: a function of an existing part, or a part of its own.
//
// HttpSession is a template over the transport (plain TCP or TLS) so both
// share every line of HTTP handling; only the handshake and the raw-socket
// operations (half-close, linger) differ. Everything runs on the
// connection's strand (see the class).
//
// Internal: one of the parts of the one translation unit that compiles
// Beast (included by http_server.cc only; the parts are listed there).
#ifndef NOTIFYD_EDGE_HTTP_SESSION_H_
#define NOTIFYD_EDGE_HTTP_SESSION_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/asio/dispatch.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http/empty_body.hpp"
#include "boost/beast/http/parser.hpp"
#include "boost/beast/http/read.hpp"
#include "boost/beast/http/string_body.hpp"
#include "edge/edge_server_impl.h"
#include "edge/http_messages.h"
#include "edge/http_responses.h"
#include "edge/inbox_handler.h"
#include "edge/plain_handler.h"
#include "edge/routes.h"
#include "edge/stream_handler.h"
#include "edge/stream_request.h"
#include "spdlog/spdlog.h"

namespace notifyd::edge::internal {

// One connection over `Stream` (tcp::socket or TlsStream) until it closes
// or becomes an SSE stream. Lives as long as an operation (read, write,
// timer, store call) holds a reference. All members, its parts' included,
// are touched on the strand only, except the immutable executor_, which
// Close() uses from any thread.
template <typename Stream>
class HttpSession : public SessionBase,
                    public std::enable_shared_from_this<HttpSession<Stream>>,
                    public HttpResponses<Stream>,
                    public PlainHandler<Stream>,
                    public InboxHandler<Stream>,
                    public StreamHandler<Stream> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // `address`: the client address the connection is counted against in the
  // server's per-address registry (empty: not counted). `proxied`: the peer
  // is a trusted proxy, and each request says whose it is (Readdress).
  HttpSession(Impl& server, tcp::socket socket, std::string address,
              bool proxied = false)
      : server_(server),
        proxied_(proxied),
        entry_(server, std::move(address)),
        stream_(MakeStream(server, std::move(socket))),
        executor_(stream_.get_executor()),
        deadline_(executor_) {}

  // Registers the connection, then serves it, or refuses it when that
  // passes a connection limit.
  void Start() {
    Admission admission = entry_.Register(this->shared_from_this());
    if (admission != Admission::kOk) {
      closed_ = true;
      return server_.Refuse(Tcp(), admission, kTls);
    }
    net::dispatch(executor_, [self = this->shared_from_this()] {
      if constexpr (kTls) {
        self->Handshake();
      } else {
        self->ReadRequest();
      }
    });
  }

  // After the hand-off the connection is the stream's: a Close that raced
  // with it (Shutdown read the registry just before) is passed on.
  void Close(bool graceful) override {
    net::dispatch(executor_, [self = this->shared_from_this(), graceful] {
      if (auto sse = self->sse_.lock()) return sse->Close(graceful);
      graceful ? self->CloseGracefully() : self->Abort();
    });
  }

 private:
  friend class HttpResponses<Stream>;
  friend class PlainHandler<Stream>;
  friend class InboxHandler<Stream>;
  friend class StreamHandler<Stream>;

  static Stream MakeStream(Impl& server, tcp::socket socket) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *server.tls);
    } else {
      return socket;
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

  // ---- Deadline (TLS handshake, request header, response) ---------------

  void ArmDeadline(absl::Duration d) {
    deadline_.Arm(d, [self = this->shared_from_this()] {
      spdlog::debug("edge: connection timed out");
      // A request that started arriving but did not complete in time (a
      // slowloris client, say); an idle keep-alive connection is not one.
      if (self->body_parser_ ||
          (self->reading_request_ &&
           (self->parser_->got_some() || self->buffer_->size() > 0))) {
        self->server_.LimitRejected(kLimitRequestTimeout);
      }
      self->Abort();
    });
  }
  void DisarmDeadline() { deadline_.Disarm(); }

  // ---- Requests and plain answers ------------------------------------------

  void ReadRequest() {
    if (closed_ || closing_) return Abort();
    request_ = {};
    body_.clear();
    parser_ = std::make_unique<http::request_parser<http::empty_body>>();
    parser_->header_limit(
        static_cast<std::uint32_t>(server_.options.max_header_bytes));
    // Whether a body is read, and how much, is ReadBody's to decide.
    parser_->body_limit(boost::none);
    if (!buffer_) {
      buffer_.emplace(server_.options.max_header_bytes + 1024);
    }
    // One deadline for the whole header, not reset as bytes arrive: a
    // client trickling a byte at a time is cut off all the same.
    ArmDeadline(server_.options.idle_timeout);
    reading_request_ = true;
    http::async_read_header(
        stream_, *buffer_, *parser_,
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
      return this->SendError("other",
                             http::status::request_header_fields_too_large,
                             "request header too large", /*keep_alive=*/false);
    }
    if (ec == http::error::bad_transfer_encoding) {
      // Beast's own refusal of a Transfer-Encoding after chunked or after a
      // Content-Length: the answer CheckRequestHeader gives any other.
      return this->SendError("other", http::status::bad_request,
                             "Transfer-Encoding not accepted", false);
    }
    // Anything else the parser rejects (request line, field syntax, version)
    // is answered, so a confused client learns why; EOF mid-request has
    // nobody left to answer.
    if (ec.category() ==
            http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::partial_message) {
      return this->SendError("other", http::status::bad_request,
                             "malformed HTTP request", false);
    }
    if (ec) {
      if (ec != net::error::operation_aborted) {
        spdlog::debug("edge: read failed: {}", ec.message());
      }
      return Abort();
    }
    // Refused with the connection closed: after a Transfer-Encoding, say,
    // the bytes that follow are never read as another request.
    if (absl::Status s = CheckHeaderOf(parser_->get()); !s.ok()) {
      request_ = parser_->release();
      return this->SendError("other", HttpStatusFor(s), s.message(), false);
    }
    if (!parser_->is_done()) return ReadBody();  // a Content-Length body
    request_ = parser_->release();
    parser_.reset();
    Route();
  }

  // Reads the body a header announced (Content-Length; a chunked one was
  // refused) when its route takes one on this method, within the route's
  // limit; anything else is refused unread, with the connection closed.
  void ReadBody() {
    absl::StatusOr<HttpTarget> target =
        ParseTarget(View(parser_->get().target()));
    std::optional<edge::Route> route =
        target.ok() ? FindRoute(target->path, server_.options.role)
                    : std::nullopt;
    uint8_t method = MethodOf(parser_->get().method());
    size_t limit = route && route->Allows(method) ? route->max_body_bytes : 0;
    if (limit > 0 && *parser_->content_length() <= limit) {
      body_parser_ = std::make_unique<http::request_parser<http::string_body>>(
          std::move(*parser_));
      parser_.reset();
      body_parser_->body_limit(limit);
      ArmDeadline(server_.options.idle_timeout);
      return http::async_read(stream_, *buffer_, *body_parser_,
                              [self = this->shared_from_this()](
                                  error_code ec, size_t) { self->OnBody(ec); });
    }
    request_ = parser_->release();
    parser_.reset();
    if (route && !route->Allows(method)) {
      return this->SendMethodNotAllowed(target->path, *route, false);
    }
    if (limit == 0) {
      return this->SendError("/", http::status::payload_too_large,
                             "request body not accepted", false);
    }
    std::string why = absl::StrCat("request body over ", limit, " bytes");
    this->SendApiError(target->path, HttpStatusFor(absl::OutOfRangeError(why)),
                       why, false);
  }

  void OnBody(error_code ec) {
    DisarmDeadline();
    if (ec || closed_) {
      body_parser_.reset();
      return Abort();
    }
    http::request<http::string_body> message = body_parser_->release();
    body_parser_.reset();
    body_ = std::move(message.body());
    request_ = http::request<http::empty_body>(std::move(message.base()));
    Route();
  }

  // A trusted proxy's request: counts the connection under the client that
  // its Forwarded / X-Forwarded-For names (every line of each, in order);
  // false when that client is over max_connections_per_address. A proxy
  // reusing one connection for many clients moves the count each time.
  bool Readdress() {
    error_code ec;
    tcp::endpoint peer = Tcp().remote_endpoint(ec);
    if (ec) return true;  // gone: the answer's write fails
    auto all = [this](boost::beast::string_view name) {
      std::string joined;
      auto [first, last] = request_.base().equal_range(name);
      for (auto it = first; it != last; ++it) {
        if (!joined.empty()) joined += ',';
        joined.append(it->value().data(), it->value().size());
      }
      return joined;
    };
    std::string client = server_.trusted_proxies.ClientAddress(
        peer.address(), all("Forwarded"), all("X-Forwarded-For"));
    return entry_.Readdress(std::move(client)) == Admission::kOk;
  }

  void Route() {
    const auto& req = request_;
    absl::StatusOr<HttpTarget> target = ParseTarget(View(req.target()));
    if (!target.ok()) {
      return this->SendError("other", http::status::bad_request,
                             target.status().message(), false);
    }
    const std::string& path = target->path;
    if (proxied_ && !Readdress()) {
      server_.LimitRejected(kLimitConnectionsPerAddress);
      return this->SendError(path, http::status::too_many_requests,
                             "too many connections from this address", false);
    }
    if (req.method() == http::verb::options) return this->SendPreflight(path);

    std::optional<edge::Route> route = FindRoute(path, server_.options.role);
    if (!route) {
      return this->SendError(path, http::status::not_found, "not found",
                             req.keep_alive());
    }
    if (!route->Allows(MethodOf(req.method()))) {
      return this->SendMethodNotAllowed(path, *route, req.keep_alive());
    }
    // One case per handler part; a new route family adds its own.
    switch (route->id) {
      case RouteId::kStream:
        return this->OpenStream(*target);  // stream_handler.h
      case RouteId::kInboxList:
      case RouteId::kInboxCounts:
      case RouteId::kInboxState:
        return this->ServeInbox(route->id, *target);  // inbox_handler.h
      case RouteId::kHealth:
      case RouteId::kMetrics:
      case RouteId::kReady:
      case RouteId::kWebFile:
        return this->ServePlain(route->id, path);  // plain_handler.h
    }
  }

  // ---- Closing -------------------------------------------------------------

  // Mid-request: a pending read is abandoned; a response being written
  // finishes first (closing_ stops keep-alive).
  void CloseGracefully() {
    if (closed_) return;
    closing_ = true;
    if (!writing_response()) Abort();
  }

  void Abort() {
    if (closed_) return;
    closed_ = true;
    error_code ec;
    deadline_.Cancel();
    Tcp().close(ec);
  }

  tcp::socket& Tcp() { return TcpOf(stream_); }

  // True while a plain response is on the wire or being prepared (no read
  // is pending).
  bool writing_response() const {
    return parser_ == nullptr && body_parser_ == nullptr;
  }

  Impl& server_;
  const bool proxied_;   // the peer is a trusted proxy
  RegistryEntry entry_;  // first: deregisters last; moved to the stream
  Stream stream_;        // moved to the stream on /v1/stream
  const net::any_io_executor executor_;  // the strand
  Deadline deadline_;
  std::optional<beast::flat_buffer> buffer_;
  // Heap-allocated: the parser is large, and only a read needs it.
  std::unique_ptr<http::request_parser<http::empty_body>> parser_;
  // Takes over from parser_ to read a body the route accepts.
  std::unique_ptr<http::request_parser<http::string_body>> body_parser_;
  http::request<http::empty_body> request_;
  std::string body_;  // the request's body, if its route takes one
  std::weak_ptr<SessionBase> sse_;  // the stream handed the socket, if any
  bool reading_request_ = false;
  bool closing_ = false;
  bool closed_ = false;  // also once the socket is handed off
};

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_HTTP_SESSION_H_
