// How a request is answered, over HTTP/1.1 or HTTP/2: a plain response
// (with CORS, nosniff and no-store; http_messages.h), an error as text or as
// JSON (the JSON routes), a 405 with Allow, a CORS preflight from the route
// table. The session's WriteResponse then counts it in
// notifyd_http_requests_total{path,code} and writes it: HttpSession
// (http_session.h) on its connection, H2Request (h2_request.h) on its
// HTTP/2 stream.
//
// HttpResponses is a base of both, like Beast's examples split a session:
// it reaches the session's state through session(), as its friend.
// Everything runs on the connection's strand.
//
// Internal: one of the parts of the one translation unit that compiles
// Beast (included by http_session.h and h2_request.h only; the parts are
// listed in http_server.cc).
#ifndef NOTIFYD_EDGE_HTTP_RESPONSES_H_
#define NOTIFYD_EDGE_HTTP_RESPONSES_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "boost/beast/http/string_body.hpp"
#include "edge/edge_server_impl.h"
#include "edge/http_messages.h"
#include "edge/inbox_api.h"
#include "edge/routes.h"

namespace notifyd::edge::internal {

// The answers of `Session` (CRTP): HttpSession<Stream>, which writes them
// on its connection (WriteResponse), or H2Request (h2_request.h), which
// submits them on its HTTP/2 stream. `path` is the request's, for the
// metrics' path label (routes.h, PathLabel). A `keep_alive` left out is the
// request's own.
template <typename Session>
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
    s.WriteResponse(
        path,
        MakePreflight(s.request_, s.server_.options.cors_origins, *route));
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

  // 405 with Allow; JSON on the JSON routes, text elsewhere.
  void SendMethodNotAllowed(absl::string_view path, const edge::Route& route,
                            bool keep_alive) {
    ExtraFields allow = {{http::field::allow, AllowedMethods(route)}};
    if (IsJsonRoute(route.id)) {
      return SendApiError(path, http::status::method_not_allowed,
                          "method not allowed", keep_alive, std::move(allow));
    }
    Send(path, http::status::method_not_allowed, "text/plain; charset=utf-8",
         "method not allowed\n", keep_alive, std::move(allow));
  }

  // 204: no body, so neither Content-Type nor Content-Length.
  void SendNoContent(absl::string_view path) {
    auto& s = session();
    auto res = MakeResponse(s.request_, s.server_.options.cors_origins,
                            http::status::no_content, "", "",
                            s.request_.keep_alive(), {});
    res->erase(http::field::content_type);
    res->erase(http::field::content_length);
    s.WriteResponse(path, std::move(res));
  }

  void Send(absl::string_view path, http::status status,
            absl::string_view content_type, std::string body,
            std::optional<bool> keep_alive = std::nullopt,
            ExtraFields fields = {}) {
    auto& s = session();
    s.WriteResponse(
        path, MakeResponse(s.request_, s.server_.options.cors_origins, status,
                           content_type, std::move(body),
                           keep_alive.value_or(s.request_.keep_alive()),
                           std::move(fields)));
  }

 private:
  Session& session() { return static_cast<Session&>(*this); }
};

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_HTTP_RESPONSES_H_
