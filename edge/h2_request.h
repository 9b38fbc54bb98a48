// One HTTP/2 stream of an Http2Session (http2_session.h): the request its
// HEADERS (and DATA) carry, turned into the same Beast request an HTTP/1.1
// session reads, then routed and answered by the same parts: the route
// table and router (request_router.h), the answers (http_responses.h), the
// plain and JSON (json_handler.h) handlers, and, for GET /v1/stream, the
// same admission
// (stream_admission.h) and an H2SseStream instead of an SseStream.
//
// Limits: its header list (names, values and 32 bytes each, as
// SETTINGS_MAX_HEADER_LIST_SIZE counts them) within max_header_bytes, else
// 431; a body only on a route that takes one, within its limit, else 413
// (answered at once, the rest of the body ignored); CheckRequestHeader's
// rules (400). nghttp2 has already refused malformed requests (pseudo-
// headers, connection-specific fields) with RST_STREAM PROTOCOL_ERROR.
//
// Threading: the connection's strand. Owned by the connection while its
// stream is open; store callbacks (inbox) hold it longer, and then find
// the stream gone (closed_).
//
// Internal: one of the parts of the one translation unit that compiles
// Beast (listed in http_server.cc).
#ifndef NOTIFYD_EDGE_H2_REQUEST_H_
#define NOTIFYD_EDGE_H2_REQUEST_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "edge/edge_server_impl.h"
#include "edge/h2_connection.h"
#include "edge/h2_sse_stream.h"
#include "edge/http_messages.h"
#include "edge/http_responses.h"
#include "edge/json_handler.h"
#include "edge/plain_handler.h"
#include "edge/request_router.h"
#include "edge/routes.h"
#include "edge/stream_admission.h"

