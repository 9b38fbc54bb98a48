// How an HTTP session answers: a plain response (with CORS, nosniff and
// no-store; http_messages.h), an error as text or as JSON (the inbox
// routes), a 405 with Allow, a CORS preflight from the route table; each is
// counted in notifyd_http_requests_total{path,code}, then written under
// write_timeout. After it the session reads the next request (keep-alive)
// or half-closes and lingers: it drains what the client still sends for
// kLingerTime so the kernel does not answer those bytes with a RST that
// would eat the response.
//
// HttpResponses is a base of HttpSession (http_session.h), like Beast's
// examples split a session: it reaches the session's state through
// session(), as its friend. Everything runs on the connection's strand.
//
// Internal: one of the parts of the one translation unit that compiles
// Beast (included by http_session.h only; the parts are listed in
// http_server.cc).
#ifndef NOTIFYD_EDGE_HTTP_RESPONSES_H_
#define NOTIFYD_EDGE_HTTP_RESPONSES_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "boost/beast/http/string_body.hpp"
#include "boost/beast/http/write.hpp"
#include "edge/edge_server_impl.h"
#include "edge/http_messages.h"
#include "edge/inbox_api.h"
#include "edge/routes.h"

namespace notifyd::edge::internal {

// How long a closing connection keeps draining the client's unread bytes so
// the kernel does not answer them with a RST that would eat our response.
constexpr absl::Duration kLingerTime = absl::Seconds(2);

template <typename Stream>
class HttpSession;

// The answers of HttpSession<Stream>. `path` is the request's, for the
// metrics' path label (routes.h, PathLabel). A `keep_alive` left out is the
// request's own.
template <typename Stream>
class HttpResponses {
 protected:
  // A CORS preflight, answered from the route table; 404 when `path` names
  // no route on this listener.
  void SendPreflight(absl::string_view path) {
    auto& s = session();
    std::optional<edge::Route> route = FindRoute(path, s.server_.options.role);
    if (!route) {
      return SendError(path, http::status::not_found, "not found",
                       s.request_.keep_alive());
    }
    WriteResponse(path, MakePreflight(s.request_,
                                      s.server_.options.cors_origins, *route));
  }

  // `message` goes out as text/plain with nosniff (ErrorText).
  void SendError(absl::string_view path, http::status status,
                 absl::string_view message, bool keep_alive) {
    Send(path, status, "text/plain; charset=utf-8", ErrorText(message),
         keep_alive);
  }

  // {"error":"<message>"} as application/json; a 401 names the scheme.
  void SendApiError(absl::string_view path, http::status status,
                    absl::string_view message, bool keep_alive,
                    ExtraFields fields = {}) {
    if (status == http::status::unauthorized) {
      fields.emplace_back(http::field::www_authenticate, "Bearer");
    }
    Send(path, status, "application/json", EncodeError(message), keep_alive,
         std::move(fields));
  }

  // 405 with Allow; JSON on the inbox routes, text elsewhere.
  void SendMethodNotAllowed(absl::string_view path, const edge::Route& route,
                            bool keep_alive) {
    ExtraFields allow = {{http::field::allow, AllowedMethods(route)}};
    if (IsInboxRoute(route.id)) {
      return SendApiError(path, http::status::method_not_allowed,
                          "method not allowed", keep_alive, std::move(allow));
    }
    Send(path, http::status::method_not_allowed, "text/plain; charset=utf-8",
         "method not allowed\n", keep_alive, std::move(allow));
  }

  void Send(absl::string_view path, http::status status,
            absl::string_view content_type, std::string body,
            std::optional<bool> keep_alive = std::nullopt,
            ExtraFields fields = {}) {
    auto& s = session();
    WriteResponse(
        path, MakeResponse(s.request_, s.server_.options.cors_origins, status,
                           content_type, std::move(body),
                           keep_alive.value_or(s.request_.keep_alive()),
                           std::move(fields)));
  }

 private:
  HttpSession<Stream>& session() {
    return static_cast<HttpSession<Stream>&>(*this);
  }

  void WriteResponse(absl::string_view path,
                     std::shared_ptr<http::response<http::string_body>> res) {
    auto& s = session();
    s.server_.CountRequest(path, res->result());
    s.ArmDeadline(s.server_.options.write_timeout);
    http::async_write(
        s.stream_, *res,
        [self = s.shared_from_this(), res](error_code ec, size_t) {
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
    auto& s = session();
    error_code ec;
    s.Tcp().shutdown(tcp::socket::shutdown_send, ec);
    if (ec || !s.buffer_ || s.closing_) return s.Abort();
    s.deadline_.Arm(kLingerTime,
                    [self = s.shared_from_this()] { self->Abort(); });
    DrainInput();
  }
  void DrainInput() {
    auto& s = session();
    s.buffer_->clear();
    s.Tcp().async_read_some(
        s.buffer_->prepare(512),
        [self = s.shared_from_this()](error_code ec, size_t) {
          if (ec) return self->Abort();
          self->DrainInput();
        });
  }
};

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_HTTP_RESPONSES_H_
