// One HTTP/1.1 connection of the SSE edge, the first of its two parts (the
// split of Beast's advanced server example): the TLS handshake (after which
// a connection that negotiated h2 through ALPN is handed to an
// Http2Session, http2_session.h), reading requests and their deadlines,
// closing, and the refusal of a connection over a limit. A request body is
// read only for a route that takes one, within its limit (routes.h). What
// the session does with a request is in parts of its own, bases of
// HttpSession that reach its state as its friends:
//
//   request_router.h  routing with the route table (shared with HTTP/2)
//   http_responses.h  building answers (CORS, errors, 405, preflights);
//                     this file writes them, then keep-alive or linger
//   plain_handler.h   /healthz, /metrics, /readyz, the page and its assets
//   json_handler.h    the JSON routes: the inbox (edge/inbox_api.h) and
//                     HTTP publishing (edge/publish_api.h)
//   stream_handler.h  /v1/stream: the caller authenticated and the stream
//                     limits applied (edge/stream_admission.h), then the
//                     socket, the request and its parameters handed to an
//                     SseStream (edge/sse_stream.h), the second part, which
//                     takes over the connection's registry entry
//
// The router, answers and plain and JSON handlers serve HTTP/2 requests
// too (h2_request.h).
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
#include "boost/beast/http/write.hpp"
#include "edge/edge_server_impl.h"
#include "edge/http2_session.h"
#include "edge/http_messages.h"
#include "edge/http_responses.h"
#include "edge/json_handler.h"
#include "edge/plain_handler.h"
#include "edge/request_router.h"
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
                    public RequestRouter<HttpSession<Stream>>,
                    public HttpResponses<HttpSession<Stream>>,
                    public PlainHandler<HttpSession<Stream>>,
                    public JsonHandler<HttpSession<Stream>>,
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
  friend class RequestRouter<HttpSession>;
  friend class HttpResponses<HttpSession>;
  friend class PlainHandler<HttpSession>;
  friend class JsonHandler<HttpSession>;
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
            if (self->NegotiatedH2()) return self->HandToHttp2();
            self->ReadRequest();
          });
    }
  }

  bool NegotiatedH2() {
    const unsigned char* alpn = nullptr;
    unsigned int length = 0;
    SSL_get0_alpn_selected(stream_.native_handle(), &alpn, &length);
    return absl::string_view(reinterpret_cast<const char*>(alpn), length) ==
           kAlpnH2;
  }

  // The connection is HTTP/2's from here: the stream and the registry
  // entry go to an Http2Session; a Close that races is passed on (sse_).
  void HandToHttp2() {
    if constexpr (kTls) {
      auto h2 = std::make_shared<Http2Session>(server_, std::move(stream_),
                                               std::move(entry_));
      sse_ = h2;
      closed_ = true;
      h2->Start();
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
    this->Route();
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
    size_t limit = route && route->Allows(method)
                       ? BodyLimit(*route, server_.options.max_payload_bytes)
                       : 0;
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
    this->Route();
  }

  // Before routing (RequestRouter): a trusted proxy's request counts the
  // connection under its client; over that client's limit it is answered
  // 429 here (false).
  bool AdmitRequest(absl::string_view path) {
    if (!proxied_ || Readdress()) return true;
    server_.LimitRejected(kLimitConnectionsPerAddress);
    this->SendError(path, http::status::too_many_requests,
                    "too many connections from this address", false);
    return false;
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

  // ---- Answers ------------------------------------------------------------

  // Counts and writes `res` (from HttpResponses) under write_timeout, then
  // reads the next request (keep-alive) or half-closes and lingers.
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
  // kLingerTime) so the kernel does not answer those bytes with a RST that
  // would eat the response.
  void Linger() {
    error_code ec;
    Tcp().shutdown(tcp::socket::shutdown_send, ec);
    if (ec || !buffer_ || closing_) return Abort();
    deadline_.Arm(kLingerTime,
                  [self = this->shared_from_this()] { self->Abort(); });
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

  // The client's address for logs: the one the connection is counted
  // under (behind a trusted proxy, the client it names), else the socket's
  // peer "address:port"; empty when the peer is gone.
  std::string PeerAddress() {
    return entry_.address().empty() ? SocketPeer(stream_) : entry_.address();
  }

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
  // What the socket was handed to, if anything: an SSE stream, or an
  // HTTP/2 session.
  std::weak_ptr<SessionBase> sse_;
  bool reading_request_ = false;
  bool closing_ = false;
  bool closed_ = false;  // also once the socket is handed off
};

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_HTTP_SESSION_H_