namespace notifyd::edge::internal {

class H2Request : public std::enable_shared_from_this<H2Request>,
                  public RequestRouter<H2Request>,
                  public HttpResponses<H2Request>,
                  public PlainHandler<H2Request>,
                  public JsonHandler<H2Request> {
 public:
  static constexpr bool kTls = true;

  // `address`: the client's, for logs (empty: unknown).
  H2Request(Impl& server, net::any_io_executor strand,
            std::weak_ptr<H2Connection> connection, int32_t stream_id,
            const std::string& address)
      : server_(server),
        executor_(std::move(strand)),
        connection_(std::move(connection)),
        stream_id_(stream_id),
        address_(address) {
    request_.version(11);
  }

  // One header field, as nghttp2 decoded and checked it.
  void AddHeader(absl::string_view name, absl::string_view value) {
    header_bytes_ += name.size() + value.size() + 32;
    if (header_bytes_ > server_.options.max_header_bytes) return;
    if (name == ":method") {
      request_.method_string(beast::string_view(value.data(), value.size()));
    } else if (name == ":path") {
      request_.target(beast::string_view(value.data(), value.size()));
    } else if (name == ":authority") {
      authority_ = std::string(value);
    } else if (name == "cookie") {
      // HTTP/2 may split Cookie into fields; one line again (RFC 9113
      // §8.2.3), as CheckRequestHeader wants it.
      absl::StrAppend(&cookie_, cookie_.empty() ? "" : "; ", value);
    } else if (name.empty() || name[0] != ':') {
      request_.insert(beast::string_view(name.data(), name.size()),
                      beast::string_view(value.data(), value.size()));
    }
  }

  // A chunk of the request body.
  void AddBody(absl::string_view data) {
    if (answered_) return;
    size_t limit = BodyLimit();
    if (body_.size() + data.size() > limit) {
      answered_ = true;
      return RefuseBody(limit);
    }
    body_.append(data.data(), data.size());
  }

  // The request is complete (END_STREAM): routes and answers it.
  void OnComplete() {
    if (answered_) return;
    answered_ = true;
    if (header_bytes_ > server_.options.max_header_bytes) {
      server_.LimitRejected(kLimitHeaderBytes);
      return SendError("other", http::status::request_header_fields_too_large,
                       "request header too large", false);
    }
    if (!cookie_.empty()) request_.set(http::field::cookie, cookie_);
    if (request_.find(http::field::host) == request_.end()) {
      request_.set(http::field::host, authority_);
    }
    if (absl::Status s = CheckHeaderOf(request_); !s.ok()) {
      return SendError("other", HttpStatusFor(s), s.message(), false);
    }
    Route();
  }

  // nghttp2's data provider: how much of the body can go now (0 with *eof:
  // ended; 0 without: none yet), then those bytes into `out`.
  size_t Readable(size_t max, bool* eof) {
    if (sse_) return sse_->Readable(max, eof);
    size_t left = response_ ? response_->body().size() - sent_ : 0;
    *eof = left <= max;
    return std::min(left, max);
  }
  void Emit(size_t n, H2Output& out) {
    if (sse_) return sse_->Emit(n, out);
    out.Refer(response_->body().data() + sent_, n, response_);
    sent_ += n;
  }

  // From the connection: the stream is closed or reset; anything still
  // coming (a store answer) finds closed_.
  void OnClosed() {
    closed_ = true;
    if (sse_) sse_->OnStreamClosed();
  }
  // From the connection, shutting down: graceful lets an SSE stream flush
  // what it has queued, then end.
  void Close(bool graceful) {
    if (sse_) sse_->Close(graceful);
  }
  bool streaming() const { return sse_ != nullptr; }

 private:
  friend class RequestRouter<H2Request>;
  friend class HttpResponses<H2Request>;
  friend class PlainHandler<H2Request>;
  friend class JsonHandler<H2Request>;

  // Nothing to check before routing: an HTTP/2 connection is counted
  // under its peer's address (--trusted_proxies re-addresses HTTP/1.1
  // connections only; proxies speak HTTP/1.1 to notifyd).
  bool AdmitRequest(absl::string_view) { return true; }

  // The client's address, for logs.
  const std::string& PeerAddress() const { return address_; }

  // Most bytes of a body the request's route takes (0: none).
  size_t BodyLimit() const {
    absl::StatusOr<HttpTarget> target = ParseTarget(View(request_.target()));
    if (!target.ok()) return 0;
    std::optional<edge::Route> route =
        FindRoute(target->path, server_.options.role);
    return route && route->Allows(MethodOf(request_.method()))
               ? edge::BodyLimit(*route, server_.options.max_payload_bytes)
               : 0;
  }

  void RefuseBody(size_t limit) {
    if (limit == 0) {
      return SendError("/", http::status::payload_too_large,
                       "request body not accepted", false);
    }
    std::string why = absl::StrCat("request body over ", limit, " bytes");
    SendApiError("other", HttpStatusFor(absl::OutOfRangeError(why)), why,
                 false);
  }

  // GET /v1/stream: admitted (stream_admission.h), its head goes out and an
  // H2SseStream sends the events on this HTTP/2 stream; refused, the
  // answer an HTTP/1.1 client gets.
  void OpenStream(const HttpTarget& target) {
    auto admission = AdmitStream(server_, target, request_, address_);
    if (auto* refused = std::get_if<StreamRefusal>(&admission)) {
      if (refused->retry_body) {
        return Send(target.path, refused->status, "text/event-stream",
                    std::move(refused->message), false);
      }
      return SendError(target.path, refused->status, refused->message, false);
    }
    AdmittedStream& admitted = std::get<AdmittedStream>(admission);
    auto connection = connection_.lock();
    if (!connection || closed_) {
      server_.ReleaseStream(admitted.user);
      return;
    }
    server_.CountRequest(target.path, http::status::ok);
    sse_ = std::make_shared<H2SseStream>(
        server_, executor_, connection_, stream_id_, address_,
        std::move(admitted.user), std::move(admitted.params));
    Response head(http::status::ok, 11);
    head.set(http::field::content_type, "text/event-stream");
    head.set(http::field::cache_control, "no-cache");
    head.set("X-Accel-Buffering", "no");
    head.set("X-Content-Type-Options", "nosniff");
    AddCors(head, request_, server_.options.cors_origins);
    connection->SubmitResponse(stream_id_, head, /*has_body=*/true);
    sse_->Start();
    // The request is not needed again while the stream lives (hours, for
    // most): its fields and target go now.
    request_ = Request();
    std::string().swap(body_);
    std::string().swap(authority_);
    std::string().swap(cookie_);
  }

  // Every answer of HttpResponses ends here.
  void WriteResponse(absl::string_view path, std::shared_ptr<Response> res) {
    server_.CountRequest(path, res->result());
    auto connection = connection_.lock();
    if (!connection || closed_) return;
    response_ = std::move(res);
    bool has_body =
        request_.method() != http::verb::head && !response_->body().empty();
    connection->SubmitResponse(stream_id_, *response_, has_body);
  }

  Impl& server_;
  const net::any_io_executor executor_;  // the connection's strand
  const std::weak_ptr<H2Connection> connection_;
  const int32_t stream_id_;
  const std::string address_;
  Request request_;
  std::string body_;
  std::string authority_, cookie_;
  size_t header_bytes_ = 0;
  bool answered_ = false;               // routed, or refused
  bool closed_ = false;                 // the HTTP/2 stream is gone
  std::shared_ptr<Response> response_;  // a plain answer being sent
  size_t sent_ = 0;                     // of its body
  std::shared_ptr<H2SseStream> sse_;    // an SSE stream on this one
};

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_H2_REQUEST_H_
